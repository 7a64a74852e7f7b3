"""What the consultation screens share: the callback data, labels, a consultation's text,
a page of times, and the words for a refused booking."""

from __future__ import annotations

from enum import StrEnum
from html import escape

from aiogram.filters.callback_data import CallbackData

from core.catalogue import schema
from core.catalogue.active import CatalogueView
from core.consultations.booking import BookingOutcome
from core.consultations.times import format_slot, region_timezone
from core.texts import Translator
from db import models
from handlers.keyboards import Keyboard

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


def consult_cd(
    action: ConsultAction, *, value: str = "", slot: int = 0, number: int = 0, page: int = 0
) -> ConsultCD:
    return ConsultCD(action=action, value=value, slot=slot, number=number, page=page)


def label(title: str, org: str) -> str:
    """A button label: the title in full if possible, then as much of the organisation."""
    text = f"{title} · {org}"
    return text if len(text) <= BUTTON_LIMIT else text[: BUTTON_LIMIT - 1].rstrip() + "…"


def org_name(org: schema.Organization, t: Translator) -> str:
    return t.pick(org.name, org.name_en)


def title_of(consultation: schema.Consultation, t: Translator) -> str:
    return t.pick(consultation.title, consultation.title_en)


def consultation_text(
    org: schema.Organization, consultation: schema.Consultation, t: Translator
) -> str:
    ru = t.lang == "ru"
    return t(
        "consult.consultation",
        title=escape(title_of(consultation, t)),
        organization=escape(org_name(org, t)),
        format=t(f"format.{consultation.format.value}"),
        minutes=consultation.duration_minutes,
        price=t("consult.free" if consultation.free else "consult.paid"),
        description=escape(consultation.description if ru else consultation.description_en),
    )


def slots_keyboard(
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
            callback_data=consult_cd(pick, slot=slot.id, value=value, number=number),
        )
    kb.adjust(2)
    nav = Keyboard()
    if page > 0:
        nav.button(
            text=t("consult.prev"),
            callback_data=consult_cd(turn, value=value, number=number, page=page - 1),
        )
    if len(slots) > SLOTS_PAGE:
        nav.button(
            text=t("consult.next"),
            callback_data=consult_cd(turn, value=value, number=number, page=page + 1),
        )
    kb.attach(nav)
    return kb


def refusal(outcome: BookingOutcome, t: Translator) -> str:
    return t(
        {
            BookingOutcome.TAKEN: "consult.taken",
            BookingOutcome.DUPLICATE: "consult.duplicate",
            BookingOutcome.GONE: "consult.gone",
        }.get(outcome, "consult.not_yours")
    )
