"""Web Push notifications for devices that are not connected (RFC 8030 delivery, RFC 8291
message encryption with aes128gcm, RFC 8292 VAPID sender identification), sent with `pywebpush`.

Keys: one VAPID key pair per install — `settings.messaging_vapid_private_key` when set (the same
in every process of a cluster), otherwise generated on first use and kept in
`<var_dir>/messaging-vapid.pem` (created atomically, so two processes racing keep one key).
Browsers subscribe with its public key (`GET /push/vapid-public-key`) and the client stores the
subscription per device (`PUT /devices/{id}/push`, removed by `DELETE`).

Flow, per committed batch of messages:

1. the writer's commit callback (`on_commit`) adds the batch's new messages (edits, deletes and
   system events notify nobody) to the process's pending notes — O(1) work in the writer's
   task — and ONE fan-out job takes all the notes of the next `FANOUT_WINDOW` (100 ms): a busy
   writer commits a hundred small batches a second, and a job each (a session and a query
   each, a row each in the PostgreSQL job table) cost more than the messages. Pending notes
   are flushed at shutdown; a crash loses at most their window of pushes, as it always lost
   those committed but not yet enqueued (the messages are durable and reach the devices when
   they connect);
2. the fan-out job finds, with one query, the devices with a push subscription of the batch's
   conversations' members, minus the sender, members who muted the conversation
   (`muted_until` in the future) and revoked devices; drops devices that are online (their
   presence key, presence.py, says the socket delivers) and enqueues one send job per (device,
   message), keyed so a retried fan-out does not double them — the query walks the members of
   the conversations (primary key) and their devices (index on user), O(members); the Python
   work and the jobs are O(subscribed offline devices * messages);
3. the send job re-reads the device (a subscription removed meanwhile is not used), encrypts the
   payload for it and POSTs it to the push service with a VAPID JWT. 201 is done; 404/410 mean
   the subscription is gone and it is removed (only if it is still the one used); 429 and 5xx
   raise so the job is retried with backoff; other answers are logged and dropped.

The payload names the conversation, the message's seq, kind and sender, and a preview of its
text — never anything of an end-to-end message but its kind ("encrypted"). Each push carries
`Topic: c<conversation id>` so a push service holding several undelivered pushes for one
conversation keeps only the newest.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from ipaddress import ip_address
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast
from urllib.parse import urlsplit

import aiohttp
import orjson
import structlog
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import APIRouter, Depends, Response
from py_vapid import Vapid
from pydantic import BaseModel, Field, field_validator
from pywebpush import WebPusher
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging import content, presence, service
from casebook.engines.messaging.models import MessagingDevice, MessagingMember
from casebook.engines.messaging.runtime import Messenger, messenger
from casebook.platform.auth.deps import CurrentPrincipal
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession, utcnow
from casebook.platform.errors import PROBLEM_JSON, InvalidInput
from casebook.platform.ids import IdStr

log = structlog.get_logger("casebook.messaging.push")

VAPID_FILE = "messaging-vapid.pem"
VAPID_STATE_KEY = "messaging.push.vapid"
VAPID_TOKEN_SECONDS = 12 * 3600
"""Lifetime of a VAPID JWT (RFC 8292 allows at most 24 h)."""
PREVIEW_CHARS = 120
MAX_ENDPOINT_LENGTH = 1024
MUTED_FOREVER = datetime(9999, 12, 31, tzinfo=UTC)
"""`muted_until` of a conversation muted with no end."""
SENT_STATUSES = frozenset({200, 201, 202})
GONE_STATUSES = frozenset({404, 410})


class InvalidSubscription(InvalidInput):
    type_ = "messaging/invalid-push-subscription"
    title = "The push subscription is not valid"


class PushRetryLater(Exception):
    """The push service asked us to come back (429, 5xx) or could not be reached: the send job
    fails this attempt and the queue retries it with backoff."""


@dataclass(frozen=True)
class PushConfig:
    subject: str = "mailto:push@casebook.example"
    """The VAPID `sub` claim: how a push service operator reaches us (mailto: or https:)."""
    ttl_seconds: int = 24 * 3600
    """How long a push service keeps an undelivered push."""
    timeout_seconds: float = 10.0
    allow_insecure_endpoints: bool = False
    """Accept `http://` endpoints on loopback addresses (the local push service of tests and
    development). Real push services are HTTPS; anything else would let a client point our
    server at arbitrary hosts."""


def _config_key(system: str) -> str:
    return f"messaging.push.config:{system}"


def push_config(platform: Platform, system: str) -> PushConfig:
    current = platform.state.get(_config_key(system))
    return current if isinstance(current, PushConfig) else PushConfig()


def configure_push(platform: Platform, system: str, **changes: Any) -> PushConfig:
    """Change some push settings of `system` in this process; returns the new settings."""
    updated = replace(push_config(platform, system), **changes)
    platform.state[_config_key(system)] = updated
    return updated


def fanout_job(system: str) -> str:
    return f"messaging.{system}.push-fanout"


def send_job(system: str) -> str:
    return f"messaging.{system}.push-send"


# VAPID keys


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _load_or_create_pem(path: Path) -> bytes:
    """The PEM at `path`, generating it first if absent. Creation is atomic and exclusive: the
    key is written to a temporary file and hard-linked into place, which fails if another
    process got there first — then its key is the one read."""
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = Vapid()
    fresh.generate_keys()
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-vapid-")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(fresh.private_pem())
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o600)
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        os.unlink(temp)
    return path.read_bytes()


def vapid_key(platform: Platform) -> Vapid:
    """This install's VAPID key (see the module docstring); loaded once per process."""
    cached = platform.state.get(VAPID_STATE_KEY)
    if isinstance(cached, Vapid):
        return cached
    configured = platform.settings.messaging_vapid_private_key
    if configured is not None:
        pem = configured.get_secret_value().strip().encode()
    else:
        pem = _load_or_create_pem(platform.settings.var_dir / VAPID_FILE)
    key = Vapid.from_pem(pem)
    platform.state[VAPID_STATE_KEY] = key
    return key


