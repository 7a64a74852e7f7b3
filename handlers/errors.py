"""Last line of defence: log without personal data, answer the person politely."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.types import ErrorEvent, Message

from bot.texts import Texts, pick_language

log = logging.getLogger(__name__)


async def on_error(event: ErrorEvent, texts: Texts) -> bool:
    update = event.update
    # The update id and the traceback, never the update itself: texts and names stay out
    # (the engine is created with hide_parameters=True so SQL errors carry no values either).
    log.error(
        "update %s failed: %s",
        update.update_id,
        type(event.exception).__name__,
        exc_info=event.exception,
    )
    user = update.message.from_user if update.message else None
    if update.callback_query is not None:
        user = update.callback_query.from_user
    t = texts.get(pick_language(user.language_code if user else None))
    # A pressed button was already answered by CallbackAnswerMiddleware, so write a message.
    message = update.message
    if message is None and update.callback_query is not None:
        maybe = update.callback_query.message
        message = maybe if isinstance(maybe, Message) else None
    try:
        if message is not None:
            await message.answer(t("errors.generic"))
    except Exception as exc:  # the apology itself may fail when Telegram is down
        log.warning("could not apologise for update %s: %s", update.update_id, type(exc).__name__)
    return True


def create_router() -> Router:
    router = Router(name=__name__)
    router.errors.register(on_error)
    return router
