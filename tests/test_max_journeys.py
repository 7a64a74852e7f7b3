"""A family on MAX, end to end over HTTP: the same conversation as on Telegram."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.app import App
from db import models
from tests.fake_max import FakeMaxUser
from tests.max_helpers import MaxRun, max_bot_polling


@pytest.fixture
async def run(app: App) -> AsyncIterator[MaxRun]:
    async with max_bot_polling(app) as running:
        yield running


async def onboard(anna: FakeMaxUser) -> None:
    await anna.start()
    greeting, consent = await anna.wait_reply(count=2)
    assert "Семейный навигатор" in greeting.text
    assert "✅ Согласен(на)" in consent.button_texts
    await anna.click("✅ Согласен(на)")
    await anna.wait_reply()
    assert anna.last_text() == "В каком регионе вы живёте?"
    # The press is answered in place: the consent message now says it was recorded.
    assert "Согласие записано" in consent.text and consent.edits == 1
    await anna.click("Нижегородская область")
    await anna.wait_reply(count=1)
    await anna.send("Арзамас")
    await anna.wait_reply()
    await anna.click("г. Арзамас")
    await anna.wait_until(lambda: "Готово!" in anna.last_text())


async def test_family_onboards_with_consent_on_max(run: MaxRun, app: App) -> None:
    anna = run.fake.user(7001, "Анна", "ru-RU")
    await onboard(anna)
    async with app.session_factory() as session:
        user = await session.scalar(select(models.User).where(models.User.telegram_id == 7001))
        assert user is not None
        assert user.municipality_id == "niz-arzamas"
        consent = await session.scalar(
            select(models.Consent).where(models.Consent.user_id == user.id)
        )
    assert consent is not None and consent.version == "1.0"


async def test_english_locale_gets_english(run: MaxRun) -> None:
    john = run.fake.user(7002, "John", "en-US")
    await john.start()
    greeting, _ = await john.wait_reply(count=2)
    assert "Family Navigator" in greeting.text
