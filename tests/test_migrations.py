"""Stairway: every revision upgrades, downgrades and upgrades again; head matches the models."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import db.models  # noqa: F401  (registers every table on Base.metadata)
from db import migrate
from db.base import Base
from db.engine import create_engine

Snapshot = dict[str, dict[str, Any]]


@pytest.fixture
async def own_database_url(tmp_path: Path) -> AsyncIterator[str]:
    """A database nobody else touches: a SQLite file, or a throw-away PostgreSQL database."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite+aiosqlite:///{tmp_path / 'stairway.sqlite3'}"
        return
    url = make_url(base)
    name = f"navigator_stairway_{uuid.uuid4().hex[:12]}"
    # CREATE/DROP DATABASE cannot run inside a transaction.
    admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def engine(own_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(own_database_url)
    yield engine
    await engine.dispose()


def _snapshot(connection: Connection) -> Snapshot:
    """Tables with their columns, indexes, unique and foreign keys, as the database has them."""
    inspector = inspect(connection)
    snapshot: Snapshot = {}
    for table in sorted(inspector.get_table_names()):
        snapshot[table] = {
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ),
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (str(i["name"]), tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                (str(u["name"]), tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
            "foreign_keys": sorted(
                (
                    str(f["name"]),
                    tuple(f["constrained_columns"]),
                    f["referred_table"],
                    tuple(f["referred_columns"]),
                )
                for f in inspector.get_foreign_keys(table)
            ),
        }
    return snapshot


async def snapshot(engine: AsyncEngine) -> Snapshot:
    async with engine.connect() as conn:
        return await conn.run_sync(_snapshot)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


def _model_diffs(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


def test_revisions_form_one_line_from_base() -> None:
    revisions = migrate.revisions()
    assert revisions[0] == "0001"
    assert len(set(revisions)) == len(revisions)


async def test_stairway_upgrade_downgrade_upgrade_every_revision(engine: AsyncEngine) -> None:
    empty = await snapshot(engine)
    assert empty == {}

    previous: str | None = None
    previous_schema = empty
    for revision in migrate.revisions():
        await migrate.upgrade(engine, revision)
        assert await current_revision(engine) == revision
        upgraded = await snapshot(engine)

        await migrate.downgrade(engine, previous or "base")
        assert await current_revision(engine) == previous
        after_downgrade = await snapshot(engine)
        if previous is None:
            # Only Alembic's bookkeeping table may survive a downgrade to base.
            assert set(after_downgrade) <= {"alembic_version"}, sorted(after_downgrade)
        else:
            assert after_downgrade == previous_schema, f"downgrade of {revision} is incomplete"

        await migrate.upgrade(engine, revision)
        assert await current_revision(engine) == revision
        assert await snapshot(engine) == upgraded, f"{revision} upgrades differently twice"
        previous, previous_schema = revision, upgraded


async def head_diffs(engine: AsyncEngine) -> list[Any]:
    await migrate.upgrade(engine)
    async with engine.connect() as conn:
        return await conn.run_sync(_model_diffs)


async def test_schema_at_head_matches_the_models(engine: AsyncEngine) -> None:
    assert await head_diffs(engine) == []
    tables = set(await snapshot(engine))
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
