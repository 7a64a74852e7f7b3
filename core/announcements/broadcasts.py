"""Broadcasts: one outbox row per recipient tagged with the broadcast's id, so progress and the
final report (sent, blocked, failed) are counted from those rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox
from core.announcements.audience import Audience, recipients
from core.catalogue.active import CatalogueView
from core.clock import Clock
from core.texts import in_language
from db import models
from db.enums import Channel, OutboxStatus
from db.models.manager import Broadcast

BROADCAST = "manager_tools.broadcast"
BROADCAST_MEASURE = "manager_tools.broadcast_measure"
BROADCAST_REPORT = "manager_tools.broadcast_report"


TEXT_LIMIT = 3500


SENDING, DONE = "sending", "done"
FORBIDDEN_PREFIX = "TelegramForbiddenError"


@dataclass(frozen=True)
class MeasureLink:
    measure_id: str
    url: str
    title_ru: str
    title_en: str


async def create_broadcast(
    session: AsyncSession,
    clock: Clock,
    *,
    view: CatalogueView,
    audience: Audience,
    text: str,
    measure: MeasureLink | None,
    created_by_user_id: int | None,
    report_chat_id: int,
) -> Broadcast:
    """Queue one outbox message per reachable family, all in one transaction."""
    broadcast = Broadcast(
        region_code=audience.region,
        created_by_user_id=created_by_user_id,
        created_at=clock.now(),
        text=text,
        measure_id=measure.measure_id if measure else None,
        need_id=audience.need_id,
        municipality_id=audience.municipality_id,
        status=SENDING,
        recipients=0,
        skipped_blocked=0,
        progress_chat_id=report_chat_id,
        sent=0,
        blocked=0,
        failed=0,
    )
    session.add(broadcast)
    await session.flush()
    rows: list[models.OutboxMessage] = []
    skipped = 0
    for person in await recipients(session, view, audience):
        if person.unreachable:
            skipped += 1
            continue
        params: dict[str, Any] = {"broadcast": broadcast.id, "text": text}
        if measure is not None:
            params["link"] = measure.url
            params["title"] = in_language(person.language, measure.title_ru, measure.title_en)
        rows.append(
            outbox.notify(
                session,
                clock,
                chat_id=person.messenger_id,
                channel=person.channel,
                lang=person.language,
                kind=BROADCAST_MEASURE if measure is not None else BROADCAST,
                params=params,
            )
        )
    await session.flush()
    broadcast.recipients = len(rows)
    broadcast.skipped_blocked = skipped
    if rows:
        broadcast.first_outbox_id = min(row.id for row in rows)
        broadcast.last_outbox_id = max(row.id for row in rows)
    await session.commit()
    return broadcast


async def set_progress_message(
    session: AsyncSession, broadcast_id: int, chat_id: int, message_id: int
) -> None:
    await session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id)
        .values(progress_chat_id=chat_id, progress_message_id=message_id)
    )
    await session.commit()


@dataclass(frozen=True)
class BroadcastProgress:
    broadcast_id: int
    region: str
    recipients: int
    sent: int
    blocked: int
    failed: int
    pending: int
    chat_id: int | None
    message_id: int | None
    finished: bool
    # The messenger of `chat_id` (its creator's): only that messenger's bot may edit it.
    channel: str = Channel.TELEGRAM

    @property
    def done(self) -> bool:
        return self.pending == 0


async def broadcast_progress(session: AsyncSession, broadcast: Broadcast) -> BroadcastProgress:
    """Counted from the broadcast's outbox rows (a primary-key range, then its tag)."""
    sent = blocked = failed = pending = 0
    if broadcast.first_outbox_id is not None and broadcast.last_outbox_id is not None:
        Out = models.OutboxMessage
        tag = Out.payload[("params", "broadcast")].as_integer()
        forbidden = Out.last_error.like(f"{FORBIDDEN_PREFIX}%")
        row = (
            await session.execute(
                select(
                    func.count().filter(Out.status == OutboxStatus.SENT),
                    func.count().filter(Out.status == OutboxStatus.FAILED, forbidden),
                    func.count().filter(
                        Out.status.in_([OutboxStatus.FAILED, OutboxStatus.GIVEN_UP]), ~forbidden
                    ),
                    func.count().filter(Out.status == OutboxStatus.PENDING),
                ).where(
                    Out.id.between(broadcast.first_outbox_id, broadcast.last_outbox_id),
                    tag == broadcast.id,
                )
            )
        ).one()
        sent, blocked, failed, pending = (int(value) for value in row)
    return BroadcastProgress(
        broadcast_id=broadcast.id,
        region=broadcast.region_code,
        recipients=broadcast.recipients,
        sent=sent,
        blocked=blocked + broadcast.skipped_blocked,
        failed=failed,
        pending=pending,
        chat_id=broadcast.progress_chat_id,
        message_id=broadcast.progress_message_id,
        finished=broadcast.status == DONE,
        channel=await _creator_channel(session, broadcast.id),
    )


async def sending_broadcasts(session: AsyncSession) -> list[Broadcast]:
    return list(
        await session.scalars(
            select(Broadcast).where(Broadcast.status == SENDING).order_by(Broadcast.id)
        )
    )


async def _creator_channel(session: AsyncSession, broadcast_id: int) -> str:
    """The report goes to the chat the broadcast was started from: its creator's messenger."""
    channel = await session.scalar(
        select(models.User.channel)
        .join(Broadcast, Broadcast.created_by_user_id == models.User.id)
        .where(Broadcast.id == broadcast_id)
    )
    return channel or Channel.TELEGRAM


async def finish_broadcast(
    session: AsyncSession, clock: Clock, progress: BroadcastProgress, *, lang: str
) -> bool:
    """Store the final counts and queue the report, once (a compare-and-set on the status)."""
    claimed = await session.execute(
        update(Broadcast)
        .where(Broadcast.id == progress.broadcast_id, Broadcast.status == SENDING)
        .values(
            status=DONE,
            sent=progress.sent,
            blocked=progress.blocked,
            failed=progress.failed,
            finished_at=clock.now(),
        )
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        return False
    if progress.chat_id is not None:
        outbox.notify(
            session,
            clock,
            chat_id=progress.chat_id,
            channel=await _creator_channel(session, progress.broadcast_id),
            lang=lang,
            kind=BROADCAST_REPORT,
            params={
                "id": progress.broadcast_id,
                "recipients": progress.recipients,
                "sent": progress.sent,
                "blocked": progress.blocked,
                "failed": progress.failed,
            },
        )
    await session.commit()
    return True
