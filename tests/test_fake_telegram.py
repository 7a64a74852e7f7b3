"""The Bot API fake carries a real aiogram bot over HTTP, in polling and in webhook mode."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router, html
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ChatAction, ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import CommandStart
from aiogram.methods import SendMessage
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    CallbackQuery,
    ErrorEvent,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    MenuButtonCommands,
    Message,
    ReplyKeyboardMarkup,
)
from aiogram.utils.formatting import Bold, Text
from aiogram.utils.keyboard import InlineKeyboardBuilder
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.fake_telegram import FakeTelegram, UploadedFile, parse_html

TOKEN = "42:TEST"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@contextlib.asynccontextmanager
async def polling(dp: Dispatcher, bot: Bot) -> AsyncIterator[None]:
    """Run long polling in the background for the duration of the block."""
    started = asyncio.Event()

    async def on_startup() -> None:
        started.set()

    dp.startup.register(on_startup)
    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
    await asyncio.wait_for(started.wait(), 2)
    try:
        yield
    finally:
        await dp.stop_polling()
        await task


def greeting_router(chat_instances: list[str]) -> Router:
    router = Router(name="greeting")

    @router.message(CommandStart())
    async def cmd_start(message: Message) -> None:
        assert message.from_user is not None
        keyboard = InlineKeyboardBuilder()
        keyboard.button(text="Кнопка", callback_data="press")
        keyboard.button(text="Сайт", url="https://example.org")
        name = html.quote(message.from_user.first_name)
        await message.answer(f"Привет, <b>{name}</b>!", reply_markup=keyboard.as_markup())

    @router.callback_query(F.data == "press")
    async def cb_press(callback: CallbackQuery) -> None:
        assert isinstance(callback.message, Message)
        chat_instances.append(callback.chat_instance)
        await callback.message.edit_text("Нажато ✅")
        await callback.answer("Готово")

    return router


async def test_real_aiogram_bot_polls_the_fake_over_http(fake: FakeTelegram) -> None:
    chat_instances: list[str] = []
    errors: list[Exception] = []
    dp = Dispatcher()
    dp.include_router(greeting_router(chat_instances))

    @dp.errors()
    async def on_error(event: ErrorEvent) -> bool:
        errors.append(event.exception)
        return True

    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    anna = fake.user(1001, first_name="Анна <Мама>")

    async with polling(dp, bot):
        await anna.send("/start")
        [greeting] = await anna.wait_reply()
        assert greeting["text"] == "Привет, Анна <Мама>!"
        assert greeting["entities"] == [{"type": "bold", "offset": 8, "length": 11}]
        assert anna.buttons() == [["Кнопка", "Сайт"]]

        await anna.click("Кнопка")
        [edited] = await anna.wait_reply()
        assert edited is greeting
        assert anna.texts == ["Нажато ✅"]
        assert "reply_markup" not in edited
        answer = await anna.wait_callback_answer()
        assert answer["text"] == "Готово"
        assert fake.answered_callbacks == [answer]
        assert chat_instances == [anna.chat_instance]

        # aiogram does not retry flood control itself: the 429 surfaces as TelegramRetryAfter.
        fake.fail_next("sendMessage", 429, retry_after=7)
        await anna.send("/start")
        assert await fake.wait_until(lambda: bool(errors))
        [error] = errors
        assert isinstance(error, TelegramRetryAfter)
        assert error.retry_after == 7
        await anna.assert_no_reply(timeout=0.1)

        await anna.send("/start")
        [retried] = await anna.wait_reply()
        assert retried["text"] == "Привет, Анна <Мама>!"
        assert len(fake.calls_to("sendMessage")) == 3

        with pytest.raises(AssertionError, match="buttons: \\['Кнопка', 'Сайт'\\]"):
            await anna.click("Нет такой")
        with pytest.raises(AssertionError, match="sends no callback"):
            await anna.click("Сайт")

    assert fake.pending_updates == []
    assert [call.method for call in fake.calls[:2]] == ["getMe", "getUpdates"]


async def test_bot_methods_answer_in_shapes_aiogram_accepts(fake: FakeTelegram) -> None:
    bot = Bot(TOKEN, session=fake.bot_session())
    boris = fake.user(2002, "Борис")
    vera = fake.user(3003, "Вера", started=True)
    try:
        me = await bot.get_me()
        assert (me.id, me.is_bot, me.username, me.can_join_groups) == (42, True, "test_bot", True)
        assert await bot.delete_webhook(drop_pending_updates=True)
        assert (await bot.get_webhook_info()).url == ""
        scope = BotCommandScopeAllPrivateChats()
        assert await bot.set_my_commands(
            [BotCommand(command="start", description="Начать")], scope
        )
        assert fake.my_commands({"type": "all_private_chats"}) == [
            {"command": "start", "description": "Начать"}
        ]
        assert await bot.delete_my_commands(scope)
        assert fake.my_commands({"type": "all_private_chats"}) == []
        assert await bot.set_chat_menu_button(menu_button=MenuButtonCommands())

        with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
            await bot.send_message(boris.id, "Привет")
        question = await boris.send("Где получить справку?")
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(999, "Кому?")
        with pytest.raises(TelegramBadRequest, match='Unsupported start tag "br"'):
            await bot.send_message(boris.id, "строка<br>строка", parse_mode=ParseMode.HTML)
        assert await bot.send_chat_action(boris.id, ChatAction.TYPING)
        assert boris.chat_actions == ["typing"]

        share = KeyboardButton(text="Поделиться номером", request_contact=True)
        keyboard = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="Да"), share]])
        reply = await bot.send_message(boris.id, "Выберите", reply_markup=keyboard)
        assert reply.reply_markup is None
        assert boris.reply_keyboard == [["Да", "Поделиться номером"]]
        shared = await boris.press("Поделиться номером", phone_number="+79001234567")
        assert shared["contact"]["user_id"] == boris.id
        assert (await boris.press("Да"))["text"] == "Да"

        formatted = Text("Здравствуйте, ", Bold("<Борис>"), "!")
        greeting = await bot.send_message(boris.id, **formatted.as_kwargs())
        assert greeting.text == "Здравствуйте, <Борис>!"
        assert greeting.entities is not None
        assert greeting.entities[0].type == "bold"

        upload = BufferedInputFile(b"report", filename="report.pdf")
        doc = await bot.send_document(boris.id, upload, caption="<i>Отчёт</i>", parse_mode="HTML")
        assert doc.document is not None
        assert (doc.document.file_name, doc.document.mime_type) == (
            "report.pdf",
            "application/pdf",
        )
        assert (doc.caption, doc.caption_entities) is not None
        assert doc.caption == "Отчёт"
        sent_file = fake.calls_to("sendDocument")[-1]["document"]
        assert sent_file == UploadedFile("report.pdf", b"report", "application/pdf")
        file = await bot.get_file(doc.document.file_id)
        assert file.file_path is not None
        downloaded = await bot.download_file(file.file_path)
        assert downloaded is not None
        assert downloaded.read() == b"report"
        resent = await bot.send_document(vera.id, doc.document.file_id)
        assert resent.document is not None
        assert resent.document.file_id == doc.document.file_id

        photo = await bot.send_photo(boris.id, BufferedInputFile(b"jpeg", "p.jpg"))
        assert photo.photo is not None
        assert photo.photo[-1].width == 1280
        voice = await bot.send_voice(boris.id, BufferedInputFile(b"ogg", "v.ogg"))
        assert voice.voice is not None
        assert voice.voice.mime_type == "audio/ogg"

        copied = await bot.copy_message(vera.id, boris.id, question["message_id"])
        assert vera.messages[-1]["message_id"] == copied.message_id
        assert vera.last_text() == "Где получить справку?"
        forwarded = await bot.forward_message(vera.id, boris.id, question["message_id"])
        assert forwarded.forward_origin is not None
        assert forwarded.forward_origin.model_dump()["sender_user"]["id"] == boris.id

        yes = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Да", callback_data="yes")]]
        )
        sent = await bot.send_message(boris.id, "Вопрос?", reply_markup=yes)
        with pytest.raises(TelegramBadRequest, match="message is not modified"):
            await bot.edit_message_text(
                text="Вопрос?", chat_id=boris.id, message_id=sent.message_id, reply_markup=yes
            )
        bare = await bot.edit_message_reply_markup(chat_id=boris.id, message_id=sent.message_id)
        assert isinstance(bare, Message)
        assert bare.reply_markup is None
        assert await bot.delete_message(boris.id, sent.message_id)
        assert sent.message_id in boris.deleted_message_ids
        too_long = InlineKeyboardButton(text="Длинно", callback_data="x" * 65)
        with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
            markup = InlineKeyboardMarkup(inline_keyboard=[[too_long]])
            await bot.send_message(boris.id, "?", reply_markup=markup)

        fake.fail_next("sendMessage", 403)
        with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
            await bot.send_message(boris.id, "Привет")
        fake.fail_next("sendMessage", 500)
        with pytest.raises(TelegramServerError):
            await bot.send_message(boris.id, "Привет")
        fake.fail_next("sendMessage", 400, description="Bad Request: custom")
        with pytest.raises(TelegramBadRequest, match="custom"):
            await bot.send_message(boris.id, "Привет")
        fake.fail_next("sendMessage", 429, retry_after=3)
        with pytest.raises(TelegramRetryAfter) as flood:
            await bot.send_message(boris.id, "Привет")
        assert flood.value.retry_after == 3
        assert (await bot.send_message(boris.id, "Привет")).text == "Привет"

        await boris.block()
        with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
            await bot.send_message(boris.id, "Привет")
        assert "my_chat_member" in fake.pending_updates[-1]

        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{fake.base_url}/bot{TOKEN}/getNothing", data={"a": "1"}) as response,
        ):
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }
        assert await bot.log_out()
        assert await bot.close()
    finally:
        await bot.session.close()


async def test_webhook_mode_delivers_updates_and_runs_webhook_replies(fake: FakeTelegram) -> None:
    router = Router(name="webhook")

    @router.message(CommandStart())
    async def cmd_start(message: Message) -> SendMessage:
        return message.answer("Принято")  # travels back in the webhook response body

    dp = Dispatcher()
    dp.include_router(router)
    bot = Bot(TOKEN, session=fake.bot_session())
    app = web.Application()
    SimpleRequestHandler(dp, bot, secret_token="s3cret", handle_in_background=False).register(
        app, path="/webhook"
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/webhook"
        assert await bot.set_webhook(url, secret_token="s3cret")
        anna = fake.user(1001)
        await anna.send("/start")
        [reply] = await anna.wait_reply()
        assert reply["text"] == "Принято"
        info = await bot.get_webhook_info()
        assert (info.url, info.pending_update_count, info.last_error_message) == (url, 0, None)
        with pytest.raises(TelegramConflictError):
            await bot.get_updates()
        assert await bot.delete_webhook()
    finally:
        await runner.cleanup()
        await bot.session.close()


def test_html_parse_mode_yields_text_and_utf16_entities() -> None:
    text, entities = parse_html(
        '👋 <b>Жирный <i>курсив</i></b> &lt;тег&gt; <a href="https://x.org/?a=1&amp;b=2">ссылка</a>'
        '\n<pre><code class="language-python">print(1)</code></pre>'
    )
    assert text == "👋 Жирный курсив <тег> ссылка\nprint(1)"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 13},
        {"type": "italic", "offset": 10, "length": 6},
        {"type": "text_link", "url": "https://x.org/?a=1&b=2", "offset": 23, "length": 6},
        {"type": "pre", "language": "python", "offset": 30, "length": 8},
    ]
