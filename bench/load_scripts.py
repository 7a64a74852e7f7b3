"""The simulated people: families (onboarding, search, cards, screener, requests, relay,
closing the loop), volunteers (accept, write, resolve) and the echo bot's users.

Each person is one asyncio task looping through its script with no think time; the buttons it
presses are the ones the bot showed it (read from the bench session), as a person would.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from bench.load_harness import BenchSession, Feeder, Probe
from bot.app import App
from core.catalogue.active import CatalogueView
from db import models

DEBUG = False
# Telegram ids of the simulated people; the pre-filled synthetic users sit below 2·10⁹.
FAMILY_IDS = 7 * 10**9
VOLUNTEER_IDS = 8 * 10**9
EVAL = Path(__file__).resolve().parent.parent / "tests" / "search_eval.yaml"
DESCRIPTIONS = (
    "Нужна консультация психолога для ребёнка",
    "Мы многодетная семья, нужна помощь с одеждой и продуктами",
    "Муж ушёл, осталась одна с двумя детьми, не знаю куда обращаться",
    "Помогите оформить документы на пособие",
)
RELAY_TEXTS = (
    "Здравствуйте! Когда можно подойти?",
    "Спасибо, документы собрали",
    "Можно созвониться завтра после обеда?",
)
STAFF_TEXTS = ("Здравствуйте, я волонтёр, приняла вашу заявку", "Завтра позвоню вам в 11")
# A family's next action and its weight (returning families; newcomers onboard first).
ACTIONS = (
    ("search", 36),
    ("card", 22),
    ("screener", 14),
    ("request", 8),
    ("relay", 8),
    ("newcomer", 12),
)


def load_queries() -> list[str]:
    data = yaml.safe_load(EVAL.read_text(encoding="utf-8"))
    return [str(item["query"]) for item in data["queries"]]


@dataclass(frozen=True)
class RegionPlan:
    code: str
    municipalities: list[tuple[str, str]]  # (id, name)
    request_needs: list[str]  # needs a staffed organisation of the region serves everywhere


def plan_regions(view: CatalogueView) -> list[RegionPlan]:
    plans = []
    for code, region in view.regions.items():
        needs = sorted(
            {
                need
                for org in view.organizations_for_region(code)
                if org.demo and org.capacity > 0 and org.municipalities == ["all"]
                for need in org.needs
            }
        )
        plans.append(
            RegionPlan(code, [(m.id, m.name) for m in region.municipalities], needs or ["crisis"])
        )
    return plans


def staffed_organizations(view: CatalogueView) -> list[str]:
    return sorted(o.id for o in view.organizations.values() if o.demo and o.capacity > 0)


@dataclass
class World:
    """What the simulated people share: the harness, the plan, and the referral hand-offs."""

    app: App
    feeder: Feeder
    session: BenchSession
    rng: random.Random
    queries: list[str]
    regions: list[RegionPlan]
    org_queues: dict[str, asyncio.Queue[int]]
    status: dict[int, str] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    family_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(FAMILY_IDS))

    async def offered(self, referral_id: int) -> None:
        """Hand a routed referral to its organisation's volunteers (a read outside the timing)."""
        async with self.app.session_factory() as db:
            org = await db.scalar(
                select(models.Referral.organization_id).where(models.Referral.id == referral_id)
            )
        queue = self.org_queues.get(org or "")
        if queue is None:
            self.counters["request_unrouted"] += 1
            return
        self.status[referral_id] = "offered"
        queue.put_nowait(referral_id)


class Person:
    def __init__(self, world: World, messenger_id: int) -> None:
        self.world = world
        self.id = messenger_id
        self.tg = Feeder.person(messenger_id)

    async def send(self, flow: str, text: str) -> Probe:
        feeder = self.world.feeder
        return await feeder.feed(flow, feeder.message_update(self.tg, text))

    async def press(self, flow: str, message_id: int, data: str) -> Probe:
        feeder = self.world.feeder
        return await feeder.feed(flow, feeder.callback_update(self.tg, message_id, data))

    def newest_buttons(self, prefix: str) -> list[tuple[int, str]]:
        """Buttons with `prefix` on the newest message that has any."""
        found = self.world.session.buttons(self.id, prefix)
        if not found:
            return []
        newest = found[0][0]
        return [b for b in found if b[0] == newest]

    async def click(
        self, flow: str, prefix: str, exact: str | None = None, pick_random: bool = False
    ) -> Probe | None:
        buttons = self.newest_buttons(prefix)
        if not buttons:
            self.world.counters[f"no button {prefix}"] += 1
            if DEBUG:
                recent = [m.text[:60] for m in self.world.session.chats.get(self.id, ())]
                print("no button", prefix, self.id, recent[-3:])
            return None
        chosen = buttons[0]
        if exact is not None:
            chosen = next((b for b in buttons if b[1] == exact), chosen)
        elif pick_random:
            chosen = self.world.rng.choice(buttons)
        return await self.press(flow, chosen[0], chosen[1])


