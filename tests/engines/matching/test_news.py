"""News per instrument: published in the caller's transaction, read newest first per venue and
symbol, bad input refused with nothing written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from casebook.engines.matching import news
from casebook.platform.context import Platform
from casebook.platform.errors import InvalidInput


async def test_latest_lists_a_symbols_items_newest_first_and_only_its_own(
    platform: Platform,
) -> None:
    async with platform.db.session(write=True) as session:
        for n in range(5):
            await news.publish(session, "stock-exchange", "AAPL", f"Apple {n}", f"body {n}")
        await news.publish(session, "stock-exchange", "MSFT", "Microsoft 0", "")
        await news.publish(session, "binance", "AAPL", "Other venue", "", source="wire-2")
    async with platform.db.session() as session:
        items = await news.latest(session, "stock-exchange", "AAPL", limit=3)
        msft = await news.latest(session, "stock-exchange", "MSFT")
        other = await news.latest(session, "binance", "AAPL")
        none = await news.latest(session, "stock-exchange", "F")
    assert [i.headline for i in items] == ["Apple 4", "Apple 3", "Apple 2"]
    assert items[0].body == "body 4" and items[0].source == "casebook-wire"
    assert items[0].as_dict()["id"] == str(items[0].id)
    assert [i.headline for i in msft] == ["Microsoft 0"]
    assert [(i.headline, i.source) for i in other] == [("Other venue", "wire-2")]
    assert none == []


@pytest.mark.parametrize(
    ("symbol", "headline", "body", "source"),
    [
        ("aapl", "x", "", "s"),
        ("AAPL", "   ", "", "s"),
        ("AAPL", "x" * 201, "", "s"),
        ("AAPL", "x", "b" * 4001, "s"),
        ("AAPL", "x", "", ""),
    ],
)
async def test_bad_items_are_refused_and_nothing_is_written(
    platform: Platform, symbol: str, headline: str, body: str, source: str
) -> None:
    async with platform.db.session(write=True) as session:
        with pytest.raises(InvalidInput):
            await news.publish(session, "v", symbol, headline, body, source=source)
    async with platform.db.session() as session:
        count = await session.scalar(select(func.count()).select_from(news.MatchingNews))
        assert count == 0
        with pytest.raises(InvalidInput):
            await news.latest(session, "v", "AAPL", limit=0)
        with pytest.raises(InvalidInput):
            await news.latest(session, "v", "AAPL", limit=101)
