"""What a digest holds: its numeric keys in message order, the list limits, and the mask
that keeps small counts from pointing at a family.
"""

from __future__ import annotations

from typing import Any

from db.enums import EventAction

# Municipality counts under this are shown as "<3": a handful of requests from a small place
# could point at a family.
SMALL_COUNT = 3
SMALL_LABEL = "<3"
LOW_RATING = 2
LIST_LIMIT = 10
# A no-result query is shown only when this many different families typed it (152-FZ: a
# single family's words, a name among them, must not reach the manager).
NO_RESULT_MIN_FAMILIES = 3
LOW_RATINGS_LIMIT = 20
OVERDUE_LIMIT = 1000
REFERRAL_ROWS_LIMIT = 50_000
DEFAULT_SLA_ACCEPT_HOURS = 24.0
SEARCH_KINDS = ("search", "screening")
UNHELPFUL_VERDICTS = ("not_helpful", "hard_to_apply")
GOT_HELP_YES = "yes"

# The numeric keys that `previous_week` repeats, in the order the message shows them.
NUMERIC_KEYS: dict[str, tuple[str, ...]] = {
    "demand": ("new_families", "active_families", "searches", "searches_no_result"),
    "supply": (
        "referrals_created",
        "accepted",
        "resolved",
        "not_helped",
        "declined",
        "unrouted",
        "median_minutes_to_accept",
        "sla_breaches",
    ),
    "outcomes": ("feedback_count", "got_help_rate", "closed_loop_rate", "rating_avg"),
}
COUNTED_ACTIONS = (
    EventAction.OFFERED,
    EventAction.ACCEPTED,
    EventAction.RESOLVED,
    EventAction.NOT_HELPED,
    EventAction.DECLINED,
    EventAction.UNROUTED,
    EventAction.SLA_BREACH,
)
ACTION_KEYS = {
    EventAction.ACCEPTED: "accepted",
    EventAction.RESOLVED: "resolved",
    EventAction.NOT_HELPED: "not_helped",
    EventAction.DECLINED: "declined",
    EventAction.UNROUTED: "unrouted",
    EventAction.SLA_BREACH: "sla_breaches",
}


def mask(count: int) -> int | str:
    return count if count >= SMALL_COUNT else SMALL_LABEL


def flat_numbers(digest: dict[str, Any]) -> dict[str, Any]:
    """This week's numeric keys, flat, in the shape of `previous_week`."""
    return {key: digest[section][key] for section, keys in NUMERIC_KEYS.items() for key in keys}
