"""The scheduled jobs in one registry (bot/jobs.py): what the leader schedules, what a run does,
and `python -m bot jobs run` doing the same as the scheduled run."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.config import Settings
from bot.factory import create_bot
from bot.jobs import (
    JOBS,
    RETENTION_JOB_ID,
    Every,
    Job,
    JobContext,
    job_named,
    schedule_all,
    start_jobs,
)
from bot.jobs_cli import cmd_jobs_list, cmd_jobs_run
from bot.local_session import LocalSession
from bot.scheduler import RecordingJobs
from bot.sla import SlaTimers
from core import people
from core.clock import FrozenClock
from db import models
from db.enums import Role

MANAGERS = (7301, 7302)


def recording(app: App) -> tuple[App, RecordingJobs]:
    """The app with a scheduler of its own, so scheduling here leaves the suite's untouched."""
    jobs = RecordingJobs()
    timers = SlaTimers(jobs, app.session_factory, app.clock, app.catalogue, app.sla, app.notifier)
    return dataclasses.replace(app, jobs=jobs, timers=timers), jobs


def cli_args(name: str, date: dt.date | None = None) -> argparse.Namespace:
    return argparse.Namespace(command="jobs", jobs_command="run", name=name, date=date)


async def old_search(session: AsyncSession, at: dt.datetime) -> int:
    row = models.SearchLog(at=at, region_code="RU-TAM", kind="search", query="пособие", results=3)
    session.add(row)
    await session.commit()
    return row.id


async def search_text(session: AsyncSession, row_id: int) -> str:
    session.expire_all()
    text = await session.scalar(
        select(models.SearchLog.query).where(models.SearchLog.id == row_id)
    )
    assert text is not None
    return text


async def test_the_leader_schedules_every_registered_job(app: App) -> None:
    replica, jobs = recording(app)
    await start_jobs(replica, create_bot(app.settings, session=LocalSession()))
    regions = [f"digest:monday:{code}" for code in app.catalogue.view.regions]
    assert set(jobs.jobs) == {
        "sla:sweep",
        "digest:deliver",
        "digest:catch-up",
        *regions,
        "manager:broadcasts",
        "manager:verify-monthly",
        "retention:daily",
        "reminders:daily",
    }
    assert jobs.jobs["sla:sweep"].seconds == 300
    assert jobs.jobs["manager:broadcasts"].seconds == 10
    assert jobs.jobs[RETENTION_JOB_ID].cron == {"timezone": "Europe/Moscow", "hour": 3}
    assert jobs.jobs["digest:catch-up"].when == app.clock.now()
    assert {job.name for job in JOBS} == {
        "sla-sweep",
        "digests",
        "broadcasts",
        "verification",
        "retention",
        "reminders",
    }


async def test_the_scheduled_retention_and_the_cli_run_clear_the_same_search(
    app: App, session: AsyncSession, clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    replica, jobs = recording(app)
    retention = job_named("retention")
    assert retention is not None
    schedule_all(JobContext(replica), [retention])
    scheduled = await old_search(session, clock.now() - dt.timedelta(days=91))
    await jobs.run(RETENTION_JOB_ID)
    assert await search_text(session, scheduled) == "", "91 days old: cleared"

    # The CLI, as of a day: 89 days after the search it stays, 91 days after it goes.
    searched = dt.datetime(2026, 9, 1, 10, 0, tzinfo=dt.UTC)
    by_cli = await old_search(session, searched)
    assert await cmd_jobs_run(cli_args("retention", dt.date(2026, 11, 29)), app.settings) == 0
    assert capsys.readouterr().out == "retention: 0 done as of 2026-11-29 12:00 UTC\n"
    assert await search_text(session, by_cli) == "пособие"
    assert await cmd_jobs_run(cli_args("retention", dt.date(2026, 12, 1)), app.settings) == 0
    assert capsys.readouterr().out == "retention: 1 done as of 2026-12-01 12:00 UTC\n"
    assert await search_text(session, by_cli) == ""


async def test_jobs_run_digests_sends_last_weeks_digest_once(
    app: App, session: AsyncSession, capsys: pytest.CaptureFixture[str]
) -> None:
    for messenger_id in MANAGERS:
        await people.grant_role(
            session, app.clock, messenger_id=messenger_id, role=Role.MANAGER, region_code="RU-TAM"
        )
    await session.commit()
    local = LocalSession()
    bot = create_bot(app.settings, session=local)
    monday = cli_args("digests", dt.date(2026, 11, 30))

    assert await cmd_jobs_run(monday, app.settings, bot=bot) == 0
    assert capsys.readouterr().out == "digests: 2 done as of 2026-11-30 12:00 UTC\n"
    for messenger_id in MANAGERS:
        sent = local.chats[messenger_id]
        assert [m.kind for m in sent] == ["text", "photo", "document"], messenger_id
        assert "2026-W48" in sent[0].text
    weeks = await session.scalars(
        select(models.Digest.week).where(models.Digest.region_code == "RU-TAM")
    )
    assert list(weeks) == ["2026-W48"]

    assert await cmd_jobs_run(monday, app.settings, bot=bot) == 0
    assert capsys.readouterr().out == "digests: 0 done as of 2026-11-30 12:00 UTC\n"
    assert len(local.chats[MANAGERS[0]]) == 3, "delivered once, as the scheduled runs"


async def test_jobs_run_explains_an_unknown_job_and_a_missing_token(
    app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cmd_jobs_run(cli_args("reminderz"), app.settings) == 2
    err = capsys.readouterr().err
    assert err.startswith("jobs run: unknown job 'reminderz'; known: sla-sweep, digests, ")
    assert err.count("\n") == 1

    no_token = Settings(
        database_url=app.settings.database_url, content_dir=app.settings.content_dir
    )
    assert no_token.bot_token is None
    assert await cmd_jobs_run(cli_args("digests"), no_token) == 2
    assert (
        capsys.readouterr().err == "jobs run digests: it sends through Telegram; set BOT_TOKEN\n"
    )


async def test_jobs_list_names_every_job_with_its_schedule(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await cmd_jobs_list(argparse.Namespace(), Settings()) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [job.name for job in JOBS]
    assert "Mondays 09:00 region time" in lines[1] and "(talks to Telegram)" in lines[1]


async def test_a_failing_run_is_logged_when_scheduled_and_one_line_from_the_cli(
    app: App,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def fail(ctx: JobContext, now: dt.datetime) -> int:
        raise ConnectionError("database went away")

    boom = Job("boom", "fails", "every second", lambda app: [Every("boom", 1)], fail)
    replica, jobs = recording(app)
    schedule_all(JobContext(replica), [boom])
    with caplog.at_level(logging.ERROR, logger="bot.jobs"):
        await jobs.run("boom")  # does not raise: the next run tries again
    assert [r.getMessage() for r in caplog.records] == ["job boom failed"]

    # Registering a job is one entry in JOBS; the CLI finds it there.
    monkeypatch.setattr("bot.jobs.JOBS", (*JOBS, boom))
    assert await cmd_jobs_run(cli_args("boom"), app.settings) == 1
    assert capsys.readouterr().err == "jobs run boom: failed: ConnectionError\n"
