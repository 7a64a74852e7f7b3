"""Across messengers: a family and a volunteer talk through the bot; one person, two accounts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

import pytest
from aiogram.methods import SetMyCommands
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.local_chat import ChatUser, LocalChat
from core import privacy
from core.clock import FrozenClock
from db import models
from db.enums import Channel
from tests.channel_sessions import (
    ORG,
    files_of,
    send_voice,
    two_messengers,
    users,
    volunteer_on,
    worker_for,
)
from tests.referral_helpers import family_in, latest_referral, request_help

Deliver = Callable[[], Awaitable[int]]


@pytest.fixture
def chats(app: App) -> tuple[LocalChat, LocalChat]:
    return two_messengers(app)


@pytest.fixture
def deliver(app: App, chats: tuple[LocalChat, LocalChat]) -> Deliver:
    return worker_for(app, chats).drain


# --- relay across messengers -----------------------------------------------------------------


async def accepted_request(
    family: ChatUser, volunteer: ChatUser, deliver: Deliver, session: AsyncSession
) -> int:
    await request_help(family, "💬 Психологическая помощь")
    await deliver()
    assert "Новая заявка" in volunteer.last_text, "the offer reached the other messenger"
    await volunteer.click("✅ Принять")
    await deliver()
    assert "взяла в работу" in family.last_text
    return (await latest_referral(session)).id


async def test_family_on_max_and_volunteer_on_telegram_talk_through_the_bot(
    app: App, chats: tuple[LocalChat, LocalChat], deliver: Deliver, session: AsyncSession
) -> None:
    telegram, max_chat = chats
    olga = await volunteer_on(app, telegram, Channel.TELEGRAM, 7001)
    anna = await family_in(max_chat, 7001, "Тамбовская область", "Тамбов", "г. Тамбов")
    number = await accepted_request(anna, olga, deliver, session)

    await olga.click("✉️ Написать семье")
    await olga.send("Здравствуйте! Когда вам удобно созвониться?")
    await deliver()
    assert f"Волонтёр · заявка №{number}" in anna.last_text
    assert "Когда вам удобно созвониться?" in anna.last_text
    assert "Ольга" not in anna.last_text and "7001" not in anna.last_text

    files_of(max_chat).update({"userphoto": b"PHOTO from MAX", "userdoc": b"%PDF from MAX"})
    await anna.click("↩️ Ответить")
    await anna.send("Завтра после 18:00")
    await anna.send_photo(caption="справка")
    await anna.send_document("справка.pdf")
    assert anna.last_text == f"✓ Передано (заявка №{number})"
    await deliver()
    text, photo, document = olga.messages[-3:]
    assert f"Семья · заявка №{number}" in text.text and "Завтра после 18:00" in text.text
    assert (photo.kind, photo.file_data) == ("photo", b"PHOTO from MAX")
    assert f"Семья · заявка №{number}" in photo.text and "справка" in photo.text
    assert (document.kind, document.file_name, document.file_data) == (
        "document",
        "справка.pdf",
        b"%PDF from MAX",
    )
    assert not any(m.kind == "copy" for m in olga.messages), "no copyMessage across messengers"
    rows = list(await session.scalars(select(models.OutboxMessage)))
    assert all(row.status == "sent" for row in rows)
    assert all("media" not in row.payload and "from_chat_id" not in row.payload for row in rows), (
        "where a file came from is dropped once it is sent"
    )


async def test_family_on_telegram_and_volunteer_on_max_talk_through_the_bot(
    app: App, chats: tuple[LocalChat, LocalChat], deliver: Deliver, session: AsyncSession
) -> None:
    telegram, max_chat = chats
    olga = await volunteer_on(app, max_chat, Channel.MAX, 7002)
    anna = await family_in(telegram, 7002, "Тамбовская область", "Тамбов", "г. Тамбов")
    number = await accepted_request(anna, olga, deliver, session)

    files_of(max_chat)["userphoto"] = b"PHOTO from MAX"
    await olga.click("✉️ Написать семье")
    await olga.send_photo(caption="Образец заявления")
    await deliver()
    photo = anna.last_reply()
    assert (photo.kind, photo.file_data) == ("photo", b"PHOTO from MAX")
    assert f"Волонтёр · заявка №{number}" in photo.text and "Образец заявления" in photo.text

    files_of(telegram)["uservoice"] = b"OggS voice"
    await anna.click("↩️ Ответить")
    before = len(olga.messages)
    replies = await send_voice(anna)
    assert [r.text for r in replies] == [
        "Голосовое сообщение не дойдёт: собеседник пишет из мессенджера, где бот не может "
        "передать голосовые. Напишите текстом или пришлите аудио как файл."
    ]
    await deliver()
    assert len(olga.messages) == before, "nothing half-delivered"
    await anna.send("Тогда текстом: спасибо!")
    await deliver()
    assert "Тогда текстом: спасибо!" in olga.last_text
    directions = list(
        await session.scalars(
            select(models.RelayMessage.content_type).where(
                models.RelayMessage.referral_id == number
            )
        )
    )
    assert directions == ["photo", "text"], "the refused voice note is not recorded as relayed"


async def test_a_voice_note_within_telegram_is_still_copied(
    app: App, chats: tuple[LocalChat, LocalChat], deliver: Deliver, session: AsyncSession
) -> None:
    telegram, _ = chats
    olga = await volunteer_on(app, telegram, Channel.TELEGRAM, 7003)
    anna = await family_in(telegram, 7004, "Тамбовская область", "Тамбов", "г. Тамбов")
    await accepted_request(anna, olga, deliver, session)
    await olga.click("✉️ Написать семье")
    await olga.send("Здравствуйте")
    await deliver()
    await anna.click("↩️ Ответить")
    await send_voice(anna)
    await deliver()
    assert olga.last_reply().kind == "copy"


# --- linking two accounts --------------------------------------------------------------------


def code_in(text: str) -> str:
    return text.split("<code>", 1)[1].split("</code>", 1)[0]


async def test_link_brings_region_answers_and_roles_to_the_other_messenger(
    app: App, chats: tuple[LocalChat, LocalChat], session: AsyncSession
) -> None:
    telegram, max_chat = chats
    olga = await volunteer_on(app, telegram, Channel.TELEGRAM, 7301)
    await olga.send("/start")
    await olga.click("✅ Согласен(на)")
    await olga.click("Тамбовская область")
    await olga.send("/link")
    code = code_in(olga.last_text)
    assert "/link" in olga.last_text and "10 минут" in olga.last_text

    on_max = max_chat.user(9301)  # her MAX id has nothing to do with her Telegram one
    await on_max.send(f"/link  {code.lower()} ")
    assert on_max.last_text.startswith("✅ Аккаунты связаны")
    menus = [r for r in max_chat.session.requests if isinstance(r, SetMyCommands)]
    assert [getattr(m.scope, "chat_id", None) for m in menus] == [9301], "her menu on MAX"
    assert "inbox" in [c.command for c in menus[0].commands]
    await on_max.send("/inbox")
    assert on_max.last_text == "Новых и открытых заявок нет. 🌿", "her role works on MAX"

    session.expire_all()
    rows = {
        user.channel: user
        for user in await session.scalars(select(models.User).order_by(models.User.id))
    }
    assert rows["max"].linked_user_id == rows["telegram"].id
    assert rows["telegram"].linked_user_id == rows["max"].id
    assert (rows["max"].region_code, rows["max"].consent_version) == (
        "RU-TAM",
        rows["telegram"].consent_version,
    )
    roles = await session.scalars(
        select(models.Membership.organization_id).where(
            models.Membership.user_id == rows["max"].id
        )
    )
    assert list(roles) == [ORG]
    exported = await privacy.export_user_data(session, rows["max"])
    assert exported["channel"] == "max"
    assert exported["linked_account"] == {"channel": "telegram", "messenger_id": 7301}

    await on_max.send(f"/link {code}")
    assert "уже использован" in on_max.last_text, "a code works once"


@pytest.mark.parametrize(
    "typed",
    ["/link 12345678", "/link ABCDEFGHJ", "/link <b>x</b>", "/link " + "Я" * 4000, "/link 🙂"],
)
async def test_a_wrong_link_code_gets_a_clear_answer(
    chats: tuple[LocalChat, LocalChat], session: AsyncSession, typed: str
) -> None:
    _, max_chat = chats
    stranger = max_chat.user(9302)
    await stranger.send(typed)
    assert "Такого кода нет" in stranger.last_text
    assert await users(session) == [], "nothing stored for a failed attempt"


async def test_link_codes_are_for_the_other_messenger_and_expire(
    app: App, chats: tuple[LocalChat, LocalChat], clock: FrozenClock, session: AsyncSession
) -> None:
    telegram, max_chat = chats
    nobody = telegram.user(7302)
    await nobody.send("/link")
    assert "Связывать пока нечего" in nobody.last_text

    anna = await family_in(telegram, 7303, "Тамбовская область", "Тамбов", "г. Тамбов")
    await anna.send("/link")
    code = code_in(anna.last_text)
    await anna.send(f"/link {code}")
    assert "на другом мессенджере" in anna.last_text

    clock.advance(dt.timedelta(minutes=11))
    await max_chat.user(9303).send(f"/link {code}")
    assert "Такого кода нет" in max_chat.session.chats[9303][-1].text
    assert [row[0] for row in await users(session)] == ["telegram"]


async def test_forget_on_either_messenger_erases_both_linked_accounts(
    chats: tuple[LocalChat, LocalChat], session: AsyncSession
) -> None:
    telegram, max_chat = chats
    anna = await family_in(telegram, 7304, "Тамбовская область", "Тамбов", "г. Тамбов")
    await anna.send("/link")
    on_max = max_chat.user(9304)
    await on_max.send(f"/link {code_in(anna.last_text)}")
    await family_in(telegram, 7305, "Тамбовская область", "Тамбов", "г. Тамбов")  # someone else
    await on_max.send("/forget")
    await on_max.click("Да, удалить")
    assert await users(session) == [("telegram", 7305, "RU-TAM")]
    assert await session.scalar(select(models.LinkCode.code)) is None
