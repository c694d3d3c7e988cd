"""Scopes: what an API key may do, as `system[:resource[:action]]` strings.

A scope is lower-case segments of `[a-z0-9-]` joined by `:` (`url-shortener:write`). A granted
scope covers itself and every scope beneath it: `url-shortener` covers `url-shortener:write`.
`*` (only ever held by a user's own session, never by an API key) covers everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from casebook.platform.errors import InvalidInput

ALL = "*"
SCOPE_PATTERN = r"^[a-z0-9-]+(:[a-z0-9-]+)*$"
SCOPE_MAX_LENGTH = 64
MAX_SCOPES_PER_KEY = 32
_SCOPE = re.compile(SCOPE_PATTERN)


class InvalidScope(InvalidInput):
    type_ = "invalid-scope"
    title = "The scope is not valid"


def is_valid_scope(scope: str) -> bool:
    return len(scope) <= SCOPE_MAX_LENGTH and _SCOPE.fullmatch(scope) is not None


def normalize_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes sorted and de-duplicated; raises `InvalidScope` on a malformed one or too many."""
    unique = sorted(set(scopes))
    for scope in unique:
        if not is_valid_scope(scope):
            raise InvalidScope(
                f"{scope!r} is not a scope: use lower-case segments of a-z, 0-9 and '-' joined by "
                f"':' (for example 'url-shortener:write'), at most {SCOPE_MAX_LENGTH} characters."
            )
    if not unique:
        raise InvalidScope("An API key needs at least one scope.")
    if len(unique) > MAX_SCOPES_PER_KEY:
        raise InvalidScope(f"An API key has at most {MAX_SCOPES_PER_KEY} scopes.")
    return unique


def grants(granted: Iterable[str], required: str) -> bool:
    """Whether any of `granted` covers `required`. O(len(granted))."""
    return any(scope in (ALL, required) or required.startswith(scope + ":") for scope in granted)
