"""Hypothesis drives random histories of concurrent sends (with retried client ids), edits and
deletes through the real writer and database, against a small model of what the log must be:
after every step the stored log is gap-free, each (sender, client_id) is stored once, and every
message shows exactly the text, edit and deletion the model says."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import select

from casebook.engines.messaging.errors import MessageNotFound, NotAllowed
from casebook.engines.messaging.models import (
    MessagingConversation,
    MessagingMember,
    MessagingMessage,
)
from casebook.engines.messaging.runtime import MessagingConfig, Messenger
from casebook.engines.messaging.writer import SendRequest
from casebook.platform.context import Platform
from casebook.platform.ids import new_id
from casebook.platform.settings import Settings
from tests.engines.messaging.conftest import SYSTEM

USERS = (101, 102, 103)
"""The owner first; the others are plain members."""
CLIENT_IDS = ("a", "b", "c", "d")


@dataclass
class Entry:
    sender: int
    kind: str
    body: str | None
    deleted: bool = False


class WriterMachine(RuleBasedStateMachine):
    settings: Settings
    """The test's app settings (its database and bus)."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.platform = Platform.start(self.settings)
        self.messenger = Messenger(self.platform, SYSTEM, MessagingConfig())
        self.log: dict[int, Entry] = {}
        self.keys: dict[tuple[int, str], int] = {}
        self.edit_targets: dict[int, int] = {}
        """seq of an edit event → seq of the message it edited."""
        self.conversation_id = new_id()
        self.counter = 0

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    @initialize()
    def open_group(self) -> None:
        async def setup() -> None:
            self.messenger.writer.start()
            async with self.platform.db.session() as session:
                session.add(
                    MessagingConversation(
                        id=self.conversation_id,
                        system=SYSTEM,
                        kind="group",
                        created_by=USERS[0],
                        member_count=len(USERS),
                        member_limit=10,
                    )
                )
                await session.flush()
                for i, user in enumerate(USERS):
                    role = "owner" if i == 0 else "member"
                    session.add(
                        MessagingMember(
                            conversation_id=self.conversation_id, user_id=user, role=role
                        )
                    )

        self.run(setup())

    def teardown(self) -> None:
        self.run(self.messenger.writer.stop())
        self.run(self.platform.close())
        self.loop.close()

    @rule(
        sends=st.lists(
            st.tuples(st.sampled_from(USERS), st.sampled_from(CLIENT_IDS)), min_size=1, max_size=6
        )
    )
    def send_concurrently(self, sends: list[tuple[int, str]]) -> None:
        requests = []
        for sender, client_id in sends:
            self.counter += 1
            requests.append(
                SendRequest(self.conversation_id, sender, client_id, body=f"t{self.counter}")
            )

        async def go() -> list[Any]:
            return list(await asyncio.gather(*(self.messenger.writer.send(r) for r in requests)))

        results = self.run(go())
        for request, sent in zip(requests, results, strict=True):
            key = (request.sender_id, request.client_id)
            if key in self.keys:
                assert sent.duplicate and sent.message.seq == self.keys[key]
                continue
            assert not sent.duplicate
            self.keys[key] = sent.message.seq
            self.log[sent.message.seq] = Entry(request.sender_id, "text", request.body)

    @rule(editor=st.sampled_from(USERS), seq=st.integers(1, 10))
    def edit(self, editor: int, seq: int) -> None:
        target = seq
        self.counter += 1
        body = f"edited {self.counter}"
        entry = self.log.get(target)
        request = SendRequest(
            self.conversation_id,
            editor,
            f"edit-{self.counter}",
            kind="edit",
            body=body,
            target_seq=target,
        )
        try:
            sent = self.run(self.messenger.writer.send(request))
        except MessageNotFound:
            assert entry is None or entry.kind != "text" or entry.deleted
            return
        except NotAllowed:
            assert entry is not None and entry.sender != editor
            return
        assert entry is not None and entry.kind == "text" and not entry.deleted
        assert entry.sender == editor
        entry.body = body
        self.log[sent.message.seq] = Entry(editor, "edit", body)
        self.edit_targets[sent.message.seq] = target
        self.keys[(editor, request.client_id)] = sent.message.seq

    @rule(deleter=st.sampled_from(USERS), seq=st.integers(1, 10))
    def delete(self, deleter: int, seq: int) -> None:
        target = seq
        entry = self.log.get(target)
        request = SendRequest(
            self.conversation_id, deleter, f"delete:{target}", kind="delete", target_seq=target
        )
        key = (deleter, request.client_id)
        try:
            sent = self.run(self.messenger.writer.send(request))
        except MessageNotFound:
            assert entry is None or entry.kind != "text" or entry.deleted
            return
        except NotAllowed:
            assert entry is not None and entry.sender != deleter and deleter != USERS[0]
            return
        if key in self.keys:
            assert sent.duplicate and sent.message.seq == self.keys[key]
            return
        assert entry is not None and entry.kind == "text" and not entry.deleted
        assert entry.sender == deleter or deleter == USERS[0]
        entry.body = None
        entry.deleted = True
        # Deleting for everyone erases the texts of the message's earlier edits too.
        for seq, edited in self.edit_targets.items():
            if edited == target:
                self.log[seq].body = None
        self.log[sent.message.seq] = Entry(deleter, "delete", None)
        self.keys[key] = sent.message.seq

    @invariant()
    def log_matches_the_model(self) -> None:
        async def read() -> list[MessagingMessage]:
            async with self.platform.db.session() as session:
                rows = await session.scalars(
                    select(MessagingMessage)
                    .where(MessagingMessage.conversation_id == self.conversation_id)
                    .order_by(MessagingMessage.seq)
                )
                return list(rows)

        rows = self.run(read())
        # Every batch committed as decided: none needed the unique indexes and a retry.
        assert self.messenger.writer.failed_batches == 0
        assert [r.seq for r in rows] == list(range(1, len(self.log) + 1))
        keys = [(r.sender_id, r.client_id) for r in rows]
        assert len(keys) == len(set(keys))
        for row in rows:
            entry = self.log[row.seq]
            stored = (row.sender_id, row.kind, row.body, row.deleted)
            assert stored == (entry.sender, entry.kind, entry.body, entry.deleted)


@pytest.mark.feature("instant-messenger", "messaging")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_random_histories_keep_the_log_gap_free_and_exact(settings: Settings) -> None:
    WriterMachine.settings = settings
    WriterMachine.TestCase.settings = hypothesis_settings(
        max_examples=40,
        stateful_step_count=8,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    WriterMachine.TestCase().runTest()
