"""A local Telegram Bot API emulator, served over real HTTP, for end-to-end tests of the bot."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import itertools
import json
import logging
import mimetypes
import re
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NamedTuple, Self

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import (
    BodyPartReader,
    ClientError,
    ClientResponse,
    ClientSession,
    ClientTimeout,
    MultipartReader,
    web,
)

__all__ = [
    "EntityParseError",
    "FakeCall",
    "FakeChat",
    "FakeTelegram",
    "FakeUser",
    "StoredFile",
    "UploadedFile",
    "parse_html",
]

JSON = dict[str, Any]
Handler = Callable[[JSON], Awaitable[Any]]

logger = logging.getLogger(__name__)

_dumps = functools.partial(json.dumps, ensure_ascii=False)

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64

_TOKEN_RE = re.compile(r"^(\d+):[A-Za-z0-9_-]+$")
_SECRET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_COMMAND_RE = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?")

# Form fields that are plain strings; every other field arrives JSON-encoded (numbers, booleans,
# objects), which is how aiogram's AiohttpSession.prepare_value serialises them.
_TEXT_PARAMS = frozenset(
    {
        "action",
        "address",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "currency",
        "custom_title",
        "description",
        "emoji",
        "file_id",
        "first_name",
        "inline_message_id",
        "ip_address",
        "language_code",
        "last_name",
        "message_effect_id",
        "name",
        "parse_mode",
        "payload",
        "performer",
        "phone_number",
        "question",
        "secret_token",
        "short_description",
        "text",
        "title",
        "url",
        "vcard",
    }
)
# Fields Telegram accepts as a JSON string even inside a JSON request body.
_JSON_PARAMS = frozenset(
    {
        "allowed_updates",
        "caption_entities",
        "commands",
        "entities",
        "link_preview_options",
        "media",
        "menu_button",
        "reply_markup",
        "reply_parameters",
        "scope",
    }
)
_INLINE_BUTTON_ACTIONS = frozenset(
    {
        "callback_data",
        "callback_game",
        "copy_text",
        "login_url",
        "pay",
        "switch_inline_query",
        "switch_inline_query_chosen_chat",
        "switch_inline_query_current_chat",
        "url",
        "web_app",
    }
)
_CHAT_ACTIONS = frozenset(
    {
        "choose_sticker",
        "find_location",
        "record_video",
        "record_video_note",
        "record_voice",
        "typing",
        "upload_document",
        "upload_photo",
        "upload_video",
        "upload_video_note",
        "upload_voice",
    }
)
# Message keys that are not content: everything else is copied by copyMessage / forwardMessage.
_ENVELOPE_KEYS = frozenset(
    {
        "message_id",
        "from",
        "chat",
        "date",
        "edit_date",
        "reply_markup",
        "reply_to_message",
        "forward_origin",
    }
)
_MEDIA_FOLDERS = {
    "document": "documents",
    "photo": "photos",
    "voice": "voice",
    "audio": "music",
    "video": "videos",
}
_DEFAULT_MIME = {
    "document": "application/octet-stream",
    "photo": "image/jpeg",
    "voice": "audio/ogg",
    "audio": "audio/mpeg",
    "video": "video/mp4",
}
_DEFAULT_FAULTS = {
    400: "Bad Request: injected failure",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: (
        "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running"
    ),
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_CALLBACK_TOO_OLD = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


class FakeCall(NamedTuple):
    """One request the bot made: the method name as sent and its decoded parameters."""

    method: str
    params: JSON


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request, as it appears in `FakeCall.params`."""

    filename: str
    content: bytes
    content_type: str | None


