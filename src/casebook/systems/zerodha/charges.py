"""Zerodha's charges on an executed equity order, in paise (pure arithmetic, no I/O).

Rates (Zerodha's published equity schedule, NSE):

| charge | delivery (CNC) | intraday (MIS) |
|---|---|---|
| brokerage | 0 | min(₹20, 0.03 % of turnover) per executed order |
| STT | 0.1 % on buy and sell | 0.025 % on the sell side |
| exchange transaction | 0.00297 % | 0.00297 % |
| SEBI fee | ₹10 per crore (0.0001 %) | same |
| stamp duty | 0.015 % on buy | 0.003 % on buy |
| GST | 18 % of (brokerage + exchange transaction + SEBI fee) | same |

Rounding: each component is rounded half up to the paisa on its own, then summed (the contract
note shows each line). Every component grows with turnover, so the charges at a higher turnover
are never lower: a hold computed at an order's limit price covers any fill at or inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Product = Literal["CNC", "MIS"]
Side = Literal["buy", "sell"]

PER = 10_000_000
"""Rates are expressed per 10^7 (0.00297 % = 297 per 10^7)."""
MIS_BROKERAGE_CAP = 2000
"""₹20 in paise."""
MIS_BROKERAGE = 3_000  # 0.03 %
STT_CNC = 10_000  # 0.1 %
STT_MIS_SELL = 2_500  # 0.025 %
EXCHANGE_TXN = 297  # 0.00297 %
SEBI = 10  # 0.0001 %
STAMP_CNC_BUY = 1_500  # 0.015 %
STAMP_MIS_BUY = 300  # 0.003 %
GST_PERCENT = 18


def _rate(turnover: int, per: int) -> int:
    """turnover * per / 10^7, rounded half up to the paisa (exact integers)."""
    return (turnover * per * 2 + PER) // (2 * PER)


@dataclass(frozen=True)
class Charges:
    turnover: int
    brokerage: int
    stt: int
    exchange_txn: int
    sebi: int
    stamp_duty: int
    gst: int

    @property
    def total(self) -> int:
        return (
            self.brokerage + self.stt + self.exchange_txn + self.sebi + self.stamp_duty + self.gst
        )

    @property
    def statutory(self) -> int:
        """Everything but the brokerage (owed to the exchange, SEBI and the government)."""
        return self.total - self.brokerage


def compute(product: Product, side: Side, turnover: int) -> Charges:
    """The charges of one executed order of `turnover` paise. O(1).

    Raises ValueError for a negative turnover or an unknown product/side."""
    if turnover < 0:
        raise ValueError("turnover must be >= 0")
    if product not in ("CNC", "MIS") or side not in ("buy", "sell"):
        raise ValueError("product is CNC or MIS, side buy or sell")
    if product == "CNC":
        brokerage = 0
        stt = _rate(turnover, STT_CNC)
        stamp = _rate(turnover, STAMP_CNC_BUY) if side == "buy" else 0
    else:
        brokerage = min(MIS_BROKERAGE_CAP, _rate(turnover, MIS_BROKERAGE))
        stt = _rate(turnover, STT_MIS_SELL) if side == "sell" else 0
        stamp = _rate(turnover, STAMP_MIS_BUY) if side == "buy" else 0
    exchange_txn = _rate(turnover, EXCHANGE_TXN)
    sebi = _rate(turnover, SEBI)
    gst = ((brokerage + exchange_txn + sebi) * GST_PERCENT * 2 + 100) // 200
    return Charges(turnover, brokerage, stt, exchange_txn, sebi, stamp, gst)
