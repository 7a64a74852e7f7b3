"""Family side of referrals: /request, /my, cancelling, adding details, closing the loop."""

from __future__ import annotations

import re
from contextlib import suppress
from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.middlewares.viewer import Viewer
from bot.privacy import PrivacyNotice
from core import referrals
from core.catalogue.active import CatalogueHolder
from core.places import find_municipalities
from core.referrals.context import Outcome
from core.referrals.transitions import DESCRIPTION_LIMIT
from core.search import discovery
from core.texts import Translator, in_language
from db import models
from db.enums import OPEN_STATUSES
from handlers.dialogs import leave_dialog
from handlers.keyboards import Keyboard
from handlers.location import ask_region
from handlers.onboarding import consent_keyboard
from handlers.referral_callbacks import FamilyAction, FamilyCD, LoopAction, LoopCD, RelayCD
from handlers.render import alert, format_date

PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{8,18}[0-9]$")
WHOLE_REGION = "-"


class RequestStates(StatesGroup):
    need = State()
    municipality = State()
    description = State()
    contact = State()
    phone = State()
    confirm = State()


class FamilyStates(StatesGroup):
    details = State()
    comment = State()
    gap_comment = State()


class GapCD(CallbackData, prefix="gap"):
    need: str = ""


class RequestCD(CallbackData, prefix="rq"):
    step: str
    value: str = ""


def ask_help_button(
    t: Translator, *, need_id: str | None = None, measure_id: str | None = None
) -> tuple[str, RequestCD]:
    """The "ask for help" entry used by cards (measure) and empty searches (need)."""
    value = f"m.{measure_id}" if measure_id else (f"n.{need_id}" if need_id else "")
    return t("card.ask_help"), RequestCD(step="start", value=value)


def need_title(catalogue: CatalogueHolder, need_id: str, lang: str) -> str:
    need = catalogue.view.needs.get(need_id)
    if need is None:
        return need_id
    return in_language(lang, need.title, need.title_en)


def municipality_name(catalogue: CatalogueHolder, municipality_id: str | None, lang: str) -> str:
    mun = catalogue.view.municipality(municipality_id)
    if mun is None:
        return "—"
    return in_language(lang, mun.name, mun.name_en)


async def begin_request(
    message: Message,
    viewer: Viewer,
    state: FSMContext,
    t: Translator,
    privacy: PrivacyNotice,
    catalogue: CatalogueHolder,
    *,
    session: AsyncSession,
    app: App,
    need_id: str = "",
    measure_id: str = "",
) -> None:
    await leave_dialog(state)
    if not viewer.consented:
        await message.answer(t("request.need_consent"), reply_markup=consent_keyboard(t))
        return
    if viewer.region_code is None:
        await message.answer(t("request.region_first"))
        await ask_region(message, t, catalogue)
        return
    if await _too_many_open(message, viewer, session, t, app):
        return
    await state.update_data(req={"measure": measure_id or None})
    if need_id in catalogue.view.needs:
        await _set(state, need=need_id)
        await _ask_municipality(message, viewer, state, t, catalogue)
        return
    kb = Keyboard()
    for need in catalogue.view.needs.values():
        title = t.pick(need.title, need.title_en)
        kb.button(
            text=f"{need.emoji} {title}".strip(),
            callback_data=RequestCD(step="need", value=need.id),
        )
    kb.adjust(2)
    await state.set_state(RequestStates.need)
    await message.answer(t("request.ask_need"), reply_markup=kb.as_markup())


async def _too_many_open(
    message: Message, viewer: Viewer, session: AsyncSession, t: Translator, app: App
) -> bool:
    """One family cannot flood the organisations: at most `MAX_OPEN_REQUESTS` open at once."""
    if viewer.user is None:
        return False
    limit = app.settings.max_open_requests
    count = await referrals.open_requests(session, viewer.user.id)
    if count < limit:
        return False
    await message.answer(t("request.too_many_open", count=count))
    return True


async def _set(state: FSMContext, **values: Any) -> dict[str, Any]:
    data = dict((await state.get_data()).get("req") or {})
    data.update(values)
    await state.update_data(req=data)
    return data


async def _ask_municipality(
    message: Message, viewer: Viewer, state: FSMContext, t: Translator, catalogue: CatalogueHolder
) -> None:
    kb = Keyboard()
    if viewer.municipality_id:
        kb.button(
            text=t(
                "request.use_municipality",
                municipality=municipality_name(catalogue, viewer.municipality_id, t.lang),
            ),
            callback_data=RequestCD(step="mun", value=viewer.municipality_id),
        )
    kb.button(
        text=t("request.whole_region"), callback_data=RequestCD(step="mun", value=WHOLE_REGION)
    )
    kb.adjust(1)
    await state.set_state(RequestStates.municipality)
    await message.answer(
        t("request.ask_municipality") + "\n" + t("municipality.ask"), reply_markup=kb.as_markup()
    )


