"""Presence: who is online, and when an offline user was last seen.

A connected device proves it is alive by heartbeats (the socket's hello and its `ping` frames).
Each heartbeat writes two keys in the platform cache with a TTL (`ttl`, default 60 s):
`presence:<system>:<user id>` (the user is online) and `presence:<system>:d:<device id>` (this
device is online; the push sender reads it to skip devices that are connected). A device that stops
beating — its process died, its network went away — drops out when its keys expire; a clean
disconnect deletes its device key at once, and the user's key too when none of the user's other
devices is online.

Last seen is durable: `MessagingDevice.last_seen_at` is written at connect, at disconnect and on
heartbeats at most once per `LAST_SEEN_RESOLUTION`, so after a crash it is at most that stale.
A user's last seen is the latest of their devices'.

Who may see it: a user sees the presence of users who share a direct chat or a group of at most
`PRESENCE_GROUP_LIMIT` members with them (not channel subscribers, not the members of a group of
thousands). The same rule picks who gets a "presence" event on their user channel when someone
comes online or goes offline (transitions only, never per heartbeat).

Costs: a heartbeat is two cache writes plus one cache read (O(1)); a transition is one query for
the contacts plus one bus publish per contact (O(contacts)); a snapshot of k users is one query,
k cache reads and one aggregate query (O(k)).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, StringConstraints
from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from casebook.engines.messaging import events
from casebook.engines.messaging.models import (
    MessagingConversation,
    MessagingDevice,
    MessagingMember,
)
from casebook.platform.auth.deps import CurrentPrincipal
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, utcnow
from casebook.platform.errors import PROBLEM_JSON

PRESENCE_TTL = 60.0
"""Seconds a heartbeat keeps a device (and its user) online."""
HEARTBEAT_INTERVAL = 20.0
"""How often clients should beat: a third of the TTL, so one lost ping does not flap presence."""
LAST_SEEN_RESOLUTION = 60.0
"""`last_seen_at` is written at most this often per device while connected."""
LAST_SEEN_BATCH_DELAY = 1.0
"""Heartbeats' last-seen writes wait this long to share one UPDATE (see `_write_batches`)."""
log = structlog.get_logger("casebook.messaging.presence")
PRESENCE_GROUP_LIMIT = 256
"""Members of groups larger than this do not see each other's presence (nor get its events)."""
_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": "problem+json", "content": {PROBLEM_JSON: {}}} for status in (401, 422)
}


def user_key(system: str, user_id: int) -> str:
    return f"presence:{system}:{user_id}"


def device_key(system: str, device_id: int) -> str:
    return f"presence:{system}:d:{device_id}"


@dataclass(frozen=True)
class PresenceState:
    user_id: int
    online: bool
    last_seen: datetime | None

    def view(self) -> dict[str, Any]:
        return {
            "user_id": str(self.user_id),
            "online": self.online,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
        }


async def device_is_online(platform: Platform, system: str, device_id: int) -> bool:
    """Whether `device_id` has beaten within the TTL (the push sender's test); one cache read."""
    return await platform.cache.get(device_key(system, device_id)) is not None


def _members_of_shared_chats(among: bool) -> Select[int]:
    """Users who share a direct chat or a small group with user `:viewer` in system `:system`
    (not the viewer; with `among`, only those in the list `:among`).

    Built once at import: every handshake announces its user's presence to these, and building
    the statement (two aliases, the joins and comparisons) per call cost more than running it.
    One query: the viewer's memberships joined to the members of the same conversations, using
    the (user_id, conversation_id) index and the members' primary key."""
    mine = aliased(MessagingMember, name="mine")
    theirs = aliased(MessagingMember, name="theirs")
    return (
        select(theirs.user_id)
        .distinct()
        .select_from(mine)
        .join(MessagingConversation, MessagingConversation.id == mine.conversation_id)
        .join(theirs, theirs.conversation_id == mine.conversation_id)
        .where(
            mine.user_id == bindparam("viewer"),
            theirs.user_id.in_(bindparam("among", expanding=True))
            if among
            else theirs.user_id != bindparam("viewer"),
            MessagingConversation.system == bindparam("system"),
            MessagingConversation.kind.in_(("direct", "group")),
            MessagingConversation.member_count <= PRESENCE_GROUP_LIMIT,
        )
    )


