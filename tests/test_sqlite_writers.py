"""SQLite writers queue on the event loop instead of sleeping in SQLite's busy handler."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from db import engine as db_engine
from db.engine import create_engine


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/writers.sqlite3")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    yield engine
    await engine.dispose()


async def test_concurrent_writers_all_land_without_busy_waits(sqlite_engine: AsyncEngine) -> None:
    async def write(n: int) -> None:
        async with sqlite_engine.connect() as conn:
            await conn.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": f"n{n}"})
            await asyncio.sleep(0.01)  # hold the write transaction across an await
            await conn.commit()

    started = time.perf_counter()
    await asyncio.gather(*(write(n) for n in range(20)))
    elapsed = time.perf_counter() - started
    async with sqlite_engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM notes")) == 20
    # Queued, each write waits only for the one before it (20 × 10 ms); SQLite's busy handler
    # would sleep up to 100 ms per retry. Generous bound: this is a shared machine.
    assert elapsed < 2.0


async def test_a_rolled_back_writer_lets_the_next_one_in(sqlite_engine: AsyncEngine) -> None:
    async with sqlite_engine.connect() as conn:
        await conn.execute(text("INSERT INTO notes (body) VALUES ('dropped')"))
        await conn.rollback()
    async with sqlite_engine.begin() as conn:
        await conn.execute(text("INSERT INTO notes (body) VALUES ('kept')"))
    async with sqlite_engine.connect() as conn:
        assert (await conn.execute(text("SELECT body FROM notes"))).scalars().all() == ["kept"]


async def test_reads_do_not_wait_for_a_writer(sqlite_engine: AsyncEngine) -> None:
    async with sqlite_engine.connect() as writer:
        await writer.execute(text("INSERT INTO notes (body) VALUES ('pending')"))
        async with sqlite_engine.connect() as reader:
            count = await asyncio.wait_for(
                reader.scalar(text("SELECT count(*) FROM notes")), timeout=1
            )
        assert count == 0  # the uncommitted row is not visible, and nothing blocked
        await writer.commit()


async def test_a_writer_stuck_behind_a_held_lock_fails_like_sqlite_would(
    sqlite_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_engine, "SQLITE_BUSY_TIMEOUT_MS", 200)
    async with sqlite_engine.connect() as holder:
        await holder.execute(text("INSERT INTO notes (body) VALUES ('holder')"))
        async with sqlite_engine.connect() as waiter:
            with pytest.raises(OperationalError):
                await waiter.execute(text("INSERT INTO notes (body) VALUES ('waiter')"))
        await holder.commit()
    async with sqlite_engine.begin() as conn:  # the lock went back with the holder
        await conn.execute(text("INSERT INTO notes (body) VALUES ('after')"))
