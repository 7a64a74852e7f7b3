"""Reminders through the chat: the opt-in, the daily job for chosen days (each reminder once, in
the region's daytime, none without consent or after /forget), muting one kind, stopping all."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiogram.methods import SendDocument
from aiogram.types import BufferedInputFile
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.local_chat import ChatUser, LocalChat
from bot.reminders_job import run_reminders
from core import people
from core.clock import FrozenClock
from core.reminders.kinds import ReminderKind
from db import models
from db.enums import Channel, ConsentKind, OutboxStatus, PlanStatus
from handlers.reminders import RemindAction, RemindCD
from tests.channel_sessions import two_messengers, worker_for
from tests.test_discovery_chat import consented_in

Deliver = Callable[[], Awaitable[int]]
MSK = dt.timezone(dt.timedelta(hours=3))
TURN_ON = "🔔 Включить напоминания"
MUTE = "🔕 Не напоминать об этом"
STOP = "Отключить все напоминания"
UNMUTE = "🔔 Снова напоминать обо всём"
# A child born in June 2025 turns 1.5 in December 2026: the reminder's window opens a month
# before (1 November), and START (28 November 2026) is in it.
BABY = {"as_of": "2026-11-28", "children": [{"birth_date": "2025-06"}], "employed": True}


async def family(
    chat: LocalChat,
    session: AsyncSession,
    clock: FrozenClock,
    messenger_id: int,
    profile: dict[str, Any] | None,
    *,
    region: str = "Тамбовская область",
    reminders: bool = True,
) -> ChatUser:
    person = await consented_in(chat, messenger_id, region)
    user = await people.get_user(session, messenger_id)
    assert user is not None
    if profile is not None:
        session.add(models.FamilyProfile(user_id=user.id, data=profile, updated_at=clock.now()))
        await session.commit()
    if reminders:
        await person.send("/reminders")
        await person.click(TURN_ON)
    return person


async def sent_rows(session: AsyncSession) -> list[models.ReminderSent]:
    session.expire_all()
    return list(
        await session.scalars(select(models.ReminderSent).order_by(models.ReminderSent.id))
    )


async def queued(session: AsyncSession, chat_id: int) -> list[models.OutboxMessage]:
    session.expire_all()
    rows = await session.scalars(
        select(models.OutboxMessage)
        .where(models.OutboxMessage.chat_id == chat_id)
        .order_by(models.OutboxMessage.id)
    )
    return [row for row in rows if str(row.payload["kind"]).startswith("reminder.")]


def last_document(chat: LocalChat) -> bytes:
    for method in reversed(chat.session.requests):
        if isinstance(method, SendDocument) and isinstance(method.document, BufferedInputFile):
            return method.document.data
    raise AssertionError("no document was sent")


def reminders_seen(person: ChatUser) -> list[str]:
    """The reminders the person got: every one carries the mute button."""
    return [m.text for m in person.messages if MUTE in m.button_texts]


async def test_saving_a_profile_offers_reminders_apart_from_the_data_consent(
    chat: LocalChat, session: AsyncSession
) -> None:
    anna = await consented_in(chat, 4101, "Тамбовская область")
    await anna.send("/find")
    await anna.click("Нет")  # pregnant
    await anna.click("1")  # one child
    await anna.send("06.2025")  # born in June 2025: a month the reminders can use
    replies = await anna.click("Хватит, покажите результат")
    texts = [r.text for r in replies]
    assert "Ответы сохранены в профиле." in texts
    offer = next(r for r in replies if r.text.startswith("🔔 Напомнить вам о важных датах?"))
    assert offer.button_texts == ["🔔 Да, напоминать", "Не нужно"]
    user = await people.get_user(session, 4101)
    assert user is not None
    kinds = set(await session.scalars(select(models.Consent.kind)))
    assert ConsentKind.REMINDERS not in kinds, "nothing before the family says yes"

    await anna.click("🔔 Да, напоминать")
    assert offer.text.startswith("🔔 Напоминания включены."), "the offer turns into the status"
    assert offer.button_texts == ["🔕 Отключить напоминания"]
    consents = list(await session.scalars(select(models.Consent).order_by(models.Consent.id)))
    assert [(c.kind, c.revoked_at) for c in consents] == [
        (ConsentKind.PERSONAL_DATA, None),
        (ConsentKind.REMINDERS, None),
    ]
    # /profile shows the way in; the profile is saved again: no second offer.
    await anna.send("/profile")
    assert "🔔 Напоминания" in anna.last_reply().button_texts
    await anna.click("🔔 Напоминания")
    assert anna.last_text.startswith("🔔 Напоминания включены.")
    await anna.send("/find")
    replies = await anna.click("Хватит, покажите результат")
    assert not [r for r in replies if r.text.startswith("🔔 Напомнить")]


async def test_declining_the_offer_stores_nothing(chat: LocalChat, session: AsyncSession) -> None:
    boris = await consented_in(chat, 4102, "Тамбовская область")
    await boris.send("/find")
    await boris.click("Хватит, покажите результат")
    offer, _ = boris.find_button("Не нужно")
    await boris.click("Не нужно")
    assert offer.text == "Хорошо, без напоминаний. Если передумаете — /reminders."
    reminder_consents = await session.scalar(
        select(func.count()).where(models.Consent.kind == ConsentKind.REMINDERS)
    )
    assert reminder_consents == 0


async def test_without_the_data_consent_there_are_no_reminders(chat: LocalChat) -> None:
    visitor = chat.user(4103)
    await visitor.send("/start")
    await visitor.click("Смотреть анонимно")
    await visitor.send("/reminders")
    assert "нужно согласие на обработку данных" in visitor.last_text
    # A forged "turn on" from someone without an account changes nothing and says why.
    sent = visitor.last_reply()
    assert sent.message is not None
    await visitor.press(sent, RemindCD(action=RemindAction.ON).pack())
    assert "нужно согласие" in (chat.session.answers[-1].text or "")


async def test_the_job_sends_a_due_reminder_once_in_daytime(
    app: App, chat: LocalChat, session: AsyncSession, clock: FrozenClock, deliver: Deliver
) -> None:
    anna = await family(chat, session, clock, 4110, BABY)
    # The job runs early in the morning: the reminder waits for 10:00 in Tambov (Moscow time).
    clock._now = dt.datetime(2026, 11, 30, 5, 0, tzinfo=MSK)
    first = await run_reminders(app)
    again = await run_reminders(app)
    assert (first.queued, again.queued) == (1, 0)
    [row] = await sent_rows(session)
    assert (row.key, row.kind, row.measure_id, row.region_code) == (
        "child_1_5:2025-06",
        ReminderKind.CHILD_1_5,
        "fed-unified-allowance-children",
        "RU-TAM",
    )
    [message] = await queued(session, anna.id)
    assert message.not_before == dt.datetime(2026, 11, 30, 10, 0, tzinfo=MSK)
    assert await deliver() == 0, "not at 05:00"
    clock._now = dt.datetime(2026, 11, 30, 10, 0, tzinfo=MSK)
    await deliver()
    assert reminders_seen(anna) == [
        "🔔 Ребёнку исполнится полтора года — до конца декабря 2026. Пособие по уходу за "
        "ребёнком до 1,5 лет на этом закончится. Проверьте, не положено ли вам единое пособие "
        "на детей: его назначают, если доход на человека в семье ниже прожиточного минимума."
    ]
    assert anna.last_reply().button_texts == ["📌 Единое пособие на детей", MUTE, STOP]
    # Days later, still in the window: nothing again.
    clock._now = dt.datetime(2026, 12, 20, 12, 0, tzinfo=MSK)
    assert (await run_reminders(app)).queued == 0
    await deliver()
    assert len(reminders_seen(anna)) == 1


async def test_an_evening_run_waits_for_the_next_morning(
    app: App, chat: LocalChat, session: AsyncSession, clock: FrozenClock
) -> None:
    anna = await family(chat, session, clock, 4111, BABY)
    clock._now = dt.datetime(2026, 12, 1, 21, 30, tzinfo=MSK)
    await run_reminders(app)
    [message] = await queued(session, anna.id)
    assert message.not_before == dt.datetime(2026, 12, 2, 10, 0, tzinfo=MSK)


async def test_no_reminders_without_their_consent_or_after_stopping(
    app: App, chat: LocalChat, session: AsyncSession, clock: FrozenClock, deliver: Deliver
) -> None:
    quiet = await family(chat, session, clock, 4120, BABY, reminders=False)
    stopped = await family(chat, session, clock, 4121, BABY)
    await stopped.send("/reminders")
    await stopped.click("🔕 Отключить напоминания")
    assert stopped.last_text.startswith("🔕 Напоминания выключены.")
    report = await run_reminders(app, dt.date(2026, 11, 28))
    assert (report.families, report.queued) == (0, 0)
    await deliver()
    assert reminders_seen(quiet) == [] and reminders_seen(stopped) == []
    assert await sent_rows(session) == []


async def test_forget_erases_reminders_and_none_come_after(
    app: App, chat: LocalChat, session: AsyncSession, clock: FrozenClock, deliver: Deliver
) -> None:
    anna = await family(chat, session, clock, 4125, BABY)
    await run_reminders(app, dt.date(2026, 11, 28))
    user = await people.get_user(session, 4125)
    assert user is not None
    session.add(models.ReminderMute(user_id=user.id, kind="child_3", muted_at=clock.now()))
    await session.commit()
    await anna.send("/mydata")
    exported = json.loads(last_document(chat))
    assert exported["reminders"]["sent"][0]["reminder"] == "child_1_5:2025-06"
    assert exported["reminders"]["muted"] == ["child_3"]
    await anna.send("/forget")
    await anna.click("Да, удалить")
    assert await sent_rows(session) == []
    assert await queued(session, anna.id) == []
    mutes = await session.scalar(select(func.count()).select_from(models.ReminderMute))
    assert mutes == 0
    kinds = set(await session.scalars(select(models.ErasureRecord.consent_kind)))
    assert ConsentKind.REMINDERS in kinds, "the withdrawn consent is recorded like the others"
    # The next days find nobody to remind.
    report = await run_reminders(app, dt.date(2026, 12, 5))
    assert report.families == 0
    await deliver()
    assert reminders_seen(anna) == []


async def test_mute_one_kind_then_stop_all(
    app: App, chat: LocalChat, session: AsyncSession, clock: FrozenClock, deliver: Deliver
) -> None:
    # Two children: one turns 1.5 now, the other turns 3 in December 2026 too.
    twins: dict[str, Any] = {
        "as_of": "2026-11-28",
        "children": [{"birth_date": "2025-06-10"}, {"birth_date": "2023-12"}],
        "employed": True,
    }
    anna = await family(chat, session, clock, 4130, twins)
    clock._now = dt.datetime(2026, 11, 28, 12, 0, tzinfo=MSK)
    assert (await run_reminders(app)).queued == 2
    await deliver()
    seen = reminders_seen(anna)
    assert seen[0].startswith("🔔 Ребёнку исполнится полтора года — 10 декабря 2026.")
    assert seen[1].startswith("🔔 Ребёнку исполнится три года — до конца декабря 2026.")
    sent, data = anna.find_button(MUTE)  # under the newest: «three years»
    await anna.press(sent, data)
    assert chat.session.answers[-1].text == (
        "Хорошо, больше не напомню: три года ребёнку. Остальные напоминания остаются — /reminders."
    )
    await anna.send("/reminders")
    assert "Вы попросили не напоминать: три года ребёнку." in anna.last_text
    assert anna.last_reply().button_texts == [UNMUTE, "🔕 Отключить напоминания"]

    # A third child's third birthday later: muted. Its 1.5 is not.
    session.expire_all()
    profile = await session.scalar(select(models.FamilyProfile))
    assert profile is not None
    profile.data = {**twins, "children": [*twins["children"], {"birth_date": "2024-07-01"}]}
    await session.commit()
    clock._now = dt.datetime(2027, 6, 15, 12, 0, tzinfo=MSK)
    await run_reminders(app)
    kinds = [row.kind for row in await sent_rows(session)]
    assert kinds.count(ReminderKind.CHILD_3) == 1

    # «Отключить все напоминания» under a reminder: revoked, and the job skips the family.
    await deliver()
    replies = await anna.click(STOP)
    assert replies[-1].text.startswith("🔕 Напоминания выключены.")
    assert replies[-1].button_texts == [TURN_ON]
    revoked = await session.scalar(
        select(models.Consent.revoked_at).where(models.Consent.kind == ConsentKind.REMINDERS)
    )
    assert revoked is not None
    clock._now = dt.datetime(2027, 12, 1, 12, 0, tzinfo=MSK)
    assert (await run_reminders(app)).families == 0
    # Turning them on again forgets the mutes.
    await anna.click(TURN_ON)
    mutes = await session.scalar(select(func.count()).select_from(models.ReminderMute))
    assert mutes == 0


async def test_a_forged_mute_button_is_answered_and_changes_nothing(
    chat: LocalChat, session: AsyncSession, clock: FrozenClock
) -> None:
    anna = await family(chat, session, clock, 4135, BABY)
    sent = anna.last_reply()
    await anna.press(sent, RemindCD(action=RemindAction.MUTE, kind="everything").pack())
    assert chat.session.answers[-1].text == "Эта кнопка устарела."
    await anna.press(sent, "rmd:bogus:x")
    mutes = await session.scalar(select(func.count()).select_from(models.ReminderMute))
    assert mutes == 0


async def test_pregnancy_renewal_and_family_tax_on_their_days(
    app: App, chat: LocalChat, session: AsyncSession, clock: FrozenClock, deliver: Deliver
) -> None:
    # 10 weeks on 28 November: week 12 is reached on 12 December.
    expecting = {"as_of": "2026-11-28", "pregnant": True, "pregnancy_weeks": 10}
    pregnant = await family(chat, session, clock, 4140, expecting)
    # The same term, but an income over 2 ПМ: the allowance is ruled out, no reminder.
    well_off = {**expecting, "income_range_pm": [2, None]}
    await family(chat, session, clock, 4142, well_off)
    # Two school children, a working parent, income under 1.5 ПМ: the family tax payment fits.
    tax_family = {
        "as_of": "2026-11-28",
        "children": [{"birth_date": "2015-03"}, {"birth_date": "2017-09"}],
        "employed": True,
        "citizen": True,
        "income_range_pm": [1, 1.5],
    }
    parent = await family(chat, session, clock, 4141, tax_family)
    user = await people.get_user(session, 4141)
    assert user is not None
    # «получаем» the unified allowance since 15 January 2026: renew in its 11th month.
    session.add(
        models.PlanItem(
            user_id=user.id,
            measure_id="fed-unified-allowance-children",
            status=PlanStatus.RECEIVING,
            created_at=dt.datetime(2026, 1, 15, 9, tzinfo=dt.UTC),
            status_at=dt.datetime(2026, 1, 15, 9, tzinfo=dt.UTC),
            documents_done=[],
        )
    )
    await session.commit()

    days = {
        dt.date(2026, 12, 11): [],
        dt.date(2026, 12, 12): [(4140, "pregnancy_12w")],
        dt.date(2026, 12, 13): [],
        dt.date(2027, 5, 31): [],
        dt.date(2027, 6, 1): [(4141, "family_tax")],
        dt.date(2027, 9, 30): [],
    }
    # Renewal: 15 November – 14 December 2026 is the 11th month; the run on 11 December sends.
    days[dt.date(2026, 12, 11)] = [(4141, "unified_renewal")]
    pregnant_user = await people.get_user(session, 4140)
    assert pregnant_user is not None
    well_off_user = await people.get_user(session, 4142)
    assert well_off_user is not None
    tg = {user.id: 4141, pregnant_user.id: 4140, well_off_user.id: 4142}
    for day, expected in days.items():
        clock._now = dt.datetime.combine(day, dt.time(12), MSK)
        before = len(await sent_rows(session))
        await run_reminders(app, day)
        rows = (await sent_rows(session))[before:]
        assert [(tg[row.user_id], row.kind) for row in rows] == expected, day
    await deliver()
    assert reminders_seen(pregnant)[0].startswith("🔔 Срок беременности — больше 12 недель.")
    texts = reminders_seen(parent)
    assert texts[0].startswith(
        "🔔 Единое пособие назначают на 12 месяцев, этот срок заканчивается около 15 января 2027."
    )
    assert texts[1].startswith(
        "🔔 До 1 октября 2027 принимают заявления на ежегодную семейную выплату"
    )


async def test_a_child_given_only_a_birth_year_gets_no_age_reminder_and_is_told_why(
    app: App, chat: LocalChat, session: AsyncSession, clock: FrozenClock
) -> None:
    anna = await family(chat, session, clock, 4150, {"children": [{"birth_date": "2025"}]})
    assert "без месяца рождения я не знаю, когда это наступит" in anna.last_text
    for day in (dt.date(2026, 6, 15), dt.date(2026, 12, 15), dt.date(2028, 6, 15)):
        clock._now = dt.datetime.combine(day, dt.time(12), MSK)
        await run_reminders(app, day)
    assert await sent_rows(session) == []


async def test_delivered_reminders_are_not_left_pending(
    app: App, chat: LocalChat, session: AsyncSession, clock: FrozenClock, deliver: Deliver
) -> None:
    anna = await family(chat, session, clock, 4160, BABY)
    await run_reminders(app, dt.date(2026, 11, 28))
    await deliver()
    [row] = await queued(session, anna.id)
    assert row.status == OutboxStatus.SENT


async def test_the_last_month_before_a_plan_deadline(
    app: App, chat: LocalChat, session: AsyncSession, clock: FrozenClock, deliver: Deliver
) -> None:
    # Born 15 August 2026: the birth grant is applied for within 6 months, by 15 February 2027.
    newborn = {"as_of": "2026-11-28", "children": [{"birth_date": "2026-08-15"}]}
    anna = await family(chat, session, clock, 4170, newborn)
    boris = await family(chat, session, clock, 4171, newborn)
    for messenger_id, status in ((4170, PlanStatus.PLANNED), (4171, PlanStatus.APPLIED)):
        user = await people.get_user(session, messenger_id)
        assert user is not None
        session.add(
            models.PlanItem(
                user_id=user.id,
                measure_id="fed-birth-grant",
                status=status,
                created_at=clock.now(),
                status_at=clock.now(),
                documents_done=[],
            )
        )
    await session.commit()
    for day in (dt.date(2027, 1, 15), dt.date(2027, 1, 16), dt.date(2027, 2, 15)):
        clock._now = dt.datetime.combine(day, dt.time(12), MSK)
        await run_reminders(app, day)
        await deliver()
        if day == dt.date(2027, 1, 15):
            assert reminders_seen(anna) == [], "more than a month is left"
    assert reminders_seen(anna) == [
        "🔔 В вашем плане «Единовременное пособие при рождении ребёнка»: заявление нужно "
        "подать до 15 февраля 2027. Остался месяц или меньше."
    ]
    assert anna.last_reply().button_texts[0].startswith("📌 Единовременное пособие")
    assert reminders_seen(boris) == [], "already applied: nothing to remind"


async def test_digest_counts_reminders_acted_on_plans_and_refusals(
    app: App, chat: LocalChat, session: AsyncSession, clock: FrozenClock
) -> None:
    from core.digest import build_digest, render_text

    # Monday 30 November 2026 (week 2026-W49): Anna is reminded, then plans the measure.
    clock._now = dt.datetime(2026, 11, 30, 12, 0, tzinfo=MSK)
    anna = await family(chat, session, clock, 4180, BABY)
    await family(chat, session, clock, 4181, {**BABY, "children": [{"birth_date": "2025-05"}]})
    assert (await run_reminders(app)).queued == 2
    marked = dt.datetime(2026, 12, 2, 12, 0, tzinfo=MSK)
    places = {4180: "tam-kotovsk", 4181: "tam-kotovsk", 4182: "tam-kotovsk", 4183: "tam-kirsanov"}
    for messenger_id in (4182, 4183):
        await family(chat, session, clock, messenger_id, None, reminders=False)
    for messenger_id, municipality in places.items():
        user = await people.get_user(session, messenger_id)
        assert user is not None
        user.municipality_id = municipality
        plan = [("tam-social-nanny", PlanStatus.REFUSED)]
        if messenger_id == anna.id:
            plan.append(("fed-unified-allowance-children", PlanStatus.PLANNED))
        for measure_id, status in plan:
            session.add(
                models.PlanItem(
                    user_id=user.id,
                    measure_id=measure_id,
                    status=status,
                    created_at=marked,
                    status_at=marked,
                    documents_done=[],
                )
            )
    await session.commit()

    digest = await build_digest(
        session, region_code="RU-TAM", week="2026-W49", view=app.catalogue.view, now=clock.now()
    )
    assert digest["plans"] == {
        "reminders_sent": 2,
        "reminders_acted_on": 1,
        "reminders_by_kind": {"child_1_5": 2},
        "most_planned": [
            {"id": "tam-social-nanny", "count": 4},
            {"id": "fed-unified-allowance-children", "count": 1},
        ],
        "most_refused": [{"id": "tam-social-nanny", "count": 4}],
        "refused_by_municipality": [
            {"municipality": "tam-kotovsk", "count": 3},
            {"municipality": "tam-kirsanov", "count": "<3"},
        ],
    }
    text = render_text(digest, app.texts.get("ru"), app.catalogue.view)
    assert "Напоминаний отправлено: 2, после них семьи отметили шаг в плане: 1" in text
    assert "   – Социальная няня: 4" in text
    # The week before has none of it.
    earlier = await build_digest(
        session, region_code="RU-TAM", week="2026-W48", view=app.catalogue.view, now=clock.now()
    )
    assert earlier["plans"]["reminders_sent"] == 0
    assert earlier["plans"]["most_refused"] == []


async def test_the_registry_runs_the_job_daily_for_today_in_moscow(
    app: App, chat: LocalChat, session: AsyncSession, clock: FrozenClock
) -> None:
    from bot.jobs import JobContext, job_named, schedule_all
    from bot.reminders_job import JOB_ID
    from bot.scheduler import RecordingJobs

    jobs = RecordingJobs()
    replica = dataclasses.replace(app, jobs=jobs)
    job = job_named("reminders")
    assert job is not None
    schedule_all(JobContext(replica), [job])
    assert jobs.jobs[JOB_ID].cron == {"timezone": "Europe/Moscow", "hour": 8}
    await family(chat, session, clock, 4190, BABY)
    # 23:30 UTC on 30 November is already 1 December in Moscow: that day's run.
    clock._now = dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC)
    await jobs.run(JOB_ID)
    [row] = await sent_rows(session)
    assert row.sent_at == clock.now()
    [message] = await queued(session, 4190)
    assert message.not_before == dt.datetime(2026, 12, 1, 10, 0, tzinfo=MSK)


async def test_jobs_run_reminders_for_a_chosen_day(
    app: App,
    chat: LocalChat,
    session: AsyncSession,
    clock: FrozenClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`python -m bot jobs run reminders --date 2027-06-01`: that day's reminders, once."""
    from bot.jobs_cli import cmd_jobs_run

    two_children = {
        "as_of": "2026-11-28",
        "children": [{"birth_date": "2015-03"}, {"birth_date": "2017-09"}],
        "employed": True,
        "citizen": True,
        "income_range_pm": [1, 1.5],
    }
    parent = await family(chat, session, clock, 4195, two_children)
    args = argparse.Namespace(
        command="jobs", jobs_command="run", name="reminders", date=dt.date(2027, 6, 1)
    )
    assert await cmd_jobs_run(args, app.settings) == 0
    assert capsys.readouterr().out == "reminders: 1 done as of 2027-06-01 12:00 UTC\n"
    assert await cmd_jobs_run(args, app.settings) == 0
    assert capsys.readouterr().out == "reminders: 0 done as of 2027-06-01 12:00 UTC\n"
    [row] = await sent_rows(session)
    assert row.key == "family_tax:2027"
    [message] = await queued(session, parent.id)
    # 12:00 UTC is 15:00 in Tambov: daytime, it may go at once.
    assert message.not_before == dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)


