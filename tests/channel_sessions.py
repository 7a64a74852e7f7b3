"""Two messengers in one process: the recording session with files, and its MAX twin.

The bot meets MAX as an aiogram `Bot` whose session says `channel = Channel.MAX` (helper
`bot.channels.channel_of`); these sessions are that, minus HTTP. Both keep the files people
"sent" so `bot.download(file_id)` returns their bytes, and record every kind of upload.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage
from aiogram.methods import GetFile, SendAudio, SendVideo, SendVoice, TelegramMethod
from aiogram.types import File, Voice
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.factory import create_bot, create_dispatcher
from bot.local_chat import ChatUser, LocalChat
from bot.local_session import LocalSession, Sent, _upload
from bot.outbox_worker import OutboxWorker
from core import outbox, people
from db import models
from db.enums import Channel, Role
from handlers.notifications import NotificationRenderer

MAX_BOT_TOKEN = "2:local-max-token"  # its own bot id: dialogs are keyed by it
ORG = "tam-opora-demo"


class FileLocalSession(LocalSession):
    """The recording session, holding the bytes of files people sent (by file id)."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, bytes] = {}

    def _answer(self, method: TelegramMethod[Any]) -> Any:
        if isinstance(method, GetFile):
            if method.file_id not in self.files:
                raise LookupError(f"no file {method.file_id} in this messenger")
            return File(
                file_id=method.file_id,
                file_unique_id=method.file_id,
                file_path=f"files/{method.file_id}",
            )
        if isinstance(method, SendVoice | SendVideo | SendAudio):
            kind = type(method).__name__.removeprefix("Send").lower()
            upload = getattr(method, kind)
            message = self._new_message(
                int(method.chat_id), method.caption or "", method.reply_markup, kind
            )
            sent: Sent = self.chats[int(method.chat_id)][-1]
            sent.file_name, sent.file_data = _upload(upload, kind)
            return message
        return super()._answer(method)

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 (BaseSession's signature)
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        yield self.files[url.rsplit("/", 1)[-1]]


class MaxLocalSession(FileLocalSession):
    """The same, speaking for MAX: what `channel_of(bot)` reads."""

    channel = Channel.MAX


def two_messengers(app: App, storage: BaseStorage | None = None) -> tuple[LocalChat, LocalChat]:
    """Telegram and MAX chats on ONE dispatcher, as `run` wires them; each numbers its own
    updates from 1, as two messengers would."""
    dp = create_dispatcher(app, storage, rate_limit=None)
    telegram = FileLocalSession()
    max_session = MaxLocalSession()
    tg_bot = create_bot(app.settings, session=telegram)
    max_bot = Bot(
        MAX_BOT_TOKEN,
        session=max_session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
    return LocalChat(dp, tg_bot, telegram), LocalChat(dp, max_bot, max_session)


async def send_voice(person: ChatUser, file_id: str = "uservoice") -> list[Sent]:
    voice = Voice(file_id=file_id, file_unique_id=file_id, duration=3)
    return await person._run({"message": person._message(voice=voice)})


def files_of(chat: LocalChat) -> dict[str, bytes]:
    """The files people of `chat`'s messenger have sent, by file id (what download returns)."""
    assert isinstance(chat.session, FileLocalSession)
    return chat.session.files


def worker_for(app: App, chats: tuple[LocalChat, LocalChat]) -> OutboxWorker:
    """The outbox worker as `run` builds it with both messengers' bots, without waiting."""

    async def no_sleep(_: float) -> None:
        return None

    return OutboxWorker(
        app.session_factory,
        [chat.bot for chat in chats],
        app.clock,
        NotificationRenderer(app.texts, app.catalogue),
        per_chat_interval=0,
        sleep=no_sleep,
    )


async def volunteer_on(app: App, chat: LocalChat, channel: Channel, number: int) -> ChatUser:
    async with app.session_factory() as session:
        await people.grant_role(
            session,
            app.clock,
            messenger_id=number,
            role=Role.VOLUNTEER,
            organization_id=ORG,
            region_code="RU-TAM",
            channel=channel,
        )
    return chat.user(number, "Ольга")


async def users(session: AsyncSession) -> list[tuple[str, int, str | None]]:
    session.expire_all()
    rows = await session.execute(
        select(models.User.channel, models.User.messenger_id, models.User.region_code).order_by(
            models.User.channel
        )
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


async def queue(app: App, *targets: tuple[Channel, int]) -> None:
    async with app.session_factory() as session:
        for n, (channel, chat_id) in enumerate(targets):
            outbox.notify(
                session,
                app.clock,
                chat_id=chat_id,
                channel=channel,
                lang="ru",
                kind="manager.outbox_given_up",
                params={"count": n, "hours": 72},
            )
        await session.commit()
