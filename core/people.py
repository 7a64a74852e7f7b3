"""People and roles: consent-gated registration, location, language, roles and invites."""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import event, inspect, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import (
    Mapper,
    ORMExecuteState,
    Session,
    make_transient_to_detached,
    object_session,
)

from core.clock import Clock
from db import models
from db.enums import Channel, ConsentKind, Role

INVITE_TTL = dt.timedelta(days=7)
# How long a cached user row may be served without reading it again. Every change made in this
# process (through the ORM) invalidates the row at once; the TTL only bounds how stale a change
# made elsewhere (another replica, a CLI command, hand-written SQL) can look here.
USER_CACHE_TTL = 10.0
USER_CACHE_SIZE = 50_000


# A person is (messenger, id there): the same number on Telegram and on MAX is two people.
PersonKey = tuple[str, int]


async def get_user(
    session: AsyncSession, messenger_id: int, channel: str = Channel.TELEGRAM
) -> models.User | None:
    return await session.scalar(
        select(models.User).where(
            models.User.channel == channel, models.User.messenger_id == messenger_id
        )
    )


def key_of(user: models.User) -> PersonKey:
    return (user.channel or Channel.TELEGRAM, user.messenger_id)


# --- the user cache -------------------------------------------------------------------------

_USER_COLUMNS = tuple(attr.key for attr in inspect(models.User).column_attrs)
_CACHES: weakref.WeakSet[UserCache] = weakref.WeakSet()
_CHANGED = "people.changed_users"  # session.info: person keys written in this transaction
_WRITTEN = "people.written_users"  # session.info: the User objects inserted or updated
_ALL: PersonKey = ("*", 0)  # in that set: "some users changed, which ones is unknown"


