"""Start-up steps shared by `run`, `demo` and the CLI: migrate, make sure a catalogue exists."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import func, select

from bot.app import App
from core.catalogue.files import read_catalogue
from core.catalogue.loader import LoadReport, load_catalogue
from core.reminders import new_help
from db import migrate, models

log = logging.getLogger(__name__)


class CatalogueInvalid(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the catalogue")
        self.problems = problems


async def load_content(
    app: App, directory: Path | None = None, *, with_demo: bool = False
) -> LoadReport:
    """Validate and upsert the YAML catalogue, then swap the in-memory view.

    Demo entries (`demo: true`) are loaded only `with_demo`; without it, any already in the
    database are deactivated.
    """
    catalogue = read_catalogue(directory or app.settings.content_dir, app.clock.now().date())
    if catalogue.problems:
        raise CatalogueInvalid([str(p) for p in catalogue.problems])
    async with app.session_factory() as session:
        before = await new_help.active_measures(session)
        report = await load_catalogue(session, catalogue, with_demo=with_demo)
        await new_help.announce_new_help(session, app.clock, before)
        await session.commit()
    await app.catalogue.refresh()
    return report


async def prepare(app: App, *, with_demo: bool = False) -> None:
    """Migrate, load the catalogue on an empty DB, and read it into memory.

    A non-empty catalogue is left alone: a manager's spreadsheet import must survive restarts;
    operators apply new content files with `content load`.
    """
    await migrate.upgrade(app.engine)
    async with app.session_factory() as session:
        measures = await session.scalar(select(func.count()).select_from(models.Measure))
    if not measures:
        report = await load_content(app, with_demo=with_demo)
        log.info("catalogue loaded into an empty database: %s", report.summary())
    else:
        await app.catalogue.refresh()
