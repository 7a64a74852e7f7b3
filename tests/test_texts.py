"""Russian that reads right: plural forms by CLDR rules, numbers, dates and quotes."""

from __future__ import annotations

import datetime as dt
import locale
import shutil
from pathlib import Path

import pytest

from core.texts import (
    Texts,
    ellipsize,
    fix_nested_quotes,
    format_day,
    format_number,
    typeset_numbers,
)

CONTENT = Path(__file__).resolve().parents[1] / "content"


@pytest.fixture(scope="module")
def texts() -> Texts:
    return Texts.load(CONTENT)


@pytest.mark.parametrize(
    ("count", "words"),
    [
        (1, "1 ошибка"),
        (2, "2 ошибки"),
        (5, "5 ошибок"),
        (11, "11 ошибок"),
        (21, "21 ошибка"),
        (22, "22 ошибки"),
        (25, "25 ошибок"),
        (0, "0 ошибок"),
        (111, "111 ошибок"),
        (1001, "1\u202f001 ошибка"),
    ],
)
def test_russian_plural_forms_follow_cldr(texts: Texts, count: int, words: str) -> None:
    text = texts.get("ru").plural("manager.import.rejected", count)
    assert text == f"❌ Ничего не изменено: в файле {words}. Исправьте и пришлите файл снова."


@pytest.mark.parametrize(
    ("count", "words"), [(1, "1 problem. Fix it"), (2, "2 problems. Fix them")]
)
def test_english_has_one_and_other(texts: Texts, count: int, words: str) -> None:
    text = texts.get("en").plural("manager.import.rejected", count)
    assert text == f"❌ Nothing changed: the file has {words} and send the file again."


def test_other_params_and_a_shown_number(texts: Texts) -> None:
    ru = texts.get("ru")
    sent = "manager.survey.sent"
    assert ru.plural(sent, 21, id=7).startswith("📊 Опрос №7 отправлен 21 семье.")
    assert ru.plural(sent, 22, id=7).startswith("📊 Опрос №7 отправлен 22 семьям.")
    assert ru.plural("screener.unit.year", 1.5) == "1,5 года"
    assert ru.plural("screener.unit.year", 8, n="5 и 8") == "5 и 8 лет"
    assert ru.plural("digest.unit.days", 2, h=3) == "2 дня 3 ч"
    assert ru.plural("digest.unit.days", 5, h=0) == "5 дней 0 ч"
    assert ru.plural("no.such.text", 3) == "no.such.text"


def test_plural_texts_are_complete_in_every_language(texts: Texts) -> None:
    assert texts.problems() == []
    for lang in ("ru", "en"):
        assert "manager.import.rejected" in texts.plurals[lang]
        assert "manager.import.rejected" not in texts.by_language[lang]
    assert set(texts.plurals["ru"]["manager.import.rejected"]) == {"one", "few", "many", "other"}
    assert set(texts.plurals["en"]["manager.import.rejected"]) == {"one", "other"}


def test_a_missing_plural_form_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "content"
    shutil.copytree(CONTENT / "texts", root / "texts")
    path = root / "texts" / "ru" / "manager.yaml"
    source = path.read_text(encoding="utf-8")
    few = (
        '      few: "❌ Ничего не изменено: в файле {n} ошибки. '
        'Исправьте и пришлите файл снова."\n'
    )
    assert few in source
    path.write_text(source.replace(few, ""), encoding="utf-8")
    en = root / "texts" / "en" / "manager.yaml"
    en.write_text(
        en.read_text(encoding="utf-8").replace(
            "the file has {n} problem. Fix it", "the file has {count} problem. Fix it"
        ),
        encoding="utf-8",
    )
    assert Texts.load(root).problems() == [
        "texts/ru: manager.import.rejected: plural forms missing: few",
        "texts/en: manager.import.rejected.one: placeholders differ from Russian",
    ]


def test_a_plural_text_without_other_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "content"
    shutil.copytree(CONTENT / "texts", root / "texts")
    path = root / "texts" / "ru" / "manager.yaml"
    source = path.read_text(encoding="utf-8")
    other = (
        '      other: "❌ Ничего не изменено: в файле {n} ошибки. '
        'Исправьте и пришлите файл снова."\n'
    )
    assert other in source
    path.write_text(source.replace(other, ""), encoding="utf-8")
    with pytest.raises(ValueError, match=r"manager\.import\.rejected: a plural text needs"):
        Texts.load(root)


def test_numbers_in_the_readers_style() -> None:
    assert format_number(5, "ru", 1) == "5,0"
    assert format_number(4.25, "ru", 1) == "4,2"
    assert format_number(14000, "ru") == "14\u202f000"
    assert format_number(1234567.5, "ru") == "1\u202f234\u202f567,5"
    assert format_number(14000, "en") == "14,000"
    assert format_number(5, "en", 1) == "5.0"


def test_dates_in_words_whatever_the_process_locale() -> None:
    day = dt.date(2026, 12, 7)
    before = locale.setlocale(locale.LC_TIME)
    try:
        locale.setlocale(locale.LC_TIME, "C")
        assert format_day(day, "ru") == "7 декабря 2026"
        assert format_day(day, "ru", year=False) == "7 декабря"
        assert format_day(day, "en") == "7 December 2026"
    finally:
        locale.setlocale(locale.LC_TIME, before)


def test_inner_quotes_are_low_high() -> None:
    assert fix_nested_quotes("По запросу «6» ничего не нашлось.") == (
        "По запросу «6» ничего не нашлось."
    )
    assert fix_nested_quotes("Добро пожаловать в команду «АНО «Дом»»!") == (
        "Добро пожаловать в команду «АНО „Дом“»!"
    )
    assert fix_nested_quotes("«а «б» в»\n«г»") == "«а „б“ в»\n«г»", "line by line"
    assert fix_nested_quotes("лишняя » кавычка «x»") == "лишняя » кавычка «x»"


def test_translator_fixes_quotes_brought_by_a_name(texts: Texts) -> None:
    ru = texts.get("ru")
    text = ru("manager.orgs.deactivate_confirm", name="АНО «Дом для мамы»")
    assert text.startswith("Деактивировать «АНО „Дом для мамы“»?")
    assert "кнопкой «Активировать»" in text


def test_cut_labels_end_with_an_ellipsis() -> None:
    assert ellipsize("коротко", 60) == "коротко"
    cut = ellipsize("Консультация по грудному вскармливанию — Благотворительный фонд", 40)
    assert len(cut) <= 40 and cut.endswith("…")


def test_catalogue_amounts_keep_numbers_together() -> None:
    assert typeset_numbers("728 921,90 ₽ на первого ребёнка, 4 дня", "ru") == (
        "728\u202f921,90\u00a0₽ на первого ребёнка, 4 дня"
    )
    assert typeset_numbers("В 2026 году 15 247 ₽", "ru") == "В 2026 году 15\u202f247\u00a0₽"
    assert typeset_numbers("728,921.90 roubles", "en") == "728,921.90 roubles"
