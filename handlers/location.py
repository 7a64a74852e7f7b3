"""Choosing a region and a municipality: used by /start and /profile alike."""

from __future__ import annotations

from enum import StrEnum
from html import escape

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares.viewer import ANON_MUNICIPALITY, ANON_REGION, Viewer
from core import people
from core.catalogue.active import CatalogueHolder
from core.places import find_municipalities
from core.texts import Translator, in_language
from handlers.filters import shown
from handlers.keyboards import Keyboard
from handlers.render import alert

PAGE_SIZE = 10
# Set when the choice started from /profile: the answer is then one line, not the onboarding help.
FROM_PROFILE = "location_from_profile"


class LocationAction(StrEnum):
    REGION = "r"
    MUNICIPALITY = "m"
    PAGE = "p"
    SKIP = "s"


class LocationCD(CallbackData, prefix="loc"):
    action: LocationAction
    value: str = ""


class LocationStates(StatesGroup):
    typing_municipality = State()


def region_keyboard(catalogue: CatalogueHolder, lang: str) -> InlineKeyboardMarkup:
    kb = Keyboard()
    for region in catalogue.view.regions.values():
        label = in_language(lang, region.name, region.name_en)
        kb.button(
            text=label, callback_data=LocationCD(action=LocationAction.REGION, value=region.code)
        )
    kb.adjust(1)
    return kb.as_markup()


async def ask_region(message: Message, t: Translator, catalogue: CatalogueHolder) -> None:
    await message.answer(t("region.ask"), reply_markup=region_keyboard(catalogue, t.lang))


def municipality_keyboard(
    catalogue: CatalogueHolder, region_code: str, page: int, t: Translator
) -> InlineKeyboardMarkup:
    region = catalogue.view.regions[region_code]
    municipalities = region.municipalities
    pages = max(1, -(-len(municipalities) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    kb = Keyboard()
    for mun in municipalities[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]:
        label = t.pick(mun.name, mun.name_en)
        kb.button(
            text=label, callback_data=LocationCD(action=LocationAction.MUNICIPALITY, value=mun.id)
        )
    kb.adjust(2)
    nav = Keyboard()
    if page > 0:
        nav.button(
            text=t("municipality.prev"),
            callback_data=LocationCD(action=LocationAction.PAGE, value=str(page - 1)),
        )
    if page < pages - 1:
        nav.button(
            text=t("municipality.next"),
            callback_data=LocationCD(action=LocationAction.PAGE, value=str(page + 1)),
        )
    nav.button(text=t("municipality.skip"), callback_data=LocationCD(action=LocationAction.SKIP))
    kb.attach(nav)
    return kb.as_markup()


async def _save_location(
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    region_code: str,
    municipality_id: str | None,
) -> None:
    if viewer.user is not None:
        await people.set_location(session, viewer.user, region_code, municipality_id)
    else:
        await state.update_data({ANON_REGION: region_code, ANON_MUNICIPALITY: municipality_id})
    viewer.region_code, viewer.municipality_id = region_code, municipality_id


async def _ask_municipality(
    message: Message, state: FSMContext, t: Translator, catalogue: CatalogueHolder, region: str
) -> None:
    await state.set_state(LocationStates.typing_municipality)
    await message.answer(
        t("municipality.ask"), reply_markup=municipality_keyboard(catalogue, region, 0, t)
    )


async def _finish(message: Message, state: FSMContext, t: Translator, viewer: Viewer) -> None:
    await state.set_state(None)
    if (await state.get_data()).get(FROM_PROFILE):
        await state.update_data({FROM_PROFILE: None})
        await message.answer(t("profile.location_saved"))
        return
    text = t("ready")
    if not viewer.consented:
        text += "\n\n" + t("menu.anonymous_note")
    await message.answer(text)


async def cb_region(
    query: CallbackQuery,
    message: Message,
    callback_answer: CallbackAnswer,
    callback_data: LocationCD,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    region = catalogue.view.regions.get(callback_data.value)
    if region is None:
        alert(callback_answer, t("region.unknown"))
        return
    await _save_location(viewer, session, state, region.code, None)
    name = t.pick(region.name, region.name_en)
    await message.edit_text(t("region.chosen", region=name))
    await _ask_municipality(message, state, t, catalogue, region.code)


async def cb_page(
    query: CallbackQuery,
    message: Message,
    callback_answer: CallbackAnswer,
    callback_data: LocationCD,
    viewer: Viewer,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    if viewer.region_code not in catalogue.view.regions or not callback_data.value.isdigit():
        alert(callback_answer, t("fallback.stale_button"))
        return
    await message.edit_reply_markup(
        reply_markup=municipality_keyboard(
            catalogue, viewer.region_code, int(callback_data.value), t
        )
    )


async def cb_municipality(
    query: CallbackQuery,
    message: Message,
    callback_answer: CallbackAnswer,
    callback_data: LocationCD,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    mun = catalogue.view.municipality(callback_data.value)
    region = catalogue.view.regions.get(viewer.region_code or "")
    if mun is None or region is None or mun not in region.municipalities:
        alert(callback_answer, t("fallback.stale_button"))
        return
    await _save_location(viewer, session, state, region.code, mun.id)
    name = t.pick(mun.name, mun.name_en)
    await message.edit_text(t("municipality.chosen", municipality=name))
    await _finish(message, state, t, viewer)


async def cb_skip(
    query: CallbackQuery, message: Message, viewer: Viewer, state: FSMContext, t: Translator
) -> None:
    await message.edit_text(t("municipality.skipped"))
    await _finish(message, state, t, viewer)


async def msg_municipality_name(
    message: Message, viewer: Viewer, state: FSMContext, t: Translator, catalogue: CatalogueHolder
) -> None:
    region = catalogue.view.regions.get(viewer.region_code or "")
    if region is None:
        await state.set_state(None)
        await ask_region(message, t, catalogue)
        return
    query = (message.text or "")[:100]
    found = find_municipalities(catalogue.view, region, query)
    if not found:
        await message.answer(
            t("municipality.not_found", query=escape(query)),
            reply_markup=municipality_keyboard(catalogue, region.code, 0, t),
        )
        return
    kb = Keyboard()
    for mun in found:
        label = t.pick(mun.name, mun.name_en)
        kb.button(
            text=label, callback_data=LocationCD(action=LocationAction.MUNICIPALITY, value=mun.id)
        )
    kb.button(text=t("municipality.skip"), callback_data=LocationCD(action=LocationAction.SKIP))
    kb.adjust(1)
    await message.answer(t("municipality.matches"), reply_markup=kb.as_markup())


def create_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(
        cb_region, LocationCD.filter(F.action == LocationAction.REGION), shown
    )
    router.callback_query.register(
        cb_page, LocationCD.filter(F.action == LocationAction.PAGE), shown
    )
    router.callback_query.register(
        cb_municipality, LocationCD.filter(F.action == LocationAction.MUNICIPALITY), shown
    )
    router.callback_query.register(
        cb_skip, LocationCD.filter(F.action == LocationAction.SKIP), shown
    )
    # A command typed instead of a name runs as the command, not as a search for a place.
    router.message.register(
        msg_municipality_name, LocationStates.typing_municipality, F.text, ~F.text.startswith("/")
    )
    return router
