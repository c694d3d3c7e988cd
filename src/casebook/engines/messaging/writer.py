"""Group commit for messages: many senders' messages share one transaction.

Each message needs the next seq of its conversation, assigned under the conversation row's lock
so the log stays gap-free. One transaction per message would serialise every sender of a busy
group on that lock and pay one COMMIT (an fsync) each. `MessageWriter` instead:

1. `send(request)` checks the content (no database), queues the request and awaits a future;
2. one background task per process and system takes everything queued (up to `max_batch`) and,
   in ONE transaction:
   - locks the batch's conversations in id order (`SELECT … FOR UPDATE` on PostgreSQL; on SQLite
     the write transaction holds the database lock), reading their `last_seq` and, in the same
     statement, the senders' memberships;
   - loads, with one query each, the already stored messages with the batch's (conversation,
     sender, client_id) keys, the targets of edits and deletes, the sending devices (unless the
     caller verified them: the gateway), the named attachments, for E2E conversations the
     members' devices, and for direct chats whether the recipient blocked the sender;
   - decides each request in queue order: a retry (same key stored, or earlier in this batch)
     returns the stored message; a refused one gets its Problem; an accepted one takes
     `last_seq + 1`;
   - inserts the new rows (one multi-row INSERT for messages, one for envelopes), applies edits
     and deletes to their targets, and sets each conversation's `last_seq`;
   - runs the in-transaction hooks (`Messenger.in_transaction`: attachment references, a
     system's own rows such as Telegram's bot updates) with the new rows — then COMMITs, so
     what the hooks write is exactly as durable as the messages;
3. only after the COMMIT does each caller learn its outcome; then each new event is published
   once on its conversation's bus channel, in seq order, the hooks' follow-ups run, and the
   commit callbacks run.

Cost per batch: 7 reads at most (2 for plain group messages from sockets), 2 multi-row inserts,
one UPDATE per conversation and per edited target, one COMMIT — whatever the batch size; O(1)
Python work per message (O(devices) for E2E). No timer: while one batch commits the next
accumulates, so batches grow with the load and an idle writer adds no latency.

Ordering: within a process, batches commit and publish one after another, so a conversation's
events leave in seq order. Across processes (cluster mode) two writers may publish seqs of one
conversation out of order; consumers order by seq and fill gaps from the database.

Failure isolation: a batch whose transaction fails is retried one request at a time, so a bad row
fails only its own caller. `stop` refuses new requests and drains the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import structlog
from sqlalchemy import Table, and_, bindparam, delete, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging import content
from casebook.engines.messaging.errors import (
    ConversationNotFound,
    EditWindowClosed,
    InvalidMessage,
    MessageNotFound,
    MissingEnvelopes,
    NotAllowed,
    WriterClosed,
)
from casebook.engines.messaging.events import conversation_channel, encode
from casebook.engines.messaging.models import (
    MessageRow,
    MessagingAttachment,
    MessagingContact,
    MessagingConversation,
    MessagingDevice,
    MessagingEnvelope,
    MessagingMember,
    MessagingMessage,
    StoredMessage,
)
from casebook.engines.messaging.views import b64, message_view
from casebook.platform.db import keys_parameter, utcnow, where_keys
from casebook.platform.errors import Problem
from casebook.platform.ids import new_id

if TYPE_CHECKING:
    from casebook.engines.messaging.runtime import AfterCommit, Messenger

log = structlog.get_logger("casebook.messaging.writer")

_MESSAGES = cast(Table, MessagingMessage.__table__)
_ENVELOPES = cast(Table, MessagingEnvelope.__table__)
_CONVERSATIONS = cast(Table, MessagingConversation.__table__)
POSTING_ROLES = {"channel": frozenset({"owner", "admin"})}
"""Roles allowed to post, per conversation kind (any member when the kind is not listed)."""
MODERATOR_ROLES = frozenset({"owner", "admin"})


@dataclass(frozen=True)
class SendRequest:
    """One message (or edit/delete event) to append to a conversation's log.

    `envelopes` maps recipient device id → ciphertext (E2E conversations only). `client_id` is
    chosen by the client: a request repeating (conversation_id, sender_id, client_id) returns the
    message stored the first time.
    """

    conversation_id: int
    sender_id: int
    client_id: str
    kind: str = "text"
    body: str | None = None
    data: Mapping[str, Any] | None = None
    sender_device_id: int | None = None
    envelopes: Mapping[int, bytes] | None = None
    target_seq: int | None = None
    device_verified: bool = False
    """The caller has already proven `sender_device_id` a live device of the sender in this
    system, so the batch does not read it again: the gateway, whose socket authenticated the
    device and is closed when the device is revoked (as its acks are trusted, see
    `service.ack_many`). HTTP callers leave it False."""


@dataclass(frozen=True)
class Sent:
    """The outcome of a send: the stored message, and whether it was stored by an earlier
    request with the same client_id (`duplicate`: nothing new was written or published)."""

    message: MessageRow
    duplicate: bool

    @property
    def view(self) -> dict[str, Any]:
        return message_view(self.message)


def message_event(message: MessageRow, envelopes: Mapping[int, bytes] | None) -> dict[str, Any]:
    """The bus event of a new log entry (events.py): the view without ciphertext, plus every
    device's envelope for the gateway to hand out (absent for non-E2E messages)."""
    event: dict[str, Any] = {
        "type": "message",
        "conversation_id": str(message.conversation_id),
        "seq": message.seq,
        "message": message_view(message),
    }
    if envelopes:
        event["envelopes"] = {str(device): b64(data) for device, data in envelopes.items()}
    return event


