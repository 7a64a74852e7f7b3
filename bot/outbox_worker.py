"""The outbox worker: sends queued notifications within each messenger's limits, loses none.

It holds one bot per messenger (`bot.channels.channel_of`) and sends each row through the bot
of the row's channel; rates, pauses and outages are counted per channel, so MAX failing does
not hold up Telegram (or the reverse).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import logging
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
)
from aiogram.types import InlineKeyboardMarkup
from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bot.channels import Bots, by_channel
from bot.middlewares.telegram_api import no_retry
from bot.outbox_limits import DEFAULT_CHANNEL_RATES, ChannelPacing, ChatKey
from bot.outbox_wake import OutboxWake
from bot.relay_sender import send_media_across
from core import outbox
from core.clock import Clock
from core.outbox import COPY, NOTIFY, PERSONAL_PARAMS
from db import models
from db.enums import Channel, OutboxStatus, ReferralStatus

log = logging.getLogger(__name__)

Renderer = Callable[[str, str, dict[str, Any]], tuple[str, InlineKeyboardMarkup | None]]
"""(kind, lang, params) -> (HTML text or caption, keyboard); raises for an unknown kind."""

UnreachableHook = Callable[[AsyncSession, models.OutboxMessage], Awaitable[None]]
"""Called in the row's transaction when its chat blocked the bot (Telegram answered 403)."""

MAX_BACKOFF_SECONDS = 600
# A message that keeps failing (timeouts, 5xx, network) is retried this long after its first
# failure before it is given up; a given-up row is counted (/stats, digest, metrics) and the
# administrators are told. Throttled Telegram can fail for days; OUTBOX_GIVE_UP_HOURS sets it.
DEFAULT_GIVE_UP_AFTER = dt.timedelta(hours=72)
ALERT_KIND = "manager.outbox_given_up"
# A relayed message still queued when its referral is cancelled is never delivered: the family
# (or /forget) ended the conversation. One queued before a resolve still goes.
RELAY_KINDS = ("relay.text", "relay.caption")
MAX_ERROR_LENGTH = 300
# Relayed content (what a family or a volunteer wrote) must not stay in the database.
RELAY_PARAMS = PERSONAL_PARAMS

# SQLite ignores FOR UPDATE, so two workers of one process on the same SQLite file would both
# claim a row; they share this lock per engine instead (SQLite means a single process anyway).
_SQLITE_CLAIM_LOCKS: weakref.WeakKeyDictionary[Engine, asyncio.Lock] = weakref.WeakKeyDictionary()


class _Outcome(enum.Enum):
    SENT = "sent"
    FAILED = "failed"  # final: the chat's next message may go
    RETRY = "retry"  # still pending: the chat's next messages wait behind it
    SKIPPED = "skipped"  # not ours (claimed elsewhere, already done or behind an older one)


