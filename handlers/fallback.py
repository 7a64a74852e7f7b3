"""Catch-alls, registered last: unknown commands, stale buttons, unsupported messages."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from core.texts import Translator
from handlers.render import alert


async def msg_unknown_command(message: Message, t: Translator) -> None:
    await message.answer(t("fallback.unknown_command"))


async def msg_unsupported(message: Message, t: Translator) -> None:
    await message.answer(t("fallback.unsupported"))


async def cb_stale(query: CallbackQuery, callback_answer: CallbackAnswer, t: Translator) -> None:
    alert(callback_answer, t("fallback.stale_button"))


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(msg_unknown_command, F.text.startswith("/"))
    router.message.register(msg_unsupported, F.chat.type == "private", ~F.text)
    router.callback_query.register(cb_stale)
    return router
