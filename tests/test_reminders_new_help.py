"""New help: a manager's import (or `content load`) that makes a measure fit a family's saved
profile tells that family once, and nobody else."""

from __future__ import annotations

import copy
import datetime as dt
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.bootstrap import load_content
from bot.local_chat import LocalChat
from core import people
from core.catalogue import sheet
from core.clock import FrozenClock
from db import models
from tests.conftest import CONTENT
from tests.test_reminders import BABY, MUTE, family, reminders_seen

Deliver = Callable[[], Awaitable[int]]
NEW_ID = "tam-new-help-test"
TITLE = "Пособие на малыша до трёх лет (тестовая мера)"
TAMBOV_MEASURES: list[dict[str, Any]] = yaml.safe_load(
    (CONTENT / "measures" / "RU-TAM.yaml").read_text(encoding="utf-8")
)["measures"]


@pytest.fixture
async def restored(app: App) -> AsyncIterator[None]:
    """The suite keeps the catalogue between tests: take the test measure out again."""
    yield
    async with app.engine.begin() as conn:
        await conn.execute(
            delete(models.MeasureNeed).where(models.MeasureNeed.measure_id == NEW_ID)
        )
        await conn.execute(delete(models.Measure).where(models.Measure.id == NEW_ID))
    await load_content(app, with_demo=True)


def tambov_file(rules: dict[str, Any], summary: str = "Тестовая мера для малышей.") -> bytes:
    entry = copy.deepcopy(TAMBOV_MEASURES[2])  # tam-newborn-5000 as a template
    entry.pop("apply_within", None)
    entry.update(id=NEW_ID, title=TITLE, summary=summary)
    entry["eligibility"]["rules"] = rules
    return yaml.safe_dump({"measures": [*TAMBOV_MEASURES, entry]}, allow_unicode=True).encode()


async def import_tambov(app: App, session: AsyncSession, data: bytes) -> None:
    result = await sheet.apply_import(
        session,
        app.clock,
        raw=sheet.read_yaml(data),
        region_code="RU-TAM",
        view=app.catalogue.view,
        user_id=None,
    )
    assert result.problems == []
    await app.catalogue.refresh()


async def test_an_import_adding_a_fitting_measure_tells_only_the_families_it_fits(
    app: App,
    chat: LocalChat,
    session: AsyncSession,
    clock: FrozenClock,
    deliver: Deliver,
    restored: None,
) -> None:
    fits = await family(chat, session, clock, 4201, BABY)
    childless = await family(chat, session, clock, 4202, {"children": []})
    moscow = await family(chat, session, clock, 4203, BABY, region="Московская область")
    no_consent = await family(chat, session, clock, 4204, BABY, reminders=False)
    muted = await family(chat, session, clock, 4205, BABY)
    user = await people.get_user(session, 4205)
    assert user is not None
    session.add(models.ReminderMute(user_id=user.id, kind="new_help", muted_at=clock.now()))
    await session.commit()

    await import_tambov(app, session, tambov_file({"child": {"age_under": 3}}))
    await deliver()
    assert reminders_seen(fits) == [
        "🆕 В каталоге появилась помощь, которая, похоже, подходит вам по сохранённым ответам:\n"
        f"• {TITLE}"
    ]
    assert fits.last_reply().button_texts == [f"📌 {TITLE}", MUTE, "Отключить все напоминания"]
    for other in (childless, moscow, no_consent, muted):
        assert reminders_seen(other) == []

    # The card opens from the message.
    await fits.click(f"📌 {TITLE}")
    assert TITLE in fits.last_text

    # The same file again, and a change that does not make it fit anyone new: nothing more.
    await import_tambov(app, session, tambov_file({"child": {"age_under": 3}}))
    await import_tambov(
        app, session, tambov_file({"child": {"age_under": 3}}, summary="Другое описание.")
    )
    await deliver()
    assert len(reminders_seen(fits)) == 1
    assert reminders_seen(childless) == []

    # A change that now fits the childless family too (no rules: "maybe" for everyone):
    # it hears once; the family it already fitted hears nothing new.
    await import_tambov(app, session, tambov_file({}))
    await deliver()
    assert len(reminders_seen(childless)) == 1
    assert len(reminders_seen(fits)) == 1
    for other in (moscow, no_consent, muted):
        assert reminders_seen(other) == []
    rows = await session.scalar(
        select(func.count())
        .select_from(models.ReminderSent)
        .where(models.ReminderSent.kind == "new_help")
    )
    assert rows == 2


async def test_content_load_tells_about_new_help_too(
    app: App,
    chat: LocalChat,
    session: AsyncSession,
    clock: FrozenClock,
    deliver: Deliver,
    restored: None,
    tmp_path: Path,
) -> None:
    fits = await family(chat, session, clock, 4210, BABY)
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    (content / "measures" / "RU-TAM.yaml").write_bytes(tambov_file({"child": {"age_under": 3}}))
    clock._now = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    await load_content(app, content, with_demo=True)
    await load_content(app, content, with_demo=True)
    await deliver()
    assert len(reminders_seen(fits)) == 1
    assert TITLE in reminders_seen(fits)[0]
