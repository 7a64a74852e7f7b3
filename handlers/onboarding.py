"""/start: who the bot is for, separate versioned consent, then region and municipality."""

from __future__ import annotations

import re
from contextlib import suppress
from enum import StrEnum

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import CommandObject, CommandStart
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.menus import set_person_menu
from bot.middlewares.viewer import Viewer
from bot.privacy import PrivacyNotice
from core import people
from core.catalogue.active import CatalogueHolder
from core.clock import Clock
from core.texts import Texts, Translator
from db.enums import Role
from handlers.dialogs import LEAVES_DIALOG, leaving_dialogs
from handlers.filters import shown
from handlers.keyboards import Keyboard
from handlers.location import ask_region
from handlers.render import send_long


class ConsentAction(StrEnum):
    ACCEPT = "a"
    DECLINE = "d"
    NOTICE = "n"
    MINOR = "u"


# Invite tokens are secrets.token_urlsafe; Telegram's start parameter is [A-Za-z0-9_-], ≤ 64.
INVITE_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ConsentCD(CallbackData, prefix="cns"):
    action: ConsentAction


def consent_keyboard(t: Translator, *, notice: bool = True) -> InlineKeyboardMarkup:
    """Agree, browse anonymously, read the notice (not under the notice itself), under 18."""
    kb = Keyboard()
    kb.button(text=t("consent.accept"), callback_data=ConsentCD(action=ConsentAction.ACCEPT))
    kb.button(text=t("consent.decline"), callback_data=ConsentCD(action=ConsentAction.DECLINE))
    if notice:
        kb.button(
            text=t("consent.read_notice"), callback_data=ConsentCD(action=ConsentAction.NOTICE)
        )
    kb.button(text=t("safety.minor.button"), callback_data=ConsentCD(action=ConsentAction.MINOR))
    kb.adjust(1)
    return kb.as_markup()


async def ask_consent(message: Message, t: Translator, privacy: PrivacyNotice) -> None:
    await message.answer(
        t("consent.ask", version=privacy.version), reply_markup=consent_keyboard(t)
    )


async def greet(
    message: Message,
    viewer: Viewer,
    t: Translator,
    privacy: PrivacyNotice,
    catalogue: CatalogueHolder,
) -> None:
    if viewer.consented and viewer.region_code:
        await message.answer(t("start.welcome_back") + "\n\n" + t("ready"))
        return
    await message.answer(t("start.greeting"))
    if viewer.consented:
        await ask_region(message, t, catalogue)
    else:
        await ask_consent(message, t, privacy)


async def cmd_start_join(
    message: Message,
    command: CommandObject,
    viewer: Viewer,
    session: AsyncSession,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
    texts: Texts,
) -> None:
    token = (command.args or "")[len("join-") :]
    if not INVITE_TOKEN.fullmatch(token):
        # Not something we ever issued: no need to ask the database.
        await message.answer(t("join.unknown"))
        return
    result = await people.redeem_invite(
        session,
        clock,
        token=token,
        messenger_id=viewer.messenger_id,
        language=viewer.lang,
        channel=viewer.channel,
    )
    if result.outcome is not people.InviteOutcome.JOINED or result.role is None:
        await message.answer(t(f"join.{result.outcome.value}"))
        return
    role = t(f"roles.{result.role.value}")
    view = catalogue.view
    if result.organization_id and result.organization_id in view.organizations:
        org = view.organizations[result.organization_id]
        name = t.pick(org.name, org.name_en)
        await message.answer(t("join.joined", organization=name, role=role))
    else:
        region = view.regions.get(result.region_code or "")
        name = (t.pick(region.name, region.name_en)) if region else "—"
        await message.answer(t("join.joined_region", region=name, role=role))
    # Their new tools in the chat's command menu; the menu is a nicety, the join is done.
    user = await people.get_user(session, viewer.messenger_id, viewer.channel)
    held = await people.memberships(session, user.id) if user is not None else []
    roles = [Role(m.role) for m in held]
    if message.bot is not None:
        with suppress(TelegramAPIError):
            await set_person_menu(message.bot, texts, message.chat.id, roles, t.lang)


