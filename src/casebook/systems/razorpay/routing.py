"""Smart routing: send each payment to the gateway most likely to process it, fail over on error.

The router keeps, per (gateway, method, currency), the outcomes of the last `window` attempts
and scores a gateway by its smoothed success rate, (successes + 1) / (attempts + 2), so a
gateway with no history starts at 0.5 rather than at 0 or 1. A payment tries the eligible
gateways (those supporting its method and currency) best score first, ties broken by the
configured order; a gateway that fails technically (`GatewayError` or no answer within
`timeout` seconds) is recorded as a failure and the next one is tried. A decline is the
customer's bank speaking, so it ends the routing: another gateway would be refused too.

With probability `explore` the router first tries a random eligible gateway, so a gateway that
recovered from an outage gets traffic again and its score catches up (greedy routing alone would
starve it forever). The random source is seeded: tests replay exact runs.

Each process learns on its own, from its own traffic; that is enough to move traffic off a
failing gateway within a few dozen attempts. O(g log g) per payment for g gateways, O(1) per
recorded outcome.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from casebook.systems.razorpay.gateways import (
    Approved,
    Declined,
    Gateway,
    GatewayError,
    Instrument,
    Method,
)


@dataclass(frozen=True)
class Attempt:
    gateway: str
    outcome: str
    """approved, declined or error."""


@dataclass(frozen=True)
class RoutingResult:
    """The decision of the last gateway tried (None: every gateway failed) and every attempt."""

    decision: Approved | Declined | None
    gateway: str | None
    attempts: tuple[Attempt, ...]


@dataclass
class SmartRouter:
    gateways: Sequence[Gateway]
    window: int = 100
    timeout: float = 5.0
    explore: float = 0.05
    seed: int = 0
    _history: dict[tuple[str, Method, str], deque[bool]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def record(self, gateway: str, method: Method, currency: str, success: bool) -> None:
        key = (gateway, method, currency)
        history = self._history.get(key)
        if history is None:
            history = self._history[key] = deque(maxlen=self.window)
        history.append(success)

    def success_rate(self, gateway: str, method: Method, currency: str) -> float:
        """The smoothed recent success rate that ranks `gateway` for this method and currency."""
        history = self._history.get((gateway, method, currency), ())
        return (sum(history) + 1) / (len(history) + 2)

    def ranking(self, method: Method, currency: str) -> list[Gateway]:
        """The eligible gateways in the order they would be tried (before exploration)."""
        eligible = [g for g in self.gateways if g.supports(method, currency)]
        order = {g.name: i for i, g in enumerate(self.gateways)}
        return sorted(
            eligible, key=lambda g: (-self.success_rate(g.name, method, currency), order[g.name])
        )

    async def authorize(
        self, instrument: Instrument, amount: int, currency: str, today: date
    ) -> RoutingResult:
        """Authorize at the best gateway, failing over on technical errors; never raises for a
        gateway's failure (the result then has no decision)."""
        candidates = self.ranking(instrument.method, currency)
        if len(candidates) > 1 and self._rng.random() < self.explore:
            first = candidates.pop(self._rng.randrange(len(candidates)))
            candidates.insert(0, first)
        attempts: list[Attempt] = []
        for gateway in candidates:
            try:
                async with asyncio.timeout(self.timeout):
                    decision = await gateway.authorize(instrument, amount, currency, today)
            except (GatewayError, TimeoutError):
                self.record(gateway.name, instrument.method, currency, False)
                attempts.append(Attempt(gateway.name, "error"))
                continue
            # A decline is still a gateway that answered: it counts as processed.
            self.record(gateway.name, instrument.method, currency, True)
            outcome = "approved" if isinstance(decision, Approved) else "declined"
            attempts.append(Attempt(gateway.name, outcome))
            return RoutingResult(decision, gateway.name, tuple(attempts))
        return RoutingResult(None, None, tuple(attempts))
