"""What every referral use case is handed besides the session, and what it answers.

The shell builds a `Context` per use (bot/app.py `App.referral_context`): the ports (clock,
timers, notifier) and the catalogue view of that moment, so the state machine reads no globals.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from core.catalogue.active import CatalogueView
from core.ports import Clock, Notifier, Timers


@dataclass(frozen=True)
class Sla:
    """How long an organisation has to accept an offer, and an assignee to make contact."""

    accept: dt.timedelta
    contact: dt.timedelta

    @classmethod
    def hours(cls, accept: float, contact: float) -> Sla:
        return cls(dt.timedelta(hours=accept), dt.timedelta(hours=contact))


class Outcome(StrEnum):
    OK = "ok"
    TAKEN = "taken"  # someone else changed it first (accepted, declined, cancelled)
    FORBIDDEN = "forbidden"  # this person may not do that to this referral
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class Context:
    """What every transition needs besides the session."""

    clock: Clock
    view: CatalogueView
    sla: Sla
    timers: Timers
    notifier: Notifier
