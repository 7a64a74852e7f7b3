"""Await the bot's plain-function filters in place instead of in a worker thread.

aiogram runs every filter that is not a coroutine function (an `F` magic filter, a bare
`State`) through `asyncio.to_thread`: one thread hop for each filter of each handler an update
is checked against, a large share of a busy bot's CPU (bench/load_bench.py). The bot's
synchronous filters are pure and instant — attribute comparisons, state equality — so calling
them on the event loop gives the same answers without the hops. Only the filters of the given
router tree are touched, after all routers are included; a filter that blocks must not be
registered as a plain function.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from aiogram import Router


def await_filters_in_place(root: Router) -> int:
    """Make every synchronous filter of the tree awaitable in place; returns how many."""
    changed = 0
    for router in _walk(root):
        for observer in router.observers.values():
            for handler in observer.handlers:
                for event_filter in handler.filters or ():
                    if not event_filter.awaitable:
                        event_filter.callback = _in_place(event_filter.callback)
                        event_filter.awaitable = True
                        changed += 1
    return changed


def _walk(router: Router) -> Iterator[Router]:
    yield router
    for sub in router.sub_routers:
        yield from _walk(sub)


def _in_place(function: Callable[..., Any]) -> Callable[..., Any]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    return call
