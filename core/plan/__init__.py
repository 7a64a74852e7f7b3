"""A family's plan («Мой план», issue 17), split by what each part owns:

- `marks`      the measures a family marked, their status and the documents ticked
- `deadlines`  when an application is due for one family (the catalogue's rule, the birth)
- `view`       the plan as styled lines, shared by the chat message and the PDF
- `pdf`        the printable PDF (fpdf2, with the DejaVu Sans matplotlib ships)

This module names what callers reach for as `plan.<name>` (the handlers, privacy); anything
else imports from the module that owns it.
"""

from __future__ import annotations

from core.plan.marks import (
    CHECKLIST_STATUSES,
    STATUS_ORDER,
    PlanOutcome,
    export_plan,
    set_status,
    split_results,
    statuses,
    toggle_document,
)

__all__ = [
    "CHECKLIST_STATUSES",
    "STATUS_ORDER",
    "PlanOutcome",
    "export_plan",
    "set_status",
    "split_results",
    "statuses",
    "toggle_document",
]
