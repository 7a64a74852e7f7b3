"""The load bench's MAX column: the same mix of people, the bot talking MAX over HTTP.

    python -m bench.max_bench [--database URL] [--users 200] [--seconds 20] [--think 1.0]
                              [--referrals 10000] [--json]

Families and volunteers run bench/load_scripts.py's scripts unchanged. On the Telegram side
updates are fed to the dispatcher with an in-process Bot session (bench/load_harness.py); on
the MAX side each update is built as MAX sends it (JSON of `message_created` /
`message_callback`), translated by MaxSession, fed to the same dispatcher, and every call the
bot makes goes over HTTP to the fake MAX Bot API (tests/fake_max.py) in this process: MAX's
cost is the translation, the message-id table and the HTTP round trips. The latency is, as in
load_bench, from an update's arrival to the first Bot API request it causes; `wall p95` is to
the end of its handling (every HTTP call included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from pydantic import SecretStr

from bench.load_bench import (
    ERROR_MARKERS,
    HEADER,
    Bench,
    _row,
    _run_report,
    _run_self,
)
from bench.load_harness import CURRENT, Feeder, Probe, Stopped
from bot.max import create_max_bot
from bot.max.session import MaxSession
from tests.fake_max import BOT_ID, TOKEN, FakeMax, FakeMaxUser


class ProbeStamp(BaseRequestMiddleware):
    """Stamps the update's probe at its first Bot API request, as BenchSession does."""

    async def __call__(
        self,
        make_request: Callable[[Bot, TelegramMethod[TelegramType]], Awaitable[Response[Any]]],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[Any]:
        probe = CURRENT.get()
        if probe is not None and not probe.first:
            probe.first = time.perf_counter()
        return await make_request(bot, method)


class MaxView:
    """What the scripts read off the bench session, read off the fake MAX server instead."""

    def __init__(self, fake: FakeMax) -> None:
        self.fake = fake

    @property
    def chats(self) -> dict[int, list[Any]]:
        return {uid: user.messages[-8:] for uid, user in self.fake.users.items()}

    @property
    def texts(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for message in self.fake.messages.values():
            for marker in ERROR_MARKERS:
                if marker in message.text.lower():
                    counts[marker] += 1
        return counts

    def buttons(self, chat_id: int, prefix: str) -> list[tuple[int, str]]:
        """(index of the message in the person's chat, payload), newest first."""
        user = self.fake.users.get(chat_id)
        if user is None:
            return []
        found = []
        last = len(user.messages) - 1
        for offset, message in enumerate(reversed(user.messages[-8:])):
            for row in message.buttons:
                for button in row:
                    payload = button.get("payload") or ""
                    if button["type"] == "callback" and payload.startswith(prefix):
                        found.append((last - offset, payload))
        return found


class MaxFeeder(Feeder):
    """Builds updates as MAX sends them; MaxSession turns them into aiogram Updates."""

    def __init__(self, dp: Dispatcher, bot: Bot, fake: FakeMax) -> None:
        super().__init__(dp, bot)
        self.fake = fake
        session = bot.session
        assert isinstance(session, MaxSession)
        self.session = session

    def _user(self, person: dict[str, Any]) -> FakeMaxUser:
        user = self.fake.users.get(person["id"])
        return user if user is not None else self.fake.user(person["id"])

    def message_update(self, person: dict[str, Any], text: str) -> dict[str, Any]:
        return self._user(person).message_update(text)

    def callback_update(
        self, person: dict[str, Any], message_id: int, data: str
    ) -> dict[str, Any]:
        user = self._user(person)
        # The scripts press some buttons (relay, staff) by payload on "message 1", as the
        # Telegram bench does: the person's message at that index, else their latest.
        messages = user.messages
        message = messages[message_id] if 0 <= message_id < len(messages) else None
        message = message or (messages[-1] if messages else None)
        callback_id = f"cb{next(self.fake.ids)}"
        self.fake.callbacks[callback_id] = user
        raw: dict[str, Any] = {
            "update_type": "message_callback",
            "timestamp": self.fake.now_ms(),
            "callback": {
                "timestamp": self.fake.now_ms(),
                "callback_id": callback_id,
                "payload": data,
                "user": user.json,
            },
            "user_locale": user.locale,
        }
        if message is not None:
            raw["message"] = self.fake.message_json(message, user)
        else:
            raw["message"] = {
                "sender": {"user_id": BOT_ID, "first_name": "bot", "is_bot": True},
                "recipient": {"chat_id": user.dialog_id, "chat_type": "dialog"}
                | {"user_id": user.user_id},
                "timestamp": self.fake.now_ms(),
                "body": {"mid": f"mid.bench.{callback_id}", "seq": 1, "text": "…"},
            }
        return raw

    async def feed(self, flow: str, raw: dict[str, Any]) -> Probe:
        think = self._rng.expovariate(1 / self.think) if self.think > 0 else 0
        await asyncio.sleep(think)
        if self.stopping:
            raise Stopped
        probe = Probe(flow, raw.get("update_type") == "message_callback")
        token = CURRENT.set(probe)
        try:
            probe.start = time.perf_counter()
            update = await self.session.translate(raw)  # what MAX polling/webhook does
            if update is not None:
                await self.dp.feed_update(self.bot, update)
            probe.end = time.perf_counter()
        finally:
            CURRENT.reset(token)
        if self.recording:
            self.probes.append(probe)
        return probe


class MaxBench(Bench):
    """load_bench's Bench with the bot on MAX: same app, dispatcher, scripts and volunteers."""

    async def start_max(self) -> None:
        self.fake = FakeMax(lenient=True)
        await self.fake.__aenter__()
        settings = self.app.settings.model_copy(
            update={"max_bot_token": SecretStr(TOKEN), "max_api_url": self.fake.base_url}
        )
        self.max_bot = create_max_bot(settings, self.app.session_factory, self.app.clock)
        self.max_bot.session.middleware(ProbeStamp())
        await self.max_bot.me()
        self.telegram = (self.feeder, self.session)
        self.max = (MaxFeeder(self.dp, self.max_bot, self.fake), MaxView(self.fake))

    def use(self, channel: str) -> None:
        self.feeder, self.session = self.telegram if channel == "telegram" else self.max  # type: ignore[assignment]

    async def close(self) -> None:
        await self.max_bot.session.close()
        await self.fake.__aexit__(None, None, None)
        await super().close()


async def measure(args: argparse.Namespace, url: str) -> dict[str, Any]:
    bench = MaxBench(url, args.users, args.seconds, args.warmup, args.seed)
    report: dict[str, Any] = await bench.start()
    await bench.start_max()
    try:
        for channel in ("telegram", "max"):
            bench.use(channel)
            print(f"{channel}: saturated mix …", file=sys.stderr, flush=True)
            result: dict[str, Any] = {"saturated": await bench.realistic()}
            if args.think > 0:
                print(f"{channel}: paced mix …", file=sys.stderr, flush=True)
                result["paced"] = await bench.realistic(args.think)
            report[channel] = {k: _run_report(v) for k, v in result.items()}
    finally:
        await bench.close()
    return report


def print_report(report: dict[str, Any]) -> None:
    print(
        f"MAX column · {report['database']} · {report['users']} simulated people · "
        f"{report['seconds']:g} s per run"
    )
    for phase in ("saturated", "paced"):
        for channel in ("telegram", "max"):
            result = report[channel].get(phase)
            if result is None:
                continue
            print(
                f"\n{channel}, {phase} ({result['families']} families, "
                f"{result['volunteers']} volunteers; errors {result['errors']}, "
                f"apologies {result['apologies']})"
            )
            print(HEADER)
            for row in result["flows"]:
                print(_row(row))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--database", help="throw-away database URL (default: a temp SQLite file)")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--referrals", type=int, default=10_000)
    parser.add_argument("--think", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    temp_dir = None
    url = args.database
    if url is None:
        temp_dir = tempfile.mkdtemp(prefix="max-bench-")
        url = f"sqlite+aiosqlite:///{temp_dir}/bench.sqlite3"
    print("setting up …", file=sys.stderr, flush=True)
    _run_self("--setup", "--database", url)
    _run_self("--fill-to", str(args.referrals), "--database", url)
    report: dict[str, Any] = {
        "database": url.split(":", 1)[0],
        "users": args.users,
        "seconds": args.seconds,
    }
    report.update(asyncio.run(measure(args, url)))
    if temp_dir is not None:
        for path in Path(temp_dir).iterdir():
            path.unlink()
        Path(temp_dir).rmdir()
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
