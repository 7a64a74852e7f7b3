"""Callback data of the referral screens; shared by the handlers and the notifications."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData

from db.enums import ReasonCode


class StaffAction(StrEnum):
    ACCEPT = "a"
    DECLINE = "d"
    DECLINE_REASON = "dr"
    OPEN = "o"
    RESOLVE = "r"
    NOT_HELPED = "n"
    NOT_HELPED_REASON = "nr"


class StaffCD(CallbackData, prefix="st"):
    action: StaffAction
    number: int
    # Only on the reason buttons; empty (None) elsewhere, as buttons already sent carry it.
    reason: ReasonCode | None = None


class FamilyAction(StrEnum):
    OPEN = "o"
    CANCEL = "c"
    CANCEL_CONFIRM = "cc"
    DETAILS = "d"


class FamilyCD(CallbackData, prefix="fm"):
    action: FamilyAction
    number: int


class RelayCD(CallbackData, prefix="rl"):
    number: int


class LoopAction(StrEnum):
    GOT_HELP = "g"
    RATING = "r"
    SKIP_COMMENT = "s"


class LoopCD(CallbackData, prefix="lp"):
    action: LoopAction
    number: int
    value: str = ""
