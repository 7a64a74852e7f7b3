"""The MAX webhook: `POST /max/webhook`, only with the secret MAX was given at subscription.

MAX sends the secret in `X-Max-Bot-Api-Secret`; a request without the right one gets 401 and
nothing is read or written. The update is handled before the answer: any answer but 200 makes
MAX deliver it again (for up to 8 hours), and the derived update id's dedup keeps that to once.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiohttp import web

from bot.max.session import MaxSession

log = logging.getLogger(__name__)

MAX_WEBHOOK_PATH = "/max/webhook"
MAX_SECRET_HEADER = "X-Max-Bot-Api-Secret"


def max_webhook_handler(
    dp: Dispatcher, bot: Bot, secret: str
) -> Callable[[web.Request], Awaitable[web.Response]]:
    if not secret:
        raise ValueError("the MAX webhook needs a secret")
    session = bot.session
    assert isinstance(session, MaxSession)
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(MAX_SECRET_HEADER, "").encode("utf-8", "replace")
        if not secrets.compare_digest(given, expected):
            log.info("max webhook: request without the right secret refused")
            return web.Response(status=401, text="Unauthorized")
        try:
            raw = json.loads(await request.read())
            if not isinstance(raw, dict):
                raise ValueError("not an object")
            update = await session.translate(raw)
        except ValueError as error:  # JSON or validation: the body stays out of logs
            log.warning("max webhook: malformed update refused (%s)", type(error).__name__)
            return web.Response(status=400, text="Bad Request")
        if update is None:  # a type the bot does not handle: acknowledged, nothing to do
            return web.json_response({})
        try:
            result: Any = await dp.feed_webhook_update(bot, update)
        except Exception as error:
            log.error("max webhook: update %s failed: %s", update.update_id, type(error).__name__)
            return web.Response(status=500, text="Internal Server Error")
        if isinstance(result, TelegramMethod):
            await dp.silent_call_request(bot, result)
        return web.json_response({})

    return receive
