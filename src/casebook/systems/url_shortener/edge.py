"""The redirect listener: a dedicated HTTP/1.1 port that answers short links and nothing else.

Production shorteners serve their short domain from a redirect tier of its own, apart from the
site and its API. With `CASEBOOK_URL_SHORTENER_REDIRECT_PORT` (`casebook serve --redirect-port`)
every app process also listens on that port (SO_REUSEPORT, so the kernel spreads connections
over the workers) and answers `GET|HEAD /s/<code>` on any host and `GET|HEAD /<code>` on a
verified custom short domain, exactly as the ASGI fast path (`redirect.py`) does on the main
port: the same lookup (`redirect.Resolver`), refusals, Cache-Control, click counters and metrics
series, in the same process memory.

Why a listener of its own: below ASGI there is no per-request scope dict, task, `send` message
or server-side response assembly. This is an `asyncio.Protocol` over the `httptools` parser (C)
on the app's own event loop; a request whose code is in process memory is answered inside
`data_received` with one `transport.write`: per request, the parser's callbacks, the lookup in
process memory, a second dict lookup that finds the answer's head prepared for that cache entry
(`_Prepared`: formatted once per entry, not per request), the Date appended, and two counter
updates (click, metrics). A code that is not in process memory (or whose entry is stale) is
looked up in a task, as the fast path does.

HTTP/1.1 handled: keep-alive (and `Connection: close`, HTTP/1.0 keep-alive), pipelining (answers
leave in request order even when a later one was ready first), HEAD, percent-encoded paths,
`Date` on every answer, `Allow` on a 405. Refused with a problem+json and the connection
closed: malformed requests (400), URLs over `MAX_URL_BYTES` (414), headers over
`MAX_HEADER_BYTES` (431), methods other than GET and HEAD (405, before any body is read),
protocol upgrades. A client that stops reading stops being read (`pause_writing`); a client that
sends nothing for `KEEP_ALIVE_SECONDS` between requests, or takes over `HEADER_SECONDS` to send
one request, is disconnected by a sweep that runs once a second, O(connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Coroutine
from email.utils import formatdate
from typing import Any, NamedTuple, cast
from urllib.parse import unquote_to_bytes

import httptools
import orjson
import structlog

from casebook.platform.errors import MethodNotAllowed, NotFound, Problem
from casebook.platform.metrics import UNMATCHED, AnswerSeries
from casebook.systems.url_shortener.errors import RedirectFailed
from casebook.systems.url_shortener.hosts import request_host
from casebook.systems.url_shortener.linkcache import Target, refusal
from casebook.systems.url_shortener.models import MAIN_DOMAIN
from casebook.systems.url_shortener.redirect import (
    CODE,
    CUSTOM_DOMAIN_ROUTE,
    MAIN_ROUTE,
    MISS,
    Resolver,
    cache_control,
    cache_control_fixed_until,
)
from casebook.systems.url_shortener.runtime import Shortener

log = structlog.get_logger("casebook.url_shortener.edge")

MAX_URL_BYTES = 8192
MAX_HEADER_BYTES = 16384
KEEP_ALIVE_SECONDS = 5.0
HEADER_SECONDS = 10.0
MAX_PIPELINED = 64
PREPARED_LIMIT = 65_536
"""Prepared answers kept (one per cache entry answered); all are dropped when it is reached."""
"""Answers a connection may have waiting before it is no longer read from."""
Answer = tuple[bytes, bytes]
"""A response's head up to its last header line (each ending CRLF), and its body. The
connection header and the blank line go in between when it is written."""

_REASONS = {
    301: b"Moved Permanently",
    302: b"Found",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    410: b"Gone",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
}


class RequestTooLarge(Problem):
    status = 431
    type_ = "request-too-large"
    title = "Request headers too large"


class UrlTooLong(Problem):
    status = 414
    type_ = "url-too-long"
    title = "URL too long"


class MalformedRequest(Problem):
    status = 400
    type_ = "malformed-request"
    title = "Malformed HTTP request"


class _Refuse(Exception):
    """Raised inside a parser callback to refuse the request with `problem`."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


