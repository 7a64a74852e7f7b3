"""The presentation's shared machinery, played through the chat: the filters that hand a
handler the family's own referral, the staff member's referral or the shown message; a new
command leaving the dialog by its registration flag; callback data typed but still reading
the buttons already sent."""

from __future__ import annotations

from aiogram.types import CallbackQuery, Chat, InaccessibleMessage
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.local_chat import ChatUser, LocalChat
from db import models
from db.enums import GotHelp, ReasonCode
from handlers.referral_callbacks import (
    FamilyAction,
    FamilyCD,
    LoopAction,
    LoopCD,
    StaffAction,
    StaffCD,
)
from tests.referral_helpers import Deliver, family_in, latest_referral, request_help, staff

STALE_BUTTON = "Эта кнопка устарела"
NOT_YOURS = "Эта заявка недоступна."


def last_alert(chat: LocalChat) -> str:
    return chat.session.answers[-1].text or ""


async def tambov(chat: LocalChat, messenger_id: int) -> ChatUser:
    return await family_in(chat, messenger_id, "Тамбовская область", "Тамбов", "г. Тамбов")


async def status_of(session: AsyncSession, number: int) -> str:
    referral = await session.get(models.Referral, number, populate_existing=True)
    assert referral is not None
    return referral.status


async def test_a_family_cannot_touch_someone_elses_referral(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    await staff(app, chat, 7801, "tam-opora-demo")
    anna = await tambov(chat, 7802)
    boris = await tambov(chat, 7803)
    await request_help(anna, "💬 Психологическая помощь")
    await deliver()
    number = (await latest_referral(session)).id
    await boris.send("/my")
    anchor = boris.last_reply()
    before = len(boris.messages)

    for action in FamilyAction:
        await boris.press(anchor, FamilyCD(action=action, number=number).pack())
        assert last_alert(chat) == NOT_YOURS
    # A number that names no referral at all, and a forged action, are refused too.
    await boris.press(anchor, FamilyCD(action=FamilyAction.OPEN, number=999_999).pack())
    assert last_alert(chat) == NOT_YOURS
    await boris.press(anchor, f"fm:zz:{number}")
    assert STALE_BUTTON in last_alert(chat)

    assert len(boris.messages) == before, "nothing of Anna's is shown to Boris"
    assert await status_of(session, number) == "offered"
    # Anna's own button still works.
    await anna.press(anna.last_reply(), FamilyCD(action=FamilyAction.OPEN, number=number).pack())
    assert f"№{number}" in anna.last_text


async def test_staff_buttons_read_old_data_and_refuse_a_forged_reason(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    olga = await staff(app, chat, 7811, "tam-opora-demo")
    anna = await tambov(chat, 7812)
    await request_help(anna, "💬 Психологическая помощь")
    await deliver()
    number = (await latest_referral(session)).id
    offer = olga.last_reply()

    # A reason that is no ReasonCode, and one longer than any, change nothing.
    await olga.press(offer, f"st:dr:{number}:bogus")
    assert STALE_BUTTON in last_alert(chat)
    await olga.press(offer, f"st:dr:{number}:" + "x" * 40)
    assert STALE_BUTTON in last_alert(chat)
    # The decline-reason button without a reason (a truncated one) is stale too.
    await olga.press(offer, StaffCD(action=StaffAction.DECLINE_REASON, number=number).pack())
    assert STALE_BUTTON in last_alert(chat)
    assert await status_of(session, number) == "offered"
    # A referral that does not exist is "not allowed", not a crash.
    await olga.press(offer, StaffCD(action=StaffAction.ACCEPT, number=999_999).pack())
    assert "не вашей организации" in last_alert(chat)

    # The accept button as sent before the reason was typed: "st:a:<number>:".
    assert StaffCD(action=StaffAction.ACCEPT, number=number).pack() == f"st:a:{number}:"
    await olga.press(offer, f"st:a:{number}:")
    assert f"Заявка №{number} ваша" in olga.messages[-2].text
    assert await status_of(session, number) == "accepted"
    # And a typed reason packs to the same wire value as the bare string did.
    packed = StaffCD(
        action=StaffAction.DECLINE_REASON, number=number, reason=ReasonCode.NO_CAPACITY
    )
    assert packed.pack() == f"st:dr:{number}:no_capacity"


async def test_a_got_help_answer_outside_the_three_is_refused(
    app: App, chat: LocalChat, session: AsyncSession, deliver: Deliver
) -> None:
    await staff(app, chat, 7821, "tam-opora-demo")
    anna = await tambov(chat, 7822)
    await request_help(anna, "💬 Психологическая помощь")
    await deliver()
    number = (await latest_referral(session)).id
    anchor = anna.last_reply()

    await anna.press(
        anchor, LoopCD(action=LoopAction.GOT_HELP, number=number, value="maybe").pack()
    )
    assert STALE_BUTTON in last_alert(chat)
    # A rating with no got-help answer before it is stale, whatever its value.
    await anna.press(anchor, LoopCD(action=LoopAction.RATING, number=number, value="5").pack())
    assert STALE_BUTTON in last_alert(chat)
    assert await status_of(session, number) == "offered"
    assert [answer.value for answer in GotHelp] == ["yes", "partly", "no"]


async def test_a_new_command_leaves_the_dialog_in_progress(
    app: App, chat: LocalChat, session: AsyncSession
) -> None:
    anna = await tambov(chat, 7831)
    await anna.send("/request")
    await anna.click("💬 Психологическая помощь")
    await anna.click("📍")
    assert "Опишите" in anna.last_text or "опишите" in anna.last_text.lower()

    await anna.send("/my")  # a command flagged LEAVES_DIALOG
    await anna.send("Нужна поддержка психолога")
    # Had the dialog stayed, this would be the description and the contact question follow.
    assert "💬 Через бота" not in anna.last_reply().button_texts
    assert not [b for m in anna.messages[-2:] for b in m.button_texts if "Через бота" in b]


async def test_a_button_under_a_message_telegram_no_longer_shows_is_stale(
    app: App, chat: LocalChat, session: AsyncSession
) -> None:
    """Telegram sends an InaccessibleMessage for a message older than 48 hours: the `shown`
    filter does not pass, and the person is told the button is stale; nothing happens."""
    person = chat.user(7841)
    await person.send("/start")
    consent = next(
        data
        for row in person.last_reply().buttons
        for label, data in row
        if label.startswith("✅")
    )
    old = InaccessibleMessage(chat=Chat(id=person.id, type="private"), message_id=1, date=0)
    query = CallbackQuery(
        id="old-1", from_user=person.tg, chat_instance="ci", message=old, data=consent
    )
    before = len(person.messages)
    await person._run({"callback_query": query})
    assert STALE_BUTTON in last_alert(chat)
    assert len(person.messages) == before
    found = await session.scalar(select(models.User).where(models.User.messenger_id == person.id))
    assert found is None, "no consent (and no account) from an old button"
