"""Simulated acquiring gateways: the external banks and networks a payment is authorized at.

A real Razorpay routes each payment to one of several acquirers (HDFC, ICICI, Axis, …) that
cannot exist here. Each `Gateway` stands in for one: it has its own state (the authorizations it
granted), its own rules and its own failure modes, and two knobs per payment method, a success
rate and a latency. It is deterministic under a seed, so tests can replay exactly the same run.

What an authorization can end in:

- `Approved(reference)`: the issuer approved; the gateway remembers the authorization.
- `Declined(code, reason)`: the customer's bank or app refused (a declined test card, an invalid
  VPA, an unknown bank code, an expired card). Trying another gateway would be refused again,
  so the router does not fail over on a decline.
- `GatewayError` raised: the gateway itself failed (the `1 - success_rate` share of attempts,
  or every attempt while `down`). The payment may succeed elsewhere: the router fails over.

The instruments the simulator recognises are Razorpay's test instruments: any Luhn-valid card
number is a card (4000 0000 0000 0002 is always declined), `success@razorpay` and any other
well-formed VPA pays, `failure@razorpay` is declined, net banking takes the bank codes in
`BANKS`, wallets the names in `WALLETS`.
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class Method(StrEnum):
    CARD = "card"
    UPI = "upi"
    NETBANKING = "netbanking"
    WALLET = "wallet"


BANKS = frozenset({"HDFC", "ICIC", "SBIN", "UTIB", "KKBK", "YESB", "PUNB"})
"""Net-banking bank codes (IFSC prefixes) the simulated gateways connect to."""
WALLETS = frozenset({"paytm", "mobikwik", "freecharge", "olamoney", "phonepe", "airtelmoney"})
DECLINED_CARD = "4000000000000002"
FAILURE_VPA = "failure@razorpay"
VPA = re.compile(r"^[A-Za-z0-9.\-_]{2,256}@[A-Za-z]{2,64}$")
UPI_LIMIT = 10_000_000
"""The UPI per-payment cap: ₹1,00,000 in paise (NPCI's general limit)."""


@dataclass(frozen=True)
class Card:
    number: str
    expiry_month: int
    expiry_year: int
    cvv: str
    name: str = ""

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def network(self) -> str:
        first = self.number[0]
        if first == "4":
            return "Visa"
        if first == "5":
            return "MasterCard"
        if first == "6":
            return "RuPay"
        if self.number[:2] in {"34", "37"}:
            return "American Express"
        return "Unknown"


@dataclass(frozen=True)
class Instrument:
    """What the customer pays with: exactly the field of its method is set."""

    method: Method
    card: Card | None = None
    vpa: str | None = None
    bank: str | None = None
    wallet: str | None = None


@dataclass(frozen=True)
class Approved:
    reference: str


@dataclass(frozen=True)
class Declined:
    code: str
    reason: str


Decision = Approved | Declined


class GatewayError(Exception):
    """The gateway failed to process the attempt (downtime, a technical error, a timeout)."""


def luhn_valid(number: str) -> bool:
    """The Luhn checksum of a 12-19 digit card number; O(digits)."""
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, char in enumerate(reversed(number)):
        digit = int(char)
        if i % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def check_instrument(
    instrument: Instrument, amount: int, currency: str, today: date
) -> Declined | None:
    """The issuer-side rules every gateway applies; None when the instrument may pay."""
    if instrument.method is Method.CARD:
        card = instrument.card
        if card is None or not luhn_valid(card.number):
            return Declined("BAD_REQUEST_ERROR", "invalid_card_number")
        if (card.expiry_year, card.expiry_month) < (today.year, today.month):
            return Declined("BAD_REQUEST_ERROR", "card_expired")
        if card.number == DECLINED_CARD:
            return Declined("BAD_REQUEST_ERROR", "card_declined")
    elif instrument.method is Method.UPI:
        if instrument.vpa is None or not VPA.match(instrument.vpa):
            return Declined("BAD_REQUEST_ERROR", "invalid_vpa")
        if instrument.vpa.lower() == FAILURE_VPA:
            return Declined("BAD_REQUEST_ERROR", "payment_declined_by_customer")
        if currency != "INR" or amount > UPI_LIMIT:
            return Declined("BAD_REQUEST_ERROR", "amount_exceeds_upi_limit")
    elif instrument.method is Method.NETBANKING:
        if instrument.bank not in BANKS:
            return Declined("BAD_REQUEST_ERROR", "bank_not_supported")
    elif instrument.wallet not in WALLETS:
        return Declined("BAD_REQUEST_ERROR", "wallet_not_supported")
    return None


@dataclass
class Gateway:
    """One simulated acquirer. Knobs (change them at any time): `success_rate[method]`
    (probability an attempt is processed), `latency` (seconds per attempt), `down`."""

    name: str
    currencies: frozenset[str]
    success_rate: dict[Method, float]
    latency: float = 0.0
    down: bool = False
    seed: int = 0
    authorizations: dict[str, tuple[int, str]] = field(default_factory=dict)
    """reference → (amount, currency) of every authorization this gateway granted."""
    attempts: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(f"{self.name}:{self.seed}")

    def supports(self, method: Method, currency: str) -> bool:
        return method in self.success_rate and currency in self.currencies

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self._rng = random.Random(f"{self.name}:{seed}")

    async def authorize(
        self, instrument: Instrument, amount: int, currency: str, today: date
    ) -> Decision:
        """Ask the issuer to authorize `amount`. Waits `latency` s; raises GatewayError on a
        technical failure (`down`, or the `1 - success_rate` draw)."""
        if not self.supports(instrument.method, currency):
            raise GatewayError(f"{self.name} does not process {instrument.method} in {currency}")
        self.attempts += 1
        # Drawn before waiting, so the outcome sequence depends only on the seed and the order
        # of attempts, not on how their waits interleave.
        processed = self._rng.random() < self.success_rate[instrument.method]
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if self.down or not processed:
            raise GatewayError(f"{self.name} failed to process the payment")
        declined = check_instrument(instrument, amount, currency, today)
        if declined is not None:
            return declined
        reference = f"{self.name.upper()}{self._rng.getrandbits(48):014d}"
        self.authorizations[reference] = (amount, currency)
        return Approved(reference)


def default_gateways(seed: int = 0) -> list[Gateway]:
    """Three acquirers with different strengths, as a routing table would list them."""
    return [
        Gateway(
            "hdfc",
            frozenset({"INR", "USD"}),
            {Method.CARD: 0.97, Method.NETBANKING: 0.95, Method.WALLET: 0.93},
            seed=seed,
        ),
        Gateway(
            "icici",
            frozenset({"INR"}),
            {Method.CARD: 0.94, Method.UPI: 0.96, Method.NETBANKING: 0.96, Method.WALLET: 0.95},
            seed=seed,
        ),
        Gateway(
            "axis",
            frozenset({"INR", "USD", "EUR"}),
            {Method.CARD: 0.92, Method.UPI: 0.93},
            seed=seed,
        ),
    ]
