"""Malformed commands, forged callbacks and unexpected updates: an answer, never a crash."""

from __future__ import annotations

import datetime as dt

from aiogram.types import Chat, ChatMemberMember, ChatMemberUpdated, Message, MessageEntity, User

from bot.local_chat import LocalChat
from bot.local_session import Sent


async def test_unknown_command_is_answered(chat: LocalChat) -> None:
    anna = chat.user(201)
    await anna.send("/nonsense")
    assert "Не знаю такой команды" in anna.last_text


async def test_forged_and_stale_callbacks_are_answered_and_change_nothing(
    chat: LocalChat,
) -> None:
    anna = chat.user(202)
    await anna.send("/start")
    consent = anna.last_reply()
    for data in ("garbage", "loc:r:RU-XXX", "loc:m:tam-tambov", "loc:p:abc", "cns:zz", "x" * 64):
        await anna.press(consent, data)
    answers = chat.session.answers
    assert len(answers) == 6, "every callback query is answered exactly once"
    assert len({a.callback_query_id for a in answers}) == 6
    assert all(a.show_alert and a.text for a in answers), "each gets a visible explanation"
    assert not [m for m in anna.messages if "Готово" in m.text]


async def test_stickers_and_photos_get_a_hint(chat: LocalChat) -> None:
    anna = chat.user(203)
    await anna.send_photo()
    assert "понимаю текст и кнопки" in anna.last_text


async def test_unexpected_update_types_are_ignored(chat: LocalChat) -> None:
    user = User(id=204, is_bot=False, first_name="Анна")
    member = ChatMemberMember(user=user)
    await chat.feed(
        {
            "my_chat_member": ChatMemberUpdated(
                chat=Chat(id=204, type="private"),
                from_user=user,
                date=dt.datetime.now(dt.UTC),
                old_chat_member=member,
                new_chat_member=member,
            )
        }
    )
    await chat.feed(
        {
            "edited_message": Message(
                message_id=1,
                date=dt.datetime.now(dt.UTC),
                chat=Chat(id=204, type="private"),
                from_user=user,
                text="исправил",
            )
        }
    )
    assert chat.session.chats[204] == []


async def test_bad_start_link_is_explained(chat: LocalChat) -> None:
    anna = chat.user(205)
    replies = await anna.send("/start bogus-payload")
    assert "ссылка не сработала" in replies[0].text
    replies = await anna.send("/start join-doesnotexist")
    assert "Приглашение не найдено" in replies[-1].text


def _last(sent: list[Sent]) -> str:
    return sent[-1].text if sent else ""


async def test_a_redelivered_update_is_processed_once(chat: LocalChat) -> None:
    from aiogram.types import Update

    from db import models

    user = User(id=206, is_bot=False, first_name="Анна", language_code="ru")
    message = Message(
        message_id=1,
        date=dt.datetime.now(dt.UTC),
        chat=Chat(id=206, type="private"),
        from_user=user,
        text="/help",
        entities=[MessageEntity(type="bot_command", offset=0, length=5)],
    )
    update = Update(update_id=999_001, message=message)
    await chat.dp.feed_update(chat.bot, update)
    await chat.dp.feed_update(chat.bot, update)
    assert len(chat.session.chats[206]) == 1
    app = chat.dp["app"]
    async with app.session_factory() as session:
        assert await session.get(models.ProcessedUpdate, ("telegram", 999_001)) is not None


async def test_an_update_that_keeps_failing_is_dead_lettered_after_three_tries(
    chat: LocalChat,
) -> None:
    from aiogram.exceptions import TelegramBadRequest
    from aiogram.methods import SendMessage
    from aiogram.types import Update

    from db import models

    user = User(id=207, is_bot=False, first_name="Анна", language_code="ru")
    message = Message(
        message_id=1,
        date=dt.datetime.now(dt.UTC),
        chat=Chat(id=207, type="private"),
        from_user=user,
        text="/help",
        entities=[MessageEntity(type="bot_command", offset=0, length=5)],
    )
    update = Update(update_id=999_002, message=message)
    for attempt in range(1, 4):
        error = TelegramBadRequest(SendMessage(chat_id=207, text="x"), "Bad Request: boom")
        chat.session.fail_next("sendMessage", error)
        await chat.dp.feed_update(chat.bot, update)
        assert "что-то пошло не так" in chat.session.chats[207][-1].text, attempt
    replies = len(chat.session.chats[207])
    await chat.dp.feed_update(chat.bot, update)  # a fourth redelivery is not retried
    assert len(chat.session.chats[207]) == replies
    app = chat.dp["app"]
    async with app.session_factory() as session:
        letter = await session.get(models.DeadLetter, ("telegram", 999_002))
        assert letter is not None
        assert (letter.attempts, letter.update_type, letter.error) == (
            3,
            "message",
            "TelegramBadRequest",
        )
