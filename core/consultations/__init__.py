"""Consultations: organisations publish time slots, families book, move and cancel them.

Consultations build on referrals, never the reverse (an import-linter contract): a booking is
a referral of kind `consultation`. The package is split by what each part owns:

- `times`       a region's local time, showing a slot, reading typed times
- `queries`     bookable consultations, free slots, a family's bookings
- `booking`     book, cancel, reschedule (the family's side; claims are conditional UPDATEs)
- `notices`     reminders, the notice of a move, the organisation's offer text
- `publishing`  publishing slots (the organisation's side) and the demo's seeded slots

This module only names what the handlers, the demo and the tests reach for as
`consultations.<name>`; anything else imports from the module that owns the name.
"""

from __future__ import annotations

from core.consultations.booking import Booking, book, cancel_booking, reschedule
from core.consultations.publishing import publish_slots, seed_demo_slots
from core.consultations.queries import (
    BookedSlot,
    available_consultations,
    coordinated_organizations,
    family_booking,
    open_slots,
    slot_is_open,
    upcoming_bookings,
    upcoming_counts,
)
from core.consultations.times import parse_times

__all__ = [
    "BookedSlot",
    "Booking",
    "available_consultations",
    "book",
    "cancel_booking",
    "coordinated_organizations",
    "family_booking",
    "open_slots",
    "parse_times",
    "publish_slots",
    "reschedule",
    "seed_demo_slots",
    "slot_is_open",
    "upcoming_bookings",
    "upcoming_counts",
]
