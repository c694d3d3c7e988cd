"""Cash Card numbers: generation with a Luhn check digit, tokenisation, and the derived CVV.

A card number (PAN) is the issuer's BIN, nine random digits and a Luhn check digit. CashApp never
stores it: it keeps `pan_token` = HMAC-SHA256(key, PAN), which recognises the card when the
network presents its number but cannot be turned back into it, and the last four digits. The CVV
is derived the way issuers derive it (a keyed function of PAN and expiry, here HMAC instead of
the 3DES of real card schemes), so it can be checked without being stored either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

BIN = "400744"
"""The issuer identification number of the simulated Cash Card programme (Visa range 4…)."""
PAN_LENGTH = 16


def luhn_check_digit(partial: str) -> str:
    """The digit that makes `partial + digit` pass the Luhn check. O(len)."""
    total = 0
    for index, char in enumerate(reversed(partial)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    """True if `number` (digits only, at least 2) passes the Luhn check."""
    if len(number) < 2 or not number.isdigit():
        return False
    return luhn_check_digit(number[:-1]) == number[-1]


def new_pan(bin_: str = BIN) -> str:
    """A fresh random card number under `bin_`, with a valid check digit."""
    body = bin_ + "".join(secrets.choice("0123456789") for _ in range(PAN_LENGTH - len(bin_) - 1))
    return body + luhn_check_digit(body)


def card_key(secret: str) -> bytes:
    """The key for card tokens and CVVs, derived from the server secret for this purpose only."""
    return hmac.new(secret.encode(), b"casebook.cashapp.card-key", hashlib.sha256).digest()


def pan_token(key: bytes, pan: str) -> str:
    """The stored stand-in for a card number (64 hex characters)."""
    return hmac.new(key, b"pan:" + pan.encode(), hashlib.sha256).hexdigest()


def cvv(key: bytes, pan: str, exp_month: int, exp_year: int) -> str:
    """The card's three-digit security code, a function of its number and expiry."""
    digest = hmac.new(key, f"cvv:{pan}:{exp_month:02d}{exp_year}".encode(), hashlib.sha256)
    return f"{int.from_bytes(digest.digest()[:8], 'big') % 1000:03d}"
