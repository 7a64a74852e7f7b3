"""The CLI's commands; each returns a process exit code."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select

from bot.app import App, build_app
from bot.bootstrap import CatalogueInvalid, load_content, prepare
from bot.config import Settings
from core import people
from core.catalogue.active import CatalogueView
from core.catalogue.files import read_catalogue
from core.screener import (
    FamilyProfile,
    MeasureVerdict,
    group_by_need,
    match_json,
    render_reason,
    screen,
)
from core.texts import Texts
from db import migrate, models
from db.enums import Channel, Role

log = logging.getLogger(__name__)

NO_TOKEN = """\
BOT_TOKEN is not set, so the bot cannot connect to Telegram.

To get a token: open @BotFather in Telegram, send /newbot, follow the steps and copy the token.
Then put it in .env (BOT_TOKEN=123456:ABC...) or the environment and run again.

To try the bot right now without Telegram: python -m bot demo
"""


def print_json(data: object) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


async def _with_app(settings: Settings, *, ready: bool = True) -> App:
    app = build_app(settings)
    if ready:
        await prepare(app)
    return app


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    if settings.bot_token is None and settings.max_bot_token is None:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    from bot.runner import run_bot

    # run_bot migrates and loads the catalogue itself, with retries and the migration lock.
    app = await _with_app(settings, ready=False)
    try:
        await run_bot(app, webhook=args.webhook)
    finally:
        await app.close()
    return 0


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.demo import run_demo

    return await run_demo(settings, args.database)


async def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    app = build_app(settings)
    try:
        await migrate.upgrade(app.engine)
    finally:
        await app.close()
    print("database is at the latest revision")
    return 0


def _content_dir_problem(directory: Path) -> str | None:
    """One line for a content directory that is not one, instead of a line per missing file."""
    if directory.is_file():
        return f"{directory} is a file: give the content directory (the one with regions.yaml)"
    if not directory.is_dir():
        return f"{directory}: no such directory"
    if not (directory / "regions.yaml").is_file():
        return f"{directory} has no regions.yaml: not a content directory"
    return None


async def cmd_content_check(args: argparse.Namespace, settings: Settings) -> int:
    directory = args.dir or settings.content_dir
    problem = _content_dir_problem(directory)
    if problem is not None:
        print(f"content check: {problem}", file=sys.stderr)
        return 2
    catalogue = read_catalogue(directory)
    problems = [str(p) for p in catalogue.problems]
    if directory == settings.content_dir or (directory / "texts").is_dir():
        try:
            problems += Texts.load(directory).problems()
        except (OSError, ValueError) as exc:
            problems.append(f"texts: (file): (file): {exc}")
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(
        f"ok: {len(catalogue.regions)} regions, {len(catalogue.needs)} needs, "
        f"{len(catalogue.measures)} measures, {len(catalogue.organizations)} organizations"
    )
    return 0


async def cmd_content_load(args: argparse.Namespace, settings: Settings) -> int:
    problem = _content_dir_problem(args.dir) if args.dir is not None else None
    if problem is not None:
        print(f"content load: {problem}", file=sys.stderr)
        return 2
    app = build_app(settings)
    try:
        await migrate.upgrade(app.engine)
        report = await load_content(app, args.dir, with_demo=args.with_demo)
    except CatalogueInvalid as exc:
        for problem in exc.problems:
            print(problem)
        print("nothing loaded: fix the problems above", file=sys.stderr)
        return 1
    finally:
        await app.close()
    print(report.summary())
    return 0


async def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    app = await _with_app(settings)
    try:
        view = app.catalogue.view
        if args.region and args.region not in view.regions:
            print(
                f"unknown region {args.region!r}; known: {', '.join(view.regions)}",
                file=sys.stderr,
            )
            return 2
        hits = view.index.search(args.text, args.region, max(1, min(args.limit, 100)))
    finally:
        await app.close()
    if args.json:
        print_json(
            {
                "results": [
                    {"id": h.id, "kind": h.kind, "title": h.title, "score": h.score} for h in hits
                ]
            }
        )
    elif not hits:
        print("nothing found")
    else:
        for h in hits:
            print(f"{h.score:8.3f}  {h.kind:<12}  {h.id:<40}  {h.title}")
    return 0


def match_verdicts(
    view: CatalogueView, profile: FamilyProfile, today: dt.date
) -> list[MeasureVerdict]:
    """`match`: the family's verdicts on `today` for federal and its region's measures."""
    return screen(view.measures.values(), profile, view.regions, today)


async def cmd_match(args: argparse.Namespace, settings: Settings) -> int:
    try:
        profile = FamilyProfile.model_validate(
            json.loads(args.profile.read_text(encoding="utf-8"))
        )
    except OSError as exc:
        print(f"cannot read {args.profile}: {exc.strerror}", file=sys.stderr)
        return 2
    except json.JSONDecodeError as exc:
        print(
            f"bad profile {args.profile}: not JSON ({exc.msg}, line {exc.lineno})", file=sys.stderr
        )
        return 2
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "(profile)"
        print(f"bad profile {args.profile}: {where}: {error['msg']}", file=sys.stderr)
        return 2
    app = await _with_app(settings)
    try:
        view = app.catalogue.view
        if profile.region is not None and profile.region not in view.regions:
            print(f"unknown region {profile.region!r}", file=sys.stderr)
            return 2
        today = args.date or app.clock.now().date()
        verdicts = match_verdicts(view, profile, today)
        t = app.texts.get(args.lang)
    finally:
        await app.close()
    if args.json:
        print_json(match_json(verdicts, t))
        return 0
    for need, group in group_by_need(verdicts, view.measures):
        title = view.needs[need].title if need in view.needs else need
        print(f"== {title}")
        for v in group:
            label = t(f"screener.verdict.{v.verdict.value}")
            print(f"  [{label}] {view.measures[v.measure_id].title}")
            for reason in v.reasons:
                print(f"      - {render_reason(reason, t)}")
    return 0


async def cmd_admin_grant(args: argparse.Namespace, settings: Settings) -> int:
    role = Role(args.role)
    app = await _with_app(settings)
    try:
        if role is Role.MANAGER and args.region not in app.catalogue.view.regions:
            known = ", ".join(app.catalogue.view.regions)
            print(f"--region must be one of: {known}", file=sys.stderr)
            return 2
        if args.region is not None and args.region not in app.catalogue.view.regions:
            print(f"unknown region {args.region!r}", file=sys.stderr)
            return 2
        async with app.session_factory() as session:
            await people.grant_role(
                session,
                app.clock,
                messenger_id=args.messenger_id,
                role=role,
                region_code=args.region,
                channel=args.channel,
            )
    finally:
        await app.close()
    where = f" of {args.region}" if args.region else ""
    print(f"{args.channel} id {args.messenger_id} is now {role.value}{where}")
    return 0


async def cmd_admin_invite(args: argparse.Namespace, settings: Settings) -> int:
    app = await _with_app(settings)
    try:
        async with app.session_factory() as session:
            org = await session.get(models.Organization, args.org)
            if org is None or not org.active:
                ids = await session.scalars(
                    select(models.Organization.id).where(models.Organization.active)
                )
                print(
                    f"unknown organization {args.org!r}; known: {', '.join(ids)}", file=sys.stderr
                )
                return 2
            invite = await people.create_invite(
                session,
                app.clock,
                role=Role(args.role),
                organization_id=org.id,
                region_code=org.region_code,
            )
            username = await _bot_username(app)
            max_username = await _max_username(app) if settings.max_bot_token else None
    finally:
        await app.close()
    from bot.deeplinks import start_link

    print(start_link(Channel.TELEGRAM, username, f"join-{invite.token}"))
    if max_username is not None:  # the same invite opens the bot on MAX too
        print(start_link(Channel.MAX, max_username, f"join-{invite.token}"))
    print(f"valid until {invite.expires_at:%Y-%m-%d %H:%M} UTC, single use", file=sys.stderr)
    return 0


async def _max_username(app: App) -> str:
    """The MAX bot's link name, asked of MAX; a placeholder when MAX does not answer."""
    from bot.max import create_max_bot

    bot = create_max_bot(app.settings, app.session_factory, app.clock)
    try:
        me = await bot.get_me()
        return me.username or "YOUR_MAX_BOT"
    except Exception as exc:
        log.warning("could not ask MAX for the bot name: %s", type(exc).__name__)
        return "YOUR_MAX_BOT"
    finally:
        await bot.session.close()


async def _bot_username(app: App) -> str:
    """The bot's @username for the link; without a token (or offline) a placeholder."""
    if app.settings.bot_token is None:
        return "YOUR_BOT"
    from bot.factory import create_bot

    bot = create_bot(app.settings)
    try:
        me = await bot.get_me()
        return me.username or "YOUR_BOT"
    except Exception as exc:  # the link is still useful with a placeholder name
        log.warning("could not ask Telegram for the bot name: %s", type(exc).__name__)
        return "YOUR_BOT"
    finally:
        await bot.session.close()
