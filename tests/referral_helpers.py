"""Shared steps for referral tests: people with roles, a request through the chat, delivery."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.local_chat import ChatUser, LocalChat
from core import people
from db import models
from db.enums import Role

Deliver = Callable[[], Awaitable[int]]


async def staff(
    app: App, chat: LocalChat, messenger_id: int, org: str, role: Role = Role.VOLUNTEER
) -> ChatUser:
    async with app.session_factory() as session:
        await people.grant_role(
            session,
            app.clock,
            messenger_id=messenger_id,
            role=role,
            organization_id=org,
            region_code=app.catalogue.view.organizations[org].region,
        )
    return chat.user(messenger_id, "Ольга")


async def manager(app: App, chat: LocalChat, messenger_id: int, region: str) -> ChatUser:
    async with app.session_factory() as session:
        await people.grant_role(
            session, app.clock, messenger_id=messenger_id, role=Role.MANAGER, region_code=region
        )
    return chat.user(messenger_id, "Ирина")


async def family_in(
    chat: LocalChat, messenger_id: int, region: str, municipality_query: str, municipality: str
) -> ChatUser:
    person = chat.user(messenger_id)
    await person.send("/start")
    await person.click("✅ Согласен(на)")
    await person.click(region)
    await person.send(municipality_query)
    await person.click(municipality)
    return person


async def request_help(
    person: ChatUser, need: str, description: str | None = "Нужна поддержка психолога"
) -> None:
    await person.send("/request")
    await person.click(need)
    await person.click("📍")
    if description is None:
        await person.click("Пропустить")
    else:
        await person.send(description)
    await person.click("💬 Через бота")
    await person.click("✅ Да, передать")


async def latest_referral(session: AsyncSession) -> models.Referral:
    session.expire_all()
    referral = await session.scalar(select(models.Referral).order_by(models.Referral.id.desc()))
    assert referral is not None
    return referral


async def actions(session: AsyncSession, referral_id: int) -> list[str]:
    rows = await session.scalars(
        select(models.ReferralEvent.action)
        .where(models.ReferralEvent.referral_id == referral_id)
        .order_by(models.ReferralEvent.id)
    )
    return list(rows)
