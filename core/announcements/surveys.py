"""Surveys: a question with a few options sent to an audience, one answer per family, and
the results a manager reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox
from core.announcements.audience import Audience, recipients
from core.catalogue.active import CatalogueView
from core.clock import Clock
from db import models
from db.models.manager import Survey, SurveyAnswer

SURVEY = "manager_tools.survey"


QUESTION_LIMIT = 300
OPTION_LIMIT = 60
MIN_OPTIONS, MAX_OPTIONS = 2, 6


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
            chat_id=person.messenger_id,
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
