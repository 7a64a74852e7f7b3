"""The hot-path replacements behave like what they replace (see bench/load_bench.py), and the
patches to aiogram and pydantic (bot/patches) apply only to the versions they were checked on."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.state import State, StatesGroup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot import patches
from bot.local_chat import LocalChat
from bot.patches.routing import CallbackPrefix, await_filters_in_place, filter_callbacks_by_prefix
from handlers.keyboards import Keyboard

ROOT = Path(__file__).resolve().parent.parent


class DemoCD(CallbackData, prefix="demo"):
    n: int


def _rows(markup: object) -> list[list[tuple[str, str | None, str | None]]]:
    return [
        [(b.text, b.callback_data, b.url) for b in row]
        for row in markup.inline_keyboard  # type: ignore[attr-defined]
    ]


def test_keyboard_lays_out_buttons_like_aiograms_builder() -> None:
    for count in (0, 1, 7, 8, 9, 17, 30):
        for sizes in ((), (1,), (2,), (2, 3, 1), (3, 1)):
            ours, theirs = Keyboard(), InlineKeyboardBuilder()
            for n in range(count):
                ours.button(text=f"b{n}", callback_data=DemoCD(n=n))
                theirs.button(text=f"b{n}", callback_data=DemoCD(n=n))
            if sizes:
                ours.adjust(*sizes)
                theirs.adjust(*sizes)
            assert _rows(ours.as_markup()) == _rows(theirs.as_markup()), (count, sizes)


def test_keyboard_attach_and_url_buttons_match_the_builder() -> None:
    ours, theirs = Keyboard(), InlineKeyboardBuilder()
    for kb in (ours, theirs):
        kb.button(text="site", url="https://example.org")
        kb.button(text="go", callback_data="go")
        kb.adjust(1)
    extra_ours, extra_theirs = Keyboard(), InlineKeyboardBuilder()
    for kb in (extra_ours, extra_theirs):
        kb.button(text="back", callback_data="back")
    ours.attach(extra_ours)
    theirs.attach(extra_theirs)
    assert _rows(ours.as_markup()) == _rows(theirs.as_markup())


def test_synchronous_filters_are_awaited_in_place_with_the_same_answers() -> None:
    class Steps(StatesGroup):
        one = State()

    router = Router()

    @router.message(F.text == "hi", Steps.one)
    async def handler(_: object) -> None:
        return None

    [entry] = router.message.handlers
    assert [f.awaitable for f in entry.filters or []] == [False, False]
    assert await_filters_in_place(router) == 2
    assert all(f.awaitable for f in entry.filters or [])
    assert await_filters_in_place(router) == 0  # a second pass changes nothing


async def test_in_place_filters_still_decide_which_handler_runs() -> None:
    import datetime as dt

    from aiogram.types import Chat, Message, User

    router = Router()
    seen: list[str] = []

    @router.message(F.text == "hi")
    async def greet(_: object) -> None:
        seen.append("greet")

    @router.message()
    async def other(_: object) -> None:
        seen.append("other")

    await_filters_in_place(router)
    for text in ("hi", "bye"):
        message = Message(
            message_id=1,
            date=dt.datetime(2026, 11, 28, tzinfo=dt.UTC),
            chat=Chat(id=1, type="private"),
            from_user=User(id=1, is_bot=False, first_name="A"),
            text=text,
        )
        await router.propagate_event("message", message)
    assert seen == ["greet", "other"]


def _python(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


RICH_UPDATE = """
from aiogram.types import Update
update = Update.model_validate({"update_id": 1, "callback_query": {
    "id": "q", "chat_instance": "c", "data": "demo:3",
    "from": {"id": 7, "is_bot": False, "first_name": "A", "language_code": "ru"},
    "message": {"message_id": 5, "date": 0, "chat": {"id": 7, "type": "private"},
        "from": {"id": 1, "is_bot": True, "first_name": "Bot"}, "text": "hi",
        "entities": [{"type": "bold", "offset": 0, "length": 2}],
        "reply_markup": {"inline_keyboard": [[{"text": "go", "callback_data": "go"}]]}}}})
