"""Closed-loop referrals (PRODUCT.md §2): create, route, accept, decline, resolve, confirm.

The package is split by what each part owns:

- `context`       the Context (ports, catalogue view, SLA) every use case gets; Outcome
- `queries`       reads: memberships, inboxes, who may see or work on a referral
- `effects`       compare-and-set, event rows, notifications: what every change writes
- `routing`       ranking organisations, offering, unrouted alerts
- `transitions`   the state machine's use cases (family and organisation actions)
- `sla`           deadlines and escalations; what the timers are rebuilt from
- `conversation`  the relayed messages between a family and its volunteer
- `slot_release`  ending a consultation booking's slot and reminders

This module only names what callers outside the core reach for as `referrals.<name>` (the
handlers, the shell's timers, privacy), so a use case reads as `referrals.accept(...)` there.
Everything else, and any new code, imports from the module that owns the name.
"""

from __future__ import annotations

from core.referrals.context import Context, Sla
from core.referrals.conversation import RELAY_STATUSES, relay, relay_target
from core.referrals.queries import (
    family_referrals,
    inbox,
    may_open,
    may_work_on,
    membership_in,
    open_requests,
    staff_memberships,
)
from core.referrals.sla import due_referrals, on_unreachable, pending_timers, sla_check
from core.referrals.transitions import (
    accept,
    add_details,
    cancel,
    confirm,
    create,
    decline,
    rate,
    resolve,
)

__all__ = [
    "RELAY_STATUSES",
    "Context",
    "Sla",
    "accept",
    "add_details",
    "cancel",
    "confirm",
    "create",
    "decline",
    "due_referrals",
    "family_referrals",
    "inbox",
    "may_open",
    "may_work_on",
    "membership_in",
    "on_unreachable",
    "open_requests",
    "pending_timers",
    "rate",
    "relay",
    "relay_target",
    "resolve",
    "sla_check",
    "staff_memberships",
]
