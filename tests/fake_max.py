"""A fake MAX Bot API over real HTTP (aiohttp), with people played by the test.

It checks what MAX checks and the bot could get wrong: the bare token in `Authorization`,
texts of at most 4000 characters in MAX's HTML (only its tags, balanced), button texts and
payloads within their limits, a file or audio as a message's only attachment, uploads through
`POST /uploads` and the upload URL. Updates are served by `GET /updates` with a marker (an
update is dropped once a later call passes the marker that follows it) or built for a webhook
(`FakeMaxUser.*_update`). Faults: `fail_next(path, status, code)`, `FakeMaxUser.block()`.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Self

from aiohttp import web

JSON = dict[str, Any]
TOKEN = "max-test-token-0123456789"
MAX_TAGS = {"i", "em", "b", "strong", "del", "s", "ins", "u", "a", "pre", "code", "mark"}
MAX_TAGS |= {"blockquote", "h1"}
BOT_ID = 777000


class _HtmlCheck(HTMLParser):
    """MAX's HTML: only its tags, closed in order; collects the visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in MAX_TAGS:
            self.error = self.error or f"tag <{tag}> is not supported"
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.error = self.error or f"unbalanced </{tag}>"
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def visible_text(text: str, fmt: str | None) -> str:
    if fmt != "html":
        return text
    check = _HtmlCheck()
    check.feed(text)
    check.close()
    if check.error or check.stack:
        raise _ApiError(400, "text.format", check.error or "unclosed tag")
    return "".join(check.text)


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class FakeMessage:
    mid: str
    chat_id: int  # the person's user id in a dialog
    sender_id: int
    text: str  # as a person reads it (no tags)
    html: str | None
    attachments: list[JSON] = field(default_factory=list)
    edits: int = 0

    @property
    def buttons(self) -> list[list[JSON]]:
        for attachment in self.attachments:
            if attachment.get("type") == "inline_keyboard":
                rows: list[list[JSON]] = attachment["payload"]["buttons"]
                return rows
        return []

    @property
    def button_texts(self) -> list[str]:
        return [b["text"] for row in self.buttons for b in row]

    def files(self) -> list[JSON]:
        return [a for a in self.attachments if a.get("type") in ("image", "file", "audio")]


