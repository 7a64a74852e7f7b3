"""What a booking tells people: reminders before the start, a move, the organisation's offer.

Reminders the day before and an hour before are ordinary notifications with `not_before`:
they survive restarts without a scheduler job and are dropped when the booking is cancelled or
moved (core/referrals/slot_release.py). Their times and names are rendered at queue time in
the recipient's language and the region's time; the renderer only fills in the template.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from core.catalogue import schema
from core.consultations.times import format_slot, region_timezone
from core.referrals.context import Context
from core.referrals.slot_release import REMINDERS
from core.texts import Texts
from db import models

MOVED_KIND = "consult.staff_moved"


def _params(
    texts: Texts,
    lang: str,
    number: int,
    starts_at: dt.datetime,
    tz: ZoneInfo,
    org: schema.Organization,
    consultation: schema.Consultation,
) -> dict[str, Any]:
    """Rendered now in the recipient's language: the renderer only fills in the template."""
    t = texts.get(lang)
    ru = t.lang == "ru"
    return {
        "number": number,
        "time": format_slot(t, starts_at, tz),
        "title": consultation.title if ru else consultation.title_en,
        "organization": org.name if ru else org.name_en,
        "format": t(f"format.{consultation.format.value}"),
    }


def queue_reminders(
    session: AsyncSession,
    ctx: Context,
    texts: Texts,
    *,
    referral_id: int,
    starts_at: dt.datetime,
    org: schema.Organization,
    consultation: schema.Consultation,
    family: models.User,
    staff: Sequence[models.User],
) -> None:
    """The day-before and hour-before reminders still ahead, for the family and the staff."""
    now = ctx.clock.now()
    tz = region_timezone(ctx.view, org.region)
    recipients = [(family, "family"), *((user, "staff") for user in staff)]
    for before, when in REMINDERS:
        due = starts_at - before
        if due <= now:
            continue
        for user, side in recipients:
            ctx.notifier.notify(
                session,
                user,
                f"consult.{side}_{when}",
                _params(texts, user.language, referral_id, starts_at, tz, org, consultation),
                referral_id=referral_id,
                not_before=due,
            )


def notify_moved(
    session: AsyncSession,
    ctx: Context,
    texts: Texts,
    *,
    referral_id: int,
    starts_at: dt.datetime,
    org: schema.Organization,
    consultation: schema.Consultation,
    staff: Sequence[models.User],
) -> None:
    """Tell the organisation's reachable staff the booking's new time."""
    tz = region_timezone(ctx.view, org.region)
    for user in staff:
        if user.unreachable:
            continue
        ctx.notifier.notify(
            session,
            user,
            MOVED_KIND,
            _params(texts, user.language, referral_id, starts_at, tz, org, consultation),
            referral_id=referral_id,
        )


def offer_description(
    texts: Texts,
    starts_at: dt.datetime,
    tz: ZoneInfo,
    consultation: schema.Consultation,
    extra: str | None = None,
) -> str:
    """What the organisation reads in the offer; the first line names the consultation."""
    t = texts.get("ru")
    line = t(
        "consult.description",
        title=consultation.title,
        time=format_slot(t, starts_at, tz),
        format=t(f"format.{consultation.format.value}"),
    )
    return f"{line}\n{extra}" if extra else line
