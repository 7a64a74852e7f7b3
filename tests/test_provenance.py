"""Honest provenance: sources named for what they are, the check date on every card, a caution
when nobody checked a measure or did so more than 180 days ago, and the same rule in the
digest and the managers' monthly reminder. Also: a family nobody can help is told so, with
the region's official contacts, and a real organisation takes requests once it has capacity.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.local_chat import LocalChat
from core import manager_tools as tools
from core.catalogue import sheet as catalogue_sheet
from core.catalogue.edit import dump
from core.catalogue.schema import CheckState, Measure, Source, SourceKind
from core.clock import FrozenClock
from core.digest import build_digest
from db import models
from tests.referral_helpers import (
    Deliver,
    family_in,
    latest_referral,
    manager,
    request_help,
    staff,
)
from tests.test_discovery_chat import anonymous_in

CHECKED = "fed-unified-allowance-children"  # checked against an official source on 2026-11-28
UNCHECKED = "tam-newborn-5000"  # only a press report behind it
CHECK_DAY = dt.date(2026, 11, 28)
LATER = dt.datetime(2027, 6, 14, 9, 0, tzinfo=dt.UTC)  # both weeks below are over by then


def measure(app: App, measure_id: str) -> Measure:
    return app.catalogue.view.measures[measure_id]


# --- the rule ------------------------------------------------------------------------------


def test_a_check_goes_stale_after_exactly_180_days(app: App) -> None:
    checked = measure(app, CHECKED)
    assert checked.checked_on == CHECK_DAY
    day_180 = CHECK_DAY + dt.timedelta(days=180)
    assert checked.check_state(CHECK_DAY) is CheckState.FRESH
    assert checked.check_state(day_180) is CheckState.FRESH
    assert checked.check_state(day_180 + dt.timedelta(days=1)) is CheckState.STALE
    # On a day before the check it had not happened yet (a past week's digest).
    assert checked.check_state(CHECK_DAY - dt.timedelta(days=1)) is CheckState.UNCHECKED
    assert measure(app, UNCHECKED).check_state(CHECK_DAY) is CheckState.UNCHECKED


def test_old_files_keep_loading_and_verified_on_becomes_the_source_date(app: App) -> None:
    data = measure(app, UNCHECKED).model_dump(mode="json", exclude_none=True)
    for key in ("source_kind", "source_date", "checked_on", "more_sources"):
        data.pop(key, None)
    data["verified_on"] = "2025-03-01"
    old = Measure.model_validate(data)
    assert old.source_date == dt.date(2025, 3, 1)
    assert old.checked_on is None, "a publication date is never taken for a check"
    assert old.source_kind is SourceKind.OTHER
    assert old.sources == [Source(url=old.source_url, source_date=dt.date(2025, 3, 1))]


# --- cards ---------------------------------------------------------------------------------


async def test_card_names_each_source_for_what_it_is_and_shows_the_check(
    chat: LocalChat,
) -> None:
    anna = await anonymous_in(chat, 12_001, "Тамбовская область")
    card = (await anna.send(f"/start m-{CHECKED}"))[-1]
    assert "Источники:" in card.text
    assert ">Публикация в СМИ</a> от 30 декабря 2025" in card.text
    assert ">Официальная страница</a> от 19 декабря 2022" in card.text
    assert "✅ Сверено с официальным источником: 28 ноября 2026" in card.text
    assert "Не сверено" not in card.text and "Давно не проверялось" not in card.text
    assert "Публикация в СМИ ↗" in card.button_texts
    assert "Официальная страница ↗" not in card.button_texts, "its main source is the press"


async def test_an_unchecked_measure_carries_a_visible_caution(chat: LocalChat) -> None:
    anna = await anonymous_in(chat, 12_002, "Тамбовская область")
    card = (await anna.send(f"/start m-{UNCHECKED}"))[-1].text
    caution = "⚠️ <b>Не сверено с официальным источником.</b>"
    assert caution in card
    assert card.index(caution) < card.index("Сколько:"), "shown before the details"
    assert "Сверка с официальным источником: не проводилась" in card
    assert "Сверено с официальным" not in card


async def test_a_check_older_than_180_days_is_flagged_on_the_card(
    chat: LocalChat, clock: FrozenClock
) -> None:
    anna = await anonymous_in(chat, 12_003, "Тамбовская область")
    # START is 2026-11-28 12:00 in Tambov: 180 days later the check is still current.
    clock.advance(dt.timedelta(days=180))
    card = (await anna.send(f"/start m-{CHECKED}"))[-1].text
    assert "Давно не проверялось" not in card
    clock.advance(dt.timedelta(days=1))
    card = (await anna.send(f"/start m-{CHECKED}"))[-1].text
    assert (
        "⚠️ <b>Давно не проверялось:</b> последняя сверка с официальным источником — "
        "28 ноября 2026, больше 180 дней назад." in card
    )


# --- digest and the monthly reminder --------------------------------------------------------


async def test_digest_stale_list_follows_checked_on(app: App, session: AsyncSession) -> None:
    async def stale(week: str) -> list[str]:
        digest = await build_digest(
            session, region_code="RU-TAM", week=week, view=app.catalogue.view, now=LATER
        )
        result: list[str] = digest["catalogue"]["stale_measures"]
        return result

    own = {m.id for m in app.catalogue.view.measures_for_region("RU-TAM")}
    checked = {m for m in own if measure(app, m).checked_on == CHECK_DAY}
    assert CHECKED in checked and UNCHECKED not in checked
    # Week 2027-W20 ends on Monday 2027-05-24, 177 days after the check: nothing checked is
    # stale, every unchecked measure is. Week 2027-W21 ends 184 days after: all are stale.
    fresh_week = await stale("2027-W20")
    assert set(fresh_week) == own - checked
    assert UNCHECKED in fresh_week and CHECKED not in fresh_week
    stale_week = await stale("2027-W21")
    assert set(stale_week) == own
    assert "tam-regional-matcap" in checked, "the regional act was compared with its text"


async def test_monthly_reminder_tells_managers_which_measures_to_check(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver, clock: FrozenClock
) -> None:
    irina = await manager(app, chat, 12_101, "RU-TAM")
    queued = await tools.queue_measure_check_reminders(session, clock, app.catalogue.view)
    assert queued == 1, "one manager of one region; other regions have none"
    await deliver()
    own = [m for m in app.catalogue.view.measures_for_region("RU-TAM") if m.region == "RU-TAM"]
    unchecked = sorted(m.id for m in own if m.checked_on is None)
    text = irina.last_text
    assert text.startswith("🗓 Ежемесячная проверка каталога RU-TAM")
    assert f"Не сверены с официальным источником: {len(unchecked)}." in text
    assert "Сверены больше 180 дней назад: 0." in text
    assert UNCHECKED in text and "tam-regional-matcap" not in text
    assert "fed-" not in text, "federal measures are kept in the content files, not by managers"

    clock.advance(dt.timedelta(days=181))
    await tools.queue_measure_check_reminders(session, clock, app.catalogue.view)
    await deliver()
    assert "Сверены больше 180 дней назад: 1." in irina.last_text


# --- nobody can take a request ----------------------------------------------------------------


async def test_nobody_can_help_so_the_family_gets_official_contacts(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    irina = await manager(app, chat, 12_201, "RU-TAM")
    anna = await family_in(chat, 12_202, "Тамбовская область", "Тамбов", "г. Тамбов")
    # No volunteer has joined any organisation: nobody in the region can take it.
    await request_help(anna, "💸 Не хватает денег", "Не хватает на детские вещи")
    await deliver()
    referral = await latest_referral(session)
    assert referral.status == "unrouted"
    text = anna.last_text
    assert f"По заявке №{referral.id} (Не хватает денег) сейчас нет организации" in text
    assert "ТОГКУ «Центр социальной поддержки граждан»: 8 (4752) 78-60-60" in text
    assert "демо" not in text and "demo" not in text
    assert f"Заявка №{referral.id}" in irina.last_text and "нет организации" in irina.last_text


async def test_a_real_organisation_takes_requests_once_a_manager_sets_its_capacity(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    real = "tam-csp"
    assert app.catalogue.view.organizations[real].capacity == 0
    olga = await staff(app, chat, 12_301, real)
    anna = await family_in(chat, 12_302, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_help(anna, "💸 Не хватает денег", "Помогите оформить выплату")
    await deliver()
    assert (await latest_referral(session)).status == "unrouted", "capacity 0: no requests"

    async def set_capacity(capacity: int) -> None:
        async with app.session_factory() as db:
            await tools.update_organization(
                db,
                app.clock,
                org_id=real,
                region_code="RU-TAM",
                changes={"capacity": capacity},
                view=app.catalogue.view,
                user_id=None,
            )
        await app.catalogue.refresh()

    await set_capacity(3)
    try:
        await request_help(anna, "💸 Не хватает денег", "Помогите оформить выплату")
        await deliver()
        referral = await latest_referral(session)
        assert (referral.status, referral.organization_id) == ("offered", real)
        assert f"Новая заявка №{referral.id}" in olga.last_text
    finally:
        await set_capacity(0)
    row = await session.scalar(select(models.Organization).where(models.Organization.id == real))
    assert row is not None and row.capacity == 0


# --- the spreadsheet ---------------------------------------------------------------------------


async def test_spreadsheet_round_trip_keeps_sources_and_checks(
    app: App, session: AsyncSession
) -> None:
    from openpyxl import load_workbook

    data = await catalogue_sheet.export_region(session, "RU-NIZ")
    book = load_workbook(io.BytesIO(data))
    headers = [cell.value for cell in book["measures"][1]]
    for column in ("source_url", "source_kind", "source_date", "checked_on", "more_sources"):
        assert column in headers, column
    assert "verified_on" not in headers

    async def reimport(workbook_bytes: bytes) -> dict[str, dict[str, Any]]:
        ctx = await catalogue_sheet.import_context(
            session, region_code="RU-NIZ", view=app.catalogue.view, today=CHECK_DAY
        )
        plan = catalogue_sheet.validate(catalogue_sheet.read_file(workbook_bytes, "n.xlsx"), ctx)
        assert plan.problems == []
        return {key: entry.data for key, entry in plan.desired["measures"].items()}

    current = {m.id: m for m in app.catalogue.view.measures.values() if m.region == "RU-NIZ"}
    imported = await reimport(data)
    assert imported == {key: dump(m) for key, m in current.items()}
    osnova = imported["niz-osnova-family-capital"]
    assert osnova["checked_on"] == "2026-11-28" and osnova["source_kind"] == "official"
    assert [s["url"] for s in osnova["more_sources"]] == [
        "https://www.umfc-no.ru/services/387696/",
        "http://soc52.ru/index.php/srcn-pvz-news/47226-srcn-pvz-news-809",
    ]

    # A sheet exported before this change has `verified_on`: it is read as the source date.
    sheet = book["measures"]
    date_column = headers.index("source_date") + 1
    sheet.cell(row=1, column=date_column, value="verified_on")
    row = [c.value for c in sheet["A"]].index("niz-baby-goods-rental") + 1
    sheet.cell(row=row, column=date_column, value="01.03.2025")
    buffer = io.BytesIO()
    book.save(buffer)
    old = (await reimport(buffer.getvalue()))["niz-baby-goods-rental"]
    assert old["source_date"] == "2025-03-01" and "checked_on" not in old
