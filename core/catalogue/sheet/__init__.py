"""A region's catalogue as a spreadsheet (or YAML): export, and import that checks everything
before it changes anything.

The workbook has one sheet per kind (measures, organizations, consultations), a header row of
field names and one row per entry, ids included. An import is validated as a whole with the
catalogue schema plus cross-checks (needs exist, municipalities belong to the region, the
region is the manager's, ids are not another region's); any problem comes back as
"sheet, row, column: reason" and nothing is applied. A valid file is applied in one
transaction and recorded in `catalogue_imports`, so the previous version can be restored.

A sheet present in the file is the complete list of that kind for the region: a row that is
missing deactivates the entry, `active = no` does too. A sheet that is absent leaves that kind
alone. A column that is absent keeps the entries' current values for it.

The rooms: `columns` (layout and limits), `read` (file → raw rows), `parse` (one cell →
schema value), `check` (validation and cross-checks), `save` (apply, restore), `export`
(entries → workbook), `cells` (text cells that never become formulas).
"""

from core.catalogue.sheet.check import ImportContext, ImportPlan, import_context, validate
from core.catalogue.sheet.columns import (
    COLUMNS,
    MAX_FILE_BYTES,
    MAX_ORG_ID,
    MAX_ROWS,
    MAX_UNPACKED_BYTES,
    Column,
)
from core.catalogue.sheet.export import cell_value, export_region, export_workbook
from core.catalogue.sheet.read import (
    ImportProblem,
    RawEntry,
    RawFile,
    UnreadableFile,
    check_unpacked_size,
    file_source,
    read_file,
    read_workbook,
    read_yaml,
)
from core.catalogue.sheet.save import (
    ImportResult,
    apply_import,
    region_today,
    restorable_import,
    restore_import,
)

__all__ = [
    "COLUMNS",
    "MAX_FILE_BYTES",
    "MAX_ORG_ID",
    "MAX_ROWS",
    "MAX_UNPACKED_BYTES",
    "Column",
    "ImportContext",
    "ImportPlan",
    "ImportProblem",
    "ImportResult",
    "RawEntry",
    "RawFile",
    "UnreadableFile",
    "apply_import",
    "cell_value",
    "check_unpacked_size",
    "export_region",
    "export_workbook",
    "file_source",
    "import_context",
    "read_file",
    "read_workbook",
    "read_yaml",
    "region_today",
    "restorable_import",
    "restore_import",
    "validate",
]
