"""The key directory of end-to-end chats (Signal's X3DH prekey server).

Each E2E-capable device publishes, once, its public identity key, then a signed prekey (replaced
from time to time) and batches of one-time prekeys. A sender who has no session with a device
claims that device's bundle: identity key, signed prekey and signature, and one one-time prekey,
which the claim deletes so that no two initiators ever get the same one. When a device runs out,
bundles come without a one-time prekey (X3DH still works, with less forward secrecy for the
first message) until the device replenishes; `GET /keys/devices/{id}` tells it how many are left.

The server holds public keys only. It checks what it can check without private keys: sizes, and
the signed prekey's XEdDSA signature by the identity key over `signed_prekey_message(key)`, so a
bundle every initiator would reject is refused at upload instead. It cannot tell whether a key is
really the device's: that is what comparing safety numbers between users is for.

HTTP (mounted under `/api/<slug>`):
- `PUT  /keys/devices/{device_id}`: publish identity key, signed prekey, one-time prekeys (owner).
- `POST /keys/devices/{device_id}/one-time-prekeys`: add one-time prekeys (owner).
- `GET  /keys/devices/{device_id}`: the device's key status and one-time prekeys left (owner).
- `GET  /keys/users/{user_id}`: the user's E2E devices and identity keys (consumes nothing).
- `POST /keys/users/{user_id}/bundles`: claim one bundle per device (consumes one-time prekeys).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Annotated, Any

import xeddsa
from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, BeforeValidator, Field, PlainSerializer, WithJsonSchema
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging.errors import DeviceNotFound
from casebook.engines.messaging.models import (
    MessagingDevice,
    MessagingOneTimePrekey,
    MessagingSignedPrekey,
)
from casebook.platform.auth.deps import CurrentPrincipal
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession, utcnow
from casebook.platform.errors import PROBLEM_JSON, Conflict, Gone, InvalidInput
from casebook.platform.ids import IdStr
from casebook.platform.ratelimit import RateLimit, enforce

PUBLIC_KEY_SIZE = 32
"""Curve25519 public keys (identity, signed and one-time prekeys), RFC 7748 encoding."""
SIGNATURE_SIZE = 64
"""XEdDSA (Ed25519-compatible) signatures."""
MAX_ONE_TIME_PREKEYS = 1000
"""One-time prekeys a device may hold on the server at once."""
MAX_PREKEYS_PER_UPLOAD = 200
MAX_DEVICES_PER_CLAIM = 100
CLAIM_LIMIT = RateLimit.per_minute(600, burst=200)
"""Claims per caller: claiming drains a victim's one-time prekeys, so it is limited per user."""
KEY_TYPE_CURVE25519 = b"\x05"
"""Signal's type byte for Curve25519 keys, prefixed to a key wherever it is signed or hashed."""


def signed_prekey_message(public_key: bytes) -> bytes:
    """The bytes an identity key signs to vouch for a signed prekey: the type byte + the key.
    The client library (`casebook.clients.messaging.e2e`) encodes keys the same way."""
    return KEY_TYPE_CURVE25519 + public_key


def _base64_of_size(size: int) -> Any:
    def decode(value: Any) -> bytes:
        if isinstance(value, bytes):
            raw = value
        elif isinstance(value, str):
            try:
                raw = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("not valid base64") from None
        else:
            raise ValueError("a key is a base64 string")
        if len(raw) != size:
            raise ValueError(f"must decode to {size} bytes, not {len(raw)}")
        return raw

    return decode


def _encode(value: bytes) -> str:
    return base64.b64encode(value).decode()


PublicKey = Annotated[
    bytes,
    BeforeValidator(_base64_of_size(PUBLIC_KEY_SIZE)),
    PlainSerializer(_encode, return_type=str),
    WithJsonSchema({"type": "string", "contentEncoding": "base64", "description": "32 bytes"}),
]
Signature = Annotated[
    bytes,
    BeforeValidator(_base64_of_size(SIGNATURE_SIZE)),
    PlainSerializer(_encode, return_type=str),
    WithJsonSchema({"type": "string", "contentEncoding": "base64", "description": "64 bytes"}),
]
KeyId = Annotated[int, Field(ge=0, le=2**31 - 1)]


