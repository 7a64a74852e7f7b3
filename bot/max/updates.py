"""MAX updates as aiogram Updates, so the one dispatcher and its handlers serve MAX too.

- `message_created` → Update.message (text, or a caption with photo / document / voice /
  video / contact taken from the attachments);
- `message_callback` → Update.callback_query, with the message the button was on;
- `bot_started` → a "/start <payload>" message (a deep link's payload, as Telegram does);
- anything else → None (the caller logs the type, never the content).

In a dialog the chat is presented with the person's MAX user id (private chats in Telegram
have chat id = user id, and the handlers rely on it); a group chat keeps its chat id.
`user_locale` ("ru-RU") becomes from_user.language_code ("ru").
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from aiogram.types import (
    CallbackQuery,
    Chat,
    Contact,
    Document,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    PhotoSize,
    Update,
    User,
    Video,
    Voice,
)

from bot.max.ids import MaxFile, MaxMessageIds, message_number, update_id_of

HANDLED_TYPES = ("message_created", "message_callback", "bot_started")
_TEL = re.compile(r"^TEL[^:]*:(.+)$", re.MULTILINE)


class UpdateTranslator:
    """Turns MAX update JSON into aiogram Updates; remembers which chats are dialogs."""

    def __init__(self, ids: MaxMessageIds) -> None:
        self.ids = ids
        # user id → the dialog's chat id (chat actions are addressed to the chat).
        self.dialogs: dict[int, int] = {}
        self.groups: set[int] = set()

    async def translate(self, raw: dict[str, Any], bot_user: User | None) -> Update | None:
        kind = raw.get("update_type")
        locale = _language(raw.get("user_locale"))
        if kind == "message_created" and isinstance(raw.get("message"), dict):
            message = await self.message(raw["message"], locale)
            if message is None:
                return None
            return Update(update_id=update_id_of(kind, message.message_id), message=message)
        if kind == "message_callback" and isinstance(raw.get("callback"), dict):
            callback = raw["callback"]
            user = _user(callback.get("user"), locale)
            if user is None or not callback.get("callback_id"):
                return None
            attached = raw.get("message")
            message = (
                await self.message(attached, None, sender=bot_user)
                if isinstance(attached, dict)
                else None
            )
            query = CallbackQuery(
                id=str(callback["callback_id"]),
                from_user=user,
                chat_instance=str(message.chat.id if message else user.id),
                message=message,
                data=callback.get("payload"),
            )
            return Update(
                update_id=update_id_of(kind, callback["callback_id"], callback.get("timestamp")),
                callback_query=query,
            )
        if kind == "bot_started":
            user = _user(raw.get("user"), locale)
            if user is None:
                return None
            chat_id = raw.get("chat_id")
            if isinstance(chat_id, int):
                self.dialogs[user.id] = chat_id
            payload = raw.get("payload")
            text = f"/start {payload}" if payload else "/start"
            # No MAX message behind it: an id of its own, nothing to keep for an edit.
            message_id = message_number(f"start:{user.id}:{raw.get('timestamp')}")
            return Update(
                update_id=update_id_of(kind, user.id, raw.get("timestamp")),
                message=Message(
                    message_id=message_id,
                    date=_time(raw.get("timestamp")),
                    chat=Chat(id=user.id, type="private", first_name=user.first_name),
                    from_user=user,
                    text=text,
                    entities=None,
                ),
            )
        return None

    async def message(
        self, raw: dict[str, Any], locale: str | None, *, sender: User | None = None
    ) -> Message | None:
        body = raw.get("body") or {}
        recipient = raw.get("recipient") or {}
        mid = body.get("mid")
        if not mid:
            return None
        raw_sender = raw.get("sender") or {}
        author = _user(raw_sender, locale) if sender is None else sender
        chat = self._chat(recipient, author, bool(raw_sender.get("is_bot")))
        if chat is None:
            return None
        text = body.get("text") or None
        attachments = [a for a in body.get("attachments") or [] if isinstance(a, dict)]
        media = _media(attachments)
        keyboard = _keyboard(attachments)
        return Message(
            message_id=await self.ids.number(str(mid), chat.id),
            date=_time(raw.get("timestamp")),
            chat=chat,
            from_user=author,
            text=text if not media else None,
            caption=text if media else None,
            reply_markup=keyboard,
            **media,
        )

    def _chat(self, recipient: dict[str, Any], author: User | None, from_bot: bool) -> Chat | None:
        chat_type = recipient.get("chat_type")
        chat_id = recipient.get("chat_id")
        if chat_type == "dialog":
            # A dialog is addressed by the person: the author, or for the bot's own messages
            # the recipient user.
            person = recipient.get("user_id") if from_bot else (author.id if author else None)
            if not isinstance(person, int):
                return None
            if isinstance(chat_id, int):
                self.dialogs[person] = chat_id
            return Chat(id=person, type="private")
        if isinstance(chat_id, int):
            self.groups.add(chat_id)
            return Chat(id=chat_id, type="channel" if chat_type == "channel" else "group")
        return None


def _user(raw: Any, locale: str | None) -> User | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("user_id"), int):
        return None
    return User(
        id=raw["user_id"],
        is_bot=bool(raw.get("is_bot")),
        first_name=raw.get("first_name") or raw.get("name") or "—",
        last_name=raw.get("last_name"),
        username=raw.get("username"),
        language_code=locale,
    )


def _language(locale: Any) -> str | None:
    if not isinstance(locale, str) or not locale:
        return None
    return locale.replace("_", "-").split("-")[0].lower() or None


def _time(timestamp: Any) -> dt.datetime:
    if isinstance(timestamp, int | float):
        return dt.datetime.fromtimestamp(timestamp / 1000, dt.UTC)
    return dt.datetime.now(dt.UTC)


def _file(attachment: dict[str, Any], kind: str) -> MaxFile | None:
    payload = attachment.get("payload") or {}
    token = payload.get("token")
    if not token:
        return None
    return MaxFile(kind, str(token), str(payload.get("url") or ""))


def _media(attachments: list[dict[str, Any]]) -> dict[str, Any]:
    """The first attachment aiogram can present; a message carries one kind, as Telegram's."""
    for attachment in attachments:
        kind = attachment.get("type")
        if kind == "image" and (found := _file(attachment, "image")):
            return {
                "photo": [
                    PhotoSize(
                        file_id=found.file_id, file_unique_id=found.unique_id, width=0, height=0
                    )
                ]
            }
        if kind == "file" and (found := _file(attachment, "file")):
            return {
                "document": Document(
                    file_id=found.file_id,
                    file_unique_id=found.unique_id,
                    file_name=attachment.get("filename"),
                    file_size=attachment.get("size"),
                )
            }
        if kind == "audio" and (found := _file(attachment, "audio")):
            # MAX has no separate voice note: a recorded audio is what a voice is in Telegram.
            return {
                "voice": Voice(file_id=found.file_id, file_unique_id=found.unique_id, duration=0)
            }
        if kind == "video" and (found := _file(attachment, "video")):
            return {
                "video": Video(
                    file_id=found.file_id,
                    file_unique_id=found.unique_id,
                    width=int(attachment.get("width") or 0),
                    height=int(attachment.get("height") or 0),
                    duration=int(attachment.get("duration") or 0),
                )
            }
        if kind == "contact":
            contact = _contact(attachment.get("payload") or {})
            if contact is not None:
                return {"contact": contact}
    return {}


def _contact(payload: dict[str, Any]) -> Contact | None:
    vcf = payload.get("vcf_info") or ""
    match = _TEL.search(vcf)
    info = payload.get("max_info") or {}
    if match is None:
        return None
    return Contact(
        phone_number=match.group(1).strip(),
        first_name=info.get("first_name") or "—",
        last_name=info.get("last_name"),
        user_id=info.get("user_id"),
    )


def _keyboard(attachments: list[dict[str, Any]]) -> InlineKeyboardMarkup | None:
    for attachment in attachments:
        if attachment.get("type") != "inline_keyboard":
            continue
        rows = (attachment.get("payload") or {}).get("buttons") or []
        keyboard = [
            [
                InlineKeyboardButton(text=b.get("text", ""), url=b["url"])
                if b.get("type") == "link"
                else InlineKeyboardButton(text=b.get("text", ""), callback_data=b.get("payload"))
                for b in row
                if isinstance(b, dict)
            ]
            for row in rows
            if isinstance(row, list)
        ]
        return InlineKeyboardMarkup(inline_keyboard=keyboard)
    return None
