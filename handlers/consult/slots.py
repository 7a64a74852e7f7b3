"""/slots: a coordinator publishes the times of their organisation's consultations."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.middlewares.viewer import Viewer
from core import consultations
from core.catalogue import schema
from core.catalogue.active import CatalogueHolder
from core.consultations.times import region_timezone
from core.texts import Translator
from handlers.consult.screens import SlotsCD, label, org_name, title_of
from handlers.dialogs import LEAVES_DIALOG, leave_dialog, leaving_dialogs
from handlers.filters import shown
from handlers.keyboards import Keyboard
from handlers.render import alert


class SlotsStates(StatesGroup):
    times = State()


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
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
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
            text=label(title_of(consultation, t), org_name(org, t)),
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
    message: Message,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
    app: App,
) -> None:
    entry = await _coordinates(session, viewer, catalogue, callback_data.consultation)
    if entry is None:
        alert(callback_answer, t("consult.slots_forbidden"))
        return
    org, consultation = entry
    region = catalogue.view.regions.get(org.region)
    free, booked = await consultations.upcoming_counts(session, consultation.id, app.clock.now())
    await leave_dialog(state)
    await state.set_state(SlotsStates.times)
    await state.update_data(slots_for=consultation.id)
    await message.edit_reply_markup(reply_markup=None)
    await message.answer(
        t(
            "consult.slots_ask",
            title=escape(title_of(consultation, t)),
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
            title=escape(title_of(consultation, t)),
        )
    ]
    if bad:
        lines.append(t("consult.slots_bad_lines", lines=escape("\n".join(bad[:20]))))
    lines.append(t("consult.slots_more"))
    await message.answer("\n\n".join(lines))


def create_router() -> Router:
    router = leaving_dialogs(Router(name=__name__))
    router.message.register(cmd_slots, Command("slots"), flags=LEAVES_DIALOG)
    router.callback_query.register(cb_slots_pick, SlotsCD.filter(), shown)
    router.message.register(msg_slots_times, SlotsStates.times, F.text, ~F.text.startswith("/"))
    return router
