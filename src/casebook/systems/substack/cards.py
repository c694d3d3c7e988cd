"""A simulated card processor: the external party that charges readers' cards for wallet
top-ups. It stands in for Stripe, which cannot exist here, with its own state and rules:

- the number must pass Luhn (12-19 digits), the expiry must not have passed, the CVC is 3-4
  digits (`invalid_number`, `expired_card`, `invalid_cvc`);
- Stripe's test cards behave as documented: 4000000000000002 is declined (`card_declined`),
  4000000000009995 has no funds (`insufficient_funds`); any other valid card has `credit_limit`
  cents of credit that charges use up;
- a charge is idempotent by key: the same key answers the first result without charging again.

Knob: `outage` (every charge is declined with `processing_error`, nothing is charged).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

from casebook.systems.substack.errors import CardDeclined

ALWAYS_DECLINED = "4000000000000002"
NO_FUNDS = "4000000000009995"
DEFAULT_CREDIT_LIMIT = 1_000_000


def luhn_valid(number: str) -> bool:
    """Whether the digits of `number` pass the Luhn checksum. O(len)."""
    total = 0
    for i, char in enumerate(reversed(number)):
        digit = int(char) * (2 if i % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


@dataclass(frozen=True)
class Card:
    number: str
    exp_month: int
    exp_year: int
    cvc: str


@dataclass(frozen=True)
class Charge:
    key: str
    amount: int
    card_last4: str
    authorization_code: str


@dataclass
class CardProcessor:
    credit_limit: int = DEFAULT_CREDIT_LIMIT
    outage: bool = False
    _charges: dict[str, Charge] = field(default_factory=dict)
    _spent: dict[str, int] = field(default_factory=dict)

    def charge(self, key: str, card: Card, amount: int, today: date | None = None) -> Charge:
        """Charge `amount` cents to `card` once per `key`. Raises CardDeclined(code)."""
        if key in self._charges:
            return self._charges[key]
        today = today or date.today()
        if not (card.number.isdecimal() and 12 <= len(card.number) <= 19) or not luhn_valid(
            card.number
        ):
            raise CardDeclined("The card number is not valid.", code="invalid_number")
        if not 1 <= card.exp_month <= 12 or (card.exp_year, card.exp_month) < (
            today.year,
            today.month,
        ):
            raise CardDeclined("The card has expired.", code="expired_card")
        if not (card.cvc.isdecimal() and len(card.cvc) in (3, 4)):
            raise CardDeclined("The security code is not valid.", code="invalid_cvc")
        if self.outage:
            raise CardDeclined("The card processor could not be reached.", code="processing_error")
        if card.number == ALWAYS_DECLINED:
            raise CardDeclined("The card was declined.", code="card_declined")
        spent = self._spent.get(card.number, 0)
        if card.number == NO_FUNDS or spent + amount > self.credit_limit:
            raise CardDeclined("The card has insufficient funds.", code="insufficient_funds")
        self._spent[card.number] = spent + amount
        code = hashlib.sha256(key.encode()).hexdigest()[:6].upper()
        charge = Charge(key, amount, card.number[-4:], code)
        self._charges[key] = charge
        return charge
