"""The plan's PDF: Cyrillic that reads back, pages that break, no emoji boxes, same bytes for
the same plan."""

from __future__ import annotations

import datetime as dt
import io

from pypdf import PdfReader

from core.plan.pdf import render_pdf
from core.plan.view import Line, Style

MADE = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)


def read(data: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def test_cyrillic_boxes_and_symbols_read_back_and_emoji_are_left_out() -> None:
    lines = [
        Line("Мой план", Style.TITLE, "📋"),
        Line("Ёлкин «Дом» № 5 — 28 450,45 ₽", Style.ITEM),
        Line("Паспорт", Style.DOC_DONE),
        Line("Справка о доходах", Style.DOC),
        Line("🙂🙂", Style.NOTE),
        Line("https://www.gosuslugi.ru/", Style.LINK),
    ]
    pages, text = read(render_pdf(lines, MADE, "Мой план 📋"))
    assert pages == 1
    assert text.splitlines() == [
        "Мой план",
        "Ёлкин «Дом» № 5 — 28 450,45 ₽",
        "☑ Паспорт",
        "☐ Справка о доходах",
        "https://www.gosuslugi.ru/",
    ]
    reader = PdfReader(io.BytesIO(render_pdf(lines, MADE, "Мой план 📋")))
    assert reader.metadata is not None and reader.metadata.title == "Мой план"


def test_a_long_plan_breaks_into_pages_and_keeps_every_line() -> None:
    lines = [Line(f"Документ номер {i}", Style.DOC) for i in range(150)]
    pages, text = read(render_pdf(lines, MADE, "План"))
    assert pages > 1
    assert [f"☐ Документ номер {i}" for i in range(150)] == text.splitlines()


def test_the_same_plan_made_at_the_same_moment_is_the_same_file() -> None:
    lines = [Line("Мой план", Style.TITLE), Line("Паспорт", Style.DOC)]
    first = render_pdf(lines, MADE, "План")
    assert first == render_pdf(lines, MADE, "План")
    assert first != render_pdf(lines, MADE + dt.timedelta(days=1), "План")
