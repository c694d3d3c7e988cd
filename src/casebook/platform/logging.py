"""Structured logs and request ids.

`configure_logging(settings)` routes structlog and the standard library's `logging` (uvicorn,
SQLAlchemy, SAQ) through one handler: JSON lines when `settings.log_json` (production, log
shippers), readable console lines otherwise. Every line logged while a request is being served
carries its `request_id`, and every line logged by a job carries its `job_id`.

`RequestIdMiddleware` takes the caller's `X-Request-ID` when it is sane (1 to 64 characters of
`[A-Za-z0-9._-]`, so it cannot inject anything into logs or headers) or makes one, echoes it in
the response, and logs any unhandled error with it before answering a problem+json 500 that
names it too, so a user's report can be matched to the log line.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import sys
from collections.abc import Iterator, MutableMapping
from contextvars import ContextVar
from typing import Any, TextIO

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from casebook.platform.errors import PROBLEM_JSON
from casebook.platform.settings import Settings

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
_request_id: ContextVar[str | None] = ContextVar("casebook_request_id", default=None)

log = structlog.get_logger("casebook.http")


def current_request_id() -> str | None:
    """The id of the request being served by this task, if any."""
    return _request_id.get()


class _RequestIds:
    """Request ids `<12 random hex>-<counter in hex>`: unique per process, O(1), no syscall.

    The random prefix is drawn again in a forked child so that workers never share it.
    """

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._prefix = os.urandom(6).hex() + "-"
        self._counter: Iterator[int] = itertools.count(1)

    def new(self) -> str:
        return f"{self._prefix}{next(self._counter):x}"


_ids = _RequestIds()


def _add_request_id(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    request_id = _request_id.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


class _OurHandler(logging.StreamHandler[TextIO]):
    """The root handler installed here; configuring again replaces it rather than adding one."""


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Configure structlog and stdlib logging from `settings` (level, JSON or console).

    Writes to `stream` (default: standard error). Idempotent: calling it again replaces the
    handler it installed and leaves other handlers (pytest's, an embedding app's) alone.
    """
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if settings.log_json:
        renderer = structlog.processors.JSONRenderer()
        final = [structlog.processors.format_exc_info, renderer]
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
        final = [renderer]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = _OurHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    level = logging.getLevelName(settings.log_level.upper())
    root.setLevel(level if isinstance(level, int) else logging.INFO)
    # SAQ logs every enqueue, start and finish at INFO; its warnings and errors still show.
    logging.getLogger("saq").setLevel(max(logging.WARNING, root.level))


def _incoming_request_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            return value.decode("ascii") if _VALID_REQUEST_ID.fullmatch(value) else None
    return None


class RequestIdMiddleware:
    """Pure ASGI middleware: request id in, in the log context, out in `X-Request-ID`.

    Per request: one scan of the request headers, one context variable set and reset, one
    header appended to the response. Unhandled exceptions are logged here, with the id, and
    answered with a problem+json 500 carrying the id (if the response had not started yet).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope["headers"]) or _ids.new()
        scope["casebook.request_id"] = request_id
        token = _request_id.set(request_id)
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id if kind == "http" else send)
        except Exception:
            log.exception("unhandled error", method=scope.get("method"), path=scope["path"])
            if kind != "http" or started:
                raise
            await _send_internal_error(send_with_id, scope["path"], request_id)
        finally:
            _request_id.reset(token)


async def _send_internal_error(send: Send, path: str, request_id: str) -> None:
    body = json.dumps(
        {
            "type": "/problems/internal-error",
            "title": "Internal error",
            "status": 500,
            "detail": "An unexpected error occurred; it has been logged.",
            "instance": path,
            "request_id": request_id,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
