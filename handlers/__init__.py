"""Telegram presentation: one router per feature, wired here; catch-alls go last."""

from __future__ import annotations

from aiogram import Router


def get_routers() -> list[Router]:
    from handlers import common, errors, fallback, onboarding, profile

    return [
        errors.router,
        common.router,
        onboarding.router,
        profile.router,
        fallback.router,
    ]
