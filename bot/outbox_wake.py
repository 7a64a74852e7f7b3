"""The outbox worker's doorbell, rung by the database session itself after a commit.

A service that queues a notification adds an `OutboxMessage` row to the session; the handler,
job or command commits. The session factory of the app (`ring_after_commit`) notes the new rows
at each flush and rings the bell once the transaction that holds them is committed, so no call
site has to remember to. A rolled-back transaction rings nothing. The worker also polls, so a
missed ring would only delay a message by a poll, and a spare ring costs one empty query.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from db import models

_QUEUED = "outbox_queued"


class OutboxWake:
    """Set once per process, shared by the session factory (rings) and the worker (waits)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ring(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()


def ring_after_commit(session_factory: async_sessionmaker[AsyncSession], wake: OutboxWake) -> None:
    """Make every session of `session_factory` ring `wake` after committing outbox rows.

    The listeners go on a Session subclass of this factory alone: another app in the same
    process (a test's replica) keeps its own bell.
    """
    base: type[Session] = session_factory.kw.get("sync_session_class", Session)
    waking = type("OutboxWakingSession", (base,), {})

    def after_flush(session: Session, _context: Any) -> None:
        # `session.new` still lists the objects this flush inserted.
        if any(isinstance(obj, models.OutboxMessage) for obj in session.new):
            session.info[_QUEUED] = True

    def after_commit(session: Session) -> None:
        if session.info.pop(_QUEUED, False):
            wake.ring()

    def after_rollback(session: Session) -> None:
        session.info.pop(_QUEUED, None)

    event.listen(waking, "after_flush", after_flush)
    event.listen(waking, "after_commit", after_commit)
    event.listen(waking, "after_rollback", after_rollback)
    session_factory.configure(sync_session_class=waking)