class RedirectEdge:
    """The listener of one process: its server, its connections and the answers' formats."""

    def __init__(self, state: Shortener, metrics: AnswerSeries | None = None) -> None:
        self.state = state
        self.hosts = state.hosts
        self.resolver = Resolver(state)
        self.record_click = state.clicks.record
        self.metrics = metrics or AnswerSeries()
        header = state.platform.settings.trusted_country_header.strip().lower()
        self.country_header = header.encode("latin-1") if header else b""
        self.site = state.platform.settings.base_url
        self.connections: set[_Connection] = set()
        self.server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._date_second = 0
        self._date = b""
        self.prepared: dict[bytes, _Prepared] = {}
        """Answer heads by the cache entry (bytes) they were built from: an entry that changes
        is a different key, so a prepared answer can never outlive what it says."""

    async def start(self, host: str, port: int) -> int:
        """Listen on `host:port` (port 0: any free port); returns the port bound."""
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: _Connection(self), host, port, reuse_port=True, backlog=2048
        )
        self._sweeper = loop.create_task(self._sweep(), name="url-shortener-edge-sweep")
        bound: int = self.server.sockets[0].getsockname()[1]
        log.info("redirect listener started", host=host, port=bound)
        return bound

    async def stop(self) -> None:
        """Stop listening and close every connection (answers in flight are dropped)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self.server is not None:
            self.server.close()
        for connection in list(self.connections):
            connection.close()
        if self.server is not None:
            await self.server.wait_closed()
            self.server = None

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for connection in list(self.connections):
                connection.expire(now)

    def date(self, now: float) -> bytes:
        """The Date header's value (RFC 9110), formatted once per second."""
        second = int(now)
        if second != self._date_second:
            self._date_second = second
            self._date = formatdate(second, usegmt=True).encode("ascii")
        return self._date

    # -- answers -------------------------------------------------------------------------------

    def answer(
        self, method: bytes, url: bytes, host: bytes | None, headers: tuple[Any, Any, Any]
    ) -> Answer | Coroutine[Any, Any, Answer]:
        """The response to a complete request, or a coroutine that computes it (cache miss).

        `headers` is (Referer, country header, User-Agent) as received. O(1) on a cached code.
        """
        now = time.time()
        path = url.split(b"?", 1)[0]
        if b"%" in path:
            path = unquote_to_bytes(path)
        if path.startswith(b"/s/"):
            raw_code, domain_id, route = path[3:], MAIN_DOMAIN, MAIN_ROUTE
        else:
            by_host = self.hosts.by_host
            domain = by_host.get(request_host(host)) if host is not None and by_host else None
            if domain is None:
                problem = NotFound(
                    "This address serves short links only: /s/<code>, or /<code> on a verified "
                    f"custom short domain. The site is at {self.site}."
                )
                return self._problem(problem, method, UNMATCHED, now)
            raw_code, domain_id, route = path[1:], domain, CUSTOM_DOMAIN_ROUTE
        code = raw_code.decode("latin-1")
        if CODE.fullmatch(code) is None:
            problem = NotFound(f"There is no short link at {path.decode('latin-1')!r}.")
            return self._problem(problem, method, route, now)
        raw = self.resolver.entry(domain_id, code)
        if raw is not None:
            prepared = self.prepared.get(raw)
            if prepared is not None and now < prepared.until:
                if method == b"GET":
                    self.record_click(prepared.link_id, now, *headers)
                    self.metrics.record("GET", route, prepared.status, time.time() - now)
                else:
                    self.metrics.record("HEAD", route, prepared.status, time.time() - now)
                return prepared.head + self.date(now) + b"\r\n", b""
        target = self.resolver.target(raw, now)
        if target is MISS:
            return self._look_up(method, domain_id, code, route, headers, now)
        return self._redirect(target, method, code, route, headers, now, raw)

    async def _look_up(
        self,
        method: bytes,
        domain_id: int,
        code: str,
        route: str,
        headers: tuple[Any, Any, Any],
        now: float,
    ) -> Answer:
        try:
            target = await self.resolver.resolve(domain_id, code, now)
        except Exception:
            log.exception("redirect lookup failed", domain_id=domain_id, code=code)
            return self._problem(RedirectFailed(), method, route, now)
        return self._redirect(target, method, code, route, headers, now, None)

    def _redirect(
        self,
        target: Target | None,
        method: bytes,
        code: str,
        route: str,
        headers: tuple[Any, Any, Any],
        now: float,
        raw: bytes | None,
    ) -> Answer:
        """The answer for `target`; with `raw`, the cache entry it was read from, also keeps
        the answer's head for that entry (`_Prepared`) while it holds."""
        problem = refusal(target, code, now)
        if problem is not None or target is None:
            return self._problem(problem or RedirectFailed(), method, route, now)
        status = target.status
        head = b"HTTP/1.1 %d %s\r\nlocation: %s\r\ncache-control: %s\r\n%s" % (
            status,
            _REASONS[status],
            target.location,
            cache_control(target, now),
            b"content-length: 0\r\ndate: ",
        )
        if raw is not None:
            until = min(target.stale_after, cache_control_fixed_until(target))
            if now < until:
                prepared = self.prepared
                if len(prepared) >= PREPARED_LIMIT:
                    prepared.clear()
                prepared[raw] = _Prepared(target.link_id, status, head, until)
        if method == b"GET":
            self.record_click(target.link_id, now, *headers)
            self.metrics.record("GET", route, status, time.time() - now)
        else:
            self.metrics.record("HEAD", route, status, time.time() - now)
        return head + self.date(now) + b"\r\n", b""

    def _problem(self, problem: Problem, method: bytes, route: str, now: float) -> Answer:
        body = orjson.dumps(problem.body())
        head = b"HTTP/1.1 %d %s\r\ndate: %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n" % (
            problem.status,
            _REASONS.get(problem.status, b"Error"),
            self.date(now),
            b"application/problem+json",
            len(body),
        )
        if isinstance(problem, MethodNotAllowed):
            head += b"allow: GET, HEAD\r\n"
        name = method.decode("latin-1") if method in (b"GET", b"HEAD") else "OTHER"
        self.metrics.record(name, route, problem.status, time.time() - now)
        return head, b"" if method == b"HEAD" else body

    def refused(self, problem: Problem, method: bytes) -> Answer:
        """The answer to a request refused before it was complete."""
        return self._problem(problem, method, UNMATCHED, time.time())


