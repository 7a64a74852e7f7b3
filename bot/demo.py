"""`python -m bot demo`: the real dispatcher and handlers in a terminal, no Telegram, no token.

Buttons are shown as numbered choices; type the number to press one (or `#N`, which always
presses: a number typed while the bot waits for one, such as an income, is sent as text).
Edited messages, pop-up answers, link buttons and files are shown as Telegram would show
them. `:as volunteer` or `:as manager` switches persona to see the other sides of the cluster
on seeded demo data.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.fsm.state import State
from aiogram.types import InlineKeyboardMarkup

from bot.app import App, build_app
from bot.bootstrap import prepare
from bot.config import Settings
from bot.factory import create_bot, create_dispatcher
from bot.local_chat import ChatUser, LocalChat
from bot.local_session import LocalSession, Sent
from bot.runner import create_worker
from core import consultations, people
from core.texts import Translator, pick_language
from db.enums import Role

DEMO_DB = Path("data/demo.sqlite3")
# Documents and photos the bot sends (/mydata, the digest, /export) are saved here.
DEMO_FILES = Path("data/demo-files")
PERSONAS = {
    # name: (telegram id, first name)
    "family": (1001, "Анна"),
    "volunteer": (2001, "Ольга"),
    "manager": (3001, "Ирина"),
}
# `#3` presses button 3 whatever the bot is waiting for.
_PRESS = re.compile(r"#\s*(\d+)")
# Screener steps that also take a typed number (handlers/find.py: msg_typed_answer).
_TYPED_STEPS = re.compile(r"find:(income|child_age_\d+):")

_TAG = re.compile(r"<[^>]+>")
_LINK = re.compile(r'<a href="([^"]+)">([^<]*)</a>')


def to_terminal(text: str) -> str:
    """Telegram HTML to plain terminal text."""
    text = _LINK.sub(r"\2 (\1)", text)
    text = text.replace("<b>", "\033[1m").replace("</b>", "\033[0m")
    return html.unescape(_TAG.sub("", text))


async def seed_demo(app: App) -> None:
    """The volunteer persona serves every demo organisation and the manager every region,
    so whatever a family asks for in the demo reaches someone the user can play."""
    view = app.catalogue.view
    async with app.session_factory() as session:
        for region in view.regions:
            await people.grant_role(
                session,
                app.clock,
                messenger_id=PERSONAS["manager"][0],
                role=Role.MANAGER,
                region_code=region,
            )
        for org in view.organizations.values():
            if org.demo and org.capacity > 0:
                # A coordinator can also publish consultation times with /slots.
                await people.grant_role(
                    session,
                    app.clock,
                    messenger_id=PERSONAS["volunteer"][0],
                    role=Role.COORDINATOR,
                    organization_id=org.id,
                    region_code=org.region,
                )
        await consultations.seed_demo_slots(session, view, app.clock.now())


@dataclass(frozen=True)
class Choice:
    sent: Sent
    label: str
    data: str


def _links(sent: Sent) -> list[tuple[str, str]]:
    markup = sent.message.reply_markup if sent.message is not None else None
    if not isinstance(markup, InlineKeyboardMarkup):
        return []
    return [(b.text, b.url) for row in markup.inline_keyboard for b in row if b.url]


def text_states(router: Router) -> set[str]:
    """Dialog states that some message handler of the tree listens in: typed input goes there."""
    found: set[str] = set()
    for handler in router.message.handlers:
        for event_filter in handler.filters or ():
            check = getattr(event_filter.callback, "__wrapped__", event_filter.callback)
            states = check.states if isinstance(check, StateFilter) else (check,)
            for state in states:
                name = state.state if isinstance(state, State) else state
                if isinstance(name, str) and name != "*":
                    found.add(name)
    for sub in router.sub_routers:
        found |= text_states(sub)
    return found


class Terminal:
    def __init__(
        self,
        app: App,
        chat: LocalChat,
        out: TextIO,
        deliver: Callable[[], Awaitable[int]],
        files: Path = DEMO_FILES,
    ) -> None:
        self.app = app
        self.chat = chat
        self.out = out
        self.deliver = deliver
        self.files = files
        self.users = {name: chat.user(uid, first) for name, (uid, first) in PERSONAS.items()}
        self.persona = "family"
        self.choices: list[Choice] = []
        # Whether the bot waits for typed input: then a bare number is text, not a button.
        self.typing = False
        self.text_states = text_states(chat.dp)
        # How many of each persona's messages they have seen: the rest is shown on switching.
        self.seen = dict.fromkeys(self.users, 0)

    @property
    def user(self) -> ChatUser:
        return self.users[self.persona]

    async def t(self) -> Translator:
        """The current persona's language: their stored choice, else their Telegram's."""
        async with self.app.session_factory() as session:
            user = await people.get_user(session, self.user.id)
        lang = user.language if user is not None else pick_language(self.user.tg.language_code)
        return self.app.texts.get(lang)

    async def say(self, key: str, **params: object) -> None:
        """One of the demo's own lines (not the bot's), in the conversation's language."""
        self.out.write(f"\033[2m{(await self.t())(key, **params)}\033[0m\n")

    async def banner(self) -> None:
        t = await self.t()
        self.out.write(f"{t('demo.banner')}\n{t('demo.help')}\n")

    async def act(self, action: Awaitable[list[Sent]]) -> None:
        """Run one user action, deliver the notifications it caused, show what changed."""
        local = self.chat.session
        before, edits, answers = len(self.user.messages), len(local.edits), len(local.answers)
        await action
        await self.deliver()
        new = self.user.messages[before:]
        edited: list[Sent] = []
        for sent in local.edits[edits:]:
            if sent.chat_id == self.user.id and all(sent is not s for s in [*new, *edited]):
                edited.append(sent)
        self.seen[self.persona] = len(self.user.messages)
        t = await self.t()
        for answer in local.answers[answers:]:
            if answer.text:
                kind = t("demo.alert") if answer.show_alert else t("demo.toast")
                self.out.write(f"\n\033[33m💬 [{kind}]\033[0m {answer.text}\n")
        await self.show(new, edited=edited)

    async def show(self, replies: list[Sent], edited: list[Sent] | None = None) -> None:
        t = await self.t()
        for sent in edited or []:
            self._message(sent, t, mark=f" \033[2m{t('demo.edited')}\033[0m")
        for sent in replies:
            self._message(sent, t)
        shown = [*(edited or []), *replies]
        last = self.user.messages[-1] if self.user.messages else None
        links = {data for _, data in _links(last)} if last is not None else set()
        self.choices = (
            [
                Choice(last, label, data)
                for row in last.buttons
                for label, data in row
                if data not in links
            ]
            if last is not None
            else []
        )
        self.typing = await self._typing_expected()
        if last is not None and any(last is sent for sent in shown):
            mark = "#" if self.typing else ""
            for i, choice in enumerate(self.choices, 1):
                self.out.write(f"   [{mark}{i}] {choice.label}\n")
        self.out.flush()

    def _message(self, sent: Sent, t: Translator, mark: str = "") -> None:
        self.out.write(f"\n\033[36m🤖\033[0m{mark} {to_terminal(sent.text)}\n")
        for label, url in _links(sent):
            self.out.write(f"   🔗 {label} — {t('demo.link')}: {url}\n")
        if sent.file_data is not None:
            self.files.mkdir(parents=True, exist_ok=True)
            path = self.files / Path(sent.file_name or f"file-{sent.message_id}").name
            path.write_bytes(sent.file_data)
            self.out.write(f"   📎 {t('demo.file_saved', path=path)}\n")

    async def _typing_expected(self) -> bool:
        """A dialog waits for typed input, except the screener's questions that take only a
        button (a typed number answers only its income and children's ages)."""
        context = self.chat.dp.fsm.get_context(self.chat.bot, self.user.id, self.user.id)
        state = await context.get_state()
        if state is None:
            return False
        if state.startswith("FindStates:"):
            return any(_TYPED_STEPS.match(choice.data) for choice in self.choices)
        # Steps such as /request's need picker take buttons only: a number there presses.
        return state in self.text_states

    async def press(self, number: int) -> None:
        if not self.choices:
            await self.say("demo.no_buttons")
            return
        if not 1 <= number <= len(self.choices):
            await self.say("demo.choose", count=len(self.choices))
            return
        choice = self.choices[number - 1]
        await self.act(self.user.press(choice.sent, choice.data))

    async def handle(self, line: str) -> bool:
        line = line.strip()
        if not line:
            return True
        if line in (":quit", ":q", "exit"):
            return False
        if line == ":help":
            self.out.write((await self.t())("demo.help") + "\n")
            return True
        if line.startswith(":as"):
            name = line[3:].strip()
            if name not in self.users:
                await self.say("demo.personas", names=", ".join(self.users))
                return True
            self.persona = name
            t = await self.t()
            await self.say("demo.persona", role=t(f"demo.role_{name}"), name=PERSONAS[name][1])
            unread = self.user.messages[self.seen[name] :]
            self.seen[name] = len(self.user.messages)
            await self.show(unread)
            return True
        pressed = _PRESS.fullmatch(line)
        if pressed:
            await self.press(int(pressed.group(1)))
            return True
        if line.isdigit() and self.choices and not self.typing:
            await self.press(int(line))
            return True
        await self.act(self.user.send(line))
        return True


