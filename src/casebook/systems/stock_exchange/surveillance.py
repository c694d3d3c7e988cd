"""Market surveillance: detectors over the venue's event stream, and the alerts they raise.

The detectors are plain objects fed event dicts (`types.event_dict`) in commit order — the
venue's listener gives them each committed batch — and return `Finding`s; `Surveillance` wires
them to the venue and persists findings as `stockexchange_alerts`. They hold only bounded state
(windows of recent events), so they run inline after every commit.

- `WashTradeDetector`: a trade whose buyer and seller have the same beneficial owner (the trader
  behind the accounts: two accounts of one trader, or one account trading with itself when its
  self-trade prevention is off). Such a trade moves no risk and only paints the tape.
- `SpoofingDetector` (spoofing and layering): an account rests a LARGE order (>= `large_qty`
  lots), cancels it within `cancel_within_ns` of resting it, `repeat` times or more within
  `window_ns` on one side, while it traded on the OTHER side within that window — the pattern of
  showing size to move the price for a trade on the other side, never meaning to fill.
- `PriceSpikeDetector`: a trade more than `max_move_bps` away from any trade of the instrument in
  the last `window_ns` (a min and a max kept with monotonic deques: O(1) amortised per trade).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from casebook.engines.matching.types import event_dict

SECOND = 1_000_000_000


@dataclass(frozen=True)
class Finding:
    kind: str
    """`wash-trade`, `spoofing` or `price-spike`."""
    instrument_id: int
    account_id: int | None
    detail: dict[str, Any]


class WashTradeDetector:
    """Flags trades between accounts of one beneficial owner. O(1) per trade."""

    def check(
        self, instrument_id: int, event: Mapping[str, Any], owners: Mapping[int, int]
    ) -> Finding | None:
        """`event`: an event dict; `owners`: account id → beneficial owner (user id). Accounts
        missing from `owners` belong to nobody we know, so they never match."""
        if event["type"] != "trade":
            return None
        maker, taker = event["maker_account_id"], event["taker_account_id"]
        maker_owner, taker_owner = owners.get(maker), owners.get(taker)
        if maker_owner is None or maker_owner != taker_owner:
            return None
        return Finding(
            "wash-trade",
            instrument_id,
            taker,
            {
                "owner_user_id": str(maker_owner),
                "maker_account_id": str(maker),
                "taker_account_id": str(taker),
                "trade_seq": event["trade_seq"],
                "price": event["price"],
                "qty": event["qty"],
            },
        )


@dataclass
class _AccountActivity:
    large_open: dict[int, tuple[str, int, int]] = field(default_factory=dict)
    """order id → (side, qty, rested ts) of its large resting orders."""
    quick_cancels: dict[str, deque[tuple[int, int]]] = field(
        default_factory=lambda: {"buy": deque(), "sell": deque()}
    )
    """side → (cancel ts, qty) of large orders cancelled soon after resting."""
    trades: dict[str, deque[int]] = field(default_factory=lambda: {"buy": deque(), "sell": deque()})
    """side → ts of the account's trades on that side."""


def _other(side: str) -> str:
    return "sell" if side == "buy" else "buy"


class SpoofingDetector:
    """Flags repeated quick cancels of large orders by an account trading the other side.

    O(1) amortised per event (each window entry is appended and dropped once)."""

    def __init__(
        self,
        *,
        large_qty: int = 1_000,
        cancel_within_ns: int = 5 * SECOND,
        repeat: int = 3,
        window_ns: int = 60 * SECOND,
    ) -> None:
        self.large_qty = large_qty
        self.cancel_within_ns = cancel_within_ns
        self.repeat = repeat
        self.window_ns = window_ns
        self._accounts: dict[tuple[int, int], _AccountActivity] = {}

    def _activity(self, instrument_id: int, account_id: int) -> _AccountActivity:
        key = (instrument_id, account_id)
        activity = self._accounts.get(key)
        if activity is None:
            activity = self._accounts[key] = _AccountActivity()
        return activity

    def _trim(self, activity: _AccountActivity, now: int) -> None:
        horizon = now - self.window_ns
        for cancels in activity.quick_cancels.values():
            while cancels and cancels[0][0] < horizon:
                cancels.popleft()
        for trades in activity.trades.values():
            while trades and trades[0] < horizon:
                trades.popleft()

    def check(self, instrument_id: int, event: Mapping[str, Any]) -> Finding | None:
        kind = event["type"]
        if kind == "rested":
            if event["qty"] >= self.large_qty:
                activity = self._activity(instrument_id, event["account_id"])
                activity.large_open[event["order_id"]] = (event["side"], event["qty"], event["ts"])
            return None
        if kind == "trade":
            taker_side = event["taker_side"]
            for account, side in (
                (event["taker_account_id"], taker_side),
                (event["maker_account_id"], _other(taker_side)),
            ):
                activity = self._activity(instrument_id, account)
                activity.trades[side].append(event["ts"])
                if event["maker_left"] == 0 and account == event["maker_account_id"]:
                    activity.large_open.pop(event["maker_order_id"], None)
            for account in (event["taker_account_id"], event["maker_account_id"]):
                finding = self._judge(instrument_id, account, event["ts"])
                if finding is not None:
                    return finding
            return None
        if kind in ("cancelled", "replaced"):
            known = self._accounts.get((instrument_id, event["account_id"]))
            if known is None:
                return None
            placed = known.large_open.pop(event["order_id"], None)
            if placed is None or kind == "replaced":
                # A replace re-rests the order (a new RESTED follows when it is still large).
                return None
            side, qty, rested_at = placed
            if event["reason"] == "user" and event["ts"] - rested_at <= self.cancel_within_ns:
                known.quick_cancels[side].append((event["ts"], qty))
                return self._judge(instrument_id, event["account_id"], event["ts"])
        return None

    def _judge(self, instrument_id: int, account_id: int, now: int) -> Finding | None:
        activity = self._accounts.get((instrument_id, account_id))
        if activity is None:
            return None
        self._trim(activity, now)
        for side, cancels in activity.quick_cancels.items():
            traded_other_side = activity.trades[_other(side)]
            if len(cancels) >= self.repeat and traded_other_side:
                finding = Finding(
                    "spoofing",
                    instrument_id,
                    account_id,
                    {
                        "cancelled_side": side,
                        "quick_cancels": len(cancels),
                        "cancelled_qty": sum(qty for _, qty in cancels),
                        "trades_other_side": len(traded_other_side),
                        "window_seconds": self.window_ns / SECOND,
                    },
                )
                # One alert per pattern: start counting afresh.
                cancels.clear()
                return finding
        return None


