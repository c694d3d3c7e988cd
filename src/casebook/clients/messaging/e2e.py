"""End-to-end encryption for one device: X3DH key agreement, then the Double Ratchet.

The cryptography is the `x3dh` and `doubleratchet` packages (Signal's specifications, with the
recommended primitives: X25519, XEdDSA, HKDF-SHA-256, AES-256-CBC + HMAC-SHA-256); this module
only configures them and keeps per-device sessions.

A `DeviceCrypto` is one device's secret state: its identity key, signed prekey and one-time
prekeys (the private halves of what it publishes to the server's key directory) and one or more
Double Ratchet sessions per peer device. A sender encrypts a message once per recipient device,
its own other devices included; each ciphertext ("envelope") goes only to its device.

Envelope format (version 1), all integers big-endian:

    version (1 byte = 1) | kind (1 byte: 0 = ratchet message, 1 = with X3DH initiation)
    [kind 1: identity key (32) | ephemeral key (32) | signed prekey (32) | has one-time (1)
             | one-time prekey (32, if has one-time)]
    ratchet public key (32) | previous chain length (4) | message number (4) | ciphertext (rest)

The initiator attaches its X3DH header to every message until the peer answers (as Signal does),
so a lost first message does not lose the session. Every header byte is authenticated: the
Double Ratchet header is part of the AEAD's associated data, and a changed X3DH header derives
another key; a tampered envelope fails to decrypt (`DecryptionError`) and changes no state.

Sessions that both sides start at the same time are resolved the Signal way: a device keeps up to
`MAX_SESSIONS_PER_DEVICE` sessions per peer device, tries them in turn, and promotes the one that
decrypts, so both sides converge on one.

`to_bytes()` / `from_bytes()` serialise the whole state (it holds private keys: store it as a
secret).
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from typing import Any

import x3dh
from doubleratchet import (
    AuthenticationFailedException,
    DecryptionFailedException,
    DoSProtectionException,
    DoubleRatchet,
    DuplicateMessageException,
    EncryptedMessage,
)
from doubleratchet import Header as RatchetHeader
from doubleratchet.recommended import HashFunction as RatchetHash
from doubleratchet.recommended import aead_aes_hmac, kdf_hkdf, kdf_separate_hmacs
from doubleratchet.recommended.diffie_hellman_ratchet_curve25519 import DiffieHellmanRatchet

VERSION = 1
KEY_SIZE = 32
KEY_TYPE_CURVE25519 = b"\x05"
"""Prefixed to a public key wherever it is signed or hashed (Signal's encoding). The server's
key directory (`casebook.engines.messaging.keys.signed_prekey_message`) verifies signed prekeys
with the same encoding."""
X3DH_INFO = b"casebook messaging x3dh"
MESSAGE_CHAIN_CONSTANT = b"\x01\x02"
DOS_PROTECTION_THRESHOLD = 1000
"""Skipped message keys computed at most for one message (a malicious header cannot make a
device derive millions of keys)."""
MAX_SKIPPED_MESSAGE_KEYS = 1000
MAX_SESSIONS_PER_DEVICE = 4
_KIND_MESSAGE = 0
_KIND_INITIATION = 1
_COUNTERS = struct.Struct(">II")


class E2EError(Exception):
    """Base of this module's errors."""


class DecryptionError(E2EError):
    """The envelope is malformed, tampered with, replayed, or for a session this device lacks."""


class NoSession(E2EError):
    """Encrypting for a device with no session needs its bundle from the key directory."""


class UntrustedIdentity(E2EError):
    """A peer device presents another identity key than the one this device pinned for it."""


class _X3DHState(x3dh.BaseState):
    """X3DH with manual prekey management: the server directory holds the public halves, so
    refills and deletions follow what the directory hands out, not a local threshold."""

    @staticmethod
    def _encode_public_key(key_format: x3dh.IdentityKeyFormat, pub: bytes) -> bytes:
        return KEY_TYPE_CURVE25519 + pub


class _RootChainKDF(kdf_hkdf.KDF):
    @staticmethod
    def _get_hash_function() -> RatchetHash:
        return RatchetHash.SHA_256

    @staticmethod
    def _get_info() -> bytes:
        return b"casebook messaging root chain"


class _MessageChainKDF(kdf_separate_hmacs.KDF):
    @staticmethod
    def _get_hash_function() -> RatchetHash:
        return RatchetHash.SHA_256


class _AEAD(aead_aes_hmac.AEAD):
    @staticmethod
    def _get_hash_function() -> RatchetHash:
        return RatchetHash.SHA_256

    @staticmethod
    def _get_info() -> bytes:
        return b"casebook messaging message keys"


class _Ratchet(DoubleRatchet):
    @staticmethod
    def _build_associated_data(associated_data: bytes, header: RatchetHeader) -> bytes:
        # Length-prefixed so that (associated data, header) parse back uniquely.
        return (
            struct.pack(">I", len(associated_data))
            + associated_data
            + header.ratchet_pub
            + _COUNTERS.pack(header.previous_sending_chain_length, header.sending_chain_length)
        )


_RATCHET_CONFIG: dict[str, Any] = {
    "diffie_hellman_ratchet_class": DiffieHellmanRatchet,
    "root_chain_kdf": _RootChainKDF,
    "message_chain_kdf": _MessageChainKDF,
    "message_chain_constant": MESSAGE_CHAIN_CONSTANT,
    "dos_protection_threshold": DOS_PROTECTION_THRESHOLD,
    "max_num_skipped_message_keys": MAX_SKIPPED_MESSAGE_KEYS,
    "aead": _AEAD,
}
_X3DH_CONFIG: dict[str, Any] = {
    "identity_key_format": x3dh.IdentityKeyFormat.CURVE_25519,
    "hash_function": x3dh.HashFunction.SHA_256,
    "info": X3DH_INFO,
}


@dataclass(frozen=True)
class PeerBundle:
    """A peer device's public keys as the key directory hands them out (one claim)."""

    device_id: int
    identity_key: bytes
    signed_prekey: bytes
    signed_prekey_signature: bytes
    one_time_prekey: bytes | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PeerBundle:
        """From one entry of `POST /keys/users/{id}/bundles`'s `devices` (base64 keys)."""
        one_time = data.get("one_time_prekey")
        return cls(
            device_id=int(data["device_id"]),
            identity_key=_b64d(data["identity_key"]),
            signed_prekey=_b64d(data["signed_prekey"]["public_key"]),
            signed_prekey_signature=_b64d(data["signed_prekey"]["signature"]),
            one_time_prekey=None if one_time is None else _b64d(one_time["public_key"]),
        )


@dataclass
class _Session:
    ratchet: _Ratchet
    associated_data: bytes
    ephemeral_key: bytes
    """The X3DH ephemeral key that started the session: names it on both sides."""
    initiation: x3dh.Header | None
    """Our X3DH header, sent along until the peer answers; None once it has (or if it began)."""

    def to_json(self) -> dict[str, Any]:
        init = self.initiation
        return {
            "ratchet": self.ratchet.json,
            "associated_data": _b64e(self.associated_data),
            "ephemeral_key": _b64e(self.ephemeral_key),
            "initiation": None
            if init is None
            else {
                "identity_key": _b64e(init.identity_key),
                "ephemeral_key": _b64e(init.ephemeral_key),
                "signed_prekey": _b64e(init.signed_pre_key),
                "one_time_prekey": None if init.pre_key is None else _b64e(init.pre_key),
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Session:
        init = data["initiation"]
        return cls(
            ratchet=_Ratchet.from_json(data["ratchet"], **_RATCHET_CONFIG),
            associated_data=_b64d(data["associated_data"]),
            ephemeral_key=_b64d(data["ephemeral_key"]),
            initiation=None
            if init is None
            else x3dh.Header(
                identity_key=_b64d(init["identity_key"]),
                ephemeral_key=_b64d(init["ephemeral_key"]),
                signed_pre_key=_b64d(init["signed_prekey"]),
                pre_key=None if init["one_time_prekey"] is None else _b64d(init["one_time_prekey"]),
            ),
        )


class DeviceCrypto:
    """One device's end-to-end state. Not safe for concurrent use: one coroutine at a time per
    device (a ratchet step must see the previous one's result)."""

    def __init__(
        self,
        state: _X3DHState,
        *,
        signed_prekey_id: int,
        prekey_ids: dict[bytes, int],
        next_prekey_id: int,
        sessions: dict[int, list[_Session]],
        identities: dict[int, bytes],
    ) -> None:
        self._x3dh = state
        self._signed_prekey_id = signed_prekey_id
        self._prekey_ids = prekey_ids
        self._next_prekey_id = next_prekey_id
        self._sessions = sessions
        self._identities = identities

    @classmethod
    def create(cls, one_time_prekeys: int = 100) -> DeviceCrypto:
        """A new identity with a signed prekey and `one_time_prekeys` one-time prekeys."""
        device = cls(
            _X3DHState.create(**_X3DH_CONFIG),
            signed_prekey_id=1,
            prekey_ids={},
            next_prekey_id=1,
            sessions={},
            identities={},
        )
        device.generate_one_time_prekeys(one_time_prekeys)
        return device

    # Keys published to the directory

    @property
    def identity_key(self) -> bytes:
        """The public identity key (Curve25519)."""
        return self._x3dh.bundle.identity_key

    def publication(self) -> dict[str, Any]:
        """The body of `PUT /keys/devices/{id}`: identity key, signed prekey and every one-time
        prekey this device holds (re-publishing stored ones is harmless)."""
        bundle = self._x3dh.bundle
        return {
            "identity_key": _b64e(bundle.identity_key),
            "signed_prekey": {
                "key_id": self._signed_prekey_id,
                "public_key": _b64e(bundle.signed_pre_key),
                "signature": _b64e(bundle.signed_pre_key_sig),
            },
            "one_time_prekeys": [
                {"key_id": key_id, "public_key": _b64e(pub)}
                for pub, key_id in sorted(self._prekey_ids.items(), key=lambda item: item[1])
            ],
        }

    def generate_one_time_prekeys(self, count: int) -> list[dict[str, Any]]:
        """Make `count` new one-time prekeys; returns them as the body items of
        `POST /keys/devices/{id}/one-time-prekeys`."""
        before = set(self._x3dh.bundle.pre_keys)
        self._x3dh.generate_pre_keys(count)
        fresh = []
        for pub in sorted(self._x3dh.bundle.pre_keys - before):
            self._prekey_ids[pub] = self._next_prekey_id
            fresh.append({"key_id": self._next_prekey_id, "public_key": _b64e(pub)})
            self._next_prekey_id += 1
        return fresh

    def rotate_signed_prekey(self) -> None:
        """Replace the signed prekey (the previous one still completes sessions started with it
        until the next rotation). Publish `publication()` afterwards."""
        self._x3dh.rotate_signed_pre_key()
        self._signed_prekey_id += 1

    # Sessions

    def has_session(self, device_id: int) -> bool:
        return bool(self._sessions.get(device_id))

    def trust(self, device_id: int, identity_key: bytes) -> None:
        """Pin `identity_key` for a peer device (e.g. as listed by the key directory or checked
        out of band). Raises UntrustedIdentity if another key is pinned already."""
        pinned = self._identities.setdefault(device_id, identity_key)
        if pinned != identity_key:
            raise UntrustedIdentity(f"device {device_id} changed its identity key")

    async def encrypt(
        self, device_id: int, plaintext: bytes, bundle: PeerBundle | None = None
    ) -> bytes:
        """Encrypt `plaintext` for one peer device; returns the envelope.

        With no session yet, `bundle` (claimed from the key directory) starts one by X3DH.
        Raises NoSession without session nor bundle, UntrustedIdentity if the bundle's identity
        key is not the one pinned for the device, E2EError if the bundle's signature fails.
        """
        sessions = self._sessions.get(device_id)
        if sessions:
            session = sessions[0]
            message = await session.ratchet.encrypt_message(plaintext, session.associated_data)
            return _frame(session.initiation, message)
        if bundle is None:
            raise NoSession(f"no session with device {device_id}: claim its bundle first")
        if bundle.device_id != device_id:
            raise E2EError("the bundle is for another device")
        self.trust(device_id, bundle.identity_key)
        pre_keys = frozenset() if bundle.one_time_prekey is None else {bundle.one_time_prekey}
        try:
            shared, associated_data, header = await self._x3dh.get_shared_secret_active(
                x3dh.Bundle(
                    identity_key=bundle.identity_key,
                    signed_pre_key=bundle.signed_prekey,
                    signed_pre_key_sig=bundle.signed_prekey_signature,
                    pre_keys=frozenset(pre_keys),
                ),
                require_pre_key=False,
            )
        except x3dh.KeyAgreementException as error:
            raise E2EError(f"key agreement with device {device_id} failed: {error}") from error
        ratchet, message = await _Ratchet.encrypt_initial_message(
            shared_secret=shared,
            recipient_ratchet_pub=bundle.signed_prekey,
            message=plaintext,
            associated_data=associated_data,
            **_RATCHET_CONFIG,
        )
        session = _Session(ratchet, associated_data, header.ephemeral_key, header)
        self._remember(device_id, session)
        return _frame(header, message)

    async def decrypt(self, device_id: int, envelope: bytes) -> bytes:
        """Decrypt an envelope sent by peer device `device_id`; returns the plaintext.

        Raises DecryptionError (malformed, tampered, replayed, or no matching session) or
        UntrustedIdentity; on any error the state is unchanged. O(s) ratchet attempts for s
        sessions with the device (at most MAX_SESSIONS_PER_DEVICE).
        """
        initiation, message = _parse(envelope)
        sessions = self._sessions.get(device_id, [])
        try:
            if initiation is not None:
                for session in sessions:
                    if session.ephemeral_key == initiation.ephemeral_key:
                        return await self._decrypt_with(device_id, session, message)
                return await self._accept(device_id, initiation, message)
            for session in sessions:
                try:
                    return await self._decrypt_with(device_id, session, message)
                except (AuthenticationFailedException, DecryptionFailedException):
                    continue
            raise DecryptionError(f"no session with device {device_id} decrypts this envelope")
        except (
            AuthenticationFailedException,
            DecryptionFailedException,
            DoSProtectionException,
            DuplicateMessageException,
            x3dh.KeyAgreementException,
        ) as error:
            raise DecryptionError(f"{type(error).__name__}: {error}") from error

    async def _decrypt_with(self, device_id: int, session: _Session, message: Any) -> bytes:
        plaintext = await session.ratchet.decrypt_message(message, session.associated_data)
        # The peer answered within this session: it has it, our X3DH header is no longer needed.
        session.initiation = None
        self._remember(device_id, session)
        return plaintext

    async def _accept(
        self, device_id: int, initiation: x3dh.Header, message: EncryptedMessage
    ) -> bytes:
        """Complete an X3DH started by the peer, then decrypt its first message."""
        pinned = self._identities.get(device_id)
        if pinned is not None and pinned != initiation.identity_key:
            raise UntrustedIdentity(f"device {device_id} changed its identity key")
        shared, associated_data, signed_prekey = await self._x3dh.get_shared_secret_passive(
            initiation, require_pre_key=False
        )
        ratchet, plaintext = await _Ratchet.decrypt_initial_message(
            shared_secret=shared,
            own_ratchet_priv=signed_prekey.priv,
            message=message,
            associated_data=associated_data,
            **_RATCHET_CONFIG,
        )
        # Only now that the message authenticated: spend the one-time prekey, keep the session.
        if initiation.pre_key is not None:
            self._x3dh.delete_pre_key(initiation.pre_key)
            self._prekey_ids.pop(initiation.pre_key, None)
        self._identities[device_id] = initiation.identity_key
        self._remember(
            device_id, _Session(ratchet, associated_data, initiation.ephemeral_key, None)
        )
        return plaintext

    def _remember(self, device_id: int, session: _Session) -> None:
        """Make `session` the device's current one (front of the list), keeping a few older."""
        others = [s for s in self._sessions.get(device_id, []) if s is not session]
        self._sessions[device_id] = [session, *others][:MAX_SESSIONS_PER_DEVICE]

    # Serialisation

    def to_bytes(self) -> bytes:
        """The whole state (private keys included) as bytes; `from_bytes` restores it."""
        return json.dumps(
            {
                "version": VERSION,
                "x3dh": self._x3dh.json,
                "signed_prekey_id": self._signed_prekey_id,
                "prekey_ids": {_b64e(pub): key_id for pub, key_id in self._prekey_ids.items()},
                "next_prekey_id": self._next_prekey_id,
                "sessions": {
                    str(device): [s.to_json() for s in sessions]
                    for device, sessions in self._sessions.items()
                },
                "identities": {str(d): _b64e(k) for d, k in self._identities.items()},
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> DeviceCrypto:
        """Restore a state saved by `to_bytes`. Raises E2EError if it is not one."""
        try:
            data = json.loads(raw)
            if data.get("version") != VERSION:
                raise E2EError(f"unknown state version {data.get('version')!r}")
            state, _ = _X3DHState.from_json(data["x3dh"], **_X3DH_CONFIG)
            return cls(
                state,
                signed_prekey_id=int(data["signed_prekey_id"]),
                prekey_ids={_b64d(p): int(k) for p, k in data["prekey_ids"].items()},
                next_prekey_id=int(data["next_prekey_id"]),
                sessions={
                    int(device): [_Session.from_json(s) for s in sessions]
                    for device, sessions in data["sessions"].items()
                },
                identities={int(d): _b64d(k) for d, k in data["identities"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise E2EError(f"not a saved device state: {error}") from error


def _frame(initiation: x3dh.Header | None, message: EncryptedMessage) -> bytes:
    parts = [bytes([VERSION, _KIND_MESSAGE if initiation is None else _KIND_INITIATION])]
    if initiation is not None:
        parts += [initiation.identity_key, initiation.ephemeral_key, initiation.signed_pre_key]
        parts.append(b"\x00" if initiation.pre_key is None else b"\x01" + initiation.pre_key)
    header = message.header
    parts += [
        header.ratchet_pub,
        _COUNTERS.pack(header.previous_sending_chain_length, header.sending_chain_length),
        message.ciphertext,
    ]
    return b"".join(parts)


def _parse(envelope: bytes) -> tuple[x3dh.Header | None, EncryptedMessage]:
    """Split an envelope into its X3DH header (if any) and ratchet message; O(len)."""
    view = memoryview(envelope)

    def take(size: int) -> bytes:
        nonlocal view
        if len(view) < size:
            raise DecryptionError("truncated envelope")
        chunk, view = bytes(view[:size]), view[size:]
        return chunk

    version, kind = take(2)
    if version != VERSION or kind not in (_KIND_MESSAGE, _KIND_INITIATION):
        raise DecryptionError(f"unknown envelope version {version} or kind {kind}")
    initiation = None
    if kind == _KIND_INITIATION:
        identity, ephemeral, signed = take(KEY_SIZE), take(KEY_SIZE), take(KEY_SIZE)
        has_one_time = take(1)
        if has_one_time not in (b"\x00", b"\x01"):
            raise DecryptionError("malformed X3DH header")
        one_time = take(KEY_SIZE) if has_one_time == b"\x01" else None
        initiation = x3dh.Header(identity, ephemeral, signed, one_time)
    ratchet_pub = take(KEY_SIZE)
    previous, number = _COUNTERS.unpack(take(_COUNTERS.size))
    ciphertext = bytes(view)
    if not ciphertext:
        raise DecryptionError("empty ciphertext")
    return initiation, EncryptedMessage(RatchetHeader(ratchet_pub, previous, number), ciphertext)


def _b64e(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _b64d(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
