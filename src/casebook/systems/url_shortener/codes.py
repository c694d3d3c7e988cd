"""Short-code generation: counter ranges mapped through a keyed permutation, then base62.

Why this design (the seed's hard core: "collision-free unique code generation under concurrency,
never check-then-set"):

- Uniqueness comes from a counter, not from luck: every process reserves a block of counter values
  with one atomic `UPDATE … SET next_value = next_value + :n RETURNING next_value` (the seed's
  ZooKeeper ranges, done by the database we already have). Blocks never overlap, so two processes
  never hand out the same value, and no code is ever checked for existence before it is used.
- Guessability is removed by a keyed pseudo-random permutation of [0, 62**7): a balanced Feistel
  network over 42 bits (two 21-bit halves, keyed BLAKE2b as the round function) with cycle-walking
  back into the domain. A permutation maps distinct counter values to distinct codes, so the
  counter's uniqueness carries over; without the key, code n says nothing useful about code n+1.
- Base62 (0-9, A-Z, a-z) at a fixed width of 7 characters: 62**7 ≈ 3.5e12 codes, room for the
  seed's 80 M links a day for about 120 years.

Everything here is pure and synchronous; `CodeAllocator` (service side) owns the counter blocks.
"""

from __future__ import annotations

import hashlib
import hmac

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BASE = len(ALPHABET)
CODE_LENGTH = 7
CODE_SPACE = BASE**CODE_LENGTH
"""62**7 = 3,521,614,606,208 distinct generated codes."""

_INDEX = {char: i for i, char in enumerate(ALPHABET)}
ROUNDS = 8
"""Feistel rounds. Four rounds with a pseudo-random round function already give a strong
pseudo-random permutation (Luby-Rackoff); eight cost ~10 µs per code and leave a margin."""


def base62_encode(value: int, width: int = CODE_LENGTH) -> str:
    """`value` in base62, left-padded with '0' to `width` characters.

    Raises ValueError when `value` is negative or needs more than `width` digits. O(width).
    """
    if value < 0 or value >= BASE**width:
        raise ValueError(f"{value} does not fit in {width} base62 digits")
    digits = []
    for _ in range(width):
        value, digit = divmod(value, BASE)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def base62_decode(code: str) -> int:
    """The integer a base62 string stands for; raises ValueError on a character outside it."""
    value = 0
    for char in code:
        try:
            value = value * BASE + _INDEX[char]
        except KeyError:
            raise ValueError(f"{char!r} is not a base62 digit") from None
    return value


def derive_code_key(signing_key: str) -> bytes:
    """The permutation key: HMAC-SHA256 of a fixed label under the deployment's signing key.

    A separate derived key means the code permutation never reuses the token-signing key as-is.
    """
    return hmac.new(
        signing_key.encode(), b"casebook/url-shortener/code-permutation/v1", hashlib.sha256
    ).digest()


class CodePermutation:
    """A keyed bijection of [0, domain): a Feistel network on the smallest even bit width that
    covers `domain`, with cycle-walking to stay inside it.

    `permute` and `invert` cost O(ROUNDS) hash calls per walk step; since the Feistel width is at
    most 4x the domain (2x for the 62**7 domain: 2**42 / 62**7 ≈ 1.25), the expected number of
    steps is below 4 (1.25 for codes).
    """

    def __init__(self, key: bytes, domain: int = CODE_SPACE) -> None:
        if domain < 2:
            raise ValueError("the domain must hold at least two values")
        if len(key) < 16:
            raise ValueError("the key must be at least 16 bytes")
        bits = (domain - 1).bit_length()
        bits += bits % 2
        self.domain = domain
        self._half_bits = bits // 2
        self._mask = (1 << self._half_bits) - 1
        self._half_bytes = (self._half_bits + 7) // 8
        # One BLAKE2b state per round, keyed once; each call copies it (cheaper than re-keying).
        self._rounds = [
            hashlib.blake2b(key=key[:64], digest_size=8, person=b"cb-feistel", salt=bytes([i]) * 16)
            for i in range(ROUNDS)
        ]

    def _round(self, i: int, half: int) -> int:
        state = self._rounds[i].copy()
        state.update(half.to_bytes(self._half_bytes, "big"))
        return int.from_bytes(state.digest(), "big") & self._mask

    def _encrypt(self, value: int) -> int:
        left, right = value >> self._half_bits, value & self._mask
        for i in range(ROUNDS):
            left, right = right, left ^ self._round(i, right)
        return (left << self._half_bits) | right

    def _decrypt(self, value: int) -> int:
        left, right = value >> self._half_bits, value & self._mask
        for i in reversed(range(ROUNDS)):
            left, right = right ^ self._round(i, left), left
        return (left << self._half_bits) | right

    def permute(self, value: int) -> int:
        """The image of `value`; raises ValueError outside [0, domain)."""
        if not 0 <= value < self.domain:
            raise ValueError(f"{value} is outside [0, {self.domain})")
        result = self._encrypt(value)
        # Cycle-walking: the Feistel network permutes [0, 2**bits); following the cycle until it
        # re-enters the domain yields a permutation of the domain itself.
        while result >= self.domain:
            result = self._encrypt(result)
        return result

    def invert(self, value: int) -> int:
        """The preimage of `value` (inverse of `permute`); raises ValueError outside the domain."""
        if not 0 <= value < self.domain:
            raise ValueError(f"{value} is outside [0, {self.domain})")
        result = self._decrypt(value)
        while result >= self.domain:
            result = self._decrypt(result)
        return result


class CodeGenerator:
    """Counter value → 7-character base62 code, through the keyed permutation."""

    def __init__(self, key: bytes) -> None:
        self._permutation = CodePermutation(key, CODE_SPACE)

    def code_for(self, counter_value: int) -> str:
        """The code of counter value `counter_value` (0 ≤ value < 62**7). O(ROUNDS)."""
        return base62_encode(self._permutation.permute(counter_value))

    def counter_value_of(self, code: str) -> int:
        """The counter value a generated code came from (used by tests and diagnostics)."""
        return self._permutation.invert(base62_decode(code))
