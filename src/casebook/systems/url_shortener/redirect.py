"""The redirect hot path: a bare ASGI handler in front of the whole app (`System.fast_path`).

It answers `GET|HEAD /s/<code>` on any host, and `GET|HEAD /<code>` on a verified custom short
domain (by Host header). `create_app` puts it in front of FastAPI *and* of every middleware, so a
redirect pays for no routing, dependency injection, pydantic, templates, request-id or metrics
middleware; everything else passes through to the app untouched.

Per request, with a warm cache: one regex match on the path, one dict lookup (custom hosts only),
one read of process memory (`MemoryCache.get_now`, no await; with Redis, a GET only when this
process has not read the code within `local_cache_ttl_seconds`), a split of the cached entry,
one scan of the request headers, an O(1) increment of the click counters, and two clock reads
and two dict updates for the metrics (`AnswerSeries`). The response headers are prebuilt byte
strings. A miss costs one indexed SELECT and fills the cache, and an unknown code is cached as
unknown for a few seconds, so a flood of made-up codes cannot reach the database more than once
per code per `negative_cache_ttl_seconds`.

Being outermost, the handler does itself what the middlewares would do for it: it counts and
times its answers in the platform's Prometheus series (`casebook_http_requests`,
`casebook_http_request_duration_seconds`, labelled `/s/{code}` or `/{code}`), and when a lookup
fails (the database or Redis is down) it logs the error and answers a problem+json 500.
Errors are RFC 9457 problem+json built from the platform's `Problem` classes, like the API's.
"""

from __future__ import annotations

import math
import re
import time

import orjson
import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from casebook.platform.context import Platform
from casebook.platform.errors import PROBLEM_JSON, Problem
from casebook.platform.metrics import AnswerSeries
from casebook.systems.url_shortener.codes import CODE_LENGTH
from casebook.systems.url_shortener.errors import (
    LinkNotFound,
    RedirectFailed,
)
from casebook.systems.url_shortener.hosts import request_host
from casebook.systems.url_shortener.linkcache import (
    LOWERCASE_POINTER,
    UNKNOWN,
    Target,
    decode_target,
    refusal,
)
from casebook.systems.url_shortener.models import MAIN_DOMAIN
from casebook.systems.url_shortener.runtime import Shortener, shortener

log = structlog.get_logger("casebook.url_shortener.redirect")

CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")
MAIN_PREFIX = "/s/"
# Route templates of the metrics series (as `platform.metrics` labels routes).
MAIN_ROUTE = "/s/{code}"
CUSTOM_DOMAIN_ROUTE = "/{code}"
_MAX_AGE_301 = 86_400
# A 301 is cached by browsers; bounding it to a day lets edits and expiry take effect.
_CACHE_301 = b"public, max-age=86400"
# A 302 must come back to us on every click, or the click is not counted.
_CACHE_302 = b"private, no-cache"
_REDIRECT_HEADERS = {
    301: [(b"cache-control", _CACHE_301), (b"content-length", b"0")],
    302: [(b"cache-control", _CACHE_302), (b"content-length", b"0")],
}
_PROBLEM_TYPE = PROBLEM_JSON.encode()


MISS = Target(0, 0, 0.0, 0.0, b"")
"""`Resolver.cached`'s answer when process memory cannot decide (absent or stale entry)."""


class Resolver:
    """Short code → `Target`, from process memory, else the shared cache, else the database:
    the lookup of both the ASGI fast path and the redirect listener (`edge`)."""

    def __init__(self, state: Shortener) -> None:
        self.links = state.links
        self.local = state.links.local
        self.shared_entry = state.links.shared_entry

    def entry(self, domain_id: int, code: str) -> bytes | None:
        """The cache entry process memory holds for `code` (`linkcache`'s format, the
        lower-case pointer followed), or None. O(1), no I/O, never awaits."""
        spelling = code if len(code) == CODE_LENGTH and code.isalnum() else code.lower()
        raw = self.local.get_now(f"urlshortener:{domain_id}:{spelling}")
        if raw == LOWERCASE_POINTER:
            raw = self.local.get_now(f"urlshortener:{domain_id}:{spelling.lower()}")
        return raw

    @staticmethod
    def target(raw: bytes | None, now: float) -> Target | None:
        """What an `entry` says: the target (None: known not to exist), or `MISS` when only
        `resolve` can tell (no entry, or a stale one)."""
        if raw is None:
            return MISS
        if raw == UNKNOWN:
            return None
        target = decode_target(raw)
        return MISS if target.stale_after <= now else target

    def cached(self, domain_id: int, code: str, now: float) -> Target | None:
        """The target of `code` if process memory knows it (None: known not to exist), or
        `MISS` when only `resolve` can tell. O(1), no I/O, never awaits."""
        return self.target(self.entry(domain_id, code), now)

    async def resolve(self, domain_id: int, code: str, now: float) -> Target | None:
        """The target of `code` (`code` matched CODE): from process memory, else the shared
        cache, else the database. Returns None for an unknown code. Raises what the cache or
        the database raises."""
        # `linkcache.lookup_spelling`, inlined: `code` matched CODE, so it is ASCII already.
        spelling = code if len(code) == CODE_LENGTH and code.isalnum() else code.lower()
        key = f"urlshortener:{domain_id}:{spelling}"
        raw = self.local.get_now(key)
        if raw is None:
            raw = await self.shared_entry(key)
        if raw == LOWERCASE_POINTER:
            spelling = spelling.lower()
            key = f"urlshortener:{domain_id}:{spelling}"
            raw = self.local.get_now(key)
            if raw is None:
                raw = await self.shared_entry(key)
        if raw is None:
            return await self.links.load(domain_id, spelling)
        if raw == UNKNOWN:
            return None
        target = decode_target(raw)
        if target.stale_after <= now:
            return await self.links.load(domain_id, spelling)
        return target


