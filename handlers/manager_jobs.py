"""Scheduled work of the manager's toolkit: broadcast progress and reports, and the monthly
"is your entry still accurate?" question to every organisation's coordinators, with the
managers' reminder of measures unchecked or checked more than 180 days ago.

Register both at start (bot/runner.start_jobs) with `schedule_manager_jobs(app, bot)`.
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest

from bot.app import App
from bot.channels import channel_of
from core import announcements as news
from core import manager_tools as tools
from db import models

log = logging.getLogger(__name__)

BROADCAST_JOB_ID = "manager:broadcasts"
VERIFY_JOB_ID = "manager:verify-monthly"
BROADCAST_CHECK_SECONDS = 10
VERIFY_TIMEZONE = "Europe/Moscow"


def schedule_manager_jobs(app: App, bot: Bot) -> None:
    app.jobs.every(BROADCAST_JOB_ID, BROADCAST_CHECK_SECONDS, run_broadcast_progress, app, bot)
    # The first day of every month, late morning (all pilot regions share Moscow time).
    app.jobs.cron(
        VERIFY_JOB_ID,
        run_monthly_verification,
        app,
        timezone=VERIFY_TIMEZONE,
        day=1,
        hour=11,
        minute=0,
    )


async def run_broadcast_progress(app: App, bot: Bot) -> int:
    """Edit each sending broadcast's progress message; report the finished ones (once)."""
    finished = 0
    try:
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
                        continue
                    finished += 1
                await _edit_progress(app, bot, progress, lang)
    except Exception:
        log.exception("broadcast progress run failed")
        return finished
    return finished


async def _edit_progress(app: App, bot: Bot, progress: news.BroadcastProgress, lang: str) -> None:
    if progress.chat_id is None or progress.message_id is None:
        return
    if progress.channel != channel_of(bot):
        # The same chat number on another messenger is someone else's chat: never edit it.
        # The creator still gets the final report, through the outbox on their messenger.
        return
    t = app.texts.get(lang)
    text = t(
        "manager.broadcast.progress_done" if progress.done else "manager.broadcast.progress",
        id=progress.broadcast_id,
        count=t.number(progress.recipients),
        sent=t.number(progress.sent),
        blocked=t.number(progress.blocked),
        failed=t.number(progress.failed),
        pending=t.number(progress.pending),
    )
    try:
        await bot.edit_message_text(text, chat_id=progress.chat_id, message_id=progress.message_id)
    except TelegramBadRequest:
        return  # "message is not modified" or deleted: the report still comes via the outbox
    except TelegramAPIError as error:
        log.warning(
            "broadcast %s: progress edit failed (%s)", progress.broadcast_id, type(error).__name__
        )


async def run_monthly_verification(app: App) -> int:
    try:
        async with app.session_factory() as session:
            queued = await tools.queue_verification_questions(
                session, app.clock, app.catalogue.view
            )
            queued += await tools.queue_measure_check_reminders(
                session, app.clock, app.catalogue.view
            )
    except Exception:
        log.exception("monthly verification run failed")
        return 0
    log.info("verification questions queued: %s", queued)
    return queued
