"""Bulk inserts for the benchmarks' fills: executemany on SQLite, COPY on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

Row = tuple[Any, ...]


async def insert_sqlite(conn: Any, table: str, columns: Sequence[str], rows: list[Row]) -> None:
    """executemany through SQLAlchemy's connection, in the caller's transaction."""
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    # The stored form of UTCDateTime on SQLite: naive UTC text.
    prepared = [
        tuple(f"{v:%Y-%m-%d %H:%M:%S.%f}" if isinstance(v, dt.datetime) else v for v in row)
        for row in rows
    ]
    await conn.exec_driver_sql(sql, prepared)


async def copy_postgres(conn: Any, table: str, columns: Sequence[str], rows: list[Row]) -> None:
    """COPY through an asyncpg connection."""
    prepared = [
        tuple(v.replace(tzinfo=dt.UTC) if isinstance(v, dt.datetime) else v for v in row)
        for row in rows
    ]
    await conn.copy_records_to_table(table, records=prepared, columns=list(columns))
