"""What a relayed file is, and which messenger can show which kind (issue 16).

A relayed message is copied within one messenger; across two, the shell downloads the file
from the sender's messenger and uploads it to the recipient's (`bot/relay_sender.py`). The
outbox row then needs to name the file, not just the message: `Media` is that name. Nothing
here is personal beyond the file id, which the outbox drops once the message is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from db.enums import Channel


class MediaKind(StrEnum):
    PHOTO = "photo"
    DOCUMENT = "document"
    VIDEO = "video"
    AUDIO = "audio"
    VOICE = "voice"


# What each messenger's bot can send. MAX has no voice messages of its own: its bots send
# audio files, so a Telegram voice note would arrive as an unplayable file; the sender is
# asked to write or send a file instead.
SUPPORTED: dict[str, frozenset[MediaKind]] = {
    Channel.TELEGRAM: frozenset(MediaKind),
    Channel.MAX: frozenset(
        {MediaKind.PHOTO, MediaKind.DOCUMENT, MediaKind.VIDEO, MediaKind.AUDIO}
    ),
}


def supports(channel: str, kind: MediaKind) -> bool:
    return kind in SUPPORTED.get(channel, frozenset())


@dataclass(frozen=True)
class Media:
    """A file in the sender's messenger: enough for its bot to download it again."""

    kind: MediaKind
    file_id: str
    channel: str
    file_name: str | None = None

    def as_payload(self) -> dict[str, str]:
        payload = {"kind": self.kind.value, "file_id": self.file_id, "channel": str(self.channel)}
        if self.file_name:
            payload["file_name"] = self.file_name
        return payload