@dataclass
class _Pending:
    request: SendRequest
    data: dict[str, Any] | None
    future: asyncio.Future[Sent]


Outcome = Sent | BaseException


class _Conversation:
    """What a batch reads of a conversation (Core columns: an ORM object each cost more to
    load than the rest of its message's work in the batch)."""

    __slots__ = ("direct_key", "e2e", "id", "kind", "last_seq")

    def __init__(self, id: int, kind: str, e2e: bool, direct_key: str | None, last_seq: int):
        self.id = id
        self.kind = kind
        self.e2e = e2e
        self.direct_key = direct_key
        self.last_seq = last_seq


class _Member:
    """What a batch reads of a sender's membership."""

    __slots__ = ("joined_seq", "role")

    def __init__(self, role: str, joined_seq: int):
        self.role = role
        self.joined_seq = joined_seq


_CONVERSATION_COLUMNS = (
    MessagingConversation.id,
    MessagingConversation.kind,
    MessagingConversation.e2e,
    MessagingConversation.direct_key,
    MessagingConversation.last_seq,
)
_MEMBER_COLUMNS = (
    MessagingMember.conversation_id,
    MessagingMember.user_id,
    MessagingMember.role,
    MessagingMember.joined_seq,
)


@dataclass
class _Batch:
    """What one transaction read and decided."""

    conversations: dict[int, _Conversation]
    members: dict[tuple[int, int], _Member]
    stored: dict[tuple[int, int, str], MessagingMessage]
    targets: dict[tuple[int, int], MessageRow]
    devices: dict[int, MessagingDevice]
    attachments: dict[int, MessagingAttachment]
    e2e_devices: dict[int, dict[int, int]]
    """conversation id → {device id: user id} of members' live E2E devices."""
    blocked: set[tuple[int, int]]
    """(recipient, sender) pairs of the batch's direct chats where the recipient blocked the
    sender (contacts.py)."""
    now: datetime
    new_rows: list[dict[str, Any]] = field(default_factory=list)
    new_envelopes: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    edits: dict[int, dict[str, Any]] = field(default_factory=dict)
    """target message id → the columns to change."""
    erased: list[tuple[int, int, int]] = field(default_factory=list)
    """(conversation id, target seq, target id) of messages deleted for everyone."""
    follow_ups: list[AfterCommit] = field(default_factory=list)
    """What the in-transaction hooks asked to run after the COMMIT."""


