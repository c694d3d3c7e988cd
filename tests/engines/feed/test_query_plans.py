"""The feed's post lookup by ids searches the primary key on SQLite, never every post of the
system (`feed_posts.system = ? AND id IN (…)` walked the (system, source_id, id) index from
four ids on: see tests/query_plans.py)."""

from __future__ import annotations

import pytest

from casebook.engines.feed import posts
from casebook.platform.context import Platform
from tests.query_plans import bad_plans, recorded


async def test_posts_by_ids_looks_the_ids_up(platform: Platform) -> None:
    if platform.db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans from the statistics autovacuum gathers")
    with recorded(platform) as statements:
        async with platform.db.session() as session:
            assert await posts.posts_by_ids(session, "instagram", list(range(1, 30))) == []
    assert await bad_plans(platform, statements, "feed_") == []
