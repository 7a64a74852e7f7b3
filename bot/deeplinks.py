"""Deep links that open the bot with a payload, in the messenger the bot object serves.

Telegram: `https://t.me/<bot>?start=<payload>` (payload ≤ 64 characters of A-Z a-z 0-9 _ -).
MAX: `https://max.ru/<bot>?start=<payload>` (≤ 128 characters; MAX drops a longer one), which
arrives as a `bot_started` update and reaches the handlers as "/start <payload>".
"""

from __future__ import annotations

from aiogram import Bot

from bot.channels import channel_of
from db.enums import Channel

MAX_PAYLOAD = {Channel.TELEGRAM: 64, Channel.MAX: 128}
HOSTS = {Channel.TELEGRAM: "https://t.me", Channel.MAX: "https://max.ru"}


def start_link(channel: Channel, username: str | None, payload: str) -> str:
    if len(payload) > MAX_PAYLOAD[channel]:
        raise ValueError(f"a {channel} start payload is at most {MAX_PAYLOAD[channel]} characters")
    return f"{HOSTS[channel]}/{username}?start={payload}"


async def bot_start_link(bot: Bot, payload: str) -> str:
    """The link to this bot (Telegram's or MAX's) that starts it with `payload`."""
    me = await bot.me()
    return start_link(channel_of(bot), me.username, payload)