class SignedPrekeyIn(BaseModel):
    key_id: KeyId
    public_key: PublicKey
    signature: Signature


class OneTimePrekeyIn(BaseModel):
    key_id: KeyId
    public_key: PublicKey


class KeysPublish(BaseModel):
    identity_key: PublicKey
    signed_prekey: SignedPrekeyIn
    one_time_prekeys: list[OneTimePrekeyIn] = Field(
        default_factory=list, max_length=MAX_PREKEYS_PER_UPLOAD
    )


class OneTimePrekeysAdd(BaseModel):
    one_time_prekeys: list[OneTimePrekeyIn] = Field(min_length=1, max_length=MAX_PREKEYS_PER_UPLOAD)


class BundleClaim(BaseModel):
    device_ids: list[IdStr] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_DEVICES_PER_CLAIM,
        description="Claim only these devices' bundles (default: every E2E device of the user).",
    )


class KeyStatus(BaseModel):
    device_id: IdStr
    identity_key: PublicKey | None
    signed_prekey_id: int | None
    one_time_prekeys: int
    """How many one-time prekeys the server still holds for the device."""


class KeyDevice(BaseModel):
    device_id: IdStr
    identity_key: PublicKey


class KeyDevices(BaseModel):
    user_id: IdStr
    devices: list[KeyDevice]


class SignedPrekeyOut(BaseModel):
    key_id: int
    public_key: PublicKey
    signature: Signature


class OneTimePrekeyOut(BaseModel):
    key_id: int
    public_key: PublicKey


class Bundle(BaseModel):
    device_id: IdStr
    identity_key: PublicKey
    signed_prekey: SignedPrekeyOut
    one_time_prekey: OneTimePrekeyOut | None
    """Null when the device has run out; X3DH then proceeds without one."""


class Bundles(BaseModel):
    user_id: IdStr
    devices: list[Bundle]


class DeviceRevoked(Gone):
    type_ = "messaging/device-revoked"
    title = "The device was revoked"


class IdentityKeyChanged(Conflict):
    type_ = "messaging/identity-key-changed"
    title = "The device already has another identity key"


class PrekeyIdTaken(Conflict):
    type_ = "messaging/prekey-id-taken"
    title = "A prekey with this id and another key exists"


class BadSignature(InvalidInput):
    type_ = "messaging/bad-prekey-signature"
    title = "The signed prekey's signature does not verify with the identity key"


class TooManyPrekeys(Conflict):
    type_ = "messaging/too-many-prekeys"
    title = "The device would hold more one-time prekeys than allowed"


@dataclass(frozen=True)
class ClaimedBundle:
    device_id: int
    identity_key: bytes
    signed_prekey_id: int
    signed_prekey: bytes
    signature: bytes
    one_time_prekey_id: int | None
    one_time_prekey: bytes | None


def verify_signed_prekey(identity_key: bytes, public_key: bytes, signature: bytes) -> bool:
    """Whether `signature` is the XEdDSA signature of `signed_prekey_message(public_key)` by the
    Curve25519 `identity_key` (sign bit cleared, as XEdDSA signers force it)."""
    ed25519_pub = xeddsa.curve25519_pub_to_ed25519_pub(identity_key, False)
    return xeddsa.ed25519_verify(signature, ed25519_pub, signed_prekey_message(public_key))


async def _own_device(
    session: AsyncSession, system: str, user_id: int, device_id: int, *, lock: bool
) -> MessagingDevice:
    """The caller's device; with `lock`, row-locked until commit (serialises publishes to one
    device on PostgreSQL; SQLite write sessions are serial already). Another user's device is
    404, like a missing one, so device ids reveal nothing."""
    query = select(MessagingDevice).where(
        MessagingDevice.id == device_id,
        MessagingDevice.system == system,
        MessagingDevice.user_id == user_id,
    )
    device = await session.scalar(query.with_for_update() if lock else query)
    if device is None:
        raise DeviceNotFound(f"device {device_id} not found")
    if device.revoked_at is not None:
        raise DeviceRevoked(f"device {device_id} was revoked")
    return device


