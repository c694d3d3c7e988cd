"""Cross-site request forgery defence for HTML forms that post with the session cookie.

The session cookies are SameSite=Lax, which already keeps them off cross-site POSTs in current
browsers; on top of that every state-changing form endpoint checks where the request came from
(OWASP's "verifying origin with standard headers"): the `Origin` header, or the origin of the
`Referer` when a browser leaves `Origin` out, must be this server's own origin, i.e. the scheme
and Host of the request or the origin of `Settings.base_url`. A request carrying neither header
is refused too: every browser sends one of them on a form POST, so a missing pair means a client
that should use the JSON API with a bearer token instead.

Use it as a dependency: ``async def submit(..., _: SameOrigin) -> Response``.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from casebook.platform.errors import Forbidden


class CrossSiteRequest(Forbidden):
    type_ = "cross-site-request"
    title = "Cross-site form submission refused"


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an absolute http(s) URL, lower-cased; None for anything else."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins(request: Request) -> set[str]:
    """The origins a form on this site posts from: the request's scheme + Host, and base_url's."""
    origins = set()
    host = request.headers.get("host")
    if host:
        origins.add(f"{request.url.scheme}://{host}".lower())
    base = origin_of(request.app.state.settings.base_url)
    if base:
        origins.add(base)
    return origins


def require_same_origin(request: Request) -> None:
    """FastAPI dependency: raises CrossSiteRequest (403) unless the request comes from this site."""
    origin = request.headers.get("origin")
    if origin is not None:
        source = origin_of(origin)
        described = f"Origin {origin!r}"
    else:
        referer = request.headers.get("referer")
        if referer is None:
            raise CrossSiteRequest(
                "This form accepts submissions from its own pages only, and the request carried "
                "neither an Origin nor a Referer header. Submit the form from the page, or use "
                "the JSON API with a bearer token."
            )
        source = origin_of(referer)
        described = "the Referer"
    if source is None or source not in allowed_origins(request):
        raise CrossSiteRequest(
            f"{described} is not this site; the form was submitted from another page. "
            "Open the form on this site and submit it again."
        )


SameOrigin = Annotated[None, Depends(require_same_origin)]
"""Declare a parameter of this type on a form endpoint to refuse cross-site submissions."""
