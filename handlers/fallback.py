"""Catch-alls, registered last: unknown commands, stale buttons, unsupported messages."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message

from bot.texts import Translator

router = Router(name=__name__)


@router.message(F.text.startswith("/"))
async def msg_unknown_command(message: Message, t: Translator) -> None:
    await message.answer(t("fallback.unknown_command"))


@router.message(F.chat.type == "private", ~F.text)
async def msg_unsupported(message: Message, t: Translator) -> None:
    await message.answer(t("fallback.unsupported"))


@router.callback_query()
async def cb_stale(query: CallbackQuery, t: Translator) -> None:
    await query.answer(t("fallback.stale_button"), show_alert=True)
