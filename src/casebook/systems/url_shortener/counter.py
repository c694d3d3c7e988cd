"""Counter blocks for generated codes: each process reserves ranges of the code counter.

`reserve_block` is ONE statement, `UPDATE urlshortener_counters SET next_value = next_value + :n
WHERE name = :name RETURNING next_value`, committed on its own. The database serialises updates of
the row, so any two reservations, from any processes, get disjoint ranges [end - n, end). No value
is ever checked for use before it is handed out. (PostgreSQL, and SQLite ≥ 3.35 for RETURNING.)

Values of a block that a process does not use before it stops are simply skipped: with 62**7
codes and the seed's 80 M links a day, even losing a 1,000-value block per restart costs nothing.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import update

from casebook.platform.db import Database
from casebook.systems.url_shortener.codes import CODE_SPACE
from casebook.systems.url_shortener.models import CodeCounter, dialect_insert

COUNTER_NAME = "links"


class CounterExhausted(RuntimeError):
    """Every one of the 62**7 generated codes has been handed out."""


async def reserve_block(database: Database, size: int, name: str = COUNTER_NAME) -> range:
    """Reserve `size` consecutive counter values; returns them as a range.

    Creates the counter row on first use (an insert that tolerates a concurrent creator).
    Raises CounterExhausted past 62**7.
    """
    statement = (
        update(CodeCounter)
        .where(CodeCounter.name == name)
        .values(next_value=CodeCounter.next_value + size)
        .returning(CodeCounter.next_value)
    )
    for _ in range(2):
        async with database.session() as session:
            end = (await session.execute(statement)).scalar_one_or_none()
        if end is not None:
            if end > CODE_SPACE:
                raise CounterExhausted("all 62**7 generated codes are used")
            return range(end - size, end)
        await _create_counter(database, name)
    raise RuntimeError(f"counter {name!r} could not be created")


async def _create_counter(database: Database, name: str) -> None:
    # Two processes may create the row at once; the loser's insert must be a no-op.
    statement = (
        dialect_insert(database.engine.dialect.name, CodeCounter)
        .values(name=name, next_value=0)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    async with database.session() as session:
        await session.execute(statement)


class CodeAllocator:
    """Hands out counter values to this process, one block at a time.

    `next_value` is O(1) except once per block, when it awaits one UPDATE. An asyncio lock keeps
    concurrent requests of this process from reserving two blocks when one is enough.
    """

    def __init__(self, database: Database, block_size: int) -> None:
        self.database = database
        self.block_size = block_size
        self._block: range = range(0)
        self._next = 0
        self._lock = asyncio.Lock()

    async def next_value(self) -> int:
        async with self._lock:
            if self._next >= len(self._block):
                self._block = await reserve_block(self.database, self.block_size)
                self._next = 0
            value = self._block[self._next]
            self._next += 1
            return value
