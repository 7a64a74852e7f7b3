"""The terminal demo as a new user plays it: numbers press buttons, edits, pop-ups, links and
files are shown, and a number the bot asked for is taken as text."""

from __future__ import annotations

import io
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.app import App
from bot.demo import Terminal, start_demo
from bot.local_chat import LocalChat

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Demo:
    """The terminal and what it printed since the last line typed."""

    def __init__(self, terminal: Terminal, out: io.StringIO) -> None:
        self.terminal = terminal
        self.out = out
        self.read = 0

    def new_output(self) -> str:
        text = self.out.getvalue()
        new, self.read = text[self.read :], len(text)
        return _ANSI.sub("", new)

    async def type(self, line: str) -> str:
        self.new_output()
        await self.terminal.handle(line)
        return self.new_output()


async def open_demo(
    app: App, chat: LocalChat, deliver: Callable[[], Awaitable[int]], files: Path
) -> tuple[Demo, str]:
    out = io.StringIO()
    terminal = await start_demo(app, chat, out, deliver, files)
    demo = Demo(terminal, out)
    return demo, demo.new_output()


async def onboarded(
    app: App, chat: LocalChat, deliver: Callable[[], Awaitable[int]], files: Path
) -> Demo:
    """The family agreed, chose Тамбовская область and a municipality on the third page
    (towns come first, then the okrugs alphabetically)."""
    demo, banner = await open_demo(app, chat, deliver, files)
    assert "демо в терминале" in banner and "#1" in banner
    assert "[1] ✅ Согласен(на)" in banner
    await demo.type("1")
    await demo.type("3")
    await demo.type("#11")  # Дальше ›
    page = await demo.type("#12")  # Дальше › again, after ‹ Назад
    assert "(изменено) Выберите ваш город или округ" in page
    assert "[#7] Тамбовский округ" in page and "По запросу" not in page
    assert "Муниципалитет: Тамбовский округ" in await demo.type("#7")
    return demo


async def test_booking_a_consultation_shows_the_edited_lists(
    app: App, chat: LocalChat, deliver: Callable[[], Awaitable[int]], tmp_path: Path
) -> None:
    demo = await onboarded(app, chat, deliver, tmp_path)
    assert "[1] 🤰 Беременность" in await demo.type("/consult")
    options = await demo.type("1")
    assert "(изменено) Беременность — консультации" in options
    slots = await demo.type("1")
    assert "Выберите удобное время" in slots and "[1] пн 30 ноя, 10:00" in slots
    assert "ничего не нашлось" not in slots


async def test_an_income_typed_when_asked_is_text_and_hash_presses(
    app: App, chat: LocalChat, deliver: Callable[[], Awaitable[int]], tmp_path: Path
) -> None:
    demo = await onboarded(app, chat, deliver, tmp_path)
    await demo.type("/find")
    await demo.type("2")  # not pregnant
    await demo.type("1")  # no children yet
    await demo.type("2")  # not a single parent
    income = await demo.type("2")  # mother 25–35
    assert "доход" in income and "[#1]" in income and "[1]" not in income
    answered = await demo.type("14000")
    # (The thousands separator is the Russian-formatting work's to choose.)
    assert re.search(r"Понял: 14\D?000", answered) and "Выберите кнопку" not in answered
    assert "[1] Да" in answered  # the next question takes only buttons: digits press again
    assert "Вы учитесь" in await demo.type("#1")


async def test_a_step_that_takes_only_buttons_is_pressed_by_a_bare_number(
    app: App, chat: LocalChat, deliver: Callable[[], Awaitable[int]], tmp_path: Path
) -> None:
    """/request's need picker has no text handler: «1» presses, it is not a search for «1»."""
    demo = await onboarded(app, chat, deliver, tmp_path)
    needs = await demo.type("/request")
    assert "[1] 🤰 Беременность" in needs and "[#1]" not in needs
    where = await demo.type("1")
    assert "По запросу" not in where and "Где вы живёте?" in where
    assert "[#1]" in where, "the municipality step takes a typed name: numbers are text there"


async def test_card_links_feedback_reason_mydata_and_forget(
    app: App, chat: LocalChat, deliver: Callable[[], Awaitable[int]], tmp_path: Path
) -> None:
    demo = await onboarded(app, chat, deliver, tmp_path)
    await demo.type("/search материнский капитал")
    card = await demo.type("1")
    assert "🔗 Оформить ↗ — ссылка: https://www.gosuslugi.ru/" in card
    assert "[1] 👍 Помогла" in card and "Оформить" not in card.split("[1]")[1]
    reasons = await demo.type("2")  # 👎 Нет
    assert "Что пошло не так?" in reasons and "[1] Не подхожу под условия" in reasons
    assert "Выберите кнопку от 1 до 5" in await demo.type("#9")
    assert "(изменено) Спасибо, записали." in await demo.type("1")

    saved = await demo.type("/mydata")
    path = tmp_path / "my-data.json"
    assert f"📎 файл сохранён: {path}" in saved
    assert path.read_text(encoding="utf-8").startswith("{")

    assert "[1] Да, удалить всё" in await demo.type("/forget")
    assert "(изменено) Готово: ваши данные удалены" in await demo.type("1")


async def test_a_pop_up_answer_and_the_other_personas(
    app: App, chat: LocalChat, deliver: Callable[[], Awaitable[int]], tmp_path: Path
) -> None:
    demo = await onboarded(app, chat, deliver, tmp_path)
    await demo.type("/search материнский капитал")
    await demo.type("1")
    toast = await demo.type("1")  # 👍 Помогла
    assert "💬 [подсказка]" in toast
    assert "теперь вы менеджер (Ирина)" in await demo.type(":as manager")
    ask = await demo.type("/digest")  # the demo manager has every region: pick where the work is
    assert "Для какого региона?" in ask and "[3] Тамбовская область" in ask
    digest = await demo.type("3")
    assert "(изменено) Регион: Тамбовская область." in digest
    assert "Дайджест недели — Тамбовская область" in digest
    assert "📎 файл сохранён" in digest and "digest-RU-TAM-2026-W47.xlsx" in digest
    assert "[1] 📈 Эта неделя по сегодня · 2026-W48" in digest
    assert "Роли: family, volunteer, manager" in await demo.type(":as nobody")
    assert "Выберите кнопку от 1 до 1." in await demo.type("#99")
    await demo.type(":as volunteer")
    assert "У последнего сообщения нет кнопок." in await demo.type("#1")
