"""Invite links (`/start join-<token>`): single use, seven days, and the welcome in the chat."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.local_chat import LocalChat
from core import people
from core.clock import FrozenClock
from core.people import InviteOutcome, InviteResult
from db import models
from db.enums import Role

ORG = "tam-opora-demo"
ORG_NAME = 'АНО «Тамбовский семейный центр "Опора"» (демо)'
ORG_NAME_EN = 'Tambov Family Centre "Opora" (demo)'
# The name's own «» become „“ inside the message's «».
JOINED_RU = (
    'Добро пожаловать в команду «АНО „Тамбовский семейный центр "Опора"“ (демо)»! '
    "Ваша роль: волонтёр. "
    "Новые заявки будут приходить сюда; /inbox — список, /pause — пауза."
)
USED_RU = "Это приглашение уже использовано. Попросите у координатора новую ссылку."
EXPIRED_RU = "Срок приглашения истёк. Попросите у координатора новую ссылку."
UNKNOWN_RU = "Приглашение не найдено. Попросите у координатора новую ссылку."


async def new_invite(app: App, clock: FrozenClock, role: Role = Role.VOLUNTEER) -> str:
    async with app.session_factory() as session:
        invite = await people.create_invite(
            session, clock, role=role, organization_id=ORG, region_code="RU-TAM"
        )
    return invite.token


async def redeem(app: App, clock: FrozenClock, token: str, messenger_id: int) -> InviteResult:
    # A session per call, as the bot has one per update: nothing is remembered in between.
    async with app.session_factory() as session:
        return await people.redeem_invite(
            session, clock, token=token, messenger_id=messenger_id, language="ru"
        )


async def memberships_of(session: AsyncSession, messenger_id: int) -> list[tuple[object, ...]]:
    rows = await session.execute(
        select(
            models.Membership.role,
            models.Membership.organization_id,
            models.Membership.region_code,
            models.Membership.active,
            models.Membership.paused,
        )
        .join(models.User, models.User.id == models.Membership.user_id)
        .where(models.User.messenger_id == messenger_id)
    )
    return [tuple(row) for row in rows]


async def count(session: AsyncSession, model: type[object]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_an_invite_is_single_use_and_valid_for_seven_days(
    app: App, clock: FrozenClock, session: AsyncSession
) -> None:
    token = await new_invite(app, clock)
    invite = await session.get(models.Invite, token)
    assert invite is not None
    assert (invite.role, invite.organization_id, invite.region_code) == (
        "volunteer",
        ORG,
        "RU-TAM",
    )
    assert invite.created_at == clock.now()
    assert invite.expires_at == clock.now() + dt.timedelta(days=7)
    assert invite.used_at is None and invite.used_by_user_id is None
    assert len(token) >= 22, "hard to guess"


async def test_redeem_joins_once_then_reports_used(
    app: App, clock: FrozenClock, session: AsyncSession
) -> None:
    token = await new_invite(app, clock)
    clock.advance(dt.timedelta(hours=1))
    assert await redeem(app, clock, token, 301) == InviteResult(
        InviteOutcome.JOINED, Role.VOLUNTEER, ORG, "RU-TAM"
    )
    assert await redeem(app, clock, token, 301) == InviteResult(InviteOutcome.USED)
    assert await redeem(app, clock, token, 302) == InviteResult(InviteOutcome.USED)

    assert await memberships_of(session, 301) == [("volunteer", ORG, "RU-TAM", True, False)]
    assert await memberships_of(session, 302) == []
    invite = await session.get(models.Invite, token)
    user = await people.get_user(session, 301)
    assert invite is not None and user is not None
    assert (invite.used_by_user_id, invite.used_at) == (user.id, clock.now())
    assert await people.get_user(session, 302) is None, "a refused person leaves no trace"


async def test_an_invite_expires_after_seven_days(
    app: App, clock: FrozenClock, session: AsyncSession
) -> None:
    early, late = await new_invite(app, clock), await new_invite(app, clock)
    clock.advance(dt.timedelta(days=7) - dt.timedelta(minutes=1))
    assert (await redeem(app, clock, early, 303)).outcome is InviteOutcome.JOINED
    clock.advance(dt.timedelta(minutes=1))
    assert await redeem(app, clock, late, 304) == InviteResult(InviteOutcome.EXPIRED)
    clock.advance(dt.timedelta(days=30))
    assert await redeem(app, clock, late, 304) == InviteResult(InviteOutcome.EXPIRED)
    assert await memberships_of(session, 304) == []


async def test_an_unknown_token_is_refused(app: App, clock: FrozenClock) -> None:
    await new_invite(app, clock)
    for token in ("no-such-token", "", "x" * 64):
        assert await redeem(app, clock, token, 305) == InviteResult(InviteOutcome.UNKNOWN)


async def test_two_people_racing_for_one_link_cannot_both_join(
    app: App, clock: FrozenClock, session: AsyncSession
) -> None:
    token = await new_invite(app, clock)
    results = await asyncio.gather(redeem(app, clock, token, 306), redeem(app, clock, token, 307))
    assert sorted(r.outcome for r in results) == [InviteOutcome.JOINED, InviteOutcome.USED]
    assert await count(session, models.Membership) == 1


async def test_joining_through_the_chat(
    chat: LocalChat, app: App, clock: FrozenClock, session: AsyncSession
) -> None:
    token = await new_invite(app, clock)
    olga = chat.user(1, "Ольга")
    replies = await olga.send(f"/start join-{token}")
    assert [r.text for r in replies] == [JOINED_RU]
    assert await memberships_of(session, 1) == [("volunteer", ORG, "RU-TAM", True, False)]

    petr = chat.user(2, "Пётр")
    replies = await petr.send(f"/start join-{token}")
    assert [r.text for r in replies] == [USED_RU]
    assert await memberships_of(session, 2) == []
    assert await count(session, models.Membership) == 1


async def test_joining_in_english_uses_the_english_name(
    chat: LocalChat, app: App, clock: FrozenClock, session: AsyncSession
) -> None:
    token = await new_invite(app, clock, Role.COORDINATOR)
    emma = chat.user(3, "Emma", language_code="en")
    replies = await emma.send(f"/start join-{token}")
    assert [r.text for r in replies] == [
        f"Welcome to the “{ORG_NAME_EN}” team! Your role: coordinator. "
        "New requests will arrive here; /inbox lists them, /pause pauses them."
    ]
    assert await memberships_of(session, 3) == [("coordinator", ORG, "RU-TAM", True, False)]


async def test_expired_and_unknown_links_in_the_chat(
    chat: LocalChat, app: App, clock: FrozenClock, session: AsyncSession
) -> None:
    token = await new_invite(app, clock)
    clock.advance(dt.timedelta(days=8))
    olga = chat.user(4)
    assert [r.text for r in await olga.send(f"/start join-{token}")] == [EXPIRED_RU]
    assert [r.text for r in await olga.send("/start join-nonsense")] == [UNKNOWN_RU]
    assert await count(session, models.Membership) == 0
    assert await count(session, models.User) == 0


async def test_joining_gives_the_chat_a_volunteer_menu(
    app: App, clock: FrozenClock, chat: LocalChat
) -> None:
    from aiogram.methods import SetMyCommands
    from aiogram.types import BotCommandScopeChat

    token = await new_invite(app, clock, role=Role.COORDINATOR)
    olga = chat.user(7301, "Ольга")
    await olga.send(f"/start join-{token}")
    menus = [
        r
        for r in chat.session.requests
        if isinstance(r, SetMyCommands) and r.scope == BotCommandScopeChat(chat_id=7301)
    ]
    assert len(menus) == 1
    commands = {c.command: c.description for c in menus[0].commands}
    assert commands["inbox"] == "Заявки организации"
    assert commands["slots"] == "Время консультаций"  # a coordinator publishes times
    assert "find" in commands and "digest" not in commands
