"""The plan's rules on a real database: one row per measure even when two presses race, the
size limit, the checklist closed for settled statuses, the screener's split."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from core import people, plan
from core.plan import marks
from core.plan.marks import PlanOutcome, split_results
from core.screener import MeasureVerdict, Verdict
from db import models
from db.enums import PlanStatus, Role


async def consented(app: App, session: AsyncSession, messenger_id: int) -> models.User:
    return await people.give_consent(
        session, app.clock, messenger_id=messenger_id, language="ru", version="1"
    )


async def test_two_presses_at_once_make_one_row(app: App, session: AsyncSession) -> None:
    """On PostgreSQL both presses find no row and insert: the unique key turns the second
    into an update (SQLite serialises the two before that)."""
    user = await consented(app, session, 5301)
    view = app.catalogue.view

    async def press(status: PlanStatus) -> PlanOutcome:
        async with app.session_factory() as own:
            fresh = await people.get_user(own, user.messenger_id)
            change = await plan.set_status(own, app.clock, fresh, view, "fed-matcap", status)
            return change.outcome

    outcomes = await asyncio.gather(press(PlanStatus.PLANNED), press(PlanStatus.APPLIED))
    assert list(outcomes) == [PlanOutcome.OK, PlanOutcome.OK]
    rows = list(await session.scalars(select(models.PlanItem)))
    assert len(rows) == 1 and rows[0].status in {"planned", "applied"}


async def test_a_plan_has_a_size_limit(
    app: App, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(marks, "MAX_ITEMS", 2)
    user = await consented(app, session, 5302)
    view = app.catalogue.view
    for measure in ("fed-matcap", "fed-birth-grant"):
        change = await plan.set_status(session, app.clock, user, view, measure, PlanStatus.PLANNED)
        assert change.outcome is PlanOutcome.OK
    third = await plan.set_status(
        session, app.clock, user, view, "fed-childcare-allowance", PlanStatus.PLANNED
    )
    assert third.outcome is PlanOutcome.FULL
    # Changing a mark already in the plan is not adding one.
    again = await plan.set_status(
        session, app.clock, user, view, "fed-matcap", PlanStatus.RECEIVING
    )
    assert again.outcome is PlanOutcome.OK
    count = await session.scalar(select(func.count()).select_from(models.PlanItem))
    assert count == 2


async def test_documents_are_ticked_only_while_the_measure_is_in_progress(
    app: App, session: AsyncSession
) -> None:
    user = await consented(app, session, 5303)
    view = app.catalogue.view
    await plan.set_status(session, app.clock, user, view, "fed-birth-grant", PlanStatus.PLANNED)
    ticked = await plan.toggle_document(session, user, view, "fed-birth-grant", 1)
    assert ticked.outcome is PlanOutcome.OK and ticked.item is not None
    assert ticked.item.documents_done == ["1"]
    await plan.set_status(session, app.clock, user, view, "fed-birth-grant", PlanStatus.REFUSED)
    closed = await plan.toggle_document(session, user, view, "fed-birth-grant", 0)
    assert closed.outcome is PlanOutcome.CLOSED
    assert closed.item is not None and closed.item.documents_done == ["1"], "ticks are kept"


async def test_nothing_is_stored_without_consent(app: App, session: AsyncSession) -> None:
    view = app.catalogue.view
    change = await plan.set_status(
        session, app.clock, None, view, "fed-matcap", PlanStatus.PLANNED
    )
    assert change.outcome is PlanOutcome.NO_CONSENT
    # A staff member has a users row but never gave the family consent: no plan either.
    await people.grant_role(
        session, app.clock, messenger_id=5304, role=Role.MANAGER, region_code="RU-TAM"
    )
    staff = await people.get_user(session, 5304)
    assert staff is not None and staff.consent_version is None
    refused = await plan.set_status(
        session, app.clock, staff, view, "fed-matcap", PlanStatus.PLANNED
    )
    assert refused.outcome is PlanOutcome.NO_CONSENT
    assert await session.scalar(select(func.count()).select_from(models.PlanItem)) == 0
    assert await plan.statuses(session, None) == {}


def test_the_screener_split_takes_out_only_what_the_family_receives() -> None:
    def verdict(measure_id: str, kind: Verdict) -> MeasureVerdict:
        return MeasureVerdict(measure_id, kind, ())

    verdicts = [
        verdict("a", Verdict.ELIGIBLE),
        verdict("b", Verdict.MAYBE),
        verdict("c", Verdict.NOT_ELIGIBLE),
        verdict("d", Verdict.MAYBE),
    ]
    marks = {
        "b": PlanStatus.RECEIVING,
        "c": PlanStatus.RECEIVING,  # kept from before the rules changed: still "yours"
        "d": PlanStatus.PLANNED,
    }
    split = split_results(verdicts, marks)
    assert [v.measure_id for v in split.offered] == ["a", "d"]
    assert split.receiving == ["b", "c"]