class Family(Person):
    def __init__(self, world: World) -> None:
        super().__init__(world, next(world.family_ids))
        self.consented = False
        self.plan: RegionPlan | None = None
        self.referrals: list[int] = []

    def become_newcomer(self) -> None:
        self.id = next(self.world.family_ids)
        self.tg = Feeder.person(self.id)
        self.consented = False
        self.plan = None
        self.referrals = []

    async def run(self) -> None:
        rng = self.world.rng
        names, weights = zip(*ACTIONS, strict=True)
        await self.onboard()
        while True:
            action = rng.choices(names, weights)[0]
            if action == "newcomer":
                self.become_newcomer()
                await self.onboard()
            else:
                await getattr(self, action)()

    async def onboard(self) -> None:
        rng = self.world.rng
        await self.send("onboarding", "/start")
        self.consented = rng.random() < 0.85
        await self.click("onboarding", "cns:a" if self.consented else "cns:d")
        self.plan = plan = rng.choice(self.world.regions)
        await self.click("onboarding", "loc:r:", exact=f"loc:r:{plan.code}")
        mun_id, mun_name = rng.choice(plan.municipalities)
        await self.send("onboarding", mun_name)
        await self.click("onboarding", "loc:m:", exact=f"loc:m:{mun_id}")

    async def search(self) -> None:
        await self.send("search", self.world.rng.choice(self.world.queries))

    async def card(self) -> None:
        rng = self.world.rng
        await self.search()
        if await self.click("card", "card:m:", pick_random=True) is None:
            return
        roll = rng.random()
        if roll < 0.15:
            await self.click("card", "card:f:", pick_random=True)
            if self.newest_buttons("card:r:"):
                await self.click("card", "card:r:", pick_random=True)

    async def screener(self) -> None:
        rng = self.world.rng
        await self.send("screener", "/find")
        if self.newest_buttons("find:reuse:"):
            if rng.random() < 0.7:
                await self.click("screener", "find:reuse:", exact="find:reuse:yes")
                return
            await self.click("screener", "find:reuse:", exact="find:reuse:no")
        for _ in range(rng.randint(3, 6)):
            options = [
                b
                for b in self.newest_buttons("find:")
                if not b[1].endswith((":skip", ":finish")) and ":why_not:" not in b[1]
            ]
            if not options:
                return  # the results are out already
            message_id, data = rng.choice(options)
            await self.press("screener", message_id, data)
        finish = [b for b in self.newest_buttons("find:") if b[1].endswith(":finish")]
        if finish:
            await self.press("screener", *finish[0])

    async def request(self) -> None:
        rng = self.world.rng
        await self.send("request", "/request")
        if not self.consented or self.plan is None:
            return
        need = rng.choice(self.plan.request_needs)
        if await self.click("request", "rq:need:", exact=f"rq:need:{need}") is None:
            return
        await self.click("request", "rq:mun:")
        if rng.random() < 0.5:
            await self.send("request", rng.choice(DESCRIPTIONS))
        else:
            await self.click("request", "rq:desc:")
        await self.click("request", "rq:contact:", exact="rq:contact:bot")
        probe = await self.click("request", "rq:send:", exact="rq:send:yes")
        if probe is None:
            return
        for referral_id, due in probe.timers:
            self.referrals.append(referral_id)
            if due is not None:
                await self.world.offered(referral_id)
            else:
                self.world.counters["request_unrouted"] += 1

    async def relay(self) -> None:
        """Write to the volunteer on an accepted request, or close the loop on a resolved one."""
        status = self.world.status
        for number in reversed(self.referrals):
            state = status.get(number)
            if state == "accepted":
                await self.press("relay", 1, f"rl:{number}")
                await self.send("relay", self.world.rng.choice(RELAY_TEXTS))
                await self.send("relay", "/cancel")
                return
            if state == "resolved":
                status[number] = "closed"
                await self.press("loop", 1, f"lp:g:{number}:yes")
                await self.press("loop", 1, f"lp:r:{number}:5")
                await self.press("loop", 1, f"lp:s:{number}:")
                return
        await self.search()


class Volunteer(Person):
    HOLD = 1.5  # seconds an accepted request stays open, so the family can write in it

    def __init__(self, world: World, messenger_id: int, queue: asyncio.Queue[int]) -> None:
        super().__init__(world, messenger_id)
        self.queue = queue
        self.holding: deque[tuple[float, int]] = deque()

    async def run(self) -> None:
        world = self.world
        while True:
            if world.feeder.stopping:
                return
            if self.holding and self.holding[0][0] <= time.perf_counter():
                _, number = self.holding.popleft()
                await self.press("staff", 1, f"st:r:{number}:")
                world.status[number] = "resolved"
                continue
            try:
                number = await asyncio.wait_for(self.queue.get(), timeout=0.1)
            except TimeoutError:
                continue
            probe = await self.press("staff", 1, f"st:a:{number}:")
            if not probe.timers:
                world.counters["accept_failed"] += 1
                continue
            world.status[number] = "accepted"
            await self.press("staff", 1, f"rl:{number}")
            await self.send("staff", world.rng.choice(STAFF_TEXTS))
            await self.send("staff", "/cancel")
            self.holding.append((time.perf_counter() + self.HOLD, number))


async def echo_person(
    feeder: Feeder, messenger_id: int, rng: random.Random, callback_share: float, texts: list[str]
) -> None:
    person = Feeder.person(messenger_id)
    while True:
        if rng.random() < callback_share:
            await feeder.feed("echo_callback", feeder.callback_update(person, 1, "echo"))
        else:
            await feeder.feed("echo_message", feeder.message_update(person, rng.choice(texts)))


def describe(counters: Counter[str]) -> dict[str, Any]:
    return dict(sorted(counters.items()))
