"""Relay across messengers: a file one messenger holds, sent by the other's bot.

Within one messenger a relayed photo or document is a `copyMessage` (nothing passes through
us). Across messengers there is no such call: the file is downloaded from the sender's bot
(`bot.download(file_id)`; MAX's session answers it for MAX file ids) and uploaded to the
recipient's as a new photo, document, video, audio or voice message, with the same caption and
keyboard a copy would carry. The bytes stay in memory for that one request only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram import Bot
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup

from core.relay_payload import MediaKind

# A name for files that come without one (photos, voice): some messengers need a name.
DEFAULT_NAMES = {
    MediaKind.PHOTO: "photo.jpg",
    MediaKind.DOCUMENT: "file",
    MediaKind.VIDEO: "video.mp4",
    MediaKind.AUDIO: "audio.mp3",
    MediaKind.VOICE: "voice.ogg",
}


async def send_media_across(
    source: Bot,
    target: Bot,
    chat_id: int,
    media: Mapping[str, Any],
    caption: str,
    keyboard: InlineKeyboardMarkup | None,
) -> Any:
    """Download `media` (`core.relay_payload.Media.as_payload()`) from `source`, send it with
    `target`. Errors are the bots' own (aiogram's exceptions), so the outbox retries or fails
    the row as it would a copy."""
    kind = MediaKind(str(media["kind"]))
    downloaded = await source.download(str(media["file_id"]))
    if downloaded is None:  # only when a destination was given; never here
        raise ValueError("nothing downloaded")
    name = str(media.get("file_name") or DEFAULT_NAMES[kind])
    upload = BufferedInputFile(downloaded.read(), filename=name)
    common: dict[str, Any] = {"caption": caption, "reply_markup": keyboard}
    if kind is MediaKind.PHOTO:
        return await target.send_photo(chat_id, upload, **common)
    if kind is MediaKind.VIDEO:
        return await target.send_video(chat_id, upload, **common)
    if kind is MediaKind.AUDIO:
        return await target.send_audio(chat_id, upload, **common)
    if kind is MediaKind.VOICE:
        return await target.send_voice(chat_id, upload, **common)
    return await target.send_document(chat_id, upload, **common)
