"""`Idempotency-Key` for POST endpoints that create resources or move money.

An endpoint opts in with one argument:

    @router.post("/transfers", status_code=201, dependencies=[Idempotent])
    async def create_transfer(...): ...

and the app installs the middleware once (`install_idempotency(app)`, done by `create_app`).
A client that sends `Idempotency-Key: <up to 255 printable ASCII characters>` then gets:

- the first request with a key: executed normally; a success (2xx/3xx) is recorded with its
  status, headers and body. An error (4xx/5xx, or an exception) records nothing, so the client
  may retry with the same key: by the house rules a failed request has rolled back its writes.
- the same key and the same request again (method, path, query and body bytes, compared by
  SHA-256): the recorded response, replayed byte for byte with `Idempotent-Replayed: true`; the
  endpoint does not run.
- the same key with a different request: 422 `idempotency-key-reused`.
- the same key while the first request is still running: 409 `idempotency-key-in-use`.

Keys belong to the caller: `user:<id>` for an authenticated principal (session or API key of the
same user share keys), else `ip:<address>`. Records are kept 24 hours; after that the key is free
again (`purge_expired_keys` deletes old rows; a scheduled job should call it hourly).

How it stays correct under concurrency: the first request claims the key by INSERT … ON CONFLICT
DO NOTHING against the unique (owner, key) index, committed at once in its own transaction, so of
any number of racing requests exactly one inserts; every other one reads the winner's row and gets
409, 422 or the replay. The middleware holds the endpoint's response until the endpoint's own
transaction has committed (request-scoped dependencies are torn down after the response is
"sent", which inside this middleware only means buffered), then records it and sends it. If the
process dies between the endpoint's commit and the record, the key stays "in use" until it
expires: a retry is refused rather than executed twice.

Never opt in an endpoint whose response carries a secret (a new API key, tokens): the response is
stored in clear. `Set-Cookie` headers are never stored.
"""

from __future__ import annotations

import hashlib
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, cast

import structlog
from fastapi import Depends, FastAPI, Header, Request
from sqlalchemy import (
    JSON,
    CursorResult,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    delete,
    select,
)
from sqlalchemy import update as sql_update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from casebook.platform.auth.deps import Principal, client_ip, optional_principal
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Base, Database, utcnow
from casebook.platform.errors import Conflict, InvalidInput, Problem
from casebook.platform.ids import new_id

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
RETENTION = timedelta(hours=24)
log = structlog.get_logger("casebook.idempotency")
MAX_KEY_LENGTH = 255
MAX_RECORDED_BODY = 1 << 20
"""Responses larger than this (1 MiB) are not recorded; idempotent endpoints answer small JSON."""
_SCOPE_KEY = "casebook.idempotency"
_UNRECORDED_HEADERS = frozenset({b"content-length", b"set-cookie", b"date", b"server"})
_CLAIM_ATTEMPTS = 3


