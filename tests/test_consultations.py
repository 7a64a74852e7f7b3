"""Consultations: booking, a race for a slot, reminders, cancel, move, /slots, forged buttons."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from aiogram import Router
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import handlers
from bot.app import App
from bot.factory import create_bot, create_dispatcher
from bot.local_chat import ChatUser, LocalChat
from bot.local_session import LocalSession
from core import consultations, people
from core.clock import FrozenClock
from core.consultations.booking import BookingOutcome
from core.referrals.slot_release import REMINDER_KINDS
from db import models
from db.enums import Role
from handlers import consult
from handlers.consult import ConsultAction, ConsultCD, SlotsCD
from tests.conftest import START
from tests.referral_helpers import Deliver, actions, family_in, latest_referral, staff

ORG = "tam-opora-demo"
PSY = "tam-opora-psychologist"
PREGNANCY = "tam-opora-pregnancy-support"
MSK = ZoneInfo("Europe/Moscow")
# START is Saturday 28 Nov 2026, 12:00 in Moscow.
MON_14 = dt.datetime(2026, 11, 30, 14, 0, tzinfo=MSK).astimezone(dt.UTC)
MON_17 = dt.datetime(2026, 11, 30, 17, 0, tzinfo=MSK).astimezone(dt.UTC)
TUE_10 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=MSK).astimezone(dt.UTC)
NEED = "💬 Психологическая помощь"
TITLE = "Консультация психолога"


@pytest.fixture
def chat(app: App, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalChat]:
    """The real dispatcher, with the consultation router placed before the search routers
    (where handlers/__init__.py is to register it) unless it is wired there already."""
    original = handlers.get_routers

    def with_consult() -> list[Router]:
        routers = original()
        if any(router.name == consult.__name__ for router in routers):
            return routers
        at = next(i for i, router in enumerate(routers) if router.name == "handlers.search")
        routers.insert(at, consult.create_router())
        return routers

    monkeypatch.setattr(handlers, "get_routers", with_consult)
    local = LocalSession()
    bot = create_bot(app.settings, session=local)
    yield LocalChat(create_dispatcher(app), bot, local)


async def publish(app: App, consultation_id: str, *starts: dt.datetime) -> list[int]:
    org = app.catalogue.view.consultations[consultation_id][0].id
    async with app.session_factory() as session:
        await consultations.publish_slots(
            session,
            organization_id=org,
            consultation_id=consultation_id,
            starts=list(starts),
            now=app.clock.now(),
        )
        rows = await session.scalars(
            select(models.ConsultationSlot.id)
            .where(
                models.ConsultationSlot.consultation_id == consultation_id,
                models.ConsultationSlot.starts_at.in_(list(starts)),
            )
            .order_by(models.ConsultationSlot.starts_at)
        )
        return list(rows)


async def tambov_family(chat: LocalChat, messenger_id: int) -> ChatUser:
    return await family_in(chat, messenger_id, "Тамбовская область", "Тамбов", "г. Тамбов")


async def book_in_chat(person: ChatUser, time: str) -> None:
    await person.send("/consult")
    await person.click(NEED)
    await person.click(TITLE)
    await person.click(time)
    assert "Согласны передать запись" in person.last_text
    await person.click("✅ Да, записаться")


async def slot(session: AsyncSession, slot_id: int) -> models.ConsultationSlot:
    session.expire_all()
    row = await session.get(models.ConsultationSlot, slot_id)
    assert row is not None
    return row


async def pending_reminders(session: AsyncSession, referral_id: int) -> list[models.OutboxMessage]:
    rows = await session.scalars(
        select(models.OutboxMessage).where(
            models.OutboxMessage.referral_id == referral_id,
            models.OutboxMessage.status == "pending",
        )
    )
    return [row for row in rows if row.payload["kind"] in REMINDER_KINDS]


def reminders(person: ChatUser) -> list[str]:
    return [sent.text for sent in person.messages if sent.text.startswith("⏰")]


def last_alert(chat: LocalChat) -> str:
    return chat.session.answers[-1].text or ""


async def test_a_family_books_a_slot_that_goes_to_the_organisation(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    olga = await staff(app, chat, 7501, ORG)
    first, _ = await publish(app, PSY, MON_14, MON_17)
    anna = await tambov_family(chat, 7502)

    await anna.send("/consult")
    assert "Запись на консультацию" in anna.last_text
    assert NEED in anna.last_reply().button_texts
    assert "🗓 Мои записи" in anna.last_reply().button_texts
    await anna.click(NEED)
    assert TITLE in anna.last_text and "онлайн" in anna.last_text
    await anna.click(TITLE)
    assert anna.last_reply().button_texts[:2] == ["пн 30 ноя, 14:00", "пн 30 ноя, 17:00"]
    await anna.click("пн 30 ноя, 14:00")
    assert "Время: пн 30 ноя, 14:00" in anna.last_text
    await anna.click("✅ Да, записаться")

    referral = await latest_referral(session)
    number = referral.id
    assert anna.last_text.startswith(f"✅ Записаны: №{number}, пн 30 ноя, 14:00")
    assert (referral.kind, referral.status, referral.organization_id) == (
        "consultation",
        "offered",
        ORG,
    )
    assert referral.need_id == "psych_help"
    assert referral.consultation_slot_id == first
    assert referral.description and "пн 30 ноя, 14:00" in referral.description
    assert (await slot(session, first)).referral_id == number
    assert await actions(session, number) == ["created", "offered"]
    consent = await session.scalar(
        select(models.Consent).where(models.Consent.kind == "referral_transfer")
    )
    assert consent is not None

    await deliver()
    assert f"Запись на консультацию №{number}" in olga.last_text
    assert "Консультация психолога" in olga.last_text and "пн 30 ноя, 14:00" in olga.last_text

    boris = await tambov_family(chat, 7503)
    await boris.send("/consult")
    await boris.click(NEED)
    await boris.click(TITLE)
    times = boris.last_reply().button_texts
    assert "пн 30 ноя, 17:00" in times and "пн 30 ноя, 14:00" not in times


async def test_two_families_racing_for_one_slot_one_wins(
    app: App, chat: LocalChat, session: AsyncSession
) -> None:
    await staff(app, chat, 7511, ORG)
    slots = await publish(app, PSY, MON_14, MON_17, TUE_10)
    await tambov_family(chat, 7512)
    await tambov_family(chat, 7513)

    async def attempt(messenger_id: int, slot_id: int) -> consultations.Booking:
        async with app.session_factory() as own:
            family = await people.get_user(own, messenger_id)
            assert family is not None
            return await consultations.book(
                own,
                app.referral_context(),
                family=family,
                slot_id=slot_id,
                consent_version=app.privacy.version,
                texts=app.texts,
            )

    for slot_id in slots:
        results = await asyncio.gather(attempt(7512, slot_id), attempt(7513, slot_id))
        outcomes = sorted(result.outcome for result in results)
        assert outcomes == sorted([BookingOutcome.OK, BookingOutcome.TAKEN])
        winner = next(r for r in results if r.outcome is BookingOutcome.OK)
        assert (await slot(session, slot_id)).referral_id == winner.referral_id
        # Each family may hold one upcoming booking of a consultation: free them for the next.
        async with app.session_factory() as own:
            referral = await own.get(models.Referral, winner.referral_id)
            assert referral is not None and referral.family_user_id is not None
            family = await own.get(models.User, referral.family_user_id)
            assert family is not None
            cancelled = await consultations.cancel_booking(
                own, app.referral_context(), family=family, referral_id=referral.id
            )
            assert cancelled.outcome is BookingOutcome.OK
    count = await session.scalar(
        select(func.count())
        .select_from(models.Referral)
        .where(models.Referral.kind == "consultation")
    )
    assert count == len(slots)


async def test_reminders_a_day_and_an_hour_before_reach_both_sides_once(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver, clock: FrozenClock
) -> None:
    olga = await staff(app, chat, 7521, ORG)
    await publish(app, PSY, MON_14)
    anna = await tambov_family(chat, 7522)
    await book_in_chat(anna, "пн 30 ноя, 14:00")
    number = (await latest_referral(session)).id
    assert {row.not_before for row in await pending_reminders(session, number)} == {
        MON_14 - dt.timedelta(hours=24),
        MON_14 - dt.timedelta(hours=1),
    }
    await deliver()
    assert reminders(anna) == [] and reminders(olga) == []

    clock.advance(MON_14 - dt.timedelta(hours=24, minutes=1) - clock.now())
    await deliver()
    assert reminders(anna) == [] and reminders(olga) == []
    clock.advance(dt.timedelta(minutes=1))
    await deliver()
    await deliver()
    (family_day,) = reminders(anna)
    assert "завтра консультация «Консультация психолога»" in family_day
    assert "пн 30 ноя, 14:00" in family_day and f"№{number}" in family_day
    (staff_day,) = reminders(olga)
    assert f"по записи №{number}" in staff_day and "Завтра" in staff_day

    clock.advance(MON_14 - dt.timedelta(hours=1) - clock.now())
    await deliver()
    await deliver()
    assert len(reminders(anna)) == 2 and "Через час" in reminders(anna)[1]
    assert len(reminders(olga)) == 2 and "Через час" in reminders(olga)[1]
    assert await pending_reminders(session, number) == []


async def test_cancel_frees_the_slot_drops_reminders_and_tells_the_organisation(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver, clock: FrozenClock
) -> None:
    olga = await staff(app, chat, 7531, ORG)
    (first,) = await publish(app, PSY, MON_14)
    anna = await tambov_family(chat, 7532)
    await book_in_chat(anna, "пн 30 ноя, 14:00")
    number = (await latest_referral(session)).id
    await deliver()

    await anna.send("/consult")
    await anna.click("🗓 Мои записи")
    assert f"№{number} · пн 30 ноя, 14:00 · Консультация психолога" in anna.last_text
    await anna.click(f"✖️ Отменить №{number}")
    assert "Время освободится" in anna.last_text
    await anna.click("Да, отменить запись")
    assert f"Запись №{number} отменена" in anna.last_text

    referral = await latest_referral(session)
    assert referral.status == "cancelled"
    assert (await slot(session, first)).referral_id is None
    assert await pending_reminders(session, number) == []
    await deliver()
    assert f"Семья отменила заявку №{number}" in olga.last_text

    boris = await tambov_family(chat, 7533)
    await boris.send("/consult")
    await boris.click(NEED)
    await boris.click(TITLE)
    assert "пн 30 ноя, 14:00" in boris.last_reply().button_texts

    clock.advance(MON_14 - dt.timedelta(minutes=30) - clock.now())
    await deliver()
    assert reminders(anna) == [] and reminders(olga) == []


async def test_reschedule_moves_the_booking_and_its_reminders(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver, clock: FrozenClock
) -> None:
    olga = await staff(app, chat, 7541, ORG)
    first, _, third = await publish(app, PSY, MON_14, MON_17, TUE_10)
    anna = await tambov_family(chat, 7542)
    await book_in_chat(anna, "пн 30 ноя, 14:00")
    number = (await latest_referral(session)).id
    await deliver()

    await anna.send("/consult")
    await anna.click("🗓 Мои записи")
    await anna.click(f"🔁 Перенести №{number}")
    assert "пн 30 ноя, 14:00" not in anna.last_reply().button_texts
    await anna.click("вт 1 дек, 10:00")
    assert f"Запись №{number} перенесена на вт 1 дек, 10:00" in anna.last_text

    referral = await latest_referral(session)
    assert referral.status == "offered" and referral.consultation_slot_id == third
    assert referral.description and "вт 1 дек, 10:00" in referral.description
    assert (await slot(session, first)).referral_id is None
    assert (await slot(session, third)).referral_id == number
    assert await actions(session, number) == ["created", "offered", "details_added"]
    moved = await pending_reminders(session, number)
    assert len(moved) == 4  # family and Olga, a day and an hour before
    assert {row.not_before for row in moved} == {
        TUE_10 - dt.timedelta(hours=24),
        TUE_10 - dt.timedelta(hours=1),
    }
    await deliver()
    assert f"Семья перенесла запись №{number}" in olga.last_text
    assert "вт 1 дек, 10:00" in olga.last_text

    clock.advance(MON_14 - dt.timedelta(hours=24) - clock.now())
    await deliver()
    assert reminders(anna) == []
    clock.advance(TUE_10 - dt.timedelta(hours=24) - clock.now())
    await deliver()
    assert len(reminders(anna)) == 1 and "вт 1 дек, 10:00" in reminders(anna)[0]
    assert len(reminders(olga)) == 1


async def test_coordinator_publishes_slots_others_are_refused(
    app: App, chat: LocalChat, session: AsyncSession
) -> None:
    coordinator = await staff(app, chat, 7551, ORG, role=Role.COORDINATOR)
    volunteer = await staff(app, chat, 7552, ORG)
    other_coordinator = await staff(app, chat, 7553, "tam-raduga-demo", role=Role.COORDINATOR)
    anna = await tambov_family(chat, 7554)

    await coordinator.send("/slots")
    assert any(label.startswith(TITLE) for label in coordinator.last_reply().button_texts)
    await coordinator.click(TITLE)
    assert "по одному на строке" in coordinator.last_text
    await coordinator.send(
        "2026-12-01 15:00\n01.12 16:00\nзавтра в обед\n2026-11-01 10:00\n01.12 16:00"
    )
    assert "добавлено 2" in coordinator.last_text
    assert "пропущено (прошло или уже было) 2" in coordinator.last_text
    assert "Не понял строки:\nзавтра в обед" in coordinator.last_text

    async def published() -> list[dt.datetime]:
        session.expire_all()
        rows = await session.scalars(
            select(models.ConsultationSlot.starts_at)
            .where(models.ConsultationSlot.consultation_id == PSY)
            .order_by(models.ConsultationSlot.starts_at)
        )
        return list(rows)

    expected = [
        dt.datetime(2026, 12, 1, 15, 0, tzinfo=MSK).astimezone(dt.UTC),
        dt.datetime(2026, 12, 1, 16, 0, tzinfo=MSK).astimezone(dt.UTC),
    ]
    assert await published() == expected

    await coordinator.send("/slots")
    await coordinator.click(TITLE)
    assert "свободно 2, занято 0" in coordinator.last_text
    await coordinator.send("01.12 15:00")
    assert "добавлено 0" in coordinator.last_text
    assert await published() == expected

    await volunteer.send("/slots")
    assert "координаторы" in volunteer.last_text
    await anna.send("/slots")
    assert "координаторы" in anna.last_text
    # Forged pick buttons: a volunteer, a family and another organisation's coordinator.
    forged = SlotsCD(consultation=PSY).pack()
    for person in (volunteer, anna, other_coordinator):
        await person.send("/slots")
        await person.press(person.last_reply(), forged)
        assert "координаторы" in last_alert(chat)
        await person.send("01.12 18:00")
    assert await published() == expected


async def test_forged_and_stale_buttons_change_nothing(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    await staff(app, chat, 7561, ORG)
    first, second = await publish(app, PSY, MON_14, MON_17)
    (elsewhere,) = await publish(app, PREGNANCY, TUE_10)
    anna = await tambov_family(chat, 7562)
    boris = await tambov_family(chat, 7563)
    await book_in_chat(anna, "пн 30 ноя, 14:00")
    number = (await latest_referral(session)).id
    await boris.send("/consult")
    anchor = boris.last_reply()

    # Boris touches Anna's booking and her slot.
    for data in (
        ConsultCD(action=ConsultAction.CANCEL, number=number),
        ConsultCD(action=ConsultAction.CANCEL_CONFIRM, number=number),
        ConsultCD(action=ConsultAction.MOVE, number=number),
        ConsultCD(action=ConsultAction.MOVE_TO, number=number, slot=second),
    ):
        await boris.press(anchor, data.pack())
        assert "недоступна" in last_alert(chat)
    await boris.press(anchor, ConsultCD(action=ConsultAction.SLOT, slot=first).pack())
    assert "уже заняли" in last_alert(chat)
    await boris.press(anchor, ConsultCD(action=ConsultAction.BOOK, slot=first).pack())
    assert "уже заняли" in last_alert(chat)
    await boris.press(anchor, ConsultCD(action=ConsultAction.BOOK, slot=999_999).pack())
    assert "недоступна" in last_alert(chat)

    # Anna moves to a slot of another consultation, then to one Boris has just taken.
    await anna.press(
        anchor := anna.last_reply(),
        ConsultCD(action=ConsultAction.MOVE_TO, number=number, slot=elsewhere).pack(),
    )
    assert "недоступна" in last_alert(chat)
    await book_in_chat(boris, "пн 30 ноя, 17:00")
    await anna.press(
        anchor, ConsultCD(action=ConsultAction.MOVE_TO, number=number, slot=second).pack()
    )
    assert "уже заняли" in last_alert(chat)

    referral = await session.get(models.Referral, number, populate_existing=True)
    assert referral is not None
    assert referral.status == "offered" and referral.consultation_slot_id == first
    assert (await slot(session, first)).referral_id == number
    assert (await slot(session, elsewhere)).referral_id is None
    assert await actions(session, number) == ["created", "offered"]
    assert len(await pending_reminders(session, number)) == 4

    # A replayed cancel: the first one works, the second is refused.
    confirm = ConsultCD(action=ConsultAction.CANCEL_CONFIRM, number=number).pack()
    await anna.press(anchor, confirm)
    await anna.press(anchor, confirm)
    assert "недоступна" in last_alert(chat)
    assert await actions(session, number) == ["created", "offered", "cancelled"]


async def test_a_family_cannot_book_the_same_consultation_twice(
    app: App, chat: LocalChat, session: AsyncSession
) -> None:
    await staff(app, chat, 7571, ORG)
    _, second = await publish(app, PSY, MON_14, MON_17)
    anna = await tambov_family(chat, 7572)
    await book_in_chat(anna, "пн 30 ноя, 14:00")
    await anna.press(anna.last_reply(), ConsultCD(action=ConsultAction.BOOK, slot=second).pack())
    assert "уже есть запись" in last_alert(chat)
    assert (await slot(session, second)).referral_id is None


async def test_consult_needs_consent_and_shows_nothing_without_staffed_slots(
    app: App, chat: LocalChat
) -> None:
    stranger = chat.user(7581)
    await stranger.send("/consult")
    assert "согласие" in stranger.last_text
    assert "✅ Согласен(на)" in stranger.last_reply().button_texts

    await publish(app, PSY, MON_14)  # nobody from the organisation is in the bot yet
    anna = await tambov_family(chat, 7582)
    await anna.send("/consult")
    assert "нет свободного времени" in anna.last_text
    assert NEED not in anna.last_reply().button_texts


async def test_slots_are_paginated(app: App, chat: LocalChat) -> None:
    await staff(app, chat, 7591, ORG)
    starts = [MON_14 + dt.timedelta(hours=i) for i in range(10)]
    await publish(app, PSY, *starts)
    anna = await tambov_family(chat, 7592)
    await anna.send("/consult")
    await anna.click(NEED)
    await anna.click(TITLE)
    first_page = anna.last_reply().button_texts
    assert first_page[0] == "пн 30 ноя, 14:00" and "Позже ›" in first_page
    await anna.click("Позже ›")
    second_page = anna.last_reply().button_texts
    assert second_page[:2] == ["пн 30 ноя, 22:00", "пн 30 ноя, 23:00"]
    assert "‹ Раньше" in second_page and "Позже ›" not in second_page


async def test_demo_slots_are_seeded_on_working_days_once(app: App, session: AsyncSession) -> None:
    view = app.catalogue.view
    added = await consultations.seed_demo_slots(session, view, START)
    demo = [cid for cid, (org, _) in view.consultations.items() if org.demo]
    assert demo and added == len(demo) * 10 * 3
    assert await consultations.seed_demo_slots(session, view, START) == 0
    rows = list(await session.scalars(select(models.ConsultationSlot)))
    local = [row.starts_at.astimezone(MSK) for row in rows]
    assert {moment.weekday() for moment in local} <= {0, 1, 2, 3, 4}
    assert {moment.strftime("%H:%M") for moment in local} == {"10:00", "14:00", "17:00"}
    assert min(local).date() == dt.date(2026, 11, 30)
    assert max(local).date() == dt.date(2026, 12, 11)


def test_times_are_read_in_the_region_timezone() -> None:
    now = dt.datetime(2026, 12, 20, 9, 0, tzinfo=dt.UTC)
    found, bad = consultations.parse_times(
        "2026-12-21 15:00\n05.01 10:30\n21.12.2026 9:00\n31.02 10:00\nзавтра\n\n", MSK, now
    )
    assert found == [
        dt.datetime(2026, 12, 21, 12, 0, tzinfo=dt.UTC),
        dt.datetime(2027, 1, 5, 7, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 21, 6, 0, tzinfo=dt.UTC),
    ]
    assert bad == ["31.02 10:00", "завтра"]


async def test_the_family_hears_of_an_accepted_booking_before_the_reminders(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    """Reminders wait in the outbox for days; other messages to the same chats must not."""
    olga = await staff(app, chat, 7601, ORG)
    await publish(app, PSY, MON_14)
    anna = await tambov_family(chat, 7602)
    await book_in_chat(anna, "пн 30 ноя, 14:00")
    number = (await latest_referral(session)).id
    await deliver()
    await olga.click("✅ Принять")
    await deliver()
    assert f"заявку №{number} взяла в работу" in anna.last_text


async def test_a_declined_booking_frees_the_time_and_asks_for_another(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    olga = await staff(app, chat, 7591, ORG)
    (first,) = await publish(app, PSY, MON_14)
    anna = await tambov_family(chat, 7592)
    await book_in_chat(anna, "пн 30 ноя, 14:00")
    number = (await latest_referral(session)).id
    await deliver()
    await olga.click("✖️ Отказаться")
    await olga.click("Нет возможности сейчас")
    await deliver()
    referral = await latest_referral(session)
    assert (referral.status, referral.organization_id) == ("cancelled", ORG), "not re-routed"
    assert (await slot(session, first)).referral_id is None
    assert await pending_reminders(session, number) == []
    assert "выберите, пожалуйста, другое время: /consult" in anna.last_text


async def test_cancelling_a_booking_from_my_requests_frees_the_slot(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    await staff(app, chat, 7593, ORG)
    (first,) = await publish(app, PSY, MON_14)
    anna = await tambov_family(chat, 7594)
    await book_in_chat(anna, "пн 30 ноя, 14:00")
    number = (await latest_referral(session)).id
    await anna.send("/my")
    await anna.click(f"№{number}")
    await anna.click("✖️ Отменить заявку")
    await anna.click("Да, отменить")
    assert (await slot(session, first)).referral_id is None
    assert await pending_reminders(session, number) == []
