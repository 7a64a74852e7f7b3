"""Sending long texts safely: Telegram rejects messages over 4096 characters."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiogram.types import InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from core.texts import format_day, split_text


async def send_long(
    message: Message,
    text: str,
    reply_markup: InlineKeyboardMarkup | None = None,
    parse_mode: str | None = None,
) -> None:
    """Plain text by default (the notice is not HTML); the keyboard goes on the last part."""
    parts = split_text(text)
    for i, part in enumerate(parts):
        await message.answer(
            part,
            parse_mode=parse_mode,
            reply_markup=reply_markup if i == len(parts) - 1 else None,
        )


def alert(callback_answer: CallbackAnswer, text: str) -> None:
    """Answer the pressed button with a pop-up (sent once, by CallbackAnswerMiddleware)."""
    callback_answer.text = text
    callback_answer.show_alert = True


def format_date(value: dt.date, lang: str) -> str:
    """In words («7 декабря 2026») by Babel, whatever the process locale."""
    return format_day(value, lang)


async def edit_or_answer(
    message: Message,
    text: str,
    reply_markup: InlineKeyboardMarkup | None = None,
    parse_mode: str | None = None,
) -> None:
    """Replace the shown screen when Telegram allows it, else send the text anew.

    Telegram edits only a message of up to 4096 characters that carries text (not a document
    or a photo); anything else goes as new messages, split, the keyboard under the last.
    Without `parse_mode` the bot's default (HTML) applies, as in `message.edit_text`.
    """
    if len(text) <= 4096 and message.text is not None:
        kwargs: dict[str, Any] = {"reply_markup": reply_markup}
        if parse_mode is not None:
            kwargs["parse_mode"] = parse_mode
        await message.edit_text(text, **kwargs)
        return
    parts = split_text(text)
    for i, part in enumerate(parts):
        kwargs = {"reply_markup": reply_markup if i == len(parts) - 1 else None}
        if parse_mode is not None:
            kwargs["parse_mode"] = parse_mode
        await message.answer(part, **kwargs)
