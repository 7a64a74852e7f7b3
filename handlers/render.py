"""Sending long texts safely: Telegram rejects messages over 4096 characters."""

from __future__ import annotations

import datetime as dt

from aiogram.types import InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.texts import split_text


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


_MONTHS_RU = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)


def format_date(value: dt.date, lang: str) -> str:
    if lang == "ru":
        return f"{value.day} {_MONTHS_RU[value.month - 1]} {value.year}"
    return value.strftime("%d %B %Y").lstrip("0")
