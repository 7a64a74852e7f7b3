"""Two messengers, one bot: people, dialogs, notifications and relay know their channel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

import pytest
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.fsm.storage.base import StorageKey
from aiogram.methods import SendMessage
from aiogram.types import Chat, Message, Update, User
from prometheus_client import generate_latest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.cli import _parser
from bot.commands import cmd_admin_grant
from bot.digest_delivery import deliver_due_digests
from bot.local_chat import ChatUser, LocalChat
from bot.middlewares.metrics import Metrics
from bot.outbox_worker import OutboxWorker
from bot.polling import DurablePolling
from bot.web import refresh_gauges
from core import outbox, people
from core.clock import FrozenClock
from core.digest import build_digest
from core.digest_render import render_text
from db import models
from db.enums import Channel, Role
from handlers.notifications import NotificationRenderer
from tests.channel_sessions import files_of, send_voice, two_messengers
from tests.referral_helpers import family_in, latest_referral, request_help

Deliver = Callable[[], Awaitable[int]]
ORG = "tam-opora-demo"


@pytest.fixture
def chats(app: App) -> tuple[LocalChat, LocalChat]:
    return two_messengers(app)


@pytest.fixture
def deliver(app: App, chats: tuple[LocalChat, LocalChat]) -> Deliver:
    """The outbox worker as `run` builds it with both messengers' bots."""

    async def no_sleep(_: float) -> None:
        return None

    telegram, max_chat = chats
    worker = OutboxWorker(
        app.session_factory,
        [telegram.bot, max_chat.bot],
        app.clock,
        NotificationRenderer(app.texts, app.catalogue),
        per_chat_interval=0,
        sleep=no_sleep,
    )
    return worker.drain


async def volunteer_on(app: App, chat: LocalChat, channel: Channel, number: int) -> ChatUser:
    async with app.session_factory() as session:
        await people.grant_role(
            session,
            app.clock,
            telegram_id=number,
            role=Role.VOLUNTEER,
            organization_id=ORG,
            region_code="RU-TAM",
            channel=channel,
        )
    return chat.user(number, "Ольга")


