"""The HTTP side: webhook secret, health, readiness, metrics; and the whole runner over HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.app import App, build_app
from bot.factory import create_bot, create_dispatcher, create_storage
from bot.local_chat import LocalChat
from bot.local_session import LocalSession
from bot.runner import run_bot
from bot.scheduler import RecordingJobs
from bot.web import PROBES, SECRET_HEADER, WEBHOOK_PATH, create_web_app
from core import people
from db import models
from db.engine import create_engine, create_session_factory
from db.enums import Role
from tests.fake_telegram import FakeTelegram
from tests.referral_helpers import Deliver, family_in, request_help, staff

SECRET = "s3cret-Token_for-tests"


def start_update(update_id: int, user_id: int, text: str = "/start") -> dict[str, Any]:
    entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 1_800_000_000,
            "chat": {"id": user_id, "type": "private"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Анна", "language_code": "ru"},
            "text": text,
            "entities": entities if text.startswith("/") else [],
        },
    }


@pytest.fixture
async def web_chat(app: App) -> LocalChat:
    local = LocalSession()
    return LocalChat(
        create_dispatcher(app, rate_limit=None), create_bot(app.settings, session=local), local
    )


async def client_for(web_app: web.Application) -> TestClient[web.Request, web.Application]:
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(web_app))
    await client.start_server()
    return client


@pytest.fixture
async def webhook(
    app: App, web_chat: LocalChat
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    client = await client_for(
        create_web_app(app, web_chat.dp, web_chat.bot, webhook_secret=SECRET, webhook=True)
    )
    yield client
    await client.close()


async def processed(app: App, update_id: int) -> bool:
    async with app.session_factory() as session:
        return await session.get(models.ProcessedUpdate, ("telegram", update_id)) is not None


# -- webhook --------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "wrong", SECRET + "x", SECRET[:-1], "секрет"])
async def test_a_webhook_call_without_the_secret_gets_401_and_writes_nothing(
    app: App,
    web_chat: LocalChat,
    webhook: TestClient[web.Request, web.Application],
    header: str | None,
) -> None:
    headers = {} if header is None else {SECRET_HEADER: header}
    response = await webhook.post(WEBHOOK_PATH, json=start_update(71, 6001), headers=headers)
    assert response.status == 401
    assert not await processed(app, 71)
    assert web_chat.session.requests == [], "no reply, no Telegram call at all"


async def test_a_webhook_update_with_the_secret_is_handled_before_the_answer(
    app: App, web_chat: LocalChat, webhook: TestClient[web.Request, web.Application]
) -> None:
    response = await webhook.post(
        WEBHOOK_PATH, json=start_update(72, 6002), headers={SECRET_HEADER: SECRET}
    )
    assert response.status == 200
    assert await processed(app, 72)
    assert "Семейный навигатор" in web_chat.session.chats[6002][0].text

    again = await webhook.post(
        WEBHOOK_PATH, json=start_update(72, 6002), headers={SECRET_HEADER: SECRET}
    )
    assert again.status == 200
    assert len(web_chat.session.chats[6002]) == 2, "a redelivery is not answered again"


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"update_id": "x"}', b"{}"])
async def test_a_malformed_webhook_body_is_a_400(
    app: App, web_chat: LocalChat, webhook: TestClient[web.Request, web.Application], body: bytes
) -> None:
    response = await webhook.post(
        WEBHOOK_PATH,
        data=body,
        headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"},
    )
    assert response.status == 400
    assert web_chat.session.requests == []


async def test_the_webhook_route_exists_only_with_a_secret(app: App, web_chat: LocalChat) -> None:
    with pytest.raises(ValueError, match="secret"):
        create_web_app(app, web_chat.dp, web_chat.bot, webhook=True)
    client = await client_for(create_web_app(app, web_chat.dp, web_chat.bot))
    try:
        response = await client.post(WEBHOOK_PATH, json=start_update(73, 6003))
        assert response.status in (404, 405), "polling mode has no webhook route"
    finally:
        await client.close()


async def test_webhook_mode_does_not_start_without_a_good_secret(app: App) -> None:
    for secret in (None, "", "has spaces", "x" * 257, "x", "s3cret-Token_15"):
        settings = app.settings.model_copy(
            update={"webhook_base_url": "https://bot.example.org", "webhook_secret": None}
        )
        if secret is not None:
            from pydantic import SecretStr

            settings = settings.model_copy(update={"webhook_secret": SecretStr(secret)})
        with pytest.raises(SystemExit, match="WEBHOOK_SECRET") as refused:
            await run_bot(dataclasses.replace(app, settings=settings), webhook=True)
        line = str(refused.value)
        assert "\n" not in line and "16-256 characters" in line, line
    assert len(SECRET) >= 16, "the tests' own secret is a good one"


# -- health and readiness -------------------------------------------------------------------------


async def test_healthz_and_readyz_answer_200_when_all_is_well(
    app: App, web_chat: LocalChat
) -> None:
    client = await client_for(create_web_app(app, web_chat.dp, web_chat.bot))
    try:
        alive = await client.get("/healthz")
        assert alive.status == 200
        ready = await client.get("/readyz")
        assert ready.status == 200
        body = await ready.json()
        assert body["checks"] == {"database": "ok", "catalogue": "ok", "redis": "skipped"}
    finally:
        await client.close()


async def test_readyz_is_503_while_shutting_down(app: App, web_chat: LocalChat) -> None:
    web_app = create_web_app(app, web_chat.dp, web_chat.bot)
    web_app[PROBES].draining = True
    client = await client_for(web_app)
    try:
        response = await client.get("/readyz")
        assert response.status == 503
        assert (await response.json())["checks"]["shutdown"] == "in progress"
        assert (await client.get("/healthz")).status == 200, "alive all the same"
    finally:
        await client.close()


async def test_readyz_is_503_when_the_database_is_unreachable(
    app: App, web_chat: LocalChat
) -> None:
    dead = create_engine("postgresql+asyncpg://postgres@127.0.0.1:9/nothing")
    broken = dataclasses.replace(app, engine=dead)
    client = await client_for(create_web_app(broken, web_chat.dp, web_chat.bot))
    try:
        response = await client.get("/readyz")
        assert response.status == 503
        checks = (await response.json())["checks"]
        assert checks["database"] not in ("ok", "skipped")
        assert checks["catalogue"] == "ok"
    finally:
        await client.close()
        await dead.dispose()


async def test_readyz_is_503_before_the_catalogue_is_loaded(app: App, web_chat: LocalChat) -> None:
    fresh = build_app(app.settings, jobs=RecordingJobs())
    client = await client_for(create_web_app(fresh, web_chat.dp, web_chat.bot))
    try:
        response = await client.get("/readyz")
        assert response.status == 503
        assert (await response.json())["checks"]["catalogue"] == "not loaded"
    finally:
        await client.close()
        await fresh.close()


async def test_readyz_pings_redis_when_it_is_configured(app: App) -> None:
    for url, expected in (
        ("redis://127.0.0.1:6379/0", 200),
        (f"redis://127.0.0.1:{closed_port()}/0", 503),
    ):
        with_redis = dataclasses.replace(
            app, settings=app.settings.model_copy(update={"redis_url": url})
        )
        storage = create_storage(with_redis.settings)
        dp = create_dispatcher(with_redis, storage)
        client = await client_for(create_web_app(with_redis, dp, create_bot(app.settings)))
        try:
            response = await client.get("/readyz")
            assert response.status == expected, await response.text()
        finally:
            await client.close()
            await storage.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- metrics --------------------------------------------------------------------------------------


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    head = f"{name}{{{wanted}}}" if labels else name
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == head or _same_labels(key, name, labels):
            return float(value)
    return None


def _same_labels(key: str, name: str, labels: dict[str, str]) -> bool:
    if not key.startswith(name + "{"):
        return False
    found = dict(part.split("=", 1) for part in key[len(name) + 1 : -1].split(",") if part)
    return {k: v.strip('"') for k, v in found.items()} == labels


async def test_metrics_count_updates_latency_backlog_and_referrals(
    app: App, web_chat: LocalChat, deliver: Deliver
) -> None:
    await staff(app, web_chat, 6101, "tam-opora-demo")
    anna = await family_in(web_chat, 6102, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_help(anna, "💬 Психологическая помощь")
    await web_chat.feed(
        {"edited_message": start_update(0, 6102, "поправка")["message"]}
    )  # nobody handles edits
    client = await client_for(create_web_app(app, web_chat.dp, web_chat.bot))
    try:
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    finally:
        await client.close()
    assert (sample(text, "navigator_updates_total", type="message", outcome="handled") or 0) >= 4
    assert (
        sample(text, "navigator_updates_total", type="callback_query", outcome="handled") or 0
    ) >= 5
    assert sample(text, "navigator_updates_total", type="edited_message", outcome="unhandled") == 1
    assert (sample(text, "navigator_update_duration_seconds_count", type="message") or 0) >= 4
    async with app.session_factory() as session:
        pending = await session.scalar(
            select(func.count())
            .select_from(models.OutboxMessage)
            .where(models.OutboxMessage.status == "pending")
        )
    assert pending and sample(text, "navigator_outbox_pending") == pending
    assert sample(text, "navigator_referrals", status="offered") == 1
    assert sample(text, "navigator_referrals", status="closed") == 0
    assert sample(text, "navigator_updates_in_flight") == 0
    assert "Анна" not in text and "6102" not in text, "labels carry no people"


async def test_metrics_still_answer_when_the_database_does_not(
    app: App, web_chat: LocalChat
) -> None:
    dead = create_engine("postgresql+asyncpg://postgres@127.0.0.1:9/nothing")
    broken = dataclasses.replace(app, session_factory=create_session_factory(dead))
    await web_chat.user(6150).send("/help")
    client = await client_for(create_web_app(broken, web_chat.dp, web_chat.bot))
    try:
        response = await client.get("/metrics")
        assert response.status == 200
        text = await response.text()
    finally:
        await client.close()
        await dead.dispose()
    assert sample(text, "navigator_updates_total", type="message", outcome="handled") == 1
    assert sample(text, "navigator_metrics_refresh_errors_total") == 1


async def test_errors_are_counted_by_class(app: App, web_chat: LocalChat) -> None:
    from aiogram.exceptions import TelegramServerError
    from aiogram.methods import SendMessage

    web_chat.session.fail_next(
        "sendMessage", TelegramServerError(SendMessage(chat_id=1, text="x"), "Bad Gateway")
    )
    await web_chat.user(6201).send("/help")
    metrics = web_chat.dp["metrics"]
    assert metrics.errors.labels("message", "TelegramServerError")._value.get() == 1
    assert metrics.updates.labels("message", "error")._value.get() == 1


async def test_each_dispatcher_has_its_own_registry(app: App) -> None:
    one, two = create_dispatcher(app), create_dispatcher(app)
    assert one["metrics"].registry is not two["metrics"].registry
    local = LocalSession()
    chat = LocalChat(one, create_bot(app.settings, session=local), local)
    await chat.user(6301).send("/help")
    assert one["metrics"].updates.labels("message", "handled")._value.get() == 1
    assert two["metrics"].updates.labels("message", "handled")._value.get() == 0


# -- the runner, end to end over HTTP -------------------------------------------------------------


def free_port() -> int:
    return closed_port()


async def wait_http(url: str, status: int = 200, timeout: float = 10.0) -> dict[str, Any]:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    async with ClientSession() as http:
        while True:
            try:
                async with http.get(url) as response:
                    if response.status == status:
                        data: dict[str, Any] = await response.json()
                        return data
            except OSError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(url)
            await asyncio.sleep(0.05)


async def wait_metric(url: str, name: str, value: float, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while sample(await _get_text(url), name) != value:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(name)
        await asyncio.sleep(0.05)


@pytest.fixture
async def runner_app(app: App, db_url: str) -> AsyncIterator[App]:
    """A second app on the same database, as a separate process would have."""
    settings = app.settings.model_copy(update={"bot_token": None})
    other = build_app(settings, clock=app.clock, jobs=RecordingJobs())
    yield other
    await other.close()


@dataclasses.dataclass
class Running:
    task: asyncio.Task[None]
    stop: asyncio.Event


@asynccontextmanager
async def running(app: App, **options: Any) -> AsyncIterator[Running]:
    """run_bot in a task; stopped and awaited whatever the test does."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_bot(app, stop=stop, handle_signals=False, **options))
    try:
        yield Running(task, stop)
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 20)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