def cache_control(target: Target, now: float) -> bytes:
    """The Cache-Control of a live link's redirect."""
    if target.status == 301:
        expires_at = target.expires_at
        if expires_at and expires_at - now < _MAX_AGE_301:
            return b"public, max-age=%d" % int(expires_at - now)
        return _CACHE_301
    return _CACHE_302


def cache_control_fixed_until(target: Target) -> float:
    """Until when (epoch seconds) `cache_control(target, now)` is the same for every `now`, and
    the link still live: a 301 with an expiry counts its max-age down in its last day."""
    expires_at = target.expires_at or math.inf
    return expires_at - _MAX_AGE_301 if target.status == 301 else expires_at


class RedirectFastPath:
    """ASGI handler: short-link redirects itself, anything else to `app`."""

    def __init__(self, platform: Platform, app: ASGIApp) -> None:
        self.app = app
        self.state = shortener(platform)
        self.hosts = self.state.hosts
        self.resolver = Resolver(self.state)
        self.record_click = self.state.clicks.record
        self.metrics = AnswerSeries()
        header = platform.settings.trusted_country_header.strip().lower()
        self.country_header = header.encode("latin-1") if header else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path.startswith(MAIN_PREFIX):
            code = path[3:]
            domain_id = MAIN_DOMAIN
            route = MAIN_ROUTE
        elif self.hosts.by_host:
            domain_id_or_none = self._custom_domain(scope)
            if domain_id_or_none is None:
                await self.app(scope, receive, send)
                return
            domain_id, code, route = domain_id_or_none, path[1:], CUSTOM_DOMAIN_ROUTE
        else:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        started = time.perf_counter()
        if (method != "GET" and method != "HEAD") or CODE.fullmatch(code) is None:
            if domain_id == MAIN_DOMAIN:
                await self.app(scope, receive, send)
                return
            missing = LinkNotFound(f"There is no short link at {path!r}.")
            status = await self._problem(send, missing, method)
        else:
            status = await self._redirect(scope, send, domain_id, code, method)
        self.metrics.record(method, route, status, time.perf_counter() - started)

    def _custom_domain(self, scope: Scope) -> int | None:
        for name, value in scope["headers"]:
            if name == b"host":
                return self.hosts.by_host.get(request_host(value))
        return None

    async def _redirect(
        self, scope: Scope, send: Send, domain_id: int, code: str, method: str
    ) -> int:
        """Answer the redirect (or its problem); returns the status sent."""
        now = time.time()
        try:
            target = await self.resolver.resolve(domain_id, code, now)
        except Exception:
            # The database or Redis failed on a miss: nothing has been sent yet.
            log.exception("redirect lookup failed", domain_id=domain_id, code=code)
            return await self._problem(send, RedirectFailed(), method)
        problem = refusal(target, code, now)
        if problem is not None or target is None:
            return await self._problem(send, problem or RedirectFailed(), method)
        status = target.status
        headers = [(b"location", target.location), *_REDIRECT_HEADERS[status]]
        expires_at = target.expires_at
        if expires_at and status == 301 and expires_at - now < _MAX_AGE_301:
            headers[1] = (b"cache-control", cache_control(target, now))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        if method == "GET":
            referer = agent = country = None
            country_header = self.country_header
            for name, value in scope["headers"]:
                if name == b"referer":
                    referer = value
                elif name == b"user-agent":
                    agent = value
                elif name == country_header:
                    country = value
            self.record_click(target.link_id, now, referer, country, agent)
        return status

    @staticmethod
    async def _problem(send: Send, problem: Problem, method: str) -> int:
        body = orjson.dumps(problem.body())
        headers = [
            (b"content-type", _PROBLEM_TYPE),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": problem.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
        return problem.status


def build_fast_path(platform: Platform, app: ASGIApp) -> ASGIApp:
    """`System.fast_path`: wrap `app` with the redirect handler of `platform`'s shortener."""
    return RedirectFastPath(platform, app)
