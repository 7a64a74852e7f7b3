"""The bot on MAX against the fake MAX server: one fixture-builder for the MAX tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from pydantic import SecretStr

from bot.app import App
from bot.factory import create_dispatcher
from bot.max import create_max_bot
from bot.max.ids import MAX_UPDATE_IDS
from bot.polling import DurablePolling
from tests.fake_max import TOKEN, FakeMax


class CountingPolling(DurablePolling):
    """DurablePolling that counts the updates it finished handling (a test waits for them)."""

    handled = 0

    async def _handle(self, update: Update) -> None:
        try:
            await super()._handle(update)
        finally:
            self.handled += 1


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
            polling = CountingPolling(
                dp,
                bot,
                app.session_factory,
                app.clock,
                poll_timeout=1,
                update_ids=MAX_UPDATE_IDS,
            )
            task = asyncio.create_task(polling.run(stop))

            async def settle() -> None:
                for _ in range(1000):
                    if polling.handled >= fake.queued:
                        return
                    await asyncio.sleep(0.01)
                raise AssertionError("the bot did not finish handling the update")

            fake.settle = settle
        try:
            yield MaxRun(fake, bot, dp)
        finally:
            stop.set()
            if task is not None:
                await task
            await bot.session.close()
