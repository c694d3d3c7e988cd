"""Self-destructing messages (Telegram's secret chats): a conversation with `ttl_seconds` erases
each message that long after its recipient first reads it.

- Timer start: `start_timers` is called by `service.mark` when a member's read mark moves
  forward in such a conversation. One UPDATE sets `expires_at = now + ttl` on the messages in the
  newly read range that others sent and that have no timer yet (the sender reading their own
  message starts nothing; the first reader starts it, later reads do not move it).
- Hiding: the engine's read paths (`service.history`, `service.message_at`) leave out messages
  whose `expires_at` has passed, so an expired message is gone at once, before any job runs.
- Erasing: a platform job (`sweep_job(system)`) runs every `SWEEP_INTERVAL` seconds; one UPDATE
  erases body and data (and marks the rows deleted) of every message of the system whose
  `expires_at` has passed, and one DELETE removes their ciphertext envelopes. It walks the
  (deleted, expires_at) index: O(log n + expired messages not yet erased). Each run enqueues the
  next run under a key naming its time slot, so several processes (Redis jobs) run one sweep per
  slot.

What the server can erase it does: the ciphertext and any metadata body; the devices erase
their own decrypted copies on the same timer (`expires_at` is in the message view).
"""

from __future__ import annotations

import math
import time
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging import service
from casebook.engines.messaging.errors import InvalidOperation
from casebook.engines.messaging.events import publish_to_conversation
from casebook.engines.messaging.models import (
    MessagingConversation,
    MessagingEnvelope,
    MessagingMessage,
)
from casebook.platform.auth.deps import CurrentPrincipal
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import utcnow

SWEEP_INTERVAL = 1.0
"""Seconds between two erasing runs (the read path hides expired messages meanwhile)."""
MAX_TTL = 7 * 24 * 3600
"""Telegram offers timers up to a week."""
CONTENT_KINDS = ("text", "media", "sticker", "location", "contact", "encrypted")


def sweep_job(system: str) -> str:
    return f"messaging.{system}.self-destruct"


async def start_timers(
    session: AsyncSession,
    conversation: MessagingConversation,
    reader_id: int,
    read_from: int,
    read_to: int,
) -> None:
    """Start the timers of the messages in (`read_from`, `read_to`] that `reader_id` did not
    send. One UPDATE on the (conversation_id, seq) range: O(log n + range)."""
    if not conversation.ttl_seconds or read_to <= read_from:
        return
    await session.execute(
        update(MessagingMessage)
        .where(
            MessagingMessage.conversation_id == conversation.id,
            MessagingMessage.seq > read_from,
            MessagingMessage.seq <= read_to,
            MessagingMessage.sender_id != reader_id,
            MessagingMessage.kind.in_(CONTENT_KINDS),
            MessagingMessage.expires_at.is_(None),
        )
        .values(expires_at=utcnow() + timedelta(seconds=conversation.ttl_seconds))
        .execution_options(synchronize_session=False)
    )


def not_expired() -> Any:
    """The SQL condition "this message has not self-destructed yet" (for read paths)."""
    return (MessagingMessage.expires_at.is_(None)) | (MessagingMessage.expires_at > utcnow())


async def erase_expired(session: AsyncSession, system: str) -> int:
    """Erase every message of `system` whose timer has run out; returns how many. Idempotent:
    erased rows are marked deleted and have no body, data or envelopes left."""
    now = utcnow()
    # Driven by the (deleted, expires_at) index; the system is checked on the rows (each system
    # with secret chats runs its own sweep, so another's expired rows are read only until its
    # sweep erases them). With `conversations.system = ?` in the query SQLite, lacking
    # statistics, took it for a selective index and read every message of every conversation
    # of the system instead.
    rows = await session.execute(
        select(MessagingMessage.id, MessagingConversation.system)
        .join(MessagingConversation, MessagingConversation.id == MessagingMessage.conversation_id)
        .where(
            MessagingMessage.deleted == False,  # noqa: E712 (`= false` uses the index; IS does not)
            MessagingMessage.expires_at <= now,
        )
    )
    ids = [message_id for message_id, in_system in rows if in_system == system]
    if not ids:
        return 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        await session.execute(
            delete(MessagingEnvelope).where(MessagingEnvelope.message_id.in_(chunk))
        )
        await session.execute(
            update(MessagingMessage)
            .where(MessagingMessage.id.in_(chunk))
            .values(body=None, data=None, deleted=True)
            .execution_options(synchronize_session=False)
        )
    return len(ids)


async def _sweep(platform: Platform, system: str) -> int:
    async with platform.db.session(write=True) as session:
        return await erase_expired(session, system)


def register_jobs(platform: Platform, system: str) -> None:
    """Register the system's sweeping job (call from the system's startup, then `start`)."""

    async def run(platform: Platform, payload: dict[str, Any]) -> None:
        try:
            await _sweep(platform, system)
        finally:
            await schedule_next(platform, system)

    platform.jobs.register(sweep_job(system), run, retries=1, timeout=60.0)


async def schedule_next(platform: Platform, system: str) -> None:
    """Enqueue the sweep of the next time slot (deduplicated by the slot's key)."""
    slot = math.floor(time.time() / SWEEP_INTERVAL) + 1
    delay = max(0.0, slot * SWEEP_INTERVAL - time.time())
    await platform.jobs.enqueue(sweep_job(system), {}, key=f"slot:{slot}", delay=delay)


# HTTP: set a conversation's timer -------------------------------------------------------------


class TimerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ttl_seconds: int | None = Field(ge=1, le=MAX_TTL)
    """Null turns the timer off (messages read from now on stay)."""


async def set_timer(
    session: AsyncSession, system: str, conversation_id: int, user_id: int, ttl: int | None
) -> tuple[MessagingConversation, dict[str, Any]]:
    """A member of an end-to-end direct chat (secret chat) sets its self-destruct timer.
    Returns the conversation and the "conversation" event for its channel."""
    conversation, _member = await service.membership(session, system, conversation_id, user_id)
    if conversation.kind != "direct" or not conversation.e2e:
        raise InvalidOperation("Self-destruct timers are for secret (end-to-end) chats.")
    conversation.ttl_seconds = ttl
    event = {
        "type": "conversation",
        "conversation_id": str(conversation.id),
        "ttl_seconds": ttl,
        "changed_by": str(user_id),
    }
    return conversation, event


def router(system: str) -> APIRouter:
    """`PUT /conversations/{id}/self-destruct` for `system`."""
    api = APIRouter(tags=[system])

    @api.put("/conversations/{conversation_id}/self-destruct")
    async def put_timer(
        conversation_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
        body: TimerIn,
        principal: CurrentPrincipal,
        platform: Annotated[Platform, Depends(get_platform)],
    ) -> dict[str, Any]:
        """Set (or turn off with null) the secret chat's self-destruct timer: each message is
        erased `ttl_seconds` after its recipient first reads it."""
        async with platform.db.session(write=True) as session:
            conversation, event = await set_timer(
                session, system, conversation_id, principal.user_id, body.ttl_seconds
            )
        await publish_to_conversation(platform.bus, system, conversation.id, event)
        return {"conversation_id": str(conversation_id), "ttl_seconds": body.ttl_seconds}

    return api
