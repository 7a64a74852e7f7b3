"""Fixtures: the whole suite runs on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App, build_app
from bot.bootstrap import load_content
from bot.config import Settings
from bot.factory import create_bot, create_dispatcher
from bot.local_chat import LocalChat
from bot.local_session import LocalSession
from bot.scheduler import RecordingJobs
from core.clock import FrozenClock
from db import migrate
from db.base import Base
from db.engine import create_engine

CONTENT = Path(__file__).resolve().parent.parent / "content"
# Saturday 28 Nov 2026, 09:00 UTC = 12:00 in Moscow.
START = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)
CATALOGUE_TABLES = {
    "regions",
    "municipalities",
    "needs",
    "measures",
    "measure_needs",
    "organizations",
    "organization_needs",
    "organization_municipalities",
    "consultations",
    "alembic_version",
}


def database_url(tmp_dir: Path, name: str = "test") -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp_dir / name}.sqlite3"


async def reset_postgres(url: str) -> None:
    """Start from an empty schema so migrations are exercised from zero on every run."""
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return database_url(tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def is_postgres(db_url: str) -> bool:
    return db_url.startswith("postgresql")


@pytest.fixture(scope="session")
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture(scope="session")
async def app(db_url: str, clock: FrozenClock) -> AsyncIterator[App]:
    if db_url.startswith("postgresql"):
        await reset_postgres(db_url)
    settings = Settings(database_url=db_url, content_dir=CONTENT, admin_ids=[900])
    application = build_app(settings, clock=clock, jobs=RecordingJobs())
    await migrate.upgrade(application.engine)
    # The suite's routable organisations are the demo ones: loaded explicitly.
    await load_content(application, with_demo=True)
    yield application
    await application.close()


@pytest.fixture(autouse=True)
async def _clean_state(request: pytest.FixtureRequest, clock: FrozenClock) -> AsyncIterator[None]:
    """Each test starts at START with no people, referrals or logs (the catalogue stays)."""
    clock._now = START
    yield
    if "app" not in request.fixturenames:
        return
    application: App = request.getfixturevalue("app")
    async with application.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in CATALOGUE_TABLES:
                await conn.execute(table.delete())


@pytest.fixture
async def session(app: App) -> AsyncIterator[AsyncSession]:
    async with app.session_factory() as db_session:
        yield db_session


@pytest.fixture
def chat(app: App) -> Iterator[LocalChat]:
    """The real dispatcher with a recording Bot session; users are played by the test."""
    local = LocalSession()
    bot = create_bot(app.settings, session=local)
    # No per-user rate limit: a scripted user taps faster than any person (tested apart).
    yield LocalChat(create_dispatcher(app, rate_limit=None), bot, local)


@pytest.fixture
def deliver(app: App, chat: LocalChat) -> Callable[[], Awaitable[int]]:
    """Send everything due in the outbox through the chat's bot, without real waiting."""
    from bot.outbox_worker import OutboxWorker
    from handlers.notifications import NotificationRenderer

    async def no_sleep(_: float) -> None:
        return None

    worker = OutboxWorker(
        app.session_factory,
        chat.bot,
        app.clock,
        NotificationRenderer(app.texts, app.catalogue),
        per_chat_interval=0,
        sleep=no_sleep,
    )
    return worker.drain
