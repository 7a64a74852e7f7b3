"""End to end over real HTTP: the bot long-polls a local Bot API fake (TELEGRAM_API_URL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.app import App
from bot.factory import create_bot, create_dispatcher
from bot.runner import set_commands
from db import models
from tests.fake_telegram import FakeTelegram


@pytest.fixture
async def telegram(app: App) -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        settings = app.settings.model_copy(
            update={"telegram_api_url": fake.base_url, "bot_token": None}
        )
        bot = create_bot(settings)
        dp = create_dispatcher(app)
        await set_commands(bot, app.texts)
        polling = asyncio.create_task(
            dp.start_polling(bot, handle_signals=False, polling_timeout=1)
        )
        yield fake
        await dp.stop_polling()
        await polling
        await bot.session.close()


async def test_family_onboards_over_http(telegram: FakeTelegram, app: App) -> None:
    anna = telegram.user(5001, first_name="Анна", language_code="ru")
    await anna.send("/start")
    greeting, _consent = await anna.wait_reply(count=2)
    assert "Семейный навигатор" in greeting["text"]
    await anna.click("✅ Согласен(на)")
    await anna.wait_reply(count=2)
    assert anna.last_text() == "В каком регионе вы живёте?"
    answer = await anna.wait_callback_answer()
    assert answer is not None
    await anna.click("Нижегородская область")
    await anna.wait_reply(count=2)
    await anna.send("Арзамас")
    await anna.wait_reply()
    await anna.click("г. Арзамас")
    await anna.wait_reply(count=2)
    assert "Готово!" in anna.last_text()

    async with app.session_factory() as session:
        user = await session.scalar(select(models.User).where(models.User.messenger_id == 5001))
    assert user is not None and user.municipality_id == "niz-arzamas"


async def test_command_menu_is_set_in_both_languages(telegram: FakeTelegram) -> None:
    russian = {c["command"]: c["description"] for c in telegram.my_commands()}
    english = {c["command"]: c["description"] for c in telegram.my_commands(language_code="en")}
    assert russian["find"] == "Подобрать меры поддержки"
    assert english["find"] == "Match support measures"
    assert set(russian) == set(english)
