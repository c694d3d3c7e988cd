"""Signed tokens in e-mail links: unsubscribe, open pixel, click redirect, bounce address.

A token is `<id>.<signature>` where the signature is the first 16 bytes of
HMAC-SHA256(signing key, purpose:id), base64url. Knowing one subscriber's or delivery's token
tells nothing about another's, so links in an e-mail act only on that e-mail's own rows, and
they work without a session (a reader clicking "unsubscribe" in a mail client is not signed in).
O(1) to make and to check (constant-time comparison).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from enum import StrEnum

from casebook.systems.substack.errors import InvalidToken


class Purpose(StrEnum):
    UNSUBSCRIBE = "unsubscribe"
    DELIVERY = "delivery"
    """Open pixel, click redirects and the bounce (VERP) address of one delivery."""


def _signature(key: str, purpose: Purpose, value: int) -> str:
    digest = hmac.new(key.encode(), f"substack:{purpose}:{value}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:16]).rstrip(b"=").decode()


def sign(key: str, purpose: Purpose, value: int) -> str:
    return f"{value}.{_signature(key, purpose, value)}"


def verify(key: str, purpose: Purpose, token: str) -> int:
    """The id inside `token`; raises InvalidToken if it was not signed by `key` for `purpose`."""
    value, _, signature = token.partition(".")
    if not value.isdecimal() or len(value) > 19 or not signature:
        raise InvalidToken()
    expected = _signature(key, purpose, int(value))
    if not hmac.compare_digest(expected, signature):
        raise InvalidToken()
    return int(value)
