"""UI texts from content/texts/<lang>/*.yaml: Russian first, English complete."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal

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


def in_language(lang: str, ru: str, en: str | None) -> str:
    """A catalogue name in the reader's language: Russian unless English is asked and given."""
    return en if lang != DEFAULT_LANGUAGE and en else ru


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


# CLDR plural categories. A text whose YAML value is a mapping of these (with `other`) is a
# plural text: `Translator.plural` picks the form by Babel's rules for the language.
PLURAL_CATEGORIES = frozenset({"zero", "one", "two", "few", "many", "other"})

Plurals = dict[str, dict[str, str]]


def is_plural(node: object) -> bool:
    return (
        isinstance(node, Mapping)
        and "other" in node
        and all(isinstance(key, str) and key in PLURAL_CATEGORIES for key in node)
    )


_GROUPED_RU = re.compile(r"(?<=\d) (?=\d{3}(?!\d))")
_CURRENCY_RU = re.compile(r"(?<=\d) (?=₽|млн|млрд|тыс\.)")


def typeset_numbers(text: str, lang: str) -> str:
    """Catalogue prose in Russian style: «728 921,90 ₽» keeps its thousands and its unit on one
    line (narrow no-break space in groups, no-break space before ₽)."""
    if lang != "ru":
        return text
    return _CURRENCY_RU.sub("\u00a0", _GROUPED_RU.sub("\u202f", text))


def ellipsize(text: str, limit: int = 60) -> str:
    """A label cut to `limit` characters ends with «…», so nobody reads it as whole."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _flatten(
    prefix: str, node: Any, out: dict[str, str], origin: str, plurals: Plurals | None = None
) -> None:
    if plurals is not None and is_plural(node):
        if prefix in plurals or prefix in out:
            raise ValueError(f"{origin}: {prefix}: defined twice")
        forms = {str(category): form for category, form in node.items()}
        if not all(isinstance(form, str) for form in forms.values()):
            raise ValueError(f"{origin}: {prefix}: a plural form must be a string")
        plurals[prefix] = forms
        return
    if isinstance(node, Mapping):
        if plurals is not None and len(node) > 1 and all(k in PLURAL_CATEGORIES for k in node):
            raise ValueError(f"{origin}: {prefix}: a plural text needs the form other")
        for key, value in node.items():
            if not isinstance(key, str):
                # YAML 1.1 reads bare yes/no/on/off keys as booleans: quote or rename them.
                raise ValueError(f"{origin}: {prefix}: key {key!r} is not a string")
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, out, origin, plurals)
        return
    if not isinstance(node, str):
        raise ValueError(f"{origin}: {prefix}: a text must be a string")
    if prefix in out:
        raise ValueError(f"{origin}: {prefix}: defined twice")
    out[prefix] = node


def load_language(directory: Path) -> tuple[dict[str, str], Plurals]:
    """Plain texts by dotted key, and plural texts (key -> CLDR category -> form)."""
    texts: dict[str, str] = {}
    plurals: Plurals = {}
    for path in sorted(directory.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        _flatten("", data, texts, path.name, plurals)
    return texts, plurals


def plural_categories(lang: str) -> frozenset[str]:
    """The forms a language needs: Babel lists the categories besides `other`."""
    return frozenset(Locale.parse(lang).plural_form.tags | {"other"})


def plural_category(lang: str, count: float) -> str:
    return str(Locale.parse(lang).plural_form(count))


def format_number(value: float, lang: str, decimals: int | None = None) -> str:
    """Grouped thousands and the language's decimal mark: «14 000», «4,5»; en "14,000", "4.5".

    `decimals` fixes the digits after the mark («5,0»); by default whole numbers show none and
    others at most one.
    """
    pattern = "#,##0.#" if decimals is None else "#,##0." + "0" * decimals
    text = str(format_decimal(value, format=pattern, locale=lang))
    # CLDR groups Russian thousands with a no-break space; typography prefers the narrow one.
    return text.replace("\xa0", "\u202f") if lang == "ru" else text


def format_day(value: date, lang: str, year: bool = True) -> str:
    """A date in words, as people read it: «7 декабря 2026», "7 December 2026"."""
    return str(format_date(value, "d MMMM y" if year else "d MMMM", locale=lang))


_INNER_QUOTES = str.maketrans({"«": "„", "»": "“"})


def fix_nested_quotes(text: str) -> str:
    """Russian typography: quotes inside «…» are „…“ («Дом „Надежда“»), line by line.

    Names and user text put into a «{name}» template bring their own «», so this runs on
    every formatted text; an unmatched quote only affects its own line.
    """
    if text.count("«") < 2:
        return text
    lines = []
    for line in text.split("\n"):
        depth = 0
        out = []
        for char in line:
            if char == "«":
                out.append("„" if depth else char)
                depth += 1
            elif char == "»" and depth:
                depth -= 1
                out.append("“" if depth else char)
            else:
                out.append(char)
        lines.append("".join(out))
    return "\n".join(lines)


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@dataclass(frozen=True)
class Texts:
    """All languages' texts; `get(lang)` gives a callable bound to one language."""

    by_language: Mapping[str, Mapping[str, str]]
    plurals: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=dict)

    @classmethod
    def load(cls, content_dir: Path) -> Texts:
        root = content_dir / "texts"
        loaded = {lang: load_language(root / lang) for lang in LANGUAGES}
        return cls(
            {lang: texts for lang, (texts, _) in loaded.items()},
            {lang: plurals for lang, (_, plurals) in loaded.items()},
        )

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
        found += self._plural_problems()
        return found

    def _plural_problems(self) -> list[str]:
        """Every plural text has each form its language needs, and the same placeholders."""
        base = self.plurals.get(DEFAULT_LANGUAGE, {})
        found: list[str] = []
        for lang in self.by_language:
            own = self.plurals.get(lang, {})
            if lang != DEFAULT_LANGUAGE:
                for key in sorted(set(base) - set(own)):
                    found.append(f"texts/{lang}: {key}: missing")
                for key in sorted(set(own) - set(base)):
                    found.append(f"texts/{lang}: {key}: not in Russian texts")
            needed = plural_categories(lang)
            for key, forms in sorted(own.items()):
                missing = sorted(needed - set(forms))
                if missing:
                    found.append(
                        f"texts/{lang}: {key}: plural forms missing: {', '.join(missing)}"
                    )
                extra = sorted(set(forms) - needed)
                if extra:
                    found.append(f"texts/{lang}: {key}: plural forms not used: {', '.join(extra)}")
                wanted = placeholders(base[key]["other"]) if key in base else None
                for category, form in sorted(forms.items()):
                    if wanted is not None and placeholders(form) != wanted:
                        found.append(
                            f"texts/{lang}: {key}.{category}: placeholders differ from Russian"
                        )
        return found


