"""Conversions between aiogram's Bot API values and MAX's: texts, keyboards and errors."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.types import (
    ForceReply,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.max.client import MaxApiError
from bot.max.html import plain_to_html, to_max_html

# MAX documents no Retry-After: a 429 is retried after a second (the callers back off more).
DEFAULT_RETRY_AFTER = 1


class MaxUnsupportedMethod(TelegramBadRequest):
    """The bot called a Bot API method MAX has no counterpart for."""


def as_html(bot: Bot, text: str, parse_mode: Any) -> str:
    if isinstance(parse_mode, Default):
        parse_mode = bot.default[parse_mode.name]
    if parse_mode is None:
        return plain_to_html(text)
    if str(getattr(parse_mode, "value", parse_mode)).lower() != "html":
        raise MaxUnsupportedMethod(
            method=SendMessage(chat_id=0, text=""), message=f"parse mode {parse_mode} on MAX"
        )
    return to_max_html(text)


def keyboard_of(markup: Any) -> dict[str, Any] | None:
    """An inline keyboard attachment: callback buttons keep callback_data as the payload,
    URL buttons become links; a reply keyboard's buttons send their text (or the contact)."""
    if isinstance(markup, InlineKeyboardMarkup):
        rows = [
            [
                {"type": "link", "text": b.text[:128], "url": b.url}
                if b.url
                else {"type": "callback", "text": b.text[:128], "payload": b.callback_data or ""}
                for b in row
            ]
            for row in markup.inline_keyboard
        ]
    elif isinstance(markup, ReplyKeyboardMarkup):
        rows = [
            [
                {"type": "request_contact", "text": b.text[:128]}
                if b.request_contact
                else {"type": "message", "text": b.text[:128]}
                for b in row
            ]
            for row in markup.keyboard
        ]
    elif markup is None or isinstance(markup, ReplyKeyboardRemove | ForceReply):
        return None
    else:
        return None
    rows = [row for row in rows if row]
    if not rows:
        return None
    return {"type": "inline_keyboard", "payload": {"buttons": rows}}


def aiogram_error(method: TelegramMethod[Any], error: MaxApiError) -> Exception:
    message = f"{error.code}: {error.message}"[:200]
    if error.status == 401:
        return TelegramUnauthorizedError(method=method, message=message)
    if error.status == 403 or error.code in ("chat.denied", "user.blocked"):
        return TelegramForbiddenError(method=method, message=message)
    if error.status == 404:  # a chat or message that is gone: Telegram says 400 for that
        return TelegramBadRequest(method=method, message=message)
    if error.status == 405 or error.status == 409:
        return TelegramConflictError(method=method, message=message)
    if error.status == 429:
        return TelegramRetryAfter(method=method, message=message, retry_after=DEFAULT_RETRY_AFTER)
    if error.status >= 500:
        return TelegramServerError(method=method, message=message)
    return TelegramBadRequest(method=method, message=message)
