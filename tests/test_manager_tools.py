"""The regional manager's toolkit, played through the chat: regions kept apart, the catalogue
by spreadsheet (validate all, apply all, restore), broadcasts to thousands through the real
outbox worker at Telegram's rate, surveys, /stats, invites and the monthly entry check."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

import pytest
import yaml
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import GetFile, SendDocument, SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import BufferedInputFile, Document, File, InlineKeyboardMarkup
from openpyxl import Workbook, load_workbook
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

import db.models.manager  # noqa: F401  (until db.models imports it: registers the tables)
from bot.app import App
from bot.bootstrap import load_content
from bot.factory import create_bot, create_dispatcher
from bot.local_chat import ChatUser, LocalChat
from bot.local_session import LocalSession, Sent
from bot.outbox_worker import OutboxWorker
from bot.scheduler import RecordingJobs
from core import announcements, people
from core import manager_tools as tools
from core.catalogue import schema
from core.catalogue import sheet as catalogue_sheet
from core.catalogue.files import read_catalogue
from core.clock import FrozenClock
from db import models
from db.enums import ConsentKind, ReferralStatus, Role
from db.models.manager import Broadcast, CatalogueImport, Survey, SurveyAnswer
from handlers.manager_keyboards import (
    InviteCD,
    OrgAction,
    OrgCD,
    SurveyAnswerCD,
    VerifyCD,
    notification_keyboard,
)
from handlers.notifications import NotificationRenderer
from tests.conftest import CONTENT, START
from tests.referral_helpers import manager, staff

TAM, MOS = "RU-TAM", "RU-MOS"
MANAGER_TAM = 501
ADMIN = 900  # in the fixtures' ADMIN_IDS
XLSX = "catalogue.xlsx"


# --- a Telegram that also serves files and can refuse chats --------------------------------


class VirtualTime:
    """The worker's monotonic() and sleep(): sleeping only moves the clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


