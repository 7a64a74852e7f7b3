"""Command line (docs/contract.md): run, demo, db, content, search, match, digest, admin, jobs."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from bot.config import Settings, SettingsError, load_settings
from db.enums import Channel

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Семейный навигатор — family-support cluster bot. "
        "Run it from the project's environment: .venv/bin/python -m bot COMMAND.",
        epilog="Commands, JSON shapes and settings: docs/contract.md in the repository.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="start the bot (long polling by default)",
        description="start the bot (long polling by default)",
    )
    run.add_argument("--webhook", action="store_true", help="receive updates by webhook")

    demo = sub.add_parser(
        "demo",
        help="chat with the bot in the terminal, no Telegram needed",
        description="chat with the bot in the terminal, no Telegram needed",
    )
    demo.add_argument("--database", help="database URL (default: a fresh SQLite file)")

    db = sub.add_parser("db", help="database maintenance", description="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser(
        "upgrade",
        help="apply migrations up to the latest revision",
        description="apply migrations up to the latest revision",
    )

    content = sub.add_parser(
        "content", help="the catalogue in content/", description="the catalogue in content/"
    )
    content_sub = content.add_subparsers(dest="content_command", required=True, metavar="ACTION")
    for name, text in (
        ("check", "validate the catalogue; one line per problem"),
        ("load", "upsert the catalogue into the DB (idempotent)"),
    ):
        action = content_sub.add_parser(name, help=text, description=text)
        action.add_argument("dir", nargs="?", type=Path, help="content directory")
        if name == "load":
            action.add_argument(
                "--with-demo",
                action="store_true",
                help="also load the fictional demo entries (demo: true); never in production",
            )

    search = sub.add_parser(
        "search", help="ranked catalogue search", description="ranked catalogue search"
    )
    search.add_argument("text")
    search.add_argument("--region", help="region code such as RU-TAM")
    search.add_argument("--limit", type=int, default=10)
    search.add_argument("--json", action="store_true")

    match = sub.add_parser(
        "match",
        help="screener verdicts for a family profile",
        description="screener verdicts for a family profile",
    )
    match.add_argument("--profile", required=True, type=Path, help="JSON file (docs/contract.md)")
    match.add_argument(
        "--date",
        type=_iso_date,
        help="evaluation day YYYY-MM-DD: ages and pregnancy weeks are counted on it "
        "(default: today)",
    )
    match.add_argument("--json", action="store_true")
    match.add_argument("--lang", choices=("ru", "en"), default="ru")

    digest = sub.add_parser(
        "digest",
        help="build a region's weekly digest",
        description="build a region's weekly digest",
    )
    digest.add_argument("--region", required=True, help="region code such as RU-TAM")
    digest.add_argument("--week", help="ISO week YYYY-Www (default: the last completed week)")
    digest.add_argument("--format", choices=("text", "json", "xlsx"), default="text")
    digest.add_argument(
        "--out",
        type=Path,
        help="write to this file (default: stdout; xlsx: data/digest-REGION-WEEK.xlsx)",
    )
    digest.add_argument("--lang", choices=("ru", "en"), default="ru", help="text language")

    admin = sub.add_parser(
        "admin", help="bootstrap roles and invites", description="bootstrap roles and invites"
    )
    admin_sub = admin.add_subparsers(dest="admin_command", required=True, metavar="ACTION")
    grant = admin_sub.add_parser(
        "grant",
        help="give a person a manager or admin role",
        description="give a person a manager or admin role",
    )
    grant.add_argument(
        "--telegram-id",
        "--id",
        dest="messenger_id",
        type=int,
        required=True,
        help="the person's id in the messenger of --channel",
    )
    grant.add_argument("--role", choices=("manager", "admin"), required=True)
    grant.add_argument("--region", help="region code (required for manager)")
    grant.add_argument(
        "--channel",
        choices=[channel.value for channel in Channel],
        default=Channel.TELEGRAM.value,
        help="the messenger the id belongs to (default telegram)",
    )
    invite = admin_sub.add_parser(
        "invite",
        help="print an invite deep link for an organisation",
        description="print an invite deep link for an organisation",
    )
    invite.add_argument("--org", required=True, help="organisation id")
    invite.add_argument("--role", choices=("volunteer", "coordinator"), default="volunteer")

    jobs = sub.add_parser(
        "jobs",
        help="the scheduled jobs: list them, run one now",
        description="the scheduled jobs: list them, run one now",
    )
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    jobs_sub.add_parser(
        "list",
        help="every scheduled job with its schedule",
        description="every scheduled job with its schedule",
    )
    run_job = jobs_sub.add_parser(
        "run",
        help="run one job once, now, as the scheduler would",
        description="run one job once, now, as the scheduler would",
    )
    run_job.add_argument("name", help="job name (see `jobs list`)")
    run_job.add_argument(
        "--date",
        type=_iso_date,
        help="act as of this day YYYY-MM-DD, 12:00 UTC (default: now)",
    )
    return parser


def _command(args: argparse.Namespace) -> Command:
    # Imported here, not at the top: the commands load aiogram, SQLAlchemy and the catalogue
    # (seconds), and `--help` or a mistyped argument should answer at once. It hides no
    # cycle: import-linter's layers contract keeps `bot.commands` from importing `bot.cli`.
    from bot import commands, digest_cli, jobs_cli

    table: dict[str, Command] = {
        "run": commands.cmd_run,
        "demo": commands.cmd_demo,
        "db": commands.cmd_db_upgrade,
        "search": commands.cmd_search,
        "match": commands.cmd_match,
        "digest": digest_cli.cmd_digest,
    }
    if args.command == "content":
        return (
            commands.cmd_content_check
            if args.content_command == "check"
            else (commands.cmd_content_load)
        )
    if args.command == "jobs":
        return jobs_cli.cmd_jobs_list if args.jobs_command == "list" else jobs_cli.cmd_jobs_run
    if args.command == "admin":
        return (
            commands.cmd_admin_grant
            if args.admin_command == "grant"
            else (commands.cmd_admin_invite)
        )
    return table[args.command]


# `run` waits for the database with retries and `demo` makes its own SQLite file; `content
# check` and `jobs list` read no data. Every other command needs the database from the start.
NO_DATABASE = {"run", "demo"}


class DatabaseUnreachable(Exception):
    """The database at DATABASE_URL cannot be opened; the message is the operator's line."""


