"""The core's ports: a second messenger plugs in as a `Notifier`, without touching the core.

A request's life is driven through the core's use cases with a recording notifier in place of
the outbox one: every message reaches the port as (person, template), and the core writes no
outbox row of its own, so nothing reaches a Telegram chat behind the adapter's back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.local_chat import LocalChat
from core import people, referrals
from core.ports import Notifier
from core.referrals.context import Outcome
from db import models
from tests.referral_helpers import family_in, staff


@dataclasses.dataclass
class Told:
    person_id: int
    kind: str
    params: dict[str, Any]


class RecordingNotifier:
    """What another messenger's adapter would receive."""

    def __init__(self) -> None:
        self.told: list[Told] = []

    def notify(
        self,
        session: AsyncSession,
        person: models.User,
        kind: str,
        params: dict[str, Any],
        *,
        referral_id: int | None = None,
        not_before: dt.datetime | None = None,
    ) -> None:
        self.told.append(Told(person.id, kind, params))

    def copy(
        self,
        session: AsyncSession,
        person: models.User,
        *,
        from_chat_id: int,
        message_id: int,
        caption_kind: str,
        params: dict[str, Any],
        referral_id: int | None = None,
        media: dict[str, str] | None = None,
    ) -> None:
        self.told.append(Told(person.id, caption_kind, params))


async def outbox_rows(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(models.OutboxMessage)) or 0)


async def test_a_request_s_whole_life_reaches_people_through_the_notifier_port(
    app: App, chat: LocalChat, session: AsyncSession
) -> None:
    await staff(app, chat, 9101, "tam-opora-demo")
    await family_in(chat, 9102, "Тамбовская область", "Тамбов", "г. Тамбов")
    olga = await people.get_user(session, 9101)
    anna = await people.get_user(session, 9102)
    assert olga is not None and anna is not None
    before = await outbox_rows(session)
    notifier = RecordingNotifier()
    port: Notifier = notifier  # mypy checks that the recorder fits the port
    ctx = dataclasses.replace(app.referral_context(), notifier=port)

    referral = await referrals.create(
        session,
        ctx,
        family=anna,
        need_id="psych_help",
        municipality_id=anna.municipality_id,
        description="Нужна поддержка психолога",
        contact_phone=None,
        consent_version="test",
    )
    number = referral.id
    assert await referrals.accept(session, ctx, referral_id=number, volunteer=olga) is Outcome.OK
    relayed = await referrals.relay(
        session,
        ctx,
        referral_id=number,
        sender=olga,
        from_chat_id=9101,
        message_id=1,
        content_type="text",
        text="Здравствуйте!",
    )
    assert relayed is Outcome.OK

    assert [(t.person_id, t.kind) for t in notifier.told] == [
        (anna.id, "family.created"),
        (olga.id, "staff.offer"),
        (anna.id, "family.offered"),
        (anna.id, "family.accepted"),
        (anna.id, "relay.text"),
    ]
    assert all(t.params["number"] == number for t in notifier.told)
    assert notifier.told[-1].params["text"] == "Здравствуйте!"
    assert await outbox_rows(session) == before, "the core wrote to the outbox behind the port"