def with_fake(app: App, fake: FakeTelegram, port: int, **more: Any) -> App:
    settings = app.settings.model_copy(
        update={
            "telegram_api_url": fake.base_url,
            "webhook_host": "127.0.0.1",
            "webhook_port": port,
            **more,
        }
    )
    return dataclasses.replace(app, settings=settings)


async def test_polling_mode_serves_probes_then_stops_cleanly(runner_app: App) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with FakeTelegram() as fake:
        app = with_fake(runner_app, fake, port)
        async with running(app) as bot_process:
            ready = await wait_http(f"{base}/readyz")
            assert ready["status"] == "ready"
            await wait_metric(f"{base}/metrics", "navigator_scheduler_leader", 1)
            assert isinstance(app.jobs, RecordingJobs) and "sla:sweep" in app.jobs.jobs, (
                "the only replica is the leader and runs the jobs"
            )
            anna = fake.user(6401)
            await anna.send("/start")
            await anna.wait_reply(count=2)
            assert "Согласие" in anna.last_text()
        assert bot_process.task.done() and bot_process.task.exception() is None
        assert fake.calls_to("deleteWebhook"), "polling makes sure no webhook is set"
    with pytest.raises(OSError):
        await _get_text(f"{base}/healthz")


async def test_start_sets_the_description_and_each_staff_members_menu(runner_app: App) -> None:
    async with runner_app.session_factory() as session:
        await people.grant_role(
            session, runner_app.clock, messenger_id=6501, role=Role.MANAGER, region_code="RU-TAM"
        )
    manager_chat = {"type": "chat", "chat_id": 6501}
    async with FakeTelegram() as fake:
        app = with_fake(runner_app, fake, free_port())
        async with running(app):
            assert await fake.wait_until(lambda: bool(fake.my_commands(manager_chat)))
            assert await fake.wait_until(lambda: "en" in fake.short_descriptions)
    menu = {c["command"]: c["description"] for c in fake.my_commands(manager_chat)}
    assert menu["digest"] == "Сводка недели по региону" and "find" in menu
    assert "inbox" not in menu  # a manager, not a volunteer
    assert "digest" not in {c["command"] for c in fake.my_commands()}  # families' menu
    admin = {c["command"] for c in fake.my_commands({"type": "chat", "chat_id": 900})}
    assert "digest" in admin  # ADMIN_IDS
    assert fake.descriptions[""].startswith("Семейный навигатор — помощник")
    assert fake.descriptions["en"].startswith("Family Navigator")
    assert "Меры поддержки семей" in fake.short_descriptions[""]


