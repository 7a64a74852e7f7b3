"""Lost updates: another person's action lands between a transition's read and its write.

Each test runs the competing action (through the chat) at exactly that moment, by wrapping the
step the transition takes right after reading the referral. Every transition is a
compare-and-set on the referral's version, so the one that comes second changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.local_chat import ChatUser, LocalChat
from bot.scheduler import RecordingJobs
from core.clock import FrozenClock
from core.referrals import effects, transitions
from db import models
from tests.referral_helpers import (
    Deliver,
    actions,
    family_in,
    latest_referral,
    request_help,
    staff,
)

HOUR = dt.timedelta(hours=1)


def just_before(
    monkeypatch: pytest.MonkeyPatch,
    module: ModuleType,
    step: str,
    competitor: Callable[[], Awaitable[object]],
) -> list[bool]:
    """Run `competitor` once, right before the first call of `<module>.<step>`."""
    original = getattr(module, step)
    ran: list[bool] = []

    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not ran:
            ran.append(True)
            await competitor()
        return await original(*args, **kwargs)

    monkeypatch.setattr(module, step, wrapped)
    return ran


async def cancel_via_chat(family: ChatUser, number: int) -> None:
    await family.send("/my")
    await family.click(f"№{number}")
    await family.click("✖️ Отменить заявку")
    await family.click("Да, отменить")


async def offer_at_its_last_deadline(
    app: App, clock: FrozenClock, deliver: Deliver, session: AsyncSession, anna: ChatUser
) -> int:
    """A request offered to the first NGO, reminded once: the next SLA run hands it on."""
    jobs = app.jobs
    assert isinstance(jobs, RecordingJobs)
    await request_help(anna, "💬 Психологическая помощь")
    await deliver()
    number = (await latest_referral(session)).id
    clock.advance(24 * HOUR + dt.timedelta(minutes=1))
    await jobs.run_due(clock.now())
    await deliver()
    clock.advance(12 * HOUR)
    return number


async def test_an_accept_during_the_sla_run_wins_and_nothing_moves_on(
    app: App,
    chat: LocalChat,
    session: AsyncSession,
    deliver: Deliver,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jobs = app.jobs
    assert isinstance(jobs, RecordingJobs)
    olga = await staff(app, chat, 8101, "tam-opora-demo")
    pavel = await staff(app, chat, 8102, "tam-raduga-demo")
    anna = await family_in(chat, 8103, "Тамбовская область", "Тамбов", "г. Тамбов")
    number = await offer_at_its_last_deadline(app, clock, deliver, session, anna)
    assert "пока никто не взял" in olga.last_text

    ran = just_before(monkeypatch, effects, "compare_and_set", lambda: olga.click("✅ Принять"))
    await jobs.run_due(clock.now())
    await deliver()

    assert ran, "the accept ran inside the SLA step"
    referral = await latest_referral(session)
    assert (referral.status, referral.organization_id) == ("accepted", "tam-opora-demo")
    assert referral.assignee_user_id is not None
    assert not [m for m in pavel.messages if "Новая заявка" in m.text]
    assert not [m for m in olga.messages if "никто не взял вовремя" in m.text]
    assert "взяла в работу" in anna.last_text
    assert (await actions(session, number))[-1] == "accepted"
    assert jobs.jobs[f"sla:{number}"].when == clock.now() + dt.timedelta(hours=48)


async def test_a_cancel_during_the_sla_run_is_never_offered_to_the_next_ngo(
    app: App,
    chat: LocalChat,
    session: AsyncSession,
    deliver: Deliver,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jobs = app.jobs
    assert isinstance(jobs, RecordingJobs)
    olga = await staff(app, chat, 8201, "tam-opora-demo")
    pavel = await staff(app, chat, 8202, "tam-raduga-demo")
    anna = await family_in(chat, 8203, "Тамбовская область", "Тамбов", "г. Тамбов")
    number = await offer_at_its_last_deadline(app, clock, deliver, session, anna)

    ran = just_before(
        monkeypatch, effects, "compare_and_set", lambda: cancel_via_chat(anna, number)
    )
    await jobs.run_due(clock.now())
    await deliver()

    assert ran, "the cancel ran inside the SLA step"
    assert (await latest_referral(session)).status == "cancelled"
    assert not pavel.messages, "the cancelled request (and its phone) never reaches the next NGO"
    assert "отменила заявку" in olga.last_text
    assert (await actions(session, number))[-1] == "cancelled"
    assert "expired" not in await actions(session, number)


async def test_a_volunteers_first_message_does_not_revive_a_just_cancelled_request(
    app: App,
    chat: LocalChat,
    session: AsyncSession,
    deliver: Deliver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    olga = await staff(app, chat, 8301, "tam-opora-demo")
    anna = await family_in(chat, 8302, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_help(anna, "💬 Психологическая помощь")
    await deliver()
    number = (await latest_referral(session)).id
    await olga.click("✅ Принять")
    await deliver()
    await olga.click("✉️ Написать семье")

    ran = just_before(
        monkeypatch, transitions, "mark_contacted", lambda: cancel_via_chat(anna, number)
    )
    await olga.send("Здравствуйте! Когда удобно созвониться?")
    await deliver()

    assert ran, "the cancel ran between the relay's read and its write"
    said = [m.text for m in olga.messages]
    assert f"Переписка по заявке №{number} закрыта: заявка не в работе." in said
    assert not [text for text in said if "что-то пошло не так" in text], "no apology"
    assert (await latest_referral(session)).status == "cancelled"
    assert "contacted" not in await actions(session, number)
    assert not [m for m in anna.messages if "Когда удобно созвониться" in m.text]
    assert any("отменила заявку" in m.text for m in olga.messages)


async def test_a_relay_queued_before_a_cancel_is_not_delivered_after_it(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    olga = await staff(app, chat, 8401, "tam-opora-demo")
    anna = await family_in(chat, 8402, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_help(anna, "💬 Психологическая помощь")
    await deliver()
    number = (await latest_referral(session)).id
    await olga.click("✅ Принять")
    await deliver()
    await olga.click("✉️ Написать семье")
    await olga.send("Первое сообщение")
    await deliver()
    assert "Первое сообщение" in anna.last_text

    # Telegram is slow: the next message waits in the outbox while the family cancels.
    await olga.send("Второе сообщение")
    await olga.send_photo(caption="памятка")
    await cancel_via_chat(anna, number)
    await deliver()

    assert not [m for m in anna.messages if "Второе сообщение" in m.text]
    assert not [m for m in anna.messages if m.kind == "copy"]
    rows = list(
        await session.scalars(
            select(models.OutboxMessage)
            .where(
                models.OutboxMessage.referral_id == number,
                models.OutboxMessage.payload["kind"]
                .as_string()
                .in_(["relay.text", "relay.caption"]),
            )
            .order_by(models.OutboxMessage.id)
        )
    )
    assert [(r.status, r.last_error) for r in rows[1:]] == [
        ("failed", "referral cancelled before delivery")
    ] * 2
    assert all(not r.payload["params"].get("text") for r in rows), "relayed text not kept"
