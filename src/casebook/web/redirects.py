"""Where a browser may be sent after signing in: only to a path on this site.

`/login?next=…` links travel through e-mail, chat and other people's pages, so `next` is untrusted
input; redirecting to it unchecked would make the site an open redirect for phishing.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_NEXT_LENGTH = 2048


def safe_next(target: str | None) -> str:
    """`target` when it is a path on this site, else "/".

    Refuses absolute and scheme-relative URLs (`https://x`, `//x`), backslashes (`/\\x`, which
    browsers read as `//x`), control characters and whitespace (browsers drop tabs and newlines,
    turning `/\\t/x` into `//x`) and anything over `MAX_NEXT_LENGTH` characters. O(len(target)).
    """
    if not target or len(target) > MAX_NEXT_LENGTH:
        return "/"
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target
