"""The load harness: a lean in-process Bot session, update factories and latency probes.

Every fed update carries a `Probe` in a context variable; the session stamps the moment of the
first Bot API request that the update causes (aiogram runs a fed update in the caller's task,
so the variable is visible all the way down to `make_request`). Updates are built as Telegram
sends them, raw dicts validated with the bot in the context, which is what polling does.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, cast

from aiogram import Bot, Dispatcher
from aiogram.methods import (
    AnswerCallbackQuery,
    CopyMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendMessage,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import InlineKeyboardMarkup, Message, MessageId, Update, User

from bot.local_session import OfflineSession

BOT_USER = User(id=42, is_bot=True, first_name="Семейный навигатор", username="family_nav_bot")
BOT_DICT = {"id": 42, "is_bot": True, "first_name": "Семейный навигатор"}
DATE = 1_795_000_000  # a fixed Telegram timestamp: dates play no part in the measured path


@dataclass(slots=True)
class Probe:
    """One update's timings (perf_counter seconds) and what the bot did for it."""

    flow: str
    callback: bool = False
    start: float = 0.0
    first: float = 0.0
    end: float = 0.0
    # (referral id, due) pairs passed to the SLA timers while handling: how the scripts learn
    # which referral a request created or an accept took, without querying the database.
    timers: list[tuple[int, Any]] = field(default_factory=list)


CURRENT: ContextVar[Probe | None] = ContextVar("bench_probe", default=None)


@dataclass(slots=True)
class Sent:
    message_id: int
    markup: InlineKeyboardMarkup | None
    text: str = ""


class BenchSession(OfflineSession):
    """Answers locally with the least work: no HTTP, no serialisation, no response parsing.

    Keeps only the last few messages per chat (their ids and inline keyboards) so the simulated
    people can press the buttons they were shown.
    """

    KEEP = 8

    def __init__(self) -> None:
        super().__init__()
        self.chats: dict[int, deque[Sent]] = {}
        self._ids: dict[int, Iterator[int]] = {}
        self.methods: Counter[str] = Counter()
        self.texts: Counter[str] = Counter()
        self.watch: tuple[str, ...] = ()

    def next_id(self, chat_id: int) -> int:
        ids = self._ids.get(chat_id)
        if ids is None:
            ids = self._ids[chat_id] = itertools.count(1)
        return next(ids)

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> TelegramType:
        probe = CURRENT.get()
        if probe is not None and not probe.first:
            probe.first = time.perf_counter()
        self.methods[method.__api_method__] += 1
        return cast(TelegramType, self._answer(method))

    def _answer(self, method: TelegramMethod[Any]) -> Any:
        if isinstance(method, SendMessage):
            chat_id = int(method.chat_id)
            message_id = self.next_id(chat_id)
            markup = method.reply_markup
            sent = self.chats.get(chat_id)
            if sent is None:
                sent = self.chats[chat_id] = deque(maxlen=self.KEEP)
            sent.append(
                Sent(
                    message_id,
                    markup if isinstance(markup, InlineKeyboardMarkup) else None,
                    method.text,
                )
            )
            for marker in self.watch:
                if marker in method.text:
                    self.texts[marker] += 1
            # What a real session does with Telegram's answer: validate it into a Message.
            return Message.model_validate(
                {
                    "message_id": message_id,
                    "date": DATE,
                    "chat": {"id": chat_id, "type": "private"},
                    "text": method.text,
                }
            )
        if isinstance(method, EditMessageText | EditMessageReplyMarkup):
            for sent_message in self.chats.get(int(method.chat_id or 0), ()):
                if sent_message.message_id == method.message_id:
                    markup = method.reply_markup
                    sent_message.markup = (
                        markup if isinstance(markup, InlineKeyboardMarkup) else None
                    )
            return True
        if isinstance(method, AnswerCallbackQuery):
            return True
        if isinstance(method, GetMe):
            return BOT_USER
        if isinstance(method, CopyMessage):
            return MessageId(message_id=self.next_id(int(method.chat_id)))
        return True

    def buttons(self, chat_id: int, prefix: str) -> list[tuple[int, str]]:
        """(message id, callback data) of the buttons starting with `prefix`, newest first."""
        found: list[tuple[int, str]] = []
        for sent in reversed(self.chats.get(chat_id, ())):
            if sent.markup is None:
                continue
            for row in sent.markup.inline_keyboard:
                for button in row:
                    data = button.callback_data
                    if data is not None and data.startswith(prefix):
                        found.append((sent.message_id, data))
        return found


