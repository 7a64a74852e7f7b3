"""What reaches the handlers: people, in private chats, with attachments under the size cap,
and buttons whose numbers can be database ids.

Telegram lets bots download files up to 20 MB only, and an NGO volunteer's phone should not
receive a 1.5 GB video through the relay either; the handlers never see such a message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Message, TelegramObject

from core.texts import Texts, Translator, pick_language

log = logging.getLogger(__name__)

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
# Ids are signed 64-bit in both databases; a bigger number cannot be bound to a query at all.
MAX_ID = 2**63 - 1
NUMBER = re.compile(r"[+-]?\d+")


def attachment_size(message: Message) -> int:
    """The largest declared file size in the message (0 when there is none or it is unknown)."""
    sizes = [
        item.file_size or 0
        for item in (
            message.document,
            message.voice,
            message.audio,
            message.video,
            message.video_note,
            message.animation,
            message.sticker,
        )
        if item is not None
    ]
    sizes += [photo.file_size or 0 for photo in message.photo or ()]
    return max(sizes, default=0)


def _translator(
    texts: Texts, data: dict[str, Any], message: Message | CallbackQuery
) -> Translator:
    """The viewer's translator; for a message with no person behind it (the viewer made
    none), one in the sender's Telegram language."""
    t: Translator | None = data.get("t")
    if t is not None:
        return t
    user = message.from_user
    return texts.get(pick_language(user.language_code if user else None))


class AttachmentSizeMiddleware(BaseMiddleware):
    """Outer message middleware: runs before the filters of every message handler."""

    def __init__(self, texts: Texts, max_bytes: int = MAX_ATTACHMENT_BYTES) -> None:
        self._texts = texts
        self._max_bytes = max_bytes

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Message) or attachment_size(event) <= self._max_bytes:
            return await handler(event, data)
        t = _translator(self._texts, data, event)
        log.info("message %s: attachment over the size cap, refused", event.message_id)
        await event.answer(t("safety.file_too_big", limit_mb=self._max_bytes // (1024 * 1024)))
        return None


class PeopleOnlyMiddleware(BaseMiddleware):
    """Outer message middleware: a message with no person behind it is ignored.

    An anonymous group admin or a linked channel writes as `sender_chat` with no `from_user`,
    and other bots may write too; nobody can be answered or recognised there, and the
    handlers rely on knowing who writes (the viewer, their dialog state).
    """

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, Message) and (event.from_user is None or event.from_user.is_bot):
            return None
        return await handler(event, data)


class PrivateChatsOnlyMiddleware(BaseMiddleware):
    """Outer message and callback middleware: the bot talks to people one to one only.

    Everything here is about a family's circumstances, so nothing is answered in a group or
    channel the bot was added to — a plain message there would otherwise be taken for a search
    and answered in front of everyone. A command there gets one line pointing to a private
    chat; everything else is ignored and nothing is stored.
    """

    def __init__(self, texts: Texts) -> None:
        self._texts = texts

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, CallbackQuery):
            chat = event.message.chat if event.message is not None else None
        elif isinstance(event, Message):
            chat = event.chat
        else:
            return await handler(event, data)
        if chat is None or chat.type == ChatType.PRIVATE:
            return await handler(event, data)
        if isinstance(event, CallbackQuery):
            # Only the person who pressed sees this answer; the group sees nothing.
            t = _translator(self._texts, data, event)
            await event.answer(t("safety.private_only_button"), show_alert=True)
        elif (event.text or "").startswith("/"):
            await event.answer(_translator(self._texts, data, event)("safety.private_only"))
        return None


def numbers_fit(data: str) -> bool:
    """Every number in a button's data (`prefix:field:field`) can be an id: 0…2⁶³−1."""
    for part in data.split(":"):
        # The length first: int() of thousands of digits is slow, then refused by Python.
        if NUMBER.fullmatch(part) and (len(part) > 20 or not 0 <= int(part) <= MAX_ID):
            return False
    return True


class CallbackNumbersMiddleware(BaseMiddleware):
    """Outer callback middleware: a button whose numbers no id can have is a stale button.

    The bot's buttons carry ids, and every number in them is an id, a page or an index, never
    negative. Forged data with a number beyond 64 bits would otherwise reach a query and fail
    there (OverflowError, asyncpg's DataError) as an error of the update; checking the data
    here, once for every handler, answers it like any button that no longer works.
    """

    def __init__(self, texts: Texts) -> None:
        self._texts = texts

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, CallbackQuery) or numbers_fit(event.data or ""):
            return await handler(event, data)
        log.info("callback %s: a number out of range, answered as stale", event.id)
        t = _translator(self._texts, data, event)
        await event.answer(t("fallback.stale_button"), show_alert=True)
        return None