_CONTACTS = _members_of_shared_chats(among=False)
_CONTACTS_AMONG = _members_of_shared_chats(among=True)


async def contacts_of(session: AsyncSession, system: str, user_id: int) -> list[int]:
    """Users who share a direct chat or a small group with `user_id` in `system` (not the user)."""
    rows = await session.execute(_CONTACTS, {"viewer": user_id, "system": system})
    return [row[0] for row in rows]


async def visible_users(
    session: AsyncSession, system: str, viewer_id: int, user_ids: Iterable[int]
) -> set[int]:
    """The subset of `user_ids` whose presence `viewer_id` may see (the viewer included)."""
    wanted = set(user_ids)
    visible = {viewer_id} & wanted
    others = wanted - visible
    if not others:
        return visible
    rows = await session.execute(
        _CONTACTS_AMONG, {"viewer": viewer_id, "system": system, "among": sorted(others)}
    )
    return visible | {row[0] for row in rows}


class Presence:
    """Heartbeats, disconnects and presence queries of one system in one process."""

    def __init__(
        self,
        platform: Platform,
        system: str,
        *,
        ttl: float = PRESENCE_TTL,
        batch_delay: float = LAST_SEEN_BATCH_DELAY,
    ) -> None:
        if ttl <= 0:
            raise ValueError("the presence TTL must be positive")
        self.platform = platform
        self.system = system
        self.ttl = ttl
        self._last_written: dict[int, float] = {}
        """device id → monotonic time of its last `last_seen_at` write (connected devices)."""
        self._unwritten: set[int] = set()
        """Devices whose heartbeat `last_seen_at` waits for the next batched write."""
        self._writer: asyncio.Task[None] | None = None
        self.batch_delay = batch_delay

    async def _write_batches(self) -> None:
        """Heartbeats' last-seen writes, one UPDATE per `LAST_SEEN_BATCH_DELAY` for every device
        that beat meanwhile: a reconnect storm of 10,000 sockets costs a few transactions, not
        10,000. A crash loses at most that delay of last-seen precision (which is 60 s anyway)."""
        while self._unwritten:
            await asyncio.sleep(self.batch_delay)
            await self.flush()

    async def flush(self) -> None:
        """Write the pending last-seen stamps now (also called on shutdown)."""
        devices, self._unwritten = sorted(self._unwritten), set()
        if not devices:
            return
        try:
            async with self.platform.db.session(write=True) as session:
                await session.execute(
                    update(MessagingDevice)
                    .where(MessagingDevice.id.in_(devices))
                    .values(last_seen_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
        except Exception:
            log.exception("writing last-seen stamps failed", devices=len(devices))

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        await self.flush()

    async def beat(self, user_id: int, device_id: int) -> bool:
        """Record a heartbeat of `device_id`; True when its user was offline until now.

        Also has the device's `last_seen_at` written (batched, within `LAST_SEEN_BATCH_DELAY`)
        when the last write is older than `LAST_SEEN_RESOLUTION`. O(1): one cache read, two
        cache writes.
        """
        cache = self.platform.cache
        was_online = await cache.get(user_key(self.system, user_id)) is not None
        stamp = utcnow().isoformat().encode()
        await cache.set(device_key(self.system, device_id), stamp, self.ttl)
        await cache.set(user_key(self.system, user_id), stamp, self.ttl)
        now = time.monotonic()
        written = self._last_written.get(device_id)
        if written is None or now - written >= LAST_SEEN_RESOLUTION:
            self._last_written[device_id] = now
            self._unwritten.add(device_id)
            if self._writer is None or self._writer.done():
                self._writer = asyncio.create_task(self._write_batches(), name="last-seen")
        return not was_online

    async def went_away(self, user_id: int, device_id: int) -> bool:
        """`device_id` disconnected: forget its key and store its last seen; True when none of
        the user's devices is online any more (the user went offline). O(devices of the user)."""
        cache = self.platform.cache
        await cache.delete(device_key(self.system, device_id))
        self._last_written.pop(device_id, None)
        self._unwritten.discard(device_id)
        await self._write_last_seen(device_id)
        async with self.platform.db.session() as session:
            devices = (
                await session.scalars(
                    select(MessagingDevice.id).where(
                        MessagingDevice.system == self.system,
                        MessagingDevice.user_id == user_id,
                        MessagingDevice.revoked_at.is_(None),
                        MessagingDevice.id != device_id,
                    )
                )
            ).all()
        for other in devices:
            if await cache.get(device_key(self.system, other)) is not None:
                return False
        await cache.delete(user_key(self.system, user_id))
        return True

    async def _write_last_seen(self, device_id: int) -> None:
        # A write session: on SQLite it queues with this process's other writers instead of
        # sleeping in SQLite's busy loop.
        async with self.platform.db.session(write=True) as session:
            await session.execute(
                update(MessagingDevice)
                .where(MessagingDevice.id == device_id)
                .values(last_seen_at=utcnow())
                .execution_options(synchronize_session=False)
            )

    async def states(self, session: AsyncSession, user_ids: Iterable[int]) -> list[PresenceState]:
        """Online flag and last seen of each of `user_ids` (no visibility check; see `query`)."""
        ids = sorted(set(user_ids))
        if not ids:
            return []
        rows = await session.execute(
            select(MessagingDevice.user_id, func.max(MessagingDevice.last_seen_at))
            .where(MessagingDevice.system == self.system, MessagingDevice.user_id.in_(ids))
            .group_by(MessagingDevice.user_id)
        )
        last_seen: dict[int, datetime | None] = {row[0]: row[1] for row in rows}
        states = []
        for user_id in ids:
            beat = await self.platform.cache.get(user_key(self.system, user_id))
            seen = last_seen.get(user_id)
            if beat is not None:
                # Online: the latest heartbeat is fresher than the batched database stamp.
                with contextlib.suppress(ValueError):
                    stamp = datetime.fromisoformat(beat.decode())
                    seen = stamp if seen is None or stamp > seen else seen
            states.append(PresenceState(user_id, beat is not None, seen))
        return states

    async def query(
        self, session: AsyncSession, viewer_id: int, user_ids: Iterable[int]
    ) -> list[PresenceState]:
        """The presence of those of `user_ids` that `viewer_id` may see; the others are left
        out, so asking reveals nothing about strangers."""
        return await self.states(
            session, await visible_users(session, self.system, viewer_id, user_ids)
        )

    async def announce(self, user_id: int) -> int:
        """Publish the user's current presence to each contact's user channel; returns how many
        were told. Called on transitions only (see the module docstring)."""
        async with self.platform.db.session() as session:
            contacts = await contacts_of(session, self.system, user_id)
            (state,) = await self.states(session, [user_id])
        event = {"type": "presence", **state.view()}
        for contact in contacts:
            await events.publish_to_user(self.platform.bus, self.system, contact, event)
        return len(contacts)


class PresenceList(BaseModel):
    users: list[dict[str, Any]]


def router(system: str) -> APIRouter:
    """`GET /presence?user_ids=…`: the HTTP twin of the socket's `presence` frame."""
    api = APIRouter()

    @api.get("/presence", response_model=PresenceList, responses=_PROBLEMS)
    async def get_presence(
        principal: CurrentPrincipal,
        platform: Annotated[Platform, Depends(get_platform)],
        session: Session,
        user_ids: Annotated[
            list[Annotated[str, StringConstraints(pattern=r"^[0-9]{1,19}$")]],
            Query(min_length=1, max_length=200),
        ],
    ) -> PresenceList:
        """Online flag and last seen of those of `user_ids` (repeat the parameter, at most 200)
        who share a direct chat or a small group with the caller; the others are left out."""
        states = await Presence(platform, system).query(
            session, principal.user_id, [int(u) for u in user_ids]
        )
        return PresenceList(users=[state.view() for state in states])

    return api