async def _ask_description(message: Message, state: FSMContext, t: Translator) -> None:
    kb = Keyboard()
    kb.button(
        text=t("request.skip_description"), callback_data=RequestCD(step="desc", value="skip")
    )
    await state.set_state(RequestStates.description)
    await message.answer(
        t("request.ask_description", limit=DESCRIPTION_LIMIT), reply_markup=kb.as_markup()
    )


async def _ask_contact(message: Message, state: FSMContext, t: Translator) -> None:
    kb = Keyboard()
    kb.button(text=t("request.contact_bot"), callback_data=RequestCD(step="contact", value="bot"))
    kb.button(
        text=t("request.contact_phone"), callback_data=RequestCD(step="contact", value="phone")
    )
    kb.adjust(1)
    await state.set_state(RequestStates.contact)
    await message.answer(t("request.ask_contact"), reply_markup=kb.as_markup())


async def _ask_confirm(
    message: Message, state: FSMContext, t: Translator, catalogue: CatalogueHolder
) -> None:
    data = (await state.get_data()).get("req") or {}
    phone = data.get("phone")
    kb = Keyboard()
    kb.button(text=t("request.transfer_yes"), callback_data=RequestCD(step="send", value="yes"))
    kb.button(text=t("request.transfer_no"), callback_data=RequestCD(step="send", value="no"))
    await state.set_state(RequestStates.confirm)
    await message.answer(
        t(
            "request.ask_transfer",
            need=escape(need_title(catalogue, data.get("need", ""), t.lang)),
            municipality=escape(
                municipality_name(catalogue, data.get("mun"), t.lang)
                if data.get("mun")
                else t("request.whole_region")
            ),
            description=escape(data.get("desc") or t("request.no_description")),
            contact=t("request.contact_by_phone" if phone else "request.contact_by_bot"),
            phone_note=t("request.phone_note") if phone else "",
        ),
        reply_markup=kb.as_markup(),
    )


