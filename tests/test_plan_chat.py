"""«Мой план» through the chat: marking measures, ticking documents, /plan with its PDF,
the screener's «уже получаете», forged buttons, /mydata and /forget."""

from __future__ import annotations

import io
import json

from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.local_chat import ChatUser, LocalChat
from bot.local_session import Sent
from core import people
from core.screener import Child, FamilyProfile
from core.search import discovery
from db import models
from db.enums import PlanStatus
from tests.referral_helpers import family_in, request_help, staff
from tests.test_consultations import MON_14, ORG, PSY, book_in_chat, publish

GRANT = "Единовременное пособие при рождении ребёнка"
NEWBORN_5000 = "5 000 ₽ на каждого новорождённого"
MATCAP = "Материнский (семейный) капитал"


async def family_with_profile(app: App, chat: LocalChat, messenger_id: int) -> ChatUser:
    """A Tambov family that consented and whose /find answers are saved: a baby born on
    15 October 2026 (the clock stands at 28 November 2026)."""
    person = chat.user(messenger_id)
    await person.send("/start")
    await person.click("✅ Согласен(на)")
    await person.click("Тамбовская область")
    await person.click("Пропустить")
    async with app.session_factory() as session:
        user = await people.get_user(session, messenger_id)
        profile = FamilyProfile(
            children=[Child(birth_date="2026-10-15")], citizen=True, pregnant=False
        )
        assert await discovery.save_profile(session, app.clock, user, profile)
    return person


async def items(
    session: AsyncSession, person: ChatUser | None = None
) -> dict[str, models.PlanItem]:
    """Plan rows by measure: everyone's (tests with one family) or one person's."""
    session.expire_all()
    query = select(models.PlanItem)
    if person is not None:
        user = await people.get_user(session, person.id)
        assert user is not None
        query = query.where(models.PlanItem.user_id == user.id)
    return {row.measure_id: row for row in await session.scalars(query)}


async def mark(person: ChatUser, measure_id: str, status_button: str) -> list[Sent]:
    await person.send(f"/start m-{measure_id}")
    await person.click("📋 В мой план")
    assert person.last_text.endswith("Где вы сейчас с этой мерой?")
    return await person.click(status_button)


def pdf_text(sent: Sent) -> str:
    assert sent.kind == "document" and sent.file_data is not None
    reader = PdfReader(io.BytesIO(sent.file_data))
    return "\n".join(page.extract_text() for page in reader.pages)


def last_alert(chat: LocalChat) -> str:
    answer = chat.session.answers[-1]
    assert answer.show_alert, "a refused button gets a visible explanation"
    return answer.text or ""


