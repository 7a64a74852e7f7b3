"""Two changes to how aiogram walks the bot's handlers, made when the dispatcher is built.

Both keep every answer the same and cut the work aiogram does per update (bench/load_bench.py).

Synchronous filters awaited in place: aiogram runs every filter that is not a coroutine
function (an `F` magic filter, a bare `State`) through `asyncio.to_thread`: one thread hop for
each filter of each handler an update is checked against. The bot's synchronous filters are
pure and instant — attribute comparisons, state equality — so calling them on the event loop
gives the same answers without the hops; a filter that blocks must not be registered as one.

Routers skipped by callback prefix: aiogram offers a callback query to every router in turn,
and each router to each of its handlers, whose `CallbackData.filter()` unpacks the data
(raising and catching an error for every other prefix) before saying no. Where every callback
handler of a router declares its `CallbackData`, one root filter compares the prefix once and
lets aiogram move on. Derived from the handlers, so it cannot fall out of step with them; a
router with any other callback handler is left as is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from aiogram import Router
from aiogram.filters import Filter
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.types import CallbackQuery


class CallbackPrefix(Filter):
    def __init__(self, prefixes: frozenset[str], separator: str) -> None:
        self.prefixes = prefixes
        self.separator = separator

    async def __call__(self, query: CallbackQuery) -> bool:
        data = query.data
        return data is not None and data.split(self.separator, 1)[0] in self.prefixes


def filter_callbacks_by_prefix(root: Router) -> int:
    """Give each router whose callback handlers all declare a prefix a root filter on them;
    returns how many routers got one."""
    changed = 0
    for router in _walk(root):
        observer = router.callback_query
        if not observer.handlers:
            continue
        prefixes: set[str] = set()
        separators: set[str] = set()
        for handler in observer.handlers:
            declared = [
                f.callback.callback_data
                for f in handler.filters or ()
                if isinstance(f.callback, CallbackQueryFilter)
            ]
            if not declared:
                break
            prefixes.update(cd.__prefix__ for cd in declared)
            separators.update(cd.__separator__ for cd in declared)
        else:
            if len(separators) == 1:
                observer.filter(CallbackPrefix(frozenset(prefixes), separators.pop()))
                changed += 1
    return changed


def _walk(router: Router) -> Iterator[Router]:
    yield router
    for sub in router.sub_routers:
        yield from _walk(sub)


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


def _in_place(function: Callable[..., Any]) -> Callable[..., Any]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    # The original stays reachable for code that reads the filters (the demo asks which
    # dialog states take typed text).
    call.__wrapped__ = function  # type: ignore[attr-defined]
    return call