async def _add_one_time_prekeys(
    session: AsyncSession, device_id: int, prekeys: list[OneTimePrekeyIn]
) -> None:
    """Insert `prekeys`; re-sending a stored (id, key) pair is a no-op so uploads can be retried.
    O(n) for n prekeys, with one read of the ids that already exist."""
    wanted = {p.key_id: p.public_key for p in prekeys}
    if len(wanted) != len(prekeys):
        raise InvalidInput("one-time prekey ids must be distinct within an upload")
    rows = await session.execute(
        select(MessagingOneTimePrekey.key_id, MessagingOneTimePrekey.public_key).where(
            MessagingOneTimePrekey.device_id == device_id,
            MessagingOneTimePrekey.key_id.in_(list(wanted)),
        )
    )
    existing = {key_id: public_key for key_id, public_key in rows}
    for key_id, public_key in existing.items():
        if wanted[key_id] != public_key:
            raise PrekeyIdTaken(f"one-time prekey {key_id} exists with another key")
    fresh = [(k, v) for k, v in wanted.items() if k not in existing]
    if not fresh:
        return
    held = await _count_one_time(session, device_id)
    if held + len(fresh) > MAX_ONE_TIME_PREKEYS:
        raise TooManyPrekeys(
            f"the device holds {held} one-time prekeys; at most {MAX_ONE_TIME_PREKEYS} allowed"
        )
    session.add_all(
        MessagingOneTimePrekey(device_id=device_id, key_id=k, public_key=v) for k, v in fresh
    )
    await session.flush()


async def _count_one_time(session: AsyncSession, device_id: int) -> int:
    count = await session.scalar(
        select(func.count()).where(MessagingOneTimePrekey.device_id == device_id)
    )
    return int(count or 0)


async def key_status(session: AsyncSession, system: str, user_id: int, device_id: int) -> KeyStatus:
    """The device's published identity key, current signed prekey id and one-time prekeys left.
    Raises DeviceNotFound / DeviceRevoked."""
    return await _status(
        session, await _own_device(session, system, user_id, device_id, lock=False)
    )


async def _status(session: AsyncSession, device: MessagingDevice) -> KeyStatus:
    device_id = device.id
    signed_id = await session.scalar(
        select(func.max(MessagingSignedPrekey.key_id)).where(
            MessagingSignedPrekey.device_id == device_id
        )
    )
    return KeyStatus(
        device_id=device.id,
        identity_key=device.identity_key,
        signed_prekey_id=signed_id,
        one_time_prekeys=await _count_one_time(session, device_id),
    )


async def publish_keys(
    session: AsyncSession, system: str, user_id: int, device_id: int, keys: KeysPublish
) -> KeyStatus:
    """Publish a device's keys. The identity key is set once (a new identity is a new device:
    another key raises IdentityKeyChanged); the signed prekey replaces the previous one; the
    one-time prekeys are added. Raises BadSignature, PrekeyIdTaken, TooManyPrekeys,
    DeviceNotFound, DeviceRevoked; on any error nothing changes (one transaction)."""
    device = await _own_device(session, system, user_id, device_id, lock=True)
    if device.identity_key is not None and device.identity_key != keys.identity_key:
        raise IdentityKeyChanged(f"device {device_id} already has another identity key")
    spk = keys.signed_prekey
    if not verify_signed_prekey(keys.identity_key, spk.public_key, spk.signature):
        raise BadSignature("the signed prekey's signature does not verify")
    if device.identity_key is None:
        await session.execute(
            update(MessagingDevice)
            .where(MessagingDevice.id == device_id)
            .values(identity_key=keys.identity_key)
        )
    current = await session.get(MessagingSignedPrekey, (device_id, spk.key_id))
    if current is not None and current.public_key != spk.public_key:
        raise PrekeyIdTaken(f"signed prekey {spk.key_id} exists with another key")
    await session.execute(
        delete(MessagingSignedPrekey).where(
            MessagingSignedPrekey.device_id == device_id,
            MessagingSignedPrekey.key_id != spk.key_id,
        )
    )
    if current is None:
        session.add(
            MessagingSignedPrekey(
                device_id=device_id,
                key_id=spk.key_id,
                public_key=spk.public_key,
                signature=spk.signature,
                created_at=utcnow(),
            )
        )
        await session.flush()
    await _add_one_time_prekeys(session, device_id, keys.one_time_prekeys)
    await session.refresh(device)
    return await _status(session, device)


