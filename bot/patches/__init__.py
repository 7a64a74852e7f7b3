"""The performance patches to aiogram and pydantic, installed explicitly and only where checked.

Three patches in two calls, each measured in bench/load_bench.py and explained in its module:
- `defer_aiogram_types()` builds aiogram's ~400 Telegram types on first use instead of all at
  import (lazy_types.py);
- `tune_routing(root)` awaits the bot's synchronous filters in place instead of in a thread, and
  skips a router for a button none of its handlers declares (routing.py).

Each reaches into a framework's internals, so each applies only to the versions in `SUPPORTED`
(the ones it was written and tested against) and to the exact shape it intercepts. Anywhere
else it is not applied and logs one warning: the bot works the same, only slower.
tests/test_runtime_tuning.py fails while an installed version is outside `SUPPORTED`, so an
upgrade turns the suite red until someone re-checks the patches and widens the range.

Who installs them. The routing patch is part of building a dispatcher (bot/factory.py). The
lazy-types patch must run before anything imports aiogram, so it cannot wait for the
composition root, which imports aiogram itself; instead each way into the code calls it
first, as its first statement: bot/__main__.py (`python -m bot`), bench/__init__.py
(`python -m bench.<name>`) and tests/__init__.py (pytest imports it before conftest and every
test module). Subprocess tests check that `python -m bot` and `bench` still do. Not in
`bot/__init__.py`, as it was: importing a package should not patch pydantic process-wide for
whoever imports it, and an explicit first line shows the ordering it depends on. This package
imports no aiogram at import time for the same reason. Called too late, it warns and leaves
pydantic alone.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import sys
from importlib.metadata import version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiogram import Router

logger = logging.getLogger(__name__)

# [lowest, highest) major.minor each patch was checked against; aiogram is pinned to match.
SUPPORTED: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "aiogram": ((3, 31), (3, 32)),
    "pydantic": ((2, 13), (2, 14)),
}
REBUILD_PARAMETERS = ("force", "raise_errors", "_parent_namespace_depth", "_types_namespace")

_applied: set[str] = set()
_warned: set[str] = set()


def applied() -> frozenset[str]:
    """Names of the patches in effect in this process: "lazy_types", "routing"."""
    return frozenset(_applied)


def unsupported_versions() -> list[str]:
    """Installed packages outside `SUPPORTED`, as "name version" (empty when all fit)."""
    outside = []
    for package, (low, high) in SUPPORTED.items():
        installed = _installed_version(package)
        major_minor = tuple(int(part) for part in installed.split(".")[:2])
        if not low <= major_minor < high:
            outside.append(f"{package} {installed}")
    return outside


def defer_aiogram_types() -> bool:
    """Build aiogram's types on first use; call before anything imports aiogram."""
    if "lazy_types" in _applied:
        return True
    reason = _versions_reason()
    if reason is None and "aiogram.types" in sys.modules:
        reason = "aiogram was imported before the patch"
    if reason is None:
        from pydantic import BaseModel

        parameters = tuple(inspect.signature(BaseModel.model_rebuild).parameters)
        if parameters != REBUILD_PARAMETERS:
            reason = f"BaseModel.model_rebuild takes {parameters}"
    if reason is not None:
        _warn("lazy_types", reason)
        return False
    from bot.patches import lazy_types

    lazy_types.install()
    _applied.add("lazy_types")
    return True


def tune_routing(root: Router) -> bool:
    """Apply both routing patches to a dispatcher or router tree, once all routers are in."""
    reason = _versions_reason() or _routing_shape_reason()
    if reason is not None:
        _warn("routing", reason)
        return False
    from bot.patches.routing import await_filters_in_place, filter_callbacks_by_prefix

    filter_callbacks_by_prefix(root)
    await_filters_in_place(root)
    _applied.add("routing")
    return True


def _installed_version(package: str) -> str:
    return version(package)


def _versions_reason() -> str | None:
    outside = unsupported_versions()
    return f"not checked against {', '.join(outside)}" if outside else None


@functools.cache
def _routing_shape_reason() -> str | None:
    from aiogram import Router
    from aiogram.dispatcher.event.handler import CallableObject, FilterObject
    from aiogram.filters.callback_data import CallbackData, CallbackQueryFilter

    if not {"callback", "awaitable"} <= {f.name for f in dataclasses.fields(FilterObject)}:
        return "FilterObject has no callback/awaitable fields"
    if "self.awaitable" not in inspect.getsource(CallableObject.call):
        return "CallableObject.call no longer looks at `awaitable`"
    if "callback_data" not in getattr(CallbackQueryFilter, "__slots__", ()):
        return "CallbackQueryFilter keeps no callback_data"
    if "cls.__prefix__" not in inspect.getsource(CallbackData.__init_subclass__):
        return "CallbackData declares no __prefix__/__separator__"
    if not {"observers", "sub_routers", "callback_query"} <= set(vars(Router())):
        return "Router has no observers/sub_routers/callback_query"
    return None


def _warn(patch: str, reason: str) -> None:
    if patch not in _warned:
        _warned.add(patch)
        logger.warning("Patch %s not applied (%s): the bot runs unpatched, slower", patch, reason)
