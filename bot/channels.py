"""Which messenger a `Bot` object talks to.

Every messenger is presented to the one aiogram dispatcher as a `Bot`: Telegram's with
aiogram's own session, MAX's with a session that speaks the MAX Bot API. A session names its
messenger in a `channel` attribute; aiogram's sessions have none, so they are Telegram's.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiogram import Bot

from db.enums import Channel


def channel_of(bot: Bot) -> Channel:
    return Channel(getattr(bot.session, "channel", Channel.TELEGRAM))


Bots = Bot | Iterable[Bot]
"""One bot (Telegram only, as before) or every running messenger's bot."""


def by_channel(bots: Bots) -> dict[Channel, Bot]:
    """The running bots by messenger: each message goes out through its recipient's."""
    return {channel_of(bot): bot for bot in ([bots] if isinstance(bots, Bot) else bots)}
