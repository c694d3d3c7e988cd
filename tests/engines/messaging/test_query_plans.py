"""The hot paths' queries search by key on SQLite, never through every row of a system.

SQLite plans without statistics (nothing runs ANALYZE), and then it takes any `system = ?` on an
indexed column for a selective search: a query that named both a system and a list of keys
walked every conversation (or contact, or message) of the system instead of looking the keys
up. The ack batch, the push fan-out, the writer's block check and the self-destruct sweep all
did. This test runs each of them, records every statement SQLite executes meanwhile, and
checks each plan: no search constrained by the system alone, no full scan of a messaging table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, update

from casebook.engines.messaging import push, selfdestruct, service
from casebook.engines.messaging.models import MessagingMessage
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from tests.engines.messaging.conftest import SYSTEM, ChatUser, Conversation, SendText

_SYSTEM_ONLY = re.compile(r"USING (?:COVERING )?INDEX \S+ \(system=\?\)")
_FULL_SCAN = re.compile(r"^SCAN (messaging_\w+)(?! VIRTUAL)")


@contextmanager
def _recorded(platform: Platform) -> Iterator[list[tuple[str, Any]]]:
    """Every (statement, parameters) the database runs inside the block."""
    statements: list[tuple[str, Any]] = []
    engine = platform.db.engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def _bad_plans(platform: Platform, statements: list[tuple[str, Any]]) -> list[str]:
    found: list[str] = []
    seen: set[str] = set()
    async with platform.db.session() as session:
        connection = await session.connection()
        for statement, parameters in statements:
            if statement in seen or "messaging_" not in statement:
                continue
            seen.add(statement)
            if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
                continue
            if isinstance(parameters, list):  # executemany: one row's parameters suffice
                parameters = parameters[0]
            rows = await connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", tuple(parameters)
            )
            for row in rows:
                detail = str(row[3])
                if _SYSTEM_ONLY.search(detail) or _FULL_SCAN.search(detail):
                    found.append(f"{detail}  <-  {' '.join(statement.split())[:200]}")
    return found


async def test_hot_paths_search_by_key_not_by_system(
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    if platform.db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans from the statistics autovacuum gathers")
    direct = await conversation(alice, "direct", members=[bob])
    group = await conversation(alice, "group", members=[bob, carol])
    with _recorded(platform) as statements:
        for conversation_id, text in ((direct["id"], "hi bob"), (group["id"], "hi all")):
            sent = await send_text(alice, conversation_id, text)  # the writer's batch
            assert sent.status_code in (200, 201), sent.text
        acks = [
            service.Ack(bob.user_id, bob.device_id, int(direct["id"]), 1),
            service.Ack(bob.user_id, bob.device_id, int(group["id"]), 1),
            service.Ack(carol.user_id, carol.device_id, int(group["id"]), 1),
        ]
        async with platform.db.session(write=True) as session:
            receipts = await service.ack_many(session, SYSTEM, acks)
        assert {event["user_id"] for _, _, event in receipts} == {bob.id, carol.id}
        notes = [
            push.notification(sent.json(), SYSTEM)
            for sent in [await send_text(bob, group["id"], "and back")]
        ]
        await push.fan_out(platform, SYSTEM, notes)
        async with platform.db.session(write=True) as session:
            await session.execute(
                update(MessagingMessage)
                .where(MessagingMessage.conversation_id == int(group["id"]))
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            # The sweep of another system leaves this one's expired messages alone.
            assert await selfdestruct.erase_expired(session, "telegram") == 0
            assert await selfdestruct.erase_expired(session, SYSTEM) == 2
    assert await _bad_plans(platform, statements) == []
