"""Let aiogram's Telegram types be built when first used, as aiogram itself asks pydantic to.

aiogram declares its ~400 types with `defer_build=True`, then calls `model_rebuild()` on every
one of them at import so that their forward references (names imported only for type checking)
resolve. That builds a validator for every type, each holding its whole nested tree: 5–6 s and
≈ 105 MB on the 2-core machine of the README, for types this bot never sees (games, stickers,
payments, business accounts…). https://github.com/aiogram/aiogram/issues/1513

`defer_aiogram_types()` intercepts exactly that call — an aiogram type, not built yet, rebuilt
with an explicit namespace and without `force` — and only remembers the namespace. Later, when
pydantic first needs an aiogram model (a type, a method such as `SendMessage`, a `Response[…]`)
and finds it unbuilt, it calls `model_rebuild()` without a namespace; for models from aiogram
the remembered one is passed, so the model is built exactly as the eager rebuild would have
built it. Every other call goes to pydantic untouched. Installed by
`bot.patches.defer_aiogram_types()` before aiogram is imported, and only on the versions it was
checked against (see bot/patches).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

_original_rebuild = BaseModel.model_rebuild.__func__  # type: ignore[attr-defined]
_aiogram_namespace: dict[str, Any] = {}


def _model_rebuild(
    cls: type[BaseModel],
    *,
    force: bool = False,
    raise_errors: bool = True,
    _parent_namespace_depth: int = 2,
    _types_namespace: dict[str, Any] | None = None,
) -> bool | None:
    if cls.__module__.startswith("aiogram."):
        if _types_namespace is None:
            _types_namespace = _aiogram_namespace or None
        elif (
            not force
            and cls.__module__.startswith("aiogram.types.")
            and cls.model_config.get("defer_build", False)
            and not cls.__pydantic_complete__
        ):
            _aiogram_namespace.update(_types_namespace)
            return None
    result: bool | None = _original_rebuild(
        cls,
        force=force,
        raise_errors=raise_errors,
        # One frame more than pydantic expects: this wrapper sits between caller and pydantic.
        _parent_namespace_depth=_parent_namespace_depth + 1 if _parent_namespace_depth else 0,
        _types_namespace=_types_namespace,
    )
    return result


def install() -> None:
    BaseModel.model_rebuild = classmethod(_model_rebuild)  # type: ignore[assignment,method-assign]
