"""/link: one person on Telegram and on MAX, linked by a one-time code (core/linking.py)."""

from __future__ import annotations

from contextlib import suppress

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels import channel_of
from bot.menus import set_person_menu
from bot.middlewares.viewer import Viewer
from core import linking, people
from core.clock import Clock
from core.texts import Texts, Translator
from db.enums import Role
from handlers.dialogs import leave_dialog

LINK_MINUTES = int(linking.LINK_CODE_TTL.total_seconds() // 60)


async def cmd_link(
    message: Message,
    command: CommandObject,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    clock: Clock,
    t: Translator,
    texts: Texts,
    bot: Bot,
) -> None:
    await leave_dialog(state)
    if command.args:
        outcome = await linking.redeem_code(
            session,
            clock,
            code=command.args,
            channel=channel_of(bot),
            messenger_user_id=viewer.messenger_id,
            language=viewer.lang,
        )
        await message.answer(t(f"channels.link.{outcome.value}"))
        if outcome is linking.LinkOutcome.LINKED:
            # Roles came along: their tools belong in this messenger's menu too.
            user = await people.get_user(session, viewer.messenger_id, channel_of(bot))
            held = await people.memberships(session, user.id) if user is not None else []
            with suppress(TelegramAPIError):  # a nicety: the link is done
                roles = [Role(m.role) for m in held]
                await set_person_menu(bot, texts, message.chat.id, roles, t.lang)
        return
    if viewer.user is None:
        await message.answer(t("channels.link.nothing"))
        return
    code = await linking.create_code(session, clock, viewer.user)
    await message.answer(t("channels.link.code", code=code, minutes=LINK_MINUTES))


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(cmd_link, Command("link"))
    return router