def vapid_public_key(platform: Platform) -> str:
    """The applicationServerKey browsers subscribe with: base64url of the uncompressed P-256
    point (65 bytes)."""
    public = cast(ec.EllipticCurvePublicKey, vapid_key(platform).public_key)
    return _b64url(public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))


# Subscriptions


class SubscriptionKeys(BaseModel):
    p256dh: str = Field(max_length=128)
    """The browser's P-256 public key, base64url (65 bytes, uncompressed point)."""
    auth: str = Field(max_length=64)
    """The authentication secret, base64url (16 bytes)."""

    @field_validator("p256dh")
    @classmethod
    def _point(cls, value: str) -> str:
        try:
            raw = _b64url_decode(value)
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        except ValueError:
            raise ValueError("p256dh is not a base64url P-256 public key") from None
        if len(raw) != 65:
            raise ValueError("p256dh is an uncompressed P-256 point (65 bytes)")
        return value

    @field_validator("auth")
    @classmethod
    def _secret(cls, value: str) -> str:
        try:
            raw = _b64url_decode(value)
        except ValueError:
            raise ValueError("auth is base64url") from None
        if len(raw) != 16:
            raise ValueError("auth is a 16-byte secret")
        return value


class SubscriptionIn(BaseModel):
    """A browser's `PushSubscription.toJSON()`."""

    endpoint: str = Field(min_length=8, max_length=MAX_ENDPOINT_LENGTH)
    keys: SubscriptionKeys
    expirationTime: int | None = None  # the browser's own field name


class SubscriptionOut(BaseModel):
    device_id: IdStr
    endpoint: str


def check_endpoint(endpoint: str, config: PushConfig) -> None:
    """Raise InvalidSubscription unless `endpoint` is an https URL (or, when allowed, http on a
    loopback address)."""
    parts = urlsplit(endpoint)
    if not parts.hostname or parts.username or parts.password:
        raise InvalidSubscription("The endpoint is an absolute URL without credentials.")
    if parts.scheme == "https":
        return
    loopback = False
    with contextlib.suppress(ValueError):
        loopback = ip_address(parts.hostname).is_loopback
    if parts.scheme == "http" and loopback and config.allow_insecure_endpoints:
        return
    raise InvalidSubscription("Push endpoints are https URLs.")


async def set_subscription(
    session: AsyncSession, system: str, user_id: int, device_id: int, subscription: SubscriptionIn
) -> MessagingDevice:
    """Store the device's push subscription (replacing any). DeviceNotFound for a device that is
    not the user's live one."""
    device = await service.live_device(session, system, user_id, device_id)
    device.push_subscription = {
        "endpoint": subscription.endpoint,
        "keys": {"p256dh": subscription.keys.p256dh, "auth": subscription.keys.auth},
    }
    return device


