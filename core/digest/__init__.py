"""The weekly digest of a region: every number is counted by the database, per ISO week.

A week is Monday 00:00 to the next Monday 00:00 in the region's timezone; its bounds are turned
into UTC before they reach SQL, so each query is an index range scan over that week's slice and
the cost does not grow with the years of history behind it. A week's counts are the events that
happened in it (PRODUCT.md §3): a referral created on Sunday and accepted on Monday counts as
created in one week and accepted in the next.

The rooms. Counting: `weeks`, `sql` (slices, medians), `numbers`, `lists`, `details` (the
workbook's detail rows), `build` (the digest and the cluster overview), `keys` (what the digest
holds, the small-count mask). Rendering, on plain data and a Translator only: `figures` (names
and numbers as read), `text` (the message), `chart` (PNG), `workbook` (XLSX), `render` (all
three for delivery).
"""

from core.digest.build import build_cluster_overview, build_digest, week_slice
from core.digest.chart import render_chart
from core.digest.details import need_by_municipality, referral_rows
from core.digest.keys import NUMERIC_KEYS, SMALL_LABEL, flat_numbers, mask
from core.digest.render import RenderedDigest, render_digest
from core.digest.text import render_cluster_text, render_text, split_message, to_plain
from core.digest.weeks import (
    Week,
    WeekError,
    current_week,
    last_completed_week,
    parse_week,
    region_timezone,
    resolve_week,
    week_of,
)
from core.digest.workbook import render_xlsx

__all__ = [
    "NUMERIC_KEYS",
    "SMALL_LABEL",
    "RenderedDigest",
    "Week",
    "WeekError",
    "build_cluster_overview",
    "build_digest",
    "current_week",
    "flat_numbers",
    "last_completed_week",
    "mask",
    "need_by_municipality",
    "parse_week",
    "referral_rows",
    "region_timezone",
    "render_chart",
    "render_cluster_text",
    "render_digest",
    "render_text",
    "render_xlsx",
    "resolve_week",
    "split_message",
    "to_plain",
    "week_of",
    "week_slice",
]
