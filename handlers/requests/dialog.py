"""/request: a family asks for help, step by step (need → place → description → contact →
confirm); each step's button has its own handler, valid only while the dialog is at it."""

from __future__ import annotations

import re
from contextlib import suppress
from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import (
    CallbackQuery,
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
from core.referrals.transitions import DESCRIPTION_LIMIT
from core.texts import Translator
from handlers.dialogs import leave_dialog
from handlers.filters import ButtonHandler, shown
from handlers.keyboards import Keyboard
from handlers.location import ask_region
from handlers.onboarding import region_or_prompt
from handlers.render import alert
from handlers.requests.shared import (
    RequestCD,
    RequestStates,
    RequestStep,
    municipality_name,
    need_title,
)

PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{8,18}[0-9]$")
WHOLE_REGION = "-"


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
    if await region_or_prompt(message, viewer, t, catalogue, topic="request") is None:
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
            callback_data=RequestCD(step=RequestStep.NEED, value=need.id),
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
            callback_data=RequestCD(step=RequestStep.MUNICIPALITY, value=viewer.municipality_id),
        )
    kb.button(
        text=t("request.whole_region"),
        callback_data=RequestCD(step=RequestStep.MUNICIPALITY, value=WHOLE_REGION),
    )
    kb.adjust(1)
    await state.set_state(RequestStates.municipality)
    await message.answer(
        t("request.ask_municipality") + "\n" + t("municipality.ask"), reply_markup=kb.as_markup()
    )


async def _ask_description(message: Message, state: FSMContext, t: Translator) -> None:
    kb = Keyboard()
    kb.button(
        text=t("request.skip_description"),
        callback_data=RequestCD(step=RequestStep.DESCRIPTION, value="skip"),
    )
    await state.set_state(RequestStates.description)
    await message.answer(
        t("request.ask_description", limit=DESCRIPTION_LIMIT), reply_markup=kb.as_markup()
    )


async def _ask_contact(message: Message, state: FSMContext, t: Translator) -> None:
    kb = Keyboard()
    kb.button(
        text=t("request.contact_bot"),
        callback_data=RequestCD(step=RequestStep.CONTACT, value="bot"),
    )
    kb.button(
        text=t("request.contact_phone"),
        callback_data=RequestCD(step=RequestStep.CONTACT, value="phone"),
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
    kb.button(
        text=t("request.transfer_yes"), callback_data=RequestCD(step=RequestStep.SEND, value="yes")
    )
    kb.button(
        text=t("request.transfer_no"), callback_data=RequestCD(step=RequestStep.SEND, value="no")
    )
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


async def cb_start(
    query: CallbackQuery,
    callback_data: RequestCD,
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    privacy: PrivacyNotice,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    """ "Ask for help" under a card (`m.<measure>`) or an empty search (`n.<need>`)."""
    kind, _, ref = callback_data.value.partition(".")
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


async def cb_need(
    query: CallbackQuery,
    callback_data: RequestCD,
    message: Message,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await _drop_keyboard(message)
    if callback_data.value not in catalogue.view.needs:
        alert(callback_answer, t("fallback.stale_button"))
        return
    await _set(state, need=callback_data.value)
    await _ask_municipality(message, viewer, state, t, catalogue)


async def cb_municipality(
    query: CallbackQuery,
    callback_data: RequestCD,
    message: Message,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await _drop_keyboard(message)
    value = callback_data.value
    region = catalogue.view.regions.get(viewer.region_code or "")
    valid = value == WHOLE_REGION or (
        region is not None and any(m.id == value for m in region.municipalities)
    )
    if not valid:
        alert(callback_answer, t("fallback.stale_button"))
        return
    await _set(state, mun=None if value == WHOLE_REGION else value)
    await _ask_description(message, state, t)


async def cb_skip_description(
    query: CallbackQuery, message: Message, state: FSMContext, t: Translator
) -> None:
    await _drop_keyboard(message)
    await _set(state, desc=None)
    await _ask_contact(message, state, t)


async def cb_contact(
    query: CallbackQuery,
    callback_data: RequestCD,
    message: Message,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await _drop_keyboard(message)
    if callback_data.value == "phone":
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


async def cb_send(
    query: CallbackQuery,
    callback_data: RequestCD,
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    privacy: PrivacyNotice,
    app: App,
) -> None:
    await _drop_keyboard(message)
    await _send(message, viewer, session, state, t, privacy, app, callback_data.value == "yes")


async def cb_stale_step(
    query: CallbackQuery, callback_answer: CallbackAnswer, t: Translator
) -> None:
    """A button of a question this dialog is no longer at (or of a dialog that ended)."""
    alert(callback_answer, t("request.stale"))


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
            callback_data=RequestCD(step=RequestStep.MUNICIPALITY, value=mun.id),
        )
    kb.button(
        text=t("request.whole_region"),
        callback_data=RequestCD(step=RequestStep.MUNICIPALITY, value=WHOLE_REGION),
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


# Each step's button, and the question the dialog must be at for it to count.
_STEPS: dict[RequestStep, tuple[State, ButtonHandler]] = {
    RequestStep.NEED: (RequestStates.need, cb_need),
    RequestStep.MUNICIPALITY: (RequestStates.municipality, cb_municipality),
    RequestStep.DESCRIPTION: (RequestStates.description, cb_skip_description),
    RequestStep.CONTACT: (RequestStates.contact, cb_contact),
    RequestStep.SEND: (RequestStates.confirm, cb_send),
}


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(cmd_request, Command("request"))
    router.callback_query.register(cb_start, RequestCD.filter(F.step == RequestStep.START), shown)
    for step, (at, handler) in _STEPS.items():
        router.callback_query.register(
            handler, RequestCD.filter(F.step == step), StateFilter(at), shown
        )
    router.callback_query.register(cb_stale_step, RequestCD.filter())
    not_command = ~F.text.startswith("/")
    router.message.register(msg_municipality, RequestStates.municipality, F.text, not_command)
    router.message.register(msg_description, RequestStates.description, not_command)
    router.message.register(msg_phone, RequestStates.phone, F.contact)
    router.message.register(msg_phone, RequestStates.phone, F.text, not_command)
    return router