async def remove_subscription(
    session: AsyncSession, system: str, user_id: int, device_id: int
) -> None:
    device = await service.live_device(session, system, user_id, device_id)
    device.push_subscription = None


# Mute


class MuteIn(BaseModel):
    muted: bool
    until: datetime | None = None
    """When the mute ends; omitted with `muted: true` means until unmuted."""


class MuteOut(BaseModel):
    conversation_id: IdStr
    muted_until: datetime | None


async def set_mute(
    session: AsyncSession, system: str, user_id: int, conversation_id: int, body: MuteIn
) -> datetime | None:
    """Mute or unmute a conversation for the user (no push for its messages while muted).
    ConversationNotFound unless a member; InvalidInput for an end in the past."""
    _, member = await service.membership(session, system, conversation_id, user_id)
    until: datetime | None = None
    if body.muted:
        if body.until is not None and body.until.tzinfo is None:
            raise InvalidInput("`until` needs a time zone.")
        if body.until is not None and body.until <= utcnow():
            raise InvalidInput("`until` is in the past.")
        until = body.until.astimezone(UTC) if body.until is not None else MUTED_FOREVER
    member.muted_until = until
    return until


# Sending


@dataclass
class PushSender:
    """Signs and sends Web Push requests over one shared aiohttp connection pool."""

    platform: Platform
    system: str
    _session: aiohttp.ClientSession | None = None
    _closed: bool = False

    def _http(self) -> aiohttp.ClientSession:
        if self._closed:
            # The system is stopping while a send job still runs: fail this attempt (the
            # queue retries it, on another process with Redis) rather than leak a new pool.
            raise PushRetryLater("the push sender is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def send(
        self,
        subscription: dict[str, Any],
        payload: dict[str, Any],
        topic: str,
        urgency: str = "normal",
    ) -> int:
        """Encrypt `payload` for `subscription` (RFC 8291 aes128gcm) and POST it with a VAPID
        JWT; returns the push service's HTTP status. Raises PushRetryLater when it cannot be
        reached."""
        config = push_config(self.platform, self.system)
        endpoint = str(subscription["endpoint"])
        parts = urlsplit(endpoint)
        claims: dict[str, str | int] = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": int(time.time()) + VAPID_TOKEN_SECONDS,
            "sub": config.subject,
        }
        headers = vapid_key(self.platform).sign(claims)
        headers.update({"Topic": topic, "Urgency": urgency})
        pusher = WebPusher(subscription, aiohttp_session=self._http())
        try:
            response = await pusher.send_async(
                orjson.dumps(payload),
                headers,
                ttl=config.ttl_seconds,
                content_encoding="aes128gcm",
                timeout=aiohttp.ClientTimeout(total=config.timeout_seconds),
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PushRetryLater(f"push service unreachable: {exc}") from exc
        assert isinstance(response, aiohttp.ClientResponse)
        return response.status

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None


_Holder = TypeVar("_Holder", "PushSender", "_PendingNotes")


def _per_system(platform: Platform, system: str, kind: type[_Holder]) -> _Holder:
    """The process's one `kind` object for `system` (made on first use)."""
    key = f"messaging.push.{kind.__name__}:{system}"
    existing = platform.state.get(key)
    if isinstance(existing, kind):
        return existing
    created = kind(platform, system)
    platform.state[key] = created
    return created


def sender(platform: Platform, system: str) -> PushSender:
    return _per_system(platform, system, PushSender)


def notification(message: dict[str, Any], system: str) -> dict[str, Any]:
    """The push payload of a message view: who wrote in which conversation, and a preview of
    plain text (nothing of an end-to-end message)."""
    body = message.get("body")
    preview = None
    if isinstance(body, str) and message.get("kind") != "encrypted":
        preview = body if len(body) <= PREVIEW_CHARS else body[: PREVIEW_CHARS - 1] + "…"
    return {
        "type": "message",
        "system": system,
        "conversation_id": str(message["conversation_id"]),
        "seq": message["seq"],
        "message_id": str(message["id"]),
        "sender_id": str(message["sender_id"]),
        "kind": message.get("kind"),
        "preview": preview,
    }


FANOUT_WINDOW = 0.1
"""Seconds the notes of consecutive writer batches wait to share one fan-out job."""


class _PendingNotes:
    """The notes committed in this process and not yet in a fan-out job: the first of a window
    starts a timer, and the timer's flush enqueues them all as one job."""

    def __init__(self, platform: Platform, system: str) -> None:
        self.platform = platform
        self.system = system
        self.notes: list[dict[str, Any]] = []
        self.timer: asyncio.Task[None] | None = None

    def add(self, notes: list[dict[str, Any]]) -> None:
        self.notes.extend(notes)
        if self.timer is None:
            self.timer = asyncio.get_running_loop().create_task(
                self._flush_later(), name=f"push-fanout-window:{self.system}"
            )

    async def _flush_later(self) -> None:
        await asyncio.sleep(FANOUT_WINDOW)
        self.timer = None
        await self.flush()

    async def flush(self) -> None:
        notes, self.notes = self.notes, []
        if notes:
            try:
                await self.platform.jobs.enqueue(fanout_job(self.system), {"notifications": notes})
            except Exception:
                log.exception("queueing a push fan-out failed", system=self.system)

    async def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        await self.flush()


async def on_commit(state: Messenger, events: Sequence[dict[str, Any]]) -> None:
    """The writer's commit callback: the batch's new content messages join the pending notes
    (one fan-out job per `FANOUT_WINDOW`)."""
    notes = [
        notification(event["message"], state.system)
        for event in events
        if event.get("type") == "message" and event["message"].get("kind") in content.CONTENT_KINDS
    ]
    if notes:
        _per_system(state.platform, state.system, _PendingNotes).add(notes)


async def fan_out(platform: Platform, system: str, notes: Sequence[dict[str, Any]]) -> int:
    """Enqueue a send job per (offline subscribed device of a recipient, message); returns how
    many. One query for the recipients' subscribed devices of all the batch's conversations, one
    cache read per such device. Idempotent: send jobs are keyed by device and message."""
    conversation_ids = {int(note["conversation_id"]) for note in notes}
    now = utcnow()
    async with platform.db.session() as session:
        rows = (
            await session.execute(
                # No join to the conversations for their system: the notes come from this
                # system's writer, and the devices are this system's. (Without statistics
                # SQLite took `conversations.system = ?` for a selective index and walked every
                # conversation of the system per fan-out.)
                select(MessagingMember.conversation_id, MessagingDevice.id, MessagingDevice.user_id)
                .join(
                    MessagingDevice,
                    and_(
                        MessagingDevice.user_id == MessagingMember.user_id,
                        MessagingDevice.system == system,
                    ),
                )
                .where(
                    MessagingMember.conversation_id.in_(conversation_ids),
                    or_(MessagingMember.muted_until.is_(None), MessagingMember.muted_until <= now),
                    MessagingDevice.revoked_at.is_(None),
                    MessagingDevice.push_subscription.is_not(None),
                )
            )
        ).all()
    devices: dict[int, list[tuple[int, int]]] = {}
    for conversation_id, device_id, user_id in rows:
        devices.setdefault(conversation_id, []).append((device_id, user_id))
    online: dict[int, bool] = {}
    queued = 0
    for note in notes:
        for device_id, user_id in devices.get(int(note["conversation_id"]), ()):
            if str(user_id) == note["sender_id"]:
                continue
            if device_id not in online:
                online[device_id] = await presence.device_is_online(platform, system, device_id)
            if online[device_id]:
                continue
            await platform.jobs.enqueue(
                send_job(system),
                {"device_id": str(device_id), "notification": note},
                key=f"{device_id}:{note['message_id']}",
            )
            queued += 1
    return queued


async def send_to_device(
    platform: Platform,
    system: str,
    device_id: int,
    note: dict[str, Any],
    *,
    topic: str | None = None,
    urgency: str = "normal",
) -> str:
    """Send one notification to one device; returns what happened ("sent", "gone", "skipped",
    "refused"). `topic` defaults to the note's conversation (calls.py passes its own, and
    urgency "high"). Raises PushRetryLater on 429/5xx/unreachable so the job retries."""
    async with platform.db.session() as session:
        device = await session.get(MessagingDevice, device_id)
        if (
            device is None
            or device.system != system
            or device.revoked_at is not None
            or device.push_subscription is None
        ):
            return "skipped"
        subscription = dict(device.push_subscription)
    if await presence.device_is_online(platform, system, device_id):
        return "skipped"  # connected since the fan-out: the socket delivers
    status = await sender(platform, system).send(
        subscription, note, topic=topic or f"c{note['conversation_id']}", urgency=urgency
    )
    if status in SENT_STATUSES:
        return "sent"
    if status in GONE_STATUSES:
        await _forget_subscription(platform, device_id, subscription)
        return "gone"
    if status == 429 or status >= 500:
        raise PushRetryLater(f"push service answered {status}")
    log.warning("push refused", device_id=device_id, status=status)
    return "refused"


async def _forget_subscription(
    platform: Platform, device_id: int, subscription: dict[str, Any]
) -> None:
    """Remove the device's subscription if it is still `subscription` (a client that
    re-subscribed meanwhile keeps its new one)."""
    async with platform.db.session(write=True) as session:
        query = select(MessagingDevice).where(MessagingDevice.id == device_id)
        if not platform.db.is_sqlite:
            query = query.with_for_update()
        device = await session.scalar(query)
        if device is not None and device.push_subscription == subscription:
            await session.execute(
                update(MessagingDevice)
                .where(MessagingDevice.id == device_id)
                .values(push_subscription=None)
            )


def register(platform: Platform, system: str) -> None:
    """Register the push jobs and the writer's commit callback (call after runtime.start)."""

    async def run_fanout(platform: Platform, payload: dict[str, Any]) -> None:
        await fan_out(platform, system, payload["notifications"])

    async def run_send(platform: Platform, payload: dict[str, Any]) -> None:
        await send_to_device(
            platform,
            system,
            int(payload["device_id"]),
            payload["notification"],
            topic=payload.get("topic"),
            urgency=payload.get("urgency", "normal"),
        )

    platform.jobs.register(fanout_job(system), run_fanout, retries=5)
    platform.jobs.register(send_job(system), run_send, retries=8)
    messenger(platform, system).on_commit(on_commit)


async def close(platform: Platform, system: str) -> None:
    """Queue the pending notes' fan-out, then close the sender's connection pool (call at
    shutdown, after the writer has drained)."""
    await _per_system(platform, system, _PendingNotes).close()
    await sender(platform, system).close()


# HTTP


PlatformDep = Annotated[Platform, Depends(get_platform)]


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"content": {PROBLEM_JSON: {}}} for status in statuses}


