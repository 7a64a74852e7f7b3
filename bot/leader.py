"""Exactly one scheduler among replicas: a PostgreSQL advisory lock on a connection of its own.

The leader holds `pg_try_advisory_lock` on a dedicated connection for as long as it lives; the
lock goes away with that connection, so when the leader dies (or its connection does) a standby,
retrying every 15 s, takes over. The leader checks its connection three times as often and stops
its jobs as soon as the connection is gone, normally before a standby can have started its own.
On SQLite there is a single process, and it is always the leader.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

# Arbitrary but fixed 64-bit keys, shared by every replica of this bot on one database.
SCHEDULER_LOCK = 7_231_004_881_265_110_001
MIGRATION_LOCK = 7_231_004_881_265_110_002
RETRY_SECONDS = 15.0
# So PostgreSQL notices a vanished leader host within about a minute, not hours.
_KEEPALIVES = {"tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10"}

Callback = Callable[[], Awaitable[None]]


def _uses_locks(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


async def _dedicated(engine: AsyncEngine) -> AsyncConnection:
    conn = await engine.connect()
    # Autocommit: the lock is session-level, and an idle open transaction could be killed.
    await conn.execution_options(isolation_level="AUTOCOMMIT")
    for name, value in _KEEPALIVES.items():
        with suppress(Exception):  # unix sockets and poolers may refuse; not essential
            await conn.execute(text(f"SET {name} = {value}"))
    return conn


async def _discard(conn: AsyncConnection) -> None:
    """Close the DB session itself (not back to the pool), which drops any lock it holds."""
    with suppress(Exception):
        await conn.invalidate()
    with suppress(Exception):
        await conn.close()


class Leader:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        key: int = SCHEDULER_LOCK,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self._engine = engine
        self._key = key
        self._retry_seconds = retry_seconds
        self._conn: AsyncConnection | None = None
        self.is_leader = False
        self.backend_pid: int | None = None

    async def try_acquire(self) -> bool:
        """One attempt; True if this process is (now) the leader."""
        if not _uses_locks(self._engine):
            self.is_leader = True
            return True
        if self.is_leader:
            return await self.still_leader()
        conn = await _dedicated(self._engine)
        try:
            won = await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key})
            pid = await conn.scalar(text("SELECT pg_backend_pid()")) if won else None
        except BaseException:
            await _discard(conn)
            raise
        if not won:
            await conn.close()
            return False
        self._conn = conn
        self.backend_pid = int(pid) if pid is not None else None
        self.is_leader = True
        return True

    async def still_leader(self) -> bool:
        """Check the lock's connection; a dead one means the lock is gone too."""
        if not _uses_locks(self._engine):
            return self.is_leader
        if self._conn is None:
            return False
        try:
            async with asyncio.timeout(max(self._retry_seconds, 1.0)):
                await self._conn.execute(text("SELECT 1"))
        except Exception as error:
            log.warning("scheduler lock lost: its connection failed (%s)", type(error).__name__)
            await self._forget()
            return False
        return True

    async def release(self) -> None:
        if self._conn is not None:
            with suppress(Exception):
                await self._conn.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": self._key}
                )
        await self._forget()

    async def _forget(self) -> None:
        conn, self._conn = self._conn, None
        self.is_leader = False
        self.backend_pid = None
        if conn is not None:
            await _discard(conn)

    async def run(self, on_elected: Callback, on_deposed: Callback, stop: asyncio.Event) -> None:
        """Campaign until `stop`: call `on_elected` on winning, `on_deposed` on losing.

        On stop the jobs end (`on_deposed`) before the lock is released, so a standby can
        never run them while this process still does.
        """
        waiting_logged = False
        try:
            while not stop.is_set():
                if self.is_leader:
                    if not await self.still_leader():
                        # Then wait a full beat like any standby: no flapping back at once.
                        await _safely("stop", on_deposed)
                else:
                    try:
                        won = await self.try_acquire()
                    except Exception as error:
                        log.warning(
                            "scheduler lock: database not reachable (%s), retry in %s s",
                            type(error).__name__,
                            self._retry_seconds,
                        )
                        won = False
                    if won:
                        log.info("this replica is the scheduler leader")
                        waiting_logged = False
                        if not await _safely("start", on_elected):
                            # Let another replica (or the next beat) try instead.
                            await _safely("stop", on_deposed)
                            await self.release()
                    elif not waiting_logged:
                        waiting_logged = True
                        log.info(
                            "standby: another replica runs the scheduler; retrying every %s s",
                            self._retry_seconds,
                        )
                # The leader checks its connection three times as often as a standby knocks, so
                # after losing the lock it stops its jobs before anyone else can start theirs.
                await _wait(
                    stop, self._retry_seconds / 3 if self.is_leader else self._retry_seconds
                )
        finally:
            if self.is_leader:
                await _safely("stop", on_deposed)
            await self.release()


async def _safely(what: str, callback: Callback) -> bool:
    try:
        await callback()
    except Exception:
        log.exception("scheduler %s failed", what)
        return False
    return True


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


@asynccontextmanager
async def migration_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Replicas starting together migrate one after another, not all at once."""
    if not _uses_locks(engine):
        yield
        return
    conn = await _dedicated(engine)
    try:
        await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        yield
    finally:
        await _discard(conn)
