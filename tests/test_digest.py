"""The weekly digest: a scripted week whose true numbers are known, replayed through the
service, the renderers, the chat, the scheduled delivery and the CLI."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiogram.exceptions import TelegramForbiddenError, TelegramNetworkError
from aiogram.methods import SendMessage
from openpyxl import load_workbook
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

import handlers
from bot.app import App, build_app
from bot.digest_cli import add_digest_arguments, cmd_digest
from bot.digest_delivery import deliver_due_digests, due_week
from bot.factory import create_bot, create_dispatcher
from bot.jobs import DIGEST_CATCH_UP_JOB_ID as CATCH_UP_JOB_ID
from bot.jobs import DIGEST_JOB_ID as JOB_ID
from bot.jobs import JobContext, job_named, schedule_all
from bot.local_chat import LocalChat
from bot.local_session import LocalSession
from bot.scheduler import RecordingJobs
from core import people
from core.clock import FrozenClock
from core.digest import (
    Week,
    WeekError,
    build_cluster_overview,
    build_digest,
    last_completed_week,
    mask,
    parse_week,
    referral_rows,
    render_chart,
    render_text,
    render_xlsx,
    resolve_week,
    split_message,
)
from db import models
from db.enums import Role

MSK = ZoneInfo("Europe/Moscow")
A, B, C, D = "tam-opora-demo", "tam-bolshaya-semya-demo", "tam-raduga-demo", "tam-kolybel-demo"
MOS_ORG = "mos-vmeste-demo"
M1, M2 = "tam-newborn-5000", "tam-birth-third-child-300k"
SECRET_TEXT = "секретное описание семьи"
SECRET_PHONE = "+79001234567"
TO_STATUS = {
    "created": "new",
    "offered": "offered",
    "declined": "offered",
    "expired": "offered",
    "accepted": "accepted",
    "contacted": "in_progress",
    "resolved": "resolved",
    "not_helped": "not_helped",
    "confirmed": "closed",
    "unrouted": "unrouted",
    "sla_breach": "offered",
}


def local(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    """A moment of November 2026 on a Tambov wall clock, in UTC."""
    return dt.datetime(2026, 11, day, hour, minute, second, tzinfo=MSK).astimezone(dt.UTC)


@dataclass
class Script:
    session: AsyncSession
    users: dict[str, int] = field(default_factory=dict)
    refs: dict[str, int] = field(default_factory=dict)

    async def user(
        self, name: str, tg: int, region: str, created: dt.datetime, consent: bool = True
    ) -> None:
        row = models.User(
            messenger_id=tg,
            language="ru",
            region_code=region,
            consent_version="1" if consent else None,
            created_at=created,
            last_seen_at=created,
        )
        self.session.add(row)
        await self.session.flush()
        self.users[name] = row.id

    async def referral(
        self,
        name: str,
        created: dt.datetime,
        need: str,
        mun: str | None,
        status: str,
        events: list[tuple[str, dt.datetime, str | None, str | None]],
        *,
        family: str | None = None,
        region: str = "RU-TAM",
        org: str | None = None,
        offered_at: dt.datetime | None = None,
        sla_due_at: dt.datetime | None = None,
    ) -> None:
        row = models.Referral(
            kind="request",
            region_code=region,
            municipality_id=mun,
            need_id=need,
            family_user_id=self.users[family] if family else None,
            status=status,
            organization_id=org,
            description=SECRET_TEXT,
            contact_phone=SECRET_PHONE,
            created_at=created,
            updated_at=created,
            offered_at=offered_at,
            accepted_at=next((at for a, at, _, _ in events if a == "accepted"), None),
            resolved_at=next((at for a, at, _, _ in events if a == "resolved"), None),
            closed_at=next((at for a, at, _, _ in events if a == "confirmed"), None),
            sla_due_at=sla_due_at,
            sla_stage=0,
            version=len(events),
        )
        self.session.add(row)
        await self.session.flush()
        self.refs[name] = row.id
        for action, at, event_org, reason in [("created", created, None, None), *events]:
            self.session.add(
                models.ReferralEvent(
                    referral_id=row.id,
                    at=at,
                    action=action,
                    to_status=TO_STATUS[action],
                    organization_id=event_org,
                    reason=reason,
                )
            )

    def feedback(self, at: dt.datetime, region: str = "RU-TAM", **fields: Any) -> None:
        if "referral" in fields:
            fields["referral_id"] = self.refs[fields.pop("referral")]
        if "user" in fields:
            fields["user_id"] = self.users[fields.pop("user")]
        self.session.add(models.Feedback(region_code=region, created_at=at, **fields))

    def search(
        self,
        at: dt.datetime,
        query: str,
        results: int,
        user: str | None = None,
        kind: str = "search",
        region: str = "RU-TAM",
    ) -> None:
        self.session.add(
            models.SearchLog(
                at=at,
                region_code=region,
                kind=kind,
                query=query,
                results=results,
                user_id=self.users[user] if user else None,
            )
        )


async def script_week(session: AsyncSession) -> Script:
    """Week 2026-W47 in Tambov (16–22 Nov, UTC+3), the week before it, and noise around."""
    s = Script(session)
    await s.user("f1", 5001, "RU-TAM", local(17, 10))
    await s.user("f2", 5002, "RU-TAM", local(16, 0, 30))  # Sunday 21:30 UTC: still W47 here
    await s.user("f3", 5003, "RU-TAM", local(18, 12), consent=False)
    await s.user("f4", 5004, "RU-TAM", local(10, 9))  # W46
    await s.user("f5", 5005, "RU-MOS", local(18, 12))
    await s.user("f6", 5006, "RU-TAM", local(22, 23, 59, 59))  # the last second of W47
    await s.user("f7", 5007, "RU-TAM", local(23, 0, 0))  # Monday 00:00 local: W48

    await s.referral(
        "r1",
        local(16, 10),
        "pregnancy",
        "tam-tambov",
        "closed",
        [
            ("offered", local(16, 10), A, None),
            ("accepted", local(16, 10, 30), A, None),
            ("contacted", local(16, 11), A, None),
            ("resolved", local(18, 12), A, None),
            ("confirmed", local(19, 9), None, None),
        ],
        family="f1",
        org=A,
    )
    await s.referral(
        "r2",
        local(17, 9),
        "pregnancy",
        "tam-tambov",
        "not_helped",
        [
            ("offered", local(17, 9), A, None),
            ("accepted", local(17, 11), A, None),
            ("not_helped", local(19, 10), A, "no_funds"),
        ],
        family="f2",
        org=A,
    )
    await s.referral(
        "r3",
        local(17, 12),
        "large_family",
        "tam-michurinsk",
        "accepted",
        [
            ("offered", local(17, 12), B, None),
            ("declined", local(17, 14), B, "no_capacity"),
            ("offered", local(17, 14), C, None),
            ("accepted", local(18, 12), C, None),
        ],
        family="f1",
        org=C,
    )
    await s.referral(
        "r4",
        local(18, 8),
        "low_income",
        "tam-tambov",
        "unrouted",
        [("unrouted", local(18, 8), None, None)],
    )
    await s.referral(
        "r5",
        local(19, 8),
        "psych_help",
        "tam-kirsanov",
        "offered",
        [
            ("offered", local(19, 8), D, None),
            ("sla_breach", local(20, 8), D, None),
            ("expired", local(20, 8), D, None),
            ("offered", local(20, 8), B, None),
        ],
        family="f2",
        org=B,
        offered_at=local(20, 8),
        sla_due_at=local(21, 8),
    )
    await s.referral(
        "r6",
        local(22, 23, 59),  # Sunday 20:59 UTC: created in W47 ...
        "pregnancy",
        "tam-tambov",
        "accepted",
        [
            ("offered", local(22, 23, 59), A, None),
            ("accepted", local(23, 0, 30), A, None),  # ... accepted in W48
        ],
        family="f1",
        org=A,
        sla_due_at=local(24, 12),
    )
    await s.referral(
        "r7",
        local(16, 0, 30),  # Sunday 21:30 UTC: Monday in Tambov
        "large_family",
        "tam-tambov",
        "resolved",
        [
            ("offered", local(16, 0, 30), C, None),
            ("accepted", local(16, 1, 30), C, None),
            ("resolved", local(20, 10), C, None),
        ],
        org=C,
    )
    await s.referral(
        "r8",
        local(11, 10),
        "pregnancy",
        "tam-tambov",
        "closed",
        [
            ("offered", local(11, 10), A, None),
            ("accepted", local(11, 10, 10), A, None),
            ("resolved", local(13, 15), A, None),
            ("confirmed", local(16, 9), None, None),  # confirmed in W47
        ],
        family="f4",
        org=A,
    )
    await s.referral(
        "r9",
        local(15, 23, 30),  # created in W46 ...
        "pregnancy",
        "tam-tambov",
        "in_progress",
        [
            ("offered", local(15, 23, 30), A, None),
            ("accepted", local(16, 1, 0), A, None),  # ... accepted in W47, 90 minutes later
        ],
        org=A,
    )
    await s.referral(
        "r10",
        local(18, 10),
        "pregnancy",
        "mos-balashikha",
        "closed",
        [
            ("offered", local(18, 10), MOS_ORG, None),
            ("declined", local(18, 10, 5), MOS_ORG, "other"),
            ("offered", local(18, 10, 6), MOS_ORG, None),
            ("accepted", local(18, 11), MOS_ORG, None),
            ("sla_breach", local(18, 12), MOS_ORG, None),
            ("resolved", local(19, 10), MOS_ORG, None),
            ("not_helped", local(19, 11), MOS_ORG, "no_funds"),
            ("confirmed", local(20, 10), None, None),
            ("unrouted", local(20, 11), None, None),
        ],
        family="f5",
        region="RU-MOS",
        org=MOS_ORG,
    )
    await s.referral("r11", local(23, 0, 0), "pregnancy", "tam-tambov", "new", [])
    await s.referral(
        "r12",
        local(9, 10),
        "housing",
        "tam-tambov",
        "offered",
        [("offered", local(9, 10), A, None)],
        org=A,
        offered_at=local(9, 10),
    )
    await s.referral(
        "r13",
        local(18, 9),
        "housing",
        "mos-balashikha",
        "offered",
        [("offered", local(18, 9), MOS_ORG, None)],
        region="RU-MOS",
        org=MOS_ORG,
        offered_at=local(18, 9),
        sla_due_at=local(19, 9),
    )

    s.feedback(local(19, 9), kind="referral", referral="r1", got_help="yes", rating=5, user="f1")
    s.feedback(
        local(19, 12),
        kind="referral",
        referral="r2",
        got_help="no",
        rating=2,
        comment="Долго ждали ответа",
        user="f2",
    )
    s.feedback(
        local(16, 9), kind="referral", referral="r8", got_help="partly", rating=4, user="f4"
    )
    s.feedback(
        local(20, 10),
        kind="referral",
        referral="r7",
        rating=1,
        comment="Никто не перезвонил <b>совсем</b>",
    )
    s.feedback(local(23, 0, 0), kind="referral", referral="r1", got_help="yes", rating=5)
    s.feedback(
        local(19, 9), region="RU-MOS", kind="referral", referral="r10", got_help="yes", rating=5
    )
    s.feedback(local(17, 10), kind="measure", measure_id=M1, verdict="not_helpful")
    s.feedback(local(18, 10), kind="measure", measure_id=M1, verdict="not_helpful")
    s.feedback(local(19, 10), kind="measure", measure_id=M2, verdict="hard_to_apply")
    s.feedback(local(19, 11), kind="measure", measure_id=M1, verdict="helpful")
    s.feedback(local(12, 10), kind="measure", measure_id=M2, verdict="not_helpful")
    s.feedback(
        local(18, 10), region="RU-MOS", kind="measure", measure_id=M1, verdict="not_helpful"
    )
    s.feedback(local(22, 23, 59, 59), kind="gap", need_id="crisis", user="f6")

    s.search(local(16, 12), "пособие", 5, "f1")
    # Three families typed it, so it reaches the digest (one family's words never do).
    s.search(local(17, 12), "квантовая хромодинамика", 0, "f1")
    s.search(local(18, 12), "квантовая хромодинамика", 0, "f6")
    s.search(local(19, 12), "квантовая хромодинамика", 0, "f2")
    s.search(local(19, 13), "", 0, "f2", kind="screening")
    s.search(local(20, 13), "", 3, kind="screening")
    s.search(local(22, 23, 59, 59), "пособие", 2)
    s.search(local(23, 0, 0), "ночной поиск", 0)
    s.search(local(18, 12), "пусто", 0, region="RU-MOS")
    s.search(local(10, 12), "старый запрос", 0)
    s.search(local(11, 12), "пособие", 4)
    await session.commit()
    return s


def rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item) for item in value]
    return value


def expected_digest(s: Script, stale: list[str]) -> dict[str, Any]:
    return {
        "region": "RU-TAM",
        "week": "2026-W47",
        "period": {"start": "2026-11-16T00:00:00+03:00", "end": "2026-11-23T00:00:00+03:00"},
        "demand": {
            "new_families": 3,
            "active_families": 4,
            "searches": 7,
            "searches_no_result": 4,
            "top_needs": [
                {"need": "pregnancy", "count": 3},
                {"need": "large_family", "count": 2},
                {"need": "low_income", "count": 1},
                {"need": "psych_help", "count": 1},
            ],
            "no_result_queries": [{"query": "квантовая хромодинамика", "count": 3}],
            "by_municipality": [
                {"municipality": "tam-tambov", "requests": 5},
                {"municipality": "tam-kirsanov", "requests": "<3"},
                {"municipality": "tam-michurinsk", "requests": "<3"},
            ],
            "by_channel": {
                "telegram": {"new_families": 3, "requests": 5},  # 2 of 7 have no family left
                "max": {"new_families": 0, "requests": 0},
            },
        },
        "supply": {
            "referrals_created": 7,
            "accepted": 5,
            "resolved": 2,
            "not_helped": 1,
            "declined": 1,
            "unrouted": 1,
            "median_minutes_to_accept": 90.0,
            "sla_breaches": 1,
            "organizations": [
                {
                    "id": A,
                    "received": 3,
                    "accepted": 3,
                    "resolved": 1,
                    "median_minutes_to_accept": 90.0,
                    "rating_avg": 11 / 3,
                },
                {
                    "id": C,
                    "received": 2,
                    "accepted": 2,
                    "resolved": 1,
                    "median_minutes_to_accept": 750.0,
                    "rating_avg": 1.0,
                },
                {
                    "id": B,
                    "received": 2,
                    "accepted": 0,
                    "resolved": 0,
                    "median_minutes_to_accept": None,
                    "rating_avg": None,
                },
                {
                    "id": D,
                    "received": 1,
                    "accepted": 0,
                    "resolved": 0,
                    "median_minutes_to_accept": None,
                    "rating_avg": None,
                },
            ],
        },
        "outcomes": {
            "feedback_count": 4,
            "got_help_rate": 1 / 3,
            "closed_loop_rate": 2 / 3,
            "rating_avg": 3.0,
            "not_helped_reasons": {"no_funds": 1},
            "low_ratings": [
                {"rating": 2, "comment": "Долго ждали ответа"},
                {"rating": 1, "comment": "Никто не перезвонил <b>совсем</b>"},
            ],
        },
        "catalogue": {
            "stale_measures": stale,
            "unhelpful_measures": [{"id": M1, "count": 2}, {"id": M2, "count": 1}],
        },
        "attention": {
            "overdue_referrals": [s.refs["r12"], s.refs["r5"]],  # longest overdue first
            "silent_organizations": [D],
            "undelivered_notifications": 0,
        },
        "previous_week": {
            "week": "2026-W46",
            "new_families": 1,
            "active_families": 1,
            "searches": 2,
            "searches_no_result": 1,
            "referrals_created": 3,
            "accepted": 1,
            "resolved": 1,
            "not_helped": 0,
            "declined": 0,
            "unrouted": 0,
            "median_minutes_to_accept": 10.0,
            "sla_breaches": 0,
            "feedback_count": 0,
            "got_help_rate": None,
            "closed_loop_rate": 0.0,
            "rating_avg": None,
        },
        "plans": {
            "reminders_sent": 0,
            "reminders_acted_on": 0,
            "reminders_by_kind": {},
            "most_planned": [],
            "most_refused": [],
            "refused_by_municipality": [],
        },
    }


def stale_for(app: App, region: str, week_end: dt.date) -> list[str]:
    cutoff = week_end - dt.timedelta(days=180)
    view = app.catalogue.view
    return sorted(
        m.id
        for m in view.measures_for_region(region)
        if m.checked_on is None or not cutoff <= m.checked_on <= week_end
    )


async def tambov_w47(app: App, session: AsyncSession) -> dict[str, Any]:
    return await build_digest(
        session,
        region_code="RU-TAM",
        week="2026-W47",
        view=app.catalogue.view,
        now=app.clock.now(),
    )


# --- weeks --------------------------------------------------------------------------------


def test_week_parsing_and_bounds() -> None:
    assert parse_week("2026-W47") == Week(2026, 47)
    assert parse_week(" 2020-W53 ") == Week(2020, 53)
    for garbage, code in [
        ("2026-47", "format"),
        ("W47", "format"),
        ("2026-W7", "format"),
        ("'; drop table", "format"),
        ("2026-W00", "range"),
        ("2025-W53", "range"),  # 2025 has 52 ISO weeks
        ("1999-W10", "range"),
    ]:
        with pytest.raises(WeekError) as caught:
            parse_week(garbage)
        assert caught.value.code == code, garbage
    start, end = Week(2026, 47).bounds(MSK)
    assert start.astimezone(dt.UTC) == dt.datetime(2026, 11, 15, 21, tzinfo=dt.UTC)
    assert end.astimezone(dt.UTC) == dt.datetime(2026, 11, 22, 21, tzinfo=dt.UTC)
    assert Week(2026, 1).shift(-1) == Week(2025, 52)
    assert Week(2020, 53).shift(1) == Week(2021, 1)


def test_default_week_is_the_last_completed_one_in_the_regions_time() -> None:
    sunday_evening_utc = dt.datetime(2026, 11, 22, 20, 59, tzinfo=dt.UTC)  # 23:59 Sunday local
    monday_local = dt.datetime(2026, 11, 22, 21, 0, tzinfo=dt.UTC)  # 00:00 Monday local
    assert last_completed_week(sunday_evening_utc, MSK) == Week(2026, 46)
    assert last_completed_week(monday_local, MSK) == Week(2026, 47)
    assert resolve_week(None, now=monday_local, tz=MSK) == Week(2026, 47)
    assert resolve_week("2026-W48", now=monday_local, tz=MSK) == Week(2026, 48)  # this week
    with pytest.raises(WeekError) as caught:
        resolve_week("2026-W49", now=monday_local, tz=MSK)
    assert caught.value.code == "future"


def test_small_municipality_counts_are_masked() -> None:
    assert [mask(n) for n in (1, 2, 3, 10)] == ["<3", "<3", 3, 10]


# --- the numbers --------------------------------------------------------------------------


async def test_scripted_week_every_number(app: App, session: AsyncSession) -> None:
    s = await script_week(session)
    digest = await tambov_w47(app, session)
    stale = stale_for(app, "RU-TAM", dt.date(2026, 11, 23))
    assert stale, "the catalogue has measures older than 180 days"
    assert rounded(digest) == rounded(expected_digest(s, stale))
    json.dumps(digest)  # plain JSON types only


async def test_default_week_and_other_regions_see_only_their_own(
    app: App, session: AsyncSession
) -> None:
    s = await script_week(session)
    default = await build_digest(
        session, region_code="RU-TAM", week=None, view=app.catalogue.view, now=app.clock.now()
    )
    assert default["week"] == "2026-W47"
    moscow = await build_digest(
        session,
        region_code="RU-MOS",
        week="2026-W47",
        view=app.catalogue.view,
        now=app.clock.now(),
    )
    supply = moscow["supply"]
    assert (supply["referrals_created"], supply["accepted"], supply["declined"]) == (2, 1, 1)
    assert (supply["resolved"], supply["not_helped"], supply["unrouted"]) == (1, 1, 1)
    assert supply["sla_breaches"] == 1
    assert moscow["demand"]["new_families"] == 1
    assert moscow["outcomes"]["feedback_count"] == 1
    assert moscow["attention"]["overdue_referrals"] == [s.refs["r13"]]
    assert moscow["catalogue"]["unhelpful_measures"] == [{"id": M1, "count": 1}]
    with pytest.raises(ValueError, match="unknown region"):
        await build_digest(
            session, region_code="RU-XXX", week=None, view=app.catalogue.view, now=app.clock.now()
        )


async def test_stale_measures_are_judged_at_the_weeks_end(app: App, session: AsyncSession) -> None:
    early = await build_digest(
        session,
        region_code="RU-TAM",
        week="2025-W40",
        view=app.catalogue.view,
        now=app.clock.now(),
    )
    late = await build_digest(
        session,
        region_code="RU-TAM",
        week="2026-W47",
        view=app.catalogue.view,
        now=app.clock.now(),
    )
    assert early["catalogue"]["stale_measures"] == stale_for(app, "RU-TAM", dt.date(2025, 10, 6))
    assert late["catalogue"]["stale_measures"] == stale_for(app, "RU-TAM", dt.date(2026, 11, 23))


async def test_closed_loop_rate_stays_a_rate(app: App, session: AsyncSession) -> None:
    s = Script(session)
    await s.referral(
        "old",
        local(2, 10),
        "pregnancy",
        "tam-tambov",
        "closed",
        [("resolved", local(5, 10), A, None), ("confirmed", local(16, 10), None, None)],
    )
    await s.referral(
        "older",
        local(2, 11),
        "pregnancy",
        "tam-tambov",
        "closed",
        [("resolved", local(5, 11), A, None), ("confirmed", local(16, 11), None, None)],
    )
    await s.referral(
        "new",
        local(17, 10),
        "pregnancy",
        "tam-tambov",
        "resolved",
        [("resolved", local(18, 10), A, None)],
    )
    await session.commit()
    digest = await tambov_w47(app, session)
    assert digest["outcomes"]["closed_loop_rate"] == 1.0  # 2 confirmations / 1 resolution


async def test_cluster_overview_compares_regions(app: App, session: AsyncSession) -> None:
    await script_week(session)
    overview = await build_cluster_overview(
        session, week=None, view=app.catalogue.view, now=app.clock.now()
    )
    assert overview["week"] == "2026-W47"
    by_region = {row["region"]: row for row in overview["regions"]}
    assert set(by_region) == set(app.catalogue.view.regions)
    assert by_region["RU-TAM"]["referrals_created"] == 7
    assert by_region["RU-TAM"]["previous_week"]["referrals_created"] == 3
    assert by_region["RU-TAM"]["overdue_referrals"] == 2
    assert by_region["RU-MOS"]["referrals_created"] == 2
    assert by_region["RU-NIZ"]["referrals_created"] == 0
    assert by_region["RU-NIZ"]["got_help_rate"] is None


# --- message, chart, workbook ----------------------------------------------------------------


async def test_message_chart_and_workbook_agree_with_the_numbers(
    app: App, session: AsyncSession
) -> None:
    s = await script_week(session)
    digest = await tambov_w47(app, session)
    view = app.catalogue.view
    ru = render_text(digest, app.texts.get("ru"), view)
    for line in (
        "Неделя 2026-W47: 16 ноября — 22 ноября 2026",
        "Новые семьи: 3 ▲2",
        "Активные семьи: 4 ▲3",
        "Новые заявки: 7 ▲4",
        "Приняты в работу: 5 ▲4",
        "Решены: 2 ▲1",
        "Получили помощь: 33%",
        "Замкнутый цикл: 67% ▲67 п.п.",
        "Средняя оценка: 3,0",
        "Поиски и подборы: 7 ▲5",
        "Без результата: 4 ▲3",
        "Медиана времени до принятия: 1 ч 30 мин ▲1 ч 20 мин",
        "«квантовая хромодинамика»: 3",
        "г. Тамбов: 5",
        "&lt;3 — меньше трёх заявок",
        "= — без изменений",
        "нет средств: 1",
        f"№{s.refs['r12']}, №{s.refs['r5']}",
    ):
        assert line in ru, line
    assert "Никто не перезвонил &lt;b&gt;совсем&lt;/b&gt;" in ru, "a family's text is escaped"
    assert "<b>совсем</b>" not in ru
    assert SECRET_TEXT not in ru and SECRET_PHONE not in ru
    en = render_text(digest, app.texts.get("en"), view)
    assert "New requests: 7 ▲4" in en and "Got help: 33%" in en
    assert "Week 2026-W47: 16 November — 22 November 2026" in en
    assert "Average rating: 3.0" in en

    parts = split_message(ru)
    assert parts == [ru], "a normal week fits one message"
    assert render_chart(digest, app.texts.get("ru"), view).startswith(b"\x89PNG")

    rows = await referral_rows(session, region_code="RU-TAM", week=Week(2026, 47), view=view)
    book = load_workbook(
        io.BytesIO(render_xlsx(digest, app.texts.get("ru"), view, referrals=rows)),
        read_only=True,
    )
    assert book.sheetnames == [
        "Сводка",
        "Спрос",
        "Организации",
        "Результаты",
        "Каталог",
        "Внимание",
        "Заявки",
    ]
    cells = [
        str(cell)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for cell in row
        if cell is not None
    ]
    assert not any(SECRET_TEXT in cell or SECRET_PHONE in cell for cell in cells)
    summary = {row[0]: row[1:] for row in book["Сводка"].iter_rows(values_only=True) if row}
    assert summary["Новые заявки"][:3] == (7, 3, "▲4")
    assert summary["Получили помощь"][:2] == (pytest.approx(1 / 3), None)
    referral_sheet = list(book["Заявки"].iter_rows(values_only=True))
    assert referral_sheet[0][:6] == (
        "№",
        "Создана",
        "Потребность",
        "Муниципалитет",
        "Организация",
        "Статус",
    )
    numbers = sorted(row[0] for row in referral_sheet[1:])
    assert numbers == sorted(s.refs[name] for name in ("r1", "r2", "r3", "r4", "r5", "r6", "r7"))
    r6 = next(row for row in referral_sheet[1:] if row[0] == s.refs["r6"])
    assert r6[1] == dt.datetime(2026, 11, 22, 23, 59), "local time of the region"
    municipalities = {
        row[0]: row[1]
        for row in book["Спрос"].iter_rows(values_only=True)
        if row and row[0] in ("г. Тамбов", "Мичуринск", "г. Мичуринск")
    }
    assert "<3" in municipalities.values() and 5 in municipalities.values()
    assert any(cell.startswith("<3 — меньше трёх заявок") for cell in cells), "explained"
    assert summary["Период"][:2] == ("16 ноября", "22 ноября 2026")


def test_a_long_message_is_split_under_the_limit(app: App) -> None:
    comment = "очень долго " * 30
    digest: dict[str, Any] = {
        "region": "RU-TAM",
        "week": "2026-W47",
        "period": {"start": "2026-11-16T00:00:00+03:00", "end": "2026-11-23T00:00:00+03:00"},
        "demand": {
            "new_families": 0,
            "active_families": 0,
            "searches": 0,
            "searches_no_result": 0,
            "top_needs": [],
            "no_result_queries": [],
            "by_municipality": [],
        },
        "supply": {
            "referrals_created": 0,
            "accepted": 0,
            "resolved": 0,
            "not_helped": 0,
            "declined": 0,
            "unrouted": 0,
            "median_minutes_to_accept": None,
            "sla_breaches": 0,
            "organizations": [],
        },
        "outcomes": {
            "feedback_count": 40,
            "got_help_rate": None,
            "closed_loop_rate": None,
            "rating_avg": 1.0,
            "not_helped_reasons": {},
            "low_ratings": [{"rating": 1, "comment": f"{i} {comment}"} for i in range(40)],
        },
        "catalogue": {"stale_measures": [], "unhelpful_measures": []},
        "attention": {"overdue_referrals": list(range(1, 500)), "silent_organizations": []},
        "previous_week": {"week": "2026-W46"},
    }
    text = render_text(digest, app.texts.get("ru"), app.catalogue.view)
    parts = split_message(text)
    assert len(text) > 4096 and len(parts) > 1
    assert all(len(part) <= 4096 for part in parts)
    assert "".join("".join(parts).split()) == "".join(text.split()), "nothing lost"
    assert all(part.count("<b>") == part.count("</b>") for part in parts), "no tag cut"


# --- /digest and /cluster in the chat ------------------------------------------------------------


@pytest.fixture
def digest_chat(app: App, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalChat]:
    """The real dispatcher; the digest router is added if handlers/__init__ does not have it."""
    from handlers import digest as digest_handlers

    original = handlers.get_routers

    def with_digest() -> list[Any]:
        routers = original()
        if not any(router.name == digest_handlers.__name__ for router in routers):
            routers.insert(1, digest_handlers.create_router())
        return routers

    monkeypatch.setattr(handlers, "get_routers", with_digest)
    local_session = LocalSession()
    bot = create_bot(app.settings, session=local_session)
    yield LocalChat(create_dispatcher(app), bot, local_session)


async def test_manager_gets_text_chart_and_workbook(
    app: App, session: AsyncSession, digest_chat: LocalChat
) -> None:
    await script_week(session)
    await people.grant_role(
        session, app.clock, messenger_id=7101, role=Role.MANAGER, region_code="RU-TAM"
    )
    manager = digest_chat.user(7101)
    replies = await manager.send("/digest")
    assert [r.kind for r in replies] == ["text", "photo", "document", "text"]
    assert replies[-1].button_texts == ["📈 Эта неделя по сегодня · 2026-W48"]
    assert "Дайджест недели — Тамбовская область" in replies[0].text
    assert "Неделя 2026-W47" in replies[0].text
    assert "Новые заявки: 7 ▲4" in replies[0].text
    actions = [m for m in digest_chat.session.requests if type(m).__name__ == "SendChatAction"]
    assert [a.action for a in actions] == ["upload_document"]  # type: ignore[attr-defined]
    documents = [m for m in digest_chat.session.requests if type(m).__name__ == "SendDocument"]
    assert documents[-1].document.filename == "digest-RU-TAM-2026-W47.xlsx"  # type: ignore[attr-defined]

    replies = await manager.send("/digest 2026-W46")
    assert "Неделя 2026-W46" in replies[0].text and "Новые заявки: 3" in replies[0].text

    replies = await manager.send("/digest RU-MOS")
    assert [r.kind for r in replies] == ["text"]
    assert "Вы не менеджер региона RU-MOS" in replies[0].text


async def test_a_manager_of_two_regions_picks_one_and_it_is_remembered(
    app: App, session: AsyncSession, digest_chat: LocalChat
) -> None:
    await script_week(session)
    for region in ("RU-MOS", "RU-TAM"):
        await people.grant_role(
            session, app.clock, messenger_id=7106, role=Role.MANAGER, region_code=region
        )
    irina = digest_chat.user(7106)
    ask = (await irina.send("/digest"))[-1]
    assert ask.button_texts == ["Московская область", "Тамбовская область"]
    replies = await irina.click("Тамбовская область")
    assert "Регион: <b>Тамбовская область</b>. Запомнил." in ask.text  # edited in place
    assert "Дайджест недели — Тамбовская область" in replies[0].text
    assert "Неделя 2026-W47" in replies[0].text and "Новые заявки: 7 ▲4" in replies[0].text

    # "This week so far" beside "last week".
    replies = await irina.click("📈 Эта неделя по сегодня")
    assert "Неделя 2026-W48" in replies[0].text
    assert replies[-1].button_texts == ["Прошлая неделя · 2026-W47"]

    # Remembered for /stats and /orgs too; /help says which and how to switch.
    assert "Тамбовская область" in (await irina.send("/digest"))[0].text
    assert (await irina.send("/stats"))[-1].text.startswith("<b>Сегодня · Тамбовская область")
    assert (await irina.send("/orgs"))[-1].text.startswith("<b>Организации · Тамбовская область")
    help_text = (await irina.send("/help"))[-1].text
    assert "Ваши регионы: Московская область (RU-MOS), Тамбовская область (RU-TAM)" in help_text
    assert "Сейчас выбран: Тамбовская область (RU-TAM)" in help_text
    assert "/digest RU-TAM 2026-W47" in help_text
    # Naming a region switches it.
    await irina.send("/stats RU-MOS")
    assert "Московская область" in (await irina.send("/digest"))[0].text


async def test_bad_week_arguments_are_answered(
    app: App, session: AsyncSession, digest_chat: LocalChat
) -> None:
    await people.grant_role(
        session, app.clock, messenger_id=7102, role=Role.MANAGER, region_code="RU-TAM"
    )
    manager = digest_chat.user(7102)
    replies = await manager.send("/digest на прошлой неделе")
    assert [r.kind for r in replies] == ["text"]
    assert "/digest 2026-W47" in replies[0].text and "ISO" in replies[0].text
    replies = await manager.send("/digest 2026-W60")
    assert "Такой недели нет: 2026-W60" in replies[0].text
    replies = await manager.send("/digest 2027-W02")
    assert "ещё не началась" in replies[0].text


async def test_family_and_volunteer_are_refused(
    app: App, session: AsyncSession, digest_chat: LocalChat
) -> None:
    family = digest_chat.user(7103)
    replies = await family.send("/digest")
    assert [r.kind for r in replies] == ["text"]
    assert "доступен менеджерам региона" in replies[0].text
    await people.grant_role(
        session, app.clock, messenger_id=7104, role=Role.VOLUNTEER, organization_id=A
    )
    replies = await digest_chat.user(7104).send("/digest 2026-W47")
    assert [r.kind for r in replies] == ["text"] and "менеджерам" in replies[0].text
    replies = await family.send("/cluster")
    assert "только администраторам" in replies[0].text


async def test_admin_sees_any_region_and_the_cluster(
    app: App, session: AsyncSession, digest_chat: LocalChat
) -> None:
    await script_week(session)
    admin = digest_chat.user(900)  # ADMIN_IDS of the test settings
    replies = await admin.send("/digest")
    assert replies[-1].text == "Для какого региона? Выбор запомню для /digest, /stats и /orgs."
    replies = await admin.send("/digest ru-mos 2026-W47")
    assert [r.kind for r in replies] == ["text", "photo", "document", "text"]
    assert "Московская область" in replies[0].text
    replies = await admin.send("/cluster")
    text = "\n".join(r.text for r in replies)
    for name in ("Тамбовская область", "Московская область", "Нижегородская область"):
        assert name in text
    assert "Неделя 2026-W47" in text and "Новые заявки: 7 ▲4" in text
    replies = await admin.send("/cluster 2026-W99")
    assert "Такой недели нет" in replies[0].text
    manager = digest_chat.user(7105)
    await people.grant_role(
        session, app.clock, messenger_id=7105, role=Role.MANAGER, region_code="RU-TAM"
    )
    replies = await manager.send("/cluster")
    assert "только администраторам" in replies[0].text


# --- Monday delivery --------------------------------------------------------------------------

MONDAY_NINE = dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC)  # 09:00 in Tambov and Moscow


async def managers(app: App, session: AsyncSession) -> dict[int, int]:
    """Telegram id → user id of the delivery tests' managers (and people who get nothing)."""
    for tg, region in ((7201, "RU-TAM"), (7202, "RU-TAM"), (7203, "RU-MOS"), (7204, "RU-TAM")):
        await people.grant_role(
            session, app.clock, messenger_id=tg, role=Role.MANAGER, region_code=region
        )
    await people.grant_role(session, app.clock, messenger_id=7205, role=Role.ADMIN)
    english = await people.get_user(session, 7202)
    assert english is not None
    english.language = "en"
    retired = await people.get_user(session, 7204)
    assert retired is not None
    for membership in await people.memberships(session, retired.id):
        membership.active = False
    await session.commit()
    rows = await session.execute(select(models.User.messenger_id, models.User.id))
    return dict(rows.all())


