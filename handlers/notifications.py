"""Renders queued notifications (core/outbox.py) in the recipient's language."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram.types import InlineKeyboardMarkup

from core.catalogue.active import CatalogueHolder
from core.texts import Texts, Translator, in_language
from db.enums import GotHelp, ReasonCode
from handlers.keyboards import Keyboard
from handlers.manager_keyboards import notification_keyboard as manager_keyboard
from handlers.referral_callbacks import LoopAction, LoopCD, RelayCD, StaffAction, StaffCD

GOT_HELP = tuple(GotHelp)


class UnknownNotification(LookupError):
    pass


def offer_keyboard(number: int, t: Translator) -> InlineKeyboardMarkup:
    kb = Keyboard()
    kb.button(
        text=t("staff.accept"), callback_data=StaffCD(action=StaffAction.ACCEPT, number=number)
    )
    kb.button(
        text=t("staff.decline"), callback_data=StaffCD(action=StaffAction.DECLINE, number=number)
    )
    return kb.as_markup()


def got_help_keyboard(number: int, t: Translator) -> InlineKeyboardMarkup:
    kb = Keyboard()
    for answer in GOT_HELP:
        kb.button(
            text=t(f"loop.got_help.{answer}"),
            callback_data=LoopCD(action=LoopAction.GOT_HELP, number=number, value=answer),
        )
    return kb.as_markup()


def reply_keyboard(number: int, label: str) -> InlineKeyboardMarkup:
    kb = Keyboard()
    kb.button(text=label, callback_data=RelayCD(number=number))
    return kb.as_markup()


class NotificationRenderer:
    def __init__(self, texts: Texts, catalogue: CatalogueHolder) -> None:
        self._texts = texts
        self._catalogue = catalogue

    def _need(self, need_id: str, lang: str) -> str:
        need = self._catalogue.view.needs.get(need_id)
        if need is None:
            return need_id
        return in_language(lang, need.title, need.title_en)

    def __call__(
        self, kind: str, lang: str, params: dict[str, Any]
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        t = self._texts.get(lang)
        number = int(params.get("number", 0))
        safe = {key: escape(str(value)) for key, value in params.items()}
        if "need" in params:
            safe["need"] = escape(self._need(str(params["need"]), lang))
        if kind in ("relay.text", "relay.caption"):
            sender = t(
                "relay.from_family" if params.get("side") == "family" else "relay.from_volunteer"
            )
            label = t("relay.reply")
            if kind == "relay.text":
                text = t(
                    "notify.relay_text", sender=sender, number=number, text=safe.get("text", "")
                )
            else:
                caption = safe.get("caption", "")
                text = t(
                    "notify.relay_caption",
                    sender=sender,
                    number=number,
                    caption=f"\n{caption}" if caption else "",
                )
            return text, reply_keyboard(number, label)
        key = f"notify.{kind}"
        template = self._texts.by_language["ru"].get(key)
        if template is None:
            raise UnknownNotification(kind)
        if kind == "family.not_helped" or kind == "family.resolved":
            safe.pop("reason", None)
        if kind == "manager_tools.broadcast_report":
            for count in ("sent", "recipients", "blocked", "failed"):
                safe[count] = t.number(int(params.get(count, 0)))
        if kind == "manager.unreachable":
            safe["side"] = t(f"notify.side.{params.get('side', 'family')}")
        if kind == "staff.confirmed":
            answer = str(params.get("got_help", ""))
            safe["got_help"] = t(f"loop.got_help.{answer}") if answer in GOT_HELP else "—"
        if kind in ("staff.offer", "staff.consultation_offer") and not params.get("description"):
            safe["description"] = t("request.no_description")
        text = t(key, **safe)
        if kind.startswith("manager_tools."):
            return text, manager_keyboard(kind, params, t)
        if kind in ("staff.offer", "staff.consultation_offer", "staff.offer_reminder"):
            return text, offer_keyboard(number, t)
        if kind in ("family.resolved", "family.not_helped", "family.feedback_reminder"):
            return text, got_help_keyboard(number, t)
        if kind == "family.accepted":
            return text, reply_keyboard(number, t("my.write"))
        return text, None


def reason_label(t: Translator, reason: ReasonCode) -> str:
    return t(f"reason.{reason.value}")
