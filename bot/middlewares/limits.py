"""Size caps on what people send: an attachment over the cap is answered and goes no further.

Telegram lets bots download files up to 20 MB only, and an NGO volunteer's phone should not
receive a 1.5 GB video through the relay either; the handlers never see such a message.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Message, TelegramObject

from bot.texts import Texts, Translator, pick_language

log = logging.getLogger(__name__)

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024


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
        t: Translator | None = data.get("t")
        if t is None:
            user = event.from_user
            t = self._texts.get(pick_language(user.language_code if user else None))
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
