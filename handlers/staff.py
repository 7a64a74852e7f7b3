"""Volunteer side: offers (accept / decline with a reason), /inbox, /pause, resolving."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, Filter
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, TelegramObject
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.middlewares.viewer import Viewer
from core import people, referrals
from core.audit import record_access
from core.catalogue.active import CatalogueHolder
from core.referrals.context import Outcome
from core.texts import Translator, ellipsize
from db import models
from db.enums import ReasonCode, ReferralStatus
from handlers.dialogs import LEAVES_DIALOG, leaving_dialogs
from handlers.filters import ButtonHandler, shown
from handlers.keyboards import Keyboard
from handlers.referral_callbacks import RelayCD, StaffAction, StaffCD
from handlers.render import alert
from handlers.requests import municipality_name, need_title


class IsStaff(Filter):
    """Passes for active volunteers and coordinators; hands the handler their `memberships`
    and the person as `staff`."""

    async def __call__(
        self,
        event: TelegramObject,
        viewer: Viewer | None = None,
        session: AsyncSession | None = None,
    ) -> bool | dict[str, Any]:
        if viewer is None or viewer.user is None or session is None:
            return False
        memberships = await referrals.staff_memberships(session, viewer.user.id)
        return {"memberships": memberships, "staff": viewer.user} if memberships else False


def reasons_keyboard(number: int, action: StaffAction, t: Translator) -> InlineKeyboardMarkup:
    kb = Keyboard()
    for reason in ReasonCode:
        kb.button(
            text=t(f"reason.{reason.value}"),
            callback_data=StaffCD(action=action, number=number, reason=reason),
        )
    kb.adjust(2)
    return kb.as_markup()


def _detail(
    referral: models.Referral, t: Translator, catalogue: CatalogueHolder, *, works_on: bool
) -> tuple[str, InlineKeyboardMarkup]:
    """The referral card; the phone and the work buttons only for its assignee or a
    coordinator (`works_on`)."""
    org = catalogue.view.organizations.get(referral.organization_id or "")
    text = t(
        "staff.detail",
        number=referral.id,
        organization=escape(t.pick(org.name, org.name_en) if org else "—"),
        need=escape(need_title(catalogue, referral.need_id, t.lang)),
        municipality=escape(municipality_name(catalogue, referral.municipality_id, t.lang)),
        status=t(f"status.{referral.status}"),
        description=escape(referral.description or t("request.no_description")),
    )
    kb = Keyboard()
    status = ReferralStatus(referral.status)
    if status is ReferralStatus.OFFERED:
        kb.button(
            text=t("staff.accept"),
            callback_data=StaffCD(action=StaffAction.ACCEPT, number=referral.id),
        )
        kb.button(
            text=t("staff.decline"),
            callback_data=StaffCD(action=StaffAction.DECLINE, number=referral.id),
        )
    elif status in referrals.RELAY_STATUSES and works_on:
        if referral.contact_phone:
            text += "\n" + t("staff.phone", phone=escape(referral.contact_phone))
        kb.button(text=t("staff.write"), callback_data=RelayCD(number=referral.id))
        kb.button(
            text=t("staff.resolve"),
            callback_data=StaffCD(action=StaffAction.RESOLVE, number=referral.id),
        )
        kb.button(
            text=t("staff.not_helped"),
            callback_data=StaffCD(action=StaffAction.NOT_HELPED, number=referral.id),
        )
    kb.adjust(2, 1, 1)
    return text, kb.as_markup()


async def cmd_inbox(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    memberships: list[models.Membership],
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    assert viewer.user is not None
    rows = await referrals.inbox(session, viewer.user.id, memberships)
    if not rows:
        await message.answer(t("staff.inbox_empty"))
        return
    lines = [t("staff.inbox_title"), ""]
    kb = Keyboard()
    for referral in rows:
        need = need_title(catalogue, referral.need_id, t.lang)
        mun = municipality_name(catalogue, referral.municipality_id, t.lang)
        lines.append(
            t(
                "staff.inbox_line",
                number=referral.id,
                need=escape(need),
                municipality=escape(mun),
                status=t(f"status.{referral.status}"),
            )
        )
        kb.button(
            text=ellipsize(f"№{referral.id} · {need}"),
            callback_data=StaffCD(action=StaffAction.OPEN, number=referral.id),
        )
    kb.adjust(1)
    await message.answer("\n".join(lines), reply_markup=kb.as_markup())


async def cmd_pause(
    message: Message,
    session: AsyncSession,
    memberships: list[models.Membership],
    t: Translator,
) -> None:
    pause = not all(m.paused for m in memberships)
    await people.set_paused(session, memberships, pause)
    await message.answer(t("staff.paused" if pause else "staff.resumed"))


class StaffReferral(Filter):
    """The referral the button names, as `referral` (who may act on it is the core's check);
    a number that names none reaches the refusal."""

    async def __call__(
        self,
        query: CallbackQuery,
        callback_data: StaffCD,
        session: AsyncSession,
    ) -> bool | dict[str, Any]:
        referral = await session.get(models.Referral, callback_data.number)
        return {"referral": referral} if referral is not None else False


def _tell(outcome: Outcome, callback_answer: CallbackAnswer, t: Translator, number: int) -> None:
    """A refused transition as a pop-up: someone was quicker, or it is not theirs."""
    if outcome is Outcome.TAKEN:
        alert(callback_answer, t("staff.taken", number=number))
    elif outcome is not Outcome.OK:
        alert(callback_answer, t("staff.forbidden"))


async def cb_open(
    query: CallbackQuery,
    referral: models.Referral,
    staff: models.User,
    message: Message,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    if not await referrals.may_open(session, referral, staff):
        alert(callback_answer, t("staff.forbidden"))
        return
    await record_access(session, app.clock, staff.id, "open_referral", referral_id=referral.id)
    works_on = await referrals.may_work_on(session, referral, staff)
    text, keyboard = _detail(referral, t, catalogue, works_on=works_on)
    await message.answer(text, reply_markup=keyboard)


async def cb_accept(
    query: CallbackQuery,
    referral: models.Referral,
    staff: models.User,
    message: Message,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    number = referral.id
    outcome = await referrals.accept(
        session, app.referral_context(), referral_id=number, volunteer=staff
    )
    _tell(outcome, callback_answer, t, number)
    if outcome is Outcome.OK:
        await message.edit_reply_markup(reply_markup=None)
        await message.answer(t("staff.accepted", number=number))
        fresh = await session.get(models.Referral, number)
        if fresh is not None:
            text, keyboard = _detail(fresh, t, catalogue, works_on=True)
            await message.answer(text, reply_markup=keyboard)


async def cb_decline(
    query: CallbackQuery,
    referral: models.Referral,
    staff: models.User,
    message: Message,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    t: Translator,
) -> None:
    """Ask why before declining; the reason goes to the coordinator's statistics."""
    if await referrals.membership_in(session, staff.id, referral.organization_id) is None:
        _tell(Outcome.FORBIDDEN, callback_answer, t, referral.id)
    elif referral.status != ReferralStatus.OFFERED:
        _tell(Outcome.TAKEN, callback_answer, t, referral.id)
    else:
        await message.answer(
            t("staff.ask_decline_reason", number=referral.id),
            reply_markup=reasons_keyboard(referral.id, StaffAction.DECLINE_REASON, t),
        )


async def cb_decline_reason(
    query: CallbackQuery,
    callback_data: StaffCD,
    referral: models.Referral,
    staff: models.User,
    message: Message,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    t: Translator,
    app: App,
) -> None:
    if callback_data.reason is None:
        alert(callback_answer, t("fallback.stale_button"))
        return
    outcome = await referrals.decline(
        session,
        app.referral_context(),
        referral_id=referral.id,
        volunteer=staff,
        reason=callback_data.reason,
    )
    _tell(outcome, callback_answer, t, referral.id)
    if outcome is Outcome.OK:
        await message.edit_text(t("staff.declined", number=referral.id))


async def cb_resolve(
    query: CallbackQuery,
    referral: models.Referral,
    staff: models.User,
    message: Message,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    t: Translator,
    app: App,
) -> None:
    outcome = await referrals.resolve(
        session, app.referral_context(), referral_id=referral.id, volunteer=staff, helped=True
    )
    _tell(outcome, callback_answer, t, referral.id)
    if outcome is Outcome.OK:
        await message.edit_reply_markup(reply_markup=None)
        await message.answer(t("staff.resolved", number=referral.id))


async def cb_not_helped(
    query: CallbackQuery,
    referral: models.Referral,
    staff: models.User,
    message: Message,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    t: Translator,
) -> None:
    """Ask why it did not help before closing it so."""
    if not await referrals.may_work_on(session, referral, staff):
        _tell(Outcome.FORBIDDEN, callback_answer, t, referral.id)
        return
    await message.answer(
        t("staff.ask_not_helped_reason", number=referral.id),
        reply_markup=reasons_keyboard(referral.id, StaffAction.NOT_HELPED_REASON, t),
    )


async def cb_not_helped_reason(
    query: CallbackQuery,
    callback_data: StaffCD,
    referral: models.Referral,
    staff: models.User,
    message: Message,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    t: Translator,
    app: App,
) -> None:
    if callback_data.reason is None:
        alert(callback_answer, t("fallback.stale_button"))
        return
    outcome = await referrals.resolve(
        session,
        app.referral_context(),
        referral_id=referral.id,
        volunteer=staff,
        helped=False,
        reason=callback_data.reason,
    )
    _tell(outcome, callback_answer, t, referral.id)
    if outcome is Outcome.OK:
        await message.edit_text(t("staff.resolved", number=referral.id))


async def cmd_not_staff(message: Message, t: Translator) -> None:
    await message.answer(t("staff.not_staff"))


async def cb_not_staff(
    query: CallbackQuery, callback_answer: CallbackAnswer, t: Translator
) -> None:
    alert(callback_answer, t("staff.forbidden"))


def create_router() -> Router:
    router = leaving_dialogs(Router(name=__name__))
    staff = IsStaff()
    router.message.register(cmd_inbox, Command("inbox"), staff, flags=LEAVES_DIALOG)
    router.message.register(cmd_pause, Command("pause"), staff)
    buttons: dict[StaffAction, ButtonHandler] = {
        StaffAction.OPEN: cb_open,
        StaffAction.ACCEPT: cb_accept,
        StaffAction.DECLINE: cb_decline,
        StaffAction.DECLINE_REASON: cb_decline_reason,
        StaffAction.RESOLVE: cb_resolve,
        StaffAction.NOT_HELPED: cb_not_helped,
        StaffAction.NOT_HELPED_REASON: cb_not_helped_reason,
    }
    named = StaffReferral()
    for action, handler in buttons.items():
        router.callback_query.register(
            handler, StaffCD.filter(F.action == action), staff, named, shown
        )
    router.message.register(cmd_not_staff, Command("inbox", "pause"))
    router.callback_query.register(cb_not_staff, StaffCD.filter())
    return router