async def test_unmuting_brings_every_kind_back(
    chat: LocalChat, session: AsyncSession, clock: FrozenClock
) -> None:
    anna = await family(chat, session, clock, 4136, BABY)
    user = await people.get_user(session, 4136)
    assert user is not None
    for kind in ("child_3", "new_help"):
        session.add(models.ReminderMute(user_id=user.id, kind=kind, muted_at=clock.now()))
    await session.commit()
    await anna.send("/reminders")
    assert "Вы попросили не напоминать: три года ребёнку, новая подходящая помощь." in (
        anna.last_text
    )
    status = anna.last_reply()
    await anna.click(UNMUTE)
    assert chat.session.answers[-1].text == "Хорошо, снова напоминаю обо всём"
    assert "Вы попросили" not in status.text
    assert status.button_texts == ["🔕 Отключить напоминания"]
    mutes = await session.scalar(select(func.count()).select_from(models.ReminderMute))
    assert mutes == 0


async def test_the_family_menu_lists_reminders_in_both_languages(app: App) -> None:
    from aiogram.methods import SetMyCommands

    from bot.factory import create_bot
    from bot.local_session import LocalSession
    from bot.runner import set_commands

    local = LocalSession()
    await set_commands(create_bot(app.settings, session=local), app.texts)
    menus = {
        r.language_code: {c.command: c.description for c in r.commands}
        for r in local.requests
        if isinstance(r, SetMyCommands)
    }
    assert menus[None]["reminders"] == "Напоминания о датах"
    assert menus["en"]["reminders"] == "Reminders of dates"


async def test_a_family_on_max_gets_its_reminder_on_max_only(
    app: App, session: AsyncSession, clock: FrozenClock
) -> None:
    """The same number on Telegram is another person: the reminder goes to the MAX family."""
    telegram, max_chat = two_messengers(app)
    on_telegram = await consented_in(telegram, 4190, "Тамбовская область")
    on_max = await consented_in(max_chat, 4190, "Тамбовская область")
    user = await people.get_user(session, 4190, Channel.MAX)
    assert user is not None
    session.add(models.FamilyProfile(user_id=user.id, data=BABY, updated_at=clock.now()))
    await session.commit()
    await on_max.send("/reminders")
    await on_max.click(TURN_ON)

    clock._now = dt.datetime(2026, 11, 30, 10, 0, tzinfo=MSK)
    assert (await run_reminders(app)).queued == 1
    await worker_for(app, (telegram, max_chat)).drain()
    assert len(reminders_seen(on_max)) == 1
    assert reminders_seen(on_telegram) == []
