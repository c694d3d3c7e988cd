"""News per instrument: headlines a venue's market publishes and brokers show next to a quote.

The market simulator (simulator.py) publishes a headline when an instrument's fair value jumps;
brokers (Robinhood) read the latest items of a symbol with `latest`. One table,
`matching_news`, keyed by a time-ordered id; every query filters by venue and symbol.

    await news.publish(session, "stock-exchange", "AAPL", "AAPL rallies", "Shares rose 3 %…")
    items = await news.latest(session, "stock-exchange", "AAPL", limit=10)   # newest first
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow
from casebook.platform.errors import InvalidInput
from casebook.platform.ids import new_id

__all__ = ["MatchingNews", "NewsItem", "latest", "publish"]

SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,19}$")
MAX_HEADLINE = 200
MAX_BODY = 4000
MAX_SOURCE = 64
MAX_LIMIT = 100


class MatchingNews(Base):
    """One news item about one instrument of one venue. `id` is a Snowflake, so ordering by id
    is ordering by publication time."""

    __tablename__ = "matching_news"
    __table_args__ = (Index("ix_matching_news_symbol", "venue", "symbol", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    venue: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(20))
    headline: Mapped[str] = mapped_column(String(MAX_HEADLINE))
    body: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(MAX_SOURCE))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class NewsItem:
    id: int
    venue: str
    symbol: str
    headline: str
    body: str
    source: str
    published_at: datetime

    @classmethod
    def of(cls, row: MatchingNews) -> NewsItem:
        return cls(
            id=row.id,
            venue=row.venue,
            symbol=row.symbol,
            headline=row.headline,
            body=row.body,
            source=row.source,
            published_at=row.published_at,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "symbol": self.symbol,
            "headline": self.headline,
            "body": self.body,
            "source": self.source,
            "published_at": self.published_at.isoformat(),
        }


def _check_symbol(symbol: str) -> None:
    if not SYMBOL.match(symbol):
        raise InvalidInput(f"{symbol!r} is not a symbol (A-Z, 0-9, '.', '_', '-'; 1-20).")


async def publish(
    session: AsyncSession,
    venue: str,
    symbol: str,
    headline: str,
    body: str,
    *,
    source: str = "casebook-wire",
) -> NewsItem:
    """Add a news item about `symbol` at `venue` in the caller's transaction (it is visible once
    the caller commits). Raises InvalidInput (422) for a malformed symbol, an empty or overlong
    headline (1-200 characters), a body over 4,000 characters, or a source outside 1-64. O(1):
    one INSERT."""
    _check_symbol(symbol)
    headline = headline.strip()
    if not 1 <= len(headline) <= MAX_HEADLINE:
        raise InvalidInput(f"A headline is 1-{MAX_HEADLINE} characters.")
    if len(body) > MAX_BODY:
        raise InvalidInput(f"A body is at most {MAX_BODY} characters.")
    if not 1 <= len(source) <= MAX_SOURCE:
        raise InvalidInput(f"A source is 1-{MAX_SOURCE} characters.")
    row = MatchingNews(
        id=new_id(),
        venue=venue,
        symbol=symbol,
        headline=headline,
        body=body,
        source=source,
        published_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return NewsItem.of(row)


async def latest(session: AsyncSession, venue: str, symbol: str, limit: int = 10) -> list[NewsItem]:
    """The newest `limit` (1-100) items about `symbol` at `venue`, newest first; InvalidInput
    (422) for a malformed symbol or limit. O(log n + limit) on (venue, symbol, id)."""
    _check_symbol(symbol)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit is 1-{MAX_LIMIT}.")
    rows = await session.scalars(
        select(MatchingNews)
        .where(MatchingNews.venue == venue, MatchingNews.symbol == symbol)
        .order_by(MatchingNews.id.desc())
        .limit(limit)
    )
    return [NewsItem.of(row) for row in rows]
