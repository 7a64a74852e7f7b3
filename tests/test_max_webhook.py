"""The MAX webhook: refused without the right X-Max-Bot-Api-Secret, handled with it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Application, Request
from sqlalchemy import func, select

from bot.app import App
from bot.factory import create_bot
from bot.local_session import LocalSession
from bot.max.webhook import MAX_SECRET_HEADER, MAX_WEBHOOK_PATH
from bot.web import create_web_app
from db import models
from tests.max_helpers import MaxRun, max_bot_polling

SECRET = "max-webhook-secret_42"
Client = TestClient[Request, Application]


@pytest.fixture
async def run(app: App) -> AsyncIterator[MaxRun]:
    async with max_bot_polling(app, poll=False) as running:
        yield running


@pytest.fixture
async def client(app: App, run: MaxRun) -> AsyncIterator[Client]:
    telegram = create_bot(app.settings, session=LocalSession())
    web_app = create_web_app(app, run.dp, telegram, max_bot=run.bot, max_webhook_secret=SECRET)
    async with TestClient(TestServer(web_app)) as test_client:
        yield test_client


async def users(app: App) -> int:
    async with app.session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(models.User)) or 0)


@pytest.mark.parametrize("headers", [{}, {MAX_SECRET_HEADER: "wrong-secret"}])
async def test_an_update_without_the_right_secret_is_refused(
    app: App, run: MaxRun, client: Client, headers: dict[str, str]
) -> None:
    anna = run.fake.user(7201)
    response = await client.post(MAX_WEBHOOK_PATH, json=anna.start_update(), headers=headers)
    assert response.status == 401
    assert anna.messages == []
    async with app.session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(models.ProcessedUpdate)) == 0


async def test_with_the_secret_the_update_is_handled_once(
    app: App, run: MaxRun, client: Client
) -> None:
    anna = run.fake.user(7202)
    headers = {MAX_SECRET_HEADER: SECRET}
    start = anna.start_update()
    response = await client.post(MAX_WEBHOOK_PATH, json=start, headers=headers)
    assert response.status == 200
    assert "Семейный навигатор" in anna.messages[0].text
    # MAX retries an update it thinks was not delivered: the derived id makes it count once.
    before = len(anna.messages)
    response = await client.post(MAX_WEBHOOK_PATH, json=start, headers=headers)
    assert response.status == 200 and len(anna.messages) == before
    response = await client.post(
        MAX_WEBHOOK_PATH, json=anna.click_update("✅ Согласен(на)"), headers=headers
    )
    assert response.status == 200 and await users(app) == 1


async def test_malformed_and_unknown_updates(run: MaxRun, client: Client) -> None:
    headers = {MAX_SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    response = await client.post(MAX_WEBHOOK_PATH, data=b"{not json", headers=headers)
    assert response.status == 400
    response = await client.post(MAX_WEBHOOK_PATH, data=json.dumps([1, 2]), headers=headers)
    assert response.status == 400
    muted = {"update_type": "dialog_muted", "timestamp": 1, "chat_id": 5, "user": {}}
    response = await client.post(MAX_WEBHOOK_PATH, json=muted, headers=headers)
    assert response.status == 200, "an update type the bot does not use is acknowledged"


async def test_the_max_webhook_exists_only_with_a_secret(app: App, run: MaxRun) -> None:
    telegram = create_bot(app.settings, session=LocalSession())
    web_app = create_web_app(app, run.dp, telegram, max_bot=run.bot, max_webhook_secret=None)
    async with TestClient(TestServer(web_app)) as test_client:
        response = await test_client.post(MAX_WEBHOOK_PATH, json={})
        assert response.status in (404, 405)


async def test_subscribing_sends_the_secret_and_polling_removes_it(run: MaxRun) -> None:
    await run.bot.set_webhook("https://bot.example.org/max/webhook", secret_token=SECRET)
    [subscription] = run.fake.subscriptions
    assert subscription["secret"] == SECRET
    assert "message_callback" in subscription["update_types"]
    await run.bot.delete_webhook()
    assert run.fake.subscriptions == []