@dataclass(frozen=True)
class _Statements:
    """The statements every batch runs, built once per dialect: building a statement (and its
    cache key) per batch cost more than running it when batches are small."""

    locked: Any
    """The batch's conversations, locked (`FOR UPDATE OF` on PostgreSQL; on SQLite the write
    transaction holds the database lock), in id order. On PostgreSQL with the senders'
    memberships: each conversation once per batch sender who is a member of it (outer join: a
    conversation none of whose senders is a member still comes, once, with no member); on SQLite
    the memberships are `members`. Core columns (`_CONVERSATION_COLUMNS`, `_MEMBER_COLUMNS`),
    so the last_seq is always the one read under the lock."""
    members: Any
    """SQLite: the memberships of the batch's (conversation, sender) pairs, one primary-key
    search a pair (`where_keys`). Joined with an IN list of the senders instead, SQLite looked
    every sender up in every conversation of the batch: conversations x senders searches, some
    60,000 for a full batch of 256 messages in 250 conversations. None on PostgreSQL."""
    stored: Any
    """The messages already stored under the batch's (conversation, sender, client_id) keys."""
    insert: Any
    """The batch's new messages. On SQLite as multi-row INSERT statements (SQLAlchemy's
    "insertmanyvalues", which RETURNING turns on): the search index's AFTER INSERT trigger
    (search.py) costs about 10 us a row when the rows come one statement each (executemany),
    and about 1 us in one statement (measured alone, 256-row batches)."""


@functools.cache
def _statements(dialect: str) -> _Statements:
    conversations = MessagingConversation.id.in_(bindparam("conversations", expanding=True))
    members: Any = None
    if dialect == "sqlite":
        locked: Any = select(*_CONVERSATION_COLUMNS, null(), null(), null(), null())
        members = where_keys(
            select(*_MEMBER_COLUMNS),
            [MessagingMember.conversation_id, MessagingMember.user_id],
            "pairs",
            dialect,
        )
    else:
        locked = select(*_CONVERSATION_COLUMNS, *_MEMBER_COLUMNS).outerjoin(
            MessagingMember,
            and_(
                MessagingMember.conversation_id == MessagingConversation.id,
                MessagingMember.user_id.in_(bindparam("senders", expanding=True)),
            ),
        )
    locked = (
        locked.where(conversations, MessagingConversation.system == bindparam("system"))
        .order_by(MessagingConversation.id)
        .with_for_update(of=MessagingConversation)
    )
    stored = where_keys(
        select(MessagingMessage),
        [MessagingMessage.conversation_id, MessagingMessage.sender_id, MessagingMessage.client_id],
        "keys",
        dialect,
    )
    insert: Any = _MESSAGES.insert()
    if dialect == "sqlite":
        insert = insert.returning(_MESSAGES.c.id)
    return _Statements(locked=locked, members=members, stored=stored, insert=insert)


