"""MaxSession's translation of Bot API calls, over HTTP against the fake MAX Bot API.

Texts (HTML within MAX's tags, over the 4000 limit), uploads (the digest's chart and workbook,
/mydata), downloads of what a person sent, copies, edits after a restart, the command menu,
chat actions, deep links, and errors turned into aiogram's exceptions.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram.enums import ChatAction
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup

from bot.app import App
from bot.channels import channel_of
from bot.deeplinks import bot_start_link, start_link
from bot.digest_delivery import get_or_build_digest, render_for, send_rendered
from bot.max.convert import MaxUnsupportedMethod
from bot.max.html import MAX_TEXT, split_html, to_max_html
from bot.max.ids import MaxMessageIds, update_id_of
from bot.max.session import MaxSession
from bot.middlewares.telegram_api import no_retry
from bot.runner import set_commands
from core.digest import parse_week
from db.enums import Channel
from tests.fake_max import visible_text
from tests.max_helpers import MaxRun, max_bot_polling


@pytest.fixture
async def run(app: App) -> AsyncIterator[MaxRun]:
    async with max_bot_polling(app) as running:
        yield running


def session_of(run: MaxRun) -> MaxSession:
    assert isinstance(run.bot.session, MaxSession)
    return run.bot.session


# --- HTML ---------------------------------------------------------------------------------


def test_telegram_only_tags_are_dropped_and_their_text_kept() -> None:
    text = '<b>Важно</b> <tg-spoiler>секрет</tg-spoiler> <a href="https://x.ru/?a=1&amp;b=2">ссылка</a>'
    assert to_max_html(text) == (
        '<b>Важно</b> секрет <a href="https://x.ru/?a=1&amp;b=2">ссылка</a>'
    )
    # An unclosed tag is closed; a stray closing tag is dropped.
    assert to_max_html("<b>жирный <i>и курсив") == "<b>жирный <i>и курсив</i></b>"
    assert to_max_html("текст</u> 5 &lt; 6") == "текст 5 &lt; 6"


def test_long_html_is_split_into_balanced_pieces_within_the_limit() -> None:
    paragraph = "<b>Заголовок</b>\n" + "слово " * 300 + "\n\n"
    text = "<i>" + paragraph * 12 + "</i>"
    pieces = split_html(text)
    assert len(pieces) > 1
    assert all(len(piece) <= MAX_TEXT for piece in pieces)
    for piece in pieces:
        visible_text(piece, "html")  # balanced, only MAX's tags (raises otherwise)
        assert piece.startswith("<i>") and piece.endswith("</i>")
    joined = "".join(html.unescape(visible_text(p, "html")) for p in pieces)
    assert joined.split() == html.unescape(visible_text(text, "html")).split()


def test_one_unbroken_word_longer_than_the_limit_is_cut_not_lost() -> None:
    pieces = split_html("&amp;" + "я" * 9000)
    assert all(len(p) <= MAX_TEXT for p in pieces)
    assert "".join(html.unescape(p) for p in pieces) == "&" + "я" * 9000


async def test_a_long_text_reaches_max_as_several_messages_keyboard_on_the_last(
    run: MaxRun,
) -> None:
    anna = run.fake.user(7101)
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Дальше", callback_data="next")]]
    )
    sent = await run.bot.send_message(
        7101, "<b>Список</b>\n" + "строка\n" * 1500, reply_markup=keyboard
    )
    assert len(anna.messages) == 3
    assert [m.button_texts for m in anna.messages] == [[], [], ["Дальше"]]
    assert sent.message_id == (await session_of(run).ids.number(anna.messages[-1].mid, 7101))
    assert all(len(m.html or "") <= MAX_TEXT for m in anna.messages)


# --- files --------------------------------------------------------------------------------


async def test_digest_chart_and_workbook_are_uploaded_to_a_manager_on_max(
    run: MaxRun, app: App
) -> None:
    irina = run.fake.user(7102, "Ирина")
    week = parse_week("2026-W47")
    digest = await get_or_build_digest(app, "RU-TAM", week, app.clock.now())
    rendered = await render_for(app, digest, "ru")
    t = app.texts.get("ru")
    await send_rendered(run.bot, 7102, rendered, week="2026-W47", t=t)
    kinds = [[a["type"] for a in m.attachments] for m in irina.messages]
    assert kinds[-2:] == [["image"], ["file"]]
    name, content = run.fake.file_bytes(irina.messages[-1])
    assert name == rendered.xlsx_name and content[:2] == b"PK"
    _, picture = run.fake.file_bytes(irina.messages[-2])
    assert picture.startswith(b"\x89PNG")
    assert "2026-W47" in irina.messages[-1].text, "the caption goes with the file"
    assert run.fake.calls_to("POST", "/uploads") == 2


async def test_mydata_arrives_as_a_json_file(run: MaxRun) -> None:
    anna = run.fake.user(7103)
    await anna.start()
    await anna.click("✅ Согласен(на)")
    await anna.send("/mydata")
    name, content = run.fake.file_bytes(anna.messages[-1])
    assert name == "my-data.json" and b'"consents"' in content


async def test_what_a_person_sends_can_be_downloaded_by_file_id(run: MaxRun) -> None:
    anna = run.fake.user(7104)
    session = session_of(run)
    for kind, attachment in (
        ("document", run.fake.stored_attachment("file", b"%PDF-1.4 scan", "passport.pdf")),
        ("photo", run.fake.stored_attachment("image", b"\x89PNG photo", "p.png")),
        ("voice", run.fake.stored_attachment("audio", b"OggS voice", "v.ogg")),
    ):
        update = await session.translate(anna.message_update("подпись", [attachment]))
        assert update is not None and update.message is not None
        message = update.message
        assert message.caption == "подпись" and message.text is None
        media: dict[str, Any] = {
            "document": message.document,
            "photo": message.photo[-1] if message.photo else None,
            "voice": message.voice,
        }
        found = media[kind]
        assert found is not None, kind
        data = await run.bot.download(found.file_id)
        assert data is not None
        assert data.read() == run.fake.uploads[attachment["payload"]["token"]][1]
    assert message.document is None and message.voice is not None


async def test_a_copy_resends_the_attachment_by_its_token(run: MaxRun) -> None:
    anna, olga = run.fake.user(7105), run.fake.user(7106, "Ольга")
    photo = run.fake.stored_attachment("image", b"\x89PNG", "p.png")
    update = await session_of(run).translate(anna.message_update("фото справки", [photo]))
    assert update is not None and update.message is not None
    copied = await run.bot.copy_message(7106, 7105, update.message.message_id, caption="№12")
    received = olga.messages[-1]
    assert received.attachments[0]["payload"]["token"] == photo["payload"]["token"]
    assert received.text == "№12" and copied.message_id > 0


# --- ids, edits, menus, actions, links ----------------------------------------------------


async def test_an_edit_after_a_restart_finds_the_message(run: MaxRun, app: App) -> None:
    anna = run.fake.user(7107)
    sent = await run.bot.send_message(7107, "Заявка принята")
    # A new process: nothing in memory, the number is read back from max_messages.
    await session_of(run).ids.flush()
    session_of(run).ids = MaxMessageIds(app.session_factory, app.clock)
    await run.bot.edit_message_text("Заявка закрыта", chat_id=7107, message_id=sent.message_id)
    assert anna.messages[-1].text == "Заявка закрыта" and anna.messages[-1].edits == 1
    with pytest.raises(TelegramBadRequest):
        await run.bot.edit_message_text("?", chat_id=7107, message_id=999_999)


async def test_command_menu_is_set_once_in_russian(run: MaxRun) -> None:
    await set_commands(run.bot, run.dp["texts"])
    names = {c["name"]: c["description"] for c in run.fake.commands}
    assert names["find"] == "Подобрать меры поддержки"
    assert len(names) <= 32
    too_many = [BotCommand(command=f"c{i}", description="x") for i in range(40)]
    await run.bot.set_my_commands(too_many)
    assert len(run.fake.commands) == 32


async def test_chat_action_goes_to_the_dialog(run: MaxRun) -> None:
    anna = run.fake.user(7108)
    await anna.send("/help")
    await run.bot.send_chat_action(7108, ChatAction.UPLOAD_DOCUMENT)
    assert anna.actions == ["sending_file"]


async def test_deep_links_follow_the_messenger(run: MaxRun) -> None:
    assert channel_of(run.bot) is Channel.MAX
    assert await bot_start_link(run.bot, "m-fed-birth-grant") == (
        "https://max.ru/family_nav_max_bot?start=m-fed-birth-grant"
    )
    assert start_link(Channel.TELEGRAM, "nav_bot", "join-x") == "https://t.me/nav_bot?start=join-x"
    with pytest.raises(ValueError, match="128"):
        start_link(Channel.MAX, "b", "x" * 129)


async def test_a_measure_link_opened_on_max_shows_the_card(run: MaxRun) -> None:
    anna = run.fake.user(7109)
    await anna.start("m-fed-birth-grant")
    assert any("Единовременное пособие при рождении" in m.text for m in anna.messages)


# --- errors -------------------------------------------------------------------------------


async def test_max_errors_become_aiograms_exceptions(run: MaxRun) -> None:
    anna = run.fake.user(7110)
    anna.block()
    with pytest.raises(TelegramForbiddenError):
        await run.bot.send_message(7110, "Здравствуйте")
    anna.blocked = False
    run.fake.fail_next("/messages", 429, "too.many.requests")
    with no_retry(), pytest.raises(TelegramRetryAfter):
        await run.bot.send_message(7110, "Здравствуйте")
    run.fake.fail_next("/messages", 503, "service.unavailable")
    with pytest.raises(TelegramServerError):
        await run.bot.send_message(7110, "Здравствуйте")
    with pytest.raises(MaxUnsupportedMethod, match="SendLocation"):
        await run.bot.send_location(7110, latitude=55.0, longitude=37.0)
    await run.bot.send_message(7110, "Здравствуйте")
    assert anna.last_text() == "Здравствуйте"


async def test_forged_and_oversized_input_is_answered_not_crashed(run: MaxRun) -> None:
    anna = run.fake.user(7111)
    await anna.start()
    forged = anna.click_update("✅ Согласен(на)")
    forged["callback"]["payload"] = "card:r:" + "x" * 900
    await run.fake.deliver(forged)
    await anna.send("пособие " * 700)  # 5600 characters
    assert anna.messages[-1].text  # an answer, no exception reached the test
    # An update of a type the bot does not handle is ignored (and logged by type only).
    ignored = {"update_type": "dialog_muted", "timestamp": 1, "chat_id": 1, "user": anna.json}
    assert await session_of(run).translate(ignored) is None


def test_derived_update_ids_are_stable_and_never_telegrams() -> None:
    first = update_id_of("message_created", 17)
    assert first == update_id_of("message_created", 17)
    assert first != update_id_of("message_created", 18)
    assert 2**60 <= first < 2**61 and first < 2**63


def test_time_of_a_max_message_is_in_milliseconds() -> None:
    from bot.max.updates import _time

    assert _time(1_764_320_400_000) == dt.datetime(2025, 11, 28, 9, 0, tzinfo=dt.UTC)


async def test_a_stored_max_update_is_resumed_by_max_polling_only(run: MaxRun, app: App) -> None:
    """After a crash each messenger's polling handles its own stored updates."""
    from bot.factory import create_bot, create_dispatcher
    from bot.local_session import LocalSession
    from bot.max.ids import MAX_UPDATE_IDS
    from bot.polling import DurablePolling

    anna = run.fake.user(7112)
    update = await session_of(run).translate(anna.start_update())
    assert update is not None
    max_polling = DurablePolling(
        run.dp, run.bot, app.session_factory, app.clock, update_ids=MAX_UPDATE_IDS
    )
    await max_polling.store([update])  # received, then the process died

    local = LocalSession()
    telegram_bot = create_bot(app.settings, session=local)
    telegram = DurablePolling(
        create_dispatcher(app, rate_limit=None), telegram_bot, app.session_factory, app.clock
    )
    assert await telegram.resume() == 0
    assert await max_polling.resume() == 1
    await max_polling.wait_handled()
    assert "Семейный навигатор" in anna.messages[0].text
    assert not local.requests, "nothing went out through Telegram"