async def deliveries(session: AsyncSession) -> list[tuple[str, str, int]]:
    rows = await session.execute(
        select(models.Digest.region_code, models.Digest.week, models.User.messenger_id)
        .join(models.DigestDelivery, models.DigestDelivery.digest_id == models.Digest.id)
        .join(models.User, models.User.id == models.DigestDelivery.user_id)
        .order_by(models.User.messenger_id)
    )
    return list(rows)


def kinds(*sessions: LocalSession, chat_id: int) -> list[str]:
    return [sent.kind for local_session in sessions for sent in local_session.chats[chat_id]]


async def test_monday_delivery_happens_exactly_once(
    app: App, session: AsyncSession, clock: FrozenClock
) -> None:
    await managers(app, session)
    clock._now = MONDAY_NINE - dt.timedelta(minutes=1)
    first, second = LocalSession(), LocalSession()
    bot = create_bot(app.settings, session=first)
    assert await deliver_due_digests(app, bot, clock.now()) == 0, "08:59: nothing is due"
    assert await deliveries(session) == []

    clock._now = MONDAY_NINE
    # A second replica: its own engine, its own bot, the same database.
    replica = build_app(app.settings, clock=clock, jobs=RecordingJobs())
    await replica.catalogue.refresh()
    try:
        counts = await asyncio.gather(
            deliver_due_digests(app, bot, clock.now()),
            deliver_due_digests(replica, create_bot(app.settings, session=second), clock.now()),
        )
        assert sum(counts) == 3
        clock.advance(dt.timedelta(hours=1))
        assert await deliver_due_digests(app, bot, clock.now()) == 0
        assert await deliver_due_digests(replica, bot, clock.now()) == 0
    finally:
        await replica.close()

    assert await deliveries(session) == [
        ("RU-TAM", "2026-W48", 7201),
        ("RU-TAM", "2026-W48", 7202),
        ("RU-MOS", "2026-W48", 7203),
    ]
    digests = await session.scalar(select(func.count()).select_from(models.Digest))
    assert digests == len(app.catalogue.view.regions), "one stored digest per region and week"
    for tg in (7201, 7202, 7203):
        assert kinds(first, second, chat_id=tg) == ["text", "photo", "document"], tg
    for tg in (7204, 7205):
        assert kinds(first, second, chat_id=tg) == [], tg
    english = (first.chats.get(7202) or second.chats[7202])[0].text
    assert "Weekly digest — Tambov Oblast" in english and "Week 2026-W48" in english


