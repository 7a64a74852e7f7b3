"""The kinds of reminder, the measures they point to, and the daytime they may arrive in."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from zoneinfo import ZoneInfo


class ReminderKind(StrEnum):
    """A family can mute each kind on its own («не напоминать об этом»)."""

    CHILD_1_5 = "child_1_5"  # childcare allowance ends: check the unified allowance
    CHILD_3 = "child_3"  # the monthly payment from maternity capital ends
    PREGNANCY_12W = "pregnancy_12w"  # the unified allowance for pregnant women can be asked
    PLAN_DEADLINE = "plan_deadline"  # the last month before an application deadline
    UNIFIED_RENEWAL = "unified_renewal"  # the unified allowance is granted for 12 months
    FAMILY_TAX = "family_tax"  # the family tax payment is applied for June 1 – October 1
    NEW_HELP = "new_help"  # a catalogue change made a measure fit the family


# The outbox template of each kind (handlers/reminders.py renders them).
OUTBOX_KIND_PREFIX = "reminder."

# Catalogue ids the dated reminders are about (content/measures/federal.yaml).
CHILDCARE_ALLOWANCE = "fed-childcare-allowance"
UNIFIED_ALLOWANCE = "fed-unified-allowance-children"
UNIFIED_PREGNANCY = "fed-unified-allowance-pregnancy"
MATCAP_MONTHLY = "fed-matcap-monthly"
FAMILY_TAX_PAYMENT = "fed-family-tax-payment"

MEASURE_OF: dict[ReminderKind, str] = {
    ReminderKind.CHILD_1_5: UNIFIED_ALLOWANCE,
    ReminderKind.CHILD_3: MATCAP_MONTHLY,
    ReminderKind.PREGNANCY_12W: UNIFIED_PREGNANCY,
    ReminderKind.UNIFIED_RENEWAL: UNIFIED_ALLOWANCE,
    ReminderKind.FAMILY_TAX: FAMILY_TAX_PAYMENT,
}

# Reminders arrive between these local hours of the family's region (a reminder is never
# urgent enough to wake anyone).
DAY_STARTS = dt.time(10, 0)
DAY_ENDS = dt.time(20, 0)


def daytime_not_before(now: dt.datetime, day: dt.date, timezone: str) -> dt.datetime:
    """The first moment, not before `now` and not before `day`'s morning, that is daytime in
    the region: 10:00–20:00 local. Returned in UTC for the outbox."""
    tz = ZoneInfo(timezone)
    morning = dt.datetime.combine(day, DAY_STARTS, tz)
    moment = max(now.astimezone(tz), morning)
    local = moment.timetz()
    if local.replace(tzinfo=None) < DAY_STARTS:
        moment = dt.datetime.combine(moment.date(), DAY_STARTS, tz)
    elif local.replace(tzinfo=None) >= DAY_ENDS:
        moment = dt.datetime.combine(moment.date() + dt.timedelta(days=1), DAY_STARTS, tz)
    return moment.astimezone(dt.UTC)
