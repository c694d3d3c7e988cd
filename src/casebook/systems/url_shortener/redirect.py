"""The redirect hot path: a bare ASGI handler in front of FastAPI (`System.fast_path`).

It answers `GET|HEAD /s/<code>` on any host, and `GET|HEAD /<code>` on a verified custom short
domain (by Host header), without FastAPI routing, dependency injection, pydantic or templates.
Everything else passes through to the app untouched.

Per request, with a warm cache: one regex match on the path, one dict lookup (custom hosts only),
one read of process memory (`MemoryCache.get_now`, no await; with Redis, a GET only when this
process has not read the code within `local_cache_ttl_seconds`), a split
of the cached entry, one scan of the request headers, and an O(1) append to the click buffer. The
response headers are prebuilt byte strings. A miss costs one indexed SELECT and fills the cache,
and an unknown code is cached as unknown for a few seconds, so a flood of made-up codes cannot
reach the database more than once per code per `negative_cache_ttl_seconds`.

Errors are RFC 9457 problem+json built from the platform's `Problem` classes, like the API's.
"""

from __future__ import annotations

import re
import time

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from casebook.platform.context import Platform
from casebook.platform.errors import PROBLEM_JSON, Problem
from casebook.platform.metrics import ROUTE_KEY
from casebook.systems.url_shortener.codes import CODE_LENGTH
from casebook.systems.url_shortener.errors import LinkDeleted, LinkExpired, LinkNotFound
from casebook.systems.url_shortener.hosts import request_host
from casebook.systems.url_shortener.linkcache import (
    GONE,
    LOWERCASE_POINTER,
    UNKNOWN,
    Target,
    decode_target,
)
from casebook.systems.url_shortener.models import MAIN_DOMAIN
from casebook.systems.url_shortener.runtime import shortener

CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")
MAIN_PREFIX = "/s/"
# Route templates for the metrics middleware (`platform.metrics.ROUTE_KEY`).
MAIN_ROUTE = "/s/{code}"
CUSTOM_DOMAIN_ROUTE = "/{code}"
_MAX_AGE_301 = 86_400
_REDIRECT_HEADERS = {
    # A 301 is cached by browsers; bounding it to a day lets edits and expiry take effect.
    301: [(b"cache-control", b"public, max-age=86400"), (b"content-length", b"0")],
    # A 302 must come back to us on every click, or the click is not counted.
    302: [(b"cache-control", b"private, no-cache"), (b"content-length", b"0")],
}
_PROBLEM_TYPE = PROBLEM_JSON.encode()


class RedirectFastPath:
    """ASGI handler: short-link redirects itself, anything else to `app`."""

    def __init__(self, platform: Platform, app: ASGIApp) -> None:
        self.app = app
        self.state = shortener(platform)
        self.hosts = self.state.hosts
        self.links = self.state.links
        self.local = self.links.local
        self.shared_entry = self.links.shared_entry
        self.record_click = self.state.clicks.record
        header = platform.settings.trusted_country_header.strip().lower()
        self.country_header = header.encode("latin-1") if header else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path.startswith(MAIN_PREFIX):
            code = path[3:]
            domain_id = MAIN_DOMAIN
        elif self.hosts.by_host:
            domain_id_or_none = self._custom_domain(scope)
            if domain_id_or_none is None:
                await self.app(scope, receive, send)
                return
            domain_id, code = domain_id_or_none, path[1:]
        else:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if (method != "GET" and method != "HEAD") or CODE.fullmatch(code) is None:
            if domain_id == MAIN_DOMAIN:
                await self.app(scope, receive, send)
                return
            scope[ROUTE_KEY] = CUSTOM_DOMAIN_ROUTE
            missing = LinkNotFound(f"There is no short link at {path!r}.")
            await self._problem(send, missing, method)
            return
        scope[ROUTE_KEY] = MAIN_ROUTE if domain_id == MAIN_DOMAIN else CUSTOM_DOMAIN_ROUTE
        await self._redirect(scope, send, domain_id, code, method)

    def _custom_domain(self, scope: Scope) -> int | None:
        for name, value in scope["headers"]:
            if name == b"host":
                return self.hosts.by_host.get(request_host(value))
        return None

    async def _redirect(
        self, scope: Scope, send: Send, domain_id: int, code: str, method: str
    ) -> None:
        # `linkcache.lookup_spelling`, inlined: `code` matched CODE, so it is ASCII already.
        spelling = code if len(code) == CODE_LENGTH and code.isalnum() else code.lower()
        key = f"urlshortener:{domain_id}:{spelling}"
        local = self.local
        raw = local.get_now(key)
        if raw is None:
            raw = await self.shared_entry(key)
        if raw == LOWERCASE_POINTER:
            spelling = spelling.lower()
            key = f"urlshortener:{domain_id}:{spelling}"
            raw = local.get_now(key)
            if raw is None:
                raw = await self.shared_entry(key)
        now = time.time()
        target: Target | None
        if raw is None:
            target = await self.links.load(domain_id, spelling)
        elif raw == UNKNOWN:
            target = None
        else:
            target = decode_target(raw)
            if target.stale_after <= now:
                target = await self.links.load(domain_id, spelling)
        if target is None:
            await self._problem(send, LinkNotFound(f"There is no short link {code!r}."), method)
            return
        if target.status == GONE:
            await self._problem(send, LinkDeleted(f"The short link {code!r} was deleted."), method)
            return
        expires_at = target.expires_at
        if expires_at and now >= expires_at:
            await self._problem(send, LinkExpired(f"The short link {code!r} has expired."), method)
            return
        headers = [(b"location", target.location), *_REDIRECT_HEADERS[target.status]]
        if expires_at and target.status == 301 and expires_at - now < _MAX_AGE_301:
            headers[1] = (b"cache-control", b"public, max-age=%d" % int(expires_at - now))
        await send({"type": "http.response.start", "status": target.status, "headers": headers})
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
            self.record_click((target.link_id, now, referer, country, agent))

    @staticmethod
    async def _problem(send: Send, problem: Problem, method: str) -> None:
        body = orjson.dumps(problem.body())
        headers = [
            (b"content-type", _PROBLEM_TYPE),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": problem.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


def build_fast_path(platform: Platform, app: ASGIApp) -> ASGIApp:
    """`System.fast_path`: wrap `app` with the redirect handler of `platform`'s shortener."""
    return RedirectFastPath(platform, app)
