"""Benchmarks run by hand: `python -m bench.<name>`."""

from bot import patches

# Before any benchmark imports aiogram, as `python -m bot` does (see bot/patches), so the
# benchmarks measure the bot as it runs.
patches.defer_aiogram_types()