print(update.model_dump_json(exclude_none=True))
"""


def test_aiogram_types_are_built_on_first_use_and_work() -> None:
    script = """
        from bot import patches
        assert patches.defer_aiogram_types()
        from aiogram.types import Message, Update
        from aiogram.methods import SendMessage
        assert not Message.__pydantic_complete__
        update = Update.model_validate({"update_id": 1, "message": {
            "message_id": 5, "date": 0, "chat": {"id": 7, "type": "private"},
            "from": {"id": 7, "is_bot": False, "first_name": "A"}, "text": "hi",
            "entities": [{"type": "bold", "offset": 0, "length": 2}]}})
        assert update.message.entities[0].type == "bold"
        method = SendMessage(chat_id=7, text="x")
        assert method.model_dump(exclude_none=True)["chat_id"] == 7
        print("ok")
        """
    done = _python(script)
    assert done.stdout.strip() == "ok", done.stderr


def test_lazily_built_types_read_an_update_exactly_as_eagerly_built_ones() -> None:
    lazy = _python("from bot import patches\nassert patches.defer_aiogram_types()\n" + RICH_UPDATE)
    eager = _python(RICH_UPDATE)
    assert lazy.returncode == eager.returncode == 0, lazy.stderr + eager.stderr
    assert '"data":"demo:3"' in eager.stdout
    assert lazy.stdout == eager.stdout


def test_python_m_bot_defers_aiogram_types_before_anything_imports_aiogram() -> None:
    script = """
        import runpy, sys
        sys.argv = ["bot", "--help"]
        try:
            runpy.run_module("bot", run_name="__main__", alter_sys=True)
        except SystemExit:
            pass
        from aiogram.types import Message
        from bot import patches
        print(sorted(patches.applied()), Message.__pydantic_complete__)
        """
    done = _python(script)
    assert done.stdout.splitlines()[-1] == "['lazy_types'] False", done.stderr


def test_benchmarks_and_tests_defer_aiogram_types_too() -> None:
    done = _python("import bench\nfrom bot import patches\nprint(sorted(patches.applied()))")
    assert done.stdout.strip() == "['lazy_types']", done.stderr
    assert "lazy_types" in patches.applied()  # tests/__init__.py, before conftest


def test_importing_the_bot_alone_patches_nothing() -> None:
    done = _python(
        "import bot.app, bot.factory, handlers\nfrom bot import patches\n"
        "print(sorted(patches.applied()))"
    )
    assert done.stdout.strip() == "[]", done.stderr


def test_installed_aiogram_and_pydantic_are_the_versions_the_patches_were_checked_on() -> None:
    # Red after an upgrade until someone re-checks bot/patches and widens SUPPORTED.
    assert patches.unsupported_versions() == []
    low, high = patches.SUPPORTED["aiogram"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pin = f"aiogram>={low[0]}.{low[1]},<{high[0]}.{high[1]}"
    assert pin in project["dependencies"]


def test_the_real_dispatcher_runs_every_patch(chat: LocalChat) -> None:
    assert patches.applied() == {"lazy_types", "routing"}
    assert any(
        isinstance(f.callback, CallbackPrefix)
        for router in chat.dp.chain_tail
        for f in router.callback_query._handler.filters or ()
    )
    assert all(
        f.awaitable
        for router in chat.dp.chain_tail
        for observer in router.observers.values()
        for handler in observer.handlers
        for f in handler.filters or ()
    )


def test_routing_outside_the_checked_versions_is_left_alone_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(patches, "_installed_version", lambda package: "3.32.0")
    monkeypatch.setattr(patches, "_warned", set())
    router = Router()

    @router.message(F.text == "hi")
    async def handler(_: object) -> None:
        return None

    with caplog.at_level(logging.WARNING, logger="bot.patches"):
        assert not patches.tune_routing(router)
        assert not patches.tune_routing(router)
    [entry] = router.message.handlers
    assert [f.awaitable for f in entry.filters or []] == [False]
    assert not router.message._handler.filters
    [warning] = caplog.messages
    assert "aiogram 3.32.0" in warning and "routing" in warning


def test_lazy_types_outside_the_checked_versions_are_built_eagerly_with_one_warning() -> None:
    script = """
        from bot import patches
        patches._installed_version = lambda package: "2.14.0"
        assert not patches.defer_aiogram_types()
        from aiogram.types import Message
        assert Message.__pydantic_complete__
        assert not patches.applied()
        print("ok")
        """
    done = _python(script)
    assert done.stdout.strip() == "ok", done.stderr
    [warning] = done.stderr.splitlines()
    assert "lazy_types not applied" in warning and "pydantic 2.14.0" in warning


def test_lazy_types_asked_for_after_aiogram_leave_pydantic_alone_with_one_warning() -> None:
    script = """
        import aiogram.types
        from pydantic import BaseModel
        from bot import patches
        rebuild = BaseModel.model_rebuild
        assert not patches.defer_aiogram_types()
        assert BaseModel.model_rebuild == rebuild
        print("ok")
        """
    done = _python(script)
    assert done.stdout.strip() == "ok", done.stderr
    assert "imported before the patch" in done.stderr


async def test_routers_are_skipped_for_buttons_none_of_their_handlers_take() -> None:
    import datetime as dt

    from aiogram.types import CallbackQuery, Chat, Message, User

    class OtherCD(CallbackData, prefix="other"):
        n: int

    declared, mixed, parent = Router(), Router(), Router()
    parent.include_routers(declared, mixed)
    seen: list[str] = []

    @declared.callback_query(DemoCD.filter())
    async def demo(_: object) -> None:
        seen.append("demo")

    @mixed.callback_query(OtherCD.filter())
    async def other(_: object) -> None:
        seen.append("other")

    @mixed.callback_query()
    async def anything(_: object) -> None:
        seen.append("anything")

    assert filter_callbacks_by_prefix(parent) == 1  # `mixed` has a handler without a prefix
    assert declared.callback_query._handler.filters  # the root filter is in place
    user = User(id=1, is_bot=False, first_name="A")
    message = Message(
        message_id=1,
        date=dt.datetime(2026, 11, 28, tzinfo=dt.UTC),
        chat=Chat(id=1, type="private"),
    )
    for data in ("demo:3", "other:4", "demox:1", "nothing"):
        query = CallbackQuery(
            id="1", from_user=user, chat_instance="c", message=message, data=data
        )
        await parent.propagate_event("callback_query", query)
    assert seen == ["demo", "other", "anything", "anything"]
