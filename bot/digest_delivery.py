"""Monday delivery of the weekly digest to each region's managers, exactly once per manager.

Exactly once rests on two unique keys, not on timing or a leader: `digests (region, week)`
makes the digest itself insert-or-get, and `digest_deliveries (digest, user)` is claimed in its
own committed transaction before anything is sent. Two replicas, a restart in the middle or the
hourly catch-up after a missed Monday all race for the same row, and only the winner sends.
The row is marked delivered only after Telegram took the digest: a process killed between the
claim and that mark leaves a claim that the next run takes over once CLAIM_LEASE has passed,
so a crash costs at worst a repeated digest, never a lost week.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from core.digest import (
    RenderedDigest,
    Week,
    build_digest,
    current_week,
    need_by_municipality,
    parse_week,
    referral_rows,
    render_digest,
)
from core.texts import Translator
from db import models
from db.enums import Channel, Role

if TYPE_CHECKING:
    from aiogram import Bot

    from bot.app import App
    from bot.channels import Bots

log = logging.getLogger(__name__)

# The `digests` job (bot/jobs.py) runs `deliver_due_digests` on Mondays at this hour in each
# region's timezone, hourly after that, and once at start.
DELIVERY_HOUR = 9
# Longer than any real send of one digest (three requests); shorter than the hourly run.
CLAIM_LEASE = dt.timedelta(minutes=30)


@dataclass(frozen=True)
class Recipient:
    user_id: int
    messenger_id: int
    language: str
    channel: str = Channel.TELEGRAM


def due_week(now: dt.datetime, tz: ZoneInfo) -> Week | None:
    """The week to deliver: the previous ISO week, from Monday 09:00 local to the week's end.

    Any time later in the week is a catch-up after a missed Monday; before Monday 09:00
    nothing is due (last week's digest went out a week ago).
    """
    local = now.astimezone(tz)
    week = current_week(now, tz)
    nine = dt.datetime.combine(week.monday, dt.time(DELIVERY_HOUR), tzinfo=tz)
    if local < nine:
        return None
    return week.shift(-1)


async def get_or_build_digest(
    app: App, region_code: str, week: Week, now: dt.datetime
) -> models.Digest:
    """The stored digest of a region and week, built and inserted by whoever comes first."""
    async with app.session_factory() as session:
        found = await _stored(session, region_code, week)
        if found is not None:
            return found
        payload = await build_digest(
            session,
            region_code=region_code,
            week=week,
            view=app.catalogue.view,
            now=now,
            sla_accept_hours=app.settings.sla_accept_hours,
        )
        row = models.Digest(
            region_code=region_code, week=week.label, built_at=now, payload=payload
        )
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:
            # Another replica stored it first; theirs is the one everybody gets.
            await session.rollback()
            found = await _stored(session, region_code, week)
            if found is None:  # pragma: no cover (the conflicting row cannot vanish)
                raise
            return found
        return row


async def _stored(session: Any, region_code: str, week: Week) -> models.Digest | None:
    found: models.Digest | None = await session.scalar(
        select(models.Digest).where(
            models.Digest.region_code == region_code, models.Digest.week == week.label
        )
    )
    return found


async def _pending_recipients(
    app: App, digest: models.Digest, now: dt.datetime
) -> list[Recipient]:
    """Active managers of the digest's region with no delivery row for it yet, or only a
    claim whose lease ran out (the process delivering it died)."""
    D = models.DigestDelivery
    delivered = select(D.user_id).where(
        D.digest_id == digest.id,
        D.delivered_at.is_not(None) | (D.claimed_at > now - CLAIM_LEASE),
    )
    async with app.session_factory() as session:
        rows = await session.execute(
            select(
                models.User.id, models.User.messenger_id, models.User.language, models.User.channel
            )
            .join(models.Membership, models.Membership.user_id == models.User.id)
            .where(
                models.Membership.role == Role.MANAGER,
                models.Membership.region_code == digest.region_code,
                models.Membership.active,
                models.User.unreachable.is_(False),
                models.User.id.not_in(delivered),
            )
            .distinct()
            .order_by(models.User.id)
        )
        return [Recipient(uid, tg, lang, channel) for uid, tg, lang, channel in rows]


async def _claim(app: App, digest_id: int, user_id: int, now: dt.datetime) -> bool:
    """Insert the delivery row in its own transaction, or take over a claim whose lease ran
    out; False if someone else holds it or it was delivered."""
    D = models.DigestDelivery
    async with app.session_factory() as session:
        session.add(D(digest_id=digest_id, user_id=user_id, claimed_at=now))
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
        else:
            return True
        taken = await session.execute(
            update(D)
            .where(
                D.digest_id == digest_id,
                D.user_id == user_id,
                D.delivered_at.is_(None),
                D.claimed_at.is_(None) | (D.claimed_at <= now - CLAIM_LEASE),
            )
            .values(claimed_at=now)
        )
        await session.commit()
        return bool(taken.rowcount)  # type: ignore[attr-defined]


async def _mark_delivered(app: App, digest_id: int, user_id: int, now: dt.datetime) -> None:
    D = models.DigestDelivery
    async with app.session_factory() as session:
        await session.execute(
            update(D)
            .where(D.digest_id == digest_id, D.user_id == user_id)
            .values(delivered_at=now)
        )
        await session.commit()


async def _release(app: App, digest_id: int, user_id: int) -> None:
    async with app.session_factory() as session:
        await session.execute(
            delete(models.DigestDelivery).where(
                models.DigestDelivery.digest_id == digest_id,
                models.DigestDelivery.user_id == user_id,
            )
        )
        await session.commit()


async def render_for(app: App, digest: models.Digest, language: str) -> RenderedDigest:
    """Message, chart and workbook of a stored digest in one language."""
    view = app.catalogue.view
    week = parse_week(digest.week)
    async with app.session_factory() as session:
        rows = await referral_rows(session, region_code=digest.region_code, week=week, view=view)
        matrix = await need_by_municipality(
            session, region_code=digest.region_code, week=week, view=view
        )
    t = app.texts.get(language)
    # Drawing and zipping the workbook are CPU work: keep the event loop answering updates.
    return await asyncio.to_thread(
        render_digest, digest.payload, t, view, referrals=rows, matrix=matrix
    )


async def send_rendered(
    bot: Bot, chat_id: int, rendered: RenderedDigest, *, week: str, t: Translator
) -> None:
    """Message parts, then the chart, then the workbook, to one chat."""
    from aiogram.enums import ParseMode
    from aiogram.types import BufferedInputFile

    for part in rendered.parts:
        await bot.send_message(chat_id, part, parse_mode=ParseMode.HTML)
    await bot.send_photo(
        chat_id,
        BufferedInputFile(rendered.png, rendered.png_name),
        caption=t("digest.photo_caption", week=week),
    )
    await bot.send_document(
        chat_id,
        BufferedInputFile(rendered.xlsx, rendered.xlsx_name),
        caption=t("digest.document_caption", week=week),
    )


async def deliver_due_digests(app: App, bot: Bots, now: dt.datetime) -> int:
    """Deliver every region's due digest to managers who have not had it; returns how many.

    `bot` may be every running messenger's bot: each manager gets it on their own messenger;
    one whose messenger is not running here is left for a run that has it.
    """
    view = app.catalogue.view
    delivered = 0
    for code in sorted(view.regions):
        week = due_week(now, ZoneInfo(view.regions[code].timezone))
        if week is None:
            continue
        try:
            delivered += await _deliver_region(app, bot, code, week, now)
        except Exception:
            # One region's trouble must not hold back the others; the next run retries it.
            log.exception("digest of %s for %s failed", code, week.label)
    return delivered


async def _deliver_region(app: App, bot: Bots, code: str, week: Week, now: dt.datetime) -> int:
    digest = await get_or_build_digest(app, code, week, now)
    rendered: dict[str, RenderedDigest] = {}
    delivered = 0
    from bot.channels import by_channel  # aiogram, which the digest CLI does not need

    bots = by_channel(bot)
    for recipient in await _pending_recipients(app, digest, now):
        channel_bot = bots.get(Channel(recipient.channel))
        if channel_bot is None:
            continue
        # Render before claiming: a claim is a promise to send right away.
        if recipient.language not in rendered:
            rendered[recipient.language] = await render_for(app, digest, recipient.language)
        if not await _claim(app, digest.id, recipient.user_id, now):
            continue  # another replica or run is delivering this one
        if await _send(app, channel_bot, digest, recipient, rendered[recipient.language]):
            delivered += 1
    return delivered


async def _send(
    app: App, bot: Bot, digest: models.Digest, recipient: Recipient, rendered: RenderedDigest
) -> bool:
    from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError

    t = app.texts.get(recipient.language)
    try:
        await send_rendered(bot, recipient.messenger_id, rendered, week=digest.week, t=t)
    except (TelegramForbiddenError, TelegramBadRequest) as exc:
        # Blocked the bot, or no such chat: retrying every hour would not change that.
        log.warning(
            "digest %s to user %s refused: %s", digest.id, recipient.user_id, type(exc).__name__
        )
        await _mark_delivered(app, digest.id, recipient.user_id, app.clock.now())
        return False
    except Exception as exc:
        # Telegram down or a 429: give the claim back so the next hourly run tries again.
        # A part may have gone out already; a repeated part beats a lost digest.
        log.warning(
            "digest %s to user %s failed: %s", digest.id, recipient.user_id, type(exc).__name__
        )
        await _release(app, digest.id, recipient.user_id)
        return False
    await _mark_delivered(app, digest.id, recipient.user_id, app.clock.now())
    log.info("digest %s delivered to user %s", digest.id, recipient.user_id)
    return True