async def test_in_a_group_chat_only_a_command_gets_one_line_pointing_to_a_dialog(
    run: MaxRun,
) -> None:
    anna = run.fake.user(7113)
    await run.fake.deliver(anna.group_update(-5501, "пособие на ребенка"))
    await run.fake.deliver(anna.group_update(-5501, "/start"))
    [answer] = run.fake.group_messages[-5501]
    assert "личн" in answer.text.lower()
    assert anna.messages == [], "nothing is said to the person in private either"


async def test_a_file_with_buttons_goes_alone_then_the_caption_with_the_buttons(
    run: MaxRun,
) -> None:
    from aiogram.types import BufferedInputFile

    anna = run.fake.user(7114)
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Готово", callback_data="done")]]
    )
    await run.bot.send_document(
        7114, BufferedInputFile(b"%PDF", "form.pdf"), caption="Бланк", reply_markup=keyboard
    )
    document, caption = anna.messages
    assert [a["type"] for a in document.attachments] == ["file"]
    assert caption.text == "Бланк" and caption.button_texts == ["Готово"]
    await run.bot.send_voice(7114, BufferedInputFile(b"OggS", "v.ogg"))
    assert anna.messages[-1].attachments[0]["type"] == "audio"
    await run.bot.send_photo(7114, "https://example.org/picture.png")
    assert anna.messages[-1].attachments[0]["payload"] == {
        "url": "https://example.org/picture.png"
    }
    with pytest.raises(TelegramBadRequest, match="not a MAX file id"):
        await run.bot.send_document(7114, "BQACAgIAAxkBAAIB-telegram-file-id")