class _Prepared(NamedTuple):
    """A live redirect's answer for one cache entry, kept while it cannot change."""

    link_id: int
    status: int
    head: bytes
    """Status line and headers, ending with the Date header's name."""
    until: float
    """Epoch seconds from which the entry is answered the long way again: it turns stale, the
    link expires, or its Cache-Control starts counting down."""


_KEEP = b"\r\n"
_KEEP_HTTP10 = b"connection: keep-alive\r\n\r\n"
_CLOSE = b"connection: close\r\n\r\n"
_CLOSE_MARK = (b"", b"")
"""Queued after the answer that ends a connection's exchange: close when it is reached."""


class _Connection(asyncio.Protocol):
    """One client connection: parses requests and writes their answers in request order."""

    def __init__(self, edge: RedirectEdge) -> None:
        self.edge = edge
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.host: bytes | None = None
        self.referer: bytes | None = None
        self.agent: bytes | None = None
        self.country: bytes | None = None
        self.header_bytes = 0
        self.queue: deque[tuple[Answer | asyncio.Task[Answer], bytes]] = deque()
        """Answers not yet written, in request order, each with its connection header."""
        self.ended = False
        """No more requests are read: the last answer closes the connection."""
        self.closing = False
        self.reading = True
        self.writable = True
        self.idle_since = time.monotonic()
        self.request_since = 0.0
        """When the request being received began (0: none in progress)."""

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.edge.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.edge.connections.discard(self)
        self.closing = self.ended = True
        for item, _ in self.queue:
            if isinstance(item, asyncio.Task):
                item.cancel()
        self.queue.clear()

    def data_received(self, data: bytes) -> None:
        if self.ended:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # The request was answered; what follows on the wire is not HTTP any more.
            self._end()
        except httptools.HttpParserCallbackError as error:
            cause = error.__context__
            if isinstance(cause, _Refuse):
                self._refuse(cause.problem)
            else:
                log.error("redirect listener failed on a request", exc_info=cause)
                self._refuse(RedirectFailed())
        except httptools.HttpParserError as error:
            self._refuse(MalformedRequest(f"The request could not be parsed: {error}."))

    def pause_writing(self) -> None:
        self.writable = False
        self._pause()

    def resume_writing(self) -> None:
        self.writable = True
        self._resume()

    # -- httptools callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.host = self.referer = self.agent = self.country = None
        self.header_bytes = 0
        self.request_since = time.monotonic()

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > MAX_URL_BYTES:
            raise _Refuse(UrlTooLong(f"URLs are limited to {MAX_URL_BYTES} bytes here."))

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value)
        if self.header_bytes > MAX_HEADER_BYTES:
            raise _Refuse(RequestTooLarge(f"Headers are limited to {MAX_HEADER_BYTES} bytes."))
        name = name.lower()
        if name == b"host":
            self.host = value
        elif name == b"referer":
            self.referer = value
        elif name == b"user-agent":
            self.agent = value
        elif name == self.edge.country_header:
            self.country = value

    def on_headers_complete(self) -> None:
        method = self.parser.get_method()
        if method != b"GET" and method != b"HEAD":
            # Refused before any body is read; the connection closes after the answer.
            raise _Refuse(
                MethodNotAllowed(
                    "This address serves short links: GET or HEAD /s/<code> (or /<code> on a "
                    "verified custom short domain)."
                )
            )

    def on_message_complete(self) -> None:
        self.request_since = 0.0
        self.idle_since = time.monotonic()
        parser = self.parser
        if parser.should_keep_alive():
            end = _KEEP_HTTP10 if parser.get_http_version() == "1.0" else _KEEP
        else:
            end = _CLOSE
            self.ended = True
        answer = self.edge.answer(
            parser.get_method(), self.url, self.host, (self.referer, self.country, self.agent)
        )
        if isinstance(answer, tuple):
            if not self.queue:
                self._write(answer, end)
                return
            self.queue.append((answer, end))
        else:
            task = asyncio.get_running_loop().create_task(answer)
            task.add_done_callback(self._drain)
            self.queue.append((task, end))
        if len(self.queue) >= MAX_PIPELINED or self.ended:
            self._pause()

    # -- writing -------------------------------------------------------------------------------

    def _write(self, answer: Answer, end: bytes) -> None:
        transport = self.transport
        if transport is None or self.closing:
            return
        if answer is _CLOSE_MARK:
            self.close()
            return
        head, body = answer
        transport.write(head + end + body if body else head + end)
        if end is _CLOSE:
            self.close()

    def _drain(self, _: object = None) -> None:
        """Write the answers that are ready, in request order."""
        queue = self.queue
        while queue:
            item, end = queue[0]
            if isinstance(item, asyncio.Task):
                if not item.done():
                    return
                if item.cancelled():
                    queue.clear()
                    return
                answer = item.result()
            else:
                answer = item
            queue.popleft()
            self._write(answer, end)
        self._resume()

    def _end(self) -> None:
        """Read no more; close once every queued answer is written (at once if none waits)."""
        self.ended = True
        if self.queue:
            self.queue.append((_CLOSE_MARK, _CLOSE))
            self._pause()
        else:
            self.close()

    def _refuse(self, problem: Problem) -> None:
        """Answer `problem` after the answers already queued, then close."""
        try:
            method = self.parser.get_method()
        except httptools.HttpParserError:
            method = b"GET"
        answer = self.edge.refused(problem, method)
        self.ended = True
        if self.queue:
            self.queue.append((answer, _CLOSE))
            self._pause()
        else:
            self._write(answer, _CLOSE)

    def _pause(self) -> None:
        if self.reading and self.transport is not None and not self.closing:
            self.reading = False
            self.transport.pause_reading()

    def _resume(self) -> None:
        if (
            not self.reading
            and not self.ended
            and self.writable
            and len(self.queue) < MAX_PIPELINED
            and self.transport is not None
            and not self.closing
        ):
            self.reading = True
            self.transport.resume_reading()

    def expire(self, now: float) -> None:
        """Called by the sweep: drop the connection if it idled or dawdled too long."""
        if self.queue or self.closing:
            return
        if self.request_since:
            if now - self.request_since > HEADER_SECONDS:
                self.close()
        elif now - self.idle_since > KEEP_ALIVE_SECONDS:
            self.close()

    def close(self) -> None:
        """Close the connection (after what was written is sent)."""
        if self.transport is not None and not self.closing:
            self.closing = True
            self.transport.close()
