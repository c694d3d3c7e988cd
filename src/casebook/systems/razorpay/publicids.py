"""Razorpay-style public ids: an entity prefix and the base62 of the row's Snowflake id.

`pay_2kF9xQe81Zq` names payment row 1234…; the prefix says which entity an id belongs to, so an
order id passed where a payment id is expected is refused instead of looked up. Encoding and
decoding are O(length) (at most 11 base62 digits for a 63-bit id).
"""

from __future__ import annotations

import string

_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_MAX_DIGITS = 11
_MAX_ID = 2**63 - 1


def encode(prefix: str, value: int) -> str:
    """`prefix_<base62 of value>`; value must be a positive 63-bit integer."""
    if not 0 < value <= _MAX_ID:
        raise ValueError("public ids encode positive 63-bit integers")
    digits = []
    while value:
        value, rest = divmod(value, 62)
        digits.append(_ALPHABET[rest])
    return f"{prefix}_{''.join(reversed(digits))}"


def decode(prefix: str, public_id: str) -> int | None:
    """The integer behind `public_id` if it has `prefix` and is well formed, else None."""
    head, _, body = public_id.rpartition("_")
    if head != prefix or not 0 < len(body) <= _MAX_DIGITS:
        return None
    value = 0
    for char in body:
        digit = _INDEX.get(char)
        if digit is None:
            return None
        value = value * 62 + digit
    return value if 0 < value <= _MAX_ID else None
