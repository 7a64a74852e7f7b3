"""/mydata and /forget: a person's 152-FZ rights, in two taps."""

from __future__ import annotations

import json
from enum import StrEnum

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.middlewares.viewer import Viewer
from core import linking, privacy
from core.texts import Translator
from handlers.filters import shown
from handlers.keyboards import Keyboard


class ForgetAction(StrEnum):
    YES = "y"
    NO = "n"


class ForgetCD(CallbackData, prefix="fg"):
    action: ForgetAction


async def cmd_mydata(
    message: Message, viewer: Viewer, session: AsyncSession, t: Translator
) -> None:
    if viewer.user is None:
        await message.answer(t("mydata.nothing"))
        return
    data = await privacy.export_user_data(session, viewer.user)
    body = json.dumps(data, ensure_ascii=False, indent=2).encode()
    await message.answer_document(
        BufferedInputFile(body, filename="my-data.json"), caption=t("mydata.caption")
    )


async def cmd_forget(message: Message, viewer: Viewer, state: FSMContext, t: Translator) -> None:
    if viewer.user is None:
        # No account, but a dialog in progress may hold what they typed: it goes now.
        await state.clear()
        await message.answer(t("forget.nothing"))
        return
    kb = Keyboard()
    kb.button(text=t("forget.confirm_yes"), callback_data=ForgetCD(action=ForgetAction.YES))
    kb.button(text=t("forget.confirm_no"), callback_data=ForgetCD(action=ForgetAction.NO))
    await message.answer(t("forget.confirm"), reply_markup=kb.as_markup())


async def cb_forget(
    query: CallbackQuery,
    message: Message,
    callback_data: ForgetCD,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    app: App,
) -> None:
    if callback_data.action is ForgetAction.NO:
        await message.edit_text(t("forget.kept"))
        return
    if viewer.user is not None:
        # One person on two messengers (/link): both rows go.
        other = await linking.linked_user(session, viewer.user)
        await privacy.forget_user(session, app.referral_context(), viewer.user)
        if other is not None:
            await privacy.forget_user(session, app.referral_context(), other)
    await state.clear()
    await message.edit_text(t("forget.done"))


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(cmd_mydata, Command("mydata"))
    router.message.register(cmd_forget, Command("forget"))
    router.callback_query.register(
        cb_forget, ForgetCD.filter(F.action.in_(set(ForgetAction))), shown
    )
    return router