class MessageWriter:
    """The per-process group-commit writer of one system's messages (see the module docstring)."""

    def __init__(self, messenger: Messenger) -> None:
        self.messenger = messenger
        self.system = messenger.system
        self.max_batch = messenger.config.writer_max_batch
        self.batches = 0
        """Transactions committed so far (diagnostics and tests)."""
        self.failed_batches = 0
        """Transactions that failed and were retried one request at a time (or failed their
        single request): a conflict the conversation locks should have prevented, or a database
        error."""
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = True

    @property
    def running(self) -> bool:
        return self._task is not None and not self._closed

    def start(self) -> None:
        """Start the background task (the system's startup hook calls this)."""
        self._closed = False
        self._loop = asyncio.get_running_loop()  # kept: looking it up costs a getpid() each
        self._task = self._loop.create_task(self._run(), name=f"messaging-writer-{self.system}")

    async def stop(self) -> None:
        """Refuse new requests, commit every queued one, and end the background task."""
        self._closed = True
        if self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task
        self._task = None

    async def send(self, request: SendRequest) -> Sent:
        """Append `request` to its conversation's log and wait for its COMMIT.

        Returns `Sent` (the stored message; `duplicate` for a retry). Raises `InvalidMessage`
        (bad content, at once), `ConversationNotFound` (no such conversation in this system, or
        the sender is not a member), `NotAllowed` (a channel subscriber posting, deleting someone
        else's message without being an admin), `MissingEnvelopes`, `MessageNotFound` /
        `EditWindowClosed` (edits and deletes), `WriterClosed` (503, shutting down). O(1) here;
        the caller then waits for the batch in progress and its own.
        """
        data = content.check_content(
            self.messenger.config,
            kind=request.kind,
            client_id=request.client_id,
            body=request.body,
            data=request.data,
            envelopes=request.envelopes,
            target_seq=request.target_seq,
        )
        if self._closed or self._task is None or self._loop is None:
            raise WriterClosed("This server is shutting down; retry the request.")
        pending = _Pending(request, data, self._loop.create_future())
        self._queue.put_nowait(pending)
        return await pending.future

    async def _run(self) -> None:
        batch: list[_Pending] = []
        try:
            while True:
                first = await self._queue.get()
                if first is None:
                    return
                batch = [first]
                stopping = False
                while len(batch) < self.max_batch and not self._queue.empty():
                    item = self._queue.get_nowait()
                    if item is None:
                        stopping = True
                        break
                    batch.append(item)
                await self._commit(batch)
                batch = []
                if stopping:
                    return
        finally:
            # Reached early only if the task is cancelled: no caller may wait forever.
            self._closed = True
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if item is not None:
                    batch.append(item)
            for item in batch:
                if not item.future.done():
                    _settle(item, WriterClosed("This server is shutting down; retry the request."))

    async def _commit(self, batch: Sequence[_Pending]) -> None:
        try:
            outcomes, events, follow_ups = await self._write(batch)
        except Exception as error:
            self.failed_batches += 1
            refused = isinstance(error, Problem)
            if len(batch) == 1:
                if not refused:
                    log.exception("message write failed", system=self.system)
                _settle(batch[0], error)
                return
            # A Problem is a hook refusing one of the requests (a system's rule, such as
            # Instagram's message requests): expected, so not logged as an error.
            (log.info if refused else log.warning)(
                "message batch failed; retrying one by one", size=len(batch), refused=refused
            )
            for item in batch:
                await self._commit([item])
            return
        self.batches += 1
        for item, outcome in zip(batch, outcomes, strict=True):
            _settle(item, outcome)
        if not events and not follow_ups:
            return
        if events:
            try:
                # One pipelined round trip for the whole batch, in seq order.
                await self.messenger.platform.bus.publish_many(
                    [
                        (conversation_channel(self.system, int(e["conversation_id"])), encode(e))
                        for e in events
                    ]
                )
            except Exception:
                # Durable already; devices catch up from their cursors on the next resume.
                log.exception("publishing message events failed", system=self.system)
        for follow_up in follow_ups:
            try:
                await follow_up()
            except Exception:
                # What the hook wrote is committed; only its notification is lost.
                log.exception("in-transaction hook follow-up failed", system=self.system)
        if events:
            await self.messenger.after_commit(events)

    async def _write(
        self, batch: Sequence[_Pending]
    ) -> tuple[list[Outcome], list[dict[str, Any]], list[AfterCommit]]:
        """One transaction for `batch`; returns each request's outcome, the new events and the
        hooks' follow-ups, once the transaction has COMMITTED."""
        database = self.messenger.platform.db
        async with database.session(write=True) as session:
            state = await self._load(session, batch)
            # Decisions change these objects in memory; `_apply` writes exactly what changed,
            # so the unit of work must not flush them a second time.
            session.expunge_all()
            outcomes: list[Outcome] = []
            seen: dict[tuple[int, int, str], Sent] = {}
            for item in batch:
                request = item.request
                key = (request.conversation_id, request.sender_id, request.client_id)
                previous = seen.get(key)
                if previous is None and key in state.stored:
                    previous = Sent(state.stored[key], duplicate=True)
                if previous is not None:
                    seen[key] = previous
                    outcomes.append(Sent(previous.message, duplicate=True))
                    continue
                try:
                    sent = self._accept(state, item)
                except Problem as problem:
                    outcomes.append(problem)
                    continue
                seen[key] = sent
                outcomes.append(sent)
            await self._apply(session, state)
        return outcomes, state.events, state.follow_ups

    async def _load(self, session: AsyncSession, batch: Sequence[_Pending]) -> _Batch:
        requests = [item.request for item in batch]
        conversation_ids = sorted({r.conversation_id for r in requests})
        pairs = {(r.conversation_id, r.sender_id) for r in requests}
        # The conversations, locked, with the senders' memberships (`_Statements.locked`).
        dialect = session.get_bind().dialect.name
        statements = _statements(dialect)
        # Core rows on the session's connection: no ORM objects for the hot rows.
        connection = await session.connection()
        conversations: dict[int, _Conversation] = {}
        members: dict[tuple[int, int], _Member] = {}
        parameters: dict[str, Any] = {"conversations": conversation_ids, "system": self.system}
        if statements.members is None:
            parameters["senders"] = sorted({r.sender_id for r in requests})
        result = await connection.execute(statements.locked, parameters)
        for cid, kind, e2e, direct_key, last_seq, m_cid, m_uid, role, joined in result:
            if cid not in conversations:
                conversations[cid] = _Conversation(cid, kind, e2e, direct_key, last_seq)
            if m_cid is not None and (m_cid, m_uid) in pairs:
                members[(m_cid, m_uid)] = _Member(role, joined)
        if statements.members is not None:
            result = await connection.execute(
                statements.members, {"pairs": keys_parameter(pairs, dialect)}
            )
            for m_cid, m_uid, role, joined in result:
                if m_cid in conversations:
                    members[(m_cid, m_uid)] = _Member(role, joined)
        keys = {(r.conversation_id, r.sender_id, r.client_id) for r in requests}
        stored = {
            (m.conversation_id, m.sender_id, m.client_id): m
            for m in await session.scalars(
                statements.stored, {"keys": keys_parameter(keys, dialect)}
            )
        }
        target_keys = {
            (r.conversation_id, r.target_seq) for r in requests if r.target_seq is not None
        }
        targets: dict[tuple[int, int], MessageRow] = {}
        if target_keys:
            targets = {
                (m.conversation_id, m.seq): m
                for m in await session.scalars(
                    where_keys(
                        select(MessagingMessage),
                        [MessagingMessage.conversation_id, MessagingMessage.seq],
                        target_keys,
                        dialect,
                    )
                )
            }
        device_ids = {
            r.sender_device_id
            for r in requests
            if r.sender_device_id is not None and not r.device_verified
        }
        devices: dict[int, MessagingDevice] = {}
        if device_ids:
            devices = {
                d.id: d
                for d in await session.scalars(
                    select(MessagingDevice).where(MessagingDevice.id.in_(device_ids))
                )
            }
        attachment_ids = {a for item in batch for a in content.attachment_ids(item.data)}
        attachments: dict[int, MessagingAttachment] = {}
        if attachment_ids:
            attachments = {
                a.id: a
                for a in await session.scalars(
                    select(MessagingAttachment).where(
                        MessagingAttachment.id.in_(attachment_ids),
                        MessagingAttachment.system == self.system,
                    )
                )
            }
        e2e_ids = [c.id for c in conversations.values() if c.e2e]
        e2e_devices: dict[int, dict[int, int]] = {cid: {} for cid in e2e_ids}
        if e2e_ids:
            rows = await session.execute(
                select(MessagingMember.conversation_id, MessagingDevice.id, MessagingDevice.user_id)
                .join(MessagingDevice, MessagingDevice.user_id == MessagingMember.user_id)
                .where(
                    MessagingMember.conversation_id.in_(e2e_ids),
                    MessagingDevice.system == self.system,
                    MessagingDevice.revoked_at.is_(None),
                    MessagingDevice.identity_key.is_not(None),
                )
            )
            for conversation_id, device_id, user_id in rows:
                e2e_devices[conversation_id][device_id] = user_id
        blocked: set[tuple[int, int]] = set()
        direct_pairs = {
            (other, r.sender_id)
            for r in requests
            if (c := conversations.get(r.conversation_id)) is not None
            and c.kind == "direct"
            and (other := _other_party(c, r.sender_id)) is not None
        }
        if direct_pairs:
            # The system is part of each key (the primary key's first column), not a separate
            # `system = ?`: SQLite, without statistics, took that for a selective index and
            # walked every contact of the system.
            block_rows = await session.execute(
                where_keys(
                    select(MessagingContact.owner_id, MessagingContact.contact_id).where(
                        MessagingContact.blocked.is_(True)
                    ),
                    [
                        MessagingContact.system,
                        MessagingContact.owner_id,
                        MessagingContact.contact_id,
                    ],
                    {(self.system, owner, contact) for owner, contact in direct_pairs},
                    dialect,
                )
            )
            blocked = {(owner, contact) for owner, contact in block_rows}
        return _Batch(
            conversations=conversations,
            members=members,
            stored=stored,
            targets=targets,
            devices=devices,
            attachments=attachments,
            e2e_devices=e2e_devices,
            blocked=blocked,
            now=utcnow(),
        )

    def _accept(self, state: _Batch, item: _Pending) -> Sent:
        """Check `item` against what the batch read, then append it (in memory). O(1), or
        O(devices) for an E2E message. Raises the request's Problem."""
        request = item.request
        conversation = state.conversations.get(request.conversation_id)
        member = state.members.get((request.conversation_id, request.sender_id))
        if conversation is None or member is None:
            raise ConversationNotFound("No such conversation among yours.")
        if request.sender_device_id is not None and not request.device_verified:
            device = state.devices.get(request.sender_device_id)
            if (
                device is None
                or device.user_id != request.sender_id
                or device.system != self.system
                or device.revoked_at is not None
            ):
                raise InvalidMessage("sender_device_id is not a live device of the sender.")
        if conversation.kind == "direct":
            other = _other_party(conversation, request.sender_id)
            if other is not None and (other, request.sender_id) in state.blocked:
                raise NotAllowed("This user does not accept messages from you.")
        allowed_roles = POSTING_ROLES.get(conversation.kind)
        if allowed_roles is not None and member.role not in allowed_roles:
            raise NotAllowed("Only the channel's owner and admins post in it.")
        if conversation.e2e and request.kind not in ("encrypted", "delete"):
            raise InvalidMessage(
                "An end-to-end encrypted conversation takes only encrypted messages and deletes."
            )
        if not conversation.e2e and request.kind == "encrypted":
            raise InvalidMessage("This conversation is not end-to-end encrypted.")
        for attachment_id in content.attachment_ids(item.data):
            attachment = state.attachments.get(attachment_id)
            if attachment is None or attachment.owner_id != request.sender_id:
                raise InvalidMessage(f"Attachment {attachment_id} is not one of yours.")
            if attachment.e2e != conversation.e2e:
                # Plain files in a secret chat would leak; opaque ones elsewhere are unreadable.
                raise InvalidMessage(
                    f"Attachment {attachment_id} is "
                    f"{'' if attachment.e2e else 'not '}end-to-end encrypted; this conversation "
                    f"is{'' if conversation.e2e else ' not'}."
                )
        if request.kind == "encrypted":
            self._check_envelopes(state, request)
        if request.kind in ("edit", "delete"):
            self._apply_to_target(state, request, conversation, member)
        conversation.last_seq += 1
        row: dict[str, Any] = {
            "id": new_id(),
            "conversation_id": conversation.id,
            "seq": conversation.last_seq,
            "sender_id": request.sender_id,
            "sender_device_id": request.sender_device_id,
            "client_id": request.client_id,
            "kind": request.kind,
            "body": request.body,
            "data": item.data,
            "target_seq": request.target_seq,
            "created_at": state.now,
            "edited_at": None,
            "deleted": False,
            "expires_at": None,
        }
        state.new_rows.append(row)
        message = StoredMessage(**row)
        for device_id, ciphertext in (request.envelopes or {}).items():
            state.new_envelopes.append(
                {"message_id": message.id, "device_id": device_id, "ciphertext": ciphertext}
            )
        state.targets[(conversation.id, message.seq)] = message
        state.events.append(message_event(message, request.envelopes))
        return Sent(message, duplicate=False)

    def _check_envelopes(self, state: _Batch, request: SendRequest) -> None:
        expected = set(state.e2e_devices.get(request.conversation_id, {}))
        expected.discard(request.sender_device_id or 0)
        given = set(request.envelopes or {})
        missing, unexpected = expected - given, given - expected
        if missing or unexpected:
            raise MissingEnvelopes(
                "Encrypt the message once for every live device of every member.",
                missing=sorted(str(d) for d in missing),
                unexpected=sorted(str(d) for d in unexpected),
            )

    def _apply_to_target(
        self,
        state: _Batch,
        request: SendRequest,
        conversation: _Conversation,
        member: _Member,
    ) -> None:
        assert request.target_seq is not None
        target = state.targets.get((conversation.id, request.target_seq))
        if (
            target is None
            or target.kind not in content.CONTENT_KINDS
            or target.deleted
            or target.seq <= member.joined_seq
        ):
            raise MessageNotFound(f"No message {request.target_seq} to {request.kind}.")
        if request.kind == "edit":
            if target.sender_id != request.sender_id:
                raise NotAllowed("Only the sender edits a message.")
            if target.kind not in content.EDITABLE_KINDS:
                raise InvalidMessage(f"A {target.kind} message cannot be edited.")
            if state.now - target.created_at > self.messenger.config.edit_window:
                raise EditWindowClosed("The time to edit this message has passed.")
            target.body = request.body
            target.edited_at = state.now
            state.edits.setdefault(target.id, {}).update(body=request.body, edited_at=state.now)
            return
        moderator = conversation.kind != "direct" and member.role in MODERATOR_ROLES
        if target.sender_id != request.sender_id and not moderator:
            raise NotAllowed("Only the sender or an admin deletes a message for everyone.")
        target.body = None
        target.data = None
        target.deleted = True
        state.edits.setdefault(target.id, {}).update(body=None, data=None, deleted=True)
        state.erased.append((conversation.id, target.seq, target.id))

    async def _apply(self, session: AsyncSession, state: _Batch) -> None:
        """Write what the batch decided (inside its transaction)."""
        # Edits and deletes of messages created in this same batch change their row values
        # before the INSERT instead of needing an UPDATE.
        inserted = {row["id"]: row for row in state.new_rows}
        for message_id, changes in list(state.edits.items()):
            if message_id in inserted:
                inserted[message_id].update(changes)
                del state.edits[message_id]
        if state.new_rows:
            dialect = session.get_bind().dialect.name
            await session.execute(_statements(dialect).insert, state.new_rows)
        if state.new_envelopes:
            await session.execute(_ENVELOPES.insert(), state.new_envelopes)
        for message_id, changes in state.edits.items():
            await session.execute(
                update(MessagingMessage)
                .where(MessagingMessage.id == message_id)
                .values(**changes)
                .execution_options(synchronize_session=False)
            )
        for conversation_id, seq, message_id in state.erased:
            # Deleted for everyone: earlier edits' texts and the ciphertexts go too.
            await session.execute(
                update(MessagingMessage)
                .where(
                    MessagingMessage.conversation_id == conversation_id,
                    MessagingMessage.target_seq == seq,
                    MessagingMessage.kind == "edit",
                )
                .values(body=None)
                .execution_options(synchronize_session=False)
            )
            await session.execute(
                delete(MessagingEnvelope).where(MessagingEnvelope.message_id == message_id)
            )
        touched = {int(event["conversation_id"]) for event in state.events}
        if touched:
            await session.execute(
                update(_CONVERSATIONS)
                .where(_CONVERSATIONS.c.id == bindparam("cid"))
                .values(last_seq=bindparam("new_seq")),
                [
                    {"cid": cid, "new_seq": state.conversations[cid].last_seq}
                    for cid in sorted(touched)
                ],
            )
        if state.new_rows:
            for hook in self.messenger.transaction_hooks:
                follow_up = await hook(session, state.new_rows)
                if follow_up is not None:
                    state.follow_ups.append(follow_up)


def _other_party(conversation: _Conversation, user_id: int) -> int | None:
    """The other member of a direct chat, read from its `direct_key` ("low:high[:e2e]")."""
    if not conversation.direct_key:
        return None
    parts = conversation.direct_key.split(":")
    low, high = int(parts[0]), int(parts[1])
    return high if user_id == low else low


def _settle(item: _Pending, outcome: Outcome) -> None:
    # A caller cancelled while waiting (client gone) has a cancelled future; its message may
    # still have committed, exactly as if the client had vanished just after the commit.
    with contextlib.suppress(asyncio.InvalidStateError):
        if isinstance(outcome, BaseException):
            item.future.set_exception(outcome)
        else:
            item.future.set_result(outcome)
