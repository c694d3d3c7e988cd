"""The messaging engine's per-process state for one system, kept in `platform.state`.

`Messenger` holds the system's configuration, the group-commit writer of messages, the hooks
run inside each batch's transaction (attachment references; Telegram's bot updates) and the
callbacks run after each committed batch (push notifications register one). Other parts of the
engine (the WebSocket gateway, push, attachments) reach the writer through
`messenger(platform, system).writer`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.context import Platform

log = structlog.get_logger("casebook.messaging")

UNLIMITED_MEMBERS = 2**53 - 1
"""The member limit stored for channels ("unlimited"): larger than any real audience, and exact
in JavaScript."""

CommitCallback = Callable[["Messenger", Sequence[dict[str, Any]]], Awaitable[None]]
"""`await callback(messenger, events)` after a batch commits: `events` are the conversation
events the writer published (see events.py and `writer.message_event`), in commit order."""


AfterCommit = Callable[[], Awaitable[None]]
TransactionHook = Callable[[AsyncSession, Sequence[dict[str, Any]]], Awaitable[AfterCommit | None]]
"""`await hook(session, rows)` inside a batch's transaction, after its messages are inserted and
its edits, deletes and `last_seq` updates are written: `rows` are the new message rows' column
values, in seq order per conversation (never empty: a batch of retries only skips the hooks).
What the hook writes commits or rolls back with the messages. It may return a follow-up, awaited
after the COMMIT (e.g. wake a waiter)."""


@dataclass(frozen=True)
class MessagingConfig:
    """Limits and knobs of one system's messaging (systems may pass their own at startup)."""

    group_member_limit: int = 200_000
    channel_member_limit: int = UNLIMITED_MEMBERS
    max_text_length: int = 4096
    max_title_length: int = 128
    edit_window: timedelta = timedelta(hours=48)
    max_envelope_bytes: int = 256 * 1024
    writer_max_batch: int = 256
    max_initial_members: int = 1000
    """Members named when a group is created; more join by invitation or link."""
    send_rate: float = 30.0
    """Messages per second a user may send over HTTP, sustained (GCRA, per user and system)."""
    send_burst: int = 120
    """Messages a user may send at once on top of the sustained rate."""
    direct_chats_e2e: bool = False
    """Every direct chat is end-to-end encrypted (Viber: no plaintext 1:1 chats)."""
    shares_posts: bool = False
    """Messages of kind "share" (a post of the system's feed) are accepted; the system checks
    who may see the post (Instagram)."""


def state_key(system: str) -> str:
    return f"messaging:{system}"


@dataclass
class Messenger:
    """Everything the messaging engine keeps in one process for one system."""

    platform: Platform
    system: str
    config: MessagingConfig = field(default_factory=MessagingConfig)
    callbacks: list[CommitCallback] = field(default_factory=list)
    transaction_hooks: list[TransactionHook] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Imported here: the writer imports this module for `Messenger`'s type.
        from casebook.engines.messaging.attachments import record_refs
        from casebook.engines.messaging.writer import MessageWriter

        self.writer = MessageWriter(self)
        self.in_transaction(record_refs)

    def in_transaction(self, hook: TransactionHook) -> None:
        """Run `hook(session, rows)` inside every batch's transaction (see `TransactionHook`).

        Hooks run in registration order, each with the batch's session. An exception rolls the
        batch back: the writer then retries its requests one at a time, so only the request
        whose row the hook cannot handle fails. Hooks must be quick: they hold the batch's
        conversation locks.
        """
        self.transaction_hooks.append(hook)

    def on_commit(self, callback: CommitCallback) -> None:
        """Run `callback(messenger, events)` after every committed batch of messages.

        Callbacks run in the writer's task, one after another, after the events are published:
        they must be quick (enqueue a job, not send HTTP). An exception is logged and does not
        affect the messages or the other callbacks.
        """
        self.callbacks.append(callback)

    async def after_commit(self, events: Sequence[dict[str, Any]]) -> None:
        """Run every registered callback on `events` (called by the writer)."""
        for callback in self.callbacks:
            try:
                await callback(self, events)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("messaging after-commit callback failed", system=self.system)


def messenger(platform: Platform, system: str) -> Messenger:
    """The running `Messenger` of `system` (created by `start`). Raises KeyError before it."""
    state: Messenger = platform.state[state_key(system)]
    return state


async def start(
    platform: Platform, system: str, config: MessagingConfig | None = None
) -> Messenger:
    """Create the system's `Messenger` and start its writer (idempotent per platform)."""
    key = state_key(system)
    existing: Messenger | None = platform.state.get(key)
    if existing is not None:
        return existing
    state = Messenger(platform, system, config or MessagingConfig())
    platform.state[key] = state
    state.writer.start()
    return state


async def stop(platform: Platform, system: str) -> None:
    """Stop the writer after committing every queued message, and forget the `Messenger`."""
    state: Messenger | None = platform.state.pop(state_key(system), None)
    if state is not None:
        await state.writer.stop()
