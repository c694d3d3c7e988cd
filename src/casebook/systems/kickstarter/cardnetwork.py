"""A simulated card network: the external party that authorizes and charges backers' cards.

It stands in for Stripe/Visa, which cannot exist here, and keeps its own state and rules:

- a card number must pass the Luhn check (12-19 digits), the expiry must not have passed and the
  CVC must be 3-4 digits (`invalid_number`, `expired_card`, `invalid_cvc`);
- Stripe's test cards behave as Stripe documents them: 4000000000000002 is always declined
  (`card_declined`), 4000000000009995 has no funds (`insufficient_funds`), 4000000000000119 fails
  with a processing error (`processing_error`, retriable); any other valid number is a card with
  `credit_limit` cents of credit that charges use up (then `insufficient_funds`);
- a charge is idempotent by its key: the same key and the same charge answer the first result
  without charging again; the same key with another card or amount is refused
  (`idempotency_mismatch`);
- knobs: `latency` seconds per call, `outage` (every call raises `CardNetworkUnavailable`,
  nothing is charged).

State lives in this object (one per process): it models the card issuer's books, not ours.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from datetime import date

from casebook.systems.kickstarter.errors import CardDeclined, CardNetworkUnavailable

ALWAYS_DECLINED = "4000000000000002"
NO_FUNDS = "4000000000009995"
PROCESSING_ERROR = "4000000000000119"
DEFAULT_CREDIT_LIMIT = 1_000_000
"""Credit of an ordinary simulated card, in cents ($10,000)."""


def luhn_valid(number: str) -> bool:
    """Whether `number` (digits only) passes the Luhn checksum. O(len)."""
    total = 0
    for i, char in enumerate(reversed(number)):
        digit = int(char)
        if i % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


@dataclass(frozen=True)
class Card:
    number: str
    exp_month: int
    exp_year: int
    cvc: str

    @property
    def last4(self) -> str:
        return self.number[-4:]


@dataclass(frozen=True)
class Charge:
    """An approved charge."""

    key: str
    card_last4: str
    amount: int
    authorization_code: str


@dataclass
class CardNetwork:
    credit_limit: int = DEFAULT_CREDIT_LIMIT
    latency: float = 0.0
    outage: bool = False
    _charges: dict[str, tuple[str, int, Charge]] = field(default_factory=dict)
    _spent: dict[str, int] = field(default_factory=dict)

    def spent(self, number: str) -> int:
        """Cents charged to the card so far."""
        return self._spent.get(number, 0)

    async def charge(
        self, key: str, card: Card, amount: int, *, today: date | None = None
    ) -> Charge:
        """Charge `amount` cents to `card` once per `key`.

        Returns the approved Charge; raises CardDeclined (with a decline code) or
        CardNetworkUnavailable (nothing charged). O(1).
        """
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.outage:
            raise CardNetworkUnavailable()
        previous = self._charges.get(key)
        if previous is not None:
            number, previous_amount, charge = previous
            if (number, previous_amount) != (card.number, amount):
                raise CardDeclined("idempotency_mismatch", "This key was used for another charge.")
            return charge
        self._validate(card, today or date.today())
        if card.number == ALWAYS_DECLINED:
            raise CardDeclined("card_declined")
        if card.number == PROCESSING_ERROR:
            raise CardDeclined("processing_error", "The card network had an error; try again.")
        spent = self._spent.get(card.number, 0)
        if card.number == NO_FUNDS or spent + amount > self.credit_limit:
            raise CardDeclined("insufficient_funds")
        self._spent[card.number] = spent + amount
        code = hashlib.sha256(key.encode()).hexdigest()[:6].upper()
        charge = Charge(key=key, card_last4=card.last4, amount=amount, authorization_code=code)
        self._charges[key] = (card.number, amount, charge)
        return charge

    @staticmethod
    def _validate(card: Card, today: date) -> None:
        if not (card.number.isdigit() and 12 <= len(card.number) <= 19) or not luhn_valid(
            card.number
        ):
            raise CardDeclined("invalid_number", "The card number is not valid.")
        if not 1 <= card.exp_month <= 12 or (card.exp_year, card.exp_month) < (
            today.year,
            today.month,
        ):
            raise CardDeclined("expired_card", "The card has expired.")
        if not (card.cvc.isdigit() and 3 <= len(card.cvc) <= 4):
            raise CardDeclined("invalid_cvc", "The card's security code is not valid.")
