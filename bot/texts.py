"""UI texts from content/texts/<lang>/*.yaml: Russian first, English complete."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "ru"


def pick_language(code: str | None) -> str:
    """Telegram gives IETF tags like "en-US"; anything we do not speak falls back to Russian."""
    if code:
        base = code.split("-")[0].lower()
        if base in LANGUAGES:
            return base
    return DEFAULT_LANGUAGE


MESSAGE_LIMIT = 4096


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split for Telegram's message limit at paragraph, then line, then word boundaries.

    Our HTML never spans a line, so a cut at a line boundary never splits a tag.
    """
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n\n", 0, limit)
        if cut <= 0:
            cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks


def _flatten(prefix: str, node: Any, out: dict[str, str], origin: str) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if not isinstance(key, str):
                # YAML 1.1 reads bare yes/no/on/off keys as booleans: quote or rename them.
                raise ValueError(f"{origin}: {prefix}: key {key!r} is not a string")
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, out, origin)
        return
    if not isinstance(node, str):
        raise ValueError(f"{origin}: {prefix}: a text must be a string")
    if prefix in out:
        raise ValueError(f"{origin}: {prefix}: defined twice")
    out[prefix] = node


def load_language(directory: Path) -> dict[str, str]:
    texts: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        _flatten("", yaml.safe_load(path.read_text(encoding="utf-8")) or {}, texts, path.name)
    return texts


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@dataclass(frozen=True)
class Texts:
    """All languages' texts; `get(lang)` gives a callable bound to one language."""

    by_language: Mapping[str, Mapping[str, str]]

    @classmethod
    def load(cls, content_dir: Path) -> Texts:
        root = content_dir / "texts"
        return cls({lang: load_language(root / lang) for lang in LANGUAGES})

    def get(self, lang: str) -> Translator:
        return Translator(self, lang if lang in self.by_language else DEFAULT_LANGUAGE)

    def problems(self) -> list[str]:
        """Keys or placeholders that differ between Russian and another language."""
        base = self.by_language[DEFAULT_LANGUAGE]
        found: list[str] = []
        for lang, texts in self.by_language.items():
            if lang == DEFAULT_LANGUAGE:
                continue
            for key in sorted(set(base) - set(texts)):
                found.append(f"texts/{lang}: {key}: missing")
            for key in sorted(set(texts) - set(base)):
                found.append(f"texts/{lang}: {key}: not in Russian texts")
            for key in sorted(set(base) & set(texts)):
                if placeholders(base[key]) != placeholders(texts[key]):
                    found.append(f"texts/{lang}: {key}: placeholders differ from Russian")
        return found


@dataclass(frozen=True)
class Translator:
    texts: Texts
    lang: str

    def __call__(self, key: str, /, **params: object) -> str:
        template = self.texts.by_language[self.lang].get(key)
        if template is None:
            template = self.texts.by_language[DEFAULT_LANGUAGE].get(key, key)
        return template.format(**params) if params else template
