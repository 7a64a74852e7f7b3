"""The regional manager's use cases: who may act where, organisations, members, numbers.

A manager (membership role manager with a region) sees and changes only that region; an admin
(role admin, or a telegram id in ADMIN_IDS) may act on any region by naming it. Every function
that changes something takes the region it was asked for and refuses an entry of another one,
so a forged button cannot reach across regions.

The rooms: `access` (who may act where), `organizations` (list, record, edits), `members`,
`stats` (/stats), `verification` ("is your entry still accurate?"). News to families lives in
`core.announcements`.
"""

from core.manager_tools.access import ManagerAccess, RegionChoice, choose_region, manager_access
from core.manager_tools.members import Member, org_members, remove_member
from core.manager_tools.organizations import (
    CONTACT_FIELDS,
    LOAD_STATUSES,
    EditError,
    OrgRecord,
    OrgRow,
    add_organization,
    contacts_with,
    org_records,
    organization_in,
    region_organizations,
    toggled_municipalities,
    toggled_needs,
    update_organization,
)
from core.manager_tools.stats import RegionStats, region_stats
from core.manager_tools.verification import (
    MEASURES_CHECK,
    MEASURES_CHECK_LISTED,
    VERIFY_ASK,
    VERIFY_OUTDATED,
    VerifyOutcome,
    answer_verification,
    org_coordinators,
    queue_measure_check_reminders,
    queue_verification_questions,
)

__all__ = [
    "CONTACT_FIELDS",
    "LOAD_STATUSES",
    "MEASURES_CHECK",
    "MEASURES_CHECK_LISTED",
    "VERIFY_ASK",
    "VERIFY_OUTDATED",
    "EditError",
    "ManagerAccess",
    "Member",
    "OrgRecord",
    "OrgRow",
    "RegionChoice",
    "RegionStats",
    "VerifyOutcome",
    "add_organization",
    "answer_verification",
    "choose_region",
    "contacts_with",
    "manager_access",
    "org_coordinators",
    "org_members",
    "org_records",
    "organization_in",
    "queue_measure_check_reminders",
    "queue_verification_questions",
    "region_organizations",
    "region_stats",
    "remove_member",
    "toggled_municipalities",
    "toggled_needs",
    "update_organization",
]
