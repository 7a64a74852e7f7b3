"""The relay thread: family and volunteer write through the bot, never seeing each other."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.middlewares.viewer import Viewer
from core import referrals
from core.referrals.context import Outcome
from core.texts import Translator, split_text
from handlers.dialogs import leave_dialog
from handlers.filters import shown
from handlers.referral_callbacks import RelayCD
from handlers.relay_media import media_of_message
from handlers.render import alert

RELAY_NUMBER = "relay_number"
# Room for the "who · request №" header under Telegram's 4096 (text) and 1024 (caption).
TEXT_LIMIT = 3500
CAPTION_LIMIT = 900


class RelayStates(StatesGroup):
    writing = State()


async def cb_open_relay(
    query: CallbackQuery,
    message: Message,
    callback_data: RelayCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
) -> None:
    if viewer.user is None:
        alert(callback_answer, t("my.not_yours"))
        return
    target = await referrals.relay_target(session, callback_data.number, viewer.user)
    if target is Outcome.TAKEN:
        alert(callback_answer, t("relay.closed", number=callback_data.number))
        return
    if isinstance(target, Outcome):
        alert(callback_answer, t("my.not_yours"))
        return
    await leave_dialog(state)
    await state.set_state(RelayStates.writing)
    await state.update_data({RELAY_NUMBER: callback_data.number})
    whom = t("relay.to_volunteer" if target.side == "family" else "relay.to_family")
    await message.answer(t("relay.enter", number=callback_data.number, whom=whom))


async def msg_relay(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    app: App,
) -> None:
    number = (await state.get_data()).get(RELAY_NUMBER)
    if not isinstance(number, int) or viewer.user is None:
        await leave_dialog(state)
        return
    content_type = getattr(message.content_type, "value", str(message.content_type))
    texts: list[str] = []
    caption: str | None = None
    if message.text is not None:
        # Split, never cut: a long message arrives as several, in order.
        texts = split_text(message.text, TEXT_LIMIT)
    elif not (
        message.photo or message.document or message.voice or message.video or message.audio
    ):
        await message.answer(t("relay.unsupported"))
        return
    else:
        # A long caption (Premium allows 4096) goes with the file as far as it fits; the rest
        # follows as text.
        full = message.caption or ""
        caption = split_text(full, CAPTION_LIMIT)[0] if full else ""
        rest = full[len(caption) :].strip()
        texts = split_text(rest, TEXT_LIMIT) if rest else []
    media = None
    if caption is not None:
        found = await media_of_message(session, message, viewer, number)
        if isinstance(found, str):  # the other side's messenger cannot take it
            await message.answer(t(found))
            return
        media = found
    ctx = app.referral_context()
    steps: list[tuple[str | None, str | None]] = []
    if caption is not None:
        steps.append((None, caption))
    steps += [(part, None) for part in texts]
    for text, part_caption in steps:
        outcome = await referrals.relay(
            session,
            ctx,
            referral_id=number,
            sender=viewer.user,
            from_chat_id=message.chat.id,
            message_id=message.message_id,
            content_type=content_type if text is None else "text",
            text=text,
            caption=part_caption,
            media=media if text is None else None,
        )
        if outcome is not Outcome.OK:
            await leave_dialog(state)
            await message.answer(t("relay.closed", number=number))
            return
    await message.answer(t("relay.sent", number=number))


def create_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(cb_open_relay, RelayCD.filter(), shown)
    router.message.register(msg_relay, RelayStates.writing, ~F.text.startswith("/"))
    return router
