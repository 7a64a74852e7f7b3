"""A family on MAX, end to end over HTTP: the same conversation as on Telegram.

The bot long-polls the fake MAX Bot API (tests/fake_max.py) through MaxSession; every step
waits until the bot has handled it, then asserts on what the person sees and on the rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.app import App
from bot.max.session import MaxSession
from db import models
from tests.fake_max import FakeMaxUser
from tests.max_helpers import MaxRun, max_bot_polling


@pytest.fixture
async def run(app: App) -> AsyncIterator[MaxRun]:
    async with max_bot_polling(app) as running:
        yield running


async def onboard(person: FakeMaxUser, region: str, query: str, municipality: str) -> None:
    await person.start()
    await person.click("✅ Согласен(на)")
    await person.click(region)
    await person.send(query)
    await person.click(municipality)


async def user_row(app: App, max_id: int) -> models.User | None:
    async with app.session_factory() as session:
        return await session.scalar(
            select(models.User).where(
                models.User.channel == "max", models.User.messenger_id == max_id
            )
        )


async def test_family_onboards_with_consent_on_max(run: MaxRun, app: App) -> None:
    anna = run.fake.user(7001, "Анна", "ru-RU")
    await anna.start()
    greeting, consent = anna.messages
    assert "Семейный навигатор" in greeting.text
    assert consent.button_texts[0] == "✅ Согласен(на)"
    await anna.click("✅ Согласен(на)")
    # The press is answered in place: the consent message now says it was recorded.
    assert "Согласие записано" in consent.text and consent.edits == 1
    assert anna.last_text() == "В каком регионе вы живёте?"
    await anna.click("Нижегородская область")
    await anna.send("Арзамас")
    await anna.click("г. Арзамас")
    assert "Готово!" in anna.last_text()

    user = await user_row(app, 7001)
    assert user is not None and user.municipality_id == "niz-arzamas"
    assert user.consent_version == "1.0"


async def test_english_locale_gets_english(run: MaxRun) -> None:
    john = run.fake.user(7002, "John", "en-US")
    await john.start()
    assert "Family Navigator" in john.messages[0].text


async def test_search_opens_a_card_with_its_sections(run: MaxRun) -> None:
    anna = run.fake.user(7003)
    await onboard(anna, "Тамбовская область", "Мичуринск", "г. Мичуринск")
    await anna.send("маткапитал")
    assert anna.last_text() == "Вот что нашлось по запросу «маткапитал»:"
    assert anna.buttons()[0] == "📌 Материнский (семейный) капитал"
    await anna.click("📌 Материнский (семейный) капитал")
    card = anna.messages[-1]
    assert "Материнский (семейный) капитал" in card.text
    assert card.html is not None and "<b>" in card.html, "formatting reaches MAX as HTML"
    assert "<" not in card.text, "no raw markup is shown"


async def test_screener_runs_to_its_results(run: MaxRun) -> None:
    masha = run.fake.user(7004)
    await onboard(masha, "Тамбовская область", "Мичуринск", "г. Мичуринск")
    await masha.send("/find")
    await masha.click("Да")  # pregnant
    await masha.click("12–22 недели")
    await masha.click("Пока нет")  # children
    await masha.click("Нет")  # single parent
    await masha.click("до 25")
    assert "на одного человека" in masha.last_text()
    await masha.click("меньше 15")
    await masha.click("Нет")  # employed
    await masha.click("Да")  # student
    await masha.click("Нет")  # mortgage
    await masha.click("Да")  # citizen
    results = masha.messages[-1]
    assert "Что может подойти вашей семье" in results.text
    assert any("беременн" in label.lower() for label in results.button_texts)


async def test_request_for_help_then_my_then_forget(run: MaxRun, app: App) -> None:
    anna = run.fake.user(7005)
    await onboard(anna, "Нижегородская область", "Арзамас", "г. Арзамас")
    await anna.send("/request")
    await anna.click("💬 Психологическая помощь")
    await anna.click("📍")
    await anna.send("Нужна поддержка психолога")
    await anna.click("💬 Через бота")
    await anna.click("✅ Да, передать")
    async with app.session_factory() as session:
        referral = await session.scalar(select(models.Referral))
    assert referral is not None and referral.need_id == "psych_help"
    number = referral.id

    await anna.send("/my")
    assert f"№{number}" in anna.last_text()

    await anna.send("/forget")
    before_erasure = len(anna.messages)
    await anna.click("Да, удалить")
    assert "удалены" in anna.last_text()
    assert await user_row(app, 7005) is None
    assert isinstance(run.bot.session, MaxSession)
    await run.bot.session.ids.flush()
    async with app.session_factory() as session:
        left = set(
            await session.scalars(
                select(models.MaxMessage.mid).where(models.MaxMessage.chat_id == 7005)
            )
        )
    # /forget erases the person's MAX message ids; only the bot's answers after it remain.
    assert left <= {m.mid for m in anna.messages[before_erasure:]}


async def test_phone_is_shared_with_maxs_contact_button(run: MaxRun, app: App) -> None:
    anna = run.fake.user(7006)
    await onboard(anna, "Нижегородская область", "Арзамас", "г. Арзамас")
    await anna.send("/request")
    await anna.click("💬 Психологическая помощь")
    await anna.click("📍")
    await anna.send("Нужна поддержка психолога")
    await anna.click("📞")
    contact_button = [
        b
        for m in anna.messages
        for row in m.buttons
        for b in row
        if b["type"] == "request_contact"
    ]
    assert contact_button, "Telegram's request_contact keyboard becomes MAX's contact button"
    await anna.send_contact("+79990001122")
    await anna.click("✅ Да, передать")
    async with app.session_factory() as session:
        referral = await session.scalar(select(models.Referral))
    assert referral is not None and referral.contact_phone == "+79990001122"


async def test_family_and_volunteer_both_on_max_talk_through_the_bot(
    run: MaxRun, app: App
) -> None:
    """Offer, accept and relay (texts and a photo, copied by token) go through the outbox
    worker with the MAX bot: MAX's answers and errors are what the worker expects."""
    from bot.outbox_worker import OutboxWorker
    from core import people
    from db.enums import Role
    from handlers.notifications import NotificationRenderer

    async def no_sleep(_: float) -> None:
        return None

    worker = OutboxWorker(
        app.session_factory,
        run.bot,
        app.clock,
        NotificationRenderer(app.texts, app.catalogue),
        per_chat_interval=0,
        sleep=no_sleep,
    )
    async with app.session_factory() as session:
        await people.grant_role(
            session,
            app.clock,
            messenger_id=7020,
            role=Role.VOLUNTEER,
            organization_id="tam-opora-demo",
            region_code="RU-TAM",
            channel="max",  # Olga works on MAX too
        )
    olga = run.fake.user(7020, "Ольга")
    anna = run.fake.user(7021)
    await onboard(anna, "Тамбовская область", "Тамбов", "г. Тамбов")
    await anna.send("/request")
    await anna.click("💬 Психологическая помощь")
    await anna.click("📍")
    await anna.send("Нужна поддержка психолога")
    await anna.click("💬 Через бота")
    await anna.click("✅ Да, передать")
    await worker.drain()
    assert "Новая заявка №" in olga.last_text()
    assert olga.buttons() == ["✅ Принять", "✖️ Отказаться"]

    await olga.click("✅ Принять")
    await worker.drain()
    assert "взяла в работу" in anna.last_text()
    await olga.click("✉️ Написать семье")
    await olga.send("Здравствуйте! Когда вам удобно созвониться?")
    await worker.drain()
    assert "Волонтёр · заявка №" in anna.last_text()
    assert "Когда вам удобно созвониться?" in anna.last_text()
    assert "Ольга" not in anna.last_text() and "7020" not in anna.last_text()

    await anna.click("↩️ Ответить")
    await anna.send("Завтра после 18:00")
    await anna.send_photo(b"\x89PNG spravka")
    await worker.drain()
    copy = olga.messages[-1]
    assert copy.attachments and copy.attachments[0]["type"] == "image"
    assert "Семья · заявка №" in copy.text
    assert any("Завтра после 18:00" in text for text in olga.texts())

    # The family blocks the bot: MAX says chat.denied, the worker marks them unreachable.
    anna.block()
    await olga.send("Вы здесь?")
    await worker.drain()
    family = await user_row(app, 7021)
    assert family is not None and family.unreachable
