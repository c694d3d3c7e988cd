"""A Python client of the messaging engine: end-to-end encryption (`e2e`: X3DH + Double Ratchet
per device) and an async HTTP client of the engine's API (`client`)."""

from casebook.clients.messaging.e2e import (
    DecryptionError,
    DeviceCrypto,
    E2EError,
    NoSession,
    PeerBundle,
    UntrustedIdentity,
)

__all__ = [
    "DecryptionError",
    "DeviceCrypto",
    "E2EError",
    "NoSession",
    "PeerBundle",
    "UntrustedIdentity",
]
