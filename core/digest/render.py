"""All three renderings at once (message parts, chart, workbook), for delivery.

Everything in the digest's render modules works on the digest object (plain data) and a
Translator; nothing talks to Telegram or the database, so the bot, the scheduler and the
CLI render alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.catalogue.active import CatalogueView
from core.digest.chart import render_chart
from core.digest.text import render_text, split_message
from core.digest.workbook import render_xlsx
from core.texts import Translator


@dataclass(frozen=True)
class RenderedDigest:
    parts: list[str]
    png: bytes
    xlsx: bytes
    png_name: str
    xlsx_name: str


def render_digest(
    digest: dict[str, Any],
    t: Translator,
    view: CatalogueView,
    *,
    referrals: Iterable[dict[str, Any]] = (),
    matrix: Iterable[dict[str, Any]] = (),
) -> RenderedDigest:
    """Message parts, chart and workbook together (CPU work: run it in a thread)."""
    stem = f"digest-{digest['region']}-{digest['week']}"
    return RenderedDigest(
        parts=split_message(render_text(digest, t, view)),
        png=render_chart(digest, t, view),
        xlsx=render_xlsx(digest, t, view, referrals=referrals, matrix=matrix),
        png_name=f"{stem}.png",
        xlsx_name=f"{stem}.xlsx",
    )