async def test_missed_monday_is_caught_up_on_start(
    app: App, session: AsyncSession, clock: FrozenClock
) -> None:
    await managers(app, session)
    clock._now = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)  # Wednesday: Monday was missed
    jobs = RecordingJobs()
    local_session = LocalSession()
    bot = create_bot(app.settings, session=local_session)
    application = dataclasses.replace(app, clock=clock, jobs=jobs)
    digests = job_named("digests")
    assert digests is not None
    schedule_all(JobContext(application, bot), [digests])
    assert jobs.jobs[JOB_ID].seconds == 3600
    assert jobs.jobs[CATCH_UP_JOB_ID].when == clock.now()
    assert jobs.jobs["digest:monday:RU-TAM"].cron == {
        "timezone": "Europe/Moscow",
        "day_of_week": "mon",
        "hour": 9,
        "minute": 0,
    }
    await jobs.run(CATCH_UP_JOB_ID)
    assert [week for _, week, _ in await deliveries(session)] == ["2026-W48"] * 3
    await jobs.run(JOB_ID)  # the hourly run finds nothing left to send
    assert kinds(local_session, chat_id=7201) == ["text", "photo", "document"]

    clock._now = dt.datetime(2026, 12, 7, 6, 0, tzinfo=dt.UTC)  # next Monday 09:00
    await jobs.run(JOB_ID)
    assert [week for _, week, _ in await deliveries(session)].count("2026-W49") == 3


