"""Start-up probe for the load bench, run in a fresh process as a script
(`python bench/load_probe.py URL`, so that not even `bench/__init__.py` runs first).

Prints one JSON line: seconds spent importing aiogram and the bot, in build_app, in prepare
(migrations already applied, catalogue read into memory) and in create_dispatcher, and the
resident memory after aiogram alone and after the whole start-up. Kept free of bench imports
so the timing starts from a bare interpreter.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import asyncio  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main(url: str) -> dict[str, float]:
    # The patch first, as `python -m bot` does: aiogram's types then build lazily.
    from bot import patches  # isort: skip

    patches.defer_aiogram_types()
    import aiogram  # noqa: F401

    aiogram_done = time.perf_counter()
    rss_aiogram = rss_mb()
    from bot.app import build_app
    from bot.bootstrap import prepare
    from bot.config import Settings
    from bot.factory import create_dispatcher

    imported = time.perf_counter()
    app = build_app(Settings(database_url=url))
    built = time.perf_counter()

    async def prepare_and_dispatch() -> tuple[float, float]:
        await prepare(app, with_demo=True)
        prepared = time.perf_counter()
        create_dispatcher(app)
        dispatched = time.perf_counter()
        await app.close()
        return prepared, dispatched

    prepared, dispatched = asyncio.run(prepare_and_dispatch())
    return {
        "imports_s": round(imported - STARTED, 3),
        "aiogram_import_s": round(aiogram_done - STARTED, 3),
        "build_app_s": round(built - imported, 3),
        "prepare_s": round(prepared - built, 3),
        "create_dispatcher_s": round(dispatched - prepared, 3),
        "total_s": round(dispatched - STARTED, 3),
        "rss_aiogram_mb": round(rss_aiogram, 1),
        "rss_mb": round(rss_mb(), 1),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
