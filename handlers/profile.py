"""/profile: see and change region, municipality, language and consent."""

from __future__ import annotations

from enum import StrEnum

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares.viewer import ANON_LANGUAGE, Viewer
from bot.privacy import PrivacyNotice
from core import people
from core.catalogue.active import CatalogueHolder
from core.texts import Texts, Translator
from handlers.dialogs import LEAVES_DIALOG, leaving_dialogs
from handlers.filters import shown
from handlers.keyboards import Keyboard
from handlers.location import FROM_PROFILE, LocationStates, ask_region, municipality_keyboard
from handlers.onboarding import ask_consent


class ProfileAction(StrEnum):
    REGION = "r"
    MUNICIPALITY = "m"
    LANGUAGE = "l"
    CONSENT = "c"


class ProfileCD(CallbackData, prefix="prf"):
    action: ProfileAction


def _profile_text(viewer: Viewer, t: Translator, catalogue: CatalogueHolder) -> str:
    view = catalogue.view
    region = view.regions.get(viewer.region_code or "")
    mun = view.municipality(viewer.municipality_id)
    ru = t.lang == "ru"
    if viewer.consented and viewer.user is not None:
        consent = t("profile.given", version=viewer.user.consent_version)
    else:
        consent = t("profile.anonymous")
    return t(
        "profile.text",
        region=(region.name if ru else region.name_en) if region else t("profile.not_set"),
        municipality=(mun.name if ru else mun.name_en) if mun else t("profile.not_set"),
        language="Русский" if ru else "English",
        consent=consent,
    )


def _profile_keyboard(viewer: Viewer, t: Translator) -> InlineKeyboardMarkup:
    kb = Keyboard()
    kb.button(
        text=t("profile.change_region"), callback_data=ProfileCD(action=ProfileAction.REGION)
    )
    if viewer.region_code:
        kb.button(
            text=t("profile.change_municipality"),
            callback_data=ProfileCD(action=ProfileAction.MUNICIPALITY),
        )
    kb.button(text=t("profile.language"), callback_data=ProfileCD(action=ProfileAction.LANGUAGE))
    if not viewer.consented:
        kb.button(
            text=t("profile.give_consent"), callback_data=ProfileCD(action=ProfileAction.CONSENT)
        )
    kb.adjust(1)
    return kb.as_markup()


async def cmd_profile(
    message: Message,
    viewer: Viewer,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await message.answer(
        _profile_text(viewer, t, catalogue), reply_markup=_profile_keyboard(viewer, t)
    )


async def cb_change_region(
    query: CallbackQuery,
    message: Message,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await state.update_data({FROM_PROFILE: True})
    await ask_region(message, t, catalogue)


async def cb_change_municipality(
    query: CallbackQuery,
    message: Message,
    viewer: Viewer,
    state: FSMContext,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await state.update_data({FROM_PROFILE: True})
    if viewer.region_code not in catalogue.view.regions:
        await ask_region(message, t, catalogue)
        return
    await state.set_state(LocationStates.typing_municipality)
    await message.answer(
        t("municipality.ask"),
        reply_markup=municipality_keyboard(catalogue, viewer.region_code, 0, t),
    )


async def cb_switch_language(
    query: CallbackQuery,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    texts: Texts,
    catalogue: CatalogueHolder,
) -> None:
    new_lang = "en" if viewer.lang == "ru" else "ru"
    if viewer.user is not None:
        await people.set_language(session, viewer.user, new_lang)
    else:
        await state.update_data({ANON_LANGUAGE: new_lang})
    viewer.lang = new_lang
    t = texts.get(new_lang)
    if isinstance(query.message, Message):
        await query.message.edit_text(
            _profile_text(viewer, t, catalogue), reply_markup=_profile_keyboard(viewer, t)
        )
        await query.message.answer(t("profile.language_changed"))


async def cb_profile_consent(
    query: CallbackQuery, message: Message, t: Translator, privacy: PrivacyNotice
) -> None:
    await ask_consent(message, t, privacy)


def create_router() -> Router:
    router = leaving_dialogs(Router(name=__name__))
    router.message.register(cmd_profile, Command("profile"), flags=LEAVES_DIALOG)
    router.callback_query.register(
        cb_change_region, ProfileCD.filter(F.action == ProfileAction.REGION), shown
    )
    router.callback_query.register(
        cb_change_municipality, ProfileCD.filter(F.action == ProfileAction.MUNICIPALITY), shown
    )
    router.callback_query.register(
        cb_switch_language, ProfileCD.filter(F.action == ProfileAction.LANGUAGE)
    )
    router.callback_query.register(
        cb_profile_consent, ProfileCD.filter(F.action == ProfileAction.CONSENT), shown
    )
    return router
