"""Семейный навигатор: the application shell."""

from bot.lazy_types import defer_aiogram_types

# Before anything imports aiogram: its types are then built on first use (see bot/lazy_types.py).
defer_aiogram_types()