class IdempotencyRecord(Base):
    """One key of one caller: in flight while `status_code` is null, then the recorded response."""

    __tablename__ = "platform_idempotency_keys"
    __table_args__ = (
        UniqueConstraint("owner", "key"),
        Index("ix_platform_idempotency_keys_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, default=new_id)
    owner: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    fingerprint: Mapped[str] = mapped_column(String(64))
    """Hex SHA-256 of method, path, query and body."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    status_code: Mapped[int | None]
    response_headers: Mapped[list[list[str]] | None] = mapped_column(JSON)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)


class IdempotencyKeyInUse(Conflict):
    type_ = "idempotency-key-in-use"
    title = "A request with this Idempotency-Key is still being processed"


class IdempotencyKeyReused(InvalidInput):
    type_ = "idempotency-key-reused"
    title = "This Idempotency-Key was used for a different request"


class InvalidIdempotencyKey(InvalidInput):
    type_ = "invalid-idempotency-key"
    title = "The Idempotency-Key header is not valid"


@dataclass(frozen=True)
class RecordedResponse:
    status_code: int
    headers: list[list[str]]
    body: bytes


@dataclass
class _Exchange:
    """What the dependency tells the middleware about one request."""

    claim_id: int | None = None
    replay: RecordedResponse | None = None
    database: Database | None = None


class _ReplayInstead(Problem):
    """Stops the endpoint from running; the middleware discards the answer and replays."""

    status = 200
    type_ = "idempotent-replay"
    title = "Replayed"


@dataclass
class _Buffered:
    messages: list[Message] = field(default_factory=list)
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)


def request_fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """Hex SHA-256 identifying a request's content; lengths are framed so fields cannot blur."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _owner(principal: Principal | None, request: Request) -> str:
    if principal is not None:
        return f"user:{principal.user_id}"
    return f"ip:{client_ip(request) or 'unknown'}"


def _check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not all(0x21 <= ord(ch) <= 0x7E for ch in key):
        raise InvalidIdempotencyKey(
            f"An {HEADER} is 1 to {MAX_KEY_LENGTH} printable ASCII characters without spaces."
        )
    return key


def _insert(session: AsyncSession) -> Any:
    """An INSERT for the session's backend, which both spell with ON CONFLICT DO NOTHING."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(IdempotencyRecord)


async def claim_key(
    database: Database, owner: str, key: str, fingerprint: str
) -> int | RecordedResponse:
    """Claim `key` for `owner`: the new record's id, or the response recorded under it.

    Raises `IdempotencyKeyReused` (422) when the key was used for another request and
    `IdempotencyKeyInUse` (409) while its first request runs. The claim is committed before this
    returns, so concurrent claimants see it. O(1) index operations; retried when a racing request
    releases or expires the row between our INSERT and SELECT.
    """
    for _ in range(_CLAIM_ATTEMPTS):
        async with database.session() as session:
            now = utcnow()
            claimed: int | None = await session.scalar(
                _insert(session)
                .values(owner=owner, key=key, fingerprint=fingerprint, created_at=now)
                .on_conflict_do_nothing(index_elements=["owner", "key"])
                .returning(IdempotencyRecord.id)
            )
            if claimed is not None:
                return claimed
            record = await session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.owner == owner, IdempotencyRecord.key == key
                )
            )
            if record is None:
                continue
            if record.created_at <= now - RETENTION:
                await session.execute(
                    delete(IdempotencyRecord).where(
                        IdempotencyRecord.id == record.id,
                        IdempotencyRecord.created_at <= now - RETENTION,
                    )
                )
                continue
            if record.fingerprint != fingerprint:
                raise IdempotencyKeyReused(
                    f"This {HEADER} was first used for a different request; use a new key."
                )
            if record.status_code is None:
                raise IdempotencyKeyInUse(
                    f"The first request with this {HEADER} has not finished; retry shortly."
                )
            return RecordedResponse(
                status_code=record.status_code,
                headers=record.response_headers or [],
                body=record.response_body or b"",
            )
    raise IdempotencyKeyInUse(f"This {HEADER} is contended; retry shortly.")


async def record_response(database: Database, claim_id: int, response: RecordedResponse) -> None:
    """Store the response of the request that holds claim `claim_id`."""
    async with database.session() as session:
        await session.execute(
            sql_update(IdempotencyRecord)
            .where(IdempotencyRecord.id == claim_id)
            .values(
                status_code=response.status_code,
                response_headers=response.headers,
                response_body=response.body,
                completed_at=utcnow(),
            )
        )


async def release_claim(database: Database, claim_id: int) -> None:
    """Forget an unfinished claim, so the client may retry with the same key."""
    async with database.session() as session:
        await session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.id == claim_id, IdempotencyRecord.status_code.is_(None)
            )
        )


async def purge_expired_keys(session: AsyncSession, now: datetime | None = None) -> int:
    """Delete records older than 24 hours; returns how many. Uses the created_at index."""
    cutoff = (now or utcnow()) - RETENTION
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at <= cutoff)
    )
    return cast(CursorResult[Any], result).rowcount


PURGE_JOB = "platform.idempotency.purge"
PURGE_EVERY_SECONDS = 3600


def register_purge_job(platform: Platform) -> None:
    """Register the hourly purge of expired records; call before the job queue starts."""
    platform.jobs.register(PURGE_JOB, _purge_job, retries=3)


async def schedule_purge(platform: Platform, now: float | None = None) -> str:
    """Enqueue the purge for the start of the next hour; returns the job id.

    The key is that hour, so every process of a cluster enqueues the same job and it runs once
    (on Redis); in-process queues each run their own, which is harmless — the purge is idempotent.
    """
    now = time.time() if now is None else now
    due = (int(now) // PURGE_EVERY_SECONDS + 1) * PURGE_EVERY_SECONDS
    return await platform.jobs.enqueue(PURGE_JOB, {}, key=str(due), delay=due - now)


async def _purge_job(platform: Platform, payload: dict[str, Any]) -> None:
    async with platform.db.session() as session:
        removed = await purge_expired_keys(session)
    log.info("purged expired idempotency records", removed=removed)
    await schedule_purge(platform)


async def claim_request(
    request: Request, platform: Platform, owner: str, idempotency_key: str | None
) -> None:
    """Claim the request's `Idempotency-Key` for `owner`, or arrange a replay of its response.

    The shared work of every idempotency dependency. Raises the 409/422 problems of `claim_key`,
    and RuntimeError when the middleware is missing.
    """
    if idempotency_key is None:
        return
    exchange = request.scope.get(_SCOPE_KEY)
    if not isinstance(exchange, _Exchange):
        raise RuntimeError("Idempotent endpoints need install_idempotency(app)")
    fingerprint = request_fingerprint(
        request.method, request.url.path, request.url.query, await request.body()
    )
    outcome = await claim_key(platform.db, owner, _check_key(idempotency_key), fingerprint)
    exchange.database = platform.db
    if isinstance(outcome, RecordedResponse):
        exchange.replay = outcome
        raise _ReplayInstead()
    exchange.claim_id = outcome


KeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        max_length=MAX_KEY_LENGTH,
        description="Makes retries safe: the same key and body replay the first response.",
    ),
]


async def idempotency(
    request: Request,
    platform: Annotated[Platform, Depends(get_platform)],
    principal: Annotated[Principal | None, Depends(optional_principal)],
    idempotency_key: KeyHeader = None,
) -> None:
    """Dependency behind `Idempotent`: keys belong to the signed-in user, else the client IP."""
    await claim_request(request, platform, _owner(principal, request), idempotency_key)


Idempotent = Depends(idempotency)
"""`dependencies=[Idempotent]` on a route makes it honour `Idempotency-Key`."""


def idempotent_for(owner: Callable[..., Awaitable[str]]) -> Any:
    """`Depends(...)` honouring `Idempotency-Key` with keys owned by what `owner` returns.

    For callers the platform's auth does not know, e.g. a merchant authenticated by an API key
    pair: `owner` is itself a dependency (FastAPI resolves it once per request, so it may be the
    endpoint's own authentication) returning a stable string such as `"razorpay:merchant:42"`.
    Owners of different kinds must not collide with `user:<id>` or `ip:<address>`.
    """

    async def dependency(
        request: Request, platform: Platform, owner_key: str, idempotency_key: str | None = None
    ) -> None:
        if owner_key.startswith(("user:", "ip:")):
            raise RuntimeError(f"idempotency owner {owner_key!r} collides with the platform's")
        await claim_request(request, platform, owner_key, idempotency_key)

    # This module's annotations are strings and `owner` is local, so FastAPI is given the
    # resolved signature.
    parameter = inspect.Parameter
    dependency.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            parameter("request", parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
            parameter(
                "platform",
                parameter.POSITIONAL_OR_KEYWORD,
                annotation=Annotated[Platform, Depends(get_platform)],
            ),
            parameter(
                "owner_key",
                parameter.POSITIONAL_OR_KEYWORD,
                annotation=Annotated[str, Depends(owner)],
            ),
            parameter(
                "idempotency_key",
                parameter.POSITIONAL_OR_KEYWORD,
                annotation=KeyHeader,
                default=None,
            ),
        ],
        return_annotation=None,
    )
    return Depends(dependency)


class IdempotencyMiddleware:
    """Buffers, records and replays the responses of requests that claimed an idempotency key.

    Requests that did not claim one pass straight through; the cost for them is one small object
    per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange()
        scope[_SCOPE_KEY] = exchange
        buffered = _Buffered()

        async def capture(message: Message) -> None:
            if exchange.claim_id is None and exchange.replay is None:
                await send(message)
                return
            buffered.messages.append(message)
            if message["type"] == "http.response.start":
                buffered.status = message["status"]
                buffered.headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                buffered.body.extend(message.get("body", b""))

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            if exchange.claim_id is not None and exchange.database is not None:
                await release_claim(exchange.database, exchange.claim_id)
            raise
        if exchange.replay is not None:
            await _send_recorded(exchange.replay, send)
            return
        if exchange.claim_id is None or exchange.database is None:
            return
        if 200 <= buffered.status < 400 and len(buffered.body) <= MAX_RECORDED_BODY:
            headers = [
                [name.decode("latin-1"), value.decode("latin-1")]
                for name, value in buffered.headers
                if name.lower() not in _UNRECORDED_HEADERS
            ]
            recorded = RecordedResponse(buffered.status, headers, bytes(buffered.body))
            await record_response(exchange.database, exchange.claim_id, recorded)
        else:
            await release_claim(exchange.database, exchange.claim_id)
        for message in buffered.messages:
            await send(message)


async def _send_recorded(response: RecordedResponse, send: Send) -> None:
    headers = [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers
    ]
    headers.append((b"content-length", str(len(response.body)).encode()))
    headers.append((REPLAYED_HEADER.lower().encode(), b"true"))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


def install_idempotency(app: FastAPI) -> None:
    """Add the middleware that `Idempotent` endpoints need (once per app)."""
    app.add_middleware(IdempotencyMiddleware)