async def start_demo(
    app: App, chat: LocalChat, out: TextIO, deliver: Callable[[], Awaitable[int]], files: Path
) -> Terminal:
    """Seed the demo people and slots, print the banner and the family's /start."""
    await seed_demo(app)
    terminal = Terminal(app, chat, out, deliver, files)
    await terminal.banner()
    await terminal.act(terminal.user.send("/start"))
    return terminal


async def run_demo(
    settings: Settings,
    database: str | None = None,
    read_line: Callable[[str], str] | None = None,
    out: TextIO = sys.stdout,
    files: Path = DEMO_FILES,
) -> int:
    if database is None:
        # A fresh file each run: the demo always starts from the same seeded state.
        DEMO_DB.parent.mkdir(parents=True, exist_ok=True)
        DEMO_DB.unlink(missing_ok=True)  # noqa: ASYNC240
        database = f"sqlite+aiosqlite:///{DEMO_DB}"
    settings = settings.model_copy(update={"database_url": database})
    # The conversation is the output; per-update INFO lines would drown it.
    logging.getLogger().setLevel(logging.WARNING)
    app = build_app(settings)
    try:
        await prepare(app, with_demo=True)
        session = LocalSession()
        bot = create_bot(settings, session=session)
        # No Telegram to protect in the demo: deliver at once.
        worker = create_worker(app, bot, per_chat_interval=0)
        dp = create_dispatcher(app, rate_limit=None)  # pasted input arrives faster than typing
        chat = LocalChat(dp, bot, session)
        terminal = await start_demo(app, chat, out, worker.drain, files)
        reader = read_line or input
        while True:
            try:
                line = await asyncio.to_thread(reader, f"\n[{terminal.persona}] > ")
            except EOFError:
                break
            if not await terminal.handle(line):
                break
    finally:
        await app.close()
    return 0
