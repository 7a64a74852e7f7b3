"""The bot on MAX against the fake MAX server: one fixture-builder for the MAX tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from pydantic import SecretStr

from bot.app import App
from bot.factory import create_dispatcher
from bot.max import create_max_bot
from bot.polling import DurablePolling
from tests.fake_max import TOKEN, FakeMax


@dataclass
class MaxRun:
    fake: FakeMax
    bot: Bot
    dp: Dispatcher


@asynccontextmanager
async def max_bot_polling(app: App, *, poll: bool = True) -> AsyncIterator[MaxRun]:
    """The real dispatcher serving a MAX bot that long-polls the fake (or, `poll=False`, idle:
    a webhook test feeds updates itself)."""
    async with FakeMax() as fake:
        settings = app.settings.model_copy(
            update={"max_bot_token": SecretStr(TOKEN), "max_api_url": fake.base_url}
        )
        bot = create_max_bot(settings, app.session_factory, app.clock)
        dp = create_dispatcher(app, rate_limit=None)
        await bot.me()
        stop = asyncio.Event()
        task = None
        if poll:
            polling = DurablePolling(dp, bot, app.session_factory, app.clock, poll_timeout=1)
            task = asyncio.create_task(polling.run(stop))
        try:
            yield MaxRun(fake, bot, dp)
        finally:
            stop.set()
            if task is not None:
                await task
            await bot.session.close()
