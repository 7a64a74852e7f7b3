"""Search texts: kept only with consent, without names and numbers, shown only when shared."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.local_chat import LocalChat
from core.digest import build_digest
from core.redact import redact_query
from db import models
from tests.referral_helpers import family_in

NAMED = "Иванова Мария Петровна 89161234567 квантовая хромодинамика"


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        (NAMED, "квантовая хромодинамика"),
        ("помогите Ивановой, тел 8 (916) 123-45-67", "помогите тел"),
        ("пособие М.П. Кукушкиной", "пособие"),
        ("Сергеевна пособие", "пособие"),
        ("выплата ivanova@mail.ru https://vk.com/ivanova @ivanova", "выплата"),
        ("СНИЛС 123-456-789 01", "снилс"),
        ("Материнский капитал 2026", "материнский капитал 2026"),
        ("МФЦ Тамбов справка", "мфц справка"),
        ("Пособие на ребёнка", "пособие на ребёнка"),
    ],
)
def test_a_query_keeps_its_topic_and_loses_names_and_numbers(typed: str, kept: str) -> None:
    assert redact_query(typed) == kept


async def searches(session: AsyncSession) -> list[tuple[str, bool]]:
    rows = await session.scalars(select(models.SearchLog).order_by(models.SearchLog.id))
    return [(row.query, row.user_id is not None) for row in rows]


async def test_only_a_consenting_family_s_search_keeps_its_text_and_only_the_topic(
    chat: LocalChat, session: AsyncSession
) -> None:
    anna = await family_in(chat, 7310048401, "Тамбовская область", "Тамбов", "г. Тамбов")
    await anna.send(NAMED)
    assert "ничего не нашлось" in anna.last_text
    boris = chat.user(7310048402)
    await boris.send("/start")
    await boris.click("Смотреть анонимно")
    await boris.click("Тамбовская область")
    await boris.click("Пропустить")
    await boris.send(NAMED)
    assert await searches(session) == [
        ("квантовая хромодинамика", True),
        ("", False),  # anonymous: counted, nothing of the text kept
    ]


async def test_the_digest_shows_an_empty_search_only_when_three_families_typed_it(
    app: App, chat: LocalChat, session: AsyncSession
) -> None:
    async def no_result_queries() -> list[dict[str, object]]:
        digest = await build_digest(
            session,
            region_code="RU-TAM",
            week="2026-W48",
            view=app.catalogue.view,
            now=app.clock.now(),
        )
        return list(digest["demand"]["no_result_queries"])

    families = [
        await family_in(chat, 7310048410 + n, "Тамбовская область", "Тамбов", "г. Тамбов")
        for n in range(3)
    ]
    await families[0].send(NAMED)
    await families[0].send("квантовая хромодинамика")
    await families[1].send("квантовая хромодинамика")
    assert await no_result_queries() == [], "two families are not enough"

    await families[2].send("Квантовая хромодинамика")
    assert await no_result_queries() == [{"query": "квантовая хромодинамика", "count": 4}]
