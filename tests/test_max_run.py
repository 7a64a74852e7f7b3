"""`run` serves every messenger with a token: Telegram and MAX together, or MAX alone."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from bot.app import App, build_app
from bot.scheduler import RecordingJobs
from tests.fake_max import TOKEN, FakeMax
from tests.fake_telegram import FakeTelegram
from tests.test_web import free_port, running, wait_http

TELEGRAM_TOKEN = "123456:" + "A" * 30
SECRET = "max-webhook-secret-0123"


@pytest.fixture
async def runner_app(app: App) -> AsyncIterator[App]:
    other = build_app(app.settings, clock=app.clock, jobs=RecordingJobs())
    yield other
    await other.close()


def configured(app: App, port: int, **settings: object) -> App:
    base = {"webhook_host": "127.0.0.1", "webhook_port": port, "bot_token": None}
    return dataclasses.replace(app, settings=app.settings.model_copy(update=base | settings))


async def test_both_messengers_polled_by_one_process(runner_app: App) -> None:
    port = free_port()
    async with FakeTelegram() as telegram, FakeMax() as fake_max:
        app = configured(
            runner_app,
            port,
            bot_token=SecretStr(TELEGRAM_TOKEN),
            telegram_api_url=telegram.base_url,
            max_bot_token=SecretStr(TOKEN),
            max_api_url=fake_max.base_url,
        )
        async with running(app):
            ready = await wait_http(f"http://127.0.0.1:{port}/readyz")
            assert ready["checks"]["telegram"] == "ok" and ready["checks"]["max"] == "ok"
            boris = telegram.user(7301)
            await boris.send("/start")
            await boris.wait_reply(count=2)
            anna = fake_max.user(7302)
            await anna.start()
            await anna.wait_reply(count=2)
            assert "Согласие" in anna.last_text()
            assert fake_max.commands, "the MAX command menu is set at start"
        assert fake_max.calls_to("GET", "/subscriptions"), "polling drops MAX subscriptions"


async def test_max_alone_by_webhook(runner_app: App) -> None:
    port = free_port()
    async with FakeMax() as fake_max:
        app = configured(
            runner_app,
            port,
            max_bot_token=SecretStr(TOKEN),
            max_api_url=fake_max.base_url,
            webhook_base_url="https://bot.example.org",
            max_webhook_secret=SecretStr(SECRET),
        )
        async with running(app, webhook=True):
            ready = await wait_http(f"http://127.0.0.1:{port}/readyz")
            assert ready["checks"]["telegram"] == "skipped" and ready["checks"]["max"] == "ok"
            assert fake_max.subscriptions == [
                {
                    "url": "https://bot.example.org/max/webhook",
                    "update_types": ["message_created", "message_callback", "bot_started"],
                    "secret": SECRET,
                }
            ]


async def test_max_webhook_needs_a_long_enough_secret(runner_app: App) -> None:
    app = configured(
        runner_app,
        free_port(),
        max_bot_token=SecretStr(TOKEN),
        webhook_base_url="https://bot.example.org",
        max_webhook_secret=SecretStr("short"),
    )
    from bot.runner import run_bot

    with pytest.raises(SystemExit, match="MAX_WEBHOOK_SECRET"):
        await run_bot(app, webhook=True, handle_signals=False)


async def test_admin_invite_names_the_max_bot_for_its_link(app: App) -> None:
    """`admin invite` prints a MAX link too when MAX_BOT_TOKEN is set (bot/commands.py)."""
    from bot.commands import _max_username

    async with FakeMax() as fake_max:
        settings = app.settings.model_copy(
            update={"max_bot_token": SecretStr(TOKEN), "max_api_url": fake_max.base_url}
        )
        assert await _max_username(dataclasses.replace(app, settings=settings)) == (
            "family_nav_max_bot"
        )
    offline = app.settings.model_copy(
        update={"max_bot_token": SecretStr(TOKEN), "max_api_url": "http://127.0.0.1:9"}
    )
    assert await _max_username(dataclasses.replace(app, settings=offline)) == "YOUR_MAX_BOT"
