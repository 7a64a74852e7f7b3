"""/export and /import: a region's catalogue as a workbook, and a filled one back (or a
restore of the previous import)."""

from __future__ import annotations

import asyncio
import io
import logging
from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.enums import ChatAction
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, Document, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import record_access
from core.catalogue import sheet as catalogue_sheet
from core.catalogue.active import CatalogueHolder
from core.catalogue.edit import KINDS, ApplySummary, region_entries
from core.catalogue.sheet import (
    MAX_FILE_BYTES,
    MAX_UNPACKED_BYTES,
    ImportProblem,
    UnreadableFile,
)
from core.clock import Clock
from core.manager_tools import ManagerAccess
from core.texts import Translator
from db.models.manager import CatalogueImport
from handlers.dialogs import LEAVES_DIALOG, leave_dialog, leaving_dialogs
from handlers.filters import ButtonHandler, shown
from handlers.keyboards import Keyboard
from handlers.manager.shared import answer_long
from handlers.manager_keyboards import ImportAction, ImportCD
from handlers.manager_region import pick_region
from handlers.render import alert, format_date

log = logging.getLogger(__name__)

PROBLEMS_SHOWN = 40


class ImportStates(StatesGroup):
    file = State()


def help_lines(t: Translator) -> list[str]:
    return t("manager.sheet.help").splitlines()