async def test_a_family_marks_measures_ticks_documents_and_gets_its_plan_with_a_pdf(
    app: App, chat: LocalChat, session: AsyncSession
) -> None:
    anna = await family_with_profile(app, chat, 5101)
    await mark(anna, "fed-birth-grant", "📝 Планирую")
    assert anna.last_text == f"Отмечено: «{GRANT}» — Планирую. Весь план: /plan"
    await mark(anna, "tam-newborn-5000", "📨 Подали заявление")
    await mark(anna, "fed-matcap", "✅ Получаем")
    stored = await items(session)
    assert {m: i.status for m, i in stored.items()} == {
        "fed-birth-grant": "planned",
        "tam-newborn-5000": "applied",
        "fed-matcap": "receiving",
    }

    replies = await anna.send("/plan")
    message, document = replies[-2], replies[-1]
    text = message.text
    assert text.startswith("<b>📋 Мой план</b>\n<i>Тамбовская область · составлен 28 ноября 2026")
    # By status, in the order of a to-do list; the checklist and deadline of what is pending.
    assert text.index("📝 Планирую") < text.index(GRANT) < text.index("📨 Подали заявление")
    assert text.index("📨 Подали заявление") < text.index("✅ Получаем") < text.index(MATCAP)
    assert "☐ Свидетельство о рождении ребёнка" in text
    assert "Куда обращаться: Госуслуги, Соцфонд (СФР), МФЦ" in text
    assert "Срок: подать до 15 апреля 2027 (осталось 138 дней)" in text
    assert "По правилам: в течение 6 месяцев после рождения" in text
    assert "8 (4752) 78-60-60" in text, "the region's contacts"
    received = text[text.index("✅ Получаем") :]
    assert "☐" not in received.split("📞")[0], "no checklist for what the family receives"
    assert message.button_texts == [f"✏️ {GRANT}", f"✏️ {NEWBORN_5000}", f"✏️ {MATCAP}"]

    assert document.file_name == "plan-2026-11-28.pdf"
    assert document.text == "Ваш план в PDF — можно распечатать или показать в МФЦ."
    printed = pdf_text(document)
    for expected in (
        "Мой план",
        "Тамбовская область · составлен 28 ноября 2026",
        "Планирую",
        GRANT,
        "☐ Свидетельство о рождении ребёнка",
        "подать до 15 апреля 2027",
        "Контакты региона",
        "8 (4752) 78-60-60",
        MATCAP,
    ):
        assert expected in printed, expected
    # Nothing the family did not enter: not its name, not its account.
    assert "Анна" not in printed and "5101" not in printed
    assert "📝" not in printed, "the font has no emoji: icons are left out, not boxed"

    # Tick a document, then change the status from the plan's own view.
    await anna.click(f"✏️ {GRANT}")
    assert anna.last_reply().button_texts[0] == "☐ Свидетельство о рождении ребёнка"
    await anna.click("☐ Свидетельство о рождении ребёнка")
    assert chat.session.answers[-1].text == "☑ Готово"
    assert anna.last_reply().button_texts[0] == "☑ Свидетельство о рождении ребёнка"
    assert "☑ Свидетельство о рождении ребёнка" in anna.last_text
    assert (await items(session))["fed-birth-grant"].documents_done == ["0"]
    await anna.click("📨 Подали заявление")
    assert "Сейчас в плане: Подали заявление." in anna.last_text
    assert "• 📨 Подали заявление" in anna.last_reply().button_texts
    row = (await items(session))["fed-birth-grant"]
    assert row.status == PlanStatus.APPLIED and row.documents_done == ["0"]
    # Unticking works the same way.
    await anna.click("☑ Свидетельство о рождении ребёнка")
    assert (await items(session))["fed-birth-grant"].documents_done == []

    # Settled: no checklist to tick once the family receives the measure.
    await anna.click("✅ Получаем")
    assert not any(b.startswith("☐") for b in anna.last_reply().button_texts)


async def test_marking_again_changes_the_mark_and_the_picker_shows_it(
    app: App, chat: LocalChat, session: AsyncSession
) -> None:
    anna = await family_with_profile(app, chat, 5102)
    await mark(anna, "fed-birth-grant", "📝 Планирую")
    await anna.send("/start m-fed-birth-grant")
    await anna.click("📋 В мой план")
    assert "Сейчас в плане: Планирую." in anna.last_text
    assert "• 📝 Планирую" in anna.last_reply().button_texts
    await anna.click("❌ Отказали")
    assert [(m, i.status) for m, i in (await items(session)).items()] == [
        ("fed-birth-grant", "refused")
    ]


async def test_an_anonymous_family_is_asked_to_consent_and_nothing_is_stored(
    chat: LocalChat, session: AsyncSession
) -> None:
    olga = chat.user(5103)
    await olga.send("/start")
    await olga.click("Смотреть анонимно")
    await olga.click("Тамбовская область")
    await olga.click("Пропустить")
    await olga.send("/start m-fed-birth-grant")
    replies = await olga.click("📋 В мой план")
    assert replies[0].text.startswith("Чтобы вести ваш план, мне нужно согласие")
    assert "✅ Согласен(на)" in replies[-1].button_texts
    # A status button pressed anyway (an old picker, a forged press) stores nothing either.
    await olga.press(replies[-1], "pl:s:fed-birth-grant:planned")
    await olga.send("/plan")
    assert "согласие" in olga.messages[-2].text
    assert await items(session) == {}
    # After consenting, the same button works.
    await olga.click("✅ Согласен(на)")
    await olga.send("/start m-fed-birth-grant")
    await olga.click("📋 В мой план")
    await olga.click("📝 Планирую")
    assert list(await items(session)) == ["fed-birth-grant"]