async def test_a_failed_send_is_retried_and_a_blocked_manager_is_not(
    app: App, session: AsyncSession, clock: FrozenClock
) -> None:
    await managers(app, session)
    clock._now = MONDAY_NINE
    local_session = LocalSession()
    bot = create_bot(app.settings, session=local_session)
    probe = SendMessage(chat_id=7203, text="digest")
    # RU-MOS goes first: its only manager's first message meets a network failure.
    local_session.fail_next("sendMessage", TelegramNetworkError(probe, "connection reset"))
    assert await deliver_due_digests(app, bot, clock.now()) == 2
    assert [tg for _, _, tg in await deliveries(session)] == [7201, 7202]
    assert kinds(local_session, chat_id=7203) == []

    clock.advance(dt.timedelta(hours=1))
    assert await deliver_due_digests(app, bot, clock.now()) == 1, "the next run retries"
    assert kinds(local_session, chat_id=7203) == ["text", "photo", "document"]

    await session.execute(delete(models.DigestDelivery))
    await session.commit()
    local_session.chats.clear()
    local_session.fail_next("sendMessage", TelegramForbiddenError(probe, "bot was blocked"))
    assert await deliver_due_digests(app, bot, clock.now()) == 2
    clock.advance(dt.timedelta(hours=1))
    assert await deliver_due_digests(app, bot, clock.now()) == 0, "a blocked chat is not retried"
    assert kinds(local_session, chat_id=7203) == []
    assert [tg for _, _, tg in await deliveries(session)] == [7201, 7202, 7203]


