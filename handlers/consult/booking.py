"""/consult for a family: need → consultation → time → confirm.

Every button handler gets the family (`consented_family`: agreed and with a region) and the
message under the button (`shown`); a button pressed by someone else, or too old to edit,
reaches the package's refusal instead.
"""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.middlewares.viewer import Viewer
from bot.privacy import PrivacyNotice
from core import consultations
from core.catalogue.active import CatalogueHolder
from core.consultations.booking import BookingOutcome
from core.consultations.times import format_slot, region_timezone
from core.texts import Translator
from db import models
from handlers.consult.screens import (
    SLOTS_PAGE,
    ConsultAction,
    ConsultCD,
    consult_cd,
    consultation_text,
    label,
    org_name,
    refusal,
    slots_keyboard,
    title_of,
)
from handlers.dialogs import LEAVES_DIALOG, leaving_dialogs
from handlers.filters import ButtonHandler, consented_family, shown
from handlers.keyboards import Keyboard
from handlers.onboarding import region_or_prompt
from handlers.render import alert
from handlers.requests import ask_help_button, need_title


async def cmd_consult(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    region = await region_or_prompt(message, viewer, t, catalogue, topic="consult")
    if region is None:
        return
    text, keyboard = await _needs_screen(region, session, t, catalogue, app)
    await message.answer(text, reply_markup=keyboard)


async def _needs_screen(
    region_code: str, session: AsyncSession, t: Translator, catalogue: CatalogueHolder, app: App
) -> tuple[str, InlineKeyboardMarkup]:
    view = catalogue.view
    ids = await consultations.available_consultations(
        session, view, region_code=region_code, now=app.clock.now()
    )
    offered = {view.consultations[cid][1].need for cid in ids}
    kb = Keyboard()
    for need in view.needs.values():
        if need.id in offered:
            kb.button(
                text=f"{need.emoji} {need_title(catalogue, need.id, t.lang)}".strip(),
                callback_data=consult_cd(ConsultAction.NEED, value=need.id),
            )
    kb.adjust(2)
    extra = Keyboard()
    extra.button(text=t("consult.mine_button"), callback_data=consult_cd(ConsultAction.MINE))
    if not offered:
        label, data = ask_help_button(t)
        extra.button(text=label, callback_data=data)
    extra.adjust(1)
    kb.attach(extra)
    return t("consult.choose_need" if offered else "consult.none_available"), kb.as_markup()


async def cb_needs(
    query: CallbackQuery,
    region: str,
    message: Message,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    text, keyboard = await _needs_screen(region, session, t, catalogue, app)
    await message.edit_text(text, reply_markup=keyboard)


async def cb_need(
    query: CallbackQuery,
    callback_data: ConsultCD,
    region: str,
    message: Message,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    view = catalogue.view
    need_id = callback_data.value
    if need_id not in view.needs:
        alert(callback_answer, t("consult.stale"))
        return
    ids = await consultations.available_consultations(
        session, view, region_code=region, need_id=need_id, now=app.clock.now()
    )
    if not ids:
        alert(callback_answer, t("consult.no_slots"))
        return
    lines = [t("consult.need_header", need=escape(need_title(catalogue, need_id, t.lang)))]
    kb = Keyboard()
    for cid in ids:
        org, consultation = view.consultations[cid]
        lines.append("")
        lines.append(consultation_text(org, consultation, t))
        kb.button(
            text=label(title_of(consultation, t), org_name(org, t)),
            callback_data=consult_cd(ConsultAction.CONSULTATION, value=cid),
        )
    kb.button(text=t("consult.back"), callback_data=consult_cd(ConsultAction.NEEDS))
    kb.adjust(1)
    await message.edit_text("\n".join(lines), reply_markup=kb.as_markup())


async def cb_consultation(
    query: CallbackQuery,
    callback_data: ConsultCD,
    region: str,
    message: Message,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    view = catalogue.view
    entry = view.consultations.get(callback_data.value)
    page = max(callback_data.page, 0)
    if entry is None:
        alert(callback_answer, t("consult.stale"))
        return
    org, consultation = entry
    slots = await consultations.open_slots(
        session,
        view,
        region_code=region,
        consultation_id=consultation.id,
        now=app.clock.now(),
        limit=SLOTS_PAGE + 1,
        offset=page * SLOTS_PAGE,
    )
    if not slots:
        alert(callback_answer, t("consult.no_slots"))
        return
    kb = slots_keyboard(
        slots,
        t,
        view,
        org.region,
        pick=ConsultAction.SLOT,
        turn=ConsultAction.CONSULTATION,
        page=page,
        value=consultation.id,
    )
    back = Keyboard()
    back.button(
        text=t("consult.back"),
        callback_data=consult_cd(ConsultAction.NEED, value=consultation.need),
    )
    kb.attach(back)
    text = consultation_text(org, consultation, t) + "\n\n" + t("consult.choose_slot")
    await message.edit_text(text, reply_markup=kb.as_markup())


async def cb_slot(
    query: CallbackQuery,
    callback_data: ConsultCD,
    region: str,
    message: Message,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    view = catalogue.view
    slot = await consultations.slot_is_open(
        session, view, callback_data.slot, region_code=region, now=app.clock.now()
    )
    if slot is None:
        alert(callback_answer, t("consult.taken"))
        return
    org, consultation = view.consultations[slot.consultation_id]
    tz = region_timezone(view, org.region)
    kb = Keyboard()
    kb.button(
        text=t("consult.book_yes"), callback_data=consult_cd(ConsultAction.BOOK, slot=slot.id)
    )
    kb.button(
        text=t("consult.back"),
        callback_data=consult_cd(ConsultAction.CONSULTATION, value=consultation.id),
    )
    kb.button(text=t("consult.book_no"), callback_data=consult_cd(ConsultAction.DROP))
    kb.adjust(1)
    await message.edit_text(
        t(
            "consult.confirm",
            title=escape(title_of(consultation, t)),
            organization=escape(org_name(org, t)),
            format=t(f"format.{consultation.format.value}"),
            time=format_slot(t, slot.starts_at, tz),
        ),
        reply_markup=kb.as_markup(),
    )


async def cb_book(
    query: CallbackQuery,
    callback_data: ConsultCD,
    family: models.User,
    message: Message,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    t: Translator,
    privacy: PrivacyNotice,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    result = await consultations.book(
        session,
        app.referral_context(),
        family=family,
        slot_id=callback_data.slot,
        consent_version=privacy.version,
        texts=app.texts,
    )
    if result.outcome is not BookingOutcome.OK or result.starts_at is None:
        alert(callback_answer, refusal(result.outcome, t))
        return
    entry = catalogue.view.consultations.get(result.consultation_id or "")
    if entry is None:
        return
    org, consultation = entry
    await message.edit_text(
        t(
            "consult.booked",
            number=result.referral_id,
            time=format_slot(t, result.starts_at, region_timezone(catalogue.view, org.region)),
            title=escape(title_of(consultation, t)),
            organization=escape(org_name(org, t)),
            format=t(f"format.{consultation.format.value}"),
        ),
        reply_markup=None,
    )


async def cb_drop(query: CallbackQuery, message: Message, t: Translator) -> None:
    await message.edit_text(t("consult.dropped"), reply_markup=None)


def create_router() -> Router:
    router = leaving_dialogs(Router(name=__name__))
    router.message.register(cmd_consult, Command("consult"), flags=LEAVES_DIALOG)
    buttons: dict[ConsultAction, ButtonHandler] = {
        ConsultAction.NEEDS: cb_needs,
        ConsultAction.NEED: cb_need,
        ConsultAction.CONSULTATION: cb_consultation,
        ConsultAction.SLOT: cb_slot,
        ConsultAction.BOOK: cb_book,
    }
    for action, handler in buttons.items():
        router.callback_query.register(
            handler, ConsultCD.filter(F.action == action), consented_family, shown
        )
    router.callback_query.register(
        cb_drop, ConsultCD.filter(F.action == ConsultAction.DROP), shown
    )
    return router
