"""/consult: book, move and cancel a consultation; /slots: a coordinator publishes times.

Buttons carry ids only; every press re-reads the slot, the booking or the coordinator's role
from the DB, so a stale or forged button gets an alert and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum
from html import escape

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.middlewares.viewer import Viewer
from bot.privacy import PrivacyNotice
from core import consultations
from core.catalogue import schema
from core.catalogue.active import CatalogueHolder, CatalogueView
from core.consultations.booking import BookingOutcome
from core.consultations.times import format_slot, region_timezone
from core.texts import Translator
from db import models
from handlers.dialogs import leave_dialog
from handlers.keyboards import Keyboard
from handlers.location import ask_region
from handlers.onboarding import consent_keyboard
from handlers.render import alert
from handlers.requests import ask_help_button, need_title

SLOTS_PAGE = 8
BACK = "back"  # ConsultCD.value of "Мои записи" reached by a back button: edit in place
BUTTON_LIMIT = 60


class ConsultAction(StrEnum):
    NEEDS = "ns"
    NEED = "n"
    CONSULTATION = "c"
    SLOT = "s"
    BOOK = "b"
    DROP = "d"
    MINE = "m"
    MOVE = "mv"
    MOVE_TO = "mt"
    CANCEL = "x"
    CANCEL_CONFIRM = "xc"


class ConsultCD(CallbackData, prefix="cs"):
    action: ConsultAction
    value: str = ""  # a need or a consultation id
    slot: int = 0
    number: int = 0  # a booking: the referral number
    page: int = 0


class SlotsCD(CallbackData, prefix="csl"):
    consultation: str


class SlotsStates(StatesGroup):
    times = State()


def _cd(
    action: ConsultAction, *, value: str = "", slot: int = 0, number: int = 0, page: int = 0
) -> ConsultCD:
    return ConsultCD(action=action, value=value, slot=slot, number=number, page=page)


def _label(title: str, org: str) -> str:
    """A button label: the title in full if possible, then as much of the organisation."""
    text = f"{title} · {org}"
    return text if len(text) <= BUTTON_LIMIT else text[: BUTTON_LIMIT - 1].rstrip() + "…"


def _org_name(org: schema.Organization, t: Translator) -> str:
    return t.pick(org.name, org.name_en)


def _title(consultation: schema.Consultation, t: Translator) -> str:
    return t.pick(consultation.title, consultation.title_en)


def _family(viewer: Viewer) -> models.User | None:
    """The person as a family that may book: consented and with a region."""
    if not viewer.consented or viewer.user is None or viewer.user.region_code is None:
        return None
    return viewer.user


# --- choosing: need → consultation → time → confirm ------------------------------------------


async def cmd_consult(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    await leave_dialog(state)
    if not viewer.consented:
        await message.answer(t("consult.need_consent"), reply_markup=consent_keyboard(t))
        return
    if viewer.region_code is None:
        await message.answer(t("consult.region_first"))
        await ask_region(message, t, catalogue)
        return
    text, keyboard = await _needs_screen(viewer.region_code, session, t, catalogue, app)
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
                callback_data=_cd(ConsultAction.NEED, value=need.id),
            )
    kb.adjust(2)
    extra = Keyboard()
    extra.button(text=t("consult.mine_button"), callback_data=_cd(ConsultAction.MINE))
    if not offered:
        label, data = ask_help_button(t)
        extra.button(text=label, callback_data=data)
    extra.adjust(1)
    kb.attach(extra)
    return t("consult.choose_need" if offered else "consult.none_available"), kb.as_markup()


async def cb_needs(
    query: CallbackQuery,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    family = _family(viewer)
    if family is None or family.region_code is None or not isinstance(query.message, Message):
        alert(callback_answer, t("consult.stale"))
        return
    text, keyboard = await _needs_screen(family.region_code, session, t, catalogue, app)
    await query.message.edit_text(text, reply_markup=keyboard)


async def cb_need(
    query: CallbackQuery,
    callback_data: ConsultCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    family = _family(viewer)
    view = catalogue.view
    need_id = callback_data.value
    if (
        family is None
        or family.region_code is None
        or need_id not in view.needs
        or not isinstance(query.message, Message)
    ):
        alert(callback_answer, t("consult.stale"))
        return
    ids = await consultations.available_consultations(
        session, view, region_code=family.region_code, need_id=need_id, now=app.clock.now()
    )
    if not ids:
        alert(callback_answer, t("consult.no_slots"))
        return
    lines = [t("consult.need_header", need=escape(need_title(catalogue, need_id, t.lang)))]
    kb = Keyboard()
    for cid in ids:
        org, consultation = view.consultations[cid]
        lines.append("")
        lines.append(_consultation_text(org, consultation, t))
        kb.button(
            text=_label(_title(consultation, t), _org_name(org, t)),
            callback_data=_cd(ConsultAction.CONSULTATION, value=cid),
        )
    kb.button(text=t("consult.back"), callback_data=_cd(ConsultAction.NEEDS))
    kb.adjust(1)
    await query.message.edit_text("\n".join(lines), reply_markup=kb.as_markup())


def _consultation_text(
    org: schema.Organization, consultation: schema.Consultation, t: Translator
) -> str:
    ru = t.lang == "ru"
    return t(
        "consult.consultation",
        title=escape(_title(consultation, t)),
        organization=escape(_org_name(org, t)),
        format=t(f"format.{consultation.format.value}"),
        minutes=consultation.duration_minutes,
        price=t("consult.free" if consultation.free else "consult.paid"),
        description=escape(consultation.description if ru else consultation.description_en),
    )


def _slots_keyboard(
    slots: list[models.ConsultationSlot],
    t: Translator,
    view: CatalogueView,
    region_code: str,
    *,
    pick: ConsultAction,
    turn: ConsultAction,
    page: int,
    value: str = "",
    number: int = 0,
) -> Keyboard:
    """One page of times (2 a row) and the page turners; `slots` holds one extra as a probe."""
    tz = region_timezone(view, region_code)
    kb = Keyboard()
    for slot in slots[:SLOTS_PAGE]:
        kb.button(
            text=format_slot(t, slot.starts_at, tz),
            callback_data=_cd(pick, slot=slot.id, value=value, number=number),
        )
    kb.adjust(2)
    nav = Keyboard()
    if page > 0:
        nav.button(
            text=t("consult.prev"),
            callback_data=_cd(turn, value=value, number=number, page=page - 1),
        )
    if len(slots) > SLOTS_PAGE:
        nav.button(
            text=t("consult.next"),
            callback_data=_cd(turn, value=value, number=number, page=page + 1),
        )
    kb.attach(nav)
    return kb


async def cb_consultation(
    query: CallbackQuery,
    callback_data: ConsultCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    family = _family(viewer)
    view = catalogue.view
    entry = view.consultations.get(callback_data.value)
    page = max(callback_data.page, 0)
    if (
        family is None
        or family.region_code is None
        or entry is None
        or not isinstance(query.message, Message)
    ):
        alert(callback_answer, t("consult.stale"))
        return
    org, consultation = entry
    slots = await consultations.open_slots(
        session,
        view,
        region_code=family.region_code,
        consultation_id=consultation.id,
        now=app.clock.now(),
        limit=SLOTS_PAGE + 1,
        offset=page * SLOTS_PAGE,
    )
    if not slots:
        alert(callback_answer, t("consult.no_slots"))
        return
    kb = _slots_keyboard(
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
        text=t("consult.back"), callback_data=_cd(ConsultAction.NEED, value=consultation.need)
    )
    kb.attach(back)
    text = _consultation_text(org, consultation, t) + "\n\n" + t("consult.choose_slot")
    await query.message.edit_text(text, reply_markup=kb.as_markup())


async def cb_slot(
    query: CallbackQuery,
    callback_data: ConsultCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    family = _family(viewer)
    if family is None or family.region_code is None or not isinstance(query.message, Message):
        alert(callback_answer, t("consult.stale"))
        return
    view = catalogue.view
    slot = await consultations.slot_is_open(
        session, view, callback_data.slot, region_code=family.region_code, now=app.clock.now()
    )
    if slot is None:
        alert(callback_answer, t("consult.taken"))
        return
    org, consultation = view.consultations[slot.consultation_id]
    tz = region_timezone(view, org.region)
    kb = Keyboard()
    kb.button(text=t("consult.book_yes"), callback_data=_cd(ConsultAction.BOOK, slot=slot.id))
    kb.button(
        text=t("consult.back"),
        callback_data=_cd(ConsultAction.CONSULTATION, value=consultation.id),
    )
    kb.button(text=t("consult.book_no"), callback_data=_cd(ConsultAction.DROP))
    kb.adjust(1)
    await query.message.edit_text(
        t(
            "consult.confirm",
            title=escape(_title(consultation, t)),
            organization=escape(_org_name(org, t)),
            format=t(f"format.{consultation.format.value}"),
            time=format_slot(t, slot.starts_at, tz),
        ),
        reply_markup=kb.as_markup(),
    )


async def cb_book(
    query: CallbackQuery,
    callback_data: ConsultCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    t: Translator,
    privacy: PrivacyNotice,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    family = _family(viewer)
    if family is None or not isinstance(query.message, Message):
        alert(callback_answer, t("consult.stale"))
        return
    result = await consultations.book(
        session,
        app.referral_context(),
        family=family,
        slot_id=callback_data.slot,
        consent_version=privacy.version,
        texts=app.texts,
    )
    if result.outcome is not BookingOutcome.OK or result.starts_at is None:
        alert(callback_answer, _refusal(result.outcome, t))
        return
    entry = catalogue.view.consultations.get(result.consultation_id or "")
    if entry is None:
        return
    org, consultation = entry
    await query.message.edit_text(
        t(
            "consult.booked",
            number=result.referral_id,
            time=format_slot(t, result.starts_at, region_timezone(catalogue.view, org.region)),
            title=escape(_title(consultation, t)),
            organization=escape(_org_name(org, t)),
            format=t(f"format.{consultation.format.value}"),
        ),
        reply_markup=None,
    )


def _refusal(outcome: BookingOutcome, t: Translator) -> str:
    return t(
        {
            BookingOutcome.TAKEN: "consult.taken",
            BookingOutcome.DUPLICATE: "consult.duplicate",
            BookingOutcome.GONE: "consult.gone",
        }.get(outcome, "consult.not_yours")
    )


async def cb_drop(query: CallbackQuery, t: Translator) -> None:
    if isinstance(query.message, Message):
        await query.message.edit_text(t("consult.dropped"), reply_markup=None)


# --- my bookings: move or cancel ----------------------------------------------------------


async def cb_mine(
    query: CallbackQuery,
    callback_data: ConsultCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    family = _family(viewer)
    if family is None or not isinstance(query.message, Message):
        alert(callback_answer, t("consult.stale"))
        return
    view = catalogue.view
    message = query.message
    bookings = await consultations.upcoming_bookings(session, family.id, app.clock.now())
    show = message.edit_text if callback_data.value == BACK else message.answer
    if not bookings:
        await show(t("consult.mine_empty"))
        return
    lines = [t("consult.mine_title"), ""]
    kb = Keyboard()
    for booked in bookings:
        entry = view.consultations.get(booked.slot.consultation_id)
        title = _title(entry[1], t) if entry else booked.slot.consultation_id
        org = _org_name(entry[0], t) if entry else "—"
        tz = region_timezone(view, entry[0].region if entry else family.region_code)
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
            callback_data=_cd(ConsultAction.MOVE, number=booked.referral.id),
        )
        kb.button(
            text=t("consult.cancel_button", number=booked.referral.id),
            callback_data=_cd(ConsultAction.CANCEL, number=booked.referral.id),
        )
    kb.adjust(2)
    await show("\n".join(lines), reply_markup=kb.as_markup())


async def _own_booking(
    query: CallbackQuery,
    callback_data: ConsultCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    t: Translator,
) -> tuple[models.User, consultations.BookedSlot, Message] | None:
    family = _family(viewer)
    booked = (
        await consultations.family_booking(session, family, callback_data.number)
        if family is not None
        else None
    )
    if family is None or booked is None or not isinstance(query.message, Message):
        alert(callback_answer, t("consult.not_yours"))
        return None
    return family, booked, query.message


async def cb_move(
    query: CallbackQuery,
    callback_data: ConsultCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    found = await _own_booking(query, callback_data, callback_answer, viewer, session, t)
    if found is None:
        return
    _, booked, message = found
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
    kb = _slots_keyboard(
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
    back.button(text=t("consult.back"), callback_data=_cd(ConsultAction.MINE, value=BACK))
    kb.attach(back)
    text = t(
        "consult.choose_new_slot",
        number=number,
        title=escape(_title(consultation, t)),
        time=format_slot(t, booked.slot.starts_at, region_timezone(view, org.region)),
    )
    await message.edit_text(text, reply_markup=kb.as_markup())


async def cb_move_to(
    query: CallbackQuery,
    callback_data: ConsultCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    found = await _own_booking(query, callback_data, callback_answer, viewer, session, t)
    if found is None:
        return
    family, booked, message = found
    result = await consultations.reschedule(
        session,
        app.referral_context(),
        family=family,
        referral_id=booked.referral.id,
        new_slot_id=callback_data.slot,
        texts=app.texts,
    )
    if result.outcome is not BookingOutcome.OK or result.starts_at is None:
        alert(callback_answer, _refusal(result.outcome, t))
        return
    entry = catalogue.view.consultations.get(booked.slot.consultation_id)
    tz = region_timezone(catalogue.view, entry[0].region if entry else family.region_code)
    await message.edit_text(
        t("consult.moved", number=result.referral_id, time=format_slot(t, result.starts_at, tz)),
        reply_markup=None,
    )


async def cb_cancel(
    query: CallbackQuery,
    callback_data: ConsultCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    found = await _own_booking(query, callback_data, callback_answer, viewer, session, t)
    if found is None:
        return
    family, booked, message = found
    view = catalogue.view
    entry = view.consultations.get(booked.slot.consultation_id)
    tz = region_timezone(view, entry[0].region if entry else family.region_code)
    kb = Keyboard()
    kb.button(
        text=t("consult.cancel_yes"),
        callback_data=_cd(ConsultAction.CANCEL_CONFIRM, number=booked.referral.id),
    )
    kb.button(text=t("consult.back"), callback_data=_cd(ConsultAction.MINE, value=BACK))
    kb.adjust(1)
    await message.edit_text(
        t(
            "consult.cancel_confirm",
            number=booked.referral.id,
            title=escape(_title(entry[1], t) if entry else booked.slot.consultation_id),
            time=format_slot(t, booked.slot.starts_at, tz),
        ),
        reply_markup=kb.as_markup(),
    )


async def cb_cancel_confirm(
    query: CallbackQuery,
    callback_data: ConsultCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    t: Translator,
    app: App,
) -> None:
    found = await _own_booking(query, callback_data, callback_answer, viewer, session, t)
    if found is None:
        return
    family, booked, message = found
    result = await consultations.cancel_booking(
        session, app.referral_context(), family=family, referral_id=booked.referral.id
    )
    if result.outcome is not BookingOutcome.OK:
        alert(callback_answer, t("consult.not_yours"))
        return
    await message.edit_text(t("consult.cancelled", number=booked.referral.id), reply_markup=None)


# --- /slots: a coordinator publishes times ------------------------------------------------


async def _coordinates(
    session: AsyncSession, viewer: Viewer, catalogue: CatalogueHolder, consultation_id: str
) -> tuple[schema.Organization, schema.Consultation] | None:
    """The consultation, if the person is a coordinator of the organisation offering it."""
    entry = catalogue.view.consultations.get(consultation_id)
    if entry is None or viewer.user is None:
        return None
    if entry[0].id not in await consultations.coordinated_organizations(session, viewer.user.id):
        return None
    return entry


async def cmd_slots(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await leave_dialog(state)
    orgs = (
        await consultations.coordinated_organizations(session, viewer.user.id)
        if viewer.user is not None
        else []
    )
    if not orgs:
        await message.answer(t("consult.slots_forbidden"))
        return
    view = catalogue.view
    offered = [
        (org, consultation)
        for org in (view.organizations[o] for o in orgs if o in view.organizations)
        for consultation in org.consultations
    ]
    kb = Keyboard()
    for org, consultation in offered:
        kb.button(
            text=_label(_title(consultation, t), _org_name(org, t)),
            callback_data=SlotsCD(consultation=consultation.id),
        )
    kb.adjust(1)
    if not offered:
        await message.answer(t("consult.slots_no_consultations"))
        return
    await message.answer(t("consult.slots_choose"), reply_markup=kb.as_markup())


async def cb_slots_pick(
    query: CallbackQuery,
    callback_data: SlotsCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    entry = await _coordinates(session, viewer, catalogue, callback_data.consultation)
    if entry is None or not isinstance(query.message, Message):
        alert(callback_answer, t("consult.slots_forbidden"))
        return
    org, consultation = entry
    region = catalogue.view.regions.get(org.region)
    free, booked = await consultations.upcoming_counts(session, consultation.id, app.clock.now())
    await leave_dialog(state)
    await state.set_state(SlotsStates.times)
    await state.update_data(slots_for=consultation.id)
    await query.message.edit_reply_markup(reply_markup=None)
    await query.message.answer(
        t(
            "consult.slots_ask",
            title=escape(_title(consultation, t)),
            region=escape(t.pick(region.name, region.name_en) if region else "—"),
            free=free,
            booked=booked,
        )
    )


async def msg_slots_times(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    consultation_id = (await state.get_data()).get("slots_for")
    await leave_dialog(state)
    entry = (
        await _coordinates(session, viewer, catalogue, consultation_id)
        if isinstance(consultation_id, str)
        else None
    )
    if entry is None:
        await message.answer(t("consult.slots_forbidden"))
        return
    org, consultation = entry
    now = app.clock.now()
    tz = region_timezone(catalogue.view, org.region)
    times, bad = consultations.parse_times(message.text or "", tz, now)
    added = await consultations.publish_slots(
        session,
        organization_id=org.id,
        consultation_id=consultation.id,
        starts=times,
        now=now,
    )
    lines = [
        t(
            "consult.slots_result",
            added=added,
            skipped=len(times) - added,
            title=escape(_title(consultation, t)),
        )
    ]
    if bad:
        lines.append(t("consult.slots_bad_lines", lines=escape("\n".join(bad[:20]))))
    lines.append(t("consult.slots_more"))
    await message.answer("\n\n".join(lines))


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(cmd_consult, Command("consult"))
    router.message.register(cmd_slots, Command("slots"))
    handlers: dict[ConsultAction, Callable[..., Awaitable[None]]] = {
        ConsultAction.NEEDS: cb_needs,
        ConsultAction.NEED: cb_need,
        ConsultAction.CONSULTATION: cb_consultation,
        ConsultAction.SLOT: cb_slot,
        ConsultAction.BOOK: cb_book,
        ConsultAction.DROP: cb_drop,
        ConsultAction.MINE: cb_mine,
        ConsultAction.MOVE: cb_move,
        ConsultAction.MOVE_TO: cb_move_to,
        ConsultAction.CANCEL: cb_cancel,
        ConsultAction.CANCEL_CONFIRM: cb_cancel_confirm,
    }
    for action, handler in handlers.items():
        router.callback_query.register(handler, ConsultCD.filter(F.action == action))
    router.callback_query.register(cb_slots_pick, SlotsCD.filter())
    router.message.register(msg_slots_times, SlotsStates.times, F.text, ~F.text.startswith("/"))
    return router
