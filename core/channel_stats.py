"""Counts by messenger (Telegram, MAX): who reaches the cluster where, for the digest and metrics.

A family counts under the messenger of its `users` row; a request under its family's. Requests
of families who used /forget have no family any more and are counted in no channel.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.texts import Translator
from db import models
from db.enums import OPEN_STATUSES, Channel

ChannelCounts = dict[str, dict[str, int]]


def _empty(*keys: str) -> ChannelCounts:
    return {channel.value: dict.fromkeys(keys, 0) for channel in Channel}


async def week_by_channel(
    session: AsyncSession, *, region_code: str, start: dt.datetime, end: dt.datetime
) -> ChannelCounts:
    """New families and new requests of a region in [start, end), by messenger."""
    U, R = models.User, models.Referral
    counts = _empty("new_families", "requests")
    families = await session.execute(
        select(U.channel, func.count())
        .where(
            U.region_code == region_code,
            U.created_at >= start,
            U.created_at < end,
            U.consent_version.is_not(None),
        )
        .group_by(U.channel)
    )
    for channel, count in families:
        counts.setdefault(channel, {"new_families": 0, "requests": 0})["new_families"] = count
    requests = await session.execute(
        select(U.channel, func.count())
        .select_from(R)
        .join(U, U.id == R.family_user_id)
        .where(R.region_code == region_code, R.created_at >= start, R.created_at < end)
        .group_by(U.channel)
    )
    for channel, count in requests:
        counts.setdefault(channel, {"new_families": 0, "requests": 0})["requests"] = count
    return counts


async def totals_by_channel(session: AsyncSession) -> ChannelCounts:
    """Families who consented and their open requests, by messenger, now (for /metrics)."""
    U, R = models.User, models.Referral
    counts = _empty("families", "open_requests")
    families = await session.execute(
        select(U.channel, func.count()).where(U.consent_version.is_not(None)).group_by(U.channel)
    )
    for channel, count in families:
        counts.setdefault(channel, {"families": 0, "open_requests": 0})["families"] = count
    requests = await session.execute(
        select(U.channel, func.count())
        .select_from(R)
        .join(U, U.id == R.family_user_id)
        .where(R.status.in_(list(OPEN_STATUSES)))
        .group_by(U.channel)
    )
    for channel, count in requests:
        counts.setdefault(channel, {"families": 0, "open_requests": 0})["open_requests"] = count
    return counts


# How the digest names each messenger (brand names: the same in every language).
CHANNEL_NAMES = {Channel.TELEGRAM.value: "Telegram", Channel.MAX.value: "MAX"}


def digest_lines(demand: dict[str, Any], t: Translator) -> list[str]:
    """The digest's "by messenger" lines; none while everyone is on Telegram (or for digests
    stored before issue 16), so a Telegram-only cluster reads as before."""
    by_channel: ChannelCounts = demand.get("by_channel") or {}
    others = [
        counts
        for channel, counts in by_channel.items()
        if channel != Channel.TELEGRAM and any(counts.values())
    ]
    if not others:
        return []
    return [t("channels.digest.title")] + [
        t(
            "channels.digest.line",
            channel=CHANNEL_NAMES.get(channel, channel),
            families=t.number(counts.get("new_families", 0)),
            requests=t.number(counts.get("requests", 0)),
        )
        for channel, counts in by_channel.items()
    ]
