"""Property-based: random texts, callback data and update types never reach the error handler.

Each test builds one dispatcher with an error spy on its errors observer; hypothesis then feeds
updates through the real middlewares and routers. "No unhandled error" means the spy saw no
exception: the errors handler (which apologises) was never needed.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiogram import BaseMiddleware
from aiogram.types import (
    CallbackQuery,
    Chat,
    ChatJoinRequest,
    ChatMemberMember,
    ChatMemberUpdated,
    ChosenInlineResult,
    Contact,
    InlineQuery,
    Location,
    Message,
    MessageEntity,
    MessageReactionUpdated,
    Poll,
    PollAnswer,
    PollOption,
    ReactionTypeEmoji,
    Sticker,
    TelegramObject,
    User,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import App
from bot.factory import create_bot, create_dispatcher
from bot.local_chat import ChatUser, LocalChat
from bot.local_session import LocalSession
from tests.referral_helpers import family_in

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples on every run: a CI failure can be replayed
    database=None,
)

COMMANDS = [
    "/start",
    "/find",
    "/search",
    "/request",
    "/consult",
    "/my",
    "/profile",
    "/privacy",
    "/help",
    "/cancel",
    "/mydata",
    "/forget",
    "/inbox",
    "/pause",
    "/plan",
    "/reminders",
]
PREFIXES = [
    "prv",
    "rq",
    "card",
    "st",
    "fm",
    "rl",
    "lp",
    "need",
    "fg",
    "cns",
    "find",
    "loc",
    "prf",
    "pl",
    "rmd",
]
NASTY = [
    "st:a:999999:",
    "find:income:9",
    "card:m:../../etc",
    "loc:r:RU-TAM:extra",
    "cns:u:",
    "rq:send:yes:1",
    "fm:x:-1",
    "rl:0",
    "need:" + "9" * 59,
    "lp:%00",
    ":",
    "",
    "🙂" * 16,
    "pl:d:fed-birth-grant:99999",
    "pl:t:fed-birth-grant:",
    "rmd:mute:../../x",
]


class ErrorSpy(BaseMiddleware):
    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        self.errors.append(getattr(event, "exception", event))  # type: ignore[arg-type]
        return await handler(event, data)


def spied_chat(app: App) -> tuple[LocalChat, ErrorSpy]:
    # No rate limit: the fuzzer is one very fast person, and the handlers are what is under test.
    dp = create_dispatcher(app, rate_limit=None)
    spy = ErrorSpy()
    dp.errors.outer_middleware(spy)
    local = LocalSession()
    return LocalChat(dp, create_bot(app.settings, session=local), local), spy


def check(spy: ErrorSpy) -> None:
    found = [f"{type(e).__name__}: {str(e)[:200]}" for e in spy.errors]
    spy.errors.clear()
    assert found == []


# -- strategies -----------------------------------------------------------------------------------

any_char = st.characters(codec="utf-8", exclude_categories=["Cs"])
texts = st.one_of(
    st.text(any_char, min_size=1, max_size=300),
    st.text(st.characters(min_codepoint=0, max_codepoint=31), min_size=1, max_size=20),
    st.sampled_from(
        [
            "🙂👨‍👩‍👧‍👦🇷🇺" * 50,
            "مرحبا بالعالم שלום",
            "\u202eтекст задом наперёд\u202c",
            "<b>жирный</b> <script>alert(1)</script> &amp; &lt;",
            "а" * 4096,
            "🙂" * 4096,
            "\x00\x01\x02",
            " ",
            "\n\n\n",
            "%s %d {0} {name}",
            "' OR 1=1; --",
        ]
    ),
    st.builds(
        lambda c, rest: f"{c} {rest}", st.sampled_from(COMMANDS), st.text(any_char, max_size=80)
    ),
    st.builds(
        lambda c, rest: f"{c}{rest}", st.sampled_from(COMMANDS), st.text(any_char, max_size=20)
    ),
)


def _fits(data: str) -> bool:
    return len(data.encode()) <= 64


callback_data = st.one_of(
    st.text(any_char, max_size=64).filter(_fits),
    st.sampled_from(NASTY),
    st.builds(
        lambda prefix, fields: ":".join([prefix, *fields]),
        st.sampled_from(PREFIXES),
        st.lists(st.text(any_char, max_size=12), max_size=5),
    ).filter(_fits),
    st.builds(
        lambda prefix, number: f"{prefix}:{number}",
        st.sampled_from(PREFIXES),
        st.integers(min_value=-(2**63), max_value=2**63),
    ).filter(_fits),
)

_ids = itertools.count(1)


def _user(user_id: int, lang: str | None = "ru") -> User:
    return User(id=user_id, is_bot=False, first_name="Фаззер", language_code=lang)


def _message(chat: Chat, sender: User | None, **content: Any) -> Message:
    return Message(
        message_id=next(_ids),
        date=dt.datetime.now(dt.UTC),
        chat=chat,
        from_user=sender,
        **content,
    )


def _private(user_id: int) -> Chat:
    return Chat(id=user_id, type="private")


def odd_updates(user_id: int, text: str) -> list[dict[str, Any]]:
    """Every kind of update a bot may be sent, most of which nobody handles."""
    user = _user(user_id)
    private = _private(user_id)
    group = Chat(id=-100_000 - user_id, type="supergroup", title="Группа")
    channel = Chat(id=-200_000 - user_id, type="channel", title="Канал")
    member = ChatMemberMember(user=user)
    now = dt.datetime.now(dt.UTC)
    poll = Poll(
        id="p1",
        question=text[:300] or "?",
        options=[
            PollOption(persistent_id="1", text="да", voter_count=1),
            PollOption(persistent_id="2", text="нет", voter_count=0),
        ],
        total_voter_count=1,
        is_closed=False,
        is_anonymous=True,
        type="regular",
        allows_multiple_answers=False,
        allows_revoting=False,
        members_only=False,
    )
    return [
        {"edited_message": _message(private, user, text=text)},
        {"channel_post": _message(channel, None, text=text)},
        {"edited_channel_post": _message(channel, None, text=text)},
        {"message": _message(group, user, text=text)},
        {"message": _message(group, None, sender_chat=group, text=text)},
        {"message": _message(private, user, sticker=_sticker())},
        {"message": _message(private, user, location=Location(latitude=52.7, longitude=41.4))},
        {
            "message": _message(
                private,
                user,
                contact=Contact(phone_number="+70000000000", first_name="Другой", user_id=1),
            )
        },
        {"message": _message(private, user, text=text, entities=_bad_entities(text))},
        {
            "my_chat_member": ChatMemberUpdated(
                chat=private,
                from_user=user,
                date=now,
                old_chat_member=member,
                new_chat_member=member,
            )
        },
        {
            "chat_member": ChatMemberUpdated(
                chat=group,
                from_user=user,
                date=now,
                old_chat_member=member,
                new_chat_member=member,
            )
        },
        {
            "chat_join_request": ChatJoinRequest(
                chat=group, from_user=user, user_chat_id=user_id, date=now
            )
        },
        {"inline_query": InlineQuery(id="iq", from_user=user, query=text[:256], offset="")},
        {
            "chosen_inline_result": ChosenInlineResult(
                result_id="r", from_user=user, query=text[:256]
            )
        },
        {"poll": poll},
        {
            "poll_answer": PollAnswer(
                poll_id="p1", user=user, option_ids=[0], option_persistent_ids=["1"]
            )
        },
        {
            "message_reaction": MessageReactionUpdated(
                chat=private,
                message_id=1,
                user=user,
                date=now,
                old_reaction=[],
                new_reaction=[ReactionTypeEmoji(emoji="👍")],
            )
        },
        {
            "callback_query": CallbackQuery(
                id="cq-inline",
                from_user=user,
                chat_instance="ci",
                inline_message_id="inline-1",
                data="cns:a",
            )
        },
        {
            "callback_query": CallbackQuery(
                id="cq-game", from_user=user, chat_instance="ci", game_short_name="game"
            )
        },
    ]


def _sticker() -> Sticker:
    return Sticker(
        file_id="s",
        file_unique_id="s",
        type="regular",
        width=1,
        height=1,
        is_animated=False,
        is_video=False,
    )


def _bad_entities(text: str) -> list[MessageEntity]:
    # Telegram never sends these, but nothing should trust offsets blindly.
    return [MessageEntity(type="bot_command", offset=len(text) + 5, length=3)]


class Harness:
    """The app, with a short repr: hypothesis prints every argument of a failing example."""

    def __init__(self, app: App) -> None:
        self.app = app

    def __repr__(self) -> str:
        return "Harness()"


@pytest.fixture
def fuzz(app: App) -> Harness:
    return Harness(app)


# -- properties -----------------------------------------------------------------------------------


@FUZZ
@given(text=texts)
async def test_a_stranger_typing_anything_gets_an_answer_and_no_error(
    fuzz: Harness, text: str
) -> None:
    chat, spy = _cached_chat(fuzz.app, "stranger")
    person = chat.user(600_000 + next(_ids) % 1000)
    await person.send(text)
    check(spy)


@FUZZ
@given(command=st.sampled_from([*COMMANDS, None]), text=texts)
async def test_a_family_typing_anything_in_any_dialogue_gets_no_error(
    fuzz: Harness, command: str | None, text: str
) -> None:
    chat, spy = _cached_chat(fuzz.app, "family")
    person = await _family(chat)
    if command is not None:
        await person.send(command)
    await person.send(text)
    await person.send("/cancel")
    check(spy)


@FUZZ
@given(data=callback_data, command=st.sampled_from([*COMMANDS, None]))
async def test_any_callback_data_is_answered_and_raises_nothing(
    fuzz: Harness, data: str, command: str | None
) -> None:
    chat, spy = _cached_chat(fuzz.app, "buttons")
    person = await _family(chat)
    if command is not None:
        await person.send(command)
    target = person.last_reply()
    before = len(chat.session.answers)
    await person.press(target, data)
    assert len(chat.session.answers) == before + 1, "every callback query is answered once"
    await person.send("/cancel")
    check(spy)


@FUZZ
@given(kind=st.integers(min_value=0, max_value=18), text=texts)
async def test_any_update_type_is_ignored_or_handled_without_error(
    fuzz: Harness, kind: int, text: str
) -> None:
    chat, spy = _cached_chat(fuzz.app, "updates")
    user_id = 610_000 + next(_ids) % 1000
    await chat.feed(odd_updates(user_id, text[:4096])[kind])
    check(spy)


@FUZZ
@given(text=texts)
async def test_the_rate_limit_never_turns_a_flood_into_an_error(fuzz: Harness, text: str) -> None:
    key = "throttled"
    if key not in _chats:
        dp = create_dispatcher(fuzz.app)  # the production limit
        spy = ErrorSpy()
        dp.errors.outer_middleware(spy)
        local = LocalSession()
        _chats[key] = (LocalChat(dp, create_bot(fuzz.app.settings, session=local), local), spy)
    chat, spy = _chats[key]
    await chat.user(620_001).send(text)  # one person, far over 20 updates in 10 s
    check(spy)


# One dispatcher per property for all its examples (hypothesis calls the test body many times;
# the autouse clean-up runs once per test, so the chats are forgotten between tests).
_chats: dict[str, tuple[LocalChat, ErrorSpy]] = {}
_families: dict[int, ChatUser] = {}


def _cached_chat(app: App, key: str) -> tuple[LocalChat, ErrorSpy]:
    if key not in _chats:
        _chats[key] = spied_chat(app)
    return _chats[key]


async def _family(chat: LocalChat) -> ChatUser:
    person = _families.get(id(chat))
    if person is None:
        person = await family_in(
            chat, 630_000 + len(_families), "Тамбовская область", "Тамбов", "г. Тамбов"
        )
        _families[id(chat)] = person
    return person


@pytest.fixture(autouse=True)
def _forget_chats() -> Any:
    _chats.clear()
    _families.clear()
    yield
    _chats.clear()
    _families.clear()
