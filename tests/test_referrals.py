"""Closed-loop referrals played through the chat by a family and volunteers of two NGOs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.local_chat import LocalChat
from bot.scheduler import RecordingJobs
from bot.sla import SlaTimers
from core.clock import FrozenClock
from db import models
from tests.referral_helpers import (
    Deliver,
    actions,
    family_in,
    latest_referral,
    manager,
    request_help,
    staff,
)


async def test_full_journey_decline_reoffer_accept_relay_resolve_confirm(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    olga = await staff(app, chat, 7001, "tam-opora-demo")
    pavel = await staff(app, chat, 7002, "tam-raduga-demo")
    anna = await family_in(chat, 7100, "Тамбовская область", "Тамбов", "г. Тамбов")

    await request_help(anna, "💬 Психологическая помощь")
    await deliver()
    referral = await latest_referral(session)
    number = referral.id
    assert referral.status == "offered" and referral.organization_id == "tam-opora-demo"
    assert f"Заявка №{number} принята" in anna.messages[-2].text
    assert "передана организации" in anna.last_text
    offer = olga.last_reply()
    assert f"Новая заявка №{number}" in offer.text
    assert "Нужна поддержка психолога" in offer.text
    assert offer.button_texts == ["✅ Принять", "✖️ Отказаться"]
    assert not pavel.messages, "one organisation at a time"

    await olga.click("✖️ Отказаться")
    await olga.click("Нет возможности сейчас")
    assert "Отказ по заявке" in olga.last_text
    await deliver()
    referral = await latest_referral(session)
    assert referral.organization_id == "tam-raduga-demo"
    assert f"Новая заявка №{number}" in pavel.last_text

    await pavel.click("✅ Принять")
    assert f"Заявка №{number} ваша" in pavel.messages[-2].text
    await deliver()
    assert "взяла в работу" in anna.last_text

    await pavel.click("✉️ Написать семье")
    await pavel.send("Здравствуйте! Когда вам удобно созвониться?")
    assert pavel.last_text == f"✓ Передано (заявка №{number})"
    await deliver()
    assert "Волонтёр · заявка №" in anna.last_text
    assert "Когда вам удобно созвониться?" in anna.last_text
    assert "Ольга" not in anna.last_text and "7002" not in anna.last_text
    assert (await latest_referral(session)).status == "in_progress"

    await anna.click("↩️ Ответить")
    await anna.send("Завтра после 18:00")
    await anna.send_photo(caption="справка")
    await deliver()
    assert "Завтра после 18:00" in pavel.messages[-2].text
    copy = pavel.last_reply()
    assert copy.kind == "copy" and "Семья · заявка №" in copy.text

    await pavel.send("/inbox")
    await pavel.click(f"№{number}")
    await pavel.click("✔️ Решено")
    await deliver()
    assert "Удалось ли получить помощь?" in anna.last_text
    await anna.click("Да")
    await anna.click("⭐⭐⭐⭐⭐")
    await anna.send("Очень помогли, спасибо")
    assert f"Заявка №{number} закрыта" in anna.last_text
    await deliver()
    assert "Семья ответила" in pavel.last_text

    referral = await latest_referral(session)
    assert referral.status == "closed"
    assert await actions(session, number) == [
        "created",
        "offered",
        "declined",
        "offered",
        "accepted",
        "contacted",
        "resolved",
        "confirmed",
    ]
    feedback = await session.scalar(
        select(models.Feedback).where(models.Feedback.referral_id == number)
    )
    assert feedback is not None
    assert (feedback.got_help, feedback.rating, feedback.comment) == (
        "yes",
        5,
        "Очень помогли, спасибо",
    )
    relayed = list(
        await session.scalars(
            select(models.RelayMessage.direction).where(models.RelayMessage.referral_id == number)
        )
    )
    assert relayed == ["from_volunteer", "from_family", "from_family"]
    outbox = list(await session.scalars(select(models.OutboxMessage)))
    assert all(row.status == "sent" for row in outbox)
    assert all(
        not row.payload["params"].get("text")
        for row in outbox
        if row.method == "notify" and row.payload["kind"] == "relay.text"
    ), "relayed texts are not kept"


async def test_forged_and_replayed_buttons_change_nothing(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    olga = await staff(app, chat, 7201, "tam-opora-demo")
    stranger = await staff(app, chat, 7202, "tam-bolshaya-semya-demo")
    anna = await family_in(chat, 7203, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_help(anna, "💬 Психологическая помощь")
    await deliver()
    number = (await latest_referral(session)).id
    offer = olga.last_reply()

    await stranger.send("/inbox")
    await stranger.press(offer, f"st:a:{number}:")  # accept someone else's offer
    await stranger.press(offer, f"st:dr:{number}:other")  # decline it
    await anna.press(offer, f"st:a:{number}:")  # the family itself
    await anna.press(offer, f"st:r:{number}:")
    referral = await latest_referral(session)
    assert referral.status == "offered" and referral.organization_id == "tam-opora-demo"
    assert await actions(session, number) == ["created", "offered"]

    await olga.click("✅ Принять")
    await olga.press(offer, f"st:a:{number}:")  # a replay of the same button
    assert chat.session.answers[-1].text and "уже взял" in chat.session.answers[-1].text
    assert await actions(session, number) == ["created", "offered", "accepted"]

    await stranger.press(offer, f"rl:{number}")  # try to join the relay
    assert "недоступна" in (chat.session.answers[-1].text or "")


async def test_no_organisation_means_unrouted_and_the_manager_is_told(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    irina = await manager(app, chat, 7301, "RU-TAM")
    anna = await family_in(chat, 7302, "Тамбовская область", "Тамбов", "г. Тамбов")
    # Nobody has joined any organisation, so nobody can take it.
    await request_help(anna, "💬 Психологическая помощь")
    await deliver()
    referral = await latest_referral(session)
    assert referral.status == "unrouted"
    assert "передали менеджеру" in anna.last_text
    assert f"Заявка №{referral.id}" in irina.last_text and "нет организации" in irina.last_text


async def test_sla_reminder_then_reoffer_then_manager(
    app: App,
    chat: LocalChat,
    session: AsyncSession,
    deliver: Deliver,
    clock: FrozenClock,
) -> None:
    jobs = app.jobs
    assert isinstance(jobs, RecordingJobs)
    olga = await staff(app, chat, 7401, "tam-opora-demo")
    pavel = await staff(app, chat, 7402, "tam-raduga-demo")
    irina = await manager(app, chat, 7403, "RU-TAM")
    anna = await family_in(chat, 7404, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_help(anna, "💬 Психологическая помощь")
    await deliver()
    number = (await latest_referral(session)).id
    assert f"sla:{number}" in jobs.jobs

    clock.advance(dt.timedelta(hours=23))
    assert await jobs.run_due(clock.now()) == 0
    clock.advance(dt.timedelta(hours=1, minutes=1))
    await jobs.run_due(clock.now())
    await deliver()
    assert "пока никто не взял" in olga.last_text
    clock.advance(dt.timedelta(hours=12))
    await jobs.run_due(clock.now())
    await deliver()
    assert "никто не взял вовремя" in olga.last_text
    assert f"Новая заявка №{number}" in pavel.last_text
    assert (await latest_referral(session)).organization_id == "tam-raduga-demo"

    clock.advance(dt.timedelta(hours=25))
    await jobs.run_due(clock.now())
    clock.advance(dt.timedelta(hours=13))
    await jobs.run_due(clock.now())
    await deliver()
    assert (await latest_referral(session)).status == "unrouted"
    assert "нет организации" in irina.last_text
    assert await actions(session, number) == [
        "created",
        "offered",
        "sla_breach",
        "expired",
        "offered",
        "sla_breach",
        "expired",
        "unrouted",
    ]


async def test_timers_are_rebuilt_from_the_database_after_a_restart(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver, clock: FrozenClock
) -> None:
    jobs = app.jobs
    assert isinstance(jobs, RecordingJobs)
    await staff(app, chat, 7501, "tam-opora-demo")
    anna = await family_in(chat, 7502, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_help(anna, "💬 Психологическая помощь")
    number = (await latest_referral(session)).id
    jobs.jobs.clear()  # the process died: every in-memory timer is gone
    assert isinstance(app.timers, SlaTimers)
    rebuilt = await app.timers.rebuild()
    assert rebuilt >= 1
    assert jobs.jobs[f"sla:{number}"].when == clock.now() + dt.timedelta(hours=24)


async def test_paused_volunteer_gets_no_offers(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    olga = await staff(app, chat, 7601, "tam-opora-demo")
    pavel = await staff(app, chat, 7602, "tam-raduga-demo")
    await olga.send("/pause")
    assert "Пауза включена" in olga.last_text
    anna = await family_in(chat, 7603, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_help(anna, "💬 Психологическая помощь")
    await deliver()
    assert (await latest_referral(session)).organization_id == "tam-raduga-demo"
    assert not [m for m in olga.messages if "Новая заявка" in m.text]
    assert "Новая заявка" in pavel.last_text
    await olga.send("/pause")
    assert "Пауза выключена" in olga.last_text


async def test_family_cancels_and_the_organisation_is_told(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    olga = await staff(app, chat, 7701, "tam-opora-demo")
    anna = await family_in(chat, 7702, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_help(anna, "💬 Психологическая помощь", description=None)
    await deliver()
    number = (await latest_referral(session)).id
    await anna.send("/my")
    assert f"№{number}" in anna.last_text
    await anna.click(f"№{number}")
    await anna.click("➕ Добавить подробности")
    await anna.send("Ребёнку 7 лет, плохо спит")
    assert "Добавил к заявке" in anna.last_text
    await deliver()
    assert "Ребёнку 7 лет" in olga.last_text
    await anna.send("/my")
    await anna.click(f"№{number}")
    await anna.click("✖️ Отменить заявку")
    await anna.click("Да, отменить")
    await deliver()
    assert (await latest_referral(session)).status == "cancelled"
    assert "отменила заявку" in olga.last_text
    assert "отменена" in anna.last_text


async def test_request_needs_consent_and_warns_about_sensitive_data(chat: LocalChat) -> None:
    boris = chat.user(7801)
    await boris.send("/request")
    assert "нужно согласие" in boris.last_text
    anna = await family_in(chat, 7802, "Тамбовская область", "Тамбов", "г. Тамбов")
    await anna.send("/request")
    await anna.click("💬 Психологическая помощь")
    await anna.click("📍")
    assert "не пишите диагнозы" in anna.last_text
    await anna.send("а" * 1600)
    assert "уложитесь" in anna.last_text
    await anna.send_photo()
    assert "опишите словами" in anna.last_text


async def test_phone_only_by_explicit_choice_and_only_after_accept(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    olga = await staff(app, chat, 7901, "tam-opora-demo")
    anna = await family_in(chat, 7902, "Тамбовская область", "Тамбов", "г. Тамбов")
    await anna.send("/request")
    await anna.click("💬 Психологическая помощь")
    await anna.click("📍")
    await anna.click("Пропустить")
    await anna.click("📞 Дать номер")
    await anna.send("позвоните мне")
    assert "Не похоже на номер" in anna.last_text
    await anna.send_contact("+79001234567")
    assert "и номер телефона" in anna.last_text
    await anna.click("✅ Да, передать")
    await deliver()
    assert "+7900" not in olga.last_text, "the offer does not show the phone"
    await olga.click("✅ Принять")
    assert "+79001234567" in olga.last_text


async def test_ask_for_help_from_a_card_preselects_its_need(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    await staff(app, chat, 7951, "tam-kolybel-demo")
    anna = await family_in(chat, 7952, "Тамбовская область", "Кирсанов", "г. Кирсанов")
    await anna.send("/start m-fed-unified-allowance-pregnancy")
    await anna.click("🙋 Попросить помощи")
    assert "Где вы живёте?" in anna.last_text, "the need comes from the card"
    await anna.click("📍")
    await anna.click("Пропустить")
    await anna.click("💬 Через бота")
    assert "Тема: Беременность" in anna.last_text
    await anna.click("✅ Да, передать")
    referral = await latest_referral(session)
    assert (referral.need_id, referral.measure_id) == (
        "pregnancy",
        "fed-unified-allowance-pregnancy",
    )
    assert referral.organization_id == "tam-kolybel-demo"


async def test_two_concurrent_accepts_one_wins(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    """The accept is a compare-and-set: on PostgreSQL the two run truly in parallel."""
    import asyncio

    from core import people, referrals
    from core.referrals.context import Outcome

    await staff(app, chat, 7961, "tam-opora-demo")
    await staff(app, chat, 7962, "tam-opora-demo")
    anna = await family_in(chat, 7963, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_help(anna, "💬 Психологическая помощь")
    number = (await latest_referral(session)).id

    async def accept(messenger_id: int) -> Outcome:
        async with app.session_factory() as own:
            volunteer = await people.get_user(own, messenger_id)
            assert volunteer is not None
            return await referrals.accept(
                own, app.referral_context(), referral_id=number, volunteer=volunteer
            )

    outcomes = await asyncio.gather(accept(7961), accept(7962))
    assert sorted(outcomes) == sorted([Outcome.OK, Outcome.TAKEN])
    assert (await actions(session, number)).count("accepted") == 1
    await deliver()
    taken = [m for m in anna.messages if "взяла в работу" in m.text]
    assert len(taken) == 1, "the family hears about it once"


async def test_a_family_reports_a_gap_for_the_digest(
    chat: LocalChat, session: AsyncSession
) -> None:
    anna = await family_in(chat, 7971, "Тамбовская область", "Тамбов", "г. Тамбов")
    await anna.send("/my")
    await anna.click("📣 Сообщить о проблеме")
    await anna.click("🏫 Детский сад и школа")
    await anna.send("Третий месяц не можем попасть в садик")
    assert "где поддержки не хватает" in anna.last_text
    gap = await session.scalar(select(models.Feedback).where(models.Feedback.kind == "gap"))
    assert gap is not None
    assert (gap.need_id, gap.region_code, gap.comment) == (
        "education",
        "RU-TAM",
        "Третий месяц не можем попасть в садик",
    )
    boris = chat.user(7972)  # anonymous: counted, but no text is kept
    await boris.send("/my")
    await boris.click("📣 Сообщить о проблеме")
    await boris.click("🏫 Детский сад и школа")
    await boris.send("Личная история")
    rows = list(
        await session.scalars(select(models.Feedback).where(models.Feedback.kind == "gap"))
    )
    assert len(rows) == 2 and rows[1].comment is None and rows[1].user_id is None


async def test_response_record_counts_only_the_latest_offers(
    app: App, session: AsyncSession, clock: FrozenClock
) -> None:
    from core.referrals.routing import RESPONSE_WINDOW, response_records

    orgs = [org.id for org in app.catalogue.view.organizations_for_region("RU-TAM")][:2]
    now = clock.now()
    referral = models.Referral(
        kind="help",
        region_code="RU-TAM",
        need_id="crisis",
        status="closed",
        created_at=now,
        updated_at=now,
    )
    session.add(referral)
    await session.flush()
    # The first organisation declined long ago and accepts everything lately.
    outcomes = ["declined"] * 150 + ["accepted"] * RESPONSE_WINDOW
    session.add_all(
        models.ReferralOffer(
            referral_id=referral.id, organization_id=orgs[0], offered_at=now, outcome=outcome
        )
        for outcome in outcomes
    )
    session.add(
        models.ReferralOffer(
            referral_id=referral.id, organization_id=orgs[1], offered_at=now, outcome="declined"
        )
    )
    await session.commit()
    assert await response_records(session, orgs) == {
        orgs[0]: (RESPONSE_WINDOW, RESPONSE_WINDOW),
        orgs[1]: (1, 0),
    }
    assert await response_records(session, []) == {}