class PriceSpikeDetector:
    """Flags a trade more than `max_move_bps` from any trade of the instrument in the window.

    After an alert the instrument is quiet for one window, so one spike raises one alert."""

    def __init__(self, *, max_move_bps: int = 1_000, window_ns: int = 60 * SECOND) -> None:
        self.max_move_bps = max_move_bps
        self.window_ns = window_ns
        self._lows: dict[int, deque[tuple[int, int]]] = {}
        self._highs: dict[int, deque[tuple[int, int]]] = {}
        self._quiet_until: dict[int, int] = {}

    def check(self, instrument_id: int, event: Mapping[str, Any]) -> Finding | None:
        if event["type"] != "trade":
            return None
        ts, price = event["ts"], event["price"]
        lows = self._lows.setdefault(instrument_id, deque())
        highs = self._highs.setdefault(instrument_id, deque())
        horizon = ts - self.window_ns
        for window in (lows, highs):
            while window and window[0][0] < horizon:
                window.popleft()
        finding = None
        if lows and ts >= self._quiet_until.get(instrument_id, 0):
            low, high = lows[0][1], highs[0][1]
            # Integer comparisons: price vs low x (1 + bps), never floats.
            if price * 10_000 > low * (10_000 + self.max_move_bps):
                finding = self._finding(instrument_id, event, low, "up")
            elif price * 10_000 < high * (10_000 - self.max_move_bps):
                finding = self._finding(instrument_id, event, high, "down")
            if finding is not None:
                self._quiet_until[instrument_id] = ts + self.window_ns
        while lows and lows[-1][1] >= price:
            lows.pop()
        lows.append((ts, price))
        while highs and highs[-1][1] <= price:
            highs.pop()
        highs.append((ts, price))
        return finding

    def _finding(
        self, instrument_id: int, event: Mapping[str, Any], reference: int, direction: str
    ) -> Finding:
        move_bps = abs(event["price"] - reference) * 10_000 // reference
        return Finding(
            "price-spike",
            instrument_id,
            None,
            {
                "direction": direction,
                "price": event["price"],
                "reference_price": reference,
                "move_bps": move_bps,
                "trade_seq": event["trade_seq"],
                "window_seconds": self.window_ns / SECOND,
            },
        )


@dataclass
class Detectors:
    """The three detectors run over one venue's committed batches."""

    wash: WashTradeDetector = field(default_factory=WashTradeDetector)
    spoofing: SpoofingDetector = field(default_factory=SpoofingDetector)
    spikes: PriceSpikeDetector = field(default_factory=PriceSpikeDetector)

    def scan(
        self,
        instrument_id: int,
        events: Sequence[tuple[Any, ...]],
        owner_of: Callable[[int], int | None],
    ) -> list[Finding]:
        """Findings of one batch (event tuples, in order). `owner_of`: account → beneficial
        owner. O(len(events)) amortised."""
        findings: list[Finding] = []
        for raw in events:
            event = event_dict(raw)
            if event["type"] == "trade":
                owners = {
                    account: owner
                    for account in (event["maker_account_id"], event["taker_account_id"])
                    if (owner := owner_of(account)) is not None
                }
                wash = self.wash.check(instrument_id, event, owners)
                if wash is not None:
                    findings.append(wash)
                spike = self.spikes.check(instrument_id, event)
                if spike is not None:
                    findings.append(spike)
            spoof = self.spoofing.check(instrument_id, event)
            if spoof is not None:
                findings.append(spoof)
        return findings
