"""The `broadcasts` job's body: keep each sending broadcast's progress message current and
report the finished ones once.

The shell, not the handlers, runs it: it edits a message in place through the Bot (the outbox
sends new messages only), and the report of a finished broadcast goes through the outbox.
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest

from bot.app import App
from bot.channels import channel_of
from core import announcements as news
from core.texts import Translator
from db import models

log = logging.getLogger(__name__)


async def update_broadcast_progress(app: App, bot: Bot) -> int:
    """Edit each sending broadcast's progress message; returns how many finished in this run."""
    finished = 0
    async with app.session_factory() as session:
        for broadcast in await news.sending_broadcasts(session):
            progress = await news.broadcast_progress(session, broadcast)
            creator = (
                await session.get(models.User, broadcast.created_by_user_id)
                if broadcast.created_by_user_id is not None
                else None
            )
            lang = creator.language if creator is not None else "ru"
            if progress.done:
                if not await news.finish_broadcast(session, app.clock, progress, lang=lang):
                    continue  # another run reported it already
                finished += 1
            await _edit_progress(bot, progress, app.texts.get(lang))
    return finished


def progress_text(progress: news.BroadcastProgress, t: Translator) -> str:
    return t(
        "manager.broadcast.progress_done" if progress.done else "manager.broadcast.progress",
        id=progress.broadcast_id,
        count=t.number(progress.recipients),
        sent=t.number(progress.sent),
        blocked=t.number(progress.blocked),
        failed=t.number(progress.failed),
        pending=t.number(progress.pending),
    )


async def _edit_progress(bot: Bot, progress: news.BroadcastProgress, t: Translator) -> None:
    if progress.chat_id is None or progress.message_id is None:
        return
    if progress.channel != channel_of(bot):
        # The same chat number on another messenger is someone else's chat: never edit it.
        # The creator still gets the final report, through the outbox on their messenger.
        return
    try:
        await bot.edit_message_text(
            progress_text(progress, t), chat_id=progress.chat_id, message_id=progress.message_id
        )
    except TelegramBadRequest:
        return  # "message is not modified" or deleted: the report still comes via the outbox
    except TelegramAPIError as error:
        log.warning(
            "broadcast %s: progress edit failed (%s)", progress.broadcast_id, type(error).__name__
        )