def router(system: str) -> APIRouter:
    """Push subscription, VAPID key and mute endpoints of `system`."""
    api = APIRouter(tags=[system])

    @api.get("/push/vapid-public-key")
    async def get_vapid_public_key(platform: PlatformDep) -> dict[str, str]:
        """The key to pass as `applicationServerKey` to `PushManager.subscribe`."""
        return {"public_key": vapid_public_key(platform)}

    @api.put(
        "/devices/{device_id}/push",
        response_model=SubscriptionOut,
        responses=_problems(401, 404, 422),
    )
    async def put_push_subscription(
        device_id: IdStr,
        body: SubscriptionIn,
        principal: CurrentPrincipal,
        platform: PlatformDep,
        session: Session,
    ) -> SubscriptionOut:
        """Register (or replace) the Web Push subscription of one of your devices. It gets a
        push for each new message of your conversations while it is not connected."""
        check_endpoint(body.endpoint, push_config(platform, system))
        await set_subscription(session, system, principal.user_id, device_id, body)
        return SubscriptionOut(device_id=device_id, endpoint=body.endpoint)

    @api.delete("/devices/{device_id}/push", status_code=204, responses=_problems(401, 404))
    async def delete_push_subscription(
        device_id: IdStr, principal: CurrentPrincipal, session: Session
    ) -> Response:
        """Stop pushes to one of your devices."""
        await remove_subscription(session, system, principal.user_id, device_id)
        return Response(status_code=204)

    @api.put(
        "/conversations/{conversation_id}/mute",
        response_model=MuteOut,
        responses=_problems(401, 404, 422),
    )
    async def put_mute(
        conversation_id: IdStr, body: MuteIn, principal: CurrentPrincipal, session: WriteSession
    ) -> MuteOut:
        """Mute a conversation (no pushes for it), until a time or until unmuted; or unmute it
        with `{"muted": false}`."""
        until = await set_mute(session, system, principal.user_id, conversation_id, body)
        return MuteOut(conversation_id=conversation_id, muted_until=until)

    return api
