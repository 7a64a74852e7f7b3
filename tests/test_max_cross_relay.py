"""Across messengers end to end: the family on MAX over HTTP (the fake MAX Bot API), the
volunteer on Telegram (the in-process chat), and the reverse — one dispatcher, one outbox
worker holding both bots, as `run` wires them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from sqlalchemy import select

from bot.app import App
from bot.factory import create_bot
from bot.local_chat import ChatUser, LocalChat
from bot.outbox_worker import OutboxWorker
from db import models
from db.enums import Channel
from handlers.notifications import NotificationRenderer
from tests.channel_sessions import FileLocalSession, files_of, volunteer_on
from tests.fake_max import FakeMaxUser
from tests.max_helpers import MaxRun, max_bot_polling
from tests.referral_helpers import family_in, request_help


@pytest.fixture
async def run(app: App) -> AsyncIterator[MaxRun]:
    async with max_bot_polling(app) as running:
        yield running


@pytest.fixture
def telegram(app: App, run: MaxRun) -> LocalChat:
    """Telegram in-process, on the MAX run's dispatcher."""
    session = FileLocalSession()
    return LocalChat(run.dp, create_bot(app.settings, session=session), session)


def worker(app: App, *bots: Bot) -> OutboxWorker:
    async def no_sleep(_: float) -> None:
        return None

    return OutboxWorker(
        app.session_factory,
        list(bots),
        app.clock,
        NotificationRenderer(app.texts, app.catalogue),
        per_chat_interval=0,
        sleep=no_sleep,
    )


async def onboard_on_max(person: FakeMaxUser) -> None:
    await person.start()
    await person.click("✅ Согласен(на)")
    await person.click("Тамбовская область")
    await person.send("Тамбов")
    await person.click("г. Тамбов")


async def latest_number(app: App) -> int:
    async with app.session_factory() as session:
        referral = await session.scalar(
            select(models.Referral).order_by(models.Referral.id.desc())
        )
    assert referral is not None
    return referral.id


async def test_family_on_max_gets_the_telegram_volunteers_answers(
    app: App, run: MaxRun, telegram: LocalChat
) -> None:
    outbox = worker(app, telegram.bot, run.bot)
    olga: ChatUser = await volunteer_on(app, telegram, Channel.TELEGRAM, 7101)
    anna = run.fake.user(7101)  # the same number on MAX is someone else
    await onboard_on_max(anna)
    await anna.send("/request")
    await anna.click("💬 Психологическая помощь")
    await anna.click("📍")
    await anna.send("Нужна поддержка психолога")
    await anna.click("💬 Через бота")
    await anna.click("✅ Да, передать")
    number = await latest_number(app)

    await outbox.drain()
    assert f"Новая заявка №{number}" in olga.last_text, "the offer reached Telegram"
    await olga.click("✅ Принять")
    await outbox.drain()
    assert "взяла в работу" in anna.last_text(), "the answer reached MAX over HTTP"

    await olga.click("✉️ Написать семье")
    await olga.send("Здравствуйте! Когда вам удобно созвониться?")
    await outbox.drain()
    assert f"Волонтёр · заявка №{number}" in anna.last_text()
    assert "Когда вам удобно созвониться?" in anna.last_text()
    assert "Ольга" not in anna.last_text() and "7101" not in anna.last_text()

    await anna.click("↩️ Ответить")
    await anna.send("Завтра после 18:00")
    await anna.send_photo(b"\x89PNG spravka")
    await outbox.drain()
    text, photo = olga.messages[-2:]
    assert f"Семья · заявка №{number}" in text.text and "Завтра после 18:00" in text.text
    assert (photo.kind, photo.file_data) == ("photo", b"\x89PNG spravka"), (
        "the photo was downloaded from MAX and uploaded to Telegram"
    )
    assert f"Семья · заявка №{number}" in photo.text


async def test_family_on_telegram_gets_the_max_volunteers_answers(
    app: App, run: MaxRun, telegram: LocalChat
) -> None:
    outbox = worker(app, telegram.bot, run.bot)
    olga = run.fake.user(7102, "Ольга")
    await volunteer_on(app, telegram, Channel.MAX, 7102)  # the role, given on MAX
    anna = await family_in(telegram, 7102, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_help(anna, "💬 Психологическая помощь")
    number = await latest_number(app)

    await outbox.drain()
    assert f"Новая заявка №{number}" in olga.last_text(), "the offer reached MAX over HTTP"
    await olga.click("✅ Принять")
    await outbox.drain()
    assert "взяла в работу" in anna.last_text

    await olga.click("✉️ Написать семье")
    await olga.send("Пришлите, пожалуйста, справку о составе семьи")
    await outbox.drain()
    assert f"Волонтёр · заявка №{number}" in anna.last_text
    assert "справку о составе семьи" in anna.last_text and "Ольга" not in anna.last_text

    files_of(telegram)["userdoc"] = b"%PDF spravka"
    await anna.click("↩️ Ответить")
    await anna.send_document("справка.pdf")
    await outbox.drain()
    # MAX wants a file alone in its message: the file, then its label with the reply button.
    file, label = olga.messages[-2:]
    assert [a["type"] for a in file.attachments] == ["file"], (
        "the document was downloaded from Telegram and uploaded to MAX"
    )
    assert run.fake.file_bytes(file) == ("справка.pdf", b"%PDF spravka")
    assert f"Семья · заявка №{number}" in label.text and "↩️ Ответить" in label.button_texts
    assert "7102" not in " ".join(olga.texts()), "the volunteer never sees the family's account"
