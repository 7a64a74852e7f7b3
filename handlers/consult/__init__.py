"""/consult: book, move and cancel a consultation; /slots: a coordinator publishes times.

One room each: booking (need → consultation → time → confirm), bookings ("my bookings":
move or cancel), slots (the coordinator's side); the callback data and shared rendering are
in screens. Buttons carry ids only; every press re-reads the slot, the booking or the
coordinator's role from the DB, so a stale or forged button gets an alert and changes nothing.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery
from aiogram.utils.callback_answer import CallbackAnswer

from core.texts import Translator
from handlers.consult import booking, bookings, slots
from handlers.consult.screens import ConsultAction, ConsultCD, SlotsCD
from handlers.render import alert

__all__ = ["ConsultAction", "ConsultCD", "SlotsCD", "create_router"]

# Buttons that name a booking: refused as "not yours"; the rest as "stale".
_BOOKING_ACTIONS = {
    ConsultAction.MOVE,
    ConsultAction.MOVE_TO,
    ConsultAction.CANCEL,
    ConsultAction.CANCEL_CONFIRM,
}


async def cb_refused(
    query: CallbackQuery, callback_data: ConsultCD, callback_answer: CallbackAnswer, t: Translator
) -> None:
    """A button whose handler's filters did not pass: someone without consent or a region,
    someone else's booking, or a message too old to edit."""
    key = "consult.not_yours" if callback_data.action in _BOOKING_ACTIONS else "consult.stale"
    alert(callback_answer, t(key))


def create_router() -> Router:
    router = Router(name=__name__)
    router.include_routers(
        booking.create_router(), bookings.create_router(), slots.create_router()
    )
    refusals = Router(name=f"{__name__}.refusals")
    refusals.callback_query.register(cb_refused, ConsultCD.filter())
    router.include_router(refusals)
    return router
