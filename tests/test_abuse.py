"""Issue 13 §5: one family cannot flood the organisations, and a volunteer sees only what the
inbox rule gives them — forged buttons included."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.local_chat import ChatUser, LocalChat
from core import announcements, people
from core.clock import FrozenClock
from db import models
from db.enums import Role
from db.models.manager import SurveyAnswer
from handlers.manager_keyboards import SurveyAnswerCD
from tests.referral_helpers import Deliver, family_in, latest_referral, request_help, staff
from tests.test_manager_tools import TAM, families, last_alert, mchat, worker  # noqa: F401

PSYCH = "💬 Психологическая помощь"
PHONE = "+79161234567"


async def count_referrals(session: AsyncSession) -> int:
    session.expire_all()
    return int(await session.scalar(select(func.count()).select_from(models.Referral)) or 0)


def answers(chat: LocalChat) -> str:
    return chat.session.answers[-1].text or ""


def seen_by(person: ChatUser) -> str:
    return "\n".join(sent.text for sent in person.messages)


async def test_a_family_can_have_three_requests_open_and_is_told_kindly_about_a_fourth(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    assert app.settings.max_open_requests == 3, "the default"
    await staff(app, chat, 7501, "tam-opora-demo")
    anna = await family_in(chat, 7502, "Тамбовская область", "Тамбов", "г. Тамбов")
    for _ in range(3):
        await request_help(anna, PSYCH)
    await deliver()
    assert await count_referrals(session) == 3

    await anna.send("/request")
    assert anna.last_text.startswith("Открытых заявок у вас сейчас: 3"), anna.last_text
    assert "/my" in anna.last_text and "отменить" in anna.last_text
    assert anna.last_reply().buttons == [], "no dialog was started"
    assert await count_referrals(session) == 3

    # The same from a measure card's "ask for help" button.
    await anna.press(anna.last_reply(), "rq:start:n.psych_help")
    assert anna.last_text.startswith("Открытых заявок у вас сейчас: 3")

    # Cancelling one makes room for a new request.
    await anna.send("/my")
    await anna.click("№")
    await anna.click("✖️ Отменить заявку")
    await anna.click("Да, отменить")
    await request_help(anna, PSYCH)
    assert await count_referrals(session) == 4
    assert (await latest_referral(session)).status == "offered"


async def test_the_limit_is_a_setting(app: App, chat: LocalChat, session: AsyncSession) -> None:
    app.settings.max_open_requests = 1
    try:
        await staff(app, chat, 7511, "tam-opora-demo")
        anna = await family_in(chat, 7512, "Тамбовская область", "Тамбов", "г. Тамбов")
        await request_help(anna, PSYCH)
        await anna.send("/request")
        assert anna.last_text.startswith("Открытых заявок у вас сейчас: 1")
        assert await count_referrals(session) == 1
    finally:
        app.settings.max_open_requests = 3


async def request_with_phone(person: ChatUser) -> None:
    await person.send("/request")
    await person.click(PSYCH)
    await person.click("📍")
    await person.send("Нужна поддержка психолога")
    await person.click("📞 Дать номер телефона")
    await person.send_contact(PHONE)
    await person.click("✅ Да, передать")


async def test_a_forged_open_button_does_not_show_a_colleagues_referral_or_the_phone(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    olga = await staff(app, chat, 7521, "tam-opora-demo")
    pavel = await staff(app, chat, 7522, "tam-opora-demo")
    kate = await staff(app, chat, 7523, "tam-opora-demo", Role.COORDINATOR)
    anna = await family_in(chat, 7524, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_with_phone(anna)
    await deliver()
    referral = await latest_referral(session)
    number = referral.id
    assert referral.contact_phone == PHONE

    # Offered to the organisation: every volunteer of it may look (without the phone).
    await pavel.send("/inbox")
    await pavel.click(f"№{number}")
    assert f"№{number}" in pavel.last_text and PHONE not in pavel.last_text
    assert pavel.last_reply().button_texts == ["✅ Принять", "✖️ Отказаться"]

    await olga.click("✅ Принять")
    assert PHONE in olga.last_text, "the assignee sees the phone"

    # Pavel's old "open" button (or a forged one) no longer opens Olga's referral.
    opened = await count_audit(session)
    before = len(pavel.messages)
    await pavel.press(pavel.last_reply(), f"st:o:{number}:")
    assert "больше вам не доступна" in answers(chat), answers(chat)
    assert len(pavel.messages) == before, "nothing was sent to him"
    assert PHONE not in seen_by(pavel)
    assert await count_audit(session) == opened, "no staff opening was recorded"
    await pavel.send("/inbox")
    assert f"№{number}" not in pavel.last_text

    # The assignee and the coordinator open it with the phone.
    await olga.send("/inbox")
    await olga.click(f"№{number}")
    assert PHONE in olga.last_text and "✉️ Написать семье" in olga.last_reply().button_texts
    await kate.send("/inbox")
    await kate.click(f"№{number}")
    assert PHONE in kate.last_text


async def count_audit(session: AsyncSession) -> int:
    session.expire_all()
    return int(
        await session.scalar(
            select(func.count())
            .select_from(models.AuditLog)
            .where(models.AuditLog.action == "open_referral")
        )
        or 0
    )


async def test_survey_answers_count_only_from_the_surveys_audience(
    app: App,
    mchat: LocalChat,  # noqa: F811
    session: AsyncSession,
    clock: FrozenClock,
) -> None:
    inside = await families(
        app, first_messenger_id=6_200_000, count=2, region=TAM, municipality="tam-michurinsk"
    )
    elsewhere = await families(
        app, first_messenger_id=6_300_000, count=1, region=TAM, municipality="tam-tambov"
    )
    no_news = await families(
        app,
        first_messenger_id=6_400_000,
        count=1,
        region=TAM,
        municipality="tam-michurinsk",
        news=None,
    )
    survey = await announcements.create_survey(
        session,
        app.clock,
        view=app.catalogue.view,
        audience=announcements.Audience(TAM, municipality_id="tam-michurinsk"),
        question="Удобно ли вам получать помощь онлайн?",
        options=["Да", "Нет"],
        created_by_user_id=None,
    )
    assert survey.recipients == 2
    await worker(app, mchat, per_chat=0).drain()
    first = mchat.user(inside[0])
    await first.click("Да")
    assert last_alert(mchat) == "Спасибо, ответ учтён!"

    clock._now += dt.timedelta(hours=1)
    late = await families(
        app, first_messenger_id=6_500_000, count=1, region=TAM, municipality="tam-michurinsk"
    )
    forged = SurveyAnswerCD(survey=survey.id, option=1).pack()
    for outsider in (elsewhere[0], no_news[0], late[0]):
        person = mchat.user(outsider)
        await person.send("/news")
        await person.press(person.last_reply(), forged)
        assert last_alert(mchat) == "Этот опрос вам недоступен.", outsider
    session.expire_all()
    answers = (await session.execute(select(SurveyAnswer.user_id, SurveyAnswer.option))).all()
    assert len(answers) == 1 and answers[0].option == 0


async def test_an_invite_to_an_organisation_deactivated_later_no_longer_works(
    app: App, chat: LocalChat, session: AsyncSession
) -> None:
    invite = await people.create_invite(
        session,
        app.clock,
        role=Role.VOLUNTEER,
        organization_id="tam-raduga-demo",
        region_code="RU-TAM",
    )
    token = invite.token
    await session.execute(
        update(models.Organization)
        .where(models.Organization.id == "tam-raduga-demo")
        .values(active=False)
    )
    await session.commit()
    try:
        olga = chat.user(7531)
        await olga.send(f"/start join-{token}")
        assert olga.last_text.startswith("Эта организация больше не работает в кластере")
        session.expire_all()
        assert await session.scalar(select(func.count()).select_from(models.Membership)) == 0
        still = await session.get(models.Invite, token)
        assert still is not None and still.used_at is None
    finally:
        await session.execute(
            update(models.Organization)
            .where(models.Organization.id == "tam-raduga-demo")
            .values(active=True)
        )
        await session.commit()


async def test_forged_numbers_in_buttons_are_stale_buttons_not_errors(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    olga = await staff(app, chat, 7541, "tam-opora-demo")
    anna = await family_in(chat, 7542, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_help(anna, PSYCH)
    await deliver()
    offer = olga.last_reply()
    huge, over = str(2**64 + 5), str(2**63)
    for person, data in (
        (olga, f"st:o:{huge}:"),
        (olga, f"st:a:{over}:"),
        (olga, f"rl:{huge}"),
        (anna, f"fm:o:{huge}"),
        (anna, f"lp:r:{huge}:5"),
        (anna, f"sv:{huge}:0"),
        (anna, f"cs:b::{huge}:0:0"),
        (olga, "st:o:-1:"),
        (olga, "st:o:" + "9" * 40),
    ):
        before = len(chat.session.answers)
        await person.press(offer, data)
        assert len(chat.session.answers) == before + 1, data
        assert chat.session.answers[-1].text == "Эта кнопка устарела. Начните заново: /start", data
    for person, data in ((olga, "st:o:abc:"), (olga, "st:zz:1:"), (anna, "nonsense")):
        await person.press(offer, data)
        assert "устарела" in answers(chat), data
    session.expire_all()
    assert await session.scalar(select(func.count()).select_from(models.DeadLetter)) == 0
    assert not any("что-то пошло не так" in sent.text for sent in olga.messages + anna.messages)


async def test_a_long_relay_message_arrives_whole_in_parts(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    olga = await staff(app, chat, 7551, "tam-opora-demo")
    anna = await family_in(chat, 7552, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_help(anna, PSYCH)
    await deliver()
    await olga.click("✅ Принять")
    await olga.click("✉️ Написать семье")
    words = [f"слово{i}" for i in range(700)]  # 4 690 characters: over one message's limit
    long_text = " ".join(words)
    assert len(long_text) > 4096
    await olga.send(long_text)
    assert olga.last_text.startswith("✓ Передано")
    await deliver()
    received = [sent.text for sent in anna.messages if "Волонтёр · заявка №" in sent.text]
    assert len(received) == 2 and all(len(part) <= 4096 for part in received)
    body = " ".join(part.split("\n", 1)[1] for part in received)
    assert body.split() == words, "nothing cut, nothing reordered"

    # A long caption goes with the photo as far as it fits; the rest follows as text.
    await anna.click("↩️ Ответить")
    caption = " ".join(f"подпись{i}" for i in range(300))  # 2 690 characters
    await anna.send_photo(caption=caption)
    await deliver()
    copy = next(sent for sent in reversed(olga.messages) if sent.kind == "copy")
    after = olga.messages[olga.messages.index(copy) + 1 :]
    assert len(copy.text) <= 1024 and [sent.kind for sent in after] == ["text"]
    relayed = copy.text.split("\n", 1)[1] + " " + after[0].text.split("\n", 1)[1]
    assert relayed.split() == caption.split()
