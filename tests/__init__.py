"""The test suite. pytest imports this package before conftest and every test module."""

from bot import patches

# Before anything imports aiogram, as `python -m bot` does (see bot/patches), so the tests run
# the bot as it runs.
patches.defer_aiogram_types()