async def test_an_empty_plan_says_how_to_fill_it(app: App, chat: LocalChat) -> None:
    anna = await family_with_profile(app, chat, 5104)
    replies = await anna.send("/plan")
    assert [r.kind for r in replies] == ["text"], "no PDF of nothing"
    assert "В вашем плане пока ничего нет" in replies[0].text


async def test_forged_plan_buttons_are_answered_and_change_nothing(
    app: App, chat: LocalChat, session: AsyncSession
) -> None:
    anna = await family_with_profile(app, chat, 5105)
    boris = await family_with_profile(app, chat, 5106)
    await mark(anna, "fed-birth-grant", "📝 Планирую")
    before = {m: (i.status, i.documents_done) for m, i in (await items(session, anna)).items()}
    sent = boris.last_reply()
    forged = {
        "pl:s:no-such-measure:planned": "Этой меры нет в каталоге",
        "pl:s:fed-birth-grant:paid": "Непонятная отметка",
        "pl:s:fed-birth-grant:": "Непонятная отметка",
        "pl:a:no-such-measure:": "Этой меры нет в каталоге",
        # Anna's measure, pressed by Boris: his plan does not have it.
        "pl:o:fed-birth-grant:": "Этой меры нет в вашем плане",
        "pl:d:fed-birth-grant:0": "Этой меры нет в вашем плане",
        "pl:t:fed-birth-grant:refused": "Этой меры нет в вашем плане",
        "pl:d:no-such-measure:0": "Этой меры нет в каталоге",
    }
    for data, answer in forged.items():
        await boris.press(sent, data)
        assert last_alert(chat).startswith(answer), data
    await mark(boris, "fed-birth-grant", "📝 Планирую")
    for data, answer in {
        "pl:d:fed-birth-grant:99": "Такого документа нет в списке",
        # No id is negative: the outer middleware answers it as a stale button.
        "pl:d:fed-birth-grant:-1": "Эта кнопка устарела",
        "pl:d:fed-birth-grant:x": "Такого документа нет в списке",
        "pl:t:fed-birth-grant:🙂": "Непонятная отметка",
    }.items():
        await boris.press(boris.last_reply(), data)
        assert last_alert(chat).startswith(answer), data
    anna_rows = {m: (i.status, i.documents_done) for m, i in (await items(session, anna)).items()}
    assert anna_rows == before == {"fed-birth-grant": ("planned", [])}, "Anna's plan untouched"
    boris_rows = {
        m: (i.status, i.documents_done) for m, i in (await items(session, boris)).items()
    }
    assert boris_rows == {"fed-birth-grant": ("planned", [])}, (
        "and Boris's forged ticks did nothing"
    )


async def test_the_screener_shows_what_the_family_receives_apart(
    app: App, chat: LocalChat, session: AsyncSession
) -> None:
    anna = await family_with_profile(app, chat, 5107)
    await anna.send("/find")
    await anna.click("Показать подбор")  # the saved answers
    results = anna.last_text
    assert GRANT in results and "Уже получаете" not in results
    await mark(anna, "fed-birth-grant", "✅ Получаем")
    await anna.send("/find")
    await anna.click("Показать подбор")
    results = anna.last_text
    offered, _, apart = results.partition("<b>Уже получаете</b> — больше не предлагаю:")
    assert GRANT not in offered, "no longer offered"
    assert f"✅ {GRANT}" in apart
    labels = anna.last_reply().button_texts
    assert not any(GRANT in label for label in labels[:-1])
    # The results' own button: pick a measure, then its status.
    assert labels[-1] == "📋 Отметить меры в плане"
    await anna.click("📋 Отметить меры в плане")
    assert anna.last_text.startswith("Какую меру отметить в плане?")
    await anna.click(NEWBORN_5000)
    await anna.click("📝 Планирую")
    assert (await items(session))["tam-newborn-5000"].status == "planned"


