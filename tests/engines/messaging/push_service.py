"""A real Web Push service for tests, on 127.0.0.1: what a browser vendor's push service (FCM,
Mozilla autopush) does for the server side of RFC 8030, and what the browser does on receipt.

It stands in for an external party that cannot run here, so it is faithful rather than
convenient: every push must

- carry a `TTL` header (RFC 8030 §5.2) and `Content-Encoding: aes128gcm` (RFC 8291 §4);
- be identified with VAPID (RFC 8292): `Authorization: vapid t=<JWT>, k=<public key>`, the JWT
  signed ES256 by that key, `aud` equal to this service's origin, `exp` in the future and at
  most 24 h ahead, `sub` a mailto: or https: URL; a subscription made with an
  applicationServerKey only accepts pushes signed by that key (§4.2);
- decrypt (RFC 8291, via `http_ece`) with the subscription's private key and auth secret — the
  keys the "browser" generated in `subscribe()` and never gave to the sender.

Anything else is refused with the status a real service uses (400, 401, 403, 404, 413), and
the test can make a subscription answer 410 Gone (unsubscribed) or any status it likes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import http_ece
import jwt
import orjson
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MAX_PAYLOAD = 4096
"""RFC 8030 §7.2: push services must accept at least 4096 bytes of encrypted payload."""
MAX_VAPID_LIFETIME = 24 * 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Delivery:
    """One push the service accepted, decrypted as the browser would."""

    token: str
    payload: dict[str, Any]
    ttl: int
    topic: str | None
    urgency: str | None
    vapid_key: str
    claims: dict[str, Any]


@dataclass
class Subscriber:
    """A browser's subscription: its private keys stay here."""

    token: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    application_server_key: str | None
    answer: int | None = None
    """Answer every push with this status instead of accepting it (e.g. 410: unsubscribed)."""
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def subscription(self) -> dict[str, Any]:
        """What `PushSubscription.toJSON()` gives the web app."""
        public = self.private_key.public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(public), "auth": b64url(self.auth_secret)},
        }


class PushService:
    """Run with `async with PushService() as service:`; `service.subscribe(vapid_public_key)`
    makes a subscription; `await service.wait_for(subscriber, n)` waits for n deliveries."""

    def __init__(self) -> None:
        self.subscribers: dict[str, Subscriber] = {}
        self.refused: list[tuple[int, str]] = []
        """(status, reason) of every push refused."""
        self._changed = asyncio.Condition()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.origin = ""

    async def __aenter__(self) -> PushService:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
        app = Starlette(routes=[Route("/push/{token}", self._receive, methods=["POST"])])
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        # Listening before the server task runs: early connections wait in the backlog.
        sock.listen(128)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def subscribe(self, application_server_key: str | None) -> Subscriber:
        """A new subscription, as `PushManager.subscribe({applicationServerKey})` makes one."""
        token = secrets.token_urlsafe(16)
        subscriber = Subscriber(
            token=token,
            endpoint=f"{self.origin}/push/{token}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=os.urandom(16),
            application_server_key=application_server_key,
        )
        self.subscribers[token] = subscriber
        return subscriber

    async def wait_for(self, subscriber: Subscriber, count: int) -> list[Delivery]:
        """The subscriber's deliveries once there are at least `count` (bound the wait with
        `asyncio.timeout`)."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(subscriber.deliveries) >= count)
        return list(subscriber.deliveries)

    async def _refuse(self, status: int, reason: str) -> Response:
        self.refused.append((status, reason))
        async with self._changed:
            self._changed.notify_all()
        return Response(reason, status_code=status, media_type="text/plain")

    async def _receive(self, request: Request) -> Response:
        subscriber = self.subscribers.get(request.path_params["token"])
        if subscriber is None:
            return await self._refuse(404, "no such subscription")
        if subscriber.answer is not None:
            return await self._refuse(subscriber.answer, "answer set by the test")
        ttl = request.headers.get("ttl", "")
        if not ttl.isdecimal():
            return await self._refuse(400, "TTL header missing")
        if request.headers.get("content-encoding", "").lower() != "aes128gcm":
            return await self._refuse(400, "Content-Encoding must be aes128gcm")
        try:
            key, claims = self._check_vapid(request.headers.get("authorization", ""), subscriber)
        except _Refused as refused:
            return await self._refuse(refused.status, refused.reason)
        body = await request.body()
        if len(body) > MAX_PAYLOAD:
            return await self._refuse(413, "payload too large")
        try:
            plaintext = http_ece.decrypt(
                body,
                private_key=subscriber.private_key,
                auth_secret=subscriber.auth_secret,
                version="aes128gcm",
            )
            payload = orjson.loads(plaintext)
        except Exception as exc:  # any failure to decrypt is the sender's fault
            return await self._refuse(400, f"cannot decrypt: {exc!r}")
        subscriber.deliveries.append(
            Delivery(
                token=subscriber.token,
                payload=payload,
                ttl=int(ttl),
                topic=request.headers.get("topic"),
                urgency=request.headers.get("urgency"),
                vapid_key=str(key),
                claims=dict(claims),
            )
        )
        async with self._changed:
            self._changed.notify_all()
        return Response(
            status_code=201, headers={"Location": f"{self.origin}/message/{secrets.token_hex(8)}"}
        )

    def _check_vapid(self, header: str, subscriber: Subscriber) -> tuple[str, dict[str, Any]]:
        """(key, claims) of a valid VAPID header; raises _Refused otherwise."""
        scheme, _, params = header.partition(" ")
        if scheme.lower() != "vapid":
            raise _Refused(401, "VAPID authorization required")
        parts = dict(item.strip().split("=", 1) for item in params.split(",") if "=" in item)
        token, key = parts.get("t"), parts.get("k")
        if not token or not key:
            raise _Refused(401, "VAPID header needs t and k")
        try:
            point = b64url_decode(key)
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
            claims: dict[str, Any] = jwt.decode(
                token,
                key=public,
                algorithms=["ES256"],
                audience=self.origin,
                options={"require": ["aud", "exp", "sub"]},
            )
        except (ValueError, jwt.PyJWTError) as exc:
            raise _Refused(401, f"bad VAPID token: {exc}") from None
        if claims["exp"] > time.time() + MAX_VAPID_LIFETIME:
            raise _Refused(401, "VAPID token lives longer than 24 h")
        sub = str(claims["sub"])
        if not (sub.startswith("mailto:") or sub.startswith("https://")):
            raise _Refused(401, "VAPID sub must be a mailto: or https: URL")
        expected = subscriber.application_server_key
        if expected is not None and b64url_decode(expected) != point:
            raise _Refused(
                403, "signed by another key than the subscription's applicationServerKey"
            )
        return key, claims
