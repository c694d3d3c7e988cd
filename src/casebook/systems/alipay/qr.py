"""Merchant payment codes: signed, expiring payloads rendered as real QR images.

A payload is `ALIPAY1.<claims>.<signature>`: the claims are compact JSON (merchant id, optional
fixed amount in fen, expiry as Unix seconds, a random nonce) in base64url, and the signature is
HMAC-SHA256 over `ALIPAY1.<claims>` with a key derived from the app's signing key. A payer's
client sends the scanned text back; the server checks the signature (constant time) and the
expiry before it looks at anything else, so a forged or edited code (another merchant, another
amount) is refused outright. "Paid exactly once" is not the signature's job: the nonce names a
row in `alipay_qr_codes`, and the first payment to set that row's `payment_id` wins.

Rendering uses segno (QR Code model 2, error correction M): PNG for apps and SVG for pages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import segno

from casebook.systems.alipay.errors import InvalidQrCode, QrCodeExpired

PREFIX = "ALIPAY1"
MAX_PAYLOAD = 300


def derive_qr_key(signing_key: str) -> bytes:
    """The QR signing key: the app key, narrowed to this one purpose."""
    return hmac.new(signing_key.encode(), b"casebook alipay qr v1", hashlib.sha256).digest()


@dataclass(frozen=True)
class QrClaims:
    merchant_id: int
    amount: int | None
    expires_at: datetime
    nonce: str


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, claims: QrClaims) -> str:
    """The payload text for `claims`."""
    body = {
        "m": str(claims.merchant_id),
        "a": claims.amount,
        "e": int(claims.expires_at.timestamp()),
        "n": claims.nonce,
    }
    encoded = _b64(json.dumps(body, separators=(",", ":")).encode())
    signed = f"{PREFIX}.{encoded}"
    signature = hmac.new(key, signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{_b64(signature)}"


def verify(key: bytes, payload: str, now: datetime) -> QrClaims:
    """The claims of a genuine, unexpired payload.

    Raises InvalidQrCode for anything malformed or not signed by us, QrCodeExpired (410) once its
    expiry has passed. O(len(payload)).
    """
    parts = payload.strip().split(".")
    if len(payload) > MAX_PAYLOAD or len(parts) != 3 or parts[0] != PREFIX:
        raise InvalidQrCode("This is not an Alipay payment code.")
    expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    try:
        signature = _unb64(parts[2])
        body = json.loads(_unb64(parts[1]))
        claims = QrClaims(
            merchant_id=int(body["m"]),
            amount=None if body["a"] is None else int(body["a"]),
            expires_at=datetime.fromtimestamp(int(body["e"]), UTC),
            nonce=str(body["n"]),
        )
    except (binascii.Error, ValueError, KeyError, TypeError, OverflowError):
        raise InvalidQrCode("This payment code is damaged.") from None
    if not hmac.compare_digest(signature, expected):
        raise InvalidQrCode("This payment code was not issued by Alipay.")
    if claims.expires_at <= now:
        raise QrCodeExpired("This payment code has expired; ask the merchant for a new one.")
    return claims


def render_png(payload: str, *, scale: int = 6) -> bytes:
    """The payload as a PNG QR code (4-module quiet zone)."""
    out = io.BytesIO()
    segno.make_qr(payload, error="m").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def render_svg(payload: str, *, scale: int = 4) -> str:
    """The payload as an inline SVG element."""
    out = io.BytesIO()
    segno.make_qr(payload, error="m").save(
        out, kind="svg", scale=scale, border=4, xmldecl=False, svgns=True, title="Alipay pay code"
    )
    return out.getvalue().decode()


def matrix(payload: str) -> tuple[tuple[int, ...], ...]:
    """The QR code's modules (1 = dark), without quiet zone: for readers and tests."""
    return tuple(tuple(row) for row in segno.make_qr(payload, error="m").matrix)
