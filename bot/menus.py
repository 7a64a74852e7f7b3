"""What Telegram shows around the chat: the bot's description and each role's command menu.

Families see the default menu; a volunteer's or a manager's chat gets a menu of its own
(BotCommandScopeChat) when they join and again at every start, so nobody hunts for /inbox.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiogram import Bot
from aiogram.types import BotCommand, BotCommandScopeChat
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels import channel_of
from core.texts import Texts, Translator
from db import models
from db.enums import Channel, Role

FAMILY_COMMANDS = (
    "start",
    "find",
    "search",
    "request",
    "consult",
    "my",
    "plan",
    "profile",
    "privacy",
    "news",
    "help",
    "cancel",
    "reminders",
)
STAFF_COMMANDS = ("inbox", "pause")
COORDINATOR_COMMANDS = ("slots",)
MANAGER_COMMANDS = (
    "digest",
    "stats",
    "orgs",
    "invite",
    "import",
    "export",
    "broadcast",
    "survey",
)


def menu_for(roles: Iterable[Role]) -> list[str]:
    """The commands of a person with these roles, their own tools first; [] for a family."""
    held = set(roles)
    tools: list[str] = []
    if held & {Role.MANAGER, Role.ADMIN}:
        tools += MANAGER_COMMANDS
    if held & {Role.VOLUNTEER, Role.COORDINATOR}:
        tools += STAFF_COMMANDS
    if Role.COORDINATOR in held:
        tools += COORDINATOR_COMMANDS
    return [*tools, *FAMILY_COMMANDS] if tools else []


def describe(command: str, t: Translator) -> str:
    return t(f"commands.{command}") if command in FAMILY_COMMANDS else t(f"menu.{command}")


async def set_person_menu(
    bot: Bot, texts: Texts, chat_id: int, roles: Iterable[Role], lang: str
) -> None:
    """A staff member's own menu in their language (a family keeps the default one)."""
    commands = menu_for(roles)
    if not commands:
        return
    t = texts.get(lang)
    await bot.set_my_commands(
        [BotCommand(command=c, description=describe(c, t)) for c in commands],
        scope=BotCommandScopeChat(chat_id=chat_id),
    )


async def staff_roles(
    session: AsyncSession, admin_ids: Iterable[int] = (), channel: str = Channel.TELEGRAM
) -> dict[int, tuple[str, set[Role]]]:
    """Id → (language, roles) of everyone on `channel` with an active role, admins included
    (ADMIN_IDS are Telegram ids)."""
    rows = await session.execute(
        select(models.User.messenger_id, models.User.language, models.Membership.role)
        .join(models.Membership, models.Membership.user_id == models.User.id)
        .where(models.Membership.active, models.User.channel == channel)
    )
    people: dict[int, tuple[str, set[Role]]] = {}
    for messenger_id, language, role in rows:
        people.setdefault(messenger_id, (language, set()))[1].add(Role(role))
    if channel == Channel.TELEGRAM:
        for admin in admin_ids:
            people.setdefault(admin, ("ru", set()))[1].add(Role.ADMIN)
    return people


async def set_staff_menus(bot: Bot, texts: Texts, session: AsyncSession, admins: list[int]) -> int:
    """At start: every staff member's menu (their roles may have changed while we were down),
    on the messenger of `bot`."""
    people = await staff_roles(session, admins, channel_of(bot))
    for messenger_id, (lang, roles) in people.items():
        await set_person_menu(bot, texts, messenger_id, roles, lang)
    return len(people)


async def set_about(bot: Bot, texts: Texts) -> None:
    """The description a new user sees before /start, and the short one on the profile."""
    for lang in ("ru", "en"):
        t = texts.get(lang)
        code = None if lang == "ru" else lang
        await bot.set_my_description(description=t("about.description"), language_code=code)
        await bot.set_my_short_description(
            short_description=t("about.short_description"), language_code=code
        )
