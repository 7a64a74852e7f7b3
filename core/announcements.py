"""News to families: the news opt-in, broadcasts and surveys, all delivered through the outbox.

Only families who agreed to receive news (an unrevoked `news` consent) are ever chosen; the
outbox worker keeps Telegram's limits. A broadcast's messages are outbox rows tagged with its
id, so its progress and final report (sent, blocked, failed) are counted from those rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox
from core.catalogue.active import CatalogueView
from core.clock import Clock
from core.screener import child_ages
from core.texts import in_language
from db import models
from db.enums import Channel, ConsentKind, OutboxStatus
from db.models.manager import Broadcast, Survey, SurveyAnswer

NEWS_VERSION = "1"
BROADCAST = "manager_tools.broadcast"
BROADCAST_MEASURE = "manager_tools.broadcast_measure"
BROADCAST_REPORT = "manager_tools.broadcast_report"
SURVEY = "manager_tools.survey"
TEXT_LIMIT = 3500
QUESTION_LIMIT = 300
OPTION_LIMIT = 60
MIN_OPTIONS, MAX_OPTIONS = 2, 6
SENDING, DONE = "sending", "done"
FORBIDDEN_PREFIX = "TelegramForbiddenError"


# --- the news opt-in -----------------------------------------------------------------------


async def news_subscribed(session: AsyncSession, user_id: int) -> bool:
    found = await session.scalar(
        select(models.Consent.id).where(
            models.Consent.user_id == user_id,
            models.Consent.kind == ConsentKind.NEWS,
            models.Consent.revoked_at.is_(None),
        )
    )
    return found is not None


async def set_news(session: AsyncSession, clock: Clock, user_id: int, subscribe: bool) -> None:
    """Grant (a new consent row) or revoke (stamp the open ones); both keep the history."""
    if subscribe:
        if not await news_subscribed(session, user_id):
            session.add(
                models.Consent(
                    user_id=user_id,
                    kind=ConsentKind.NEWS,
                    version=NEWS_VERSION,
                    granted_at=clock.now(),
                )
            )
    else:
        await session.execute(
            update(models.Consent)
            .where(
                models.Consent.user_id == user_id,
                models.Consent.kind == ConsentKind.NEWS,
                models.Consent.revoked_at.is_(None),
            )
            .values(revoked_at=clock.now())
        )
    await session.commit()


# --- who receives --------------------------------------------------------------------------


@dataclass(frozen=True)
class Audience:
    region: str
    need_id: str | None = None
    municipality_id: str | None = None


@dataclass(frozen=True)
class Recipient:
    user_id: int
    telegram_id: int
    language: str
    unreachable: bool
    channel: str = Channel.TELEGRAM


def needs_from_profile(data: Mapping[str, Any], per_capita: float | None = None) -> set[str]:
    """Needs a saved screener profile implies (the family did not have to name them)."""
    needs: set[str] = set()
    children = [c for c in data.get("children") or [] if isinstance(c, dict)]
    ages = child_ages(data)
    if data.get("pregnant"):
        needs.add("pregnancy")
    if any(age < 1 for age in ages):
        needs.add("newborn")
    if any(age < 3 for age in ages):
        needs.add("child_0_3")
    if any(3 <= age < 18 for age in ages):
        needs.add("child_3_17")
    if len(children) >= 3:
        needs.add("large_family")
    if any(c.get("disabled") for c in children):
        needs.add("disabled_child")
    if data.get("student"):
        needs.add("student_parent")
    if data.get("single_parent"):
        needs.add("single_parent")
    if data.get("has_mortgage"):
        needs.add("housing")
    if data.get("employed") is False:
        needs.add("parent_employment")
    income = data.get("income_per_person")
    if per_capita and income is not None and float(income) < per_capita:
        needs.add("low_income")
    span = data.get("income_range_pm")  # a button's range in ПМ: below 1 ПМ is low income
    if isinstance(span, list) and len(span) == 2 and span[1] is not None and span[1] <= 1:
        needs.add("low_income")
    return needs


async def recipients(
    session: AsyncSession, view: CatalogueView, audience: Audience, *, only: int | None = None
) -> list[Recipient]:
    """Families of the region with personal-data consent and an open news consent.

    A need filter matches a family that asked for help with that need or whose saved profile
    implies it. Families known to have blocked the bot are included (flagged), so a report can
    count them. `only` (a user id) asks whether that one family is in the audience.
    """
    U = models.User
    news = exists().where(
        models.Consent.user_id == U.id,
        models.Consent.kind == ConsentKind.NEWS,
        models.Consent.revoked_at.is_(None),
    )
    query = (
        select(
            U.id, U.telegram_id, U.language, U.unreachable, models.FamilyProfile.data, U.channel
        )
        .outerjoin(models.FamilyProfile, models.FamilyProfile.user_id == U.id)
        .where(U.region_code == audience.region, U.consent_version.is_not(None), news)
        .order_by(U.id)
    )
    if audience.municipality_id:
        query = query.where(U.municipality_id == audience.municipality_id)
    if only is not None:
        query = query.where(U.id == only)
    rows = (await session.execute(query)).all()
    if not audience.need_id:
        return [Recipient(uid, tg, lang, bool(flag), ch) for uid, tg, lang, flag, _, ch in rows]
    asked = set(
        await session.scalars(
            select(models.Referral.family_user_id)
            .where(
                models.Referral.region_code == audience.region,
                models.Referral.need_id == audience.need_id,
                models.Referral.family_user_id.is_not(None),
            )
            .distinct()
        )
    )
    region = view.regions.get(audience.region)
    per_capita = region.subsistence_minimum.per_capita if region else None
    return [
        Recipient(uid, tg, lang, bool(flag), ch)
        for uid, tg, lang, flag, profile, ch in rows
        if uid in asked
        or (profile is not None and audience.need_id in needs_from_profile(profile, per_capita))
    ]


@dataclass(frozen=True)
class AudienceSize:
    reachable: int
    blocked: int


async def audience_size(
    session: AsyncSession, view: CatalogueView, audience: Audience
) -> AudienceSize:
    found = await recipients(session, view, audience)
    blocked = sum(1 for r in found if r.unreachable)
    return AudienceSize(len(found) - blocked, blocked)


# --- broadcasts ----------------------------------------------------------------------------


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
                chat_id=person.telegram_id,
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


# --- surveys -------------------------------------------------------------------------------


async def create_survey(
    session: AsyncSession,
    clock: Clock,
    *,
    view: CatalogueView,
    audience: Audience,
    question: str,
    options: Sequence[str],
    created_by_user_id: int | None,
) -> Survey:
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        raise ValueError("a survey has 2 to 6 options")
    survey = Survey(
        region_code=audience.region,
        created_by_user_id=created_by_user_id,
        created_at=clock.now(),
        question=question,
        options=list(options),
        need_id=audience.need_id,
        municipality_id=audience.municipality_id,
        recipients=0,
    )
    session.add(survey)
    await session.flush()
    count = 0
    for person in await recipients(session, view, audience):
        if person.unreachable:
            continue
        outbox.notify(
            session,
            clock,
            chat_id=person.telegram_id,
            channel=person.channel,
            lang=person.language,
            kind=SURVEY,
            params={"survey": survey.id, "question": question, "options": list(options)},
        )
        count += 1
    survey.recipients = count
    await session.commit()
    return survey


class AnswerOutcome(StrEnum):
    SAVED = "saved"
    CHANGED = "changed"
    CLOSED = "closed"
    FORBIDDEN = "forbidden"


async def answer_survey(
    session: AsyncSession,
    clock: Clock,
    *,
    view: CatalogueView,
    survey_id: int,
    option: int,
    user: models.User,
) -> AnswerOutcome:
    """One answer per family: answering again replaces the earlier choice.

    Only a family of the survey's audience (region, municipality and need filters, news
    consent) that was there when it was sent may answer: a forged button counts nothing.
    """
    survey = await session.get(Survey, survey_id)
    if (
        survey is None
        or user.consent_version is None
        or user.region_code != survey.region_code
        or not 0 <= option < len(survey.options)
        or user.created_at > survey.created_at
    ):
        return AnswerOutcome.FORBIDDEN
    audience = Audience(survey.region_code, survey.need_id, survey.municipality_id)
    if not await recipients(session, view, audience, only=user.id):
        return AnswerOutcome.FORBIDDEN
    if survey.closed_at is not None:
        return AnswerOutcome.CLOSED
    user_id, now = user.id, clock.now()
    existing = await session.scalar(
        select(SurveyAnswer).where(
            SurveyAnswer.survey_id == survey_id, SurveyAnswer.user_id == user_id
        )
    )
    if existing is None:
        session.add(
            SurveyAnswer(survey_id=survey_id, user_id=user_id, option=option, answered_at=now)
        )
        try:
            await session.commit()
            return AnswerOutcome.SAVED
        except IntegrityError:
            # The same family pressed twice at once: the other press inserted; update it.
            await session.rollback()
    await session.execute(
        update(SurveyAnswer)
        .where(SurveyAnswer.survey_id == survey_id, SurveyAnswer.user_id == user_id)
        .values(option=option, answered_at=now)
    )
    await session.commit()
    return AnswerOutcome.CHANGED


async def close_survey(session: AsyncSession, clock: Clock, survey_id: int) -> None:
    await session.execute(
        update(Survey)
        .where(Survey.id == survey_id, Survey.closed_at.is_(None))
        .values(closed_at=clock.now())
    )
    await session.commit()


@dataclass(frozen=True)
class SurveyResult:
    id: int
    region: str
    question: str
    options: list[tuple[str, int]]
    answers: int
    recipients: int
    created_at: dt.datetime
    closed: bool


async def survey_result(
    session: AsyncSession, survey: Survey, until: dt.datetime | None = None
) -> SurveyResult:
    query = (
        select(SurveyAnswer.option, func.count())
        .where(SurveyAnswer.survey_id == survey.id)
        .group_by(SurveyAnswer.option)
    )
    if until is not None:
        query = query.where(SurveyAnswer.answered_at < until)
    counts = dict((await session.execute(query)).all())
    options = [(text, int(counts.get(i, 0))) for i, text in enumerate(survey.options)]
    return SurveyResult(
        id=survey.id,
        region=survey.region_code,
        question=survey.question,
        options=options,
        answers=sum(count for _, count in options),
        recipients=survey.recipients,
        created_at=survey.created_at,
        closed=survey.closed_at is not None,
    )


async def region_surveys(session: AsyncSession, region_code: str, limit: int = 10) -> list[Survey]:
    return list(
        await session.scalars(
            select(Survey)
            .where(Survey.region_code == region_code)
            .order_by(Survey.id.desc())
            .limit(limit)
        )
    )


async def survey_results(
    session: AsyncSession, region_code: str, week_start: dt.datetime, week_end: dt.datetime
) -> list[dict[str, Any]]:
    """For the weekly digest: the region's surveys sent or answered in [week_start, week_end).

    Option counts are every answer given before `week_end` (a family's latest choice);
    `answers_in_week` counts the answers given (or changed) within the week.
    """
    in_week = exists().where(
        SurveyAnswer.survey_id == Survey.id,
        SurveyAnswer.answered_at >= week_start,
        SurveyAnswer.answered_at < week_end,
    )
    surveys = await session.scalars(
        select(Survey)
        .where(
            Survey.region_code == region_code,
            Survey.created_at < week_end,
            (Survey.created_at >= week_start) | in_week,
        )
        .order_by(Survey.id)
    )
    out = []
    for survey in surveys:
        result = await survey_result(session, survey, until=week_end)
        answered_in_week = await session.scalar(
            select(func.count()).where(
                SurveyAnswer.survey_id == survey.id,
                SurveyAnswer.answered_at >= week_start,
                SurveyAnswer.answered_at < week_end,
            )
        )
        out.append(
            {
                "id": survey.id,
                "question": survey.question,
                "created_at": survey.created_at.isoformat(),
                "recipients": survey.recipients,
                "answers": result.answers,
                "answers_in_week": int(answered_in_week or 0),
                "options": [
                    {"option": index, "text": text, "count": count}
                    for index, (text, count) in enumerate(result.options)
                ],
            }
        )
    return out