class FakeMaxUser:
    """A person in a dialog with the bot."""

    def __init__(self, fake: FakeMax, user_id: int, name: str, locale: str) -> None:
        self.fake = fake
        self.user_id = user_id
        self.name = name
        self.locale = locale
        self.dialog_id = 10_000_000 + user_id
        self.messages: list[FakeMessage] = []  # what the bot sent, in order
        self.notifications: list[str] = []
        self.blocked = False
        self.actions: list[str] = []
        self._seen = 0

    @property
    def json(self) -> JSON:
        return {"user_id": self.user_id, "first_name": self.name, "is_bot": False}

    # --- what the person does -------------------------------------------------------------

    async def start(self, payload: str | None = None) -> None:
        await self.fake.deliver(self.start_update(payload))

    async def send(self, text: str, attachments: list[JSON] | None = None) -> None:
        await self.fake.deliver(self.message_update(text, attachments))

    async def click(self, button_text: str) -> None:
        await self.fake.deliver(self.click_update(button_text))

    async def send_photo(self, content: bytes = b"\x89PNG fake") -> None:
        await self.send("", [self.fake.stored_attachment("image", content, "photo.png")])

    async def send_document(self, content: bytes, filename: str) -> None:
        await self.send("", [self.fake.stored_attachment("file", content, filename)])

    async def send_voice(self, content: bytes = b"OggS fake voice") -> None:
        await self.send("", [self.fake.stored_attachment("audio", content, "voice.ogg")])

    async def send_contact(self, phone: str) -> None:
        vcf = f"BEGIN:VCARD\nVERSION:3.0\nFN:{self.name}\nTEL;TYPE=cell:{phone}\nEND:VCARD"
        await self.send(
            "", [{"type": "contact", "payload": {"vcf_info": vcf, "max_info": self.json}}]
        )

    def block(self) -> None:
        self.blocked = True

    # --- updates, as MAX would deliver them (also for a webhook test) ---------------------

    def start_update(self, payload: str | None = None) -> JSON:
        return {
            "update_type": "bot_started",
            "timestamp": self.fake.now_ms(),
            "chat_id": self.dialog_id,
            "user": self.json,
            "payload": payload,
            "user_locale": self.locale,
        }

    def message_update(self, text: str, attachments: list[JSON] | None = None) -> JSON:
        message = self.fake.store_message(
            self, self.user_id, text, None, attachments or [], from_person=True
        )
        return {
            "update_type": "message_created",
            "timestamp": self.fake.now_ms(),
            "message": self.fake.message_json(message, self),
            "user_locale": self.locale,
        }

    def group_update(self, chat_id: int, text: str) -> JSON:
        """The person writes in a group chat the bot is in."""
        return {
            "update_type": "message_created",
            "timestamp": self.fake.now_ms(),
            "message": {
                "sender": self.json,
                "recipient": {"chat_id": chat_id, "chat_type": "chat"},
                "timestamp": self.fake.now_ms(),
                "body": {"mid": f"mid.g{next(self.fake.ids):015x}", "seq": 1, "text": text},
            },
        }

    def click_update(self, button_text: str) -> JSON:
        for message in reversed(self.messages):
            for button in (b for row in message.buttons for b in row):
                if button_text in button["text"] and button["type"] == "callback":
                    callback_id = f"cb{next(self.fake.ids)}"
                    self.fake.callbacks[callback_id] = self
                    return {
                        "update_type": "message_callback",
                        "timestamp": self.fake.now_ms(),
                        "callback": {
                            "timestamp": self.fake.now_ms(),
                            "callback_id": callback_id,
                            "payload": button["payload"],
                            "user": self.json,
                        },
                        "message": self.fake.message_json(message, self),
                        "user_locale": self.locale,
                    }
        raise AssertionError(f"no button {button_text!r}; buttons: {self.buttons()}")

    # --- what the person sees -------------------------------------------------------------

    def texts(self) -> list[str]:
        return [m.text for m in self.messages]

    def last_text(self) -> str:
        return self.messages[-1].text if self.messages else ""

    def buttons(self) -> list[str]:
        for message in reversed(self.messages):
            if message.buttons:
                return message.button_texts
        return []

    async def wait_reply(self, count: int = 1, timeout: float = 5.0) -> list[FakeMessage]:  # noqa: ASYNC109
        """Wait for `count` new messages from the bot since the last wait."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < self._seen + count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected {count} new message(s), got {len(self.messages) - self._seen}: "
                    f"{[m.text[:80] for m in self.messages[self._seen :]]}"
                )
            await asyncio.sleep(0.01)
        # Let a burst finish (the bot often sends two messages in a row).
        await asyncio.sleep(0.05)
        new = self.messages[self._seen :]
        self._seen = len(self.messages)
        return new

    async def wait_until(self, predicate: Any, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met; last text: {self.last_text()[:200]}")
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        self._seen = len(self.messages)


class FakeMax:
    def __init__(
        self, token: str = TOKEN, *, username: str = "family_nav_max_bot", lenient: bool = False
    ) -> None:
        self.token = token
        # The load bench's mode: anyone may be written to, any message edited, any callback
        # answered (its simulated people press buttons by payload, as the Telegram bench does).
        self.lenient = lenient
        self.username = username
        self.users: dict[int, FakeMaxUser] = {}
        self.messages: dict[str, FakeMessage] = {}
        self.callbacks: dict[str, FakeMaxUser] = {}
        self.commands: list[JSON] = []
        self.group_messages: dict[int, list[FakeMessage]] = {}
        self.subscriptions: list[JSON] = []
        self.calls: list[tuple[str, str]] = []
        self.uploads: dict[str, tuple[str, bytes, str]] = {}  # token → kind, bytes, name
        self.ids = itertools.count(1)
        self._updates: list[tuple[int, JSON]] = []
        self._marker = itertools.count(1)
        self._new_update = asyncio.Event()
        self._faults: dict[str, list[tuple[int, str]]] = {}
        self._runner: web.AppRunner | None = None
        self._served = 0
        self._closing = False
        self.queued = 0
        self.port = 0
        # Set by the test harness: waits until the bot has handled what was delivered.
        self.settle: Callable[[], Awaitable[None]] | None = None

    # --- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        self._closing = True  # a long poll the bot gave up on returns now
        self._new_update.set()
        await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- the test's handles -----------------------------------------------------------------

    def user(self, user_id: int, name: str = "Анна", locale: str = "ru-RU") -> FakeMaxUser:
        self.users[user_id] = FakeMaxUser(self, user_id, name, locale)
        return self.users[user_id]

    def fail_next(self, path: str, status: int, code: str) -> None:
        self._faults.setdefault(path, []).append((status, code))

    def queue(self, update: JSON) -> None:
        self.queued += 1
        self._updates.append((next(self._marker), update))
        self._new_update.set()

    async def deliver(self, update: JSON) -> None:
        """Queue the update and, when the test set `settle`, wait until the bot handled it."""
        self.queue(update)
        if self.settle is not None:
            await self.settle()

    def all_served(self) -> bool:
        """Every queued update has been handed to the bot by GET /updates."""
        return not self._updates or self._updates[-1][0] <= self._served

    def calls_to(self, http_method: str, path: str) -> int:
        return sum(1 for call in self.calls if call == (http_method, path))

    def now_ms(self) -> int:
        return int(time.time() * 1000) + next(self.ids)

    def stored_attachment(self, kind: str, content: bytes, name: str) -> JSON:
        token = f"tok{next(self.ids)}"
        self.uploads[token] = (kind, content, name)
        payload: JSON = {"token": token, "url": f"{self.base_url}/files/{token}"}
        attachment: JSON = {"type": kind, "payload": payload}
        if kind == "image":
            payload["photo_id"] = next(self.ids)
        if kind == "file":
            attachment.update(filename=name, size=len(content))
        return attachment

    def store_message(
        self,
        user: FakeMaxUser,
        sender_id: int,
        text: str,
        fmt: str | None,
        attachments: list[JSON],
        *,
        from_person: bool = False,
    ) -> FakeMessage:
        message = FakeMessage(
            mid=f"mid.{next(self.ids):016x}",
            chat_id=user.user_id,
            sender_id=sender_id,
            text=html.unescape(visible_text(text, fmt)) if fmt == "html" else text,
            html=text if fmt == "html" else None,
            attachments=attachments,
        )
        self.messages[message.mid] = message
        if not from_person:
            user.messages.append(message)
        return message

    def message_json(self, message: FakeMessage, user: FakeMaxUser) -> JSON:
        from_bot = message.sender_id == BOT_ID
        sender = self._bot_json() if from_bot else user.json
        return {
            "sender": sender,
            "recipient": {
                "chat_id": user.dialog_id,
                "chat_type": "dialog",
                "user_id": user.user_id if from_bot else BOT_ID,
            },
            "timestamp": self.now_ms(),
            "body": {
                "mid": message.mid,
                "seq": next(self.ids),
                "text": message.text,
                "attachments": message.attachments or None,
            },
        }

    def _bot_json(self) -> JSON:
        return {
            "user_id": BOT_ID,
            "first_name": "Семейный навигатор",
            "username": self.username,
            "is_bot": True,
        }

    # --- HTTP -------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.path
        self.calls.append((request.method, path))
        if path.startswith("/files/"):
            found = self.uploads.get(path.removeprefix("/files/"))
            if found is None:
                return web.Response(status=404)
            return web.Response(body=found[1])
        if request.headers.get("Authorization") != self.token:
            return _error(401, "verify.token", "Invalid access_token")
        faults = self._faults.get(path)
        if faults:
            status, code = faults.pop(0)
            return _error(status, code, "injected")
        try:
            body = await self._route(request)
        except _ApiError as error:
            return _error(error.status, error.code, error.message)
        return web.json_response(body)

    async def _route(self, request: web.Request) -> JSON:
        method, path, query = request.method, request.path, request.query
        if path.startswith("/upload/"):
            return await self._receive_upload(request)
        body: JSON = {}
        if method in ("POST", "PUT", "PATCH") and request.can_read_body:
            body = json.loads(await request.read() or b"{}")
        if (method, path) == ("GET", "/me"):
            return {**self._bot_json(), "commands": self.commands}
        if (method, path) == ("PATCH", "/me/commands"):
            commands = body.get("commands") or []
            if len(commands) > 32:
                raise _ApiError(400, "proto.payload", "too many commands")
            self.commands = commands
            return {**self._bot_json(), "commands": commands}
        if (method, path) == ("POST", "/messages"):
            return {"message": self._send(query, body)}
        if (method, path) == ("PUT", "/messages"):
            return self._edit(query["message_id"], body)
        if (method, path) == ("DELETE", "/messages"):
            self.messages.pop(query["message_id"], None)
            return {"success": True}
        if method == "GET" and path.startswith("/messages/"):
            found = self.messages.get(path.removeprefix("/messages/"))
            if found is None:
                raise _ApiError(404, "not.found", "message not found")
            return self.message_json(found, self.users[found.chat_id])
        if (method, path) == ("POST", "/answers"):
            user = self.callbacks.get(query.get("callback_id", ""))
            if user is None and self.lenient:
                return {"success": True}
            if user is None:
                raise _ApiError(400, "callback.not.found", "unknown callback")
            if body.get("notification"):
                user.notifications.append(body["notification"])
            return {"success": True}
        if (method, path) == ("POST", "/uploads"):
            kind = query.get("type")
            if kind not in ("image", "video", "audio", "file"):
                raise _ApiError(400, "proto.payload", "bad upload type")
            slot = f"up{next(self.ids)}"
            return {"url": f"{self.base_url}/upload/{slot}?type={kind}"}
        if method == "POST" and path.startswith("/chats/") and path.endswith("/actions"):
            chat_id = int(path.split("/")[2])
            for user in self.users.values():
                if user.dialog_id == chat_id:
                    user.actions.append(body.get("action", ""))
                    return {"success": True}
            raise _ApiError(404, "chat.not.found", "no such chat")
        if (method, path) == ("GET", "/updates"):
            return await self._get_updates(query)
        if path == "/subscriptions":
            if method == "POST":
                secret = body.get("secret") or ""
                if not re.fullmatch(r"[\w-]{5,256}", secret):
                    raise _ApiError(400, "proto.payload", "bad secret")
                self.subscriptions = [body]
            elif method == "DELETE":
                self.subscriptions = [s for s in self.subscriptions if s["url"] != query["url"]]
            return {"subscriptions": self.subscriptions} if method == "GET" else {"success": True}
        raise _ApiError(404, "not.found", f"{method} {path}")

    async def _receive_upload(self, request: web.Request) -> JSON:
        reader = await request.multipart()
        part = await reader.next()
        if part is None or getattr(part, "name", None) != "data":
            raise _ApiError(400, "upload.error", "no data part")
        content = await part.read()  # type: ignore[union-attr]
        name = part.filename or "file"  # type: ignore[union-attr]
        kind = request.query.get("type", "file")
        token = f"tok{next(self.ids)}"
        self.uploads[token] = (kind, bytes(content), name)
        return {"token": token}

    def _send(self, query: Any, body: JSON) -> JSON:
        if query.get("chat_id"):
            chat_id = int(query["chat_id"])
            text, attachments = self._check_body(body)
            shown = visible_text(text, body.get("format"))
            message = FakeMessage(f"mid.c{next(self.ids):015x}", chat_id, BOT_ID, shown, text)
            self.group_messages.setdefault(chat_id, []).append(message)
            return {
                "recipient": {"chat_id": chat_id, "chat_type": "chat"},
                "body": {"mid": message.mid},
            }
        user_id = int(query.get("user_id") or 0)
        user = self.users.get(user_id)
        if user is None and self.lenient:
            user = self.user(user_id)
        if user is None:
            raise _ApiError(404, "chat.not.found", "dialog not found")
        if user.blocked:
            raise _ApiError(403, "chat.denied", "user blocked the bot")
        text, attachments = self._check_body(body)
        message = self.store_message(user, BOT_ID, text, body.get("format"), attachments)
        return self.message_json(message, user)

    def _edit(self, mid: str, body: JSON) -> JSON:
        message = self.messages.get(mid)
        if message is None and self.lenient:
            return {"success": True}
        if message is None:
            raise _ApiError(404, "not.found", "message not found")
        text, attachments = self._check_body(body, editing=True)
        if "text" in body and body["text"] is not None:
            message.text = html.unescape(visible_text(text, body.get("format")))
            message.html = text if body.get("format") == "html" else None
        if body.get("attachments") is not None:
            message.attachments = attachments
        message.edits += 1
        return {"success": True}

    def _check_body(self, body: JSON, *, editing: bool = False) -> tuple[str, list[JSON]]:
        text = body.get("text") or ""
        if len(text) > 4000:
            raise _ApiError(400, "text.too.long", "text is longer than 4000")
        attachments = list(body.get("attachments") or [])
        if not text and not attachments and not editing:
            raise _ApiError(400, "proto.payload", "empty message")
        kinds = [a.get("type") for a in attachments]
        if any(k in ("file", "audio") for k in kinds) and len(kinds) > 1:
            raise _ApiError(400, "attachment.only", "a file must be the only attachment")
        for attachment in attachments:
            if attachment.get("type") == "inline_keyboard":
                for row in attachment["payload"]["buttons"]:
                    for button in row:
                        if not 1 <= len(button.get("text", "")) <= 128:
                            raise _ApiError(400, "button.text", "button text 1-128")
                        if len(button.get("payload") or "") > 1024:
                            raise _ApiError(400, "button.payload", "payload over 1024")
            elif attachment.get("type") in ("image", "file", "audio"):
                payload = attachment.get("payload") or {}
                token = payload.get("token")
                if attachment["type"] == "image" and str(payload.get("url", "")).startswith(
                    "https://"
                ):
                    continue
                if token not in self.uploads:
                    raise _ApiError(400, "attachment.not.found", "unknown token")
        visible_text(text, body.get("format"))  # validates the HTML
        return text, attachments

    async def _get_updates(self, query: Any) -> JSON:
        marker = query.get("marker")
        if marker is not None:
            self._updates = [(m, u) for m, u in self._updates if m >= int(marker)]
        timeout = float(query.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        while not self._updates and time.monotonic() < deadline and not self._closing:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        batch = self._updates[:100]
        if batch:
            self._served = max(self._served, batch[-1][0])
        next_marker = batch[-1][0] + 1 if batch else (int(marker) if marker else None)
        return {"updates": [u for _, u in batch], "marker": next_marker}

    def file_bytes(self, message: FakeMessage) -> tuple[str, bytes]:
        """The name and bytes of the file a bot message carries."""
        for attachment in message.files():
            _, content, name = self.uploads[attachment["payload"]["token"]]
            return name, content
        raise AssertionError("the message has no file")


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)