@dataclass(frozen=True)
class StoredFile:
    """A file known to the fake (uploaded by the bot or sent by a user), served by getFile."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    file_name: str | None
    mime_type: str | None


@dataclass
class _Fault:
    status: int
    description: str
    retry_after: int | None


@dataclass
class _Webhook:
    url: str
    token: str
    secret_token: str | None
    max_connections: int
    last_error_date: int | None = None
    last_error_message: str | None = None


class _ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(detail: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {detail}")


def _now() -> int:
    return int(time.time())


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# ---------------------------------------------------------------------------------------------
# HTML parse mode: Telegram turns markup into plain text plus entities and rejects bad markup,
# so a fake that echoed the HTML back would hide unescaped user input from the tests.
# ---------------------------------------------------------------------------------------------


class EntityParseError(ValueError):
    """The text is not valid Telegram HTML (Telegram answers 400 "can't parse entities")."""


_TAG_RE = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9-]*)"
    r"((?:\s+[A-Za-z_:][-\w:.]*(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?)*)\s*/?>"
)
_ATTR_RE = re.compile(
    r"([A-Za-z_:][-\w:.]*)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'=<>`]+)))?"
)
_CHAR_REF_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#(\d{1,7})|#[xX]([0-9A-Fa-f]{1,6}));")
_PLAIN_RUN_RE = re.compile(r"[^<&]+")
_NAMED_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}


@dataclass
class _OpenTag:
    name: str
    start: int
    entity: JSON | None


def _unescape_attr(value: str) -> str:
    return _CHAR_REF_RE.sub(lambda m: _char_ref(m) or m.group(0), value)


def _char_ref(match: re.Match[str]) -> str | None:
    named, decimal, hexadecimal = match.groups()
    if named:
        return _NAMED_REFS[named]
    code = int(decimal) if decimal else int(hexadecimal, 16)
    return chr(code) if 0 < code <= 0x10FFFF else None


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode())


def _open_tag(name: str, attrs: dict[str, str], open_tags: list[_OpenTag], start: int) -> _OpenTag:
    if name == "code" and open_tags and open_tags[-1].name == "pre":
        # <pre><code class="language-x"> is one pre entity carrying the language.
        pre = open_tags[-1].entity
        language = attrs.get("class", "")
        if pre is not None and language.startswith("language-"):
            pre["language"] = language.removeprefix("language-")
        return _OpenTag(name, start, None)
    if name in _SIMPLE_TAGS:
        return _OpenTag(name, start, {"type": _SIMPLE_TAGS[name]})
    if name == "span" and attrs.get("class") == "tg-spoiler":
        return _OpenTag(name, start, {"type": "spoiler"})
    if name == "a":
        href = attrs.get("href")
        return _OpenTag(name, start, {"type": "text_link", "url": href} if href else None)
    if name == "blockquote":
        kind = "expandable_blockquote" if "expandable" in attrs else "blockquote"
        return _OpenTag(name, start, {"type": kind})
    if name == "tg-emoji":
        emoji_id = attrs.get("emoji-id", "")
        if not emoji_id.isdigit():
            msg = "Custom emoji entity must contain a valid custom emoji identifier"
            raise EntityParseError(msg)
        return _OpenTag(name, start, {"type": "custom_emoji", "custom_emoji_id": emoji_id})
    raise KeyError(name)


def parse_html(source: str) -> tuple[str, list[JSON]]:
    """Turn Telegram-flavoured HTML into (text, entities) like the Bot API does."""
    parts: list[str] = []
    length = 0
    open_tags: list[_OpenTag] = []
    entities: list[JSON] = []
    index = 0
    while index < len(source):
        char = source[index]
        if char == "<":
            match = _TAG_RE.match(source, index)
            offset = _byte_offset(source, index)
            if match is None:
                name_match = re.match(r"</?([^\s<>/]*)", source[index:])
                name = name_match.group(1) if name_match else ""
                msg = f'Unsupported start tag "{name}" at byte offset {offset}'
                raise EntityParseError(msg)
            closing, name = match.group(1) == "/", match.group(2).lower()
            if closing:
                if not open_tags:
                    msg = f"Unexpected end tag at byte offset {offset}"
                    raise EntityParseError(msg)
                tag = open_tags.pop()
                if tag.name != name:
                    msg = (
                        f"Unmatched end tag at byte offset {offset}, "
                        f'expected "</{tag.name}>", found "</{name}>"'
                    )
                    raise EntityParseError(msg)
                if tag.entity is not None and length > tag.start:
                    entities.append(
                        {**tag.entity, "offset": tag.start, "length": length - tag.start}
                    )
            else:
                attrs = {
                    key.lower(): _unescape_attr(double or single or bare)
                    for key, double, single, bare in _ATTR_RE.findall(match.group(3))
                }
                try:
                    tag = _open_tag(name, attrs, open_tags, length)
                except KeyError:
                    msg = f'Unsupported start tag "{name}" at byte offset {offset}'
                    raise EntityParseError(msg) from None
                open_tags.append(tag)
            index = match.end()
            continue
        if char == "&":
            ref = _CHAR_REF_RE.match(source, index)
            decoded = _char_ref(ref) if ref else None
            if ref is not None and decoded is not None:
                chunk, index = decoded, ref.end()
            else:
                chunk, index = "&", index + 1
        else:
            run = _PLAIN_RUN_RE.match(source, index)
            assert run is not None
            chunk, index = run.group(0), run.end()
        parts.append(chunk)
        length += _utf16_len(chunk)
    if open_tags:
        msg = f'Can\'t find end tag corresponding to start tag "{open_tags[-1].name}"'
        raise EntityParseError(msg)
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(parts), entities


def _strip_text(text: str, entities: list[JSON]) -> tuple[str, list[JSON]]:
    """Trim surrounding whitespace like Telegram does, moving entities along."""
    stripped = text.strip()
    lead = _utf16_len(text) - _utf16_len(text.lstrip())
    total = _utf16_len(stripped)
    kept: list[JSON] = []
    for entity in entities:
        start = max(int(entity["offset"]) - lead, 0)
        end = min(int(entity["offset"]) + int(entity["length"]) - lead, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


# ---------------------------------------------------------------------------------------------
# Request decoding
# ---------------------------------------------------------------------------------------------


def _decode_value(key: str, value: str) -> Any:
    if key in _TEXT_PARAMS or value.startswith("attach://"):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _decode_form(fields: Iterable[tuple[str, str | UploadedFile]]) -> JSON:
    params: JSON = {}
    uploads: dict[str, UploadedFile] = {}
    for key, value in fields:
        if isinstance(value, UploadedFile):
            uploads[key] = value
        else:
            params[key] = _decode_value(key, value)
    return _attach_uploads(params, uploads)


def _decode_json_body(body: Mapping[str, Any]) -> JSON:
    params: JSON = {}
    for key, value in body.items():
        if key in _JSON_PARAMS and isinstance(value, str):
            params[key] = _decode_value(key, value)
        else:
            params[key] = value
    return params


def _attach_uploads(params: JSON, uploads: dict[str, UploadedFile]) -> JSON:
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.pop(value.removeprefix("attach://"), None)
            if upload is not None:
                params[key] = upload
    for key, upload in uploads.items():
        params.setdefault(key, upload)
    return params


def _upload(filename: str | None, content: bytes, content_type: str | None) -> UploadedFile:
    name = filename or "file"
    if not content_type or content_type == "application/octet-stream":
        content_type = mimetypes.guess_type(name)[0] or content_type
    return UploadedFile(filename=name, content=content, content_type=content_type)


async def _read_request(request: web.Request) -> JSON:
    fields: list[tuple[str, str | UploadedFile]] = list(request.query.items())
    if request.content_type == "application/json" and request.can_read_body:
        body = await request.json()
        if not isinstance(body, dict):
            raise _bad_request("request body must be a JSON object")
        return {**_decode_form(fields), **_decode_json_body(body)}
    if request.can_read_body:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                fields.append(
                    (key, _upload(value.filename, value.file.read(), value.content_type))
                )
            elif isinstance(value, str):
                fields.append((key, value))
            else:
                fields.append((key, bytes(value).decode()))
    return _decode_form(fields)


async def _read_webhook_reply(response: ClientResponse) -> tuple[str, JSON] | None:
    """A webhook may answer with a method call in its response body (JSON or form-data)."""
    if response.content_type == "application/json":
        body = await response.json()
        if isinstance(body, dict) and isinstance(body.get("method"), str):
            method = body.pop("method")
            return method, _decode_json_body(body)
        return None
    if not response.content_type.startswith("multipart/"):
        return None
    reader = MultipartReader.from_response(response)
    fields: list[tuple[str, str | UploadedFile]] = []
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        data = await part.read(decode=True)
        if part.filename:
            content_type = part.headers.get("Content-Type")
            fields.append((part.name, _upload(part.filename, bytes(data), content_type)))
        else:
            fields.append((part.name, bytes(data).decode()))
    params = _decode_form(fields)
    method = params.pop("method", None)
    return (method, params) if isinstance(method, str) else None


# ---------------------------------------------------------------------------------------------
# Chats and users
# ---------------------------------------------------------------------------------------------


class FakeChat:
    """A chat as the fake sees it: every message in it and what the bot sent there."""

    def __init__(self, fake: FakeTelegram, chat: JSON) -> None:
        self._fake = fake
        self.chat = chat
        self.id: int = chat["id"]
        self.messages: list[JSON] = []
        """Messages the bot sent here, oldest first; edits are applied in place."""
        self.deleted_message_ids: list[int] = []
        self.reply_buttons: list[list[JSON]] | None = None
        """The reply keyboard (KeyboardButton objects) the bot currently shows, if any."""
        self.chat_actions: list[str] = []
        self._by_id: dict[int, JSON] = {}
        self._message_ids = itertools.count(1)
        self._events: list[JSON] = []
        self._mark = 0

    @property
    def title(self) -> str:
        return str(self.chat.get("title") or self.chat.get("first_name") or self.id)

    @property
    def texts(self) -> list[str]:
        """Text (or caption) of every message the bot sent here, oldest first."""
        return [_message_text(message) for message in self.messages]

    def last_text(self) -> str:
        """Text (or caption) of the newest message the bot sent here."""
        if not self.messages:
            msg = f"The bot has sent nothing to {self.title} (chat {self.id})"
            raise AssertionError(msg)
        return _message_text(self.messages[-1])

    @property
    def reply_keyboard(self) -> list[list[str]] | None:
        """Button texts of the reply keyboard the bot currently shows, if any."""
        if self.reply_buttons is None:
            return None
        return [[str(button["text"]) for button in row] for row in self.reply_buttons]

    def message(self, message_id: int) -> JSON:
        """Any message in this chat (sent by either side) by id."""
        return self._by_id[message_id]

    def buttons(self, message_id: int | None = None) -> list[list[str]]:
        """Inline button texts of the newest bot message with an inline keyboard."""
        message = self._keyboard_message(message_id)
        return [[button["text"] for button in row] for row in _inline_rows(message)]

    async def wait_reply(self, timeout: float = 5.0, count: int = 1) -> list[JSON]:  # noqa: ASYNC109
        """Wait for `count` messages sent or edited by the bot since the last user action."""
        arrived = await self._fake.wait_until(
            lambda: len(self._events) - self._mark >= count, timeout
        )
        if not arrived:
            got = [_message_text(m) for m in self._events[self._mark :]]
            recent = [call.method for call in self._fake.calls[-10:]]
            msg = (
                f"{self.title} (chat {self.id}) expected {count} new bot message(s) "
                f"within {timeout}s, got {len(got)}: {got!r}; last bot calls: {recent}"
            )
            raise AssertionError(msg)
        replies = self._events[self._mark : self._mark + count]
        self._mark += count
        return replies

    async def assert_no_reply(self, timeout: float = 0.3) -> None:  # noqa: ASYNC109
        """Fail if the bot sends or edits anything here within `timeout` seconds."""
        await self._fake.wait_until(lambda: len(self._events) > self._mark, timeout)
        if len(self._events) > self._mark:
            got = [_message_text(m) for m in self._events[self._mark :]]
            msg = f"{self.title} (chat {self.id}) expected silence, the bot sent {got!r}"
            raise AssertionError(msg)

    def _add_message(self, sender: JSON, content: JSON) -> JSON:
        message: JSON = {
            "message_id": next(self._message_ids),
            "from": sender,
            "chat": self.chat,
            "date": _now(),
            **content,
        }
        self._by_id[message["message_id"]] = message
        if sender.get("is_bot"):
            self.messages.append(message)
            self._events.append(message)
        return message

    def _record_edit(self, message: JSON) -> None:
        message["edit_date"] = _now()
        self._events.append(message)

    def _delete(self, message_id: int) -> None:
        message = self._by_id.pop(message_id)
        if message in self.messages:
            self.messages.remove(message)
        self.deleted_message_ids.append(message_id)

    def _keyboard_message(self, message_id: int | None) -> JSON:
        if message_id is not None:
            message = self._by_id.get(message_id)
            if message is None or not _inline_rows(message):
                msg = f"Message {message_id} in chat {self.id} has no inline keyboard"
                raise AssertionError(msg)
            return message
        for message in reversed(self.messages):
            if _inline_rows(message):
                return message
        msg = (
            f"No bot message to {self.title} (chat {self.id}) has an inline keyboard; "
            f"bot messages: {self.texts!r}"
        )
        raise AssertionError(msg)


class FakeUser(FakeChat):
    """A Telegram user in a private chat with the bot, played by the test."""

    def __init__(self, fake: FakeTelegram, user: JSON, *, started: bool) -> None:
        chat: JSON = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        for key in ("last_name", "username"):
            if key in user:
                chat[key] = user[key]
        super().__init__(fake, chat)
        self.user = user
        self.started = started
        """Whether the user has ever written to the bot (else the bot cannot write first)."""
        self.blocked = False
        self.callback_answers: list[JSON] = []
        self.chat_instance = str(-(10**18 + self.id))
        self._last_callback_id: str | None = None

    @property
    def title(self) -> str:
        return str(self.user["first_name"])

    async def send(self, text: str) -> JSON:
        """Write `text` to the bot; a leading /command gets its bot_command entity."""
        content: JSON = {"text": text}
        command = _COMMAND_RE.match(text)
        if command:
            length = _utf16_len(command.group(0))
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return await self._send_content(content)

    async def click(self, button_text: str, *, message_id: int | None = None) -> JSON:
        """Press an inline button in the newest bot message that has an inline keyboard."""
        message = self._keyboard_message(message_id)
        buttons = [button for row in _inline_rows(message) for button in row]
        button = next((b for b in buttons if b["text"] == button_text), None)
        if button is None:
            msg = (
                f"{self.title} sees no button {button_text!r} under message "
                f"{message['message_id']} ({_message_text(message)[:60]!r}); "
                f"buttons: {[b['text'] for b in buttons]!r}"
            )
            raise AssertionError(msg)
        if "callback_data" not in button:
            msg = f"Button {button_text!r} sends no callback (it is {button!r})"
            raise AssertionError(msg)
        query: JSON = {
            "id": self._fake._new_callback_id(self),
            "from": self.user,
            "message": copy.deepcopy(message),
            "chat_instance": self.chat_instance,
            "data": button["callback_data"],
        }
        self._last_callback_id = query["id"]
        self._before_action()
        self._fake._queue_update("callback_query", query)
        await asyncio.sleep(0)
        return query

    async def press(self, button_text: str, *, phone_number: str = "+79990000000") -> JSON:
        """Tap a reply-keyboard button: sends its text, or the contact for request_contact."""
        buttons = [button for row in self.reply_buttons or [] for button in row]
        button = next((b for b in buttons if b["text"] == button_text), None)
        if button is None:
            msg = (
                f"{self.title} sees no reply-keyboard button {button_text!r}; "
                f"keyboard: {self.reply_keyboard!r}"
            )
            raise AssertionError(msg)
        if button.get("request_contact"):
            return await self.send_contact(phone_number)
        return await self.send(button_text)

    async def wait_callback_answer(self, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        """Wait until the bot answers the last clicked callback; return answerCallbackQuery."""
        query_id = self._last_callback_id
        if query_id is None:
            msg = f"{self.title} has clicked nothing yet"
            raise AssertionError(msg)

        def answer() -> JSON | None:
            return next(
                (a for a in self.callback_answers if a["callback_query_id"] == query_id), None
            )

        if not await self._fake.wait_until(lambda: answer() is not None, timeout):
            msg = f"The bot did not answer {self.title}'s callback {query_id} within {timeout}s"
            raise AssertionError(msg)
        result = answer()
        assert result is not None
        return result

    async def send_photo(
        self,
        caption: str | None = None,
        *,
        content: bytes = b"\xff\xd8\xff\xe0 fake jpeg",
        width: int = 1280,
        height: int = 960,
    ) -> JSON:
        """Send a photo (two sizes, like Telegram) with an optional caption."""
        photo = self._fake._photo_sizes(content, width, height)
        return await self._send_content(_with_caption({"photo": photo}, caption))

    async def send_document(
        self,
        file_name: str = "document.pdf",
        content: bytes = b"%PDF-1.4 fake",
        *,
        mime_type: str | None = None,
        caption: str | None = None,
    ) -> JSON:
        """Send a file as a document."""
        mime = mime_type or mimetypes.guess_type(file_name)[0] or _DEFAULT_MIME["document"]
        stored = self._fake._store_file("document", content, file_name, mime)
        document = _media_object("document", stored, width=0, height=0, duration=0)
        return await self._send_content(_with_caption({"document": document}, caption))

    async def send_voice(self, duration: int = 3, content: bytes = b"OggS fake voice") -> JSON:
        """Send a voice note."""
        stored = self._fake._store_file("voice", content, None, _DEFAULT_MIME["voice"])
        voice = _media_object("voice", stored, width=0, height=0, duration=duration)
        return await self._send_content({"voice": voice})

    async def send_contact(self, phone_number: str, *, first_name: str | None = None) -> JSON:
        """Share a contact (by default the user's own, as a request_contact button does)."""
        contact: JSON = {
            "phone_number": phone_number,
            "first_name": first_name or self.user["first_name"],
        }
        if first_name is None:
            contact["user_id"] = self.id
        return await self._send_content({"contact": contact})

    async def block(self) -> None:
        """Block the bot: sends fail with 403 and a my_chat_member update is queued."""
        self.blocked = True
        self._fake._queue_update("my_chat_member", self._member_change("member", "kicked"))
        await asyncio.sleep(0)

    async def unblock(self) -> None:
        """Unblock the bot again."""
        self.blocked = False
        self._fake._queue_update("my_chat_member", self._member_change("kicked", "member"))
        await asyncio.sleep(0)

    def _member_change(self, old: str, new: str) -> JSON:
        bot = self._fake.bot_user
        members = []
        for status in (old, new):
            member: JSON = {"status": status, "user": bot}
            if status == "kicked":
                member["until_date"] = 0
            members.append(member)
        return {
            "chat": self.chat,
            "from": self.user,
            "date": _now(),
            "old_chat_member": members[0],
            "new_chat_member": members[1],
        }

    async def _send_content(self, content: JSON) -> JSON:
        self.started = True
        message = self._add_message(self.user, content)
        self._before_action()
        self._fake._queue_update("message", copy.deepcopy(message))
        await asyncio.sleep(0)
        return message

    def _before_action(self) -> None:
        self._mark = len(self._events)


def _with_caption(content: JSON, caption: str | None) -> JSON:
    if caption:
        content["caption"] = caption
    return content


def _message_text(message: JSON) -> str:
    return str(message.get("text", message.get("caption", "")))


def _inline_rows(message: JSON) -> list[list[JSON]]:
    markup = message.get("reply_markup") or {}
    rows: list[list[JSON]] = markup.get("inline_keyboard", [])
    return rows


def _media_object(
    kind: str, stored: StoredFile, *, width: int, height: int, duration: int
) -> JSON:
    media: JSON = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.content),
    }
    if kind in ("photo", "video"):
        media["width"], media["height"] = width, height
    if kind in ("voice", "audio", "video"):
        media["duration"] = duration
    if kind in ("document", "audio", "video") and stored.file_name:
        media["file_name"] = stored.file_name
    if kind != "photo" and stored.mime_type:
        media["mime_type"] = stored.mime_type
    return media


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


