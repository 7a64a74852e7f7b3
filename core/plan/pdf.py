"""«Мой план» as a PDF to print or show at the МФЦ: the same lines as the chat message.

Cyrillic needs a Unicode TrueType font; matplotlib (already a dependency, for the digest's
charts) ships DejaVu Sans, which has Cyrillic, «», №, ₽ and the ☐/☑ boxes, so nothing is
downloaded. Emoji are not in it: the chat's icons are left out and any other character the
font lacks is dropped rather than printed as a blank box.

fpdf2 (with fontTools and Pillow) and matplotlib are imported when a PDF is made, not when the
bot starts: they add about 45 MB to every process, and most processes never print a plan.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
from pathlib import Path
from typing import TYPE_CHECKING

from core.plan.view import Line, Style

if TYPE_CHECKING:
    from fpdf import FPDF

FONT = "DejaVu"
# Points: size, and whether bold; the space before a line of that style.
STYLES: dict[Style, tuple[float, bool, float]] = {
    Style.TITLE: (18, True, 0),
    Style.SUBTITLE: (10, False, 1),
    Style.HEADING: (13, True, 5),
    Style.ITEM: (11, True, 2),
    Style.DETAIL: (10, False, 0.5),
    Style.DOC: (10, False, 0.5),
    Style.DOC_DONE: (10, False, 0.5),
    Style.LINK: (9, False, 0.5),
    Style.NOTE: (9, False, 2),
}
INDENT = {Style.DETAIL: 4, Style.DOC: 8, Style.DOC_DONE: 8, Style.LINK: 4}
BOXES = {Style.DOC: "☐ ", Style.DOC_DONE: "☑ "}
LINK_BLUE = (30, 80, 160)


def _font_dir() -> Path:
    """matplotlib's bundled fonts, found without importing matplotlib (and numpy with it)."""
    spec = importlib.util.find_spec("matplotlib")
    assert spec is not None and spec.origin is not None, "matplotlib is a dependency"
    return Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"


def _printable(pdf: FPDF) -> frozenset[int]:
    """Code points both faces of the font can draw (the fonts' own character maps)."""
    regular, bold = pdf.fonts[FONT.lower()], pdf.fonts[FONT.lower() + "B"]
    return frozenset(getattr(regular, "cmap", {})) & frozenset(getattr(bold, "cmap", {}))


def printable(text: str, known: frozenset[int]) -> str:
    """The text without characters the font cannot draw (emoji), spaces tidied."""
    kept = "".join(ch for ch in text if ord(ch) in known)
    return re.sub(r" {2,}", " ", kept).strip()


def render_pdf(lines: list[Line], made_at: dt.datetime, title: str) -> bytes:
    """An A4 document of the plan's lines. `made_at` is written as the creation date, so the
    same plan made at the same moment gives the same file."""
    from fpdf import FPDF  # imported here: see the module's docstring
    from fpdf.enums import XPos, YPos

    pdf = FPDF(format="A4")
    pdf.add_font(FONT, "", _font_dir() / "DejaVuSans.ttf")
    pdf.add_font(FONT, "B", _font_dir() / "DejaVuSans-Bold.ttf")
    known = _printable(pdf)
    pdf.set_creation_date(made_at)
    pdf.set_title(printable(title, known))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_margins(18, 16, 18)
    pdf.add_page()
    for line in lines:
        size, bold, space = STYLES[line.style]
        text = printable(BOXES.get(line.style, "") + line.text, known)
        if not text:
            continue
        pdf.set_font(FONT, "B" if bold else "", size)
        pdf.set_text_color(*(LINK_BLUE if line.style is Style.LINK else (0, 0, 0)))
        pdf.ln(space)
        pdf.set_x(pdf.l_margin + INDENT.get(line.style, 0))
        pdf.multi_cell(
            w=0,
            h=size * 0.5,
            text=text,
            align="L",
            link=line.text if line.style is Style.LINK else None,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    return bytes(pdf.output())