class _HookFailed(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class OutboxWorker:
    """Sends due outbox rows: ≤ the channel's rate overall, one per `per_chat_interval` a chat.

    Delivery is at-least-once. A row is claimed, sent and marked `sent` in one short
    transaction (PostgreSQL: the row lock of FOR UPDATE SKIP LOCKED keeps other replicas off
    it). A crash after Telegram accepted the message but before the commit rolls the row back
    to pending, so that one message is sent again after the restart; the other order (commit
    first, then send) could lose it, and a duplicate notification is the lesser harm.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        bot: Bots,
        clock: Clock,
        render: Renderer,
        *,
        on_unreachable: UnreachableHook | None = None,
        global_per_second: float = DEFAULT_CHANNEL_RATES[Channel.TELEGRAM],
        channel_rates: Mapping[str, float] | None = None,
        per_chat_interval: float = 1.0,
        batch: int = 200,
        max_attempts: int | None = None,
        give_up_after: dt.timedelta = DEFAULT_GIVE_UP_AFTER,
        alert_chat_ids: Sequence[int] = (),
        wake: OutboxWake | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        rates = {**DEFAULT_CHANNEL_RATES, **(channel_rates or {})}
        rates[Channel.TELEGRAM] = global_per_second
        if (
            min(rates.values()) <= 0
            or per_chat_interval < 0
            or batch < 1
            or (max_attempts is not None and max_attempts < 1)
            or give_up_after <= dt.timedelta(0)
        ):
            raise ValueError("OutboxWorker limits must be positive")
        self._session_factory = session_factory
        # Rows of a channel without a bot here wait (pending) until one runs that has it.
        self._bots: dict[str, Bot] = {str(c): b for c, b in by_channel(bot).items()}
        self._clock = clock
        self._render = render
        self._on_unreachable = on_unreachable
        self._pacing = ChannelPacing(rates, per_chat_interval, monotonic)
        self._batch = batch
        self._max_attempts = max_attempts
        self._give_up_after = give_up_after
        self._alert_chat_ids = tuple(alert_chat_ids)
        self._given_up = 0  # rows given up (not counting alerts) since the last alert
        self._monotonic = monotonic
        self._sleep = sleep
        # The app's bell, rung by its session factory after a commit that queued rows.
        self._wakeup = wake or OutboxWake()
        self._stop: asyncio.Event | None = None
        self._drain_lock = asyncio.Lock()

    # -- public API ---------------------------------------------------------------------------

    def wake(self) -> None:
        """Ask for a drain now (the app's session factory does after a commit that queued)."""
        self._wakeup.ring()

    async def drain(self) -> int:
        """Try every due pending message once, within the limits; return how many were sent."""
        async with self._drain_lock:
            sent = 0
            after_id = 0
            while not self._stopping():
                candidates = await self._due(after_id)
                if not candidates:
                    break
                after_id = candidates[-1][0]
                # Rows queued meanwhile (a hook's note, a new referral) get their turn too:
                # the drain ends when a pass finds nothing newer.
                sent += await self._send_pass(candidates)
            if sent:
                log.info("outbox: %d message(s) sent", sent)
            if self._given_up:
                await self._alert_given_up()
            return sent

    async def run(self, stop: asyncio.Event, poll_seconds: float = 1.0) -> None:
        """Drain until `stop` is set; the message in flight is finished, nothing new starts."""
        self._stop = stop
        failures = 0
        try:
            while not stop.is_set():
                self._wakeup.clear()
                try:
                    await self.drain()
                except Exception as error:  # a DB hiccup must not stop the notifications
                    failures += 1
                    log.warning("outbox: drain failed (%s), retrying", type(error).__name__)
                    await self._idle(stop, min(poll_seconds * 2**failures, 30.0))
                    continue
                failures = 0
                await self._idle(stop, poll_seconds)
        finally:
            self._stop = None

    # -- choosing what to send ----------------------------------------------------------------

    def _not_behind_older(self, *, blockers_due_too: bool) -> ColumnElement[bool]:
        """No older pending row for the same chat: a chat's messages go strictly in order.

        A row scheduled for later and never tried (a consultation reminder for tomorrow) is
        not "older" in that sense: it must not hold back today's messages. A row that was
        tried and waits for a retry does hold them back.
        """
        older = aliased(models.OutboxMessage)
        now = self._clock.now()
        conditions = [
            older.chat_id == models.OutboxMessage.chat_id,
            older.channel == models.OutboxMessage.channel,
            older.status == OutboxStatus.PENDING,
            older.id < models.OutboxMessage.id,
        ]
        if blockers_due_too:
            conditions.append((older.attempts > 0) | (older.not_before <= now))
        else:
            conditions.append(older.attempts > 0)
            conditions.append(older.not_before > now)
        return ~exists().where(*conditions)

    async def _due(self, after_id: int) -> Sequence[tuple[int, ChatKey]]:
        """(id, (channel, chat_id)) of due rows, oldest first; a hint only, each is re-checked."""
        now = self._clock.now()
        # An older row that is due comes earlier in this list (or came in an earlier pass), so
        # only an older row that waits (retry, flood control) rules a row out here; the claim
        # re-checks strictly against every older pending row.
        query = (
            select(
                models.OutboxMessage.id,
                models.OutboxMessage.channel,
                models.OutboxMessage.chat_id,
            )
            .where(
                models.OutboxMessage.status == OutboxStatus.PENDING,
                models.OutboxMessage.channel.in_(list(self._bots)),
                models.OutboxMessage.not_before <= now,
                models.OutboxMessage.id > after_id,
                self._not_behind_older(blockers_due_too=False),
            )
            .order_by(models.OutboxMessage.id)
            .limit(self._batch)
        )
        async with self._session_factory() as session:
            rows = await session.execute(query)
            return [(row_id, (channel, chat_id)) for row_id, channel, chat_id in rows]

    async def _send_pass(self, candidates: Sequence[tuple[int, ChatKey]]) -> int:
        queues: dict[ChatKey, deque[int]] = {}
        for row_id, chat_id in candidates:
            queues.setdefault(chat_id, deque()).append(row_id)
        self._pacing.forget_idle_chats()
        sent = 0
        while queues and not self._stopping():
            # The chat that may receive soonest goes next, so one busy chat (1 msg/s) does not
            # hold up everybody else; ties go to the oldest message.
            chat_id = min(
                queues, key=lambda chat: (self._pacing.chat_ready_at(chat), queues[chat][0])
            )
            if not await self._wait_turn(chat_id):
                break
            outcome = await self._process(queues[chat_id].popleft())
            if outcome is _Outcome.SENT:
                sent += 1
            if outcome in (_Outcome.RETRY, _Outcome.SKIPPED) or not queues[chat_id]:
                del queues[chat_id]
        return sent

    # -- limits -------------------------------------------------------------------------------

    async def _wait_turn(self, chat: ChatKey) -> bool:
        """Sleep until the channel's rate, the chat's rate and any pause allow a request."""
        while True:
            now = self._monotonic()
            ready = self._pacing.ready_at(chat)
            if ready <= now:
                return True
            if self._stopping():
                return False
            await self._pause(ready - now)

    # -- one message --------------------------------------------------------------------------

    async def _claim(self, session: AsyncSession, row_id: int) -> models.OutboxMessage | None:
        """Lock the row if it is still due, not behind an older one and not claimed elsewhere."""
        return await session.scalar(
            select(models.OutboxMessage)
            .where(
                models.OutboxMessage.id == row_id,
                models.OutboxMessage.status == OutboxStatus.PENDING,
                models.OutboxMessage.not_before <= self._clock.now(),
                self._not_behind_older(blockers_due_too=True),
            )
            .with_for_update(skip_locked=True, of=models.OutboxMessage)
        )

    async def _process(self, row_id: int) -> _Outcome:
        async with self._session_factory() as session, self._claim_guard(session):
            try:
                async with session.begin():
                    return await self._attempt(session, row_id)
            except _HookFailed as failure:
                # The hook's work is rolled back; record the 403 anyway (without sending
                # again), or the row would hit Telegram with the same 403 forever.
                async with session.begin():
                    row = await self._claim(session, row_id)
                    if row is None:
                        return _Outcome.SKIPPED
                    row.attempts += 1
                    self._fail(row, failure.error)
                    await self._mark_unreachable(session, row.channel, row.chat_id)
                    return _Outcome.FAILED

    def _claim_guard(self, session: AsyncSession) -> contextlib.AbstractAsyncContextManager[Any]:
        bind = session.get_bind()
        if bind.dialect.name != "sqlite":
            return contextlib.nullcontext()
        return _SQLITE_CLAIM_LOCKS.setdefault(bind.engine, asyncio.Lock())

    async def _attempt(self, session: AsyncSession, row_id: int) -> _Outcome:
        row = await self._claim(session, row_id)
        if row is None:
            return _Outcome.SKIPPED
        if await self._relay_of_cancelled_referral(session, row):
            # Queued before a cancel (or raced with it): the conversation is over.
            self._fail(row, "referral cancelled before delivery")
            return _Outcome.FAILED
        try:
            request = self._prepare(row)
        except Exception as error:  # unknown kind, broken payload: retrying cannot help
            log.error("outbox %s: cannot render (%s)", row.id, type(error).__name__)
            self._fail(row, f"cannot render: {type(error).__name__}")
            return _Outcome.FAILED
        self._pacing.note_request((row.channel, row.chat_id))
        try:
            with no_retry():  # flood control is handled below, for every chat at once
                await request()
        except TelegramRetryAfter as error:
            # Flood control is per bot: everything on its channel waits, this row first.
            row.attempts += 1
            row.last_error = _describe(error)
            row.not_before = self._clock.now() + dt.timedelta(seconds=error.retry_after)
            self._pacing.pause(row.channel, error.retry_after)
            log.warning("outbox %s: flood control, pausing %s s", row.id, error.retry_after)
            return _Outcome.RETRY
        except TelegramMigrateToChat as error:
            # A group became a supergroup: same people, new id; send there.
            row.attempts += 1
            row.chat_id = error.migrate_to_chat_id
            row.last_error = _describe(error)
            log.warning("outbox %s: chat migrated", row.id)
            return _Outcome.RETRY
        except TelegramForbiddenError as error:
            row.attempts += 1
            self._fail(row, _describe(error))
            log.warning("outbox %s: %s", row.id, type(error).__name__)
            if (
                await self._mark_unreachable(session, row.channel, row.chat_id)
                and self._on_unreachable
            ):
                try:
                    await self._on_unreachable(session, row)
                except Exception as hook_error:
                    log.error(
                        "outbox %s: on_unreachable failed (%s)", row.id, type(hook_error).__name__
                    )
                    raise _HookFailed(_describe(error)) from hook_error
            return _Outcome.FAILED
        except TelegramBadRequest as error:
            row.attempts += 1
            self._fail(row, _describe(error))
            log.warning("outbox %s: %s", row.id, type(error).__name__)
            return _Outcome.FAILED
        except Exception as error:
            # 5xx, network, timeouts and anything unexpected: back off and try again later.
            self._retry_later(row, error)
            return _Outcome.RETRY
        self._pacing.succeeded(row.channel)
        row.attempts += 1
        row.failing_since = None
        row.status = OutboxStatus.SENT
        row.sent_at = self._clock.now()
        _scrub(row)
        return _Outcome.SENT

    def _prepare(self, row: models.OutboxMessage) -> Callable[[], Awaitable[Any]]:
        payload = row.payload
        params = dict(payload.get("params") or {})
        text, keyboard = self._render(str(payload["kind"]), str(payload["lang"]), params)
        chat_id = row.chat_id
        bot = self._bots[row.channel]
        if row.method == NOTIFY:
            return lambda: bot.send_message(chat_id, text, reply_markup=keyboard)
        media = payload.get("media")
        if row.method == COPY and isinstance(media, dict) and media.get("channel") != row.channel:
            # From another messenger: no copyMessage across them; download, then upload.
            source = self._bots[str(media["channel"])]
            return lambda: send_media_across(source, bot, chat_id, media, text, keyboard)
        if row.method == COPY:
            from_chat_id = int(payload["from_chat_id"])
            message_id = int(payload["message_id"])
            return lambda: bot.copy_message(
                chat_id, from_chat_id, message_id, caption=text, reply_markup=keyboard
            )
        raise ValueError("unknown outbox method")

    def _retry_later(self, row: models.OutboxMessage, error: Exception) -> None:
        row.attempts += 1
        row.last_error = _describe(error)
        now = self._clock.now()
        if row.failing_since is None:
            row.failing_since = now
        self._pacing.failed(row.channel)
        out_of_attempts = self._max_attempts is not None and row.attempts >= self._max_attempts
        if out_of_attempts or now - row.failing_since >= self._give_up_after:
            self._fail(row, row.last_error)
            row.status = OutboxStatus.GIVEN_UP
            row.not_before = now  # when it was given up: what /stats and the digest count
            if row.payload.get("kind") != ALERT_KIND:
                self._given_up += 1
            log.error(
                "outbox %s: %s, given up after %d attempts",
                row.id,
                type(error).__name__,
                row.attempts,
            )
            return
        delay = min(2**row.attempts, MAX_BACKOFF_SECONDS)
        row.not_before = self._clock.now() + dt.timedelta(seconds=delay)
        log.warning("outbox %s: %s, retry in %d s", row.id, type(error).__name__, delay)

    def _fail(self, row: models.OutboxMessage, error: str) -> None:
        row.status = OutboxStatus.FAILED
        row.last_error = error[:MAX_ERROR_LENGTH]
        # A message that will never go has no reason to keep what someone wrote either.
        _scrub(row)

    async def _relay_of_cancelled_referral(
        self, session: AsyncSession, row: models.OutboxMessage
    ) -> bool:
        if row.referral_id is None or row.payload.get("kind") not in RELAY_KINDS:
            return False
        status = await session.scalar(
            select(models.Referral.status).where(models.Referral.id == row.referral_id)
        )
        return status in (None, ReferralStatus.CANCELLED)

    async def _alert_given_up(self) -> None:
        """Tell the administrators (through the outbox itself) how many rows were given up.

        ADMIN_IDS are Telegram ids, so the alert goes through Telegram.
        """
        count, self._given_up = self._given_up, 0
        if not self._alert_chat_ids:
            return
        async with self._session_factory() as session:
            languages = dict(
                (
                    await session.execute(
                        select(models.User.messenger_id, models.User.language).where(
                            models.User.channel == Channel.TELEGRAM,
                            models.User.messenger_id.in_(self._alert_chat_ids),
                        )
                    )
                ).all()
            )
            for chat_id in self._alert_chat_ids:
                outbox.notify(
                    session,
                    self._clock,
                    chat_id=chat_id,
                    channel=Channel.TELEGRAM,
                    lang=languages.get(chat_id) or "ru",
                    kind=ALERT_KIND,
                    params={
                        "count": count,
                        "hours": round(self._give_up_after.total_seconds() / 3600),
                    },
                )
            await session.commit()
        self.wake()

    async def _mark_unreachable(self, session: AsyncSession, channel: str, chat_id: int) -> bool:
        """Flag the person; True unless they were already known to have blocked the bot."""
        user = await session.scalar(
            select(models.User).where(
                models.User.channel == channel, models.User.messenger_id == chat_id
            )
        )
        if user is None:
            return True
        if user.unreachable:
            return False
        user.unreachable = True
        return True

    # -- waiting ------------------------------------------------------------------------------

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    async def _pause(self, seconds: float) -> None:
        """The injected sleep, cut short by `stop` when running."""
        stop = self._stop
        if stop is None:
            await self._sleep(seconds)
            return
        await _first_of(self._sleep(seconds), stop.wait())

    async def _idle(self, stop: asyncio.Event, seconds: float) -> None:
        """Wait (real time) for wake(), stop or the next poll."""
        await _first_of(asyncio.sleep(seconds), self._wakeup.wait(), stop.wait())


async def _first_of(*awaitables: Awaitable[Any]) -> None:
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _describe(error: Exception) -> str:
    """The class and, for Telegram, its description; never the message that was sent."""
    if isinstance(error, TelegramAPIError):
        return f"{type(error).__name__}: {error.message}"[:MAX_ERROR_LENGTH]
    return type(error).__name__


def _scrub(row: models.OutboxMessage) -> None:
    params = row.payload.get("params")
    personal = isinstance(params, dict) and any(key in params for key in RELAY_PARAMS)
    if not personal and "from_chat_id" not in row.payload and "media" not in row.payload:
        return
    # Where a copy came from and the file it named go too: they lead back to the sender.
    payload = {
        key: value for key, value in row.payload.items() if key not in ("from_chat_id", "media")
    }
    if isinstance(params, dict):
        payload["params"] = {
            key: "" if key in RELAY_PARAMS else value for key, value in params.items()
        }
    # A new dict: the JSON column only notices assignment, not in-place changes.
    row.payload = payload