async def add_one_time_prekeys(
    session: AsyncSession, system: str, user_id: int, device_id: int, prekeys: list[OneTimePrekeyIn]
) -> KeyStatus:
    """Replenish a device's one-time prekeys. Raises PrekeyIdTaken, TooManyPrekeys,
    DeviceNotFound, DeviceRevoked, and Conflict if the device has not published its keys."""
    device = await _own_device(session, system, user_id, device_id, lock=True)
    if device.identity_key is None:
        raise Conflict("publish the device's identity key and signed prekey first")
    await _add_one_time_prekeys(session, device_id, prekeys)
    return await _status(session, device)


def _live_e2e_devices(system: str, user_id: int) -> Any:
    return select(MessagingDevice.id, MessagingDevice.identity_key).where(
        MessagingDevice.system == system,
        MessagingDevice.user_id == user_id,
        MessagingDevice.revoked_at.is_(None),
        MessagingDevice.identity_key.is_not(None),
    )


async def key_devices(session: AsyncSession, system: str, user_id: int) -> list[KeyDevice]:
    """A user's live devices that take part in E2E chats, with their identity keys, in id order
    (a sender compares this with its sessions to see which devices it must claim). Consumes
    nothing. O(d) for d devices, on the (user_id, system) index."""
    rows = await session.execute(
        _live_e2e_devices(system, user_id)
        .join(MessagingSignedPrekey, MessagingSignedPrekey.device_id == MessagingDevice.id)
        .distinct()
        .order_by(MessagingDevice.id)
    )
    return [KeyDevice(device_id=d, identity_key=k) for d, k in rows]


