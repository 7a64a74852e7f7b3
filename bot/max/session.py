"""MaxSession: an aiogram Bot session that speaks the MAX Bot API.

The bot's handlers call aiogram methods (SendMessage, EditMessageText, AnswerCallbackQuery,
SendDocument…); on a Bot built with this session each call becomes the MAX call that does the
same thing, and its answer comes back as the aiogram type the handler expects. MAX's errors
become aiogram's exceptions (403 → TelegramForbiddenError, 429 → TelegramRetryAfter…), so
the retry middleware and the outbox worker treat MAX exactly as Telegram. A method MAX has no
counterpart for raises MaxUnsupportedMethod (a TelegramBadRequest): never a silent fake.

Differences a person may notice, each deliberate:
- text over 4000 characters goes as several messages (the keyboard on the last one);
- a document or voice with a keyboard goes as the file, then the caption with the keyboard
  (MAX wants a file to be a message's only attachment);
- MAX has one command menu: the default-scope, default-language list is set, per-chat and
  per-language menus (Telegram's staff menus) are skipped;
- an AnswerCallbackQuery without text needs no call at all (MAX shows nothing either way).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramNetworkError,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    CopyMessage,
    DeleteMessage,
    DeleteMyCommands,
    DeleteWebhook,
    EditMessageReplyMarkup,
    EditMessageText,
    GetFile,
    GetMe,
    GetUpdates,
    SendAudio,
    SendChatAction,
    SendDocument,
    SendMessage,
    SendPhoto,
    SendVoice,
    SetMyCommands,
    SetWebhook,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import (
    BotCommandScopeDefault,
    BufferedInputFile,
    Chat,
    File,
    FSInputFile,
    InlineKeyboardMarkup,
    Message,
    MessageId,
    Update,
    User,
)

from bot.max.client import MaxApiError, MaxClient, MaxNetworkError
from bot.max.convert import MaxUnsupportedMethod, aiogram_error, as_html, keyboard_of
from bot.max.html import split_html, visible
from bot.max.ids import MaxFile, MaxMessageIds
from bot.max.updates import HANDLED_TYPES, UpdateTranslator
from db.enums import Channel

log = logging.getLogger(__name__)

MAX_COMMANDS = 32
# A file just uploaded may still be processing: MAX answers 400 until it is ready.
NOT_READY_RETRIES = (0.5, 1.0, 2.0, 4.0)
_ACTIONS = {
    "typing": "typing_on",
    "upload_photo": "sending_photo",
    "upload_video": "sending_video",
    "record_video": "sending_video",
    "upload_voice": "sending_audio",
    "record_voice": "sending_audio",
    "upload_document": "sending_file",
}


def max_bot_token(token: str) -> str:
    """A token aiogram accepts for the MAX bot ("<digits>:max"); the real one stays in the client.

    aiogram takes the bot's id from its token (FSM keys include it), so the digits are a hash
    of the MAX token: stable across restarts, distinct from the Telegram bot's id.
    """
    digest = hashlib.blake2b(token.encode(), digest_size=6).digest()
    return f"{int.from_bytes(digest, 'big')}:max"


class MaxSession(BaseSession):
    channel = Channel.MAX

    def __init__(self, client: MaxClient, ids: MaxMessageIds) -> None:
        # File "paths" are MAX attachment URLs: aiogram's download() passes them through.
        super().__init__(
            api=TelegramAPIServer(base=client.api_url + "/{method}", file="{path}"),
            timeout=client.timeout,
        )
        self.client = client
        self.ids = ids
        self.translator = UpdateTranslator(ids)
        self._marker: int | None = None
        self._me: User | None = None

    async def close(self) -> None:
        await self.ids.flush()
        await self.client.close()

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 (BaseSession's signature)
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        data = await self.client.download(url)
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> TelegramType:
        try:
            return cast(TelegramType, await self._call(bot, method))
        except MaxApiError as error:
            raise aiogram_error(method, error) from None
        except MaxNetworkError as error:
            raise TelegramNetworkError(method=method, message=str(error)) from None

    async def translate(self, raw: dict[str, Any]) -> Update | None:
        """A MAX update (webhook body or one of GET /updates) as an aiogram Update."""
        update = await self.translator.translate(raw, self._me)
        if update is None:
            log.info("max: update of type %s ignored", str(raw.get("update_type"))[:40])
        return update

    # --- dispatch -------------------------------------------------------------------------

    async def _call(self, bot: Bot, method: TelegramMethod[Any]) -> Any:
        if isinstance(method, GetMe):
            return await self._get_me()
        if isinstance(method, SendMessage):
            return await self._send_text(
                bot, method.chat_id, method.text, method.parse_mode, method.reply_markup
            )
        if isinstance(method, EditMessageText):
            return await self._edit(
                bot, method.chat_id, method.message_id, method.text, method.parse_mode,
                method.reply_markup,
            )  # fmt: skip
        if isinstance(method, EditMessageReplyMarkup):
            return await self._edit(
                bot, method.chat_id, method.message_id, None, None, method.reply_markup
            )
        if isinstance(method, DeleteMessage):
            mid = await self._mid(method, method.message_id)
            await self.client.call("DELETE", "/messages", params={"message_id": mid})
            return True
        if isinstance(method, AnswerCallbackQuery):
            if method.text:
                await self.client.call(
                    "POST",
                    "/answers",
                    params={"callback_id": method.callback_query_id},
                    body={"notification": method.text[:200]},
                )
            return True
        if isinstance(method, SendDocument | SendPhoto | SendVoice | SendAudio):
            return await self._send_file(bot, method)
        if isinstance(method, CopyMessage):
            return await self._copy(bot, method)
        if isinstance(method, SendChatAction):
            return await self._chat_action(method)
        if isinstance(method, SetMyCommands):
            return await self._set_commands(method)
        if isinstance(method, DeleteMyCommands):
            await self.client.call("PATCH", "/me/commands", body={"commands": []})
            return True
        if isinstance(method, GetFile):
            found = MaxFile.parse(method.file_id)
            if found is None or not found.url:
                raise TelegramBadRequest(method=method, message="not a MAX file id")
            return File(
                file_id=method.file_id, file_unique_id=found.unique_id, file_path=found.url
            )
        if isinstance(method, GetUpdates):
            return await self._get_updates(method)
        if isinstance(method, SetWebhook):
            body: dict[str, Any] = {"url": method.url, "update_types": list(HANDLED_TYPES)}
            if method.secret_token:
                body["secret"] = method.secret_token
            await self.client.call("POST", "/subscriptions", body=body)
            return True
        if isinstance(method, DeleteWebhook):
            # MAX delivers by webhook or by polling, never both: polling removes subscriptions.
            answer = await self.client.call("GET", "/subscriptions")
            for subscription in answer.get("subscriptions") or []:
                await self.client.call(
                    "DELETE", "/subscriptions", params={"url": subscription.get("url")}
                )
            return True
        raise MaxUnsupportedMethod(
            method=method, message=f"MAX has no counterpart of {type(method).__name__}"
        )

    async def _get_me(self) -> User:
        answer = await self.client.call("GET", "/me")
        self._me = User(
            id=int(answer["user_id"]),
            is_bot=True,
            first_name=answer.get("first_name") or answer.get("name") or "bot",
            username=answer.get("username"),
        )
        return self._me

    # --- messages -------------------------------------------------------------------------

    def _recipient(self, chat_id: int | str) -> dict[str, Any]:
        chat = int(chat_id)
        # A dialog is addressed by the person's id; a group by its chat id (negative on MAX,
        # and remembered from its updates).
        if chat < 0 or chat in self.translator.groups:
            return {"chat_id": chat}
        return {"user_id": chat}

    async def _send_text(
        self, bot: Bot, chat_id: int | str, text: str, parse_mode: Any, markup: Any
    ) -> Message:
        html_text = as_html(bot, text, parse_mode)
        pieces = split_html(html_text)
        keyboard = keyboard_of(markup)
        message: Message | None = None
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            body: dict[str, Any] = {"text": piece, "format": "html"}
            if last and keyboard is not None:
                body["attachments"] = [keyboard]
            message = await self._post(bot, chat_id, body, piece, markup if last else None)
        assert message is not None
        return message

    async def _post(
        self, bot: Bot, chat_id: int | str, body: dict[str, Any], text: str | None, markup: Any
    ) -> Message:
        answer = await self._with_retries(
            lambda: self.client.call(
                "POST", "/messages", params=self._recipient(chat_id), body=body
            )
        )
        sent = answer.get("message") or {}
        mid = str((sent.get("body") or {}).get("mid") or "")
        if not mid:
            raise TelegramBadRequest(
                method=SendMessage(chat_id=chat_id, text=""), message="no message id"
            )
        return await self._message(bot, chat_id, mid, text, markup)

    async def _message(
        self, bot: Bot, chat_id: int | str, mid: str, text: str | None, markup: Any
    ) -> Message:
        chat = int(chat_id)
        return Message(
            message_id=await self.ids.number(mid, chat),
            date=dt.datetime.now(dt.UTC),
            chat=Chat(id=chat, type="group" if chat in self.translator.groups else "private"),
            from_user=self._me or User(id=bot.id, is_bot=True, first_name="bot"),
            text=visible(text) if text is not None else None,  # as Telegram: no markup
            reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
        )

    async def _mid(self, method: TelegramMethod[Any], message_id: int | None) -> str:
        mid = await self.ids.mid(int(message_id)) if message_id is not None else None
        if mid is None:
            raise TelegramBadRequest(method=method, message="message to edit not found")
        return mid

    async def _edit(
        self,
        bot: Bot,
        chat_id: int | str | None,
        message_id: int | None,
        text: str | None,
        parse_mode: Any,
        markup: Any,
    ) -> Message | bool:
        probe = EditMessageText(text=text or "", chat_id=chat_id, message_id=message_id)
        mid = await self._mid(probe, message_id)
        keyboard = keyboard_of(markup)
        # Telegram drops the keyboard of an edit that names none; MAX keeps attachments
        # unless given a list, so the list is always given.
        body: dict[str, Any] = {"attachments": [keyboard] if keyboard else []}
        if text is not None:
            body["text"] = split_html(as_html(bot, text, parse_mode))[0]
            body["format"] = "html"
        await self.client.call("PUT", "/messages", params={"message_id": mid}, body=body)
        if chat_id is None:
            return True
        return await self._message(bot, chat_id, mid, body.get("text"), markup)

    async def _send_file(
        self, bot: Bot, method: SendDocument | SendPhoto | SendVoice | SendAudio
    ) -> Message:
        if isinstance(method, SendPhoto):
            kind, upload = "image", method.photo
        elif isinstance(method, SendDocument):
            kind, upload = "file", method.document
        elif isinstance(method, SendVoice):
            kind, upload = "audio", method.voice
        else:
            kind, upload = "audio", method.audio
        payload = await self._upload(method, kind, upload)
        caption = as_html(bot, method.caption, method.parse_mode) if method.caption else None
        keyboard = keyboard_of(method.reply_markup)
        attachments: list[dict[str, Any]] = [{"type": kind, "payload": payload}]
        body: dict[str, Any] = {"attachments": attachments}
        separate = keyboard is not None and kind != "image"
        if caption and not separate:
            body["text"] = split_html(caption)[0]
            body["format"] = "html"
        if keyboard is not None and not separate:
            attachments.append(keyboard)
        message = await self._post(bot, method.chat_id, body, None, None)
        if separate:
            await self._send_text(bot, method.chat_id, caption or "⬆", "HTML", method.reply_markup)
        return message.model_copy(update={"caption": method.caption})

    async def _upload(self, method: TelegramMethod[Any], kind: str, upload: Any) -> dict[str, Any]:
        if isinstance(upload, str):
            found = MaxFile.parse(upload)
            if found is not None:
                return {"token": found.token}
            if kind == "image" and upload.startswith("https://"):
                return {"url": upload}  # MAX fetches a picture by its URL itself
            # E.g. a Telegram file id: it means nothing to MAX (the relay re-uploads bytes).
            raise TelegramBadRequest(method=method, message="not a MAX file id")
        if isinstance(upload, BufferedInputFile):
            data, name = upload.data, upload.filename or kind
        elif isinstance(upload, FSInputFile):
            data = await asyncio.to_thread(Path(upload.path).read_bytes)
            name = upload.filename or kind
        else:
            raise MaxUnsupportedMethod(
                method=method, message=f"MAX upload of {type(upload).__name__} is not supported"
            )
        return await self.client.upload(kind, data, name)

    async def _copy(self, bot: Bot, method: CopyMessage) -> MessageId:
        mid = await self._mid(method, method.message_id)
        original = await self.client.call("GET", f"/messages/{mid}")
        body_in = original.get("body") or {}
        attachments = []
        for attachment in body_in.get("attachments") or []:
            kind = attachment.get("type")
            token = (attachment.get("payload") or {}).get("token")
            if kind in ("image", "file", "audio", "video") and token:
                attachments.append({"type": kind, "payload": {"token": token}})
        body: dict[str, Any] = {}
        if method.caption is not None:
            body["text"] = split_html(as_html(bot, method.caption, method.parse_mode))[0]
            body["format"] = "html"
        elif body_in.get("text"):
            body["text"] = body_in["text"][:4000]
        keyboard = keyboard_of(method.reply_markup)
        if keyboard is not None and not any(a["type"] in ("file", "audio") for a in attachments):
            attachments.append(keyboard)
        if attachments:
            body["attachments"] = attachments
        if not body:
            raise TelegramBadRequest(method=method, message="nothing in the message to copy")
        message = await self._post(bot, method.chat_id, body, None, None)
        return MessageId(message_id=message.message_id)

    async def _chat_action(self, method: SendChatAction) -> bool:
        action = _ACTIONS.get(str(getattr(method.action, "value", method.action)))
        dialog = self.translator.dialogs.get(int(method.chat_id))
        if int(method.chat_id) in self.translator.groups:
            dialog = int(method.chat_id)
        if action is None or dialog is None:
            # A hint only: a chat this process has not heard from yet is skipped.
            log.debug("max: chat action skipped (no dialog id known)")
            return True
        await self.client.call("POST", f"/chats/{dialog}/actions", body={"action": action})
        return True

    async def _set_commands(self, method: SetMyCommands) -> bool:
        scope = method.scope
        if (scope is not None and not isinstance(scope, BotCommandScopeDefault)) or (
            method.language_code
        ):
            log.debug("max: scoped or per-language command menu skipped (MAX has one menu)")
            return True
        commands = [
            {"name": c.command, "description": c.description[:128]}
            for c in method.commands[:MAX_COMMANDS]
        ]
        await self.client.call("PATCH", "/me/commands", body={"commands": commands})
        return True

    async def _get_updates(self, method: GetUpdates) -> list[Update]:
        """GET /updates. Passing the previous marker confirms the previous batch, which is
        what Telegram's offset does: DurablePolling moves the offset only once a batch is
        stored, and only then is the marker sent."""
        if self._me is None:
            await self._get_me()
        params: dict[str, Any] = {"timeout": method.timeout or 0, "types": list(HANDLED_TYPES)}
        if method.offset is not None and self._marker is not None:
            params["marker"] = self._marker
        answer = await self.client.call(
            "GET", "/updates", params=params, timeout=(method.timeout or 0) + self.timeout
        )
        marker = answer.get("marker")
        if isinstance(marker, int):
            self._marker = marker
        updates = []
        for raw in answer.get("updates") or []:
            if isinstance(raw, dict) and (update := await self.translate(raw)) is not None:
                updates.append(update)
        return updates

    async def _with_retries(self, call: Any) -> dict[str, Any]:
        for delay in (*NOT_READY_RETRIES, None):
            try:
                return cast(dict[str, Any], await call())
            except MaxApiError as error:
                if delay is None or error.status != 400 or "not.ready" not in error.code:
                    raise
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")
