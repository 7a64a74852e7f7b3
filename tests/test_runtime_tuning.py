"""The hot-path replacements behave like what they replace (see bench/load_bench.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.state import State, StatesGroup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.routing import await_filters_in_place
from handlers.keyboards import Keyboard


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


def test_aiogram_types_are_built_on_first_use_and_work() -> None:
    script = textwrap.dedent(
        """
        import bot  # first, as `python -m bot` does
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
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr


async def test_routers_are_skipped_for_buttons_none_of_their_handlers_take() -> None:
    import datetime as dt

    from aiogram.types import CallbackQuery, Chat, Message, User

    from bot.routing import filter_callbacks_by_prefix

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
