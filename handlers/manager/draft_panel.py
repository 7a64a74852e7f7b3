"""The panel of a manager's draft announcement: its preview, filters and audience size."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import Bot
from aiogram.types import InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.deeplinks import start_link
from core import announcements as news
from core.catalogue.active import CatalogueView
from core.texts import Translator
from db.enums import Channel
from handlers.keyboards import Keyboard
from handlers.manager_keyboards import DraftAction, DraftCD, short
from handlers.render import edit_or_answer

BROADCAST, SURVEY = "b", "s"
# The FSM data key of the draft; the values above are its "kind".
DRAFT = "mgr_draft"
# "Any need" / "the whole region" among the filter buttons.
ANY = "-"


def measure_link(
    username: str | None, measure_id: str, channel: Channel = Channel.TELEGRAM
) -> str:
    return start_link(channel, username, f"m-{measure_id}")


def _need_label(view: CatalogueView, need_id: str | None, t: Translator) -> str:
    need = view.needs.get(need_id or "")
    if need is None:
        return t("manager.draft.any_need")
    return t.pick(need.title, need.title_en)


def _municipality_label(view: CatalogueView, mun_id: str | None, t: Translator) -> str:
    mun = view.municipality(mun_id)
    if mun is None:
        return t("manager.draft.whole_region")
    return t.pick(mun.name, mun.name_en)


def _preview(draft: dict[str, Any], t: Translator, view: CatalogueView, username: str) -> str:
    if draft["kind"] == SURVEY:
        options = "\n".join(f"▫️ {escape(option)}" for option in draft.get("options") or [])
        return t("notify.manager_tools.survey", question=escape(draft["question"])) + (
            "\n" + options if options else ""
        )
    measure = view.measures.get(draft.get("measure") or "")
    if measure is None:
        return t("notify.manager_tools.broadcast", text=escape(draft["text"]))
    return t(
        "notify.manager_tools.broadcast_measure",
        text=escape(draft["text"]),
        link=escape(measure_link(username, measure.id)),
        title=escape(t.pick(measure.title, measure.title_en)),
    )


def draft_audience(draft: dict[str, Any]) -> news.Audience:
    return news.Audience(draft["region"], draft.get("need"), draft.get("mun"))


async def render_panel(
    session: AsyncSession, draft: dict[str, Any], t: Translator, view: CatalogueView, bot: Bot
) -> tuple[str, InlineKeyboardMarkup]:
    size = await news.audience_size(session, view, draft_audience(draft))
    me = await bot.me()
    measure = view.measures.get(draft.get("measure") or "")
    text = t(
        "manager.draft.panel",
        preview=_preview(draft, t, view, me.username or ""),
        region=escape(draft["region"]),
        need=escape(_need_label(view, draft.get("need"), t)),
        municipality=escape(_municipality_label(view, draft.get("mun"), t)),
        measure=escape(t.pick(measure.title, measure.title_en) if measure else "—"),
        reachable=t.number(size.reachable),
        blocked=t.number(size.blocked),
    )
    kb = Keyboard()
    kb.button(
        text=t("manager.draft.filter_need", need=_need_label(view, draft.get("need"), t)),
        callback_data=DraftCD(action=DraftAction.NEEDS),
    )
    kb.button(
        text=short(
            t(
                "manager.draft.filter_municipality",
                municipality=_municipality_label(view, draft.get("mun"), t),
            )
        ),
        callback_data=DraftCD(action=DraftAction.MUNICIPALITIES),
    )
    if draft["kind"] == BROADCAST:
        kb.button(
            text=t("manager.draft.attach"), callback_data=DraftCD(action=DraftAction.MEASURE)
        )
    kb.button(
        text=t("manager.draft.send", count=t.number(size.reachable)),
        callback_data=DraftCD(action=DraftAction.SEND),
    )
    kb.button(text=t("manager.cancel"), callback_data=DraftCD(action=DraftAction.CANCEL))
    kb.adjust(1)
    return text, kb.as_markup()


async def show_panel(
    message: Message,
    session: AsyncSession,
    draft: dict[str, Any],
    t: Translator,
    view: CatalogueView,
    bot: Bot,
    *,
    edit: bool = False,
) -> None:
    text, keyboard = await render_panel(session, draft, t, view, bot)
    if edit:
        await edit_or_answer(message, text, keyboard)
    else:
        await message.answer(text, reply_markup=keyboard)
