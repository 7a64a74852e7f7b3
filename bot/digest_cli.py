"""`python -m bot digest`: a region's weekly digest as text, JSON or an XLSX workbook."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.app import build_app
from bot.bootstrap import prepare
from bot.config import Settings
from core.clock import Clock
from core.digest import (
    build_digest,
    need_by_municipality,
    referral_rows,
    region_timezone,
    render_text,
    render_xlsx,
    resolve_week,
    to_plain,
)

FORMATS = ("text", "json", "xlsx")
DATA_DIR = Path("data")


def add_digest_arguments(parser: argparse.ArgumentParser) -> None:
    """The `digest` subcommand's arguments (bot/cli.py adds the subparser)."""
    parser.add_argument("--region", required=True, help="region code such as RU-TAM")
    parser.add_argument("--week", help="ISO week YYYY-Www (default: the last completed week)")
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument("--out", type=Path, help="write to this file instead of stdout")
    parser.add_argument("--lang", choices=("ru", "en"), default="ru")


async def cmd_digest(
    args: argparse.Namespace, settings: Settings, clock: Clock | None = None
) -> int:
    app = build_app(settings, clock=clock)
    try:
        await prepare(app)
        view = app.catalogue.view
        region = str(args.region).upper()
        try:
            tz = region_timezone(view, region)
            week = resolve_week(args.week, now=app.clock.now(), tz=tz)
        except ValueError as exc:
            print(f"digest: {exc}", file=sys.stderr)
            return 2
        lang = getattr(args, "lang", "ru")
        t = app.texts.get(lang)
        async with app.session_factory() as session:
            payload = await build_digest(
                session,
                region_code=region,
                week=week,
                view=view,
                now=app.clock.now(),
                sla_accept_hours=settings.sla_accept_hours,
            )
            if args.format == "xlsx":
                rows = await referral_rows(session, region_code=region, week=week, view=view)
                matrix = await need_by_municipality(
                    session, region_code=region, week=week, view=view
                )
    finally:
        await app.close()

    out: Path | None = args.out
    if args.format == "json":
        text = json.dumps(payload, ensure_ascii=False, indent=2)
        return _emit(text, out)
    if args.format == "text":
        return _emit(to_plain(render_text(payload, t, view, footer=False)), out)
    # Like the SQLite file, generated files go under ./data/, not into the checkout.
    path = out or DATA_DIR / f"digest-{region}-{week.label}.xlsx"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render_xlsx(payload, t, view, referrals=rows, matrix=matrix))
    except OSError as exc:
        print(f"digest: cannot write {path}: {exc.strerror}", file=sys.stderr)
        return 2
    print(path)
    return 0


def _emit(text: str, out: Path | None) -> int:
    if out is None:
        print(text)
        return 0
    try:
        out.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        print(f"digest: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return 2
    print(out)
    return 0
