"""Which file a relayed message carries, and whether the recipient's messenger can take it.

Across messengers a relayed file is downloaded and uploaded again (see bot/relay_sender.py),
so the outbox row must name the file; a kind the recipient's messenger cannot show (a voice
note to MAX) is refused here with a clear note instead of arriving broken.
"""

from __future__ import annotations

from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels import channel_of
from bot.middlewares.viewer import Viewer
from core import referrals
from core.referrals.context import Outcome
from core.relay_payload import Media, MediaKind, supports

VOICE_UNSUPPORTED = "channels.relay.voice_unsupported"


def media_in(message: Message, channel: str) -> Media | None:
    """The file of a photo, document, video, audio or voice message, as the sender's bot
    knows it."""
    if message.photo:
        return Media(MediaKind.PHOTO, message.photo[-1].file_id, channel)
    if message.document:
        document = message.document
        return Media(MediaKind.DOCUMENT, document.file_id, channel, document.file_name)
    if message.video:
        return Media(MediaKind.VIDEO, message.video.file_id, channel, message.video.file_name)
    if message.audio:
        return Media(MediaKind.AUDIO, message.audio.file_id, channel, message.audio.file_name)
    if message.voice:
        return Media(MediaKind.VOICE, message.voice.file_id, channel)
    return None


async def media_of_message(
    session: AsyncSession, message: Message, viewer: Viewer, number: int
) -> dict[str, str] | str | None:
    """The payload naming the file; a text key when the recipient cannot receive it; None
    when nothing needs naming (same messenger, or no recipient: `relay` says why)."""
    if message.bot is None or viewer.user is None:
        return None
    media = media_in(message, channel_of(message.bot))
    if media is None:
        return None
    target = await referrals.relay_target(session, number, viewer.user)
    if isinstance(target, Outcome):
        return None
    recipient_channel = target.recipient.channel
    if recipient_channel == media.channel:
        return None  # copied as before: copyMessage needs no file id
    if not supports(recipient_channel, media.kind):
        return VOICE_UNSUPPORTED
    return media.as_payload()
