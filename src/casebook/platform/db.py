"""Relational storage: SQLAlchemy 2 async on SQLite (WAL, the default) or PostgreSQL (asyncpg).

Every table of every system hangs off `Base.metadata`; Alembic migrations (`casebook migrate`)
create them. Services receive an `AsyncSession` explicitly; `Database.session()` opens one per unit
of work and `get_session` is the FastAPI dependency for a request.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import aiosqlite
import orjson
from fastapi import Depends, Request
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    DateTime,
    MetaData,
    Select,
    String,
    and_,
    bindparam,
    event,
    func,
    tuple_,
)
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both backends (SQLite stores naive text otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {int: BigInteger, datetime: UTCDateTime}


def utcnow() -> datetime:
    return datetime.now(UTC)


_S = TypeVar("_S", bound=Select[*tuple[Any, ...]])


def where_keys(
    statement: _S,
    columns: Sequence[ColumnElement[Any] | QueryableAttribute[Any]],
    keys: Collection[Sequence[int | str]] | str,
    dialect: str,
) -> _S:
    """`statement` narrowed to the rows whose `columns` equal one of `keys` (tuples of ints and
    strings), in the form each backend answers with one search of the index on `columns` per key.

    PostgreSQL plans `(a, b) IN ((…), (…))` as index probes. SQLite does not: it SCANS the whole
    table for a row-value IN list (and for an IN subquery with a text column it searches only a
    prefix of the index). So on SQLite the keys go as one JSON array parameter, joined through
    `json_each`: a full-index SEARCH per key, and the same SQL text whatever the number of keys.
    `dialect` is `session.get_bind().dialect.name`.

    `keys` may instead be the NAME of a parameter: the statement is then built once and each
    execution passes `{name: keys_parameter(keys, dialect)}` (no statement construction per
    execution, which costs more than a small query on a hot path)."""
    if dialect != "sqlite":
        values: Any = bindparam(keys, expanding=True) if isinstance(keys, str) else list(keys)
        return statement.where(tuple_(*columns).in_(values))
    parameter = (
        bindparam(keys, type_=String)
        if isinstance(keys, str)
        else bindparam(None, keys_parameter(keys, dialect), type_=String)
    )
    rows = func.json_each(parameter).table_valued("value")
    return statement.join(
        rows,
        and_(
            *(
                column == func.json_extract(rows.c.value, f"$[{index}]")
                for index, column in enumerate(columns)
            )
        ),
    )


def keys_parameter(keys: Collection[Sequence[int | str]], dialect: str) -> Any:
    """The value of a `where_keys` statement's named keys parameter (each key once: on SQLite
    the keys are joined, so a repeated key would repeat its row)."""
    unique = list(dict.fromkeys(tuple(key) for key in keys))
    if dialect != "sqlite":
        return unique
    # Text, not bytes: SQLite 3.45+ reads a BLOB argument as its binary JSONB format.
    return orjson.dumps(unique).decode()


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


WRITE_QUEUE_TIMEOUT = 30.0
"""Seconds a SQLite write session may wait for its turn in its process's queue."""


class WriteQueueTimeout(RuntimeError):
    """A SQLite write session waited WRITE_QUEUE_TIMEOUT seconds for its turn."""


SQLITE_BEGIN = "sqlite_begin"
"""Execution option naming the SQLite BEGIN mode of a connection's next transaction."""


def _sqlite_begin(conn: Connection) -> None:
    """BEGIN IMMEDIATE for write sessions; other sessions keep the driver's own behaviour.

    The driver runs SELECTs outside a transaction and opens a DEFERRED one at the first write.
    Reads in a write session must see the state the writes apply to, and a DEFERRED transaction
    that reads and then writes fails at once with SQLITE_BUSY when another writer committed in
    between (WAL cannot upgrade a stale snapshot; busy_timeout does not help). IMMEDIATE takes
    the write lock at BEGIN, so the transaction queues instead and its reads are current.
    """
    if conn.get_execution_options().get(SQLITE_BEGIN) == "IMMEDIATE":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class _SQLiteConnection(aiosqlite.Connection):
    """aiosqlite's connection, which can also run its calls on the event loop's own thread.

    aiosqlite hands every call (open a cursor, execute, fetch, close the cursor) to the
    connection's thread and back: about 25-40 us a call on this machine against 2 us for the
    statement itself, four calls a statement through SQLAlchemy. With `inline` set (the
    process's writer connection, see `Database._writer_session`) the calls run at once on the
    caller's thread, except those that can wait: BEGIN (for another process's write lock, up to
    `busy_timeout`) and COMMIT (which may checkpoint the WAL: page copies and an fsync). Inside
    a write transaction nothing else waits (WAL readers never block a writer), so the event
    loop is only held for the statements' own work, the same work a one-core server does
    anyway.
    """

    inline = False
    _queued = 0
    """Calls handed to the thread so far (counted on the event loop's thread only)."""
    _finished = 0
    """Calls the thread has finished (counted on that thread only)."""

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        connection = self._connection
        if not self.inline or not self._running or connection is None:
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        waits = fn == connection.commit or (
            bool(args) and isinstance(args[0], str) and args[0].startswith("BEGIN")
        )
        # Inline only when the thread is idle: a call whose awaiting task was cancelled still
        # runs there, and two threads must never use one sqlite3 connection at once (a
        # segfault); it also keeps the calls in order.
        if not waits and self._queued == self._finished:
            result: Any = fn(*args, **kwargs)
            return result

        def call() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                self._finished += 1

        self._queued += 1
        return await super()._execute(call)  # type: ignore[no-untyped-call]


