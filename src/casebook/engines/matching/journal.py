"""The command journal and book snapshots of a venue, in the caller's transaction.

Every command a book applies is appended, encoded by `codec.encode`, under the next `seq` of its
instrument (1, 2, 3… without gaps: the primary key (venue, instrument_id, seq) refuses a second
writer's duplicate). The writer appends in the same transaction that settles the command's fills,
so a command is journaled if and only if its effects are committed. A snapshot stores
`OrderBook.snapshot()` as of a journal seq; the book is rebuilt as restore(latest snapshot) + the
journal after it (recovery.py).

Costs: `append` one multi-row INSERT; `entries_after` one index range scan; `latest_snapshot` one
index probe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching.codec import decode, encode
from casebook.engines.matching.models import MatchingJournal, MatchingSnapshot
from casebook.platform.db import utcnow

_JOURNAL = cast(Table, MatchingJournal.__table__)
_SNAPSHOTS = cast(Table, MatchingSnapshot.__table__)
SNAPSHOTS_KEPT = 2
"""Snapshots kept per instrument: the newest, and one before it in case the newest is unreadable."""


async def append(
    session: AsyncSession,
    venue: str,
    instrument_id: int,
    entries: Sequence[tuple[int, tuple[int, ...]]],
) -> None:
    """Journal `entries` = [(seq, command), …] of one instrument (seqs consecutive)."""
    if not entries:
        return
    await session.execute(
        _JOURNAL.insert(),
        [
            {"venue": venue, "instrument_id": instrument_id, "seq": seq, "command": encode(command)}
            for seq, command in entries
        ],
    )


async def last_seq(session: AsyncSession, venue: str, instrument_id: int) -> int:
    """The seq of the instrument's last journaled command (0 if none)."""
    value = await session.scalar(
        select(func.coalesce(func.max(_JOURNAL.c.seq), 0)).where(
            _JOURNAL.c.venue == venue, _JOURNAL.c.instrument_id == instrument_id
        )
    )
    return int(value or 0)


async def entries_after(
    session: AsyncSession, venue: str, instrument_id: int, seq: int
) -> list[tuple[int, tuple[int, ...]]]:
    """The journaled commands after `seq`, in order, decoded: [(seq, command), …]."""
    rows = await session.execute(
        select(_JOURNAL.c.seq, _JOURNAL.c.command)
        .where(
            _JOURNAL.c.venue == venue,
            _JOURNAL.c.instrument_id == instrument_id,
            _JOURNAL.c.seq > seq,
        )
        .order_by(_JOURNAL.c.seq)
    )
    return [(row_seq, decode(bytes(data))) for row_seq, data in rows]


async def save_snapshot(
    session: AsyncSession, venue: str, instrument_id: int, seq: int, data: bytes
) -> None:
    """Store a book snapshot taken after journal entry `seq`; drop all but the newest
    SNAPSHOTS_KEPT of the instrument."""
    await session.execute(
        _SNAPSHOTS.insert().values(
            venue=venue, instrument_id=instrument_id, seq=seq, data=data, created_at=utcnow()
        )
    )
    oldest_kept = await session.scalar(
        select(_SNAPSHOTS.c.seq)
        .where(_SNAPSHOTS.c.venue == venue, _SNAPSHOTS.c.instrument_id == instrument_id)
        .order_by(_SNAPSHOTS.c.seq.desc())
        .offset(SNAPSHOTS_KEPT - 1)
        .limit(1)
    )
    if oldest_kept is not None:
        await session.execute(
            delete(_SNAPSHOTS).where(
                _SNAPSHOTS.c.venue == venue,
                _SNAPSHOTS.c.instrument_id == instrument_id,
                _SNAPSHOTS.c.seq < oldest_kept,
            )
        )


async def latest_snapshot(
    session: AsyncSession, venue: str, instrument_id: int
) -> tuple[int, bytes] | None:
    """The newest snapshot of the instrument as (seq, data), or None."""
    row = (
        await session.execute(
            select(_SNAPSHOTS.c.seq, _SNAPSHOTS.c.data)
            .where(_SNAPSHOTS.c.venue == venue, _SNAPSHOTS.c.instrument_id == instrument_id)
            .order_by(_SNAPSHOTS.c.seq.desc())
            .limit(1)
        )
    ).first()
    return (row[0], bytes(row[1])) if row is not None else None
