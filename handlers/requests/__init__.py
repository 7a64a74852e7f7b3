"""Family side of referrals: /request (dialog), /my (mine), closing the loop and reporting a
gap (feedback); what other features show of it (the "ask for help" button, names of needs and
places) is in shared."""

from __future__ import annotations

from aiogram import Router

from handlers.requests import dialog, feedback, mine
from handlers.requests.shared import ask_help_button, municipality_name, need_title

__all__ = ["ask_help_button", "create_router", "municipality_name", "need_title"]


def create_router() -> Router:
    router = Router(name=__name__)
    router.include_routers(dialog.create_router(), mine.create_router(), feedback.create_router())
    return router
