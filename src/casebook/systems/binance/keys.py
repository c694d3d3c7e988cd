"""Keys, addresses, signatures and encryption at rest for the simulated chain.

- Keys are Ed25519 (`cryptography`); a public key is 32 raw bytes, written as 64 hex digits.
- An address is `0x` + the first 20 bytes of BLAKE2b-256 of the public key (40 hex digits), so
  it commits to the key without revealing it until the owner first spends.
- A transaction is signed over `SIGNING_DOMAIN` + its canonical JSON (keys sorted, no spaces,
  ASCII): client and chain serialise the same body to the same bytes, and the domain prefix keeps
  a chain signature from being valid for any other message format.
- Private keys the exchange holds (deposit addresses) are sealed with AES-256-GCM under a key
  derived from the platform's signing key for this purpose only; the address is the associated
  data, so a sealed key copied onto another address's row fails to open.

Every operation here is O(size of its input).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

SIGNING_DOMAIN = b"casebook-chain/v1\n"
ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")
PUBLIC_KEY_HEX = re.compile(r"^[0-9a-f]{64}$")
SIGNATURE_HEX = re.compile(r"^[0-9a-f]{128}$")
_NONCE_BYTES = 12


class SealedKeyError(ValueError):
    """A sealed private key did not open (wrong secret, tampered, or another address's)."""


def public_key_hex(private_key: Ed25519PrivateKey) -> str:
    """The 64-hex-digit raw public key of `private_key`."""
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return raw.hex()


def address_of(public_key: str) -> str:
    """The chain address of a hex public key; raises ValueError if it is not 64 hex digits."""
    if not PUBLIC_KEY_HEX.match(public_key):
        raise ValueError("a public key is 64 lower-case hex digits")
    return "0x" + hashlib.blake2b(bytes.fromhex(public_key), digest_size=32).hexdigest()[:40]


def canonical(body: Mapping[str, Any]) -> bytes:
    """The bytes a transaction body is signed and hashed as."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def signing_message(body: Mapping[str, Any]) -> bytes:
    return SIGNING_DOMAIN + canonical(body)


def tx_hash(body: Mapping[str, Any]) -> str:
    """A transaction's id: SHA-256 of its signing message (64 hex digits). The body carries the
    sender and nonce, so two transactions never share a hash unless they are the same one."""
    return hashlib.sha256(signing_message(body)).hexdigest()


def sign(private_key: Ed25519PrivateKey, body: Mapping[str, Any]) -> str:
    """The 128-hex-digit Ed25519 signature of `body` (what a wallet does client-side)."""
    return private_key.sign(signing_message(body)).hex()


def verify(public_key: str, signature: str, body: Mapping[str, Any]) -> bool:
    """Whether `signature` is `public_key`'s signature of `body`; malformed input is False."""
    if not PUBLIC_KEY_HEX.match(public_key) or not SIGNATURE_HEX.match(signature):
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key))
        key.verify(bytes.fromhex(signature), signing_message(body))
    except (InvalidSignature, ValueError):
        return False
    return True


def derived_key(secret: str, purpose: str) -> bytes:
    """32 bytes for `purpose`, derived from the platform secret (HMAC-SHA256): one secret, many
    independent keys, none of which reveals the secret or another."""
    return hmac.new(secret.encode(), f"casebook.binance.{purpose}".encode(), "sha256").digest()


def derived_signing_key(secret: str, purpose: str) -> Ed25519PrivateKey:
    """An Ed25519 key that every process derives alike (the exchange's hot wallet)."""
    return Ed25519PrivateKey.from_private_bytes(derived_key(secret, purpose))


def seal(secret: str, address: str, private_key: Ed25519PrivateKey) -> bytes:
    """`private_key` encrypted for storage: nonce (12 bytes) + AES-256-GCM ciphertext and tag."""
    raw = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    nonce = os.urandom(_NONCE_BYTES)
    box = AESGCM(derived_key(secret, "deposit-key-encryption"))
    return nonce + box.encrypt(nonce, raw, address.encode())


def unseal(secret: str, address: str, sealed: bytes) -> Ed25519PrivateKey:
    """The private key `seal` stored for `address`; raises SealedKeyError."""
    box = AESGCM(derived_key(secret, "deposit-key-encryption"))
    try:
        raw = box.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], address.encode())
    except (InvalidTag, ValueError) as exc:
        raise SealedKeyError("the sealed key does not open for this address") from exc
    return Ed25519PrivateKey.from_private_bytes(raw)
