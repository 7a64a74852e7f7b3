"""MAX transport: the integer ids aiogram sees for MAX's string message ids."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base


class MaxMessage(Base):
    """One MAX message (its `mid`, a string) and the integer aiogram handles it by.

    aiogram's Message.message_id is an int and MAX's `mid` is a string: the id is an integer
    derived from the mid (bot/max/ids.py), kept with it so that a handler's `edit_text` two
    days later (or after a restart) finds the MAX message.
    `chat_id` is the person's MAX id: `/forget` deletes their rows, retention the old ones.
    """

    __tablename__ = "max_messages"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    mid: Mapped[str] = mapped_column(String(128), unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