async def cmd_export(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    region = await pick_region(message, access, command.args, t, catalogue.view)
    if region is None:
        return
    if message.bot is not None:
        # "sending a file…" in the chat's header while the workbook is built.
        await message.bot.send_chat_action(message.chat.id, ChatAction.UPLOAD_DOCUMENT)
    entries = await region_entries(session, region)
    data = await asyncio.to_thread(catalogue_sheet.export_workbook, entries, help_lines(t))
    await record_access(
        session, clock, access.user_id, "catalogue_export", details={"region": region}
    )
    day = clock.now().date().isoformat()
    counts = {kind: sum(1 for e in entries[kind].values() if e.active) for kind in KINDS}
    await message.answer_document(
        BufferedInputFile(data, f"catalogue-{region}-{day}.xlsx"),
        caption=t("manager.export.caption", region=region, **counts),
    )


async def cmd_import(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    region = await pick_region(message, access, command.args, t, catalogue.view)
    if region is None:
        return
    await state.set_state(ImportStates.file)
    await state.update_data(mgr_import_region=region)
    previous = await catalogue_sheet.restorable_import(session, region)
    keyboard = None
    if previous is not None:
        kb = Keyboard()
        kb.button(
            text=t(
                "manager.import.restore_button",
                date=format_date(previous.created_at.date(), t.lang),
            ),
            callback_data=ImportCD(action=ImportAction.ASK, import_id=previous.id),
        )
        keyboard = kb.as_markup()
    await message.answer(
        t("manager.import.ask", region=region, limit=MAX_FILE_BYTES // (1024 * 1024)),
        reply_markup=keyboard,
    )


def problem_line(problem: ImportProblem, t: Translator, source: str) -> str:
    key = f"manager.import.reason.{problem.code}"
    params = {"value": "", "region": "", "row": "", "expected": "", "ge": "", "le": ""}
    params.update({k: escape(v) for k, v in problem.params.items()})
    reason = t(key, **params) if key in t.texts.by_language["ru"] else escape(problem.message)
    sheet = t(f"manager.sheet.{problem.sheet}") if problem.sheet in KINDS else problem.sheet
    if problem.row is None:
        return t("manager.import.problem_sheet", sheet=escape(sheet), reason=reason)
    template = "manager.import.problem_entry" if source == "yaml" else "manager.import.problem"
    return t(
        template,
        sheet=escape(sheet),
        row=problem.row,
        column=escape(problem.column),
        reason=reason,
    )


def summary_text(summary: ApplySummary, t: Translator) -> str:
    lines = []
    for kind in KINDS:
        added = summary.added.get(kind, 0)
        changed = summary.changed.get(kind, 0)
        gone = summary.deactivated.get(kind, 0)
        if added or changed or gone:
            lines.append(
                t(
                    "manager.import.summary_line",
                    sheet=t(f"manager.sheet.{kind}"),
                    added=added,
                    changed=changed,
                    deactivated=gone,
                )
            )
    return "\n".join(lines)


async def msg_import_file(
    message: Message,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    document = message.document
    if document is None:
        await message.answer(t("manager.import.send_document"))
        return
    region = (await state.get_data()).get("mgr_import_region")
    if not region or not access.can(region):
        await leave_dialog(state)
        await message.answer(t("manager.forbidden"))
        return
    source = catalogue_sheet.file_source(document.file_name)
    if source is None:
        await message.answer(t("manager.import.wrong_type"))
        return
    if document.file_size is not None and document.file_size > MAX_FILE_BYTES:
        await message.answer(t("manager.import.too_big", limit=MAX_FILE_BYTES // (1024 * 1024)))
        return
    data = await _download(bot, document)
    if data is None:
        await message.answer(t("manager.import.download_failed"))
        return
    try:
        raw = await asyncio.to_thread(catalogue_sheet.read_file, data, document.file_name)
    except UnreadableFile as error:
        if error.code == "size":
            await message.answer(
                t("manager.import.too_big", limit=MAX_FILE_BYTES // (1024 * 1024))
            )
        elif error.code == "unpacked":
            await message.answer(
                t("manager.import.unreadable_unpacked", limit=MAX_UNPACKED_BYTES // (1024 * 1024))
            )
        else:
            await message.answer(t(f"manager.import.unreadable_{error.code}"))
        return
    result = await catalogue_sheet.apply_import(
        session, clock, raw=raw, region_code=region, view=catalogue.view, user_id=access.user_id
    )
    if result.problems:
        lines = [problem_line(p, t, raw.source) for p in result.problems[:PROBLEMS_SHOWN]]
        more = len(result.problems) - PROBLEMS_SHOWN
        if more > 0:
            lines.append(t("manager.import.more", count=more))
        header = t.plural("manager.import.rejected", len(result.problems))
        await answer_long(message, header + "\n\n" + "\n".join(lines))
        return
    await leave_dialog(state)
    summary = result.summary
    if summary is None or not summary.touched or result.import_id is None:
        await message.answer(t("manager.import.unchanged"))
        return
    await catalogue.refresh()
    kb = Keyboard()
    kb.button(
        text=t("manager.import.restore"),
        callback_data=ImportCD(action=ImportAction.ASK, import_id=result.import_id),
    )
    await message.answer(
        t(
            "manager.import.applied",
            region=region,
            added=summary.total_added,
            changed=summary.total_changed,
            deactivated=summary.total_deactivated,
            details=summary_text(summary, t),
        ),
        reply_markup=kb.as_markup(),
    )


async def _download(bot: Bot, document: Document) -> bytes | None:
    buffer = io.BytesIO()
    try:
        await bot.download(document, destination=buffer)
    except Exception as error:  # Telegram or network: say so instead of failing silently
        log.warning("import: download failed (%s)", type(error).__name__)
        return None
    data = buffer.getvalue()
    return data


async def msg_import_not_document(message: Message, t: Translator) -> None:
    if (message.text or "").startswith("/"):
        raise SkipHandler()  # another router's command: let it through
    await message.answer(t("manager.import.send_document"))


async def _import_record(
    callback_data: ImportCD,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    access: ManagerAccess,
    t: Translator,
) -> CatalogueImport | None:
    """The import the button names if the presser manages its region and it is still the
    latest (the only one that can be restored); otherwise a pop-up and None."""
    record = await session.get(CatalogueImport, callback_data.import_id)
    if record is None or not access.can(record.region_code):
        alert(callback_answer, t("manager.forbidden"))
        return None
    latest = await catalogue_sheet.restorable_import(session, record.region_code)
    if latest is None or latest.id != record.id:
        alert(callback_answer, t("manager.import.restore_stale"))
        return None
    return record


async def cb_import_dismiss(
    query: CallbackQuery,
    callback_data: ImportCD,
    message: Message,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    access: ManagerAccess,
    t: Translator,
) -> None:
    record = await session.get(CatalogueImport, callback_data.import_id)
    if record is None or not access.can(record.region_code):
        alert(callback_answer, t("manager.forbidden"))
        return
    await message.edit_reply_markup(reply_markup=None)


async def cb_import_ask(
    query: CallbackQuery,
    callback_data: ImportCD,
    message: Message,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    access: ManagerAccess,
    t: Translator,
) -> None:
    record = await _import_record(callback_data, callback_answer, session, access, t)
    if record is None:
        return
    kb = Keyboard()
    kb.button(
        text=t("manager.import.restore_yes"),
        callback_data=ImportCD(action=ImportAction.CONFIRM, import_id=record.id),
    )
    kb.button(
        text=t("manager.cancel"),
        callback_data=ImportCD(action=ImportAction.DISMISS, import_id=record.id),
    )
    await message.answer(
        t(
            "manager.import.restore_confirm",
            region=record.region_code,
            date=format_date(record.created_at.date(), t.lang),
        ),
        reply_markup=kb.as_markup(),
    )


async def cb_import_confirm(
    query: CallbackQuery,
    callback_data: ImportCD,
    message: Message,
    callback_answer: CallbackAnswer,
    state: FSMContext,
    session: AsyncSession,
    access: ManagerAccess,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    record = await _import_record(callback_data, callback_answer, session, access, t)
    if record is None:
        return
    await leave_dialog(state)
    summary = await catalogue_sheet.restore_import(
        session,
        clock,
        import_id=record.id,
        region_code=record.region_code,
        user_id=access.user_id,
    )
    if summary is None:
        alert(callback_answer, t("manager.import.restore_stale"))
        return
    await catalogue.refresh()
    await message.edit_text(
        t(
            "manager.import.restored",
            region=record.region_code,
            added=summary.total_added,
            changed=summary.total_changed,
            deactivated=summary.total_deactivated,
            details=summary_text(summary, t),
        )
    )


def create_router() -> Router:
    """Behind the toolkit's gate (handlers/manager/__init__.py): every handler gets `access`."""
    router = leaving_dialogs(Router(name=__name__))
    router.message.register(cmd_export, Command("export"), flags=LEAVES_DIALOG)
    router.message.register(cmd_import, Command("import"), flags=LEAVES_DIALOG)
    router.message.register(msg_import_file, StateFilter(ImportStates.file), F.document)
    router.message.register(msg_import_not_document, StateFilter(ImportStates.file))
    buttons: dict[Any, ButtonHandler] = {
        ImportAction.ASK: cb_import_ask,
        ImportAction.CONFIRM: cb_import_confirm,
        ImportAction.DISMISS: cb_import_dismiss,
    }
    for action, handler in buttons.items():
        router.callback_query.register(handler, ImportCD.filter(F.action == action), shown)
    return router
