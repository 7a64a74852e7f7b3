"""Integer ids for MAX's string ones: message ids (a table), update ids and file ids (derived).

- Messages: aiogram handles a message by an integer and MAX names it by a string (`mid`).
  `max_messages` gives each mid a row whose id is that integer, so an edit made after a
  restart still finds the message. Recent pairs are also kept in memory.
- Updates: MAX updates have no id. One is derived from what identifies the event (its type,
  time and message or callback id), so the same update delivered twice gets the same id and
  the dedup middleware drops the second. Derived ids live in [2**60, 2**61), far above
  Telegram's update ids, so the two messengers never collide in `processed_updates`.
- Files: a file id is "<kind>|<token>|<url>": the token re-sends the file on MAX, the URL
  downloads it (`bot.download(file_id)`).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from db import models

UPDATE_ID_BASE = 2**60
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


class MaxMessageIds:
    """mid ⇄ integer, stored in `max_messages` and remembered for the latest REMEMBERED."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._by_mid: OrderedDict[str, int] = OrderedDict()
        self._by_number: OrderedDict[int, str] = OrderedDict()

    async def number(self, mid: str, chat_id: int) -> int:
        """The integer for `mid`, creating it the first time."""
        known = self._by_mid.get(mid)
        if known is not None:
            return known
        async with self._session_factory() as session:
            number = await session.scalar(
                select(models.MaxMessage.id).where(models.MaxMessage.mid == mid)
            )
            if number is None:
                row = models.MaxMessage(mid=mid, chat_id=chat_id, created_at=self._clock.now())
                session.add(row)
                try:
                    await session.commit()
                    number = row.id
                except IntegrityError:  # the same mid, stored by a concurrent update
                    await session.rollback()
                    number = await session.scalar(
                        select(models.MaxMessage.id).where(models.MaxMessage.mid == mid)
                    )
        assert number is not None
        self._remember(mid, number)
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

    def forget_chat(self) -> None:
        """Drop the memory (after `/forget` deleted a person's rows)."""
        self._by_mid.clear()
        self._by_number.clear()

    def _remember(self, mid: str, number: int) -> None:
        self._by_mid[mid] = number
        self._by_number[number] = mid
        while len(self._by_mid) > REMEMBERED:
            _, old_number = self._by_mid.popitem(last=False)
            self._by_number.pop(old_number, None)