async def claim_bundles(
    session: AsyncSession, system: str, user_id: int, device_ids: list[int] | None
) -> list[ClaimedBundle]:
    """One bundle per live E2E device of `user_id` (only `device_ids` if given; unknown ids are
    left out), each taking one one-time prekey out of the directory.

    The one-time prekey is removed by a single `DELETE … WHERE key_id = (SELECT … LIMIT 1 FOR
    UPDATE SKIP LOCKED) RETURNING`: on PostgreSQL a concurrent claimer skips the row another
    transaction is taking and gets the next, so two claimers never share a key; on SQLite the
    writer lock serialises claims. O(d log k) for d devices with k prekeys each.
    """
    query = (
        select(
            MessagingDevice.id,
            MessagingDevice.identity_key,
            MessagingSignedPrekey.key_id,
            MessagingSignedPrekey.public_key,
            MessagingSignedPrekey.signature,
        )
        .join(MessagingSignedPrekey, MessagingSignedPrekey.device_id == MessagingDevice.id)
        .where(
            MessagingDevice.system == system,
            MessagingDevice.user_id == user_id,
            MessagingDevice.revoked_at.is_(None),
            MessagingDevice.identity_key.is_not(None),
        )
        .order_by(MessagingDevice.id, MessagingSignedPrekey.key_id.desc())
    )
    if device_ids is not None:
        query = query.where(MessagingDevice.id.in_(device_ids))
    newest: dict[int, tuple[bytes, int, bytes, bytes]] = {}
    for device_id, identity_key, spk_id, spk, signature in await session.execute(query):
        # Rows come newest signed prekey first; a publish leaves one, a race may leave two.
        if identity_key is not None:
            newest.setdefault(device_id, (identity_key, spk_id, spk, signature))
    bundles = []
    for device_id, (identity_key, spk_id, spk, signature) in newest.items():
        pick = (
            select(MessagingOneTimePrekey.key_id)
            .where(MessagingOneTimePrekey.device_id == device_id)
            .order_by(MessagingOneTimePrekey.key_id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        taken = (
            await session.execute(
                delete(MessagingOneTimePrekey)
                .where(
                    MessagingOneTimePrekey.device_id == device_id,
                    MessagingOneTimePrekey.key_id == pick,
                )
                .returning(MessagingOneTimePrekey.key_id, MessagingOneTimePrekey.public_key)
            )
        ).first()
        bundles.append(
            ClaimedBundle(
                device_id=device_id,
                identity_key=identity_key,
                signed_prekey_id=spk_id,
                signed_prekey=spk,
                signature=signature,
                one_time_prekey_id=None if taken is None else taken[0],
                one_time_prekey=None if taken is None else taken[1],
            )
        )
    return bundles


def _bundle_out(bundle: ClaimedBundle) -> Bundle:
    one_time = None
    if bundle.one_time_prekey_id is not None and bundle.one_time_prekey is not None:
        one_time = OneTimePrekeyOut(
            key_id=bundle.one_time_prekey_id, public_key=bundle.one_time_prekey
        )
    return Bundle(
        device_id=bundle.device_id,
        identity_key=bundle.identity_key,
        signed_prekey=SignedPrekeyOut(
            key_id=bundle.signed_prekey_id,
            public_key=bundle.signed_prekey,
            signature=bundle.signature,
        ),
        one_time_prekey=one_time,
    )


_MEANINGS = {
    401: "Missing or invalid credentials",
    404: "No such device of yours",
    409: "The key conflicts with what the device already published",
    410: "The device was revoked",
    422: "Malformed keys (wrong size, bad base64) or a bad signature",
    429: "Too many claims; see Retry-After",
}


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": _MEANINGS[status], "content": {PROBLEM_JSON: {}}}
        for status in statuses
    }


DeviceId = Annotated[int, Path(ge=1, le=2**63 - 1)]
UserId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def router(system: str) -> APIRouter:
    """The key directory's endpoints for `system` (see the module docstring)."""
    api = APIRouter(prefix="/keys")

    @api.put(
        "/devices/{device_id}",
        response_model=KeyStatus,
        responses=_problems(401, 404, 409, 410, 422),
    )
    async def publish(
        device_id: DeviceId, body: KeysPublish, principal: CurrentPrincipal, session: WriteSession
    ) -> KeyStatus:
        """Publish one of your devices' identity key, signed prekey and one-time prekeys."""
        return await publish_keys(session, system, principal.user_id, device_id, body)

    @api.post(
        "/devices/{device_id}/one-time-prekeys",
        response_model=KeyStatus,
        responses=_problems(401, 404, 409, 410, 422),
    )
    async def replenish(
        device_id: DeviceId,
        body: OneTimePrekeysAdd,
        principal: CurrentPrincipal,
        session: WriteSession,
    ) -> KeyStatus:
        """Add one-time prekeys to one of your devices (when the count runs low)."""
        return await add_one_time_prekeys(
            session, system, principal.user_id, device_id, body.one_time_prekeys
        )

    @api.get(
        "/devices/{device_id}", response_model=KeyStatus, responses=_problems(401, 404, 410, 422)
    )
    async def status(
        device_id: DeviceId, principal: CurrentPrincipal, session: Session
    ) -> KeyStatus:
        """Your device's published keys and how many one-time prekeys the server still holds."""
        return await key_status(session, system, principal.user_id, device_id)

    @api.get("/users/{user_id}", response_model=KeyDevices, responses=_problems(401, 422))
    async def devices(user_id: UserId, principal: CurrentPrincipal, session: Session) -> KeyDevices:
        """A user's E2E devices and their identity keys; consumes no prekey."""
        return KeyDevices(user_id=user_id, devices=await key_devices(session, system, user_id))

    @api.post(
        "/users/{user_id}/bundles",
        response_model=Bundles,
        responses=_problems(401, 422, 429),
    )
    async def claim(
        user_id: UserId,
        body: BundleClaim,
        principal: CurrentPrincipal,
        session: WriteSession,
        platform: Annotated[Platform, Depends(get_platform)],
    ) -> Bundles:
        """Claim a bundle per device of the user to start sessions with them; each bundle takes
        one one-time prekey out of the directory (null when the device has none left)."""
        await enforce(platform, f"messaging:{system}:key-claims:{principal.user_id}", CLAIM_LIMIT)
        claimed = await claim_bundles(session, system, user_id, body.device_ids)
        return Bundles(user_id=user_id, devices=[_bundle_out(b) for b in claimed])

    return api
