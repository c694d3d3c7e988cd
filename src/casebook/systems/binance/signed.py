"""The protocol of Binance's spot REST API: its error shape, its parameters, HMAC-SHA256
request signing with `timestamp` + `recvWindow`, and request weights.

- Errors are `{"code": <negative int>, "msg": "..."}` with an HTTP status (4xx for the caller's
  mistakes), as Binance answers them; `BinanceRoute` turns a `BinanceError` raised anywhere in an
  endpoint, and any platform `Problem`, into that shape (a Problem keeps its status and gets code
  -1000 unless mapped).
- Parameters come from the query string and/or an `application/x-www-form-urlencoded` body (ccxt
  signs POST bodies). A parameter sent twice is -1101, one the endpoint does not read -1104, a
  missing mandatory one -1102, a malformed one -1100.
- Signed endpoints (TRADE, USER_DATA): `X-MBX-APIKEY` names the key (-2014 when absent or
  malformed, -2015 when unknown, revoked or without the permission); `signature` = hex
  HMAC-SHA256(secretKey, totalParams) where totalParams is the query string followed by the
  body, each without the signature parameter, byte for byte as sent (-1022 on mismatch);
  `timestamp` (ms) must satisfy timestamp < serverTime + 1000 and serverTime - timestamp <=
  recvWindow (default 5000, at most 60000): else -1021.
- Weights: every request costs its endpoint's weight against a per-IP budget of
  `WEIGHT_PER_MINUTE` (GCRA, the platform's rate limiter); the answer carries
  `X-MBX-USED-WEIGHT-1M`; over budget is 429 with `Retry-After` and code -1003.

Cost per signed request: one indexed key lookup and one HMAC over the request, O(request size).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from casebook.engines.ledger.errors import InsufficientFunds
from casebook.engines.matching.errors import (
    DuplicateClientOrderId,
    InstrumentNotFound,
    VenueClosed,
)
from casebook.platform.context import Platform
from casebook.platform.errors import Problem
from casebook.platform.ratelimit import RateLimit
from casebook.systems.binance import apikeys

WEIGHT_PER_MINUTE = 6000
WEIGHT_LIMIT = RateLimit.per_minute(WEIGHT_PER_MINUTE)
DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60000
MAX_BODY = 16 * 1024
_API_KEY = re.compile(r"^[A-Za-z0-9]{64}$")
_LEGAL = re.compile(r"^[A-Za-z0-9._:/\[\]\",-]*$")


class BinanceError(Exception):
    """An answer in Binance's error shape."""

    def __init__(
        self, code: int, msg: str, status: int = 400, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status
        self.headers = headers or {}


def problem_as_binance(problem: Problem) -> BinanceError:
    """A platform/engine Problem in Binance's terms (the venue's errors keep their meaning)."""
    if isinstance(problem, InsufficientFunds):
        return BinanceError(-2010, "Account has insufficient balance for requested action.")
    if isinstance(problem, DuplicateClientOrderId):
        return BinanceError(-2010, "Duplicate order sent.")
    if isinstance(problem, InstrumentNotFound):
        return BinanceError(-1121, "Invalid symbol.")
    if isinstance(problem, VenueClosed):
        return BinanceError(-1016, "This service is no longer available.", 503)
    status = problem.status if 400 <= problem.status < 600 else 400
    return BinanceError(-1000, problem.detail, status, problem.headers())


def _error_response(error: BinanceError, used: str | None) -> JSONResponse:
    headers = dict(error.headers)
    if used is not None:
        headers["X-MBX-USED-WEIGHT-1M"] = used
    return JSONResponse({"code": error.code, "msg": error.msg}, error.status, headers=headers)


class BinanceRoute(APIRoute):
    """An APIRoute whose errors come out in Binance's shape (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handler(request)
            except BinanceError as error:
                return _error_response(error, request.scope.get("binance.used_weight"))
            except Problem as problem:
                return _error_response(
                    problem_as_binance(problem), request.scope.get("binance.used_weight")
                )
            except RequestValidationError as invalid:
                return _error_response(
                    BinanceError(-1100, f"Illegal parameter: {invalid.errors()[0]['msg']}"),
                    None,
                )
            used = request.scope.get("binance.used_weight")
            if used is not None:
                response.headers["X-MBX-USED-WEIGHT-1M"] = used
            return response

        return guarded


@dataclass
class Params:
    """The request's parameters, in the order sent; `read` names those an endpoint consumed."""

    values: dict[str, str]
    query: str
    body: str
    read: set[str] = field(default_factory=set)

    def text(self, name: str, *, required: bool = False, max_length: int = 64) -> str | None:
        self.read.add(name)
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise BinanceError(
                    -1102,
                    f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
                )
            return None
        if len(value) > max_length or not _LEGAL.match(value):
            raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'.")
        return value

    def integer(
        self, name: str, *, required: bool = False, low: int = 0, high: int = 2**63 - 1
    ) -> int | None:
        value = self.text(name, required=required, max_length=20)
        if value is None:
            return None
        if not re.fullmatch(r"-?\d{1,19}", value) or not low <= int(value) <= high:
            raise BinanceError(
                -1100,
                f"Illegal characters found in parameter '{name}'; legal range is "
                f"'{low}' to '{high}'.",
            )
        return int(value)

    def decimal(self, name: str, *, required: bool = False) -> Decimal | None:
        value = self.text(name, required=required, max_length=40)
        if value is None:
            return None
        if not re.fullmatch(r"\d{1,20}(\.\d{1,20})?", value):
            raise BinanceError(
                -1100,
                f"Illegal characters found in parameter '{name}'; legal range is "
                "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
            )
        try:
            return Decimal(value)
        except InvalidOperation as exc:  # pragma: no cover - the pattern admits only decimals
            raise BinanceError(-1100, f"Illegal characters in '{name}'.") from exc

    def choice(
        self, name: str, options: tuple[str, ...], code: int, *, required: bool = False
    ) -> str | None:
        value = self.text(name, required=required)
        if value is not None and value not in options:
            raise BinanceError(code, f"Invalid {name}.")
        return value

    def finish(self) -> None:
        """Refuse parameters no one read (-1104), as Binance does."""
        unread = [name for name in self.values if name not in self.read]
        if unread:
            raise BinanceError(
                -1104,
                f"Not all sent parameters were read; read '{len(self.read & set(self.values))}' "
                f"parameter(s) but was sent '{len(self.values)}'.",
            )


def _pairs(raw: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(raw, keep_blank_values=True, strict_parsing=bool(raw))
    except ValueError as exc:
        raise BinanceError(-1100, "Illegal characters found in a parameter.") from exc


async def read_params(request: Request) -> Params:
    """The query and form-body parameters (-1101 for a duplicate)."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    body = ""
    if request.method in ("POST", "PUT", "DELETE"):
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise BinanceError(-1100, "The request body is too large.")
        content_type = request.headers.get("content-type", "")
        if raw and not content_type.startswith("application/x-www-form-urlencoded"):
            raise BinanceError(-1100, "The body must be application/x-www-form-urlencoded.")
        body = raw.decode("latin-1")
    values: dict[str, str] = {}
    for name, value in _pairs(query) + _pairs(body):
        if name in values:
            raise BinanceError(-1101, f"Duplicate values for parameter '{name}'.")
        values[name] = value
    return Params(values, query, body)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def charge(request: Request, platform: Platform, weight: int) -> None:
    """Charge `weight` to the caller's IP budget; 429 -1003 with Retry-After when over it."""
    ip = request.client.host if request.client else "unknown"
    decision = await platform.rate_limiter.hit(f"binance:weight:{ip}", WEIGHT_LIMIT, weight)
    used = WEIGHT_PER_MINUTE - decision.remaining if decision.allowed else WEIGHT_PER_MINUTE
    request.scope["binance.used_weight"] = str(used)
    if not decision.allowed:
        raise BinanceError(
            -1003,
            f"Too many requests; current limit of IP({ip}) is {WEIGHT_PER_MINUTE} requests "
            "per minute. Please use the websocket for live updates to avoid polling the API.",
            429,
            {"Retry-After": str(max(1, math.ceil(decision.retry_after)))},
        )


def _without_signature(raw: str) -> tuple[str, str | None]:
    """`raw` with its `signature=` parameter removed (byte for byte otherwise) and the
    signature found, if any."""
    kept: list[str] = []
    signature = None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


async def authenticate(
    request: Request, platform: Platform, params: Params, *, trade: bool
) -> apikeys.ResolvedKey:
    """Check the key, the timestamp window and the signature of a signed request; the key."""
    api_key = request.headers.get("x-mbx-apikey", "")
    if not _API_KEY.match(api_key):
        raise BinanceError(-2014, "API-key format invalid.", 401)
    params.read.add("signature")
    timestamp = params.integer("timestamp", required=True)
    recv_window = params.integer("recvWindow", low=1, high=2**31)
    if recv_window is not None and recv_window > MAX_RECV_WINDOW:
        raise BinanceError(-1131, f"recvWindow must be less than {MAX_RECV_WINDOW}.")
    window = recv_window if recv_window is not None else DEFAULT_RECV_WINDOW
    server = now_ms()
    assert timestamp is not None
    if timestamp >= server + 1000:
        raise BinanceError(
            -1021, "Timestamp for this request was 1000ms ahead of the server's time."
        )
    if server - timestamp > window:
        raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")
    query, in_query = _without_signature(params.query)
    body, in_body = _without_signature(params.body)
    signature = in_query if in_query is not None else in_body
    if not signature:
        raise BinanceError(
            -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
        )
    async with platform.db.session() as session:
        key = await apikeys.resolve(session, platform.settings.signing_key, api_key)
    if key is None:
        raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
    expected = hmac.new(key.secret.encode(), (query + body).encode("latin-1"), hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), signature.lower()):
        raise BinanceError(-1022, "Signature for this request is not valid.")
    if trade and not key.can_trade:
        raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
    return key
