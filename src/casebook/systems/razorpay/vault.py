"""A simulated card network token vault (the external party behind card tokenisation).

India's card-on-file rules forbid merchants and gateways from storing card numbers: the card
network (Visa Token Service, Mastercard MDES, RuPay) keeps the number and issues a network
token; the gateway keeps only that token, the last 4 digits, network and expiry, and has the
network resolve the token when it charges. This class stands in for the network: its own state
(token → card, in this process's memory, like the simulated gateways' authorizations), its own
rules (Luhn-valid, unexpired cards only; a deleted token never resolves again).

Tokens are random (`ntk_` + 24 hex digits), so two saves of one card give two tokens, and a
token reveals nothing about the number.
"""

from __future__ import annotations

import secrets
from datetime import date

from casebook.systems.razorpay.gateways import Card, luhn_valid


class VaultRefused(Exception):
    """The network would not tokenise this card (invalid number or expired)."""


class UnknownToken(Exception):
    """No live token with this value (never issued, or deleted)."""


class CardVault:
    """Network tokens for cards. O(1) per operation."""

    def __init__(self) -> None:
        self._cards: dict[str, Card] = {}

    def tokenize(self, card: Card, today: date) -> str:
        """A new network token for `card` (its CVV is not kept); raises VaultRefused."""
        if not card.number.isdigit() or not luhn_valid(card.number):
            raise VaultRefused("The card number is not valid.")
        if (card.expiry_year, card.expiry_month) < (today.year, today.month):
            raise VaultRefused("The card has expired.")
        token = "ntk_" + secrets.token_hex(12)
        self._cards[token] = Card(
            number=card.number,
            expiry_month=card.expiry_month,
            expiry_year=card.expiry_year,
            cvv="",
            name=card.name,
        )
        return token

    def detokenize(self, token: str, cvv: str) -> Card:
        """The card behind `token`, with the CVV the customer entered now; raises UnknownToken."""
        card = self._cards.get(token)
        if card is None:
            raise UnknownToken(token)
        return Card(card.number, card.expiry_month, card.expiry_year, cvv, card.name)

    def delete(self, token: str) -> bool:
        """Forget `token`; False if it was not live."""
        return self._cards.pop(token, None) is not None

    def __len__(self) -> int:
        return len(self._cards)
