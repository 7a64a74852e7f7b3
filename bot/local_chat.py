"""Play Telegram users against the real dispatcher: `send(text)`, `click(button)`, replies.

Used by the terminal demo and by the tests; updates get increasing ids like Telegram's.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

from aiogram import Bot, Dispatcher
from aiogram.types import (
    CallbackQuery,
    Chat,
    Contact,
    Document,
    MessageEntity,
    PhotoSize,
    Update,
    User,
)
from aiogram.types import (
    Message as TgMessage,
)

from bot.local_session import LocalSession, Sent


@dataclass
class LocalChat:
    dp: Dispatcher
    bot: Bot
    session: LocalSession
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def user(self, user_id: int, first_name: str = "Анна", language_code: str = "ru") -> ChatUser:
        return ChatUser(
            self,
            User(id=user_id, is_bot=False, first_name=first_name, language_code=language_code),
        )

    async def feed(self, update_kwargs: dict[str, object]) -> None:
        update = Update(update_id=next(self._update_ids), **update_kwargs)  # type: ignore[arg-type]
        await self.dp.feed_update(self.bot, update)


@dataclass
class ChatUser:
    chat: LocalChat
    tg: User
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(10_000))

    @property
    def id(self) -> int:
        return self.tg.id

    @property
    def messages(self) -> list[Sent]:
        """Everything the bot sent to this person, oldest first."""
        return self.chat.session.chats[self.tg.id]

    def _message(self, **kwargs: object) -> TgMessage:
        return TgMessage(
            message_id=next(self._message_ids),
            date=dt.datetime.now(dt.UTC),
            chat=Chat(id=self.tg.id, type="private"),
            from_user=self.tg,
            **kwargs,  # type: ignore[arg-type]
        )

    async def _run(self, update_kwargs: dict[str, object]) -> list[Sent]:
        before = len(self.messages)
        await self.chat.feed(update_kwargs)
        return self.messages[before:]

    async def send(self, text: str) -> list[Sent]:
        """Type a message; returns the bot's new messages to this person."""
        entities = None
        if text.startswith("/"):
            command = text.split()[0]
            entities = [MessageEntity(type="bot_command", offset=0, length=len(command))]
        return await self._run({"message": self._message(text=text, entities=entities)})

    async def send_photo(self, caption: str | None = None) -> list[Sent]:
        photo = [PhotoSize(file_id="userphoto", file_unique_id="up", width=10, height=10)]
        return await self._run({"message": self._message(photo=photo, caption=caption)})

    async def send_document(self, file_name: str = "file.pdf") -> list[Sent]:
        document = Document(file_id="userdoc", file_unique_id="ud", file_name=file_name)
        return await self._run({"message": self._message(document=document)})

    async def send_contact(self, phone: str) -> list[Sent]:
        contact = Contact(phone_number=phone, first_name=self.tg.first_name, user_id=self.tg.id)
        return await self._run({"message": self._message(contact=contact)})

    def find_button(self, text: str) -> tuple[Sent, str]:
        """The newest message with a button labelled `text` (or starting with it)."""
        for sent in reversed(self.messages):
            for row in sent.buttons:
                for label, data in row:
                    if label == text or label.startswith(text):
                        return sent, data
        available = [label for sent in self.messages[-3:] for label in sent.button_texts]
        raise LookupError(f"no button {text!r}; recent buttons: {available}")

    async def click(self, text: str) -> list[Sent]:
        sent, data = self.find_button(text)
        return await self.press(sent, data)

    async def press(self, sent: Sent, data: str) -> list[Sent]:
        """Press raw callback data on a message: how tests forge or replay buttons."""
        assert sent.message is not None
        query = CallbackQuery(
            id=str(next(self._message_ids)),
            from_user=self.tg,
            chat_instance=f"ci{self.tg.id}",
            message=sent.message,
            data=data,
        )
        return await self._run({"callback_query": query})

    def last_reply(self) -> Sent:
        if not self.messages:
            raise LookupError("the bot has not written to this person")
        return self.messages[-1]

    @property
    def last_text(self) -> str:
        return self.last_reply().text