async def test_mydata_includes_the_plan_and_forget_erases_it(
    app: App, chat: LocalChat, session: AsyncSession
) -> None:
    anna = await family_with_profile(app, chat, 5108)
    await mark(anna, "fed-birth-grant", "📝 Планирую")
    await anna.send("/plan")
    await anna.click(f"✏️ {GRANT}")
    await anna.click("☐ Свидетельство о рождении ребёнка")
    [exported] = await anna.send("/mydata")
    assert exported.file_data is not None
    data = json.loads(exported.file_data)
    assert data["plan"] == [
        {
            "measure": "fed-birth-grant",
            "status": "planned",
            "documents_done": ["0"],
            "created_at": data["plan"][0]["created_at"],
            "status_at": data["plan"][0]["status_at"],
        }
    ]
    assert data["plan"][0]["created_at"].startswith("2026-11-28")
    await anna.send("/forget")
    await anna.click("Да, удалить всё")
    assert await items(session) == {}


async def test_the_plan_shows_the_requests_and_bookings_and_what_happened(
    app: App, chat: LocalChat, session: AsyncSession
) -> None:
    await staff(app, chat, 5110, ORG)  # bookings are offered where someone takes them
    await publish(app, PSY, MON_14)
    anna = await family_in(chat, 5109, "Тамбовская область", "Тамбов", "г. Тамбов")
    await book_in_chat(anna, "пн 30 ноя, 14:00")
    await request_help(anna, "💬 Психологическая помощь")
    replies = await anna.send("/plan")
    text = replies[-2].text
    assert "Мер в плане пока нет" in text, "a plan of requests only still goes out"
    section = text[text.index("🤝 Заявки и консультации") :]
    assert "Консультация «Консультация психолога» 30 ноября 2026 в 14:00 — " in section
    request = next(line for line in section.splitlines() if "Заявка №" in line)
    assert "«Психологическая помощь» от 28 ноября 2026 — " in request
    printed = pdf_text(replies[-1])
    assert "Заявки и консультации" in printed and "30 ноября 2026 в 14:00" in printed
    # A telephone typed into the request is the family's, but not part of the plan.
    assert "+7" not in printed


async def test_an_english_speaking_family_gets_its_plan_in_english(
    app: App, chat: LocalChat
) -> None:
    kate = chat.user(5111, "Kate", language_code="en")
    await kate.send("/start")
    await kate.click("✅ I agree")
    await kate.click("Tambov Oblast")
    await kate.click("Skip")
    await kate.send("/start m-fed-birth-grant")
    await kate.click("📋 Add to my plan")
    await kate.click("📝 Planning")
    assert kate.last_text == (
        "Marked: “One-time childbirth grant” — Planning. The whole plan: /plan"
    )
    replies = await kate.send("/plan")
    assert "<b>📝 Planning</b>" in replies[-2].text
    assert "☐ The child's birth certificate" in replies[-2].text
    assert "Deadline: within 6 months of the birth" in replies[-2].text, "no birth date given"
    printed = pdf_text(replies[-1])
    assert "My plan" in printed and "Tambov Oblast · made on 28 November 2026" in printed
    assert "One-time childbirth grant" in printed and "Where to apply:" in printed


async def test_a_card_states_the_deadline_dated_for_the_family(app: App, chat: LocalChat) -> None:
    anna = await family_with_profile(app, chat, 5112)
    await anna.send("/start m-tam-newborn-5000")
    assert (
        "⏳ <b>Срок подачи:</b> в течение 6 месяцев после рождения — "
        "подать до 15 апреля 2027 (осталось 138 дней)"
    ) in anna.last_text
    await anna.send("/start m-fed-matcap")
    assert "Срок подачи" not in anna.last_text, "no deadline where the law sets none"
    olga = chat.user(5113)  # no answers at all: the rule, without a date
    await olga.send("/start m-tam-newborn-5000")
    assert "⏳ <b>Срок подачи:</b> в течение 6 месяцев после рождения\n" in olga.last_text
