"""A family's first conversation: consent, anonymous browsing, region and municipality."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.local_chat import LocalChat
from db import models


async def count(session: AsyncSession, model: type[object]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_start_explains_who_the_bot_is_for_and_asks_consent(chat: LocalChat) -> None:
    anna = chat.user(101)
    replies = await anna.send("/start")
    assert "Семейный навигатор" in replies[0].text
    assert "семьям с детьми" in replies[0].text
    consent = replies[-1]
    assert "Согласие на обработку персональных данных" in consent.text
    assert "версия 1.0" in consent.text
    assert consent.button_texts == [
        "✅ Согласен(на)",
        "Смотреть анонимно",
        "📄 Прочитать условия",
        "Мне нет 18 лет",
    ]


async def test_consent_then_region_and_municipality_are_stored(
    chat: LocalChat, session: AsyncSession
) -> None:
    anna = chat.user(102)
    await anna.send("/start")
    await anna.click("✅ Согласен(на)")
    assert "Согласие записано (версия 1.0)" in anna.messages[-2].text
    assert anna.last_text == "В каком регионе вы живёте?"
    await anna.click("Тамбовская область")
    assert "Выберите ваш город или округ" in anna.last_text
    await anna.send("Мичуринск")
    await anna.click("г. Мичуринск")
    assert "Готово!" in anna.last_text

    user = await session.scalar(select(models.User).where(models.User.messenger_id == 102))
    assert user is not None
    assert (user.region_code, user.municipality_id) == ("RU-TAM", "tam-michurinsk")
    assert user.consent_version == "1.0"
    consent = await session.scalar(select(models.Consent).where(models.Consent.user_id == user.id))
    assert consent is not None and consent.kind == "personal_data" and consent.version == "1.0"


async def test_declining_consent_stores_nothing_but_still_works(
    chat: LocalChat, session: AsyncSession
) -> None:
    boris = chat.user(103)
    await boris.send("/start")
    await boris.click("Смотреть анонимно")
    assert "ничего о вас не сохраняю" in boris.messages[-2].text
    await boris.click("Нижегородская область")
    await boris.click("Пропустить")
    assert "анонимном режиме" in boris.last_text
    assert await count(session, models.User) == 0
    assert await count(session, models.Consent) == 0

    await boris.send("/profile")
    assert "Нижегородская область" in boris.last_text
    assert "не дано" in boris.last_text


async def test_anonymous_choice_is_kept_when_consent_is_given_later(
    chat: LocalChat, session: AsyncSession
) -> None:
    vera = chat.user(104)
    await vera.send("/start")
    await vera.click("Смотреть анонимно")
    await vera.click("Московская область")
    await vera.send("Железнодорожный")
    await vera.click("г.о. Балашиха")
    await vera.send("/profile")
    await vera.click("Дать согласие")
    await vera.click("✅ Согласен(на)")
    user = await session.scalar(select(models.User).where(models.User.messenger_id == 104))
    assert user is not None
    assert (user.region_code, user.municipality_id) == ("RU-MOS", "mos-balashikha")


async def test_municipality_pages_and_unknown_name(chat: LocalChat) -> None:
    gleb = chat.user(105)
    await gleb.send("/start")
    await gleb.click("Смотреть анонимно")
    await gleb.click("Московская область")
    first_page = gleb.last_reply().button_texts
    await gleb.click("Дальше ›")
    second_page = gleb.last_reply().button_texts
    assert first_page != second_page
    assert "‹ Назад" in second_page
    await gleb.send("Абракадабринск")
    assert "Не нашёл «Абракадабринск»" in gleb.last_text
    await gleb.send("<b>Град</b>")
    assert "Не нашёл «&lt;b&gt;Град&lt;/b&gt;»" in gleb.last_text, "typed text is escaped"
    await gleb.send("/privacy")
    assert "Не нашёл" not in gleb.last_text, "a command runs, it is not a place's name"
    assert "152-ФЗ" in gleb.last_text or "персональн" in gleb.last_text


async def test_english_client_gets_english_and_can_switch_language(chat: LocalChat) -> None:
    john = chat.user(106, "John", "en-GB")
    replies = await john.send("/start")
    assert "Family Navigator" in replies[0].text
    await john.click("Browse anonymously")
    await john.click("Tambov")
    await john.click("Skip")
    await john.send("/profile")
    await john.click("🇷🇺 Русский")
    assert john.last_text == "Язык: русский."
    await john.send("/help")
    assert "Семейный навигатор" in john.last_text


async def test_returning_family_is_welcomed_back(chat: LocalChat) -> None:
    anna = chat.user(107)
    await anna.send("/start")
    await anna.click("✅ Согласен(на)")
    await anna.click("Тамбовская область")
    await anna.click("Пропустить")
    replies = await anna.send("/start")
    assert len(replies) == 1
    assert "С возвращением" in replies[0].text


async def test_privacy_notice_is_sent_in_full(chat: LocalChat) -> None:
    anna = chat.user(108)
    await anna.send("/privacy")
    assert "не дано (анонимный режим)" in anna.last_text
    await anna.click("📄 Полный текст")
    assert "ПОЛИТИКА ОБРАБОТКИ ПЕРСОНАЛЬНЫХ ДАННЫХ" in anna.last_text
    assert "152-ФЗ" in anna.last_text


async def test_cancel_leaves_a_dialog_and_says_so(chat: LocalChat) -> None:
    anna = chat.user(109)
    await anna.send("/cancel")
    assert "нечего отменять" in anna.last_text
    await anna.send("/start")
    await anna.click("Смотреть анонимно")
    await anna.click("Тамбовская область")
    await anna.send("/cancel")
    assert "вышли" in anna.last_text
    await anna.send("/profile")
    assert "Тамбовская область" in anna.last_text, "anonymous region survives /cancel"


async def test_municipality_list_starts_with_the_regional_centre_and_largest_towns(
    chat: LocalChat,
) -> None:
    anna = chat.user(110)
    await anna.send("/start")
    await anna.click("Смотреть анонимно")
    await anna.click("Тамбовская область")
    first_page = anna.last_reply().button_texts
    assert first_page[:6] == [
        "г. Тамбов",
        "г. Мичуринск",
        "г. Рассказово",
        "г. Моршанск",
        "г. Котовск",
        "г. Уварово",
    ]
    # Then the rest alphabetically, «г. Кирсанов» read as «Кирсанов».
    assert first_page[6:10] == [
        "Бондарский округ",
        "Гавриловский округ",
        "Жердевский округ",
        "Знаменский округ",
    ]
    await anna.click("Дальше ›")
    second_page = anna.last_reply().button_texts
    assert second_page.index("г. Кирсанов") == second_page.index("Кирсановский округ") - 1

    boris = chat.user(111)
    await boris.send("/start")
    await boris.click("Смотреть анонимно")
    await boris.click("Нижегородская область")
    assert boris.last_reply().button_texts[:2] == ["г. Нижний Новгород", "г. Дзержинск"]


async def test_changing_the_municipality_from_profile_answers_briefly(chat: LocalChat) -> None:
    anna = chat.user(112)
    await anna.send("/start")
    await anna.click("✅ Согласен(на)")
    await anna.click("Тамбовская область")
    await anna.click("г. Тамбов")
    assert "Готово! Вот что я умею" in anna.last_text, "onboarding ends with the help"

    await anna.send("/profile")
    await anna.click("Сменить муниципалитет")
    await anna.click("г. Мичуринск")
    assert anna.messages[-2].text == "Муниципалитет: <b>г. Мичуринск</b>."
    assert anna.last_text == "Сохранено. Ваш профиль: /profile"

    await anna.send("/profile")
    await anna.click("Сменить регион")
    await anna.click("Нижегородская область")
    await anna.click("Пропустить")
    assert anna.last_text == "Сохранено. Ваш профиль: /profile"
    await anna.send("/profile")
    assert "Нижегородская область" in anna.last_text

    await anna.send("/start")
    assert "С возвращением" in anna.last_text


async def test_the_full_notice_carries_the_consent_buttons(
    chat: LocalChat, session: AsyncSession
) -> None:
    anna = chat.user(120)
    await anna.send("/start")
    notice = (await anna.click("📄 Прочитать условия"))[-1]
    assert notice.button_texts == ["✅ Согласен(на)", "Смотреть анонимно", "Мне нет 18 лет"]
    await anna.press(notice, notice.buttons[0][0][1])
    assert "Согласие записано (версия 1.0)" in anna.messages[-2].text
    assert anna.last_text == "В каком регионе вы живёте?"
    assert await count(session, models.Consent) == 1


async def test_privacy_notice_offers_consent_only_to_who_has_not_given_it(
    chat: LocalChat,
) -> None:
    boris = chat.user(121)
    await boris.send("/start")
    await boris.click("Смотреть анонимно")
    await boris.send("/privacy")
    notice = (await boris.click("📄"))[-1]
    assert "✅ Согласен(на)" in notice.button_texts
    vera = chat.user(122)
    await vera.send("/start")
    await vera.click("✅ Согласен(на)")
    await vera.send("/privacy")
    assert (await vera.click("📄"))[-1].buttons == []
