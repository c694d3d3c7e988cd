"""Which target URLs may be shortened (the seed's "URL validation, open-redirect/phishing
blocklists"), and how host names are normalised.

`check_target_url` is pure: it returns the URL in the exact ASCII form the redirect will send in its
`Location` header, or raises `RejectedUrl` naming the rule that failed. Nothing is stored for a
rejected URL.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import quote, urlsplit, urlunsplit

from casebook.platform.errors import InvalidInput
from casebook.systems.url_shortener.models import MAX_HOST_LENGTH, MAX_URL_LENGTH

_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f]")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Characters a URL path/query/fragment may carry as-is; everything else is percent-encoded so the
# Location header is plain ASCII. '%' stays, so existing escapes are not encoded twice.
_SAFE_PATH = "/:@!$&'()*+,;=-._~%"
_SAFE_QUERY = _SAFE_PATH + "?"


class RejectedUrl(InvalidInput):
    """The target URL breaks a safety rule; `reason` says which one."""

    type_ = "url-shortener/rejected-url"
    title = "This URL cannot be shortened"

    def __init__(self, detail: str, reason: str) -> None:
        super().__init__(detail, reason=reason)


class InvalidHost(InvalidInput):
    type_ = "url-shortener/invalid-host"
    title = "Not a valid host name"


def normalize_host(raw: str) -> str:
    """A DNS host name in canonical form: lower case, IDNA (punycode) labels, no trailing dot.

    Raises InvalidHost for IP literals, single labels, numeric top-level labels, bad label
    syntax, or names longer than 253 characters.
    """
    host = raw.strip().rstrip(".").lower()
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidHost(f"{raw!r} is not a valid host name.") from None
    if not host or len(host) > MAX_HOST_LENGTH:
        raise InvalidHost(f"{raw!r} is not a valid host name.")
    labels = host.split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        raise InvalidHost(f"{raw!r} is not a fully qualified host name.")
    if not all(_LABEL.match(label) for label in labels):
        raise InvalidHost(f"{raw!r} is not a valid host name.")
    return host


def host_matches(host: str, domains: Iterable[str]) -> bool:
    """Whether `host` is one of `domains` or a subdomain of one. O(len(domains))."""
    return any(host == d or host.endswith("." + d) for d in domains)


def check_target_url(url: str, *, blocked_domains: Iterable[str], own_hosts: Iterable[str]) -> str:
    """The URL normalised for the Location header, if it may be shortened.

    Rules: at most 2,048 characters; no control characters or whitespace; scheme http or https;
    no user name or password; a host (DNS name or IP literal) and a valid port; not a blocked
    domain or its subdomain; not one of our own short hosts (a link to ourselves would loop).
    Raises RejectedUrl with `reason` in {length, control-characters, scheme, credentials, host,
    port, blocked-domain, loop}.
    """
    if len(url) > MAX_URL_LENGTH:
        raise RejectedUrl(f"The URL is {len(url)} characters long; the limit is 2048.", "length")
    if _CONTROL.search(url):
        raise RejectedUrl(
            "The URL contains whitespace or control characters.", "control-characters"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RejectedUrl(f"The URL cannot be parsed: {exc}.", "port") from None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        shown = f"'{parts.scheme}:'" if parts.scheme else "no scheme"
        raise RejectedUrl(f"Only http and https URLs can be shortened, not {shown}.", "scheme")
    if "@" in parts.netloc:
        raise RejectedUrl("URLs carrying a user name or password are refused.", "credentials")
    if not parts.hostname:
        raise RejectedUrl("The URL has no host.", "host")
    host = _target_host(parts.hostname)
    if port is not None and port == 0:
        raise RejectedUrl("Port 0 is not a valid port.", "port")
    blocked = [d.lower().strip(".") for d in blocked_domains]
    if host_matches(host, blocked):
        raise RejectedUrl(f"Links to {host} are not allowed.", "blocked-domain")
    if host in {h.lower() for h in own_hosts}:
        raise RejectedUrl(
            f"{host} is one of this service's short hosts; a link to it would loop.", "loop"
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    normalized = urlunsplit(
        (
            scheme,
            netloc,
            quote(parts.path, safe=_SAFE_PATH) or "/",
            quote(parts.query, safe=_SAFE_QUERY),
            quote(parts.fragment, safe=_SAFE_QUERY),
        )
    )
    if len(normalized) > MAX_URL_LENGTH:
        raise RejectedUrl(
            f"The URL is {len(normalized)} characters long once encoded; the limit is 2048.",
            "length",
        )
    return normalized


def _target_host(hostname: str) -> str:
    try:
        return str(ipaddress.ip_address(hostname))
    except ValueError:
        pass
    try:
        return normalize_host(hostname)
    except InvalidHost:
        raise RejectedUrl(f"{hostname!r} is not a valid host name.", "host") from None