class FakeTelegram:
    """Telegram Bot API over HTTP on 127.0.0.1, with users played by the test.

    Serves one bot (the first token it sees, or `token`). Point aiogram at it with
    `AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))` or `fake.bot_session()`.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        username: str = "test_bot",
        first_name: str = "Test Bot",
    ) -> None:
        self.token = token
        self.username = username
        self.first_name = first_name
        self.calls: list[FakeCall] = []
        """Every request the bot made, in order: (method, params)."""
        self.answered_callbacks: list[JSON] = []
        """Parameters of every successful answerCallbackQuery."""
        self.files: dict[str, StoredFile] = {}
        self.menu_buttons: dict[int | None, JSON] = {}
        # setMyDescription / setMyShortDescription by language code ("" for the default).
        self.descriptions: dict[str, str] = {}
        self.short_descriptions: dict[str, str] = {}
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._chats: dict[int, FakeChat] = {}
        self._pending: list[JSON] = []
        self._allowed_updates: frozenset[str] | None = None
        self._faults: dict[str, deque[_Fault]] = {}
        self._callbacks: dict[str, FakeUser] = {}
        self._update_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._poll_generation = 0
        self._webhook: _Webhook | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._files_by_path: dict[str, StoredFile] = {}
        self._media_by_file_id: dict[str, tuple[str, Any]] = {}
        self._tick = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        handlers: dict[str, Handler] = {
            "getMe": self._get_me,
            "logOut": self._true,
            "close": self._true,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setChatMenuButton": self._set_chat_menu_button,
            "setMyDescription": functools.partial(self._set_about, "description", 512),
            "setMyShortDescription": functools.partial(self._set_about, "short_description", 120),
            "getMyDescription": functools.partial(self._get_about, "description"),
            "getMyShortDescription": functools.partial(self._get_about, "short_description"),
            "getChatMenuButton": self._get_chat_menu_button,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "copyMessage": self._copy_message,
            "forwardMessage": self._forward_message,
            "sendDocument": functools.partial(self._send_media, "document"),
            "sendPhoto": functools.partial(self._send_media, "photo"),
            "sendVoice": functools.partial(self._send_media, "voice"),
            "sendAudio": functools.partial(self._send_media, "audio"),
            "sendVideo": functools.partial(self._send_media, "video"),
            "getFile": self._get_file,
        }
        self._methods = {name.lower(): handler for name, handler in handlers.items()}

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on a free port of 127.0.0.1; return the base URL for TelegramAPIServer."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self._base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._closing = False
        return self._base_url

    async def stop(self) -> None:
        """Release pending long polls, stop webhook delivery and close the server."""
        self._closing = True
        self._bump()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
            self._webhook_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            msg = "FakeTelegram is not started"
            raise RuntimeError(msg)
        return self._base_url

    def bot_session(self, **kwargs: Any) -> AiohttpSession:
        """An aiogram session that talks to this fake."""
        return AiohttpSession(api=TelegramAPIServer.from_base(self.base_url), **kwargs)

    # -- test-side API -------------------------------------------------------------------------

    def user(
        self,
        user_id: int,
        first_name: str = "Анна",
        language_code: str = "ru",
        *,
        last_name: str | None = None,
        username: str | None = None,
        started: bool = False,
    ) -> FakeUser:
        """The user with this id (created on first use). `started=True`: may be written first."""
        existing = self._chats.get(user_id)
        if isinstance(existing, FakeUser):
            existing.started = existing.started or started
            return existing
        if existing is not None:
            msg = f"Chat {user_id} is a group, not a user"
            raise ValueError(msg)
        user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        user["language_code"] = language_code
        fake_user = FakeUser(self, user, started=started)
        self._chats[user_id] = fake_user
        return fake_user

    def group(self, chat_id: int, title: str = "Группа") -> FakeChat:
        """A supergroup the bot is a member of (it can post there; nobody writes back)."""
        existing = self._chats.get(chat_id)
        if existing is None:
            existing = FakeChat(self, {"id": chat_id, "type": "supergroup", "title": title})
            self._chats[chat_id] = existing
        return existing

    def fail_next(
        self,
        method: str,
        status: int,
        retry_after: int | None = None,
        description: str | None = None,
        *,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `method` with an error instead of running it.

        429 carries `parameters.retry_after` (default 1) as Telegram's flood control does.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        text = description or _DEFAULT_FAULTS.get(status, f"Error {status}")
        text = text.format(retry_after=retry_after)
        queue = self._faults.setdefault(method.lower(), deque())
        queue.extend(_Fault(status, text, retry_after) for _ in range(times))

    def calls_to(self, method: str) -> list[JSON]:
        """Parameters of every call of `method` (case-insensitive), in order."""
        return [call.params for call in self.calls if call.method.lower() == method.lower()]

    def my_commands(self, scope: JSON | None = None, language_code: str = "") -> list[JSON]:
        """The command list set with setMyCommands for this scope and language."""
        return list(self._commands.get(_commands_key(scope, language_code), []))

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by the bot."""
        return list(self._pending)

    @property
    def webhook_url(self) -> str | None:
        return self._webhook.url if self._webhook else None

    @property
    def bot_user(self) -> JSON:
        """The bot's User object (needs the token: pass it or let the bot connect first)."""
        if self.token is None:
            msg = "The bot has not connected yet and FakeTelegram(token=...) was not given"
            raise AssertionError(msg)
        match = _TOKEN_RE.match(self.token)
        bot_id = int(match.group(1)) if match else 0
        return {
            "id": bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> bool:
        """Wait until `predicate()` holds (re-checked on every API call); False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closing:
                return predicate()
            tick = self._tick
            # The short cap lets predicates over state the fake does not own converge too.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tick.wait(), min(remaining, 0.05))
        return True

    # -- plumbing ------------------------------------------------------------------------------

    def _bump(self) -> None:
        self._tick.set()
        self._tick = asyncio.Event()

    def _queue_update(self, kind: str, payload: JSON) -> JSON:
        update: JSON = {"update_id": next(self._update_ids), kind: payload}
        self._pending.append(update)
        self._bump()
        return update

    def _new_callback_id(self, user: FakeUser) -> str:
        query_id = str(4_000_000_000_000_000_000 + next(self._callback_ids))
        self._callbacks[query_id] = user
        return query_id

    def _store_file(
        self, kind: str, content: bytes, file_name: str | None, mime_type: str | None
    ) -> StoredFile:
        number = next(self._file_ids)
        extension = mimetypes.guess_extension(mime_type or "") or ""
        if file_name and "." in file_name:
            extension = "." + file_name.rsplit(".", 1)[1]
        stored = StoredFile(
            file_id=f"{kind}-{number}",
            file_unique_id=f"unique-{number}",
            file_path=f"{_MEDIA_FOLDERS.get(kind, 'files')}/file_{number}{extension}",
            content=content,
            file_name=file_name,
            mime_type=mime_type,
        )
        self.files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _photo_sizes(self, content: bytes, width: int, height: int) -> list[JSON]:
        scale = max(width, height, 1) / 90
        thumb = self._store_file("photo", content, None, "image/jpeg")
        full = self._store_file("photo", content, None, "image/jpeg")
        sizes = [
            _media_object(
                "photo",
                thumb,
                width=round(width / scale),
                height=round(height / scale),
                duration=0,
            ),
            _media_object("photo", full, width=width, height=height, duration=0),
        ]
        for size in sizes:
            self._media_by_file_id[size["file_id"]] = ("photo", sizes)
        return sizes

    async def _handle_method(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        try:
            params = await _read_request(request)
        except _ApiError as error:
            return web.json_response(error.payload(), status=error.status, dumps=_dumps)
        status, body = await self._call(token, method, params)
        return web.json_response(body, status=status, dumps=_dumps)

    async def _handle_file(self, request: web.Request) -> web.Response:
        stored = self._files_by_path.get(request.match_info["path"])
        if not self._token_ok(request.match_info["token"]) or stored is None:
            status = 404 if stored is None else 401
            return web.json_response(
                {"ok": False, "error_code": status, "description": "Not Found"}, status=status
            )
        return web.Response(body=stored.content, content_type=stored.mime_type)

    def _token_ok(self, token: str) -> bool:
        if _TOKEN_RE.match(token) is None:
            return False
        if self.token is None:
            self.token = token
        return token == self.token

    async def _call(self, token: str, method: str, params: JSON) -> tuple[int, JSON]:
        self.calls.append(FakeCall(method, params))
        logger.debug("bot called %s %s", method, params)
        try:
            if not self._token_ok(token):
                raise _ApiError(401, "Unauthorized")
            faults = self._faults.get(method.lower())
            if faults:
                fault = faults.popleft()
                parameters = {"retry_after": fault.retry_after} if fault.retry_after else None
                raise _ApiError(fault.status, fault.description, parameters)
            handler = self._methods.get(method.lower())
            if handler is None:
                raise _ApiError(404, "Not Found: method not found")
            result = await handler(params)
        except _ApiError as error:
            logger.debug("answered %s with %s", method, error.description)
            return error.status, error.payload()
        except (KeyError, ValueError, TypeError) as error:
            return 400, _bad_request(f"invalid parameters: {error!r}").payload()
        finally:
            self._bump()
        return 200, {"ok": True, "result": result}

    # -- parameter helpers ---------------------------------------------------------------------

    def _chat(self, params: JSON, key: str = "chat_id", *, sending: bool = True) -> FakeChat:
        raw = params.get(key)
        if raw in (None, ""):
            raise _bad_request(f"{key} is empty")
        try:
            chat = self._chats.get(int(raw))
        except (TypeError, ValueError):
            chat = None
        if chat is None:
            raise _bad_request("chat not found")
        if isinstance(chat, FakeUser):
            if chat.blocked:
                raise _ApiError(403, "Forbidden: bot was blocked by the user")
            if sending and not chat.started:
                raise _ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        return chat

    def _formatted(
        self, params: JSON, text_key: str, entities_key: str, limit: int
    ) -> tuple[str, list[JSON]]:
        raw = params.get(text_key)
        text = "" if raw is None else str(raw)
        parse_mode = str(params.get("parse_mode") or "").lower()
        entities: list[JSON]
        if params.get(entities_key):
            # Explicit entities (aiogram.utils.formatting) win over any parse_mode.
            entities = list(params[entities_key])
        elif parse_mode == "html":
            try:
                text, entities = parse_html(text)
            except EntityParseError as error:
                raise _bad_request(f"can't parse entities: {error}") from None
        elif parse_mode in ("", "markdown", "markdownv2"):
            # Markdown is echoed as is: the bot under test uses HTML or explicit entities.
            entities = []
        else:
            raise _bad_request("unsupported parse_mode")
        text, entities = _strip_text(text, entities)
        if _utf16_len(text) > limit:
            what = "message" if text_key == "text" else "message caption"
            raise _bad_request(f"{what} is too long")
        return text, entities

    def _text_content(self, params: JSON) -> JSON:
        text, entities = self._formatted(params, "text", "entities", MAX_TEXT_LENGTH)
        if not text:
            raise _bad_request("message text is empty")
        content: JSON = {"text": text}
        if entities:
            content["entities"] = entities
        return content

    def _caption_content(self, params: JSON) -> JSON:
        caption, entities = self._formatted(
            params, "caption", "caption_entities", MAX_CAPTION_LENGTH
        )
        content: JSON = {}
        if caption:
            content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
        return content

    def _markup(self, chat: FakeChat, params: JSON) -> tuple[JSON | None, Callable[[], None]]:
        """Validate reply_markup; return the inline keyboard to store and a state update."""
        markup = params.get("reply_markup")
        if markup is None:
            return None, lambda: None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            return _valid_inline_keyboard(markup["inline_keyboard"]), lambda: None
        if "keyboard" in markup:
            rows: list[list[JSON]] = [
                [b if isinstance(b, dict) else {"text": str(b)} for b in row]
                for row in markup["keyboard"]
            ]
            if not any(rows) or not all(str(b.get("text") or "") for row in rows for b in row):
                raise _bad_request("keyboard must be non-empty")

            def show_keyboard() -> None:
                chat.reply_buttons = rows

            return None, show_keyboard
        if markup.get("remove_keyboard"):

            def remove_keyboard() -> None:
                chat.reply_buttons = None

            return None, remove_keyboard
        if markup.get("force_reply"):
            return None, lambda: None
        raise _bad_request("can't parse reply keyboard markup JSON object")

    def _deliver(self, chat: FakeChat, params: JSON, content: JSON) -> JSON:
        inline, apply_markup = self._markup(chat, params)
        reply = params.get("reply_parameters")
        if isinstance(reply, dict) and "message_id" in reply:
            target = chat._by_id.get(int(reply["message_id"]))
            if target is not None:
                quoted = {k: v for k, v in target.items() if k != "reply_to_message"}
                content = {**content, "reply_to_message": copy.deepcopy(quoted)}
            elif not reply.get("allow_sending_without_reply"):
                raise _bad_request("message to be replied not found")
        if inline is not None:
            content = {**content, "reply_markup": inline}
        apply_markup()
        return chat._add_message(self.bot_user, content)

    def _bot_message(self, params: JSON, action: str) -> tuple[FakeChat, JSON]:
        if params.get("inline_message_id"):
            raise _bad_request("inline messages are not supported by FakeTelegram")
        chat = self._chat(params, sending=False)
        if params.get("message_id") in (None, ""):
            raise _bad_request("message_id is empty")
        message = chat._by_id.get(int(params["message_id"]))
        if message is None:
            raise _bad_request(f"message to {action} not found")
        if action == "edit" and not message["from"].get("is_bot"):
            raise _bad_request("message can't be edited")
        return chat, message

    # -- methods -------------------------------------------------------------------------------

    async def _true(self, params: JSON) -> bool:
        return True

    async def _get_me(self, params: JSON) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _drop_unwanted(self) -> list[JSON]:
        if self._allowed_updates is not None:
            allowed = self._allowed_updates
            self._pending = [u for u in self._pending if _update_kind(u) in allowed]
        return self._pending

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        elif offset < 0:
            self._pending = self._pending[offset:]

    def _set_allowed_updates(self, params: JSON) -> None:
        if "allowed_updates" in params:
            allowed = params["allowed_updates"] or []
            self._allowed_updates = frozenset(allowed) if allowed else None

    async def _get_updates(self, params: JSON) -> list[JSON]:
        if self._webhook is not None:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._poll_generation += 1
        generation = self._poll_generation
        self._set_allowed_updates(params)
        self._confirm(int(params.get("offset") or 0))
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        await self.wait_until(
            lambda: (
                bool(self._drop_unwanted()) or self._closing or generation != self._poll_generation
            ),
            timeout,
        )
        if generation != self._poll_generation:
            raise _ApiError(409, _DEFAULT_FAULTS[409])
        return copy.deepcopy(self._drop_unwanted()[:limit])

    async def _set_webhook(self, params: JSON) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return await self._delete_webhook(params)
        if not url.startswith(("http://", "https://")):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN_RE.match(str(secret)):
            raise _bad_request("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self._set_allowed_updates(params)
        assert self.token is not None
        self._webhook = _Webhook(
            url=url,
            token=self.token,
            secret_token=None if secret is None else str(secret),
            max_connections=int(params.get("max_connections") or 40),
        )
        self._poll_generation += 1  # a pending getUpdates is cut off, as on Telegram
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.create_task(self._webhook_loop())
        return True

    async def _delete_webhook(self, params: JSON) -> bool:
        self._webhook = None
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _get_webhook_info(self, params: JSON) -> JSON:
        info: JSON = {
            "url": self._webhook.url if self._webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._drop_unwanted()),
        }
        if self._webhook is not None:
            info["max_connections"] = self._webhook.max_connections
            if self._webhook.last_error_date is not None:
                info["last_error_date"] = self._webhook.last_error_date
                info["last_error_message"] = self._webhook.last_error_message
        if self._allowed_updates is not None:
            info["allowed_updates"] = sorted(self._allowed_updates)
        return info

    async def _webhook_loop(self) -> None:
        async with ClientSession(timeout=ClientTimeout(total=30)) as session:
            while not self._closing and self._webhook is not None:
                hook = self._webhook
                ready = await self.wait_until(functools.partial(self._webhook_has_work, hook), 60)
                if not ready or self._closing or self._webhook is not hook:
                    continue
                if not await self._post_update(session, hook, self._pending[0]):
                    await asyncio.sleep(0.1)

    def _webhook_has_work(self, hook: _Webhook) -> bool:
        return bool(self._drop_unwanted()) or self._closing or self._webhook is not hook

    async def _post_update(self, session: ClientSession, hook: _Webhook, update: JSON) -> bool:
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        try:
            async with session.post(hook.url, data=_dumps(update), headers=headers) as response:
                if response.status >= 300:
                    hook.last_error_date = _now()
                    hook.last_error_message = (
                        f"Wrong response from the webhook: {response.status} {response.reason}"
                    )
                    return False
                reply = await _read_webhook_reply(response)
        except (ClientError, TimeoutError) as error:
            hook.last_error_date = _now()
            hook.last_error_message = f"Connection failed: {error}"
            return False
        self._pending = [u for u in self._pending if u is not update]
        self._bump()
        if reply is not None:
            await self._call(hook.token, *reply)
        return True

    def _about(self, field: str) -> dict[str, str]:
        return self.descriptions if field == "description" else self.short_descriptions

    async def _set_about(self, field: str, limit: int, params: JSON) -> bool:
        """Telegram's limits: 512 characters for the description, 120 for the short one;
        an empty text removes it for that language."""
        text = str(params.get(field) or "")
        if len(text) > limit:
            raise _bad_request(f"{field.upper()}_INVALID")
        lang = str(params.get("language_code") or "")
        if text:
            self._about(field)[lang] = text
        else:
            self._about(field).pop(lang, None)
        return True

    async def _get_about(self, field: str, params: JSON) -> JSON:
        lang = str(params.get("language_code") or "")
        texts = self._about(field)
        return {field: texts.get(lang, texts.get("", ""))}

    async def _set_my_commands(self, params: JSON) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request("commands must be a list")
        for command in commands:
            name = str(command.get("command", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = _commands_key(params.get("scope"), str(params.get("language_code") or ""))
        self._commands[key] = commands
        return True

    async def _get_my_commands(self, params: JSON) -> list[JSON]:
        return self.my_commands(params.get("scope"), str(params.get("language_code") or ""))

    async def _delete_my_commands(self, params: JSON) -> bool:
        key = _commands_key(params.get("scope"), str(params.get("language_code") or ""))
        self._commands.pop(key, None)
        return True

    async def _set_chat_menu_button(self, params: JSON) -> bool:
        chat_id = params.get("chat_id")
        key = None if chat_id in (None, "") else self._chat(params, sending=False).id
        self.menu_buttons[key] = params.get("menu_button") or {"type": "default"}
        return True

    async def _get_chat_menu_button(self, params: JSON) -> JSON:
        chat_id = params.get("chat_id")
        key = None if chat_id in (None, "") else int(chat_id)
        return self.menu_buttons.get(key, self.menu_buttons.get(None, {"type": "commands"}))

    async def _send_message(self, params: JSON) -> JSON:
        chat = self._chat(params)
        return self._deliver(chat, params, self._text_content(params))

    async def _edit_message_text(self, params: JSON) -> JSON:
        chat, message = self._bot_message(params, "edit")
        if "text" not in message:
            raise _bad_request("there is no text in the message to edit")
        content = self._text_content(params)
        inline, _ = self._markup(chat, params)
        return self._apply_edit(chat, message, content, ("text", "entities"), inline)

    async def _edit_message_caption(self, params: JSON) -> JSON:
        chat, message = self._bot_message(params, "edit")
        if "text" in message:
            raise _bad_request("there is no caption in the message to edit")
        content = self._caption_content(params)
        inline, _ = self._markup(chat, params)
        return self._apply_edit(chat, message, content, ("caption", "caption_entities"), inline)

    async def _edit_message_reply_markup(self, params: JSON) -> JSON:
        chat, message = self._bot_message(params, "edit")
        inline, _ = self._markup(chat, params)
        return self._apply_edit(chat, message, {}, (), inline)

    def _apply_edit(
        self,
        chat: FakeChat,
        message: JSON,
        content: JSON,
        keys: tuple[str, ...],
        inline: JSON | None,
    ) -> JSON:
        # Telegram drops an inline keyboard that the edit does not repeat.
        unchanged = all(content.get(k) == message.get(k) for k in keys)
        if unchanged and inline == message.get("reply_markup"):
            raise _bad_request(_NOT_MODIFIED.removeprefix("Bad Request: "))
        for key in keys:
            message.pop(key, None)
        message.update(content)
        message.pop("reply_markup", None)
        if inline is not None:
            message["reply_markup"] = inline
        chat._record_edit(message)
        return message

    async def _delete_message(self, params: JSON) -> bool:
        chat, message = self._bot_message(params, "delete")
        chat._delete(int(message["message_id"]))
        return True

    async def _answer_callback_query(self, params: JSON) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        user = self._callbacks.pop(query_id, None)
        if user is None:
            raise _bad_request(_CALLBACK_TOO_OLD.removeprefix("Bad Request: "))
        if len(str(params.get("text") or "")) > 200:
            raise _bad_request("MESSAGE_TOO_LONG")
        self.answered_callbacks.append(params)
        user.callback_answers.append(params)
        return True

    async def _send_chat_action(self, params: JSON) -> bool:
        chat = self._chat(params)
        action = str(params.get("action") or "")
        if action not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        chat.chat_actions.append(action)
        return True

    def _source_message(self, params: JSON, what: str) -> JSON:
        try:
            source_chat = self._chat(params, "from_chat_id", sending=False)
        except _ApiError:
            raise _bad_request(f"message to {what} not found") from None
        message = source_chat._by_id.get(int(params.get("message_id") or 0))
        if message is None:
            raise _bad_request(f"message to {what} not found")
        return message

    async def _copy_message(self, params: JSON) -> JSON:
        chat = self._chat(params)
        source = self._source_message(params, "copy")
        content = {k: copy.deepcopy(v) for k, v in source.items() if k not in _ENVELOPE_KEYS}
        if "caption" in params and "text" not in content:
            content.pop("caption", None)
            content.pop("caption_entities", None)
            content.update(self._caption_content(params))
        message = self._deliver(chat, params, content)
        return {"message_id": message["message_id"]}

    async def _forward_message(self, params: JSON) -> JSON:
        chat = self._chat(params)
        source = self._source_message(params, "forward")
        content = {k: copy.deepcopy(v) for k, v in source.items() if k not in _ENVELOPE_KEYS}
        content["forward_origin"] = {
            "type": "user",
            "sender_user": source["from"],
            "date": source["date"],
        }
        return chat._add_message(self.bot_user, content)

    async def _send_media(self, kind: str, params: JSON) -> JSON:
        chat = self._chat(params)
        value = params.get(kind)
        media: Any
        if isinstance(value, UploadedFile):
            if kind == "photo":
                media = self._photo_sizes(value.content, 1280, 960)
            else:
                mime = value.content_type or _DEFAULT_MIME[kind]
                stored = self._store_file(kind, value.content, value.filename, mime)
                media = _media_object(
                    kind,
                    stored,
                    width=int(params.get("width") or 640),
                    height=int(params.get("height") or 480),
                    duration=int(params.get("duration") or 1),
                )
                self._media_by_file_id[stored.file_id] = (kind, media)
        elif isinstance(value, str) and value in self._media_by_file_id:
            known_kind, known = self._media_by_file_id[value]
            if known_kind != kind:
                raise _bad_request(
                    f"can't use file of type {known_kind.title()} as {kind.title()}"
                )
            media = copy.deepcopy(known)
        elif isinstance(value, str) and value.startswith(("http://", "https://")):
            name = value.rsplit("/", 1)[-1] or None
            mime = mimetypes.guess_type(value)[0] or _DEFAULT_MIME[kind]
            if kind == "photo":
                media = self._photo_sizes(b"", 1280, 960)
            else:
                stored = self._store_file(kind, b"", name, mime)
                media = _media_object(kind, stored, width=640, height=480, duration=1)
                self._media_by_file_id[stored.file_id] = (kind, media)
        elif value in (None, ""):
            raise _bad_request(f"there is no {kind} in the request")
        else:
            raise _bad_request("wrong file identifier/HTTP URL specified")
        content: JSON = {kind: media, **self._caption_content(params)}
        return self._deliver(chat, params, content)

    async def _get_file(self, params: JSON) -> JSON:
        stored = self.files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise _bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }


def _update_kind(update: JSON) -> str:
    return next(key for key in update if key != "update_id")


def _commands_key(scope: Any, language_code: str) -> tuple[str, str]:
    return _dumps(scope or {"type": "default"}, sort_keys=True), language_code


def _valid_inline_keyboard(rows: Any) -> JSON | None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad_request("can't parse inline keyboard: rows must be arrays")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not str(button.get("text") or "").strip():
                raise _bad_request("can't parse inline keyboard button: Text must be non-empty")
            actions = _INLINE_BUTTON_ACTIONS.intersection(button)
            if len(actions) != 1:
                raise _bad_request(
                    "can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise _bad_request("BUTTON_DATA_INVALID")
            if "url" in button and not str(button["url"]).strip():
                raise _bad_request("BUTTON_URL_INVALID")
    rows = [row for row in rows if row]
    return {"inline_keyboard": rows} if rows else None