class ToolSession(LocalSession):
    """LocalSession plus uploaded files (getFile + download), blocked and broken chats, and
    the virtual time of every sendMessage."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, bytes] = {}
        self.forbidden: set[int] = set()
        self.broken: set[int] = set()
        self.time: VirtualTime | None = None
        self.sent_at: list[float] = []

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> TelegramType:
        if isinstance(method, GetFile):
            self.requests.append(method)
            size = len(self.files[method.file_id])
            found = File(
                file_id=method.file_id,
                file_unique_id=method.file_id,
                file_size=size,
                file_path=f"documents/{method.file_id}",
            )
            return cast(TelegramType, found)
        if isinstance(method, SendMessage):
            chat_id = int(method.chat_id)
            if self.time is not None:
                self.sent_at.append(self.time.now)
            if chat_id in self.forbidden:
                self.requests.append(method)
                raise TelegramForbiddenError(method, "Forbidden: bot was blocked by the user")
            if chat_id in self.broken:
                self.requests.append(method)
                raise TelegramBadRequest(method, "Bad Request: chat not found")
        return await super().make_request(bot, method, timeout)

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        yield self.files[url.rsplit("/", 1)[-1]]


@pytest.fixture
def mchat(app: App, monkeypatch: pytest.MonkeyPatch) -> LocalChat:
    """The real dispatcher with the manager's router placed before the text search (as the
    lead wires it in handlers/__init__.py; a no-op once it is there)."""
    import handlers
    from handlers import manager as manager_handlers

    original = handlers.get_routers

    def routers() -> list[Any]:
        found = original()
        if any(r.name == "handlers.manager" for r in found):
            return found
        index = next(i for i, r in enumerate(found) if r.name == "handlers.search")
        found.insert(index, manager_handlers.create_router())
        return found

    monkeypatch.setattr(handlers, "get_routers", routers)
    local = ToolSession()
    # No per-user rate limit: a manager's script here taps faster than a person.
    dispatcher = create_dispatcher(app, rate_limit=None)
    return LocalChat(dispatcher, create_bot(app.settings, session=local), local)


def tool_session(chat: LocalChat) -> ToolSession:
    assert isinstance(chat.session, ToolSession)
    return chat.session


def worker(
    app: App, chat: LocalChat, time: VirtualTime | None = None, per_chat: float = 1.0
) -> OutboxWorker:
    """The real worker; the renderer adds the toolkit's keyboards (as the lead wires them)."""
    base = NotificationRenderer(app.texts, app.catalogue)

    def render(
        kind: str, lang: str, params: dict[str, Any]
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        text, keyboard = base(kind, lang, params)
        if keyboard is None:
            keyboard = notification_keyboard(kind, params, app.texts.get(lang))
        return text, keyboard

    clock = time or VirtualTime()
    return OutboxWorker(
        app.session_factory,
        chat.bot,
        app.clock,
        render,
        per_chat_interval=per_chat,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
    )


@pytest.fixture
async def pristine_catalogue(app: App) -> AsyncIterator[None]:
    """Tests here change the catalogue, which the suite keeps between tests: put it back."""
    yield
    content = read_catalogue(CONTENT, START.date())
    orgs = {o.id for o in content.organizations}
    measures = {m.id for m in content.measures}
    consultations = {c.id for o in content.organizations for c in o.consultations}
    async with app.engine.begin() as conn:
        extra_orgs = select(models.Organization.id).where(models.Organization.id.not_in(orgs))
        for model in (models.Membership, models.Invite):
            await conn.execute(delete(model).where(model.organization_id.in_(extra_orgs)))
        await conn.execute(
            delete(models.Consultation).where(models.Consultation.id.not_in(consultations))
        )
        await conn.execute(
            delete(models.MeasureNeed).where(models.MeasureNeed.measure_id.not_in(measures))
        )
        await conn.execute(delete(models.Measure).where(models.Measure.id.not_in(measures)))
        for link in (models.OrganizationNeed, models.OrganizationMunicipality):
            await conn.execute(delete(link).where(link.organization_id.not_in(orgs)))
        await conn.execute(delete(models.Organization).where(models.Organization.id.not_in(orgs)))
    await load_content(app, with_demo=True)


# --- helpers -------------------------------------------------------------------------------


async def upload(person: ChatUser, data: bytes, name: str, size: int | None = None) -> list[Sent]:
    files = tool_session(person.chat).files
    file_id = f"file{len(files)}"
    files[file_id] = data
    document = Document(
        file_id=file_id,
        file_unique_id=file_id,
        file_name=name,
        file_size=len(data) if size is None else size,
    )
    return await person._run({"message": person._message(document=document)})


def exported(chat: LocalChat) -> bytes:
    for method in reversed(chat.session.requests):
        if isinstance(method, SendDocument) and isinstance(method.document, BufferedInputFile):
            return method.document.data
    raise AssertionError("no document was sent")


def last_alert(chat: LocalChat) -> str:
    return chat.session.answers[-1].text or ""


async def catalogue_state(session: AsyncSession, region: str) -> dict[str, tuple[str, bool]]:
    """(content hash, active) of every measure, organisation and consultation of a region."""
    session.expire_all()
    state: dict[str, tuple[str, bool]] = {}
    for measure in await session.scalars(
        select(models.Measure).where(models.Measure.region_code == region)
    ):
        state[f"measures:{measure.id}"] = (measure.content_hash, measure.active)
    for org in await session.scalars(
        select(models.Organization).where(models.Organization.region_code == region)
    ):
        state[f"organizations:{org.id}"] = (org.content_hash, org.active)
    for consultation in await session.scalars(
        select(models.Consultation)
        .join(models.Organization)
        .where(models.Organization.region_code == region)
    ):
        state[f"consultations:{consultation.id}"] = (
            consultation.content_hash,
            consultation.active,
        )
    return state


def rows_by_id(sheet: Any) -> dict[str, int]:
    return {str(row[0].value): row[0].row for row in sheet.iter_rows(min_row=2) if row[0].value}


def column(sheet: Any, header: str) -> int:
    for cell in sheet[1]:
        if cell.value == header:
            return int(cell.column)
    raise KeyError(header)


def put(sheet: Any, row: int, header: str, value: object) -> None:
    sheet.cell(row=row, column=column(sheet, header)).value = value


def copy_row(sheet: Any, source: int) -> int:
    target: int = sheet.max_row + 1
    for cell in sheet[source]:
        sheet.cell(row=target, column=cell.column, value=cell.value)
    return target


def save(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def families(
    app: App,
    *,
    first_messenger_id: int,
    count: int,
    region: str,
    news: str | None = "granted",
    unreachable: int = 0,
    municipality: str | None = None,
) -> list[int]:
    """Consenting families created in bulk; `news` is "granted", "revoked" or None."""
    now = app.clock.now()
    ids = list(range(first_messenger_id, first_messenger_id + count))
    async with app.session_factory() as session:
        await session.execute(
            insert(models.User),
            [
                {
                    "messenger_id": tg,
                    "language": "ru",
                    "region_code": region,
                    "municipality_id": municipality,
                    "consent_version": "1.0",
                    "created_at": now,
                    "last_seen_at": now,
                    "unreachable": i < unreachable,
                }
                for i, tg in enumerate(ids)
            ],
        )
        if news is not None:
            user_ids = (
                await session.scalars(
                    select(models.User.id).where(models.User.messenger_id.in_(ids))
                )
            ).all()
            revoked = now if news == "revoked" else None
            await session.execute(
                insert(models.Consent),
                [
                    {
                        "user_id": uid,
                        "kind": ConsentKind.NEWS,
                        "version": "1",
                        "granted_at": now - dt.timedelta(days=3),
                        "revoked_at": revoked,
                    }
                    for uid in user_ids
                ],
            )
        await session.commit()
    return ids


# --- one region cannot reach another -------------------------------------------------------


async def test_a_manager_of_one_region_cannot_list_edit_or_export_another(
    app: App, mchat: LocalChat, session: AsyncSession, pristine_catalogue: None
) -> None:
    irina = await manager(app, mchat, MANAGER_TAM, TAM)
    mos_org = "mos-women-violence-hotline"
    before = await catalogue_state(session, MOS)

    for command in ("/orgs RU-MOS", "/export RU-MOS", "/stats RU-MOS", "/broadcast RU-MOS"):
        replies = await irina.send(command)
        assert [r.text for r in replies] == ["Регион RU-MOS — не ваш. Вы управляете: RU-TAM."], (
            command
        )
    assert not any(isinstance(m, SendDocument) for m in mchat.session.requests)

    own = await irina.send("/orgs")
    assert own[-1].text.startswith("<b>Организации · Тамбовская область</b>")
    listing = own[-1]
    forged = [
        OrgCD(action=OrgAction.OPEN, org=mos_org),
        OrgCD(action=OrgAction.NEED, org=mos_org, value="0"),
        OrgCD(action=OrgAction.MUNICIPALITY, org=mos_org, value="all"),
        OrgCD(action=OrgAction.CAPACITY, org=mos_org),
        OrgCD(action=OrgAction.MEMBERS, org=mos_org),
        OrgCD(action=OrgAction.DEACTIVATE_OK, org=mos_org),
        OrgCD(action=OrgAction.LIST, value=MOS),
        OrgCD(action=OrgAction.ADD, value=MOS),
        InviteCD(org=mos_org, role="c"),
    ]
    for data in forged:
        assert await irina.press(listing, data.pack()) == []
        assert last_alert(mchat) == "Нет доступа: это не ваш регион или у вас нет роли менеджера."

    # A spreadsheet for RU-TAM that reaches into RU-MOS is refused as a whole.
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "organizations"
    sheet.append(["id", "name", "region", "capacity"])
    sheet.append([mos_org, "Захват", MOS, 1])
    await irina.send("/import")
    replies = await upload(irina, save(workbook), XLSX)
    assert "Ничего не изменено" in replies[-1].text
    assert "• Организации, строка 2, столбец id: этот id уже занят записью региона RU-MOS" in (
        replies[-1].text
    )
    assert (
        "• Организации, строка 2, столбец region: регион «RU-MOS», а загрузка идёт для RU-TAM"
        in (replies[-1].text)
    )

    assert await catalogue_state(session, MOS) == before
    assert await session.scalar(select(func.count()).select_from(models.Invite)) == 0
    assert await session.scalar(select(func.count()).select_from(CatalogueImport)) == 0

    family = mchat.user(7300)
    assert (await family.send("/orgs"))[-1].text.startswith("Эта команда — для менеджеров")
    admin = mchat.user(ADMIN)
    assert (await admin.send("/orgs RU-MOS"))[-1].text.startswith(
        "<b>Организации · Московская область</b>"
    )
    # The region named last is remembered.
    assert (await admin.send("/orgs"))[-1].text.startswith(
        "<b>Организации · Московская область</b>"
    )


# --- the catalogue by spreadsheet ----------------------------------------------------------


async def test_a_spreadsheet_with_wrong_rows_changes_nothing_and_a_correct_one_is_restorable(
    app: App, mchat: LocalChat, session: AsyncSession, pristine_catalogue: None
) -> None:
    irina = await manager(app, mchat, MANAGER_TAM, TAM)
    original = await catalogue_state(session, TAM)

    await irina.send("/export")
    assert irina.last_reply().kind == "document"
    assert "Каталог RU-TAM: мер 9, организаций 9, консультаций 10" in irina.last_text
    clean = exported(mchat)
    # Who took the region's catalogue out is on record.
    export_log = await session.scalar(
        select(models.AuditLog).where(models.AuditLog.action == "catalogue_export")
    )
    assert export_log is not None and export_log.details == {"region": TAM}

    # Exactly what was exported comes back unchanged.
    await irina.send("/import")
    assert (await upload(irina, clean, XLSX))[-1].text.startswith("Файл в порядке")

    wb = load_workbook(io.BytesIO(clean))
    measures, orgs, consultations = wb["measures"], wb["organizations"], wb["consultations"]
    m_rows, o_rows = rows_by_id(measures), rows_by_id(orgs)
    m_ids = sorted(m_rows)
    put(orgs, o_rows["tam-opora-demo"], "needs", "psych_help, unicorns")
    put(orgs, o_rows["tam-raduga-demo"], "municipalities", "mos-balashikha")
    put(orgs, o_rows["tam-raduga-demo"], "capacity", "много")
    put(orgs, o_rows["tam-csp"], "region", MOS)
    put(measures, m_rows[m_ids[0]], "checked_on", dt.date(2031, 1, 1))
    put(measures, m_rows[m_ids[1]], "apply_url", "не ссылка")
    put(measures, m_rows[m_ids[2]], "title", None)
    put(measures, m_rows[m_ids[3]], "level", "federal")
    duplicate = copy_row(measures, m_rows[m_ids[4]])
    put(consultations, 2, "organization", "tam-nowhere")
    first_consultation = consultations.cell(row=2, column=1).value
    await irina.send("/import")
    replies = await upload(irina, save(wb), XLSX)

    reply = replies[-1].text
    assert reply.startswith("❌ Ничего не изменено: в файле 10 ошибок."), reply
    result = await catalogue_sheet.apply_import(
        session,
        app.clock,
        raw=catalogue_sheet.read_file(save(wb), XLSX),
        region_code=TAM,
        view=app.catalogue.view,
        user_id=None,
    )
    assert {(p.sheet, p.row, p.column, p.code) for p in result.problems} == {
        ("measures", m_rows[m_ids[0]], "checked_on", "future_date"),
        ("measures", m_rows[m_ids[1]], "apply_url", "url_parsing"),
        ("measures", m_rows[m_ids[2]], "title", "missing"),
        ("measures", m_rows[m_ids[3]], "level", "federal_level"),
        ("measures", duplicate, "id", "duplicate_id"),
        ("organizations", o_rows["tam-opora-demo"], "needs", "unknown_need"),
        ("organizations", o_rows["tam-raduga-demo"], "municipalities", "unknown_municipality"),
        ("organizations", o_rows["tam-raduga-demo"], "capacity", "int_parsing"),
        ("organizations", o_rows["tam-csp"], "region", "wrong_region"),
        ("consultations", 2, "organization", "unknown_organization"),
    }
    lines = reply.split("\n\n", 1)[1].splitlines()
    assert len(lines) == 10
    assert (
        f"• Организации, строка {o_rows['tam-opora-demo']}, столбец needs: "
        "нет такой темы «unicorns» в каталоге"
    ) in lines
    assert (
        f"• Организации, строка {o_rows['tam-raduga-demo']}, столбец municipalities: "
        "муниципалитет «mos-balashikha» не относится к региону RU-TAM"
    ) in lines
    assert (
        f"• Организации, строка {o_rows['tam-raduga-demo']}, столбец capacity: "
        "«много» — нужно целое число"
    ) in lines
    assert (
        f"• Меры, строка {m_rows[m_ids[2]]}, столбец title: не заполнено (обязательное поле)"
        in lines
    )
    assert (
        f"• Меры, строка {duplicate}, столбец id: id «{m_ids[4]}» повторяется "
        f"(уже есть в строке {m_rows[m_ids[4]]})"
    ) in lines
    assert (
        "• Консультации, строка 2, столбец organization: нет организации «tam-nowhere» "
        "в этом регионе"
    ) in lines, first_consultation
    assert await catalogue_state(session, TAM) == original
    assert await session.scalar(select(func.count()).select_from(CatalogueImport)) == 0

    # A correct file: one organisation added, one changed, one dropped; one measure changed.
    wb = load_workbook(io.BytesIO(clean))
    measures, orgs = wb["measures"], wb["organizations"]
    m_rows, o_rows = rows_by_id(measures), rows_by_id(orgs)
    put(orgs, o_rows["tam-opora-demo"], "capacity", 25)
    orgs.delete_rows(o_rows["tam-hotline-children"])
    new = copy_row(orgs, rows_by_id(orgs)["tam-raduga-demo"])
    put(orgs, new, "id", "tam-test-centre")
    put(orgs, new, "name", "Тестовый семейный центр")
    put(orgs, new, "municipalities", "tam-tambov, tam-michurinsk")
    put(orgs, new, "phone", "+7 900 000-00-00")
    put(measures, m_rows[m_ids[0]], "summary", "Новое краткое описание меры.")
    replies = await upload(irina, save(wb), XLSX)
    assert replies[-1].text.startswith(
        "✅ Каталог RU-TAM обновлён: добавлено 1, изменено 2, деактивировано 1."
    )
    assert "Организации: добавлено 1, изменено 1, деактивировано 1" in replies[-1].text
    assert "Меры: добавлено 0, изменено 1, деактивировано 0" in replies[-1].text
    view = app.catalogue.view
    assert view.organizations["tam-opora-demo"].capacity == 25
    assert view.organizations["tam-test-centre"].municipalities == [
        "tam-tambov",
        "tam-michurinsk",
    ]
    assert "tam-hotline-children" not in view.organizations
    assert view.measures[m_ids[0]].summary == "Новое краткое описание меры."
    record = await session.scalar(select(CatalogueImport))
    assert record is not None
    assert (record.region_code, record.kind, record.source) == (TAM, "import", "xlsx")
    assert record.summary == {
        "added": {"organizations": 1},
        "changed": {"organizations": 1, "measures": 1},
        "deactivated": {"organizations": 1},
    }
    previous_ids = {e["id"] for e in record.previous["organizations"]}
    assert "tam-test-centre" not in previous_ids and "tam-hotline-children" in previous_ids

    # Restore brings the previous rows back (the new organisation stays, inactive).
    await irina.send("/import")
    await irina.click("↩️ Вернуть версию до загрузки")
    assert irina.last_text.startswith("Вернуть каталог RU-TAM к состоянию до загрузки")
    await irina.click("Да, вернуть")
    assert irina.last_text.startswith(
        "↩️ Каталог RU-TAM возвращён к предыдущей версии: добавлено 0, изменено 3, "
        "деактивировано 1."
    )
    restored = await catalogue_state(session, TAM)
    assert restored.pop("organizations:tam-test-centre")[1] is False
    assert restored == original
    view = app.catalogue.view
    assert (
        "tam-hotline-children" in view.organizations
        and "tam-test-centre" not in view.organizations
    )
    assert view.organizations["tam-opora-demo"].capacity != 25
    session.expire_all()
    kinds = (
        await session.scalars(select(CatalogueImport.kind).order_by(CatalogueImport.id))
    ).all()
    assert list(kinds) == ["import", "restore"]
    # The undone import cannot be undone twice.
    await irina.send("/import")
    assert not any("Вернуть версию" in b for b in irina.last_reply().button_texts)


async def test_import_answers_wrong_files_and_reads_yaml(
    app: App, mchat: LocalChat, session: AsyncSession, pristine_catalogue: None
) -> None:
    irina = await manager(app, mchat, MANAGER_TAM, TAM)
    await irina.send("/import")
    assert (await upload(irina, b"%PDF-1.4", "scan.pdf"))[-1].text.startswith(
        "Это не тот тип файла"
    )
    big = await upload(irina, b"x", XLSX, size=6 * 1024 * 1024)
    assert big[-1].text.startswith("Файл больше 5 МБ")
    assert (await upload(irina, b"not a zip", XLSX))[-1].text.startswith(
        "Не получается открыть файл как таблицу XLSX"
    )
    assert (await irina.send("просто текст"))[-1].text.startswith("Пришлите файл документом")

    original = await catalogue_state(session, TAM)
    entry = {"id": "tam-yaml-measure", "title": "Мера", "level": "regional", "needs": ["nope"]}
    replies = await upload(irina, yaml.safe_dump({"measures": [entry]}).encode(), "m.yaml")
    text = replies[-1].text
    assert text.startswith("❌ Ничего не изменено")
    assert "• Меры, запись 1, поле title_en: не заполнено (обязательное поле)" in text
    assert await catalogue_state(session, TAM) == original

    # The content format itself: the region's organisations file as it is in content/.
    own = (CONTENT / "organizations" / "RU-TAM.yaml").read_bytes()
    assert (await upload(irina, own, "RU-TAM.yaml"))[-1].text.startswith("Файл в порядке")


async def test_every_regions_export_imports_back_without_changes(
    app: App, session: AsyncSession
) -> None:
    for region in sorted(app.catalogue.view.regions):
        data = await catalogue_sheet.export_region(session, region)
        result = await catalogue_sheet.apply_import(
            session,
            app.clock,
            raw=catalogue_sheet.read_file(data, XLSX),
            region_code=region,
            view=app.catalogue.view,
            user_id=None,
        )
        assert result.problems == [] and result.summary is not None, region
        assert not result.summary.touched, region
    fields = {
        "measures": set(schema.Measure.model_fields),
        "organizations": set(schema.Organization.model_fields) - {"consultations"},
        "consultations": set(schema.Consultation.model_fields),
    }
    for kind, columns in catalogue_sheet.COLUMNS.items():
        covered = {c.path[0] for c in columns if c.path}
        assert covered == fields[kind], kind


# --- organisations from Telegram -----------------------------------------------------------


async def test_organisation_card_edits_go_through_the_schema(
    app: App, mchat: LocalChat, session: AsyncSession, pristine_catalogue: None
) -> None:
    irina = await manager(app, mchat, MANAGER_TAM, TAM)
    org = "tam-raduga-demo"
    await irina.send("/orgs")
    await irina.click("АНО «Центр поддержки семей")
    card = irina.last_text
    assert "id: <code>tam-raduga-demo</code> · активна" in card

    await irina.click("📦 Вместимость")
    assert irina.last_text.startswith("Сколько заявок")
    assert (await irina.send("много"))[-1].text.startswith("Напишите целое число")
    await irina.send("7")
    assert app.catalogue.view.organizations[org].capacity == 7
    assert "заявок в работе 0 из 7" in irina.last_text

    await irina.click("☎️ Контакты")
    await irina.click("Сайт")
    assert (await irina.send("не сайт"))[-1].text.startswith("Не сохранено: contacts.website")
    await irina.send("https://raduga.example.org")
    assert str(app.catalogue.view.organizations[org].contacts.website) == (
        "https://raduga.example.org/"
    )

    await irina.click("🎯 Темы")
    before = list(app.catalogue.view.organizations[org].needs)
    first_need = next(iter(app.catalogue.view.needs.values()))
    await irina.click(f"{'✅ ' if first_need.id in before else ''}{first_need.emoji}")
    after = app.catalogue.view.organizations[org].needs
    assert set(after) == set(before) ^ {first_need.id}

    await irina.click("✅ Готово")
    await irina.click("📍 Муниципалитеты")
    await irina.click(
        "✅ Весь регион"
        if app.catalogue.view.organizations[org].municipalities == ["all"]
        else "Весь регион"
    )
    await irina.click("г. Мичуринск")
    assert app.catalogue.view.organizations[org].municipalities == ["tam-michurinsk"]

    await irina.click("✅ Готово")
    await irina.click("⏸ Деактивировать")
    await irina.click("Да, деактивировать")
    assert org not in app.catalogue.view.organizations
    assert "· неактивна ·" in irina.last_text
    await irina.click("▶️ Активировать")
    assert org in app.catalogue.view.organizations

    # Writes are the loader's: loading the content files again sees only real differences.
    row = await session.get(models.Organization, org)
    assert row is not None
    session.expire_all()
    audit = (
        await session.scalars(
            select(models.AuditLog.action).where(models.AuditLog.action == "org_edit")
        )
    ).all()
    assert len(audit) == 7

    await irina.send("/orgs")
    await irina.click("➕ Добавить организацию")
    await irina.send("Клуб молодых родителей")
    await irina.click("🤰")
    assert irina.messages[-2].text.startswith("Организация добавлена")
    added = [o for o in app.catalogue.view.organizations.values() if o.name.startswith("Клуб")]
    assert len(added) == 1 and added[0].region == TAM and added[0].needs == ["pregnancy"]
    assert added[0].id.startswith("tam-org-")


async def test_invite_link_is_redeemable_and_members_can_be_removed(
    app: App, mchat: LocalChat, session: AsyncSession
) -> None:
    irina = await manager(app, mchat, MANAGER_TAM, TAM)
    await irina.send("/invite")
    await irina.click("АНО «Тамбовский семейный центр")
    await irina.click("координатор")
    text = irina.last_text
    assert text.startswith("Ссылка-приглашение (координатор,")
    link = next(line for line in text.splitlines() if line.startswith("https://"))
    assert link.startswith("https://t.me/family_nav_bot?start=join-")
    token = link.split("start=", 1)[1]

    newcomer = mchat.user(7400, "Пётр")
    await newcomer.send(f"/start {token}")
    assert newcomer.last_text.startswith("Добро пожаловать в команду")
    membership = await session.scalar(
        select(models.Membership).join(models.User).where(models.User.messenger_id == 7400)
    )
    assert membership is not None
    assert (membership.role, membership.organization_id) == ("coordinator", "tam-opora-demo")

    await irina.send("/orgs")
    await irina.click("АНО «Тамбовский семейный центр")
    await irina.click("👥 Команда")
    assert "координатор · Telegram ID 7400" in irina.last_text
    await irina.click("✖ координатор 7400")
    await irina.click("Да, убрать")
    assert last_alert(mchat) == "Убрали из команды."
    await session.refresh(membership)
    assert membership.active is False


# --- broadcasts ----------------------------------------------------------------------------


async def test_a_broadcast_reaches_thousands_at_the_rate_limit_and_never_the_opted_out(
    app: App, mchat: LocalChat, session: AsyncSession
) -> None:
    consenting = await families(
        app, first_messenger_id=1_000_000, count=3000, region=TAM, unreachable=50
    )
    opted_out = await families(
        app, first_messenger_id=2_000_000, count=200, region=TAM, news="revoked"
    )
    never_asked = await families(
        app, first_messenger_id=3_000_000, count=100, region=TAM, news=None
    )
    elsewhere = await families(app, first_messenger_id=4_000_000, count=100, region=MOS)
    known_blocked = consenting[:50]
    reachable = consenting[50:]
    fake = tool_session(mchat)
    fake.forbidden.update(reachable[:20])  # blocked the bot since we last heard from them
    fake.broken.update(reachable[20:25])

    # One family turns news off itself, through /news.
    leaver = mchat.user(reachable[-1])
    assert (await leaver.send("/news"))[-1].text.startswith("🔔 Вы подписаны")
    await leaver.click("🔕 Отписаться")
    assert leaver.last_text.startswith("🔕 Вы не подписаны")
    reachable = reachable[:-1]
    mchat.session.chats.clear()

    irina = await manager(app, mchat, MANAGER_TAM, TAM)
    await irina.send("/broadcast")
    await irina.send("В субботу — бесплатные консультации юриста для семей в Тамбове.")
    panel = irina.last_text
    assert panel.startswith("<b>Так увидят сообщение семьи:</b>")
    assert (
        "Получат семьи, подписанные на новости: <b>2\u202f949</b> "
        "(заблокировали бота, им не отправим: 50)."
    ) in panel
    await irina.click("✅ Отправить (2\u202f949)")
    assert irina.last_text.startswith("📤 Рассылка №")

    broadcast = await session.scalar(select(Broadcast))
    assert broadcast is not None
    assert (broadcast.recipients, broadcast.skipped_blocked, broadcast.status) == (
        2949,
        50,
        "sending",
    )

    time = VirtualTime()
    fake.time = time
    sent = await worker(app, mchat, time).drain()
    assert sent == 2949 - 25
    # ≤ 25 a second overall: any 26 consecutive requests span at least a second.
    stamps = fake.sent_at
    assert len(stamps) == 2949
    assert min(b - a for a, b in zip(stamps, stamps[25:], strict=False)) >= 1.0 - 1e-9
    assert time.now >= (2949 - 1) / 25

    chats = mchat.session.chats
    delivered = [tg for tg in reachable[25:] if len(chats[tg]) == 1]
    assert len(delivered) == len(reachable) - 25, "every reachable family got exactly one"
    assert chats[reachable[30]][0].text.startswith("📢 <b>Новости семейного кластера</b>")
    assert chats[reachable[30]][0].button_texts == ["🔕 Не присылать новости"]
    for silent in (*known_blocked, *opted_out, *never_asked, *elsewhere, leaver.id):
        assert not chats.get(silent), silent

    from bot.jobs import JobContext, run_job

    assert await run_job(JobContext(app, mchat.bot), "broadcasts") == 1
    assert await run_job(JobContext(app, mchat.bot), "broadcasts") == 0, "the report goes once"
    await worker(app, mchat).drain()
    report = (
        "отправлено 2\u202f924 из 2\u202f949, заблокировали бота: 70, "
        "не доставлено из-за ошибок: 5."
    )
    assert irina.last_text == f"✅ Рассылка №{broadcast.id} завершена: {report}"
    assert any(m.text.endswith(report) for m in irina.messages[:-1]), "the progress message"
    await session.refresh(broadcast)
    assert (broadcast.status, broadcast.sent, broadcast.blocked, broadcast.failed) == (
        "done",
        2924,
        70,
        5,
    )
    newly_blocked = await session.scalar(
        select(func.count()).where(
            models.User.messenger_id.in_(reachable[:20]), models.User.unreachable
        )
    )
    assert newly_blocked == 20


async def test_a_broadcast_with_a_measure_card_and_filters(
    app: App, mchat: LocalChat, session: AsyncSession
) -> None:
    await families(
        app, first_messenger_id=5_000_000, count=3, region=TAM, municipality="tam-michurinsk"
    )
    await families(
        app, first_messenger_id=5_100_000, count=2, region=TAM, municipality="tam-tambov"
    )
    irina = await manager(app, mchat, MANAGER_TAM, TAM)
    await irina.send("/broadcast")
    await irina.send("Новая выплата <для> семей & детей")
    assert "Новая выплата &lt;для&gt; семей &amp; детей" in irina.last_text
    await irina.click("📍 Где: Весь регион")
    await irina.click("г. Мичуринск")
    assert "Получат семьи, подписанные на новости: <b>3</b>" in irina.last_text
    await irina.click("📎 Прикрепить карточку меры")
    await irina.send("no-such-measure")
    assert irina.last_text.startswith("Нет меры «no-such-measure»")
    await irina.send("fed-birth-grant")
    assert 'href="https://t.me/family_nav_bot?start=m-fed-birth-grant"' in irina.last_text
    await irina.click("✅ Отправить (3)")
    await worker(app, mchat, per_chat=0).drain()
    got = mchat.session.chats[5_000_000][0].text
    assert "Новая выплата &lt;для&gt; семей &amp; детей" in got
    assert 'start=m-fed-birth-grant">' in got
    assert not mchat.session.chats.get(5_100_000)


# --- surveys -------------------------------------------------------------------------------


async def test_a_survey_counts_one_answer_per_family(
    app: App, mchat: LocalChat, session: AsyncSession
) -> None:
    tg = await families(app, first_messenger_id=6_000_000, count=4, region=TAM)
    outsider = (await families(app, first_messenger_id=6_100_000, count=1, region=MOS))[0]
    irina = await manager(app, mchat, MANAGER_TAM, TAM)
    await irina.send("/survey")
    await irina.send("Удобно ли вам получать помощь онлайн?")
    assert (await irina.send("Да"))[-1].text.startswith("Нужно от 2 до 6")
    await irina.send("Да\nНет\nНе знаю")
    assert "Получат семьи, подписанные на новости: <b>4</b>" in irina.last_text
    await irina.click("✅ Отправить (4)")
    assert irina.last_text.startswith("📊 Опрос №")
    await worker(app, mchat, per_chat=0).drain()

    a, b, c = (mchat.user(t) for t in tg[:3])
    assert a.last_reply().button_texts == ["Да", "Нет", "Не знаю"]
    await a.click("Да")
    assert last_alert(mchat) == "Спасибо, ответ учтён!"
    assert a.last_reply().button_texts == ["✅ Да", "Нет", "Не знаю"]
    # A second answer from the same family replaces the first: one answer per family.
    await a.click("Нет")
    assert last_alert(mchat) == "Ответ изменён."
    await b.click("Да")
    await c.click("Не знаю")
    survey = await session.scalar(select(Survey))
    assert survey is not None
    # Someone of another region pressing a forged button is not counted.
    stranger = mchat.user(outsider)
    await stranger.send("/news")
    await stranger.press(stranger.last_reply(), SurveyAnswerCD(survey=survey.id, option=0).pack())
    assert last_alert(mchat) == "Этот опрос вам недоступен."

    rows = (
        await session.execute(
            select(SurveyAnswer.option, func.count())
            .group_by(SurveyAnswer.option)
            .order_by(SurveyAnswer.option)
        )
    ).all()
    assert [tuple(r) for r in rows] == [(0, 1), (1, 1), (2, 1)]

    await irina.click("📊 Результаты")
    assert "• Да — 1 (33%)" in irina.last_text and "Ответили 3 из 4." in irina.last_text
    week = await announcements.survey_results(
        session, TAM, START - dt.timedelta(days=5), START + dt.timedelta(days=2)
    )
    assert week == [
        {
            "id": survey.id,
            "question": "Удобно ли вам получать помощь онлайн?",
            "created_at": START.isoformat(),
            "recipients": 4,
            "answers": 3,
            "answers_in_week": 3,
            "options": [
                {"option": 0, "text": "Да", "count": 1},
                {"option": 1, "text": "Нет", "count": 1},
                {"option": 2, "text": "Не знаю", "count": 1},
            ],
        }
    ]
    assert await announcements.survey_results(session, MOS, START, START + dt.timedelta(1)) == []

    await irina.click("⛔ Закрыть опрос")
    assert "(закрыт)" in irina.last_text
    await mchat.user(tg[3]).click("Да")
    assert last_alert(mchat) == "Опрос уже закрыт — спасибо!"


# --- /stats --------------------------------------------------------------------------------


async def test_stats_shows_todays_numbers(
    app: App, mchat: LocalChat, session: AsyncSession, clock: FrozenClock
) -> None:
    old = await families(app, first_messenger_id=8_000_000, count=3, region=TAM)
    await session.execute(
        update(models.User)
        .where(models.User.messenger_id.in_(old))
        .values(created_at=START - dt.timedelta(days=10))
    )
    await session.commit()
    await families(app, first_messenger_id=8_100_000, count=2, region=TAM, news=None)
    await families(app, first_messenger_id=8_200_000, count=4, region=MOS)
    family_id = await session.scalar(
        select(models.User.id).where(models.User.messenger_id == old[0])
    )
    now = clock.now()
    for results in (3, 0, 5):
        session.add(
            models.SearchLog(at=now, region_code=TAM, kind="search", query="q", results=results)
        )
    session.add(
        models.SearchLog(
            at=now - dt.timedelta(days=1), region_code=TAM, kind="search", query="q", results=0
        )
    )

    def referral(status: ReferralStatus, **times: dt.datetime) -> models.Referral:
        return models.Referral(
            kind="request",
            region_code=TAM,
            need_id="psych_help",
            family_user_id=family_id,
            status=status,
            organization_id="tam-opora-demo",
            created_at=times.pop("created_at", now),
            updated_at=now,
            **times,
        )

    session.add_all(
        [
            referral(
                ReferralStatus.OFFERED,
                offered_at=now - dt.timedelta(hours=30),
                created_at=now - dt.timedelta(days=2),
            ),
            referral(ReferralStatus.OFFERED, offered_at=now - dt.timedelta(hours=1)),
            referral(
                ReferralStatus.ACCEPTED,
                accepted_at=now - dt.timedelta(hours=60),
                created_at=now - dt.timedelta(days=3),
            ),
            referral(ReferralStatus.RESOLVED),
        ]
    )
    await session.commit()

    irina = await manager(app, mchat, MANAGER_TAM, TAM)
    text = (await irina.send("/stats"))[-1].text
    assert text.startswith("<b>Сегодня · Тамбовская область · 28 ноября 2026</b>")
    assert "Семей с согласием: 5 (новых сегодня: 2)" in text
    assert "Подписаны на новости: 3" in text
    assert "Поисков сегодня: 3, без результата: 1" in text
    assert "Новых заявок сегодня: 2" in text
    assert "Открытых с нарушением срока: 2" in text
    stats = await tools.region_stats(
        session,
        region_code=TAM,
        view=app.catalogue.view,
        now=now,
        sla_accept=dt.timedelta(hours=24),
        sla_contact=dt.timedelta(hours=48),
    )
    assert stats.by_status == {"offered": 2, "accepted": 1, "resolved": 1}
    assert stats.open_past_sla == 2


# --- "is your entry still accurate?" -------------------------------------------------------


async def test_monthly_question_yes_updates_verified_on_and_no_tells_the_manager(
    app: App, mchat: LocalChat, session: AsyncSession, pristine_catalogue: None
) -> None:
    from bot.jobs import VERIFY_JOB_ID, JobContext, job_named, run_job, schedule_all

    jobs = app.jobs
    assert isinstance(jobs, RecordingJobs)
    verification = job_named("verification")
    assert verification is not None
    schedule_all(JobContext(app, mchat.bot), [verification])
    assert jobs.jobs[VERIFY_JOB_ID].cron == {
        "timezone": "Europe/Moscow",
        "day": 1,
        "hour": 11,
        "minute": 0,
    }
    jobs.cancel(VERIFY_JOB_ID)

    irina = await manager(app, mchat, MANAGER_TAM, TAM)
    olga = await staff(app, mchat, 7501, "tam-opora-demo", Role.COORDINATOR)
    pavel = await staff(app, mchat, 7502, "tam-raduga-demo", Role.COORDINATOR)
    vera = await staff(app, mchat, 7503, "tam-opora-demo", Role.VOLUNTEER)
    # Two coordinators, and Irina's reminder of the region's measures to check.
    assert await run_job(JobContext(app), "verification") == 3
    await worker(app, mchat, per_chat=0).drain()
    assert olga.last_text.startswith("🗓 Ежемесячная проверка")
    assert not vera.messages

    await vera.press(olga.last_reply(), VerifyCD(org="tam-opora-demo", answer="y").pack())
    assert last_alert(mchat).startswith("Нет доступа")
    await olga.click("✅ Да, всё верно")
    assert olga.last_text == "Спасибо! Запись подтверждена 28 ноября 2026."
    assert app.catalogue.view.organizations["tam-opora-demo"].verified_on == START.date()

    await pavel.click("✏️ Нет, есть изменения")
    assert pavel.last_text.startswith("Спасибо! Передали менеджеру")
    await worker(app, mchat, per_chat=0).drain()
    assert "сообщил, что запись в каталоге устарела" in irina.last_text
    await irina.click("Открыть карточку")
    assert "id: <code>tam-raduga-demo</code>" in irina.last_text


async def test_people_helpers_are_region_scoped(app: App, session: AsyncSession) -> None:
    """Service level: nothing of another region is changed even when asked directly."""
    mos = await people.grant_role(
        session,
        app.clock,
        messenger_id=7600,
        role=Role.VOLUNTEER,
        organization_id="mos-women-violence-hotline",
        region_code=MOS,
    )
    assert (
        await tools.remove_member(
            session, app.clock, membership_id=mos.id, region_code=TAM, user_id=None
        )
        is None
    )
    with pytest.raises(tools.EditError):
        await tools.update_organization(
            session,
            app.clock,
            org_id="mos-women-violence-hotline",
            region_code=TAM,
            changes={"capacity": 1},
            view=app.catalogue.view,
            user_id=None,
        )
    access = tools.ManagerAccess(False, (TAM,), None)
    assert tools.choose_region(access, "ru-mos", app.catalogue.view.regions) == (
        tools.RegionChoice.FORBIDDEN,
        MOS,
    )
    assert tools.choose_region(access, None, app.catalogue.view.regions) == (
        tools.RegionChoice.OK,
        TAM,
    )


def test_profile_needs() -> None:
    profile = {
        "children": [{"age_years": 0.5}, {"age_years": 7, "disabled": True}, {"age_years": 12}],
        "pregnant": True,
        "income_per_person": 9000,
        "employed": False,
    }
    assert announcements.needs_from_profile(profile, 15000) == {
        "pregnancy",
        "newborn",
        "child_0_3",
        "child_3_17",
        "large_family",
        "disabled_child",
        "parent_employment",
        "low_income",
    }


def test_profile_needs_from_an_income_button() -> None:
    below = {"income_range_pm": [0, 1]}
    assert announcements.needs_from_profile(below, 15000) == {"low_income"}
    assert announcements.needs_from_profile({"income_range_pm": [1, 2]}, 15000) == set()
