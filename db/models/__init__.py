"""All mapped classes; importing this package registers every table on Base.metadata."""

from db.models.catalogue import (
    Consultation,
    ConsultationSlot,
    Measure,
    MeasureNeed,
    Municipality,
    Need,
    Organization,
    OrganizationMunicipality,
    OrganizationNeed,
    Region,
)
from db.models.manager import (
    Broadcast,
    CatalogueImport,
    Survey,
    SurveyAnswer,
)
from db.models.max import MaxMessage
from db.models.operations import (
    AuditLog,
    DeadLetter,
    Digest,
    DigestDelivery,
    Feedback,
    OutboxMessage,
    ProcessedUpdate,
    ReceivedUpdate,
    SearchLog,
)
from db.models.people import (
    Consent,
    ErasureRecord,
    FamilyProfile,
    Invite,
    LinkCode,
    Membership,
    User,
)
from db.models.plan import PlanItem
from db.models.referrals import Referral, ReferralEvent, ReferralOffer, RelayMessage
from db.models.reminders import ReminderMute, ReminderSent

__all__ = [
    "AuditLog",
    "Broadcast",
    "CatalogueImport",
    "Consent",
    "Consultation",
    "ConsultationSlot",
    "DeadLetter",
    "Digest",
    "DigestDelivery",
    "ErasureRecord",
    "FamilyProfile",
    "Feedback",
    "Invite",
    "LinkCode",
    "MaxMessage",
    "Measure",
    "MeasureNeed",
    "Membership",
    "Municipality",
    "Need",
    "Organization",
    "OrganizationMunicipality",
    "OrganizationNeed",
    "OutboxMessage",
    "PlanItem",
    "ProcessedUpdate",
    "ReceivedUpdate",
    "Referral",
    "ReferralEvent",
    "ReferralOffer",
    "Region",
    "RelayMessage",
    "ReminderMute",
    "ReminderSent",
    "SearchLog",
    "Survey",
    "SurveyAnswer",
    "User",
]