class Feeder:
    """Builds updates the way Telegram sends them and feeds them with a probe attached."""

    def __init__(self, dp: Dispatcher, bot: Bot, first_update_id: int = 10**10) -> None:
        self.dp = dp
        self.bot = bot
        self._update_ids = itertools.count(first_update_id)
        self._message_ids = itertools.count(1)
        self.recording = False
        self.stopping = False
        self.think = 0.0
        self._rng = random.Random(7)
        self.probes: list[Probe] = []

    @staticmethod
    def person(user_id: int, lang: str = "ru") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": "Анна", "language_code": lang}

    def message_update(self, person: dict[str, Any], text: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": DATE,
            "chat": {"id": person["id"], "type": "private", "first_name": "Анна"},
            "from": person,
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
            ]
        return {"update_id": next(self._update_ids), "message": message}

    def callback_update(
        self, person: dict[str, Any], message_id: int, data: str
    ) -> dict[str, Any]:
        return {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": str(next(self._message_ids)),
                "from": person,
                "chat_instance": f"ci{person['id']}",
                "message": {
                    "message_id": message_id,
                    "date": DATE,
                    "chat": {"id": person["id"], "type": "private", "first_name": "Анна"},
                    "from": BOT_DICT,
                    "text": "…",
                },
                "data": data,
            },
        }

    async def feed(self, flow: str, raw: dict[str, Any]) -> Probe:
        # A person thinks before the next update (exponential, mean `think` seconds); with no
        # think time they still yield once, as an update coming off the network would (one
        # that never waits, like the echo bot's, would otherwise starve everyone else).
        await asyncio.sleep(self._rng.expovariate(1 / self.think) if self.think > 0 else 0)
        if self.stopping:
            raise Stopped
        probe = Probe(flow, "callback_query" in raw)
        token = CURRENT.set(probe)
        try:
            probe.start = time.perf_counter()
            # What polling does with each item of getUpdates' answer.
            update = Update.model_validate(raw, context={"bot": self.bot})
            await self.dp.feed_update(self.bot, update)
            probe.end = time.perf_counter()
        finally:
            CURRENT.reset(token)
        if self.recording:
            self.probes.append(probe)
        return probe


class Stopped(Exception):
    """The run is over: a simulated person stops before the next update."""


@dataclass
class Stats:
    flow: str
    count: int
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    wall_p95_ms: float
    no_reply: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "updates": self.count,
            "updates_per_s": round(self.per_second, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p95_ms": round(self.p95_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "wall_p95_ms": round(self.wall_p95_ms, 2),
            "no_reply": self.no_reply,
        }


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def summarise(probes: list[Probe], seconds: float) -> list[Stats]:
    """Overall figures first ("all"), then one row per flow, busiest first."""
    groups: dict[str, list[Probe]] = {"all": list(probes)}
    for probe in probes:
        groups.setdefault(probe.flow, []).append(probe)
    result = []
    for flow, items in sorted(groups.items(), key=lambda kv: (kv[0] != "all", -len(kv[1]))):
        reply = sorted(((p.first or p.end) - p.start) * 1000 for p in items)
        wall = sorted((p.end - p.start) * 1000 for p in items)
        result.append(
            Stats(
                flow,
                len(items),
                len(items) / seconds if seconds else 0.0,
                _percentile(reply, 0.50),
                _percentile(reply, 0.95),
                _percentile(reply, 0.99),
                _percentile(wall, 0.95),
                sum(1 for p in items if not p.first),
            )
        )
    return result


async def run_for(
    feeder: Feeder, tasks: list[asyncio.Task[None]], warmup: float, seconds: float
) -> float:
    """Let the people run: warm up unrecorded, then record for `seconds`; returns the window."""
    await asyncio.sleep(warmup)
    feeder.recording = True
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    feeder.recording = False
    window = time.perf_counter() - started
    # Stop between updates rather than cancelling one half-way through a transaction.
    feeder.stopping = True
    _, pending = await asyncio.wait(tasks, timeout=30)
    for task in pending:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [
        r
        for r in results
        if isinstance(r, BaseException) and not isinstance(r, Stopped | asyncio.CancelledError)
    ]
    if failures:
        raise failures[0]
    feeder.stopping = False
    return window