async def test_webhook_mode_receives_updates_with_the_secret_only(runner_app: App) -> None:
    from pydantic import SecretStr

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with FakeTelegram() as fake:
        app = with_fake(
            runner_app, fake, port, webhook_base_url=base, webhook_secret=SecretStr(SECRET)
        )
        async with running(app, webhook=True):
            await wait_http(f"{base}/readyz")
            await fake.wait_until(lambda: fake.webhook_url is not None, 10)
            assert fake.webhook_url == f"{base}{WEBHOOK_PATH}"
            assert fake.calls_to("setWebhook")[-1]["secret_token"] == SECRET
            anna = fake.user(6402)
            await anna.send("/start")
            await anna.wait_reply(count=2)
            async with (
                ClientSession() as http,
                http.post(
                    f"{base}{WEBHOOK_PATH}",
                    json=start_update(990_001, 6403),
                    headers={SECRET_HEADER: "guess"},
                ) as response,
            ):
                assert response.status == 401
            assert not fake.user(6403).texts


async def test_shutdown_finishes_the_update_in_flight_first(
    runner_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core import people

    real = people.give_consent
    entered, gate = asyncio.Event(), asyncio.Event()

    async def slow_consent(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        await gate.wait()
        return await real(*args, **kwargs)

    monkeypatch.setattr(people, "give_consent", slow_consent)
    port = free_port()
    async with FakeTelegram() as fake:
        app = with_fake(runner_app, fake, port)
        async with running(app) as bot_process:
            await wait_http(f"http://127.0.0.1:{port}/readyz")
            anna = fake.user(6404)
            await anna.send("/start")
            await anna.wait_reply(count=2)
            await anna.click("✅ Согласен(на)")
            await asyncio.wait_for(entered.wait(), 10)
            bot_process.stop.set()  # SIGTERM while the consent is being written
            await asyncio.sleep(0.5)
            assert not bot_process.task.done(), "the runner waits for the update in flight"
            gate.set()
            await asyncio.wait_for(asyncio.shield(bot_process.task), 20)
        assert any("Согласие записано" in text for text in anna.texts), (
            "the update in flight finished and its answer went out before the session closed"
        )
    async with runner_app.session_factory() as session:
        user = await session.scalar(select(models.User).where(models.User.messenger_id == 6404))
    assert user is not None and user.consent_version is not None


async def test_sigterm_stops_the_bot_gracefully(runner_app: App) -> None:
    port = free_port()
    async with FakeTelegram() as fake:
        app = with_fake(runner_app, fake, port)
        task = asyncio.create_task(run_bot(app))
        try:
            await wait_http(f"http://127.0.0.1:{port}/readyz")
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                pytest.skip("no asyncio signal handler here: SIGTERM would end the test run")
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(task, 20)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
    assert task.exception() is None


async def test_start_up_gives_up_with_one_clear_line(runner_app: App) -> None:
    dead = dataclasses.replace(
        runner_app,
        settings=runner_app.settings.model_copy(
            update={
                "telegram_api_url": f"http://127.0.0.1:{closed_port()}",
                "webhook_host": "127.0.0.1",
                "webhook_port": free_port(),
            }
        ),
    )
    with pytest.raises(SystemExit) as exit_info:
        await run_bot(dead, handle_signals=False, startup_retries=1)
    assert str(exit_info.value) == (
        "telegram not reachable (TelegramNetworkError) after 2 attempts, giving up"
    )


async def _get_text(url: str) -> str:
    async with ClientSession() as http, http.get(url) as response:
        return await response.text()