class DiesOnPhoto(LocalSession):
    """The process is killed (kill -9) while a digest is going out: after its text parts."""

    async def make_request(self, bot: Any, method: Any, timeout: int | None = None) -> Any:  # noqa: ASYNC109
        if method.__api_method__ == "sendPhoto":
            raise asyncio.CancelledError
        return await super().make_request(bot, method, timeout)


async def test_a_crash_between_claim_and_send_does_not_lose_the_week(
    app: App, session: AsyncSession, clock: FrozenClock
) -> None:
    await managers(app, session)
    clock._now = MONDAY_NINE
    dying = DiesOnPhoto()
    with pytest.raises(asyncio.CancelledError):
        await deliver_due_digests(app, create_bot(app.settings, session=dying), clock.now())
    assert kinds(dying, chat_id=7203) == ["text"], "killed after the text, before the chart"

    # The restart's catch-up comes at once: the dead process's claim is still fresh.
    restarted = LocalSession()
    bot = create_bot(app.settings, session=restarted)
    assert await deliver_due_digests(app, bot, clock.now()) == 2  # the other region's two
    assert kinds(restarted, chat_id=7203) == []
    # The next hourly run finds the claim abandoned and delivers the week after all.
    clock.advance(dt.timedelta(hours=1))
    assert await deliver_due_digests(app, bot, clock.now()) == 1
    assert kinds(restarted, chat_id=7203) == ["text", "photo", "document"]
    clock.advance(dt.timedelta(hours=1))
    assert await deliver_due_digests(app, bot, clock.now()) == 0, "and only once"
    assert kinds(restarted, chat_id=7203) == ["text", "photo", "document"]


