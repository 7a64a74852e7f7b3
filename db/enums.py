"""Domain vocabularies stored as short strings (readable in SQL, portable across dialects)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VOLUNTEER = "volunteer"
    COORDINATOR = "coordinator"
    MANAGER = "manager"
    ADMIN = "admin"


class ConsentKind(StrEnum):
    PERSONAL_DATA = "personal_data"
    REFERRAL_TRANSFER = "referral_transfer"
    NEWS = "news"
    REMINDERS = "reminders"  # dated reminders from the family's profile and plan (issue 17)


class ReferralStatus(StrEnum):
    NEW = "new"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    NOT_HELPED = "not_helped"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    UNROUTED = "unrouted"


OPEN_STATUSES = frozenset(
    {
        ReferralStatus.NEW,
        ReferralStatus.OFFERED,
        ReferralStatus.ACCEPTED,
        ReferralStatus.IN_PROGRESS,
    }
)


class EventAction(StrEnum):
    """What happened to a referral; one `referral_events` row each (the audit trail).

    The digest counts a week's events by action: `created`, `accepted`, `resolved`,
    `not_helped`, `declined` (an organisation said no, with a reason), `unrouted`,
    `sla_breach` (a deadline passed), `confirmed` (the family answered: the loop is closed).
    """

    CREATED = "created"
    OFFERED = "offered"
    DECLINED = "declined"
    EXPIRED = "expired"  # an offer nobody took in time, re-offered to the next organisation
    ACCEPTED = "accepted"
    CONTACTED = "contacted"
    RESOLVED = "resolved"
    NOT_HELPED = "not_helped"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    UNROUTED = "unrouted"
    SLA_BREACH = "sla_breach"
    DETAILS_ADDED = "details_added"
    REMINDED = "reminded"
    MANAGER_ALERTED = "manager_alerted"


class ReferralKind(StrEnum):
    REQUEST = "request"
    CONSULTATION = "consultation"


class ReasonCode(StrEnum):
    """Decline / not-helped reasons (PRODUCT.md §2): the digest turns them into gap signals."""

    NOT_ELIGIBLE = "not_eligible"
    NO_CAPACITY = "no_capacity"
    OUT_OF_AREA = "out_of_area"
    MISSING_DOCUMENTS = "missing_documents"
    NO_FUNDS = "no_funds"
    UNREACHABLE = "unreachable"
    NOT_INTERESTED = "not_interested"
    DUPLICATE = "duplicate"
    OTHER = "other"


class FeedbackKind(StrEnum):
    REFERRAL = "referral"
    MEASURE = "measure"
    GAP = "gap"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    GIVEN_UP = "given_up"  # kept failing (outage) for OUTBOX_GIVE_UP_HOURS: counted, alerted


class PlanStatus(StrEnum):
    """Where a family stands with one measure of its plan («Мой план»)."""

    PLANNED = "planned"  # планирую
    APPLIED = "applied"  # подали заявление
    RECEIVING = "receiving"  # получаем
    REFUSED = "refused"  # отказали
    NOT_NEEDED = "not_needed"  # не нужно


class Channel(StrEnum):
    """The messenger a person, an update or a message belongs to (issue 16)."""

    TELEGRAM = "telegram"
    MAX = "max"


class GotHelp(StrEnum):
    """A family's answer to "did you get help?" (feedback.got_help; the loop's buttons)."""

    YES = "yes"
    PARTLY = "partly"
    NO = "no"
