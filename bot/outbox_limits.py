"""The outbox worker's pacing, per messenger: its rate, each chat's rate, pauses, outages.

Each messenger has limits of its own (Telegram about 30 messages a second to different chats,
MAX "about 30 requests a second") and fails on its own, so every number here is kept per
channel: flood control or an outage on MAX pauses MAX only. Times are monotonic seconds; a
failed request counts like a sent one (the messenger saw it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from db.enums import Channel

# A little under what each messenger allows; OutboxWorker's `global_per_second` sets Telegram's.
DEFAULT_CHANNEL_RATES: Mapping[str, float] = {Channel.TELEGRAM: 25.0, Channel.MAX: 27.0}
# After a 5xx or a network error every send of that messenger pauses a little (1, 2, 4… up to
# 30 s): during an outage the worker then spends one attempt per pause instead of one per
# message, so the queue does not burn through everybody's attempts while the messenger is down.
MAX_OUTAGE_PAUSE_SECONDS = 30.0

ChatKey = tuple[str, int]  # (channel, chat id): chat ids are per messenger


class ChannelPacing:
    def __init__(
        self,
        rates: Mapping[str, float],
        per_chat_interval: float,
        monotonic: Callable[[], float],
    ) -> None:
        self._interval = {channel: 1.0 / rate for channel, rate in rates.items()}
        self._per_chat_interval = per_chat_interval
        self._monotonic = monotonic
        self._last_request: dict[str, float] = {}
        self._last_request_to: dict[ChatKey, float] = {}
        self._paused_until: dict[str, float] = {}
        self._outage_streak: dict[str, int] = {}

    def chat_ready_at(self, chat: ChatKey) -> float:
        return self._last_request_to.get(chat, -math.inf) + self._per_chat_interval

    def ready_at(self, chat: ChatKey) -> float:
        """When the channel's rate, the chat's rate and any pause allow a request."""
        channel = chat[0]
        interval = self._interval.get(channel, self._interval[Channel.TELEGRAM])
        return max(
            self._paused_until.get(channel, -math.inf),
            self._last_request.get(channel, -math.inf) + interval,
            self.chat_ready_at(chat),
        )

    def forget_idle_chats(self) -> None:
        horizon = self._monotonic() - self._per_chat_interval
        for chat in [c for c, at in self._last_request_to.items() if at <= horizon]:
            del self._last_request_to[chat]

    def note_request(self, chat: ChatKey) -> None:
        now = self._monotonic()
        self._last_request[chat[0]] = now
        self._last_request_to[chat] = now

    def pause(self, channel: str, seconds: float) -> None:
        """Pause every send on `channel` (flood control and outages are per messenger)."""
        until = self._monotonic() + seconds
        self._paused_until[channel] = max(self._paused_until.get(channel, -math.inf), until)

    def succeeded(self, channel: str) -> None:
        self._outage_streak[channel] = 0

    def failed(self, channel: str) -> None:
        """A 5xx or a network error: pause the channel, longer for each one in a row."""
        streak = self._outage_streak[channel] = self._outage_streak.get(channel, 0) + 1
        self.pause(channel, min(2.0 ** (streak - 1), MAX_OUTAGE_PAUSE_SECONDS))