def _sqlite_creator(engine: Callable[[], AsyncEngine]) -> Callable[[], Awaitable[Any]]:
    """`async_creator` of a SQLite engine: aiosqlite's `connect`, with `_SQLiteConnection`."""

    def create() -> _SQLiteConnection:
        created = engine()
        args, kwargs = created.dialect.create_connect_args(created.url)
        path = args[0]
        options = {**kwargs, "timeout": 30}

        def connector() -> sqlite3.Connection:
            connection: sqlite3.Connection = sqlite3.connect(path, **options)
            return connection

        proxy = _SQLiteConnection(connector, 64)
        proxy._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own
        return proxy

    return create


WRITER_CACHE_KIB = 64 * 1024
"""Page cache of a process's SQLite writer connection (the default is 2 MiB)."""

SQLITE_POOL_SIZE = 64
"""Connections a SQLite engine keeps open (and may open as many more beyond)."""


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine for `url`, with SQLite tuned for concurrent readers and one writer."""
    if url.startswith("sqlite"):
        # A SQLite connection is cheap to keep (a file handle and aiosqlite's thread) but dear
        # to open: the first statement parses the whole schema, hundreds of tables here. So
        # the pool keeps many, and concurrent requests never churn through fresh ones.
        engine = create_async_engine(
            url,
            async_creator=_sqlite_creator(lambda: engine),
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_SIZE,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_queue = asyncio.Lock()
        self._writer: AsyncConnection | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def session(self, *, write: bool = False) -> AsyncIterator[AsyncSession]:
        """A session that commits on success and rolls back on error.

        `write=True` is for units of work that read and then write rows other requests also
        write (balances, stock, seats): on SQLite the transaction takes the database's write lock
        at BEGIN, so it waits its turn instead of failing with "database is locked" when it
        writes. On PostgreSQL it changes nothing (use row locks or atomic statements there).

        On SQLite the write sessions of one process also queue on an asyncio lock before BEGIN:
        SQLite's own wait for its write lock is a sleep-and-retry loop (up to 100 ms a sleep), so
        without the queue concurrent writers lose most of their time asleep. A write session
        must not open another write session inside it (it would wait for itself); after
        WRITE_QUEUE_TIMEOUT seconds in the queue, `WriteQueueTimeout` is raised. The write
        sessions of a SQLite process all run on one connection (`_writer_session`).
        """
        if write and self.is_sqlite:
            try:
                async with asyncio.timeout(WRITE_QUEUE_TIMEOUT):
                    await self._write_queue.acquire()
            except TimeoutError:
                raise WriteQueueTimeout(
                    f"waited {WRITE_QUEUE_TIMEOUT:g} s for the database's write lock"
                ) from None
        try:
            async with (
                self._writer_session() if write and self.is_sqlite else self.sessions()
            ) as session:
                try:
                    yield session
                    await session.commit()
                    for hook in session.info.pop("after_commit", ()):
                        await hook()  # e.g. the feed's cache version, moved once committed
                except BaseException:
                    await session.rollback()
                    raise
        finally:
            if write and self.is_sqlite:
                self._write_queue.release()

    @asynccontextmanager
    async def _writer_session(self) -> AsyncIterator[AsyncSession]:
        """A session on the process's one SQLite writer connection (the write queue is held).

        Why one connection: in WAL mode a connection empties its page cache whenever another
        connection has written since its last transaction. Write sessions on pooled connections
        therefore re-read every index page they touch; on one connection that alone writes, the
        pages stay cached between transactions, in a cache sized for a writer's working set.
        Measured with `bench.messaging` (10,000 sockets, a fixed 5,000 messages/s, strace):
        0.57 → 0.24 page reads (pread) per page written. The connection also runs its calls
        on the event loop's thread (`_SQLiteConnection.inline`).
        """
        writer = self._writer
        if writer is None or writer.closed or writer.invalidated:
            writer = await self.engine.connect()
            await writer.exec_driver_sql(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
            await writer.commit()
            writer = await writer.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
            raw = await writer.get_raw_connection()
            if isinstance(raw.driver_connection, _SQLiteConnection):
                raw.driver_connection.inline = True
            self._writer = writer
        elif writer.in_transaction():  # left open by a session cancelled mid-rollback
            await writer.rollback()
        session = AsyncSession(bind=writer, expire_on_commit=False)
        try:
            yield session
        finally:
            await session.close()

    async def dispose(self) -> None:
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        await self.engine.dispose()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for this request, committed when the endpoint returns."""
    database: Database = request.app.state.platform.db
    async with database.session() as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
"""The request's session as an endpoint parameter. `scope="function"` commits before the response
is sent, so a client never sees a 2xx for a write that then fails to commit."""


async def get_write_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A write session for this request (see `Database.session(write=True)`), committed when the
    endpoint returns."""
    database: Database = request.app.state.platform.db
    async with database.session(write=True) as session:
        yield session


WriteSession = Annotated[AsyncSession, Depends(get_write_session, scope="function")]
"""The request's session for endpoints that move money or take stock: on SQLite it holds the write
lock from its first statement, so read-then-write use cases cannot fail on a stale snapshot."""