async def users(session: AsyncSession) -> list[tuple[str, int, str | None]]:
    session.expire_all()
    rows = await session.execute(
        select(models.User.channel, models.User.telegram_id, models.User.region_code).order_by(
            models.User.channel
        )
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


# --- people ----------------------------------------------------------------------------------


async def test_the_same_number_on_two_messengers_is_two_people(
    chats: tuple[LocalChat, LocalChat], session: AsyncSession
) -> None:
    telegram, max_chat = chats
    # Both messengers number their updates from 1: update 1 of MAX is not update 1 of Telegram.
    await family_in(telegram, 5001, "Тамбовская область", "Тамбов", "г. Тамбов")
    on_max = max_chat.user(5001)
    await on_max.send("/start")
    assert "✅ Согласен(на)" in on_max.last_reply().button_texts, "a stranger on MAX is asked"
    await on_max.click("✅ Согласен(на)")
    await on_max.click("Нижегородская область")

    assert await users(session) == [
        ("max", 5001, "RU-NIZ"),
        ("telegram", 5001, "RU-TAM"),
    ]
    # Neither saw the other's conversation.
    assert all(s.chat_id == 5001 for s in telegram.session.chats[5001])
    assert "Тамбов" not in " ".join(s.text for s in on_max.messages)


async def test_dialogs_are_per_messenger(
    app: App, chats: tuple[LocalChat, LocalChat], session: AsyncSession
) -> None:
    telegram, max_chat = chats
    anna = await family_in(telegram, 5002, "Тамбовская область", "Тамбов", "г. Тамбов")
    await anna.send("/request")  # a dialog in progress on Telegram
    storage = telegram.dp.storage
    tg_key = StorageKey(bot_id=telegram.bot.id, chat_id=5002, user_id=5002)
    max_key = StorageKey(bot_id=max_chat.bot.id, chat_id=5002, user_id=5002)
    assert await storage.get_state(tg_key) is not None

    stranger = max_chat.user(5002)
    await stranger.send("маткапитал")  # the MAX person is not in Telegram's dialog
    assert await storage.get_state(max_key) is None
    assert await storage.get_data(max_key) == {}
    assert await storage.get_state(tg_key) is not None, "Telegram's dialog is untouched"
    assert [row[0] for row in await users(session)] == ["telegram"], "the stranger is anonymous"


# --- notifications ---------------------------------------------------------------------------


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


async def test_outbox_rows_go_through_their_messengers_bot(
    app: App, chats: tuple[LocalChat, LocalChat], deliver: Deliver
) -> None:
    telegram, max_chat = chats
    await queue(app, (Channel.TELEGRAM, 77), (Channel.MAX, 77), (Channel.MAX, 78))
    assert await deliver() == 3
    assert [s.chat_id for s in telegram.session.chats[77]] == [77]
    assert not telegram.session.chats[78]
    assert [s.chat_id for s in max_chat.session.chats[77] + max_chat.session.chats[78]] == [77, 78]


async def test_rows_of_a_messenger_without_a_bot_wait(
    app: App, chats: tuple[LocalChat, LocalChat], session: AsyncSession
) -> None:
    telegram, _ = chats

    async def no_sleep(_: float) -> None:
        return None

    only_telegram = OutboxWorker(
        app.session_factory,
        telegram.bot,
        app.clock,
        NotificationRenderer(app.texts, app.catalogue),
        per_chat_interval=0,
        sleep=no_sleep,
    )
    await queue(app, (Channel.MAX, 79), (Channel.TELEGRAM, 79))
    assert await only_telegram.drain() == 1
    rows = await session.execute(select(models.OutboxMessage.channel, models.OutboxMessage.status))
    statuses = {channel: status for channel, status in rows}
    assert statuses == {"telegram": "sent", "max": "pending"}
    assert telegram.session.chats[79][0].chat_id == 79


async def test_flood_control_on_one_messenger_does_not_hold_the_other(
    app: App, chats: tuple[LocalChat, LocalChat], deliver: Deliver, session: AsyncSession
) -> None:
    telegram, max_chat = chats
    telegram.session.fail_next(
        "sendMessage", TelegramRetryAfter(SendMessage(chat_id=1, text="x"), "slow down", 30)
    )
    await queue(app, (Channel.TELEGRAM, 81), (Channel.MAX, 82), (Channel.MAX, 83))
    assert await deliver() == 2, "MAX goes on while Telegram waits out its 30 s"
    assert max_chat.session.chats[82] and max_chat.session.chats[83]
    assert not telegram.session.chats[81]
    pending = await session.scalar(
        select(models.OutboxMessage.channel).where(models.OutboxMessage.status == "pending")
    )
    assert pending == "telegram"


async def test_a_block_on_one_messenger_marks_only_that_person_unreachable(
    app: App, chats: tuple[LocalChat, LocalChat], deliver: Deliver, session: AsyncSession
) -> None:
    telegram, max_chat = chats
    await family_in(telegram, 5003, "Тамбовская область", "Тамбов", "г. Тамбов")
    await family_in(max_chat, 5003, "Тамбовская область", "Тамбов", "г. Тамбов")
    max_chat.session.fail_next(
        "sendMessage",
        TelegramForbiddenError(SendMessage(chat_id=1, text="x"), "bot was blocked by the user"),
    )
    await queue(app, (Channel.MAX, 5003), (Channel.TELEGRAM, 5003))
    await deliver()
    session.expire_all()
    rows = await session.execute(select(models.User.channel, models.User.unreachable))
    flags = {channel: unreachable for channel, unreachable in rows}
    assert flags == {"max": True, "telegram": False}


# --- relay across messengers -----------------------------------------------------------------


async def accepted_request(
    family: ChatUser, volunteer: ChatUser, deliver: Deliver, session: AsyncSession
) -> int:
    await request_help(family, "💬 Психологическая помощь")
    await deliver()
    assert "Новая заявка" in volunteer.last_text, "the offer reached the other messenger"
    await volunteer.click("✅ Принять")
    await deliver()
    assert "взяла в работу" in family.last_text
    return (await latest_referral(session)).id


async def test_family_on_max_and_volunteer_on_telegram_talk_through_the_bot(
    app: App, chats: tuple[LocalChat, LocalChat], deliver: Deliver, session: AsyncSession
) -> None:
    telegram, max_chat = chats
    olga = await volunteer_on(app, telegram, Channel.TELEGRAM, 7001)
    anna = await family_in(max_chat, 7001, "Тамбовская область", "Тамбов", "г. Тамбов")
    number = await accepted_request(anna, olga, deliver, session)

    await olga.click("✉️ Написать семье")
    await olga.send("Здравствуйте! Когда вам удобно созвониться?")
    await deliver()
    assert f"Волонтёр · заявка №{number}" in anna.last_text
    assert "Когда вам удобно созвониться?" in anna.last_text
    assert "Ольга" not in anna.last_text and "7001" not in anna.last_text

    files_of(max_chat).update({"userphoto": b"PHOTO from MAX", "userdoc": b"%PDF from MAX"})
    await anna.click("↩️ Ответить")
    await anna.send("Завтра после 18:00")
    await anna.send_photo(caption="справка")
    await anna.send_document("справка.pdf")
    assert anna.last_text == f"✓ Передано (заявка №{number})"
    await deliver()
    text, photo, document = olga.messages[-3:]
    assert f"Семья · заявка №{number}" in text.text and "Завтра после 18:00" in text.text
    assert (photo.kind, photo.file_data) == ("photo", b"PHOTO from MAX")
    assert f"Семья · заявка №{number}" in photo.text and "справка" in photo.text
    assert (document.kind, document.file_name, document.file_data) == (
        "document",
        "справка.pdf",
        b"%PDF from MAX",
    )
    assert not any(m.kind == "copy" for m in olga.messages), "no copyMessage across messengers"
    rows = list(await session.scalars(select(models.OutboxMessage)))
    assert all(row.status == "sent" for row in rows)
    assert all("media" not in row.payload and "from_chat_id" not in row.payload for row in rows), (
        "where a file came from is dropped once it is sent"
    )


async def test_family_on_telegram_and_volunteer_on_max_talk_through_the_bot(
    app: App, chats: tuple[LocalChat, LocalChat], deliver: Deliver, session: AsyncSession
) -> None:
    telegram, max_chat = chats
    olga = await volunteer_on(app, max_chat, Channel.MAX, 7002)
    anna = await family_in(telegram, 7002, "Тамбовская область", "Тамбов", "г. Тамбов")
    number = await accepted_request(anna, olga, deliver, session)

    files_of(max_chat)["userphoto"] = b"PHOTO from MAX"
    await olga.click("✉️ Написать семье")
    await olga.send_photo(caption="Образец заявления")
    await deliver()
    photo = anna.last_reply()
    assert (photo.kind, photo.file_data) == ("photo", b"PHOTO from MAX")
    assert f"Волонтёр · заявка №{number}" in photo.text and "Образец заявления" in photo.text

    files_of(telegram)["uservoice"] = b"OggS voice"
    await anna.click("↩️ Ответить")
    before = len(olga.messages)
    replies = await send_voice(anna)
    assert [r.text for r in replies] == [
        "Голосовое сообщение не дойдёт: собеседник пишет из мессенджера, где бот не может "
        "передать голосовые. Напишите текстом или пришлите аудио как файл."
    ]
    await deliver()
    assert len(olga.messages) == before, "nothing half-delivered"
    await anna.send("Тогда текстом: спасибо!")
    await deliver()
    assert "Тогда текстом: спасибо!" in olga.last_text
    directions = list(
        await session.scalars(
            select(models.RelayMessage.content_type).where(
                models.RelayMessage.referral_id == number
            )
        )
    )
    assert directions == ["photo", "text"], "the refused voice note is not recorded as relayed"


async def test_a_voice_note_within_telegram_is_still_copied(
    app: App, chats: tuple[LocalChat, LocalChat], deliver: Deliver, session: AsyncSession
) -> None:
    telegram, _ = chats
    olga = await volunteer_on(app, telegram, Channel.TELEGRAM, 7003)
    anna = await family_in(telegram, 7004, "Тамбовская область", "Тамбов", "г. Тамбов")
    await accepted_request(anna, olga, deliver, session)
    await olga.click("✉️ Написать семье")
    await olga.send("Здравствуйте")
    await deliver()
    await anna.click("↩️ Ответить")
    await send_voice(anna)
    await deliver()
    assert olga.last_reply().kind == "copy"


# --- erasure and roles -----------------------------------------------------------------------


async def test_forget_on_one_messenger_erases_that_person_only(
    app: App, chats: tuple[LocalChat, LocalChat], session: AsyncSession, deliver: Deliver
) -> None:
    telegram, max_chat = chats
    await family_in(telegram, 5005, "Тамбовская область", "Тамбов", "г. Тамбов")
    on_max = await family_in(max_chat, 5005, "Нижегородская область", "Нижний", "г. Нижний")
    await queue(app, (Channel.TELEGRAM, 5005))  # a notification waiting for the Telegram one
    await on_max.send("/forget")
    await on_max.click("Да, удалить")
    assert await users(session) == [("telegram", 5005, "RU-TAM")]
    waiting = await session.scalar(select(models.OutboxMessage.channel))
    assert waiting == "telegram", "the other person's notification stays"


async def test_cli_grant_with_a_channel(
    app: App, chats: tuple[LocalChat, LocalChat], session: AsyncSession, clock: FrozenClock
) -> None:
    args = _parser().parse_args(
        [
            "admin",
            "grant",
            "--id",
            "5006",
            "--role",
            "manager",
            "--region",
            "RU-TAM",
            "--channel",
            "max",
        ]
    )
    assert await cmd_admin_grant(args, app.settings) == 0
    assert await users(session) == [("max", 5006, None)]
    telegram, max_chat = chats
    await telegram.user(5006).send("/stats")
    assert "RU-TAM" not in telegram.session.chats[5006][-1].text
    manager = max_chat.user(5006)
    await manager.send("/stats")
    assert "Тамбов" in manager.last_text


def test_cli_grant_rejects_an_unknown_channel(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args(
            ["admin", "grant", "--id", "1", "--role", "admin", "--channel", "icq"]
        )
    assert exit_info.value.code == 2
    assert "invalid choice: 'icq'" in capsys.readouterr().err


async def test_admin_ids_are_telegram_ids(
    chats: tuple[LocalChat, LocalChat],
) -> None:
    telegram, max_chat = chats
    # 900 is in ADMIN_IDS (conftest): on MAX the same number is nobody special.
    admin = telegram.user(900)
    await admin.send("/cluster")
    assert "Кластер: регионы рядом" in admin.last_text
    stranger = max_chat.user(900)
    await stranger.send("/cluster")
    assert stranger.last_text == "Сравнение регионов доступно только администраторам кластера."


async def test_the_weekly_digest_reaches_each_manager_on_their_messenger(
    app: App, chats: tuple[LocalChat, LocalChat], session: AsyncSession, clock: FrozenClock
) -> None:
    telegram, max_chat = chats
    for channel in (Channel.TELEGRAM, Channel.MAX):
        await people.grant_role(
            session,
            clock,
            telegram_id=7201,
            role=Role.MANAGER,
            region_code="RU-TAM",
            channel=channel,
        )
    clock._now = dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC)  # Monday 09:00 in Tambov
    # Only Telegram runs here: the MAX manager waits for a run that has MAX.
    assert await deliver_due_digests(app, telegram.bot, clock.now()) == 1
    assert not max_chat.session.chats[7201]
    assert await deliver_due_digests(app, [telegram.bot, max_chat.bot], clock.now()) == 1
    for chat in (telegram, max_chat):
        assert [s.kind for s in chat.session.chats[7201]] == ["text", "photo", "document"]


# --- counting by messenger -------------------------------------------------------------------


async def test_the_digest_and_the_metrics_count_by_messenger(
    app: App, chats: tuple[LocalChat, LocalChat], deliver: Deliver, session: AsyncSession
) -> None:
    telegram, max_chat = chats
    await volunteer_on(app, telegram, Channel.TELEGRAM, 5100)  # so the request stays open
    on_max = await family_in(max_chat, 5101, "Тамбовская область", "Тамбов", "г. Тамбов")
    await request_help(on_max, "💬 Психологическая помощь")
    await family_in(telegram, 5102, "Тамбовская область", "Тамбов", "г. Тамбов")
    await family_in(telegram, 5103, "Тамбовская область", "Тамбов", "г. Тамбов")

    digest = await build_digest(
        session,
        region_code="RU-TAM",
        week="2026-W48",
        view=app.catalogue.view,
        now=app.clock.now(),
    )
    assert digest["demand"]["by_channel"] == {
        "telegram": {"new_families": 2, "requests": 0},
        "max": {"new_families": 1, "requests": 1},
    }
    text = render_text(digest, app.texts.get("ru"), app.catalogue.view)
    assert "По мессенджерам:" in text
    assert "• MAX: новых семей — 1, заявок — 1" in text
    assert "• Telegram: новых семей — 2, заявок — 0" in text

    metrics: Metrics = telegram.dp["metrics"]
    await refresh_gauges(app, metrics)
    scraped = generate_latest(metrics.registry).decode()
    assert 'navigator_families{channel="max"} 1.0' in scraped
    assert 'navigator_families{channel="telegram"} 2.0' in scraped
    assert 'navigator_open_requests{channel="max"} 1.0' in scraped
    assert 'navigator_open_requests{channel="telegram"} 0.0' in scraped
    handled = metrics.channel_updates.labels("max", "handled")._value.get()
    assert handled >= 6, "every MAX update above is counted under max"


async def test_a_telegram_only_digest_reads_as_before(
    app: App, chats: tuple[LocalChat, LocalChat], session: AsyncSession
) -> None:
    telegram, _ = chats
    await family_in(telegram, 5104, "Тамбовская область", "Тамбов", "г. Тамбов")
    digest = await build_digest(
        session,
        region_code="RU-TAM",
        week="2026-W48",
        view=app.catalogue.view,
        now=app.clock.now(),
    )
    assert digest["demand"]["by_channel"]["telegram"]["new_families"] == 1
    assert "мессенджер" not in render_text(digest, app.texts.get("ru"), app.catalogue.view)


# --- linking two accounts --------------------------------------------------------------------


def code_in(text: str) -> str:
    return text.split("<code>", 1)[1].split("</code>", 1)[0]


async def test_link_brings_region_answers_and_roles_to_the_other_messenger(
    app: App, chats: tuple[LocalChat, LocalChat], session: AsyncSession
) -> None:
    telegram, max_chat = chats
    olga = await volunteer_on(app, telegram, Channel.TELEGRAM, 7301)
    await olga.send("/start")
    await olga.click("✅ Согласен(на)")
    await olga.click("Тамбовская область")
    await olga.send("/link")
    code = code_in(olga.last_text)
    assert "/link" in olga.last_text and "10 минут" in olga.last_text

    on_max = max_chat.user(9301)  # her MAX id has nothing to do with her Telegram one
    await on_max.send(f"/link  {code.lower()} ")
    assert on_max.last_text.startswith("✅ Аккаунты связаны")
    await on_max.send("/inbox")
    assert on_max.last_text == "Новых и открытых заявок нет. 🌿", "her role works on MAX"

    session.expire_all()
    rows = {
        user.channel: user
        for user in await session.scalars(select(models.User).order_by(models.User.id))
    }
    assert rows["max"].linked_user_id == rows["telegram"].id
    assert rows["telegram"].linked_user_id == rows["max"].id
    assert (rows["max"].region_code, rows["max"].consent_version) == (
        "RU-TAM",
        rows["telegram"].consent_version,
    )
    roles = await session.scalars(
        select(models.Membership.organization_id).where(
            models.Membership.user_id == rows["max"].id
        )
    )
    assert list(roles) == [ORG]

    await on_max.send(f"/link {code}")
    assert "уже использован" in on_max.last_text, "a code works once"


@pytest.mark.parametrize(
    "typed",
    ["/link 12345678", "/link ABCDEFGHJ", "/link <b>x</b>", "/link " + "Я" * 4000, "/link 🙂"],
)
async def test_a_wrong_link_code_gets_a_clear_answer(
    chats: tuple[LocalChat, LocalChat], session: AsyncSession, typed: str
) -> None:
    _, max_chat = chats
    stranger = max_chat.user(9302)
    await stranger.send(typed)
    assert "Такого кода нет" in stranger.last_text
    assert await users(session) == [], "nothing stored for a failed attempt"


async def test_link_codes_are_for_the_other_messenger_and_expire(
    app: App, chats: tuple[LocalChat, LocalChat], clock: FrozenClock, session: AsyncSession
) -> None:
    telegram, max_chat = chats
    nobody = telegram.user(7302)
    await nobody.send("/link")
    assert "Связывать пока нечего" in nobody.last_text

    anna = await family_in(telegram, 7303, "Тамбовская область", "Тамбов", "г. Тамбов")
    await anna.send("/link")
    code = code_in(anna.last_text)
    await anna.send(f"/link {code}")
    assert "на другом мессенджере" in anna.last_text

    clock.advance(dt.timedelta(minutes=11))
    await max_chat.user(9303).send(f"/link {code}")
    assert "Такого кода нет" in max_chat.session.chats[9303][-1].text
    assert [row[0] for row in await users(session)] == ["telegram"]


async def test_forget_on_either_messenger_erases_both_linked_accounts(
    chats: tuple[LocalChat, LocalChat], session: AsyncSession
) -> None:
    telegram, max_chat = chats
    anna = await family_in(telegram, 7304, "Тамбовская область", "Тамбов", "г. Тамбов")
    await anna.send("/link")
    on_max = max_chat.user(9304)
    await on_max.send(f"/link {code_in(anna.last_text)}")
    await family_in(telegram, 7305, "Тамбовская область", "Тамбов", "г. Тамбов")  # someone else
    await on_max.send("/forget")
    await on_max.click("Да, удалить")
    assert await users(session) == [("telegram", 7305, "RU-TAM")]
    assert await session.scalar(select(models.LinkCode.code)) is None


async def test_polled_updates_are_kept_per_messenger(
    app: App, chats: tuple[LocalChat, LocalChat], session: AsyncSession
) -> None:
    update = Update(
        update_id=5,
        message=Message(
            message_id=1,
            date=dt.datetime.now(dt.UTC),
            chat=Chat(id=5401, type="private"),
            from_user=User(id=5401, is_bot=False, first_name="Анна"),
            text="маткапитал",
        ),
    )
    polls = [DurablePolling(chat.dp, chat.bot, app.session_factory, app.clock) for chat in chats]
    for poll in polls:
        await poll.store([update])  # update 5 of Telegram and update 5 of MAX
    stored = select(models.ReceivedUpdate.channel, models.ReceivedUpdate.update_id)
    assert sorted((await session.execute(stored)).all()) == [("max", 5), ("telegram", 5)]
    await polls[1]._forget(5)  # MAX's was handled
    assert (await session.execute(stored)).all() == [("telegram", 5)]
