"""Telegram presentation: one router per feature, built fresh for each dispatcher.

Routers are made by `create_router()` functions rather than module globals, because an aiogram
router can belong to only one dispatcher and the tests and the demo build several.
Catch-alls go last.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiogram import Router


def get_routers() -> list[Router]:
    from handlers import (
        cards,
        common,
        consult,
        digest,
        errors,
        fallback,
        find,
        linking,
        location,
        manager,
        onboarding,
        plan,
        profile,
        region_pick,
        relay,
        reminders,
        requests,
        rights,
        search,
        staff,
    )

    return [
        errors.create_router(),
        common.create_router(),
        cards.create_router(),
        onboarding.create_router(),
        location.create_router(),
        profile.create_router(),
        rights.create_router(),
        reminders.create_router(),
        linking.create_router(),
        find.create_router(),
        plan.create_router(),
        requests.create_router(),
        staff.create_router(),
        consult.create_router(),
        digest.create_router(),
        region_pick.create_router(),
        relay.create_router(),
        manager.create_router(),
        search.create_router(),
        search.create_text_router(),
        fallback.create_router(),
    ]
