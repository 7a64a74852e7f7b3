"""A Bot session that answers locally and records what the bot sends.

It carries the real dispatcher without Telegram: the terminal demo and the test suite both
play users against it. Methods answer with the shapes Telegram would return.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import (
    AnswerCallbackQuery,
    CopyMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendDocument,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import (
    BufferedInputFile,
    Chat,
    Document,
    FSInputFile,
    InlineKeyboardMarkup,
    Message,
    MessageId,
    PhotoSize,
    User,
)

BOT_USER = User(id=42, is_bot=True, first_name="Семейный навигатор", username="family_nav_bot")


@dataclass
class Sent:
    """One message as the person sees it now (edits are applied in place)."""

    chat_id: int
    message_id: int
    text: str
    buttons: list[list[tuple[str, str]]] = field(default_factory=list)
    kind: str = "text"
    message: Message | None = None
    # A document or photo as uploaded: its file name and bytes (the demo saves them).
    file_name: str | None = None
    file_data: bytes | None = None

    @property
    def button_texts(self) -> list[str]:
        return [text for row in self.buttons for text, _ in row]


def _upload(file: Any, default_name: str) -> tuple[str | None, bytes | None]:
    if isinstance(file, BufferedInputFile):
        return file.filename or default_name, file.data
    if isinstance(file, FSInputFile):
        return file.filename or default_name, Path(file.path).read_bytes()
    return None, None


def _buttons(markup: Any) -> list[list[tuple[str, str]]]:
    if not isinstance(markup, InlineKeyboardMarkup):
        return []
    return [
        [(b.text, b.callback_data or b.url or "") for b in row] for row in markup.inline_keyboard
    ]


class OfflineSession(BaseSession):
    """A Bot session that never opens a connection: the part every in-process session shares."""

    async def close(self) -> None:
        return None

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 (BaseSession's signature)
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        yield b""


class LocalSession(OfflineSession):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self.chats: dict[int, list[Sent]] = defaultdict(list)
        self.answers: list[AnswerCallbackQuery] = []
        # Every message edited in place, in order (the same message once per edit).
        self.edits: list[Sent] = []
        self._ids: dict[int, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self._failures: dict[str, list[TelegramAPIError]] = defaultdict(list)

    def fail_next(self, method_name: str, error: TelegramAPIError) -> None:
        """Make the next call of `method_name` (e.g. "sendMessage") raise `error`."""
        self._failures[method_name].append(error)

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> TelegramType:
        self.requests.append(method)
        failures = self._failures.get(method.__api_method__)
        if failures:
            raise failures.pop(0)
        return cast(TelegramType, self._answer(method))

    def _new_message(self, chat_id: int, text: str, markup: Any, kind: str = "text") -> Message:
        message_id = next(self._ids[chat_id])
        message = Message(
            message_id=message_id,
            date=dt.datetime.now(dt.UTC),
            chat=Chat(id=chat_id, type="private"),
            from_user=BOT_USER,
            text=text if kind == "text" else None,
            caption=text if kind != "text" and text else None,
            reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
            document=Document(file_id=f"doc{message_id}", file_unique_id=f"d{message_id}")
            if kind == "document"
            else None,
            photo=[PhotoSize(file_id=f"ph{message_id}", file_unique_id="p", width=1, height=1)]
            if kind == "photo"
            else None,
        )
        self.chats[chat_id].append(
            Sent(chat_id, message_id, text, _buttons(markup), kind, message)
        )
        return message

    def _find(self, chat_id: Any, message_id: Any) -> Sent | None:
        for sent in self.chats.get(int(chat_id), []):
            if sent.message_id == message_id:
                return sent
        return None

    def _answer(self, method: TelegramMethod[Any]) -> Any:
        if isinstance(method, GetMe):
            return BOT_USER
        if isinstance(method, SendMessage):
            return self._new_message(int(method.chat_id), method.text, method.reply_markup)
        if isinstance(method, SendDocument | SendPhoto):
            kind = "document" if isinstance(method, SendDocument) else "photo"
            upload = method.document if isinstance(method, SendDocument) else method.photo
            message = self._new_message(
                int(method.chat_id), method.caption or "", method.reply_markup, kind
            )
            upload_to = self.chats[int(method.chat_id)][-1]
            upload_to.file_name, upload_to.file_data = _upload(
                upload, f"{kind}-{message.message_id}"
            )
            return message
        if isinstance(method, CopyMessage):
            sent = self._new_message(
                int(method.chat_id), method.caption or "(copy)", method.reply_markup, "copy"
            )
            return MessageId(message_id=sent.message_id)
        if isinstance(method, EditMessageText | EditMessageReplyMarkup):
            found = self._find(method.chat_id, method.message_id)
            if found is None:
                return True
            if isinstance(method, EditMessageText):
                found.text = method.text or ""
            found.buttons = _buttons(method.reply_markup)
            if isinstance(method, EditMessageText) or found.buttons:
                # Taking a keyboard away changes nothing a person would read again.
                self.edits.append(found)
            assert found.message is not None
            found.message = found.message.model_copy(
                update={
                    "text": found.text,
                    "reply_markup": method.reply_markup
                    if isinstance(method.reply_markup, InlineKeyboardMarkup)
                    else None,
                }
            )
            return found.message
        if isinstance(method, AnswerCallbackQuery):
            self.answers.append(method)
            return True
        returning = getattr(method, "__returning__", bool)
        return True if returning is bool else None
