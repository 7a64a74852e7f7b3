"""Last line of defence: log without personal data, record the failure, apologise."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.types import ErrorEvent, Message, Update
from sqlalchemy.exc import SQLAlchemyError

from bot.app import App
from bot.channels import channel_of
from core.texts import Texts, pick_language
from db import models

log = logging.getLogger(__name__)
# After this many failures an update is marked processed: a redelivery is not retried again.
MAX_ATTEMPTS = 3


async def record_failure(
    app: App, update: Update, error: BaseException, channel: str = "telegram"
) -> None:
    """Count the failure in `dead_letters` (ids and the error class, never the update).

    Update ids are per messenger: the rows are keyed by (channel, update_id).
    """
    now = app.clock.now()
    chat = update.event.chat.id if hasattr(update.event, "chat") and update.event.chat else None
    key = (channel, update.update_id)
    async with app.session_factory() as session:
        letter = await session.get(models.DeadLetter, key)
        if letter is None:
            letter = models.DeadLetter(
                channel=channel,
                update_id=update.update_id,
                update_type=update.event_type,
                chat_id=chat,
                error=type(error).__name__[:100],
                attempts=1,
                first_failed_at=now,
                last_failed_at=now,
            )
            session.add(letter)
        else:
            letter.attempts += 1
            letter.last_failed_at = now
            letter.error = type(error).__name__[:100]
        if letter.attempts >= MAX_ATTEMPTS and (
            await session.get(models.ProcessedUpdate, key) is None
        ):
            session.add(
                models.ProcessedUpdate(
                    channel=channel, update_id=update.update_id, processed_at=now
                )
            )
        await session.commit()


async def on_error(event: ErrorEvent, texts: Texts, app: App, bot: Bot) -> bool:
    update = event.update
    # The update id and the traceback, never the update itself: texts and names stay out
    # (the engine is created with hide_parameters=True so SQL errors carry no values either).
    log.error(
        "update %s failed: %s",
        update.update_id,
        type(event.exception).__name__,
        exc_info=event.exception,
    )
    try:
        await record_failure(app, update, event.exception, channel_of(bot))
    except (SQLAlchemyError, OSError) as exc:  # the database may be what failed
        log.warning(
            "could not record the failure of update %s: %s", update.update_id, type(exc).__name__
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
