"""The market-data tables of the matching engine: OHLCV candles (`matching_candles`)."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base


class MatchingCandle(Base):
    """One OHLCV bar of one instrument at one interval ("1m", "5m", "1h", "1d").

    `bucket` is the bar's start in ns since the epoch (UTC-aligned: a multiple of the interval).
    Prices are ticks, `volume` lots, `quote_volume` quote minor units (Σ price x qty x npl).
    `first_trade_seq`/`last_trade_seq` bound the trades it holds: they decide open and close when
    batches are recorded out of order (candles.record)."""

    __tablename__ = "matching_candles"

    venue: Mapped[str] = mapped_column(String(32), primary_key=True)
    instrument_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    interval: Mapped[str] = mapped_column(String(3), primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    open: Mapped[int]
    high: Mapped[int]
    low: Mapped[int]
    close: Mapped[int]
    volume: Mapped[int]
    quote_volume: Mapped[int]
    trade_count: Mapped[int]
    first_trade_seq: Mapped[int]
    last_trade_seq: Mapped[int]
