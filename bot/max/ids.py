"""Integer ids for MAX's string ones: message ids (a table), update ids and file ids (derived).

- Messages: aiogram handles a message by an integer and MAX names it by a string (`mid`).
  The integer is derived from the mid; `max_messages` keeps the pair so that an edit made
  after a restart still finds the message. Recent pairs are also kept in memory.
- Updates: MAX updates have no id. One is derived from what identifies the event (its type,
  time and message or callback id), so the same update delivered twice gets the same id and
  the dedup middleware drops the second. Derived ids live in [2**60, 2**61), far above
  Telegram's update ids, so the two messengers never collide in `processed_updates`.
- Files: a file id is "<kind>|<token>|<url>": the token re-sends the file on MAX, the URL
  downloads it (`bot.download(file_id)`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from db import models

log = logging.getLogger(__name__)

UPDATE_ID_BASE = 2**60
MAX_UPDATE_IDS = (UPDATE_ID_BASE, 2 * UPDATE_ID_BASE - 1)
REMEMBERED = 10_000


def update_id_of(*parts: object) -> int:
    digest = hashlib.blake2b("|".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return UPDATE_ID_BASE + int.from_bytes(digest, "big") % UPDATE_ID_BASE


@dataclass(frozen=True)
class MaxFile:
    kind: str  # image, file, audio, video
    token: str
    url: str

    @property
    def file_id(self) -> str:
        return f"{self.kind}|{self.token}|{self.url}"

    @property
    def unique_id(self) -> str:
        return hashlib.blake2b(self.token.encode(), digest_size=12).hexdigest()

    @classmethod
    def parse(cls, file_id: str) -> MaxFile | None:
        kind, sep, rest = file_id.partition("|")
        token, sep2, url = rest.partition("|")
        if not sep or not sep2 or kind not in ("image", "file", "audio", "video") or not token:
            return None
        return cls(kind, token, url)


def message_number(mid: str) -> int:
    """The integer aiogram sees for a MAX message: derived from the mid, so no lookup is
    needed to name a message (62 bits: a collision is as likely as a guessed token)."""
    digest = hashlib.blake2b(mid.encode(), digest_size=8).digest()
    return 1 + int.from_bytes(digest, "big") % (2**62 - 1)


class MaxMessageIds:
    """mid ⇄ integer: the integer is derived, the pair is kept for the way back (an edit).

    Naming a message needs no database (a handler holds a connection while it sends, and a
    second one per message would exhaust the pool under load). The pairs are remembered here
    and written to `max_messages` in the background, batched, so an edit after a restart
    still finds its message; only an integer this process has forgotten is read back.
    """

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._by_number: OrderedDict[int, str] = OrderedDict()
        self._pending: dict[int, tuple[str, int]] = {}
        self._writer: asyncio.Task[None] | None = None

    async def number(self, mid: str, chat_id: int) -> int:
        number = message_number(mid)
        if number not in self._by_number:
            self._remember(mid, number)
            self._pending[number] = (mid, chat_id)
            if self._writer is None or self._writer.done():
                self._writer = asyncio.get_running_loop().create_task(self._write())
        return number

    async def mid(self, number: int) -> str | None:
        known = self._by_number.get(number)
        if known is not None:
            return known
        async with self._session_factory() as session:
            mid = await session.scalar(
                select(models.MaxMessage.mid).where(models.MaxMessage.id == number)
            )
        if mid is not None:
            self._remember(mid, number)
        return mid

    async def flush(self) -> None:
        """Wait until every pair named so far is stored (shutdown, tests)."""
        while self._writer is not None and not self._writer.done():
            await self._writer

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, {}
            try:
                await self._store(batch)
            except Exception as error:  # kept in memory; an edit after a restart may miss it
                log.warning(
                    "max: %d message id(s) not stored (%s)", len(batch), type(error).__name__
                )

    async def _store(self, batch: dict[int, tuple[str, int]]) -> None:
        now = self._clock.now()
        async with self._session_factory() as session:
            known = set(
                await session.scalars(
                    select(models.MaxMessage.id).where(models.MaxMessage.id.in_(list(batch)))
                )
            )
            for number, (mid, chat_id) in batch.items():
                if number not in known:
                    session.add(
                        models.MaxMessage(id=number, mid=mid, chat_id=chat_id, created_at=now)
                    )
            try:
                await session.commit()
            except IntegrityError:  # stored meanwhile by another replica: one by one
                await session.rollback()
                for number, (mid, chat_id) in batch.items():
                    session.add(
                        models.MaxMessage(id=number, mid=mid, chat_id=chat_id, created_at=now)
                    )
                    try:
                        await session.commit()
                    except IntegrityError:
                        await session.rollback()

    def _remember(self, mid: str, number: int) -> None:
        self._by_number[number] = mid
        while len(self._by_number) > REMEMBERED:
            self._by_number.popitem(last=False)
