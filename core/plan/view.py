"""«Мой план» as one document: measures by status, checklists, where to apply, deadlines,
what the family asked the cluster for, and the region's contacts.

The plan is built as plain lines with a style each, so the chat message (HTML) and the PDF
show the same thing. It holds only what the family entered (its marks, ticks, requests and
bookings) and what the catalogue says; no name, account or phone, so it can be forwarded to a
relative or shown at the МФЦ as it is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.catalogue.active import CatalogueView
from core.catalogue.schema import Measure, OrgKind, Region
from core.plan.deadlines import Deadline, deadline_of, describe_deadline, describe_rule
from core.plan.marks import CHECKLIST_STATUSES, STATUS_ORDER, documents, plan_items, ticked
from core.screener import FamilyProfile
from core.texts import Translator
from db import models
from db.enums import PlanStatus, ReferralKind

# Requests and bookings shown: the latest ones; older ones are in /my.
MAX_ASKED = 10
# State bodies and hotlines of the region listed as its contacts.
MAX_CONTACTS = 4


@dataclass(frozen=True)
class PlanEntry:
    measure_id: str
    status: PlanStatus
    measure: Measure | None  # None: the measure left the catalogue after the family marked it
    done: frozenset[int]
    deadline: Deadline | None


@dataclass(frozen=True)
class AskedEntry:
    """A request or a consultation booking of the family, and what happened to it."""

    number: int
    kind: ReferralKind
    need_id: str
    status: str
    created_at: dt.datetime
    organization_id: str | None
    consultation_id: str | None
    starts_at: dt.datetime | None


@dataclass(frozen=True)
class FamilyPlan:
    entries: list[PlanEntry]
    asked: list[AskedEntry]
    region: Region | None
    made_on: dt.date

    def by_status(self, status: PlanStatus) -> list[PlanEntry]:
        return [e for e in self.entries if e.status is status]

    @property
    def empty(self) -> bool:
        return not self.entries and not self.asked


async def _asked(session: AsyncSession, user_id: int) -> list[AskedEntry]:
    rows = await session.execute(
        select(models.Referral, models.ConsultationSlot)
        .outerjoin(
            models.ConsultationSlot,
            models.ConsultationSlot.id == models.Referral.consultation_slot_id,
        )
        .where(models.Referral.family_user_id == user_id)
        .order_by(models.Referral.id.desc())
        .limit(MAX_ASKED)
    )
    return [
        AskedEntry(
            number=referral.id,
            kind=ReferralKind(referral.kind),
            need_id=referral.need_id,
            status=referral.status,
            created_at=referral.created_at,
            organization_id=referral.organization_id,
            consultation_id=slot.consultation_id if slot is not None else None,
            starts_at=slot.starts_at if slot is not None else None,
        )
        for referral, slot in rows
    ]


async def load_plan(
    session: AsyncSession,
    user: models.User,
    view: CatalogueView,
    profile: FamilyProfile | None,
    day: dt.date,
) -> FamilyPlan:
    """The family's plan as it stands on `day` (the family's calendar day)."""
    entries = []
    for item in await plan_items(session, user.id):
        measure = view.measures.get(item.measure_id)
        entries.append(
            PlanEntry(
                measure_id=item.measure_id,
                status=PlanStatus(item.status),
                measure=measure,
                done=frozenset(ticked(item, measure)) if measure is not None else frozenset(),
                deadline=deadline_of(measure, profile, day) if measure is not None else None,
            )
        )
    region = view.regions.get(user.region_code or "")
    return FamilyPlan(entries, await _asked(session, user.id), region, day)


class Style(StrEnum):
    TITLE = "title"
    SUBTITLE = "subtitle"
    HEADING = "heading"  # a status group, the requests, the contacts
    ITEM = "item"  # a measure, a request
    DETAIL = "detail"  # where to apply, the deadline, the amount
    DOC = "doc"  # a document not yet gathered
    DOC_DONE = "doc_done"
    LINK = "link"
    NOTE = "note"


@dataclass(frozen=True)
class Line:
    text: str
    style: Style
    # An emoji before the text in the chat; the PDF's font has none, so it leaves it out.
    icon: str = ""


STATUS_ICONS = {
    PlanStatus.PLANNED: "📝",
    PlanStatus.APPLIED: "📨",
    PlanStatus.RECEIVING: "✅",
    PlanStatus.REFUSED: "❌",
    PlanStatus.NOT_NEEDED: "➖",
}


def entry_lines(entry: PlanEntry, t: Translator, view: CatalogueView, day: dt.date) -> list[Line]:
    """One measure of the plan: its title, then for the statuses still in progress the
    checklist, where to apply and the deadline."""
    measure = entry.measure
    if measure is None:
        return [
            Line(t("plan.view.gone", id=entry.measure_id), Style.ITEM),
        ]
    lines = [Line(t.pick(measure.title, measure.title_en), Style.ITEM)]
    if entry.status not in CHECKLIST_STATUSES:
        return lines
    lines.append(Line(t("plan.view.amount", amount=t.pick(*_amount(measure))), Style.DETAIL))
    lines.append(Line(t("plan.view.documents"), Style.DETAIL))
    for position, document in enumerate(documents(measure, t.lang)):
        style = Style.DOC_DONE if position in entry.done else Style.DOC
        lines.append(Line(document, style))
    channels = ", ".join(t(f"channel.{c.value}") for c in measure.how_to_apply.channels)
    lines.append(Line(t("plan.view.where", channels=channels), Style.DETAIL))
    org = view.organizations.get(measure.organization or "")
    if org is not None:
        contact = _contact(org.contacts.phone, org.contacts.address)
        name = t.pick(org.name, org.name_en)
        lines.append(Line(f"{name}: {contact}" if contact else name, Style.DETAIL))
    lines.append(Line(str(measure.apply_url), Style.LINK))
    rule = describe_rule(measure, t)
    if entry.deadline is not None:
        when = describe_deadline(entry.deadline, t, day)
        lines.append(Line(t("plan.view.deadline", text=when), Style.DETAIL))
        if rule:
            lines.append(Line(t("plan.view.deadline_rule", text=rule), Style.NOTE))
    elif rule:
        lines.append(Line(t("plan.view.deadline", text=rule), Style.DETAIL))
    return lines


def _amount(measure: Measure) -> tuple[str, str]:
    return measure.amount.text, measure.amount.text_en


def _contact(*parts: str | None) -> str:
    return ", ".join(p for p in parts if p)


def _asked_line(entry: AskedEntry, t: Translator, view: CatalogueView, zone: ZoneInfo) -> str:
    status = t(f"status.{entry.status}")
    if entry.kind is ReferralKind.CONSULTATION:
        found = view.consultations.get(entry.consultation_id or "")
        title = t.pick(found[1].title, found[1].title_en) if found else "—"
        when = entry.starts_at.astimezone(zone).strftime("%H:%M") if entry.starts_at else ""
        on = t.day(entry.starts_at.astimezone(zone).date()) if entry.starts_at else ""
        return t("plan.view.consultation", title=title, day=on, time=when, status=status)
    need = view.needs.get(entry.need_id)
    need_title = t.pick(need.title, need.title_en) if need is not None else entry.need_id
    return t(
        "plan.view.request",
        number=entry.number,
        need=need_title,
        status=status,
        day=t.day(entry.created_at.astimezone(zone).date()),
    )


def region_contacts(region: Region, t: Translator, view: CatalogueView) -> list[Line]:
    """Where the region's families turn: the ministry, then state bodies and hotlines with a
    phone (demo organisations are not real contacts and never printed)."""
    lines = []
    if region.ministry:
        ministry = region.ministry
        if region.ministry_url:
            ministry += f" — {region.ministry_url}"
        lines.append(Line(ministry, Style.DETAIL))
    bodies = [
        o
        for o in view.organizations_for_region(region.code)
        if not o.demo and o.kind in (OrgKind.STATE, OrgKind.HOTLINE) and o.contacts.phone
    ]
    bodies.sort(key=lambda o: o.kind is not OrgKind.STATE)  # state bodies first
    for org in bodies[:MAX_CONTACTS]:
        name = t.pick(org.name, org.name_en)
        lines.append(Line(f"{name}: {org.contacts.phone}", Style.DETAIL))
    return lines


def plan_lines(plan: FamilyPlan, t: Translator, view: CatalogueView) -> list[Line]:
    """The whole plan, top to bottom."""
    lines = [Line(t("plan.view.title"), Style.TITLE, "📋")]
    subtitle = t("plan.view.made_on", date=t.day(plan.made_on))
    if plan.region is not None:
        subtitle = f"{t.pick(plan.region.name, plan.region.name_en)} · {subtitle}"
    lines.append(Line(subtitle, Style.SUBTITLE))
    if not plan.entries:
        lines.append(Line(t("plan.view.no_measures"), Style.NOTE))
    for status in STATUS_ORDER:
        group = plan.by_status(status)
        if not group:
            continue
        heading = t(f"plan.status.{status.value}")
        lines.append(Line(heading, Style.HEADING, STATUS_ICONS[status]))
        for entry in group:
            lines.extend(entry_lines(entry, t, view, plan.made_on))
    if plan.asked:
        zone = ZoneInfo(plan.region.timezone if plan.region else "Europe/Moscow")
        lines.append(Line(t("plan.view.asked"), Style.HEADING, "🤝"))
        lines.extend(Line(_asked_line(a, t, view, zone), Style.ITEM) for a in plan.asked)
    if plan.region is not None:
        contacts = region_contacts(plan.region, t, view)
        if contacts:
            lines.append(Line(t("plan.view.contacts"), Style.HEADING, "📞"))
            lines.extend(contacts)
    lines.append(Line(t("plan.view.footer"), Style.NOTE))
    return lines
