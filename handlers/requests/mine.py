"""/my: a family's referrals; opening, cancelling one and adding details to it.

Every button handler gets the referral (`own_referral`: only the family's own) and the
message under the button; anything else is told "not yours".
"""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.middlewares.viewer import Viewer
from core import referrals
from core.catalogue.active import CatalogueHolder
from core.referrals.context import Outcome
from core.referrals.transitions import DESCRIPTION_LIMIT
from core.texts import Translator
from db import models
from db.enums import OPEN_STATUSES
from handlers.dialogs import LEAVES_DIALOG, leave_dialog, leaving_dialogs
from handlers.filters import ButtonHandler, own_referral, shown
from handlers.keyboards import Keyboard
from handlers.referral_callbacks import FamilyAction, FamilyCD, RelayCD
from handlers.render import alert, format_date
from handlers.requests.shared import FamilyStates, GapCD, need_title


async def cmd_my(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    rows = await referrals.family_referrals(session, viewer.user.id) if viewer.user else []
    kb = Keyboard()
    if not rows:
        kb.button(text=t("gap.button"), callback_data=GapCD())
        await message.answer(t("my.empty"), reply_markup=kb.as_markup())
        return
    lines = [t("my.title"), ""]
    for referral in rows:
        need = escape(need_title(catalogue, referral.need_id, t.lang))
        lines.append(
            t("my.line", number=referral.id, need=need, status=t(f"status.{referral.status}"))
        )
        kb.button(
            text=t(
                "my.open", number=referral.id, need=need_title(catalogue, referral.need_id, t.lang)
            ),
            callback_data=FamilyCD(action=FamilyAction.OPEN, number=referral.id),
        )
    kb.button(text=t("gap.button"), callback_data=GapCD())
    kb.adjust(1)
    await message.answer("\n".join(lines), reply_markup=kb.as_markup())


def _detail(
    referral: models.Referral, t: Translator, catalogue: CatalogueHolder
) -> tuple[str, InlineKeyboardMarkup]:
    org = catalogue.view.organizations.get(referral.organization_id or "")
    text = t(
        "my.detail",
        number=referral.id,
        need=escape(need_title(catalogue, referral.need_id, t.lang)),
        status=t(f"status.{referral.status}"),
        organization=escape(t.pick(org.name, org.name_en) if org else "—"),
        created=format_date(referral.created_at.date(), t.lang),
    )
    kb = Keyboard()
    if referral.status in referrals.RELAY_STATUSES:
        kb.button(text=t("my.write"), callback_data=RelayCD(number=referral.id))
    if referral.status in OPEN_STATUSES:
        kb.button(
            text=t("my.add_details"),
            callback_data=FamilyCD(action=FamilyAction.DETAILS, number=referral.id),
        )
        kb.button(
            text=t("my.cancel"),
            callback_data=FamilyCD(action=FamilyAction.CANCEL, number=referral.id),
        )
    kb.adjust(1)
    return text, kb.as_markup()


async def cb_open(
    query: CallbackQuery,
    referral: models.Referral,
    message: Message,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    text, keyboard = _detail(referral, t, catalogue)
    await message.answer(text, reply_markup=keyboard)


async def cb_cancel(
    query: CallbackQuery, referral: models.Referral, message: Message, t: Translator
) -> None:
    kb = Keyboard()
    kb.button(
        text=t("my.cancel_yes"),
        callback_data=FamilyCD(action=FamilyAction.CANCEL_CONFIRM, number=referral.id),
    )
    await message.answer(t("my.cancel_confirm", number=referral.id), reply_markup=kb.as_markup())


async def cb_cancel_confirm(
    query: CallbackQuery,
    referral: models.Referral,
    message: Message,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    session: AsyncSession,
    t: Translator,
    app: App,
) -> None:
    assert viewer.user is not None  # own_referral passed: the referral is this person's
    outcome = await referrals.cancel(
        session, app.referral_context(), referral_id=referral.id, family=viewer.user
    )
    if outcome is not Outcome.OK:
        alert(callback_answer, t("request.stale"))
        return
    await message.edit_reply_markup(reply_markup=None)


async def cb_details(
    query: CallbackQuery,
    referral: models.Referral,
    message: Message,
    state: FSMContext,
    t: Translator,
) -> None:
    await leave_dialog(state)
    await state.set_state(FamilyStates.details)
    await state.update_data(details_for=referral.id)
    await message.answer(t("my.ask_details", number=referral.id))


async def cb_not_yours(
    query: CallbackQuery, callback_answer: CallbackAnswer, t: Translator
) -> None:
    """Someone else's referral (a forwarded or forged button), or one too old to answer under."""
    alert(callback_answer, t("my.not_yours"))


async def msg_details(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    t: Translator,
    app: App,
) -> None:
    number = (await state.get_data()).get("details_for")
    await leave_dialog(state)
    text = (message.text or "").strip()[:DESCRIPTION_LIMIT]
    if not isinstance(number, int) or viewer.user is None or not text:
        await message.answer(t("request.stale"))
        return
    outcome = await referrals.add_details(
        session, app.referral_context(), referral_id=number, family=viewer.user, text=text
    )
    if outcome is not Outcome.OK:
        await message.answer(t("request.stale"))
        return
    await message.answer(t("my.details_added", number=number))


def create_router() -> Router:
    router = leaving_dialogs(Router(name=__name__))
    router.message.register(cmd_my, Command("my"), flags=LEAVES_DIALOG)
    buttons: dict[FamilyAction, ButtonHandler] = {
        FamilyAction.OPEN: cb_open,
        FamilyAction.CANCEL: cb_cancel,
        FamilyAction.CANCEL_CONFIRM: cb_cancel_confirm,
        FamilyAction.DETAILS: cb_details,
    }
    for action, handler in buttons.items():
        router.callback_query.register(
            handler, FamilyCD.filter(F.action == action), own_referral, shown
        )
    router.callback_query.register(cb_not_yours, FamilyCD.filter())
    router.message.register(msg_details, FamilyStates.details, F.text, ~F.text.startswith("/"))
    return router
