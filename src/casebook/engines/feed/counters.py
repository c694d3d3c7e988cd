"""Exact per-target counters (reactions by kind, comments, shares, reports).

Each change is one atomic upsert, `INSERT … ON CONFLICT (key) DO UPDATE SET value = value +
delta`, run in the transaction of the change it counts: concurrent requests never lose an
update (the database serialises the row), and a rolled-back reaction rolls its count back too.
Reading is one primary-key range read per target, or one `IN` query for a page of targets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed.engagement_models import FeedCounter

REACTIONS = "reactions"
COMMENTS = "comments"
SHARES = "shares"
REPORTS = "reports"
CHANGED = "feed_counters_changed"
"""`session.info` key: the (system, target kind, target id) whose counters this transaction
changed; the feed's read cache marks them changed when it commits (`readcache`)."""


def reaction_counter(kind: str) -> str:
    """The counter of one reaction kind ("reaction:like")."""
    return f"reaction:{kind}"


async def add(
    session: AsyncSession, system: str, target_kind: str, target_id: int, deltas: Mapping[str, int]
) -> dict[str, int]:
    """Add each `deltas[name]` to the target's counter `name` (created at 0), atomically, and
    return the counters' new values (exact: each is the value this statement wrote).

    One statement per counter; O(1) each. Zero deltas are skipped. Counters are written in name
    order, so two transactions changing the same counters lock their rows in the same order and
    cannot deadlock (one changing like → love while another changes love → like).
    """
    written: dict[str, int] = {}
    for name, delta in sorted(deltas.items()):
        if delta == 0:
            continue
        values = {
            "system": system,
            "target_kind": target_kind,
            "target_id": target_id,
            "name": name,
            "value": delta,
        }
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(FeedCounter).values(**values)
        upsert = stmt.on_conflict_do_update(
            index_elements=["system", "target_kind", "target_id", "name"],
            set_={"value": FeedCounter.value + stmt.excluded.value},
        ).returning(FeedCounter.value)
        written[name] = int((await session.execute(upsert)).scalar_one())
        session.info.setdefault(CHANGED, set()).add((system, target_kind, target_id))
    return written


async def read(
    session: AsyncSession, system: str, target_kind: str, target_id: int
) -> dict[str, int]:
    """Every counter of one target, by name (absent counters are 0 and not listed)."""
    result = await read_many(session, system, target_kind, [target_id])
    return result.get(target_id, {})


async def read_many(
    session: AsyncSession, system: str, target_kind: str, target_ids: Iterable[int]
) -> dict[int, dict[str, int]]:
    """Counters of a page of targets: target id → {name: value}. One query."""
    ids = list(set(target_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(FeedCounter.target_id, FeedCounter.name, FeedCounter.value).where(
            FeedCounter.system == system,
            FeedCounter.target_kind == target_kind,
            FeedCounter.target_id.in_(ids),
        )
    )
    counts: dict[int, dict[str, int]] = {}
    for target_id, name, value in rows:
        counts.setdefault(target_id, {})[name] = value
    return counts


def summary(counts: Mapping[str, int]) -> dict[str, object]:
    """The public shape of a target's counters: totals and reactions by kind (zeros dropped)."""
    by_kind = {
        name.removeprefix("reaction:"): value
        for name, value in sorted(counts.items())
        if name.startswith("reaction:") and value > 0
    }
    return {
        "reactions": counts.get(REACTIONS, 0),
        "reactions_by_kind": by_kind,
        "comments": counts.get(COMMENTS, 0),
        "shares": counts.get(SHARES, 0),
    }
