"""What the family's referral screens share: their callback data and dialog states, the
"ask for help" entry other features show, and the names of needs and places."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.state import State, StatesGroup

from core.catalogue.active import CatalogueHolder
from core.texts import Translator, in_language


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


class RequestStep(StrEnum):
    """The question of /request a button answers (its wire value is kept from before)."""

    START = "start"
    NEED = "need"
    MUNICIPALITY = "mun"
    DESCRIPTION = "desc"
    CONTACT = "contact"
    SEND = "send"


class RequestCD(CallbackData, prefix="rq"):
    step: RequestStep
    value: str = ""


def ask_help_button(
    t: Translator, *, need_id: str | None = None, measure_id: str | None = None
) -> tuple[str, RequestCD]:
    """The "ask for help" entry used by cards (measure) and empty searches (need)."""
    value = f"m.{measure_id}" if measure_id else (f"n.{need_id}" if need_id else "")
    return t("card.ask_help"), RequestCD(step=RequestStep.START, value=value)


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
