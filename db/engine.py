"""Engine and session factory; created by the application, never at import time."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_only

SQLITE_BUSY_TIMEOUT_MS = 10_000
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")
_HOLDS_WRITE_LOCK = "holds_write_lock"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets readers work while a writer commits;
    # the busy timeout turns a short lock wait into a wait instead of "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _serialise_sqlite_writers(engine: AsyncEngine) -> None:
    """One writing transaction at a time per engine, queued on the event loop.

    SQLite lets one transaction write at a time; a second writer's connection thread waits in
    SQLite's busy handler, which sleeps in steps of up to 100 ms between tries. Under load the
    aiosqlite threads spent most of their time asleep there while the lock was long free
    (bench/load_bench.py). Here a transaction takes an asyncio lock before its first write
    statement and gives it back when its connection returns to the pool, after the commit or
    rollback — the next writer starts the moment it is free. Reads never wait. The busy
    timeout stays for writers outside this process (the CLI); a wait as long as it ends in
    the same "database is locked" error instead of waiting forever.
    """
    lock = asyncio.Lock()

    def take(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        info = conn.connection.info
        if info.get(_HOLDS_WRITE_LOCK) or not statement.lstrip()[:7].upper().startswith(_WRITES):
            return
        try:
            await_only(asyncio.wait_for(lock.acquire(), SQLITE_BUSY_TIMEOUT_MS / 1000))
        except TimeoutError as exc:
            raise OperationalError(statement, None, exc) from None  # as SQLite would say
        info[_HOLDS_WRITE_LOCK] = True

    def give_back(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        if record.info.pop(_HOLDS_WRITE_LOCK, False):
            lock.release()

    event.listen(engine.sync_engine, "before_cursor_execute", take)
    event.listen(engine.sync_engine.pool, "checkin", give_back)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    # SQL errors end up in logs; their bound parameters would carry people's texts.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        _serialise_sqlite_writers(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _ensure_sqlite_dir(url: str) -> None:
    from pathlib import Path

    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
