"""/consult, "my bookings": a family's upcoming consultations, moved or cancelled.

Every button handler gets the family, its booking the button names (`OwnBooking`) and the
message under the button; anything else reaches the package's refusal.
"""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from core import consultations
from core.catalogue.active import CatalogueHolder
from core.consultations.booking import BookingOutcome
from core.consultations.times import format_slot, region_timezone
from core.texts import Translator
from db import models
from handlers.consult.screens import (
    BACK,
    SLOTS_PAGE,
    ConsultAction,
    ConsultCD,
    consult_cd,
    org_name,
    refusal,
    slots_keyboard,
    title_of,
)
from handlers.filters import ButtonHandler, consented_family, shown
from handlers.keyboards import Keyboard
from handlers.render import alert


async def cb_mine(
    query: CallbackQuery,
    callback_data: ConsultCD,
    family: models.User,
    region: str,
    message: Message,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    view = catalogue.view
    bookings = await consultations.upcoming_bookings(session, family.id, app.clock.now())
    show = message.edit_text if callback_data.value == BACK else message.answer
    if not bookings:
        await show(t("consult.mine_empty"))
        return
    lines = [t("consult.mine_title"), ""]
    kb = Keyboard()
    for booked in bookings:
        entry = view.consultations.get(booked.slot.consultation_id)
        title = title_of(entry[1], t) if entry else booked.slot.consultation_id
        org = org_name(entry[0], t) if entry else "—"
        tz = region_timezone(view, entry[0].region if entry else region)
        lines.append(
            t(
                "consult.mine_line",
                number=booked.referral.id,
                time=format_slot(t, booked.slot.starts_at, tz),
                title=escape(title),
                organization=escape(org),
                status=t(f"status.{booked.referral.status}"),
            )
        )
        kb.button(
            text=t("consult.move_button", number=booked.referral.id),
            callback_data=consult_cd(ConsultAction.MOVE, number=booked.referral.id),
        )
        kb.button(
            text=t("consult.cancel_button", number=booked.referral.id),
            callback_data=consult_cd(ConsultAction.CANCEL, number=booked.referral.id),
        )
    kb.adjust(2)
    await show("\n".join(lines), reply_markup=kb.as_markup())


class OwnBooking(Filter):
    """The family's booking the button's `number` names, as `booked`; after
    `consented_family`. Someone else's (or a forged) number does not pass."""

    async def __call__(
        self,
        query: CallbackQuery,
        callback_data: ConsultCD,
        family: models.User,
        session: AsyncSession,
    ) -> bool | dict[str, Any]:
        booked = await consultations.family_booking(session, family, callback_data.number)
        return {"booked": booked} if booked is not None else False


async def cb_move(
    query: CallbackQuery,
    callback_data: ConsultCD,
    callback_answer: CallbackAnswer,
    family: models.User,
    booked: consultations.BookedSlot,
    region: str,
    message: Message,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    view = catalogue.view
    entry = view.consultations.get(booked.slot.consultation_id)
    if entry is None:
        alert(callback_answer, t("consult.no_slots"))
        return
    org, consultation = entry
    page = max(callback_data.page, 0)
    slots = await consultations.open_slots(
        session,
        view,
        region_code=org.region,
        consultation_id=consultation.id,
        now=app.clock.now(),
        limit=SLOTS_PAGE + 1,
        offset=page * SLOTS_PAGE,
    )
    if not slots:
        alert(callback_answer, t("consult.no_other_slots"))
        return
    number = booked.referral.id
    kb = slots_keyboard(
        slots,
        t,
        view,
        org.region,
        pick=ConsultAction.MOVE_TO,
        turn=ConsultAction.MOVE,
        page=page,
        number=number,
    )
    back = Keyboard()
    back.button(text=t("consult.back"), callback_data=consult_cd(ConsultAction.MINE, value=BACK))
    kb.attach(back)
    text = t(
        "consult.choose_new_slot",
        number=number,
        title=escape(title_of(consultation, t)),
        time=format_slot(t, booked.slot.starts_at, region_timezone(view, org.region)),
    )
    await message.edit_text(text, reply_markup=kb.as_markup())


async def cb_move_to(
    query: CallbackQuery,
    callback_data: ConsultCD,
    callback_answer: CallbackAnswer,
    family: models.User,
    booked: consultations.BookedSlot,
    region: str,
    message: Message,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    result = await consultations.reschedule(
        session,
        app.referral_context(),
        family=family,
        referral_id=booked.referral.id,
        new_slot_id=callback_data.slot,
        texts=app.texts,
    )
    if result.outcome is not BookingOutcome.OK or result.starts_at is None:
        alert(callback_answer, refusal(result.outcome, t))
        return
    entry = catalogue.view.consultations.get(booked.slot.consultation_id)
    tz = region_timezone(catalogue.view, entry[0].region if entry else region)
    await message.edit_text(
        t("consult.moved", number=result.referral_id, time=format_slot(t, result.starts_at, tz)),
        reply_markup=None,
    )


async def cb_cancel(
    query: CallbackQuery,
    callback_data: ConsultCD,
    callback_answer: CallbackAnswer,
    family: models.User,
    booked: consultations.BookedSlot,
    region: str,
    message: Message,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    view = catalogue.view
    entry = view.consultations.get(booked.slot.consultation_id)
    tz = region_timezone(view, entry[0].region if entry else region)
    kb = Keyboard()
    kb.button(
        text=t("consult.cancel_yes"),
        callback_data=consult_cd(ConsultAction.CANCEL_CONFIRM, number=booked.referral.id),
    )
    kb.button(text=t("consult.back"), callback_data=consult_cd(ConsultAction.MINE, value=BACK))
    kb.adjust(1)
    await message.edit_text(
        t(
            "consult.cancel_confirm",
            number=booked.referral.id,
            title=escape(title_of(entry[1], t) if entry else booked.slot.consultation_id),
            time=format_slot(t, booked.slot.starts_at, tz),
        ),
        reply_markup=kb.as_markup(),
    )


async def cb_cancel_confirm(
    query: CallbackQuery,
    callback_data: ConsultCD,
    callback_answer: CallbackAnswer,
    family: models.User,
    booked: consultations.BookedSlot,
    region: str,
    message: Message,
    session: AsyncSession,
    t: Translator,
    app: App,
) -> None:
    result = await consultations.cancel_booking(
        session, app.referral_context(), family=family, referral_id=booked.referral.id
    )
    if result.outcome is not BookingOutcome.OK:
        alert(callback_answer, t("consult.not_yours"))
        return
    await message.edit_text(t("consult.cancelled", number=booked.referral.id), reply_markup=None)


def create_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(
        cb_mine, ConsultCD.filter(F.action == ConsultAction.MINE), consented_family, shown
    )
    own_booking = OwnBooking()
    buttons: dict[ConsultAction, ButtonHandler] = {
        ConsultAction.MOVE: cb_move,
        ConsultAction.MOVE_TO: cb_move_to,
        ConsultAction.CANCEL: cb_cancel,
        ConsultAction.CANCEL_CONFIRM: cb_cancel_confirm,
    }
    for action, handler in buttons.items():
        router.callback_query.register(
            handler, ConsultCD.filter(F.action == action), consented_family, own_booking, shown
        )
    return router
