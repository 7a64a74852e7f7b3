"""One cell as the schema wants it: lists split, Russian dates and yes/no words read.

What cannot be read is passed on unchanged for the schema to report with its column,
rather than guessed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.catalogue.sheet.columns import FALSE_WORDS, LIST_SPLIT, RU_DATE, TRUE_WORDS, Column


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def cell_text(value: Any) -> str | None:
    if is_blank(value):
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def cell_bool(value: Any) -> bool | str | None:
    if is_blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return str(value).strip()


def cell_for_schema(column: Column, value: Any) -> Any:
    """A cell as the schema wants it; what cannot be read is passed on for the schema to
    report (with the column) rather than guessed."""
    if column.kind == "list":
        text = cell_text(value)
        if text is None:
            return None
        return [part.strip() for part in LIST_SPLIT.split(text) if part.strip()] or None
    if column.kind == "lines":
        text = cell_text(value)
        if text is None:
            return None
        return [line.strip() for line in text.splitlines() if line.strip()] or None
    if column.kind == "number":
        if is_blank(value):
            return None
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int | float):
            return value
        return str(value).strip().replace(" ", "").replace(",", ".")
    if column.kind == "date":
        if is_blank(value):
            return None
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        text = str(value).strip()
        match = RU_DATE.match(text)
        if match:
            day, month, year = match.groups()
            return f"{year}-{int(month):02d}-{int(day):02d}"
        return text
    if column.kind == "bool":
        return cell_bool(value)
    return cell_text(value)


def set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    if value is None:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


def prune_empty(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "rules":
            value = prune_empty(value)
            if not value:
                continue
        out[key] = value
    return out