def _needs_database(args: argparse.Namespace) -> bool:
    if args.command in NO_DATABASE:
        return False
    if args.command == "jobs":
        return str(args.jobs_command) != "list"
    return not (args.command == "content" and args.content_command == "check")


async def check_database(url: str) -> None:
    """Open one connection, so a wrong or absent database is one line instead of a traceback
    from deep inside the first query."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from db.engine import create_engine

    engine = None
    try:
        engine = create_engine(url)  # for SQLite this creates the file's folder
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (OSError, DBAPIError, TimeoutError) as exc:
        reason = str(exc.orig) if isinstance(exc, DBAPIError) else str(exc) or type(exc).__name__
        where = make_url(url).render_as_string(hide_password=True)
        first_line = reason.strip().splitlines()[0] if reason.strip() else type(exc).__name__
        raise DatabaseUnreachable(
            f"cannot open the database {where} (DATABASE_URL): {first_line}"
        ) from None
    finally:
        if engine is not None:
            await engine.dispose()


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    if _needs_database(args):
        await check_database(settings.database_url)
    return await _command(args)(args, settings)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # aiosqlite logs every statement with its parameters at DEBUG: people's texts.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    if settings.log_level != "DEBUG":
        # Alembic narrates every plugin it sets up at INFO; operators need only its warnings.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return asyncio.run(_run(args, settings))
    except DatabaseUnreachable as exc:
        print(exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `python -m bot search … | head` closed the pipe: not an error of ours.
        sys.stderr.close()
        return 0
