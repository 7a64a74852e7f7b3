"""Inline keyboards without aiogram's `InlineKeyboardBuilder`.

The builder deep-copies every button it already holds each time one more is added, so a
keyboard of n buttons costs n² copies of pydantic models; under load that was a quarter of the
bot's CPU time (bench/load_bench.py). `Keyboard` keeps the part of the builder's interface the
bot uses, with the same layout rules: buttons fill rows of up to eight, `adjust(*sizes)`
re-flows them with the last size repeating, `attach` appends another keyboard's rows.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

MAX_WIDTH = 8  # Telegram's limit of buttons in a row


def inline_button(
    text: str, data: CallbackData | str | None = None, *, url: str | None = None
) -> InlineKeyboardButton:
    if url is not None:
        return InlineKeyboardButton(text=text, url=url)
    return InlineKeyboardButton(
        text=text, callback_data=data.pack() if isinstance(data, CallbackData) else data
    )


def layout(buttons: list[InlineKeyboardButton], *sizes: int) -> list[list[InlineKeyboardButton]]:
    """Rows of the given sizes, the last size repeating (no sizes: rows of eight)."""
    sizes = sizes or (MAX_WIDTH,)
    rows: list[list[InlineKeyboardButton]] = []
    start = 0
    while start < len(buttons):
        size = sizes[min(len(rows), len(sizes) - 1)]
        rows.append(buttons[start : start + size])
        start += size
    return rows


def markup(buttons: list[InlineKeyboardButton], *sizes: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=layout(buttons, *sizes))


class Keyboard:
    def __init__(self) -> None:
        self._rows: list[list[InlineKeyboardButton]] = []

    def button(
        self,
        *,
        text: str,
        callback_data: CallbackData | str | None = None,
        url: str | None = None,
        **fields: Any,
    ) -> Keyboard:
        if callback_data is not None:
            fields["callback_data"] = (
                callback_data.pack() if isinstance(callback_data, CallbackData) else callback_data
            )
        if url is not None:
            fields["url"] = url
        button = InlineKeyboardButton(text=text, **fields)
        if self._rows and len(self._rows[-1]) < MAX_WIDTH:
            self._rows[-1].append(button)
        else:
            self._rows.append([button])
        return self

    def adjust(self, *sizes: int) -> Keyboard:
        self._rows = layout(list(chain.from_iterable(self._rows)), *sizes)
        return self

    def attach(self, other: Keyboard) -> Keyboard:
        self._rows.extend(list(row) for row in other._rows)
        return self

    def as_markup(self) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(inline_keyboard=[list(row) for row in self._rows])
