"""Each update is handled once: a redelivered update_id is skipped.

Each messenger numbers its own updates, so an update is known by (channel, update_id): update
5 from MAX is not update 5 from Telegram.

The id is recorded after the handlers finish, so a crash mid-way means the update is
processed again when Telegram redelivers it (at least once), never that it is lost.

Under load the lookups and the records are grouped: updates arriving together share one
`SELECT … WHERE update_id IN (…)`, and the ids of updates finishing together (with the
statistics rows their handlers deferred, see `discovery.DEFERRED_ROWS`) are written in one
transaction. Each update still waits for its own lookup before its handlers run and for its
own record to be committed before it counts as handled, so nothing about the guarantee above
changes; a busy bot just makes far fewer round trips.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels import channel_of
from core.clock import Clock
from core.search.discovery import DEFERRED_ROWS, DeferredRow
from db import models

log = logging.getLogger(__name__)

# Ids handled by this process lately: a redelivery to the same process needs no query.
REMEMBERED = 10_000

UpdateKey = tuple[str, int]  # (channel, update_id)

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupRunner(Generic[Item, Result]):
    """Runs `work` on everything submitted while the previous run was in progress.

    One run at a time; a submitter waits for the run that includes its item. With one caller
    this is a plain call; with many, one round trip serves them all.
    """

    def __init__(self, work: Callable[[list[Item]], Awaitable[list[Result]]]) -> None:
        self._work = work
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._running = False
        self._task: asyncio.Task[None] | None = None  # a reference, so it is not collected

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if not self._running:
            self._running = True
            self._task = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await self._work([item for item, _ in batch])
                except BaseException as exc:  # each waiting update gets the failure
                    for _, future in batch:
                        if future.done():
                            continue
                        if isinstance(exc, asyncio.CancelledError):
                            future.cancel()
                        else:
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._running = False


class DedupMiddleware(BaseMiddleware):
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._recent: dict[UpdateKey, None] = {}
        self._lookups: GroupRunner[UpdateKey, bool] = GroupRunner(self._processed)
        self._records: GroupRunner[tuple[UpdateKey | None, list[DeferredRow]], None] = GroupRunner(
            self._record
        )

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        update_id = event.update_id
        key = (str(channel_of(data["bot"])), update_id)
        if key in self._recent or await self._lookups.submit(key):
            log.info("update %s already processed, skipped", update_id)
            return None
        deferred: list[DeferredRow] = []
        data[DEFERRED_ROWS] = deferred
        try:
            result = await handler(event, data)
        except BaseException:
            if deferred:  # what the handlers logged before failing is kept, as before
                try:
                    await self._records.submit((None, deferred))
                except Exception:  # the handler's own error is the one to report
                    log.warning("statistics rows of update %s were not saved", update_id)
            raise
        await self._records.submit((key, deferred))
        self._remember(key)
        return result

    def _remember(self, key: UpdateKey) -> None:
        self._recent[key] = None
        if len(self._recent) > REMEMBERED:
            del self._recent[next(iter(self._recent))]

    async def _processed(self, keys: list[UpdateKey]) -> list[bool]:
        # One query per messenger, `channel = ? AND update_id IN (...)`: SQLite answers a
        # row-value IN, `(channel, update_id) IN (...)`, by scanning the whole table.
        Processed = models.ProcessedUpdate
        by_channel: dict[str, list[int]] = defaultdict(list)
        for channel, update_id in keys:
            by_channel[channel].append(update_id)
        done: set[UpdateKey] = set()
        async with self._session_factory() as session:
            for channel, update_ids in by_channel.items():
                found = await session.scalars(
                    select(Processed.update_id).where(
                        Processed.channel == channel, Processed.update_id.in_(update_ids)
                    )
                )
                done.update((channel, update_id) for update_id in found)
        return [key in done for key in keys]

    async def _record(self, items: list[tuple[UpdateKey | None, list[DeferredRow]]]) -> list[None]:
        now = self._clock.now()
        try:
            async with self._session_factory() as session:
                await self._write(session, items, now)
                await session.commit()
        except IntegrityError:
            # Another replica finished one of these updates first: record them one by one.
            for item in items:
                await self._record_one(item, now)
        return [None] * len(items)

    async def _record_one(
        self, item: tuple[UpdateKey | None, list[DeferredRow]], now: Any
    ) -> None:
        key, deferred = item
        update_id = key[1] if key is not None else None
        async with self._session_factory() as session:
            try:
                await self._write(session, [item], now)
                await session.commit()
                return
            except IntegrityError:
                await session.rollback()
            if key is not None:
                log.info("update %s was recorded by another replica", update_id)
            if deferred:
                try:
                    await self._write(session, [(None, deferred)], now)
                    await session.commit()
                except IntegrityError:
                    await session.rollback()
                    log.warning("deferred rows of update %s dropped: integrity error", update_id)

    @staticmethod
    async def _write(
        session: AsyncSession, items: list[tuple[UpdateKey | None, list[DeferredRow]]], now: Any
    ) -> None:
        by_model: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for _, deferred in items:
            for model, values in deferred:
                by_model[model].append(values)
        for model, rows in by_model.items():
            await session.execute(insert(model), rows)
        ids = [
            {"channel": key[0], "update_id": key[1], "processed_at": now}
            for key, _ in items
            if key is not None
        ]
        if ids:
            await session.execute(insert(models.ProcessedUpdate), ids)
