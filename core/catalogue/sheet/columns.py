"""The workbook's layout: a sheet per kind, its columns, and the limits a file must keep."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel

from core.catalogue import schema
from core.catalogue.edit import (
    CONSULTATIONS,
    MEASURES,
    ORGANIZATIONS,
)

MAX_FILE_BYTES = 5 * 1024 * 1024
# An XLSX is a zip: a small upload can unpack to gigabytes of XML. The sizes in the zip's
# directory are binding (zipfile stops at the declared size and fails the CRC), so they are
# checked before openpyxl reads anything. A full real catalogue unpacks to a few MB.
MAX_UNPACKED_BYTES = 32 * 1024 * 1024
MAX_MEMBER_RATIO = 100  # for members over 1 MiB; XML of real sheets compresses 5-20 times
RATIO_FROM_BYTES = 1024 * 1024
MAX_ROWS = 5000
# Organisation ids travel in button data (64 bytes with the action and a value).
MAX_ORG_ID = 40
HELP_SHEET = "help"
LIST_SPLIT = re.compile(r"[,;\n]")
RU_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
TRUE_WORDS = frozenset({"yes", "y", "true", "1", "да", "д", "+", "✓", "✅"})
FALSE_WORDS = frozenset({"no", "n", "false", "0", "нет", "н", "-", "—"})


@dataclass(frozen=True)
class Column:
    """A spreadsheet column: its header, where it sits in the entry, and how cells read.

    Kinds: text, list (comma-separated), lines (one item per line), number, date, bool,
    json, active (the row's active flag), organization (a consultation's organisation).
    """

    header: str
    path: tuple[str, ...]
    kind: str = "text"


MEASURE_COLUMNS = (
    Column("id", ("id",)),
    Column("active", (), "active"),
    Column("level", ("level",)),
    Column("region", ("region",)),
    Column("organization", ("organization",)),
    Column("title", ("title",)),
    Column("title_en", ("title_en",)),
    Column("summary", ("summary",)),
    Column("summary_en", ("summary_en",)),
    Column("needs", ("needs",), "list"),
    Column("keywords", ("keywords",), "list"),
    Column("amount", ("amount", "text")),
    Column("amount_en", ("amount", "text_en")),
    Column("amount_value", ("amount", "value"), "number"),
    Column("amount_as_of", ("amount", "as_of"), "date"),
    Column("eligibility", ("eligibility", "explanation")),
    Column("eligibility_en", ("eligibility", "explanation_en")),
    Column("eligibility_rules", ("eligibility", "rules"), "json"),
    Column("documents", ("documents",), "lines"),
    Column("documents_en", ("documents_en",), "lines"),
    Column("channels", ("how_to_apply", "channels"), "list"),
    Column("steps", ("how_to_apply", "steps"), "lines"),
    Column("steps_en", ("how_to_apply", "steps_en"), "lines"),
    Column("apply_url", ("apply_url",)),
    Column("legal_basis", ("legal_basis",)),
    Column("source_url", ("source_url",)),
    Column("source_kind", ("source_kind",)),
    Column("source_date", ("source_date",), "date"),
    Column("checked_on", ("checked_on",), "date"),
    Column("more_sources", ("more_sources",), "json"),
    Column("caution", ("caution",)),
    Column("caution_en", ("caution_en",)),
    Column("demo", ("demo",), "bool"),
)
ORGANIZATION_COLUMNS = (
    Column("id", ("id",)),
    Column("active", (), "active"),
    Column("name", ("name",)),
    Column("name_en", ("name_en",)),
    Column("kind", ("kind",)),
    Column("region", ("region",)),
    Column("description", ("description",)),
    Column("description_en", ("description_en",)),
    Column("needs", ("needs",), "list"),
    Column("municipalities", ("municipalities",), "list"),
    Column("capacity", ("capacity",), "number"),
    Column("phone", ("contacts", "phone")),
    Column("email", ("contacts", "email")),
    Column("website", ("contacts", "website")),
    Column("address", ("contacts", "address")),
    Column("hours", ("contacts", "hours")),
    Column("keywords", ("keywords",), "list"),
    Column("source_url", ("source_url",)),
    Column("verified_on", ("verified_on",), "date"),
    Column("demo", ("demo",), "bool"),
)
CONSULTATION_COLUMNS = (
    Column("id", ("id",)),
    Column("active", (), "active"),
    Column("organization", (), "organization"),
    Column("title", ("title",)),
    Column("title_en", ("title_en",)),
    Column("need", ("need",)),
    Column("format", ("format",)),
    Column("description", ("description",)),
    Column("description_en", ("description_en",)),
    Column("duration_minutes", ("duration_minutes",), "number"),
    Column("free", ("free",), "bool"),
)
COLUMNS: dict[str, tuple[Column, ...]] = {
    MEASURES: MEASURE_COLUMNS,
    ORGANIZATIONS: ORGANIZATION_COLUMNS,
    CONSULTATIONS: CONSULTATION_COLUMNS,
}
SCHEMAS: dict[str, type[BaseModel]] = {
    MEASURES: schema.Measure,
    ORGANIZATIONS: schema.Organization,
    CONSULTATIONS: schema.Consultation,
}
