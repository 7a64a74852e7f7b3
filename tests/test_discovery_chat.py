"""Discovery through the chat: search, cards, feedback and the /find screener."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.local_chat import ChatUser, LocalChat
from core.search import discovery
from db import models


async def anonymous_in(chat: LocalChat, user_id: int, region: str) -> ChatUser:
    person = chat.user(user_id)
    await person.send("/start")
    await person.click("Смотреть анонимно")
    await person.click(region)
    await person.click("Пропустить")
    return person


async def consented_in(chat: LocalChat, user_id: int, region: str) -> ChatUser:
    person = chat.user(user_id)
    await person.send("/start")
    await person.click("✅ Согласен(на)")
    await person.click(region)
    await person.click("Пропустить")
    return person


async def search_rows(session: AsyncSession) -> list[models.SearchLog]:
    return list(await session.scalars(select(models.SearchLog).order_by(models.SearchLog.id)))


async def test_plain_text_is_a_search_with_card_buttons(
    chat: LocalChat, session: AsyncSession
) -> None:
    anna = await anonymous_in(chat, 301, "Тамбовская область")
    replies = await anna.send("маткапитал")
    assert replies[-1].text == "Вот что нашлось по запросу «маткапитал»:"
    assert replies[-1].button_texts[0] == "📌 Материнский (семейный) капитал"
    [row] = await search_rows(session)
    # Anonymous: the search counts, but its text is not kept (tests/test_search_privacy.py).
    assert (row.query, row.region_code, row.results, row.user_id) == (
        "",
        "RU-TAM",
        len(replies[-1].buttons),
        None,
    )


async def test_search_command_without_text_asks_then_searches(chat: LocalChat) -> None:
    anna = chat.user(302)
    await anna.send("/search")
    assert "Что вы ищете?" in anna.last_text
    await anna.send("декретные")
    assert "Пособие по беременности и родам" in " ".join(anna.last_reply().button_texts)
    assert "выберите его в /profile" in anna.last_text, "no region: says only federal is shown"


async def test_regional_results_only_for_the_familys_region(chat: LocalChat) -> None:
    tambov = await anonymous_in(chat, 303, "Тамбовская область")
    await tambov.send("/search 300 тысяч при рождении третьего")
    buttons = " ".join(tambov.last_reply().button_texts)
    assert "300" in buttons
    assert "Подмосков" not in buttons


async def test_nothing_found_offers_needs_and_help_and_is_logged(
    chat: LocalChat, session: AsyncSession
) -> None:
    anna = await anonymous_in(chat, 304, "Нижегородская область")
    replies = await anna.send("квантовая хромодинамика")
    assert "ничего не нашлось" in replies[-1].text
    assert "/request" in replies[-1].text
    [row] = await search_rows(session)
    assert row.results == 0 and row.region_code == "RU-NIZ"


async def test_a_near_miss_is_called_near_not_found(chat: LocalChat) -> None:
    anna = await anonymous_in(chat, 320, "Тамбовская область")
    await anna.send("компенсация родительской платы за детский сад")
    assert anna.last_text == (
        "Точно по запросу «компенсация родительской платы за детский сад» ничего не нашлось. "
        "Ближе всего вот что:"
    )
    assert anna.last_reply().buttons, "the nearest entries are still offered"

    await anna.send("материнский капитал")
    assert anna.last_text == "Вот что нашлось по запросу «материнский капитал»:"
    labels = anna.last_reply().button_texts
    assert labels[0] == "📌 Материнский (семейный) капитал"
    # The query names a measure: a consultation on the same topic does not come first.
    kinds = [label.split()[0] for label in labels]
    assert "💬" not in kinds or kinds.index("💬") > max(
        i for i, kind in enumerate(kinds) if kind == "📌"
    )


async def test_a_quoted_query_gets_inner_quotes(chat: LocalChat) -> None:
    anna = await anonymous_in(chat, 321, "Тамбовская область")
    await anna.send("«ыпвапрол»")
    assert anna.last_text.startswith("По запросу «„ыпвапрол“» ничего не нашлось.")


async def test_needs_words_lead_to_that_need(chat: LocalChat) -> None:
    anna = await anonymous_in(chat, 305, "Московская область")
    await anna.send("муж бьёт, некуда идти")
    labels = " ".join(anna.last_reply().button_texts)
    assert "телефон доверия" in labels.lower() or "горячая линия" in labels.lower()


async def test_garbage_input_is_answered_sensibly(chat: LocalChat, session: AsyncSession) -> None:
    anna = await anonymous_in(chat, 306, "Тамбовская область")
    await anna.send("🙂🙂🙂")
    assert "хотя бы одно слово" in anna.last_text
    await anna.send("'; DROP TABLE measures; --")
    assert anna.last_text
    await anna.send("пособие " * 1250)
    assert "Вот что нашлось" in anna.last_text
    assert len(anna.last_text) < 200, "the echoed query is shortened"
    rows = await search_rows(session)
    assert all(len(r.query) <= 500 for r in rows)
    assert await session.get(models.Measure, "fed-matcap") is not None


async def test_measure_card_has_everything_a_family_needs(chat: LocalChat) -> None:
    anna = await anonymous_in(chat, 307, "Тамбовская область")
    await anna.send("единое пособие на детей")
    await anna.click("📌 Единое пособие на детей")
    card = anna.last_reply()
    for part in (
        "Сколько:",
        "Кому положено:",
        "Документы:",
        "Как оформить:",
        "Основание:",
        "Источники:",
        "Сверено с официальным источником: 28 ноября 2026",
        "https://t.me/family_nav_bot?start=m-fed-unified-allowance-children",
        "Помогла ли информация?",
    ):
        assert part in card.text, part
    assert card.button_texts[:1] == ["Оформить ↗"]
    assert "👍 Помогла" in card.button_texts


async def test_deep_link_opens_a_card_with_a_personal_verdict(chat: LocalChat) -> None:
    anna = await anonymous_in(chat, 308, "Тамбовская область")
    await anna.send("/find")
    await anna.click("Нет")  # pregnant
    await anna.click("1")  # children
    await anna.click("1,5–3 года")
    await anna.click("Хватит, покажите результат")
    replies = await anna.send("/start m-fed-matcap-monthly")
    card = replies[-1].text
    assert "Скорее всего положено" in card or "Возможно" in card
    assert "есть ребёнок до 3 лет" in card
    assert "2 года" not in card, "a range answer is never told back as a point"
    await anna.send("/start m-no-such-measure")
    assert "нет в каталоге" in anna.last_text


async def test_card_feedback_with_reason_is_stored(chat: LocalChat, session: AsyncSession) -> None:
    anna = await anonymous_in(chat, 309, "Тамбовская область")
    await anna.send("/start m-fed-birth-grant")
    await anna.click("😕 Сложно оформить")
    assert anna.last_text == "Что пошло не так?"
    await anna.click("Сложно с документами")
    assert "Спасибо, записали" in anna.last_text
    [row] = list(await session.scalars(select(models.Feedback)))
    assert (row.kind, row.measure_id, row.verdict, row.reason, row.region_code) == (
        "measure",
        "fed-birth-grant",
        "hard_to_apply",
        "documents",
        "RU-TAM",
    )
    assert row.user_id is None, "anonymous feedback stays anonymous"
    # Pressing the reason again (a replay) changes nothing.
    before = len(chat.session.answers)
    await anna.press(anna.last_reply(), "card:r:fed-birth-grant:refused")
    assert chat.session.answers[before].show_alert
    await session.refresh(row)
    assert row.reason == "documents"


async def test_screener_for_a_pregnant_student_with_low_income(
    chat: LocalChat, session: AsyncSession
) -> None:
    masha = await consented_in(chat, 310, "Тамбовская область")
    await masha.send("/find")
    assert "Ответы сохранятся в вашем профиле" in masha.messages[-2].text
    await masha.click("Да")  # pregnant
    await masha.click("12–22 недели")
    await masha.click("Пока нет")  # children
    await masha.click("Нет")  # single parent
    await masha.click("до 25")
    assert "на одного человека" in masha.last_text
    assert "меньше 15\u202f719 ₽" in masha.last_reply().button_texts
    await masha.click("меньше 15")
    await masha.click("Нет")  # employed
    await masha.click("Да")  # student
    await masha.click("Нет")  # mortgage
    await masha.click("Да")  # citizen
    results = masha.last_reply()
    assert "Что может подойти вашей семье" in results.text
    labels = " ".join(results.button_texts)
    assert "Единое пособие беременным" in labels or "беременн" in labels.lower()
    assert "100" in labels, "Tambov's payment to pregnant students is found"
    profile = await session.get(
        models.FamilyProfile,
        (await session.scalar(select(models.User.id).where(models.User.messenger_id == 310))),
    )
    assert profile is not None
    assert profile.data["pregnant"] is True and profile.data["student"] is True
    # The buttons' ranges are kept as ranges, never a point inside them.
    assert "income_per_person" not in profile.data
    assert profile.data["income_range_pm"] == [0, 1]
    assert profile.data["pregnancy_weeks_range"] == [12, 22]
    assert profile.data["mother_age_range"] == [10, 24]

    await masha.send("/find")
    assert "прошлые ответы" in masha.last_text
    await masha.click("Показать подбор")
    assert "Что может подойти вашей семье" in masha.last_text


async def test_screener_skips_everything_and_still_explains(chat: LocalChat) -> None:
    anna = await anonymous_in(chat, 311, "Московская область")
    await anna.send("/find")
    for _ in range(20):
        if "Что может подойти" in anna.last_text:
            break
        await anna.click("Пропустить")
    text = anna.last_text
    assert "❓" in text, "unknown answers mean 'maybe', never a silent omission"
    maybe_lines = [line for line in text.splitlines() if line.startswith("❓")]
    assert maybe_lines and all(line.endswith(("?", ":")) or "?" in line for line in maybe_lines), (
        "a maybe names the missing fact as a question the family can answer"
    )


async def test_screener_why_not_lists_reasons(chat: LocalChat) -> None:
    anna = await anonymous_in(chat, 312, "Нижегородская область")
    await anna.send("/find")
    await anna.click("Нет")  # pregnant
    await anna.click("Пока нет")
    await anna.click("Хватит, покажите результат")
    await anna.click("Почему не подходят другие")
    assert "не подходят" in anna.last_text
    assert "✖️" in anna.last_text


async def test_screener_ignores_stale_and_forged_answers(chat: LocalChat) -> None:
    anna = await anonymous_in(chat, 313, "Тамбовская область")
    await anna.send("/find")
    question = anna.last_reply()
    await anna.click("Да")
    answers_before = len(chat.session.answers)
    await anna.press(question, "find:pregnant:1")  # the old question again
    await anna.press(anna.last_reply(), "find:income:9")  # a step not asked now
    await anna.press(anna.last_reply(), "find:pregnancy_weeks:77")  # no such option
    assert all(a.show_alert for a in chat.session.answers[answers_before:])
    assert anna.last_text == "Какой срок беременности?"


async def test_screener_accepts_typed_income(chat: LocalChat) -> None:
    anna = await anonymous_in(chat, 314, "Тамбовская область")
    await anna.send("/find")
    for label in ("Нет", "Пока нет", "Нет", "до 25"):
        await anna.click(label)
    await anna.send("сто рублей")
    assert "Не понял сумму" in anna.last_text
    await anna.send("12 500 ₽")
    assert anna.messages[-2].text == "Понял: 12\u202f500."


async def test_child_birth_month_typed_in_the_screener_does_not_go_stale(
    chat: LocalChat,
) -> None:
    anna = await anonymous_in(chat, 312, "Тамбовская область")
    await anna.send("/find")
    await anna.click("Нет")  # pregnant
    await anna.click("1")  # children
    replies = await anna.send("03.2025")
    assert "Понял: 2025-03." in replies[0].text
    await anna.click("Хватит, покажите результат")
    replies = await anna.send("/start m-fed-matcap-monthly")
    assert "есть ребёнок до 3 лет" in replies[-1].text


def test_profiles_saved_before_dates_keep_their_meaning() -> None:
    old = {
        "children": [{"age_years": 1.2, "disabled": False}, {"age_years": 4}],
        "pregnancy_weeks": 8,
    }
    dated = discovery.dated_profile(old, dt.date(2026, 6, 1))
    assert dated == {
        "children": [{"disabled": False, "age_range": [1, 1.5]}, {"age_years": 4}],
        "pregnancy_weeks_range": [1, 11],
        "as_of": "2026-06-01",
    }
    assert discovery.dated_profile(dated, dt.date(2026, 12, 1)) == dated


async def test_income_button_is_a_range_not_a_point(chat: LocalChat) -> None:
    """1–2 ПМ: the family tax payment (≤ 1,5 ПМ) is only "maybe", the matcap payment
    (≤ 2 ПМ) is sure; the reason tells the range the family chose, never a point in it."""
    anna = await anonymous_in(chat, 320, "Тамбовская область")
    await anna.send("/find")
    await anna.click("Нет")  # pregnant
    await anna.click("2")  # children
    await anna.click("1,5–3 года")
    await anna.click("7–17 лет")
    for label in ("Нет", "Нет", "25–35"):  # disabled child, single parent, mother
        await anna.click(label)
    await anna.click("15\u202f719–31\u202f438 ₽")
    for label in ("Да", "Нет", "Нет", "Да"):  # employed, student, mortgage, citizen
        await anna.click(label)
    results = anna.last_text
    assert "Что может подойти вашей семье" in results
    tax_line = next(line for line in results.splitlines() if "возврат НДФЛ" in line)
    assert tax_line.startswith("❓"), "a family at 1–2 ПМ may be above 1,5 ПМ"
    assert "от 15\u202f719\u00a0₽ до 31\u202f438\u00a0₽" in tax_line
    assert "23\u202f579" not in results, "no point inside the range is told back"
    card = (await anna.send("/start m-fed-matcap-monthly"))[-1].text
    assert "Скорее всего положено" in card
    assert "не выше порога 31\u202f438\u00a0₽" in card
    card = (await anna.send("/start m-fed-family-tax-payment"))[-1].text
    assert "Возможно" in card and "уточните точную сумму дохода" in card


async def test_term_and_mother_age_buttons_are_ranges(chat: LocalChat) -> None:
    """«до 12 недель» is told back as a range; «старше 35» never rules out the early pension
    at 57 (it was stored as 40 before)."""
    anna = await anonymous_in(chat, 321, "Тамбовская область")
    await anna.send("/find")
    await anna.click("Да")  # pregnant
    await anna.click("до 12 недель")
    await anna.click("3")  # children
    for _ in range(3):
        await anna.click("старше 23")
    for label in ("Нет", "Нет", "старше 35"):  # disabled child, single parent, mother
        await anna.click(label)
    await anna.click("Хватит, покажите результат")
    assert "Досрочная пенсия многодетным мамам" in anna.last_text, "maybe, not «не подходит»"
    await anna.click("Почему не подходят другие")
    why_not = anna.last_text
    assert "срок беременности 1–11 недель, а обратиться можно с 12 недель" in why_not
    assert "8 недель" not in why_not
    card = (await anna.send("/start m-fed-large-family-early-pension"))[-1].text
    assert "Возможно" in card
    assert "сколько лет маме (год рождения)? Нужно не меньше 57 лет" in card


def test_old_button_points_read_back_as_their_ranges() -> None:
    old = {
        "as_of": "2026-10-01",
        "pregnancy_weeks": 26,
        "mother_age": 40,
        "income_per_person": round(1.5 * 15719),
    }
    assert discovery.dated_profile(old, dt.date(2026, 10, 1), per_capita=15719) == {
        "as_of": "2026-10-01",
        "pregnancy_weeks_range": [23, 30],
        "mother_age_range": [36, 80],
        "income_range_pm": [1, 2],
    }
    typed = {"as_of": "2026-10-01", "income_per_person": 14000}
    assert discovery.dated_profile(typed, dt.date(2026, 10, 1), per_capita=15719) == typed
