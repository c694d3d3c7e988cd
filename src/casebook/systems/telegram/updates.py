"""Bot updates: made from committed messages, queued per bot, fetched by long polling
(getUpdates) or pushed to a webhook.

Making: `transaction_hook(platform, system)` is registered with the engine's writer
(`Messenger.in_transaction`), so it runs INSIDE each batch's transaction, after the messages are
inserted: the updates commit together with the messages, or not at all. A crash can no longer
lose a committed message's updates, and a bot's getUpdates sees a message's update as soon as
the sender's request has returned. The hook finds the live bots among the members of the
batch's conversations (one query: member rows whose user is a live bot; the planner probes from
the smaller side, O(min(live bots, members of those conversations)) index lookups; a batch
without bots costs that one query and nothing more) and, for every message not sent by the bot
itself, appends a "message" / "channel_post" / "edited_message" / "edited_channel_post" update
to the bot's queue. Lock order: the writer holds the batch's conversations (id order); the hook
then takes bot rows in id order, and nothing takes a conversation lock while holding a bot row,
so the two never deadlock.

Numbering: `append` takes `n` update ids with one `UPDATE telegram_bots SET last_update_id =
last_update_id + n … RETURNING` and inserts the rows in the same transaction. The UPDATE holds
the bot's row lock until COMMIT (PostgreSQL; SQLite has one writer), so update ids commit in
increasing order: a poller that confirmed id k never sees a smaller id appear later.

Waking: after the commit (the hook's follow-up) a notification goes on the bus channel
`tg:<system>:bot:<id>`; a long poll subscribes before it reads, so it cannot miss an update
committed between its read and its wait. With a webhook set, the notification is a delivery job
instead (webhook.py). A wake-up lost to a crash costs a poller at most its timeout, and the
Telegram startup schedules a delivery for every webhook bot with pending updates.

Updates are at least once, like Telegram's: a bot confirms them with a larger `offset`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging.models import (
    MessagingAttachment,
    MessagingConversation,
    MessagingMember,
    MessagingMessage,
)
from casebook.engines.messaging.runtime import AfterCommit, TransactionHook
from casebook.engines.messaging.views import message_view
from casebook.platform.bus import SubscriberTooSlow
from casebook.platform.context import Platform
from casebook.platform.db import utcnow, where_keys
from casebook.systems.telegram import objects
from casebook.systems.telegram.models import TelegramBot, TelegramReplyMarkup, TelegramUpdate

log = structlog.get_logger("casebook.telegram.updates")

UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "callback_query",
)
"""The update types this server produces (a subset of Telegram's)."""
MAX_POLL_TIMEOUT = 50
"""Seconds a getUpdates call may wait (Telegram's own ceiling is 50)."""


def bot_channel(system: str, bot_id: int) -> str:
    return f"tg:{system}:bot:{bot_id}"


@dataclass(frozen=True)
class Appended:
    bot_id: int
    count: int
    webhook: bool
    last_update_id: int = 0


async def append(
    session: AsyncSession, bot: TelegramBot, items: Sequence[tuple[str, dict[str, Any]]]
) -> Appended:
    """Queue `items` ((update type, object)) for `bot`, in order, skipping types the bot did not
    allow. Two statements (the counter UPDATE, one multi-row INSERT); O(len(items))."""
    allowed = set(bot.allowed_updates) if bot.allowed_updates else None
    kept = [(kind, obj) for kind, obj in items if allowed is None or kind in allowed]
    if not kept:
        return Appended(bot.id, 0, bool(bot.webhook_url))
    last = await session.scalar(
        update(TelegramBot)
        .where(TelegramBot.id == bot.id, TelegramBot.revoked_at.is_(None))
        .values(last_update_id=TelegramBot.last_update_id + len(kept))
        .returning(TelegramBot.last_update_id)
        .execution_options(synchronize_session=False)
    )
    if last is None:
        return Appended(bot.id, 0, False)
    first = last - len(kept) + 1
    now = utcnow()
    await session.execute(
        TelegramUpdate.__table__.insert(),  # type: ignore[attr-defined]
        [
            {
                "bot_id": bot.id,
                "update_id": first + index,
                "kind": kind,
                "payload": {"update_id": first + index, kind: obj},
                "created_at": now,
            }
            for index, (kind, obj) in enumerate(kept)
        ],
    )
    return Appended(bot.id, len(kept), bool(bot.webhook_url), last)


async def announce(platform: Platform, system: str, appended: Sequence[Appended]) -> None:
    """After COMMIT: wake the bots' long polls, or start their webhook deliveries."""
    from casebook.systems.telegram import webhook

    for item in appended:
        if not item.count:
            continue
        if item.webhook:
            await webhook.schedule(platform, system, item.bot_id, key=str(item.last_update_id))
        else:
            await platform.bus.publish(bot_channel(system, item.bot_id), b"1")


def _update_kind(conversation: MessagingConversation, edited: bool) -> str:
    base = "channel_post" if conversation.kind == "channel" else "message"
    return f"edited_{base}" if edited else base


def transaction_hook(platform: Platform, system: str) -> TransactionHook:
    """The writer's in-transaction hook for `system`: make the member bots' updates of a batch's
    new messages in the batch's own transaction; the follow-up wakes the bots after COMMIT."""

    async def hook(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> AfterCommit | None:
        appended = await make_updates(session, system, rows)
        if not any(item.count for item in appended):
            return None

        async def wake() -> None:
            await announce(platform, system, appended)

        return wake

    return hook


async def make_updates(
    session: AsyncSession, system: str, rows: Sequence[dict[str, Any]]
) -> list[Appended]:
    """Queue the updates of new message `rows` (column values, as the writer inserted them)
    for the live bots among their conversations' members, in `session`'s transaction. Returns
    what was appended per bot (empty when no bot is concerned)."""
    wanted = [
        message_view(MessagingMessage(**row))
        for row in rows
        if row["kind"] in ("text", "media", "edit")
    ]
    if not wanted:
        return []
    conversation_ids = sorted({int(view["conversation_id"]) for view in wanted})
    appended: list[Appended] = []
    live_bots = select(TelegramBot.id).where(TelegramBot.revoked_at.is_(None))
    pairs = (
        await session.execute(
            select(MessagingMember.conversation_id, MessagingMember.user_id).where(
                MessagingMember.conversation_id.in_(conversation_ids),
                MessagingMember.user_id.in_(live_bots),
            )
        )
    ).all()
    if not pairs:
        return []
    bot_ids = {bot_id for _, bot_id in pairs}
    bots = {
        b.id: b
        for b in await session.scalars(select(TelegramBot).where(TelegramBot.id.in_(bot_ids)))
    }
    conversations = {
        c.id: c
        for c in await session.scalars(
            select(MessagingConversation).where(
                MessagingConversation.id.in_({cid for cid, _ in pairs}),
                MessagingConversation.system == system,
            )
        )
    }
    bots_in: dict[int, list[int]] = {}
    for conversation_id, bot_id in pairs:
        if conversation_id in conversations:
            bots_in.setdefault(conversation_id, []).append(bot_id)
    relevant = [v for v in wanted if int(v["conversation_id"]) in bots_in]
    # An edit entry carries the new text; the update shows the edited message itself (its
    # row is updated already: the writer applies edits before running the hooks).
    edit_targets = {
        (int(v["conversation_id"]), v["target_seq"]) for v in relevant if v["kind"] == "edit"
    }
    targets: dict[tuple[int, int], dict[str, Any]] = {}
    if edit_targets:
        targets = {
            (m.conversation_id, m.seq): message_view(m)
            for m in await session.scalars(
                where_keys(
                    select(MessagingMessage),
                    [MessagingMessage.conversation_id, MessagingMessage.seq],
                    edit_targets,
                    session.get_bind().dialect.name,
                )
            )
        }
    views: list[tuple[dict[str, Any], bool]] = []
    for view in relevant:
        if view["kind"] == "edit":
            target = targets.get((int(view["conversation_id"]), view["target_seq"]))
            if target is None or target["deleted"]:
                continue
            views.append((target, True))
        else:
            views.append((view, False))
    people: set[int] = set(bot_ids)
    for view, _ in views:
        people.add(int(view["sender_id"]))
    for conversation in conversations.values():
        if conversation.kind == "direct":
            people.update(int(p) for p in (conversation.direct_key or "").split(":")[:2])
    directory = await objects.Directory.load(session, people)
    attachment_ids = {
        int(a) for view, _ in views for a in (view.get("data") or {}).get("attachments", ())
    }
    attachments = await load_attachments(session, system, attachment_ids)
    markups = await load_markups(session, [view for view, _ in views])
    queued: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    for view, edited in views:
        conversation = conversations[int(view["conversation_id"])]
        for bot_id in bots_in[conversation.id]:
            if int(view["sender_id"]) == bot_id:
                continue
            obj = objects.message(
                view,
                conversation,
                bot_id,
                directory,
                attachments=attachments,
                reply_markup=markups.get(markup_key(view)),
            )
            queued.setdefault(bot_id, []).append((_update_kind(conversation, edited), obj))
    for bot_id in sorted(queued):
        appended.append(await append(session, bots[bot_id], queued[bot_id]))
    return appended


async def load_attachments(
    session: AsyncSession, system: str, ids: set[int]
) -> dict[int, MessagingAttachment]:
    if not ids:
        return {}
    rows = await session.scalars(
        select(MessagingAttachment).where(
            MessagingAttachment.id.in_(ids), MessagingAttachment.system == system
        )
    )
    return {a.id: a for a in rows}


MarkupKey = tuple[int, int, str]


def markup_key(view: dict[str, Any]) -> MarkupKey:
    """A message view's key in `TelegramReplyMarkup`: (conversation, sender, client_id)."""
    return (int(view["conversation_id"]), int(view["sender_id"]), view["client_id"])


async def load_markups(
    session: AsyncSession, views: Sequence[dict[str, Any]]
) -> dict[MarkupKey, dict[str, Any]]:
    """The inline keyboards of `views`' messages (one IN query on the primary key)."""
    keys = {markup_key(view) for view in views}
    if not keys:
        return {}
    rows = await session.scalars(
        where_keys(
            select(TelegramReplyMarkup),
            [
                TelegramReplyMarkup.conversation_id,
                TelegramReplyMarkup.sender_id,
                TelegramReplyMarkup.client_id,
            ],
            keys,
            session.get_bind().dialect.name,
        )
    )
    return {(r.conversation_id, r.sender_id, r.client_id): r.markup for r in rows}


async def confirm_and_read(
    session: AsyncSession, bot_id: int, offset: int | None, limit: int
) -> list[dict[str, Any]]:
    """getUpdates' queue step: forget what `offset` confirms, return up to `limit` updates.

    A positive offset deletes every update below it; a negative one keeps only the last
    `-offset` updates (Telegram's rule). Then one range read on the (bot_id, update_id) key:
    O(log n + limit).
    """
    if offset is not None and offset > 0:
        await session.execute(
            delete(TelegramUpdate).where(
                TelegramUpdate.bot_id == bot_id, TelegramUpdate.update_id < offset
            )
        )
    elif offset is not None and offset < 0:
        keep_from = await session.scalar(
            select(TelegramUpdate.update_id)
            .where(TelegramUpdate.bot_id == bot_id)
            .order_by(TelegramUpdate.update_id.desc())
            .offset(-offset - 1)
            .limit(1)
        )
        if keep_from is not None:
            await session.execute(
                delete(TelegramUpdate).where(
                    TelegramUpdate.bot_id == bot_id, TelegramUpdate.update_id < keep_from
                )
            )
    rows = await session.scalars(
        select(TelegramUpdate.payload)
        .where(TelegramUpdate.bot_id == bot_id)
        .order_by(TelegramUpdate.update_id)
        .limit(limit)
    )
    return list(rows)


async def pending_count(session: AsyncSession, bot_id: int) -> int:
    count = await session.scalar(
        select(func.count()).select_from(TelegramUpdate).where(TelegramUpdate.bot_id == bot_id)
    )
    return int(count or 0)


async def get_updates(
    platform: Platform,
    system: str,
    bot_id: int,
    *,
    offset: int | None,
    limit: int,
    wait_seconds: float,
    allowed_updates: list[str] | None,
) -> list[dict[str, Any]]:
    """Long polling: confirm, read; if nothing is there, wait up to `wait_seconds` for the
    bot's bus notification and read again. No database session is held while waiting."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(wait_seconds, MAX_POLL_TIMEOUT)
    async with platform.bus.subscribe(bot_channel(system, bot_id)) as notifications:
        async with platform.db.session(write=True) as session:
            if allowed_updates is not None:
                await session.execute(
                    update(TelegramBot)
                    .where(TelegramBot.id == bot_id)
                    .values(allowed_updates=allowed_updates or None)
                )
            found = await confirm_and_read(session, bot_id, offset, limit)
        waiter = aiter(notifications)
        while not found:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            ended = False
            try:
                await asyncio.wait_for(anext(waiter), remaining)
            except TimeoutError:
                pass
            except (StopAsyncIteration, SubscriberTooSlow):
                ended = True  # the bus dropped us: read once more and answer
            async with platform.db.session() as session:
                # What the offset confirmed is deleted already: read the queue's head.
                found = await confirm_and_read(session, bot_id, None, limit)
            if ended:
                break
    return found
