"""One `run` per SQLite file: an OS lock on `<database>.lock` next to the database.

Two processes on one SQLite file would both drain the outbox (every notification twice) and
both run the scheduler (the leader election is a PostgreSQL advisory lock; SQLite has none).
The lock is flock(2): the kernel drops it when the process dies, even by kill -9, so a stale
file never blocks a restart. PostgreSQL needs no such lock (replicas are supported there).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.retry import StartupError


def sqlite_path(database_url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL or an in-memory database."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).resolve()


@contextlib.contextmanager
def single_instance(database_url: str) -> Iterator[Path | None]:
    """Hold the database's lock file while running; StartupError if another process has it."""
    path = sqlite_path(database_url)
    if path is None:
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise StartupError(
                f"another `run` (pid {holder}) already uses {path}: stop it first "
                "(two on one SQLite file would send every notification twice)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield lock_path
    finally:
        os.close(fd)  # closing releases the lock
