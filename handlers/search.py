"""/search and any plain text outside a dialog: ranked results, or the closest needs."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.filters import Command, CommandObject, Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares.viewer import Viewer
from core.catalogue.active import CatalogueHolder, CatalogueView
from core.clock import Clock
from core.search import Hit, discovery
from core.texts import Translator, ellipsize
from handlers.cards import measure_button, organization_button
from handlers.filters import shown
from handlers.keyboards import inline_button, markup
from handlers.render import alert
from handlers.requests import ask_help_button

QUERY_SHOWN = 80


class PlainText(Filter):
    """A text message that is not a command: `F.text, ~F.text.startswith("/")` as a coroutine.

    aiogram runs a filter that is not a coroutine (an `F` expression, a bare `State`) in a
    worker thread, a thread hop for every message that reaches it; this one is awaited in place.
    """

    async def __call__(self, message: Message) -> bool:
        text = message.text
        return bool(text) and not text.startswith("/")  # type: ignore[union-attr]


class SearchStates(StatesGroup):
    typing_query = State()


class NeedCD(CallbackData, prefix="need"):
    id: str


def _hit_button(hit: Hit, view: CatalogueView, t: Translator) -> tuple[str, object] | None:
    prefix = t(f"search.kind.{hit.kind}")
    if hit.kind == "measure" and hit.id in view.measures:
        label, data = measure_button(view.measures[hit.id], t)
    elif hit.kind == "organization" and hit.id in view.organizations:
        label, data = organization_button(view.organizations[hit.id], t)
    elif hit.kind == "consultation" and hit.id in view.consultations:
        org, _ = view.consultations[hit.id]
        label, data = organization_button(org, t)
        label = ellipsize(hit.title)
    else:
        return None
    return f"{prefix} {label}", data


def _cached_hit_button(
    hit: Hit, view: CatalogueView, t: Translator
) -> InlineKeyboardButton | None:
    """A result's button depends on the entry and the language only: made once per view."""
    key = ("search.hit", hit.kind, hit.id, hit.title if hit.kind == "consultation" else "", t.lang)
    if key in view.memo:
        cached: InlineKeyboardButton | None = view.memo[key]
        return cached
    button = _hit_button(hit, view, t)
    made = None if button is None else inline_button(button[0], button[1])  # type: ignore[arg-type]
    view.memo[key] = made
    return made


def results_keyboard(hits: list[Hit], view: CatalogueView, t: Translator) -> InlineKeyboardMarkup:
    buttons = [b for b in (_cached_hit_button(hit, view, t) for hit in hits) if b is not None]
    return markup(buttons, 1)


def needs_keyboard(
    need_ids: list[str], view: CatalogueView, t: Translator
) -> InlineKeyboardMarkup:
    buttons = []
    for need_id in need_ids:
        need = view.needs.get(need_id)
        if need is not None:
            title = t.pick(need.title, need.title_en)
            buttons.append(inline_button(f"{need.emoji} {title}".strip(), NeedCD(id=need.id)))
    return markup(buttons, 1)


async def run_search(
    message: Message,
    query: str,
    viewer: Viewer,
    session: AsyncSession,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    query = " ".join(query.split())
    if not any(ch.isalnum() for ch in query):
        await message.answer(t("search.too_short"))
        return
    view = catalogue.view
    outcome = await discovery.search(
        session, clock, view, query=query, region_code=viewer.region_code, user=viewer.user
    )
    shown = escape(ellipsize(query, QUERY_SHOWN))
    if outcome.hits:
        text = t("search.results" if outcome.exact else "search.nearest", query=shown)
        if viewer.region_code is None:
            text += "\n\n" + t("search.region_hint")
        await message.answer(text, reply_markup=results_keyboard(outcome.hits, view, t))
        return
    text = t("search.nothing", query=shown)
    if outcome.closest_needs:
        text += "\n" + t("search.closest")
    text += "\n\n" + t("search.offer_help")
    keyboard = needs_keyboard(outcome.closest_needs, view, t)
    label, data = ask_help_button(
        t, need_id=outcome.closest_needs[0] if outcome.closest_needs else None
    )
    keyboard.inline_keyboard.append([InlineKeyboardButton(text=label, callback_data=data.pack())])
    await message.answer(text, reply_markup=keyboard)


async def cmd_search(
    message: Message,
    command: CommandObject,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    if not command.args:
        await state.set_state(SearchStates.typing_query)
        await message.answer(t("search.ask"))
        return
    await run_search(message, command.args, viewer, session, clock, t, catalogue)


async def msg_search_text(
    message: Message,
    viewer: Viewer,
    session: AsyncSession,
    state: FSMContext,
    clock: Clock,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    if await state.get_state() == SearchStates.typing_query:
        await state.set_state(None)
    await run_search(message, message.text or "", viewer, session, clock, t, catalogue)


async def cb_need(
    query: CallbackQuery,
    message: Message,
    callback_data: NeedCD,
    callback_answer: CallbackAnswer,
    viewer: Viewer,
    t: Translator,
    catalogue: CatalogueHolder,
) -> None:
    view = catalogue.view
    need = view.needs.get(callback_data.id)
    if need is None:
        alert(callback_answer, t("fallback.stale_button"))
        return
    title = t.pick(need.title, need.title_en)
    measures = [m for m in view.measures_for_region(viewer.region_code) if need.id in m.needs]
    orgs = [o for o in view.organizations_for_region(viewer.region_code) if need.id in o.needs]
    if not measures and not orgs:
        await message.answer(t("need.none") + "\n\n" + t("search.offer_help"))
        return
    buttons = []
    for measure in measures[:20]:
        label, data = measure_button(measure, t)
        buttons.append(inline_button(f"{t('search.kind.measure')} {label}", data))
    for org in orgs[:10]:
        label, data = organization_button(org, t)
        buttons.append(inline_button(f"{t('search.kind.organization')} {label}", data))
    await message.answer(t("need.measures", need=escape(title)), reply_markup=markup(buttons, 1))


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(cmd_search, Command("search"))
    router.callback_query.register(cb_need, NeedCD.filter(), shown)
    return router


def create_text_router() -> Router:
    """Plain text outside any dialog is a search; registered after every dialog's handlers."""
    router = Router(name=f"{__name__}.text")
    router.message.register(msg_search_text, PlainText())
    return router
