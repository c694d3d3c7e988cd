"""Full-text search over a user's own conversations, on both backends.

- SQLite: an FTS5 external-content table `messaging_messages_fts` over `messaging_messages.body`
  (rowid = message id), kept in step by triggers: a row is indexed while it is searchable (a body,
  a content kind other than edit/delete/encrypted, not deleted), and an edit or a delete for
  everyone replaces or removes its entry. The index stores tokens only; the text stays in the
  messages table.
- PostgreSQL: a GIN index on the expression `to_tsvector('simple', body)` (null bodies are not
  indexed); the query repeats the expression so the planner uses the index, and filters the
  non-searchable rows (edit/delete events, deleted messages) itself.

Both are created by DDL listeners on the messages table, so `Base.metadata.create_all` (tests)
builds them; migrations copy `SQLITE_DDL` / `POSTGRES_DDL`. The 'simple' configuration (no
stemming) because chats mix languages; SQLite's unicode61 tokenizer likewise folds case and
diacritics without stemming.

End-to-end encrypted messages have no body on the server, so they are never indexed. The query
keeps to the caller's memberships (after their joined/cleared seq, not hidden), so a user can
never find a message of a conversation they are not in.
"""

from __future__ import annotations

import re
from typing import Any, cast

from sqlalchemy import DDL, Table, event, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging.models import (
    MessagingConversation,
    MessagingHidden,
    MessagingMember,
    MessagingMessage,
)
from casebook.platform.db import utcnow
from casebook.platform.errors import InvalidInput

FTS_TABLE = "messaging_messages_fts"
MAX_TERMS = 16
_WORD = re.compile(r"\w+", re.UNICODE)
_SEARCHABLE_SQL = (
    "{row}.body IS NOT NULL AND {row}.kind NOT IN ('edit', 'delete', 'encrypted') "
    "AND NOT {row}.deleted"
)
"""When a row is in the SQLite index (`{row}` is new or old in a trigger)."""

SQLITE_DDL: tuple[str, ...] = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    "body, content='messaging_messages', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ai AFTER INSERT ON messaging_messages "
    f"WHEN {_SEARCHABLE_SQL.format(row='new')} BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, body) VALUES (new.id, new.body); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ad AFTER DELETE ON messaging_messages "
    f"WHEN {_SEARCHABLE_SQL.format(row='old')} BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, body) VALUES ('delete', old.id, old.body); END",
    # One trigger for both halves of an update, so the old entry is removed before the new one
    # is added (the order of two separate triggers is not defined).
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_au AFTER UPDATE OF body, kind, deleted "
    f"ON messaging_messages BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, body) SELECT 'delete', old.id, old.body "
    f"WHERE {_SEARCHABLE_SQL.format(row='old')}; "
    f"INSERT INTO {FTS_TABLE}(rowid, body) SELECT new.id, new.body "
    f"WHERE {_SEARCHABLE_SQL.format(row='new')}; END",
)
SQLITE_DROP: tuple[str, ...] = (f"DROP TABLE IF EXISTS {FTS_TABLE}",)
POSTGRES_DDL: tuple[str, ...] = (
    "CREATE INDEX IF NOT EXISTS ix_messaging_messages_fts ON messaging_messages "
    "USING gin (to_tsvector('simple'::regconfig, body))",
)


def _attach_ddl(when: str, statements: tuple[str, ...], dialect: str) -> None:
    table = cast(Table, MessagingMessage.__table__)
    for statement in statements:
        ddl = DDL(statement)  # type: ignore[no-untyped-call]
        event.listen(table, when, ddl.execute_if(dialect=dialect))


_attach_ddl("after_create", SQLITE_DDL, "sqlite")
_attach_ddl("before_drop", SQLITE_DROP, "sqlite")
_attach_ddl("after_create", POSTGRES_DDL, "postgresql")


def query_terms(query: str) -> list[str]:
    """The words of a user's query (letters and digits; operators and quotes are not syntax
    here, so no input can break the FTS query). Raises `InvalidInput` when there are none."""
    terms = _WORD.findall(query)[:MAX_TERMS]
    if not terms:
        raise InvalidInput("The search needs at least one word.")
    return terms


def _match(session: AsyncSession, terms: list[str]) -> Any:
    """The backend's "row matches every term" condition on `MessagingMessage`."""
    if session.get_bind().dialect.name == "sqlite":
        fts_query = " ".join('"' + term.replace('"', "") + '"' for term in terms)
        matching = text(
            f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :fts_query"
        ).bindparams(fts_query=fts_query)
        return MessagingMessage.id.in_(matching.columns(rowid=MessagingMessage.id.type))
    config: Any = literal_column("'simple'::regconfig")
    return func.to_tsvector(config, MessagingMessage.body).op("@@")(
        func.plainto_tsquery(config, " ".join(terms))
    )


async def search(
    session: AsyncSession,
    system: str,
    user_id: int,
    query: str,
    *,
    conversation_id: int | None = None,
    before_id: int | None = None,
    limit: int = 20,
) -> list[MessagingMessage]:
    """Messages matching every word of `query` in the user's conversations (or one of them),
    newest first; `before_id` pages on (message ids grow with time).

    Cost: the index lookup per term, then one probe per match on the membership (PK) and hidden
    (PK) rows; the result is ordered by id and limited.
    """
    terms = query_terms(query)
    hidden = select(MessagingHidden.message_id).where(
        MessagingHidden.user_id == user_id, MessagingHidden.message_id == MessagingMessage.id
    )
    statement = (
        select(MessagingMessage)
        .join(
            MessagingMember,
            (MessagingMember.conversation_id == MessagingMessage.conversation_id)
            & (MessagingMember.user_id == user_id),
        )
        .join(
            MessagingConversation,
            MessagingConversation.id == MessagingMessage.conversation_id,
        )
        .where(
            MessagingConversation.system == system,
            _match(session, terms),
            MessagingMessage.body.is_not(None),
            MessagingMessage.kind.not_in(("edit", "delete", "encrypted")),
            ~MessagingMessage.deleted,
            MessagingMessage.seq > MessagingMember.joined_seq,
            MessagingMessage.seq > MessagingMember.cleared_seq,
            # A self-destructed message is gone before the sweep job erases its text.
            MessagingMessage.expires_at.is_(None) | (MessagingMessage.expires_at > utcnow()),
            ~hidden.exists(),
        )
        .order_by(MessagingMessage.id.desc())
        .limit(limit)
    )
    if conversation_id is not None:
        statement = statement.where(MessagingMessage.conversation_id == conversation_id)
    if before_id is not None:
        statement = statement.where(MessagingMessage.id < before_id)
    return list(await session.scalars(statement))
