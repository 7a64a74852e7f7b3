"""`python -m bot demo`: the real dispatcher and handlers in a terminal, no Telegram, no token.

Buttons are shown as numbered choices; type the number to press one. `:as volunteer` or
`:as manager` switches persona to see the other sides of the cluster on seeded demo data.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from bot.app import App, build_app
from bot.bootstrap import prepare
from bot.config import Settings
from bot.factory import create_bot, create_dispatcher
from bot.local_chat import ChatUser, LocalChat
from bot.local_session import LocalSession, Sent
from bot.runner import create_worker
from bot.services import consultations, people
from db.enums import Role

DEMO_DB = Path("data/demo.sqlite3")
PERSONAS = {
    # name: (telegram id, first name)
    "family": (1001, "Анна"),
    "volunteer": (2001, "Ольга"),
    "manager": (3001, "Ирина"),
}
HELP = """\
Type a message as the person would (for example /start, /help, or a question).
A number presses the numbered button of the bot's last message.
:as family | :as volunteer | :as manager  switch persona     :quit  leave
"""

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
                telegram_id=PERSONAS["manager"][0],
                role=Role.MANAGER,
                region_code=region,
            )
        for org in view.organizations.values():
            if org.demo and org.capacity > 0:
                # A coordinator can also publish consultation times with /slots.
                await people.grant_role(
                    session,
                    app.clock,
                    telegram_id=PERSONAS["volunteer"][0],
                    role=Role.COORDINATOR,
                    organization_id=org.id,
                    region_code=org.region,
                )
        await consultations.seed_demo_slots(session, view, app.clock.now())


class Terminal:
    def __init__(
        self, chat: LocalChat, out: TextIO, deliver: Callable[[], Awaitable[int]]
    ) -> None:
        self.chat = chat
        self.out = out
        self.deliver = deliver
        self.users = {name: chat.user(uid, first) for name, (uid, first) in PERSONAS.items()}
        self.persona = "family"
        self.choices: list[tuple[Sent, str, str]] = []
        # How many of each persona's messages they have seen: the rest is shown on switching.
        self.seen = dict.fromkeys(self.users, 0)

    async def act(self, action: Awaitable[list[Sent]], also: list[Sent] | None = None) -> None:
        """Run one user action, deliver the notifications it caused, show what is new."""
        before = len(self.user.messages)
        await action
        await self.deliver()
        new = self.user.messages[before:]
        self.seen[self.persona] = len(self.user.messages)
        self.show([*(also or []), *new])

    @property
    def user(self) -> ChatUser:
        return self.users[self.persona]

    def show(self, replies: list[Sent]) -> None:
        for sent in replies:
            self.out.write(f"\n\033[36m🤖\033[0m {to_terminal(sent.text)}\n")
        with_buttons = [sent for sent in replies if sent.buttons][-1:]
        self.choices = [
            (sent, label, data)
            for sent in with_buttons
            for row in sent.buttons
            for label, data in row
        ]
        for i, (_, label, _) in enumerate(self.choices, 1):
            self.out.write(f"   [{i}] {label}\n")
        self.out.flush()

    async def handle(self, line: str) -> bool:
        line = line.strip()
        if not line:
            return True
        if line in (":quit", ":q", "exit"):
            return False
        if line == ":help":
            self.out.write(HELP)
            return True
        if line.startswith(":as"):
            name = line[3:].strip()
            if name not in self.users:
                self.out.write(f"personas: {', '.join(self.users)}\n")
                return True
            self.persona = name
            self.out.write(f"— now you are the {name} ({PERSONAS[name][1]}) —\n")
            unread = self.user.messages[self.seen[name] :]
            self.seen[name] = len(self.user.messages)
            self.show(unread)
            return True
        if line.isdigit() and self.choices:
            index = int(line) - 1
            if not 0 <= index < len(self.choices):
                self.out.write(f"choose 1–{len(self.choices)}\n")
                return True
            sent, _, data = self.choices[index]
            edited = (sent.text, sent.buttons)
            press = self.user.press(sent, data)
            changed = [sent] if (sent.text, sent.buttons) != edited else []
            await self.act(press, also=changed)
            return True
        await self.act(self.user.send(line))
        return True


async def run_demo(
    settings: Settings,
    database: str | None = None,
    read_line: Callable[[str], str] | None = None,
    out: TextIO = sys.stdout,
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
        await seed_demo(app)
        session = LocalSession()
        bot = create_bot(settings, session=session)
        # No Telegram to protect in the demo: deliver at once.
        worker = create_worker(app, bot, per_chat_interval=0)
        dp = create_dispatcher(app, rate_limit=None)  # pasted input arrives faster than typing
        terminal = Terminal(LocalChat(dp, bot, session), out, worker.drain)
        out.write("Семейный навигатор — demo (no Telegram). " + HELP + "\n")
        await terminal.act(terminal.user.send("/start"))
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
