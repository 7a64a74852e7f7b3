"""Long polling that loses nothing: updates are stored before Telegram is told they arrived.

aiogram's own polling moves the offset on (which confirms the updates to Telegram) while the
handlers are still running, so a `kill -9` loses whatever was in flight. Here each batch from
getUpdates is first written to `received_updates`, and only then does the next getUpdates
carry the new offset. A stored update is deleted once handled. At start-up the ones a dead
process left behind are handled first. An update can thus be seen twice (stored, and redelivered
because the offset never reached Telegram); the dedup middleware (processed_updates) makes the
second one a no-op, as with a webhook retry.

Stored updates are keyed by (channel, update_id): each messenger's polling loop (a MAX
adapter may reuse this one through its bot) sees only its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Sequence

from aiogram import Bot, Dispatcher
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.types import Update
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels import channel_of
from core.clock import Clock
from db import models

log = logging.getLogger(__name__)

POLL_TIMEOUT = 30
MAX_BACKOFF_SECONDS = 30.0
# A stored update whose handling raised (the database was down) is tried again this often,
RETRY_SECONDS = 60.0
# until it is this old: then it is dropped (logged by id), so a person's words kept for a
# retry do not stay for ever.
GIVE_UP_AFTER = dt.timedelta(hours=24)
TELEGRAM_UPDATE_IDS = (0, 2**60 - 1)


class DurablePolling:
    def __init__(
        self,
        dp: Dispatcher,
        bot: Bot,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        allowed_updates: Sequence[str] | None = None,
        poll_timeout: int = POLL_TIMEOUT,
        update_ids: tuple[int, int] = TELEGRAM_UPDATE_IDS,
    ) -> None:
        self._dp = dp
        self._bot = bot
        self._channel = str(channel_of(bot))
        self._session_factory = session_factory
        self._clock = clock
        self._allowed = list(allowed_updates) if allowed_updates is not None else None
        self._poll_timeout = poll_timeout
        # The stored updates this polling owns: each messenger's ids lie in a range of their
        # own (MAX's are derived above 2**60), so one process polling two resumes each its own.
        self._update_ids = update_ids
        self._offset: int | None = None
        self._in_flight: dict[int, asyncio.Task[None]] = {}

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def run(self, stop: asyncio.Event) -> None:
        """Finish what a previous process left, then poll until `stop`; handlers then finish
        on their own (the caller drains them), stored, so a kill now loses nothing either."""
        left = await self.resume()
        if left:
            log.info("polling: %d update(s) received before a restart handled now", left)
        failures = 0
        loop = asyncio.get_running_loop()
        next_retry = loop.time() + RETRY_SECONDS
        while not stop.is_set():
            try:
                updates = await self._next_batch(stop)
            except Exception as error:
                failures += 1
                delay = min(2.0 ** (failures - 1), MAX_BACKOFF_SECONDS)
                log.warning(
                    "polling: getUpdates failed (%s), retrying in %.0f s",
                    type(error).__name__,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                continue
            if updates is None:  # stopped while waiting
                break
            failures = 0
            if updates:
                await self.store(updates)
                self._offset = updates[-1].update_id + 1
                for update in updates:
                    self._start(update)
            if loop.time() >= next_retry:
                next_retry = loop.time() + RETRY_SECONDS
                await self.resume()

    async def resume(self) -> int:
        """Start handling every stored update not being handled; returns how many."""
        async with self._session_factory() as session:
            rows = (
                await session.execute(
                    select(
                        models.ReceivedUpdate.update_id,
                        models.ReceivedUpdate.payload,
                        models.ReceivedUpdate.received_at,
                    )
                    .where(
                        models.ReceivedUpdate.channel == self._channel,
                        models.ReceivedUpdate.update_id.between(*self._update_ids),
                    )
                    .order_by(models.ReceivedUpdate.update_id)
                )
            ).all()
        started = 0
        oldest = self._clock.now() - GIVE_UP_AFTER
        for update_id, payload, received_at in rows:
            if update_id in self._in_flight:
                continue
            if received_at < oldest:
                log.error("polling: update %s kept failing for a day, dropped", update_id)
                await self._forget(update_id)
                continue
            try:
                update = Update.model_validate(payload, context={"bot": self._bot})
            except ValueError:
                log.error("polling: stored update %s cannot be read, dropped", update_id)
                await self._forget(update_id)
                continue
            self._start(update)
            started += 1
        return started

    async def store(self, updates: Sequence[Update]) -> None:
        """Keep the batch durably (one transaction); an id stored already is left as it is."""
        ids = [update.update_id for update in updates]
        now = self._clock.now()
        async with self._session_factory() as session:
            known = set(
                await session.scalars(
                    select(models.ReceivedUpdate.update_id).where(
                        models.ReceivedUpdate.channel == self._channel,
                        models.ReceivedUpdate.update_id.in_(ids),
                    )
                )
            )
            for update in updates:
                if update.update_id in known:
                    continue
                known.add(update.update_id)
                session.add(
                    models.ReceivedUpdate(
                        channel=self._channel,
                        update_id=update.update_id,
                        payload=update.model_dump(mode="json", exclude_none=True),
                        received_at=now,
                    )
                )
            await session.commit()

    async def wait_handled(self) -> None:
        """Wait for the handlers started so far."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    async def _next_batch(self, stop: asyncio.Event) -> list[Update] | None:
        method = GetUpdates(
            offset=self._offset, timeout=self._poll_timeout, allowed_updates=self._allowed
        )
        timeout = int(self._bot.session.timeout + self._poll_timeout)
        request = asyncio.ensure_future(self._bot(method, request_timeout=timeout))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({request, stopper}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled: the call goes with us
            request.cancel()
            raise
        finally:
            stopper.cancel()
        if not request.done():
            # Stopping: whatever this call would return stays unconfirmed at Telegram.
            request.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await request
            return None
        return list(request.result())

    def _start(self, update: Update) -> None:
        task = asyncio.create_task(self._handle(update), name=f"update:{update.update_id}")
        self._in_flight[update.update_id] = task

    async def _handle(self, update: Update) -> None:
        try:
            result = await self._dp.feed_update(self._bot, update)
            if isinstance(result, TelegramMethod):  # a handler's answer-by-return
                await self._bot(result)
        except Exception as error:
            # Kept: tried again in a minute or at the next start (dedup stops a repeat).
            log.error("polling: update %s failed: %s", update.update_id, type(error).__name__)
            return
        finally:
            self._in_flight.pop(update.update_id, None)
        try:
            await self._forget(update.update_id)
        except Exception as error:  # handled and recorded; the row is retried, then skipped
            log.warning(
                "polling: update %s stays stored (%s)", update.update_id, type(error).__name__
            )

    async def _forget(self, update_id: int) -> None:
        async with self._session_factory() as session:
            await session.execute(
                delete(models.ReceivedUpdate).where(
                    models.ReceivedUpdate.channel == self._channel,
                    models.ReceivedUpdate.update_id == update_id,
                )
            )
            await session.commit()