async def cmd_start(
    message: Message,
    viewer: Viewer,
    t: Translator,
    privacy: PrivacyNotice,
    catalogue: CatalogueHolder,
    command: CommandObject,
) -> None:
    if command.args and not command.args.startswith("m-"):
        await message.answer(t("start.bad_link"))
    await greet(message, viewer, t, privacy, catalogue)


async def cb_consent_accept(
    query: CallbackQuery,
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    clock: Clock,
    t: Translator,
    privacy: PrivacyNotice,
    catalogue: CatalogueHolder,
) -> None:
    if viewer.consented and viewer.user and viewer.user.consent_version == privacy.version:
        await message.edit_text(t("consent.already", version=privacy.version))
    else:
        viewer.user = await people.give_consent(
            session,
            clock,
            messenger_id=viewer.messenger_id,
            language=viewer.lang,
            version=privacy.version,
            region_code=viewer.region_code,
            municipality_id=viewer.municipality_id,
            channel=viewer.channel,
        )
        await message.edit_text(t("consent.accepted", version=privacy.version))
    if viewer.user and viewer.user.region_code:
        await message.answer(t("ready"))
    else:
        await ask_region(message, t, catalogue)


async def cb_consent_decline(
    query: CallbackQuery,
    message: Message,
    viewer: Viewer,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    await message.edit_text(t("consent.declined"))
    if viewer.region_code is None:
        await ask_region(message, t, catalogue)
    else:
        await message.answer(t("ready"))


async def cb_consent_notice(
    query: CallbackQuery, message: Message, t: Translator, privacy: PrivacyNotice
) -> None:
    """The full notice carries the consent buttons: having read it, one agrees or declines
    right there instead of scrolling back to the question."""
    await send_long(
        message,
        privacy.for_language(t.lang),
        reply_markup=consent_keyboard(t, notice=False),
    )


async def cb_consent_minor(
    query: CallbackQuery, viewer: Viewer, state: FSMContext, t: Translator
) -> None:
    """Under 18: helplines, and nothing is collected (no users row, not even the region)."""
    await state.clear()
    if not isinstance(query.message, Message):
        return
    text = t("safety.minor.answer")
    if viewer.consented:
        text += "\n\n" + t("safety.minor.had_data")
    await query.message.edit_text(text)


async def region_or_prompt(
    message: Message, viewer: Viewer, t: Translator, catalogue: CatalogueHolder, *, topic: str
) -> str | None:
    """The family's region when they agreed to the notice and named one; otherwise ask for
    what is missing (`{topic}.need_consent`, `{topic}.region_first`) and return None.

    The one guard of the commands a family starts a dialog with (/request, /consult)."""
    if not viewer.consented:
        await message.answer(t(f"{topic}.need_consent"), reply_markup=consent_keyboard(t))
        return None
    if viewer.region_code is None:
        await message.answer(t(f"{topic}.region_first"))
        await ask_region(message, t, catalogue)
        return None
    return viewer.region_code


def create_router() -> Router:
    router = leaving_dialogs(Router(name=__name__))
    router.message.register(
        cmd_start_join,
        CommandStart(deep_link=True, magic=F.args.startswith("join-")),
        flags=LEAVES_DIALOG,
    )
    router.message.register(cmd_start, CommandStart(), flags=LEAVES_DIALOG)
    router.callback_query.register(
        cb_consent_accept, ConsentCD.filter(F.action == ConsentAction.ACCEPT), shown
    )
    router.callback_query.register(
        cb_consent_decline, ConsentCD.filter(F.action == ConsentAction.DECLINE), shown
    )
    router.callback_query.register(
        cb_consent_notice, ConsentCD.filter(F.action == ConsentAction.NOTICE), shown
    )
    router.callback_query.register(
        cb_consent_minor, ConsentCD.filter(F.action == ConsentAction.MINOR)
    )
    return router