def test_due_week() -> None:
    assert due_week(MONDAY_NINE - dt.timedelta(seconds=1), MSK) is None
    assert due_week(MONDAY_NINE, MSK) == Week(2026, 48)
    assert due_week(dt.datetime(2026, 12, 6, 20, 59, tzinfo=dt.UTC), MSK) == Week(2026, 48)
    assert due_week(dt.datetime(2026, 12, 6, 21, 0, tzinfo=dt.UTC), MSK) is None


# --- the CLI ------------------------------------------------------------------------------


def cli_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_digest_arguments(parser)
    return parser.parse_args(argv)


async def test_cli_json_text_and_xlsx(
    app: App,
    session: AsyncSession,
    tmp_path: Path,
    clock: FrozenClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s = await script_week(session)
    out = tmp_path / "digest.json"
    code = await cmd_digest(
        cli_args("--region", "RU-TAM", "--format", "json", "--out", str(out)), app.settings, clock
    )
    assert code == 0
    payload = json.loads(out.read_text(encoding="utf-8"))
    stale = stale_for(app, "RU-TAM", dt.date(2026, 11, 23))
    assert rounded(payload) == rounded(expected_digest(s, stale))

    assert (
        await cmd_digest(cli_args("--region", "RU-TAM", "--week", "2026-W47"), app.settings, clock)
        == 0
    )
    printed = capsys.readouterr().out
    assert "Новые заявки: 7 ▲4" in printed and "\nГлавное\n" in printed
    assert "<b>Главное" not in printed and "<i>" not in printed

    book = tmp_path / "d.xlsx"
    code = await cmd_digest(
        cli_args("--region", "RU-TAM", "--format", "xlsx", "--out", str(book)), app.settings, clock
    )
    assert code == 0 and "Заявки" in load_workbook(book).sheetnames


async def test_cli_rejects_bad_region_and_week(
    app: App, clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cmd_digest(cli_args("--region", "RU-XXX"), app.settings, clock) == 2
    assert "unknown region 'RU-XXX'" in capsys.readouterr().err
    assert (
        await cmd_digest(cli_args("--region", "RU-TAM", "--week", "47"), app.settings, clock) == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "YYYY-Www" in err