class UserCache:
    """Users read recently, by (channel, id), so most updates need no SELECT for "who is this".

    `get()` hands out a fresh `User` attached to the caller's session, exactly as if it had
    been loaded there: services change it and commit as usual. Absent users (anonymous
    visitors) are cached too. Any insert, update or delete of a user through the ORM, in any
    session of this process, drops the entry when it is flushed and again when it commits, and
    a read that overlapped such a change is not cached; see USER_CACHE_TTL for other writers.
    """

    def __init__(
        self,
        ttl: float = USER_CACHE_TTL,
        max_size: int = USER_CACHE_SIZE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max_size = max_size
        self._monotonic = monotonic
        self._entries: dict[PersonKey, tuple[float, dict[str, Any] | None]] = {}
        self._loading: dict[PersonKey, int] = {}  # person -> reads in flight
        self._spoiled: set[PersonKey] = set()  # changed while a read was in flight: not cached
        self._epoch = 0  # bumped by clear(), which spoils every read in flight
        _CACHES.add(self)

    async def get(
        self, session: AsyncSession, messenger_id: int, channel: str = Channel.TELEGRAM
    ) -> models.User | None:
        key = (str(channel), messenger_id)
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._monotonic():
            return None if entry[1] is None else _attach(session, entry[1])
        epoch = self._epoch
        self._loading[key] = self._loading.get(key, 0) + 1
        try:
            user = await get_user(session, messenger_id, channel)
        finally:
            left = self._loading.pop(key) - 1
            spoiled = key in self._spoiled
            if left:
                self._loading[key] = left
            else:
                self._spoiled.discard(key)
        if not spoiled and epoch == self._epoch:
            values = (
                None if user is None else {name: getattr(user, name) for name in _USER_COLUMNS}
            )
            self._store(key, values)
        return user

    def put(self, key: PersonKey, values: dict[str, Any]) -> None:
        """The row as just committed in this process (no read in flight may overwrite it)."""
        if key in self._loading:
            self._spoiled.add(key)
        self._store(key, dict(values))

    def invalidate(self, key: PersonKey) -> None:
        self._entries.pop(key, None)
        if key in self._loading:
            self._spoiled.add(key)

    def clear(self) -> None:
        self._entries.clear()
        self._epoch += 1

    def __len__(self) -> int:
        return len(self._entries)

    def _store(self, key: PersonKey, values: dict[str, Any] | None) -> None:
        now = self._monotonic()
        if len(self._entries) >= self._max_size:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            if len(self._entries) >= self._max_size:
                # Still full of live entries: forget the older half (insertion order).
                keep = list(self._entries.items())[self._max_size // 2 :]
                self._entries = dict(keep)
        self._entries.pop(key, None)
        self._entries[key] = (now + self._ttl, values)


_USER_MANAGER = inspect(models.User).class_manager


def _attach(session: AsyncSession, values: dict[str, Any]) -> models.User:
    """A persistent `User` in `session` with these column values, without a query."""
    existing = session.sync_session.identity_map.get((models.User, (values["id"],), None))
    if existing is not None:
        return existing
    # What the ORM does when it loads a row: a new instance with its state filled in.
    user: models.User = _USER_MANAGER.new_instance()
    user.__dict__.update(values)
    make_transient_to_detached(user)  # as if just loaded: no pending changes
    session.add(user)
    return user


def _invalidate(keys: set[PersonKey]) -> None:
    for cache in list(_CACHES):
        if _ALL in keys:
            cache.clear()
        else:
            for key in keys:
                cache.invalidate(key)


# The latest flushed write of each user not yet committed or rolled back, by a sequence
# number: a commit puts its row back in the caches only if no other session wrote the same user
# after it (that one's commit will put the newer row).
_pending_writes: dict[PersonKey, int] = {}
_write_numbers = itertools.count(1)


def _user_written(_mapper: Mapper[Any], _connection: Connection, target: models.User) -> None:
    key = key_of(target)
    _invalidate({key})
    session = object_session(target)
    if session is not None:
        number = next(_write_numbers)
        if len(_pending_writes) > USER_CACHE_SIZE:
            _pending_writes.clear()  # only ever loses the shortcut, never correctness
        _pending_writes[key] = number
        session.info.setdefault(_CHANGED, set()).add(key)
        session.info.setdefault(_WRITTEN, []).append((target, number))


def _user_deleted(_mapper: Mapper[Any], _connection: Connection, target: models.User) -> None:
    key = key_of(target)
    _invalidate({key})
    session = object_session(target)
    if session is not None:
        session.info.setdefault(_CHANGED, set()).add(key)


def _bulk_statement(state: ORMExecuteState) -> None:
    """An ORM-enabled insert/update/delete of users (not one object): which rows is unknown."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    if not any(mapper.class_ is models.User for mapper in state.all_mappers):
        return
    _invalidate({_ALL})
    state.session.info.setdefault(_CHANGED, set()).add(_ALL)


def _committed(session: Session) -> None:
    # Again at commit: a read between the flush and the commit saw the old row. The rows this
    # session wrote are now what the database holds, so they go back in as they are: the
    # person's next update (after consent, a region…) needs no query either.
    changed = session.info.pop(_CHANGED, None)
    written: list[tuple[models.User, int]] = session.info.pop(_WRITTEN, [])
    if not changed:
        return
    _invalidate(changed)
    for user, number in written:
        key = key_of(user)
        if _pending_writes.get(key) != number:
            continue  # written again since (or the number was forgotten): leave it out
        del _pending_writes[key]
        state = inspect(user)
        if _ALL in changed or not state.persistent:
            continue
        values = {key: state.dict[key] for key in _USER_COLUMNS if key in state.dict}
        if len(values) == len(_USER_COLUMNS):
            for cache in list(_CACHES):
                cache.put(key, values)


def _rolled_back(session: Session) -> None:
    changed = session.info.pop(_CHANGED, None)
    for user, number in session.info.pop(_WRITTEN, []):
        if _pending_writes.get(key_of(user)) == number:
            del _pending_writes[key_of(user)]
    if changed:
        _invalidate(changed)


event.listen(models.User, "after_insert", _user_written)
event.listen(models.User, "after_update", _user_written)
event.listen(models.User, "after_delete", _user_deleted)
event.listen(Session, "do_orm_execute", _bulk_statement)
event.listen(Session, "after_commit", _committed)
event.listen(Session, "after_rollback", _rolled_back)


async def _get_or_create(
    session: AsyncSession, clock: Clock, messenger_id: int, language: str, channel: str
) -> models.User:
    user = await get_user(session, messenger_id, channel)
    if user is None:
        now = clock.now()
        user = models.User(
            channel=channel,
            messenger_id=messenger_id,
            language=language,
            created_at=now,
            last_seen_at=now,
        )
        session.add(user)
        await session.flush()
    return user


async def give_consent(
    session: AsyncSession,
    clock: Clock,
    *,
    messenger_id: int,
    language: str,
    version: str,
    region_code: str | None = None,
    municipality_id: str | None = None,
    channel: str = Channel.TELEGRAM,
) -> models.User:
    """Record personal-data consent; what the person chose anonymously is kept from now on."""
    user = await _get_or_create(session, clock, messenger_id, language, channel)
    if user.consent_version != version:
        session.add(
            models.Consent(
                user_id=user.id,
                kind=ConsentKind.PERSONAL_DATA,
                version=version,
                granted_at=clock.now(),
            )
        )
        user.consent_version = version
    if region_code is not None and user.region_code is None:
        user.region_code = region_code
        user.municipality_id = municipality_id
    await session.commit()
    return user


async def set_location(
    session: AsyncSession, user: models.User, region_code: str, municipality_id: str | None
) -> None:
    user.region_code = region_code
    user.municipality_id = municipality_id
    await session.commit()


async def set_language(session: AsyncSession, user: models.User, language: str) -> None:
    user.language = language
    await session.commit()


async def set_paused(
    session: AsyncSession, memberships: list[models.Membership], paused: bool
) -> None:
    """A volunteer's pause: routing offers them nothing new until they resume."""
    for membership in memberships:
        membership.paused = paused
    await session.commit()


async def memberships(session: AsyncSession, user_id: int) -> list[models.Membership]:
    rows = await session.scalars(
        select(models.Membership).where(
            models.Membership.user_id == user_id, models.Membership.active
        )
    )
    return list(rows)


async def grant_role(
    session: AsyncSession,
    clock: Clock,
    *,
    messenger_id: int,
    role: Role,
    region_code: str | None = None,
    organization_id: str | None = None,
    channel: str = Channel.TELEGRAM,
) -> models.Membership:
    """Give a role; granting the same role again returns the existing membership."""
    user = await _get_or_create(session, clock, messenger_id, "ru", channel)
    existing = await session.scalar(
        select(models.Membership).where(
            models.Membership.user_id == user.id,
            models.Membership.role == role,
            models.Membership.region_code.is_(region_code)
            if region_code is None
            else models.Membership.region_code == region_code,
            models.Membership.organization_id.is_(organization_id)
            if organization_id is None
            else models.Membership.organization_id == organization_id,
        )
    )
    if existing is not None:
        existing.active = True
        await session.commit()
        return existing
    membership = models.Membership(
        user_id=user.id,
        role=role,
        region_code=region_code,
        organization_id=organization_id,
        created_at=clock.now(),
        active=True,
        paused=False,
    )
    session.add(membership)
    await session.commit()
    return membership


async def create_invite(
    session: AsyncSession,
    clock: Clock,
    *,
    role: Role,
    organization_id: str | None,
    region_code: str | None,
    created_by_user_id: int | None = None,
    ttl: dt.timedelta = INVITE_TTL,
) -> models.Invite:
    now = clock.now()
    invite = models.Invite(
        token=secrets.token_urlsafe(18),
        role=role,
        organization_id=organization_id,
        region_code=region_code,
        created_by_user_id=created_by_user_id,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(invite)
    await session.commit()
    return invite


class InviteOutcome(StrEnum):
    JOINED = "joined"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"
    INACTIVE = "inactive"  # the organisation was deactivated after the link was made


@dataclass(frozen=True)
class InviteResult:
    outcome: InviteOutcome
    role: Role | None = None
    organization_id: str | None = None
    region_code: str | None = None


async def redeem_invite(
    session: AsyncSession,
    clock: Clock,
    *,
    token: str,
    messenger_id: int,
    language: str,
    channel: str = Channel.TELEGRAM,
) -> InviteResult:
    """Single use is enforced by a conditional UPDATE, so two people cannot share one link."""
    invite = await session.get(models.Invite, token)
    if invite is None:
        return InviteResult(InviteOutcome.UNKNOWN)
    if invite.used_at is not None:
        return InviteResult(InviteOutcome.USED)
    now = clock.now()
    if invite.expires_at <= now:
        return InviteResult(InviteOutcome.EXPIRED)
    if invite.organization_id is not None:
        organization = await session.get(models.Organization, invite.organization_id)
        if organization is None or not organization.active:
            return InviteResult(InviteOutcome.INACTIVE)
    user = await _get_or_create(session, clock, messenger_id, language, channel)
    claimed = await session.execute(
        update(models.Invite)
        .where(models.Invite.token == token, models.Invite.used_at.is_(None))
        .values(used_at=now, used_by_user_id=user.id)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        return InviteResult(InviteOutcome.USED)
    role = Role(invite.role)
    session.add(
        models.Membership(
            user_id=user.id,
            role=role,
            organization_id=invite.organization_id,
            region_code=invite.region_code,
            created_at=now,
            active=True,
            paused=False,
        )
    )
    await session.commit()
    return InviteResult(InviteOutcome.JOINED, role, invite.organization_id, invite.region_code)