@dataclass(frozen=True)
class Translator:
    texts: Texts
    lang: str

    def __call__(self, key: str, /, **params: object) -> str:
        template = self.texts.by_language[self.lang].get(key)
        if template is None:
            template = self.texts.by_language[DEFAULT_LANGUAGE].get(key, key)
        return fix_nested_quotes(template.format(**params)) if params else template

    def plural(self, key: str, count: float, /, **params: object) -> str:
        """The form of a plural text for `count` («1 ошибка», «2 ошибки», «5 ошибок»).

        `{n}` is the count written the language's way unless `n` is given (e.g. «5 и 8»).
        """
        lang = self.lang
        forms = self.texts.plurals.get(lang, {}).get(key)
        if forms is None:
            lang = DEFAULT_LANGUAGE
            forms = self.texts.plurals.get(lang, {}).get(key)
        if forms is None:
            return key
        category = plural_category(lang, count)
        template = forms.get(category, forms["other"])
        params.setdefault("n", format_number(count, self.lang))
        return fix_nested_quotes(template.format(**params))

    def pick(self, ru: str, en: str | None) -> str:
        """A catalogue name (measure, need, organisation, place) in the reader's language."""
        return in_language(self.lang, ru, en)

    def number(self, value: float, decimals: int | None = None) -> str:
        return format_number(value, self.lang, decimals)

    def day(self, value: date, year: bool = True) -> str:
        return format_day(value, self.lang, year)
