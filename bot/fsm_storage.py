"""Dialog state that expires: an abandoned request must not keep its description forever."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import StateType, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage, MemoryStorageRecord

from core.clock import Clock, SystemClock

# How often a write also sweeps every other expired dialog (lookups expire their own key).
SWEEP_EVERY = dt.timedelta(minutes=1)


class ExpiringMemoryStorage(MemoryStorage):
    """MemoryStorage whose dialogs vanish `ttl` after their last write, like Redis's `ex`.

    Empty dialogs are dropped too, so the process does not keep a record per person seen.
    """

    def __init__(self, ttl: dt.timedelta, clock: Clock | None = None) -> None:
        super().__init__()
        self.ttl = ttl
        self._clock = clock or SystemClock()
        self._written: dict[StorageKey, dt.datetime] = {}
        self._next_sweep = self._clock.now() + SWEEP_EVERY

    def _live(self, key: StorageKey) -> MemoryStorageRecord | None:
        written = self._written.get(key)
        if written is not None and self._clock.now() - written >= self.ttl:
            self._drop(key)
        return self.storage.get(key)

    def _drop(self, key: StorageKey) -> None:
        self.storage.pop(key, None)
        self._written.pop(key, None)

    def _touch(self, key: StorageKey) -> None:
        now = self._clock.now()
        record = self.storage.get(key)
        if record is None or (record.state is None and not record.data):
            self._drop(key)
        else:
            self._written[key] = now
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_EVERY
            for other, written in list(self._written.items()):
                if now - written >= self.ttl:
                    self._drop(other)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        self._live(key)
        self.storage[key].state = state.state if isinstance(state, State) else state
        self._touch(key)

    async def get_state(self, key: StorageKey) -> str | None:
        record = self._live(key)
        return record.state if record is not None else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        self._live(key)
        await super().set_data(key, data)
        self._touch(key)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        record = self._live(key)
        return record.data.copy() if record is not None else {}

    async def get_value(
        self, storage_key: StorageKey, dict_key: str, default: Any | None = None
    ) -> Any | None:
        record = self._live(storage_key)
        if record is None:
            return default
        return await super().get_value(storage_key, dict_key, default)
