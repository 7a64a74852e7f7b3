"""Benchmarks run by hand: `python -m bench.<name>`."""

# Before any benchmark imports aiogram, as `python -m bot` does: its types then build on first
# use (bot/lazy_types.py), so the benchmarks measure the bot as it runs.
import bot  # noqa: F401
