"""Applying a checked file in one transaction, recorded so that it can be restored."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import record_audit
from core.catalogue.active import CatalogueView
from core.catalogue.edit import (
    ApplySummary,
    apply_entries,
    entries_from_json,
    region_entries,
    snapshot_json,
)
from core.catalogue.sheet.check import import_context, validate
from core.catalogue.sheet.read import ImportProblem, RawFile
from core.clock import Clock
from db.models.manager import CatalogueImport


@dataclass(frozen=True)
class ImportResult:
    problems: list[ImportProblem] = field(default_factory=list)
    summary: ApplySummary | None = None
    import_id: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.summary is not None


def region_today(view: CatalogueView, region_code: str, clock: Clock) -> dt.date:
    return clock.now().astimezone(ZoneInfo(view.regions[region_code].timezone)).date()


async def apply_import(
    session: AsyncSession,
    clock: Clock,
    *,
    raw: RawFile,
    region_code: str,
    view: CatalogueView,
    user_id: int | None,
) -> ImportResult:
    """Validate the whole file; apply it (one transaction) only if nothing is wrong.

    The caller refreshes the in-memory catalogue after a result with changes.
    """
    ctx = await import_context(
        session, region_code=region_code, view=view, today=region_today(view, region_code, clock)
    )
    plan = validate(raw, ctx)
    if plan.problems:
        return ImportResult(problems=plan.problems)
    summary = await apply_entries(session, region_code, plan.desired, ctx.current)
    if not summary.touched:
        await session.rollback()
        return ImportResult(summary=summary)
    after = await region_entries(session, region_code)
    record = CatalogueImport(
        region_code=region_code,
        user_id=user_id,
        created_at=clock.now(),
        kind="import",
        source=raw.source,
        summary=summary.as_json(),
        previous=snapshot_json(ctx.current),
        new=snapshot_json(after),
    )
    session.add(record)
    await session.flush()
    record_audit(
        session, clock, user_id, "catalogue_import", {"region": region_code, "id": record.id}
    )
    await session.commit()
    return ImportResult(summary=summary, import_id=record.id)


async def restorable_import(session: AsyncSession, region_code: str) -> CatalogueImport | None:
    """The newest import of the region that has not been undone yet."""
    found: CatalogueImport | None = await session.scalar(
        select(CatalogueImport)
        .where(
            CatalogueImport.region_code == region_code,
            CatalogueImport.kind == "import",
            CatalogueImport.restored_at.is_(None),
        )
        .order_by(CatalogueImport.id.desc())
        .limit(1)
    )
    return found


async def restore_import(
    session: AsyncSession, clock: Clock, *, import_id: int, region_code: str, user_id: int | None
) -> ApplySummary | None:
    """Write back the entries as they were before import `import_id`; None if it is not the
    newest restorable import of that region (a stale or forged button)."""
    latest = await restorable_import(session, region_code)
    if latest is None or latest.id != import_id:
        return None
    current = await region_entries(session, region_code)
    target = entries_from_json(latest.previous)
    summary = await apply_entries(session, region_code, target, current)
    after = await region_entries(session, region_code)
    now = clock.now()
    latest.restored_at = now
    session.add(
        CatalogueImport(
            region_code=region_code,
            user_id=user_id,
            created_at=now,
            kind="restore",
            source="restore",
            summary={**summary.as_json(), "restored_import": latest.id},
            previous=snapshot_json(current),
            new=snapshot_json(after),
        )
    )
    record_audit(
        session, clock, user_id, "catalogue_restore", {"region": region_code, "id": latest.id}
    )
    await session.commit()
    return summary