async def cmd_request(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    privacy: PrivacyNotice,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    await begin_request(message, viewer, state, t, privacy, catalogue, session=session, app=app)


async def cb_request(
    query: CallbackQuery,
    callback_data: RequestCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    privacy: PrivacyNotice,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    message = query.message
    if not isinstance(message, Message):
        return
    step, value = callback_data.step, callback_data.value
    if step == "start":
        kind, _, ref = value.partition(".")
        measure = catalogue.view.measures.get(ref) if kind == "m" else None
        need_id = measure.needs[0] if measure else (ref if kind == "n" else "")
        measure_id = measure.id if measure else ""
        await begin_request(
            message,
            viewer,
            state,
            t,
            privacy,
            catalogue,
            session=session,
            app=app,
            need_id=need_id,
            measure_id=measure_id,
        )
        return
    expected = {
        "need": RequestStates.need,
        "mun": RequestStates.municipality,
        "desc": RequestStates.description,
        "contact": RequestStates.contact,
        "send": RequestStates.confirm,
    }.get(step)
    if expected is None or await state.get_state() != expected.state:
        alert(callback_answer, t("request.stale"))
        return
    await _drop_keyboard(message)
    if step == "need":
        if value not in catalogue.view.needs:
            alert(callback_answer, t("fallback.stale_button"))
            return
        await _set(state, need=value)
        await _ask_municipality(message, viewer, state, t, catalogue)
    elif step == "mun":
        region = catalogue.view.regions.get(viewer.region_code or "")
        valid = value == WHOLE_REGION or (
            region is not None and any(m.id == value for m in region.municipalities)
        )
        if not valid:
            alert(callback_answer, t("fallback.stale_button"))
            return
        await _set(state, mun=None if value == WHOLE_REGION else value)
        await _ask_description(message, state, t)
    elif step == "desc":
        await _set(state, desc=None)
        await _ask_contact(message, state, t)
    elif step == "contact":
        if value == "phone":
            await state.set_state(RequestStates.phone)
            keyboard = ReplyKeyboardMarkup(
                keyboard=[
                    [KeyboardButton(text=t("request.share_phone_button"), request_contact=True)]
                ],
                resize_keyboard=True,
                one_time_keyboard=True,
            )
            await message.answer(t("request.share_phone"), reply_markup=keyboard)
        else:
            await _set(state, phone=None)
            await _ask_confirm(message, state, t, catalogue)
    elif step == "send":
        await _send(message, viewer, session, state, t, privacy, app, value == "yes")


async def _send(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    privacy: PrivacyNotice,
    app: App,
    confirmed: bool,
) -> None:
    data = (await state.get_data()).get("req") or {}
    if not confirmed or viewer.user is None or not data.get("need"):
        await leave_dialog(state)
        await message.answer(t("request.cancelled"))
        return
    if await _too_many_open(message, viewer, session, t, app):
        await leave_dialog(state)
        return
    await referrals.create(
        session,
        app.referral_context(),
        family=viewer.user,
        need_id=data["need"],
        municipality_id=data.get("mun"),
        description=data.get("desc"),
        contact_phone=data.get("phone"),
        consent_version=privacy.version,
        measure_id=data.get("measure"),
    )
    # Only now, with the request committed, is the dialog over: had anything failed before,
    # the family could press "send" again and lose nothing.
    await leave_dialog(state)


async def _drop_keyboard(message: Message) -> None:
    """Remove the answered question's buttons; cosmetic, so Telegram refusing is no error."""
    with suppress(TelegramAPIError):
        await message.edit_reply_markup(reply_markup=None)


async def msg_municipality(
    message: Message, viewer: Viewer, state: FSMContext, t: Translator, catalogue: CatalogueHolder
) -> None:
    region = catalogue.view.regions.get(viewer.region_code or "")
    if region is None:
        await leave_dialog(state)
        await ask_region(message, t, catalogue)
        return
    query = (message.text or "")[:100]
    found = find_municipalities(catalogue.view, region, query)
    kb = Keyboard()
    for mun in found:
        kb.button(
            text=t.pick(mun.name, mun.name_en),
            callback_data=RequestCD(step="mun", value=mun.id),
        )
    kb.button(
        text=t("request.whole_region"), callback_data=RequestCD(step="mun", value=WHOLE_REGION)
    )
    kb.adjust(1)
    text = t("municipality.matches") if found else t("municipality.not_found", query=escape(query))
    await message.answer(text, reply_markup=kb.as_markup())


async def msg_description(message: Message, state: FSMContext, t: Translator) -> None:
    text = (message.text or "").strip()
    if not text:
        await message.answer(t("request.description_text_only"))
        return
    if len(text) > DESCRIPTION_LIMIT:
        await message.answer(t("request.description_too_long", limit=DESCRIPTION_LIMIT))
        return
    await _set(state, desc=text)
    await _ask_contact(message, state, t)


async def msg_phone(
    message: Message, state: FSMContext, t: Translator, catalogue: CatalogueHolder
) -> None:
    phone: str | None = None
    if message.contact is not None:
        # Only one's own number: a forwarded contact card is someone else's data.
        if message.from_user and message.contact.user_id == message.from_user.id:
            phone = message.contact.phone_number
    elif message.text and PHONE.match(message.text.strip()):
        phone = message.text.strip()
    if phone is None:
        await message.answer(t("request.bad_phone"))
        return
    await _set(state, phone=phone[:32])
    await message.answer(t("request.phone_saved"), reply_markup=ReplyKeyboardRemove())
    await _ask_confirm(message, state, t, catalogue)


# --- /my ------------------------------------------------------------------------------------


async def cmd_my(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await leave_dialog(state)
    rows = await referrals.family_referrals(session, viewer.user.id) if viewer.user else []
    kb = Keyboard()
    if not rows:
        kb.button(text=t("gap.button"), callback_data=GapCD())
        await message.answer(t("my.empty"), reply_markup=kb.as_markup())
        return
    lines = [t("my.title"), ""]
    for referral in rows:
        need = escape(need_title(catalogue, referral.need_id, t.lang))
        lines.append(
            t("my.line", number=referral.id, need=need, status=t(f"status.{referral.status}"))
        )
        kb.button(
            text=t(
                "my.open", number=referral.id, need=need_title(catalogue, referral.need_id, t.lang)
            ),
            callback_data=FamilyCD(action=FamilyAction.OPEN, number=referral.id),
        )
    kb.button(text=t("gap.button"), callback_data=GapCD())
    kb.adjust(1)
    await message.answer("\n".join(lines), reply_markup=kb.as_markup())


def _detail(
    referral: models.Referral, t: Translator, catalogue: CatalogueHolder
) -> tuple[str, InlineKeyboardMarkup]:
    org = catalogue.view.organizations.get(referral.organization_id or "")
    text = t(
        "my.detail",
        number=referral.id,
        need=escape(need_title(catalogue, referral.need_id, t.lang)),
        status=t(f"status.{referral.status}"),
        organization=escape(t.pick(org.name, org.name_en) if org else "—"),
        created=format_date(referral.created_at.date(), t.lang),
    )
    kb = Keyboard()
    if referral.status in referrals.RELAY_STATUSES:
        kb.button(text=t("my.write"), callback_data=RelayCD(number=referral.id))
    if referral.status in OPEN_STATUSES:
        kb.button(
            text=t("my.add_details"),
            callback_data=FamilyCD(action=FamilyAction.DETAILS, number=referral.id),
        )
        kb.button(
            text=t("my.cancel"),
            callback_data=FamilyCD(action=FamilyAction.CANCEL, number=referral.id),
        )
    kb.adjust(1)
    return text, kb.as_markup()


async def cb_family(
    query: CallbackQuery,
    callback_data: FamilyCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    message = query.message
    referral = await session.get(models.Referral, callback_data.number)
    if (
        not isinstance(message, Message)
        or viewer.user is None
        or referral is None
        or referral.family_user_id != viewer.user.id
    ):
        alert(callback_answer, t("my.not_yours"))
        return
    action = callback_data.action
    if action is FamilyAction.OPEN:
        text, keyboard = _detail(referral, t, catalogue)
        await message.answer(text, reply_markup=keyboard)
    elif action is FamilyAction.CANCEL:
        kb = Keyboard()
        kb.button(
            text=t("my.cancel_yes"),
            callback_data=FamilyCD(action=FamilyAction.CANCEL_CONFIRM, number=referral.id),
        )
        await message.answer(
            t("my.cancel_confirm", number=referral.id), reply_markup=kb.as_markup()
        )
    elif action is FamilyAction.CANCEL_CONFIRM:
        outcome = await referrals.cancel(
            session, app.referral_context(), referral_id=referral.id, family=viewer.user
        )
        if outcome is not Outcome.OK:
            alert(callback_answer, t("request.stale"))
            return
        await message.edit_reply_markup(reply_markup=None)
    elif action is FamilyAction.DETAILS:
        await leave_dialog(state)
        await state.set_state(FamilyStates.details)
        await state.update_data(details_for=referral.id)
        await message.answer(t("my.ask_details", number=referral.id))


async def msg_details(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    app: App,
) -> None:
    number = (await state.get_data()).get("details_for")
    await leave_dialog(state)
    text = (message.text or "").strip()[:DESCRIPTION_LIMIT]
    if not isinstance(number, int) or viewer.user is None or not text:
        await message.answer(t("request.stale"))
        return
    outcome = await referrals.add_details(
        session, app.referral_context(), referral_id=number, family=viewer.user, text=text
    )
    if outcome is not Outcome.OK:
        await message.answer(t("request.stale"))
        return
    await message.answer(t("my.details_added", number=number))


# --- closing the loop -----------------------------------------------------------------------


async def cb_loop(
    query: CallbackQuery,
    callback_data: LoopCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    app: App,
) -> None:
    message = query.message
    if not isinstance(message, Message) or viewer.user is None:
        alert(callback_answer, t("my.not_yours"))
        return
    if callback_data.action is LoopAction.GOT_HELP:
        if callback_data.value not in ("yes", "partly", "no"):
            alert(callback_answer, t("fallback.stale_button"))
            return
        outcome, feedback_id = await referrals.confirm(
            session,
            app.referral_context(),
            referral_id=callback_data.number,
            family=viewer.user,
            got_help=callback_data.value,
        )
        if outcome is Outcome.TAKEN:
            alert(callback_answer, t("loop.already"))
            return
        if outcome is not Outcome.OK:
            alert(callback_answer, t("my.not_yours"))
            return
        await message.edit_reply_markup(reply_markup=None)
        await state.update_data(loop_feedback=feedback_id, loop_number=callback_data.number)
        kb = Keyboard()
        for rating in range(1, 6):
            kb.button(
                text="⭐" * rating,
                callback_data=LoopCD(
                    action=LoopAction.RATING, number=callback_data.number, value=str(rating)
                ),
            )
        kb.adjust(5)
        await message.answer(t("loop.ask_rating"), reply_markup=kb.as_markup())
        return
    data = await state.get_data()
    feedback_id = data.get("loop_feedback")
    if not isinstance(feedback_id, int) or data.get("loop_number") != callback_data.number:
        alert(callback_answer, t("fallback.stale_button"))
        return
    if callback_data.action is LoopAction.RATING:
        if not callback_data.value.isdigit() or not 1 <= int(callback_data.value) <= 5:
            alert(callback_answer, t("fallback.stale_button"))
            return
        await referrals.rate(
            session, feedback_id=feedback_id, family=viewer.user, rating=int(callback_data.value)
        )
        await message.edit_reply_markup(reply_markup=None)
        kb = Keyboard()
        kb.button(
            text=t("loop.skip"),
            callback_data=LoopCD(action=LoopAction.SKIP_COMMENT, number=callback_data.number),
        )
        await state.set_state(FamilyStates.comment)
        await message.answer(t("loop.ask_comment"), reply_markup=kb.as_markup())
    elif callback_data.action is LoopAction.SKIP_COMMENT:
        await message.edit_reply_markup(reply_markup=None)
        await _loop_done(message, state, t, callback_data.number)


async def msg_comment(
    message: Message, viewer: Viewer, session: AsyncSession, state: FSMContext, t: Translator
) -> None:
    data = await state.get_data()
    feedback_id, number = data.get("loop_feedback"), data.get("loop_number")
    if isinstance(feedback_id, int) and viewer.user is not None:
        await referrals.rate(
            session,
            feedback_id=feedback_id,
            family=viewer.user,
            comment=(message.text or "").strip(),
        )
    await _loop_done(message, state, t, number if isinstance(number, int) else 0)


async def _loop_done(message: Message, state: FSMContext, t: Translator, number: int) -> None:
    await state.update_data(loop_feedback=None, loop_number=None)
    await leave_dialog(state)
    await message.answer(t("loop.thanks", number=number))


async def cb_gap(
    query: CallbackQuery,
    callback_data: GapCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    """Report a gap: first the need, then an optional comment."""
    message = query.message
    if not isinstance(message, Message):
        return
    if not callback_data.need:
        kb = Keyboard()
        for need in catalogue.view.needs.values():
            title = t.pick(need.title, need.title_en)
            kb.button(text=f"{need.emoji} {title}".strip(), callback_data=GapCD(need=need.id))
        kb.adjust(2)
        await message.answer(t("gap.ask_need"), reply_markup=kb.as_markup())
        return
    if callback_data.need == "-":
        data = await state.get_data()
        await _save_gap(message, viewer, session, state, t, app, data.get("gap_need"), None)
        return
    if callback_data.need not in catalogue.view.needs:
        alert(callback_answer, t("fallback.stale_button"))
        return
    await leave_dialog(state)
    await state.set_state(FamilyStates.gap_comment)
    await state.update_data(gap_need=callback_data.need)
    kb = Keyboard()
    kb.button(text=t("gap.skip"), callback_data=GapCD(need="-"))
    await message.edit_reply_markup(reply_markup=None)
    await message.answer(t("gap.ask_comment"), reply_markup=kb.as_markup())


async def msg_gap_comment(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    app: App,
) -> None:
    data = await state.get_data()
    await _save_gap(message, viewer, session, state, t, app, data.get("gap_need"), message.text)


async def _save_gap(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    app: App,
    need_id: object,
    comment: str | None,
) -> None:
    await leave_dialog(state)
    if not isinstance(need_id, str):
        await message.answer(t("fallback.stale_button"))
        return
    await discovery.report_gap(
        session,
        app.clock,
        need_id=need_id,
        region_code=viewer.region_code,
        user=viewer.user,
        comment=comment,
    )
    await message.answer(t("gap.thanks"))


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(cmd_request, Command("request"))
    router.message.register(cmd_my, Command("my"))
    router.callback_query.register(cb_request, RequestCD.filter())
    router.callback_query.register(cb_family, FamilyCD.filter())
    router.callback_query.register(cb_loop, LoopCD.filter())
    router.callback_query.register(cb_gap, GapCD.filter())
    not_command = ~F.text.startswith("/")
    router.message.register(msg_municipality, RequestStates.municipality, F.text, not_command)
    router.message.register(msg_description, RequestStates.description, not_command)
    router.message.register(msg_phone, RequestStates.phone, F.contact)
    router.message.register(msg_phone, RequestStates.phone, F.text, not_command)
    router.message.register(msg_details, FamilyStates.details, F.text, not_command)
    router.message.register(msg_comment, FamilyStates.comment, F.text, not_command)
    router.message.register(msg_gap_comment, FamilyStates.gap_comment, F.text, not_command)
    return router
