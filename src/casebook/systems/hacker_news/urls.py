"""Submitted links: validation, the domain shown next to a title, and the normalized form used to
detect duplicates."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from casebook.platform.errors import InvalidInput

MAX_URL = 2000
_TRACKING_PREFIXES = ("utm_",)
_TRACKING_PARAMS = frozenset({"fbclid", "gclid", "ref", "ref_src"})


class InvalidUrl(InvalidInput):
    type_ = "hacker-news/invalid-url"
    title = "The URL is not a valid http(s) link"


def check_url(url: str) -> tuple[str, str]:
    """(the URL, stripped; its host without "www.") for a submission. Raises InvalidUrl."""
    url = url.strip()
    if len(url) > MAX_URL:
        raise InvalidUrl(f"URLs are at most {MAX_URL} characters.")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise InvalidUrl("The URL cannot be parsed.") from None
    if parts.scheme.lower() not in {"http", "https"} or not host or " " in url:
        raise InvalidUrl("Submit an absolute http:// or https:// link.")
    return url, host.removeprefix("www.")


def normalized(url: str) -> str:
    """The URL two submissions of the same page share: scheme folded to https, host lower-cased
    without "www." and default ports, no fragment, no trailing slash, tracking parameters
    (utm_*, fbclid, gclid, ref) dropped, the rest of the query sorted. O(len(url))."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").removeprefix("www.")
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in _TRACKING_PARAMS and not k.startswith(_TRACKING_PREFIXES)
    )
    path = parts.path.rstrip("/") or ""
    return urlunsplit(("https", host, path, urlencode(query), ""))


def url_hash(url: str) -> str:
    """SHA-256 (hex) of `normalized(url)`: the duplicate-detection key."""
    return hashlib.sha256(normalized(url).encode()).hexdigest()


def on_domain(domain: str, listed: list[str]) -> bool:
    """True when `domain` is one of `listed` or a subdomain of one."""
    return any(domain == d or domain.endswith("." + d) for d in listed)
