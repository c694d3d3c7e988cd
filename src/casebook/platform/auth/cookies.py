"""Session cookies for the web pages: the access token, and the refresh token that renews it.

Both are HttpOnly (scripts cannot read them) and Secure when the site is served over HTTPS
(`settings.base_url`). The access cookie is SameSite=Lax, so following a link to the site keeps
the user logged in while cross-site POSTs carry no credential (the CSRF defence). The refresh
cookie is SameSite=Strict: only the site's own pages ever send it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from casebook.platform.settings import Settings

if TYPE_CHECKING:
    from casebook.platform.auth.service import TokenPair

ACCESS_COOKIE = "casebook_access"
REFRESH_COOKIE = "casebook_refresh"


def set_session_cookies(response: Response, tokens: TokenPair, settings: Settings) -> None:
    """Put a login's tokens on `response`, each cookie living as long as its token."""
    secure = settings.base_url.startswith("https://")
    response.set_cookie(
        ACCESS_COOKIE,
        tokens.access_token,
        max_age=tokens.expires_in,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )
    response.set_cookie(
        REFRESH_COOKIE,
        tokens.refresh_token,
        max_age=settings.refresh_token_ttl_seconds,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def clear_session_cookies(response: Response) -> None:
    """Make the browser forget both session cookies (on logout)."""
    response.delete_cookie(ACCESS_COOKIE, path="/", httponly=True, samesite="lax")
    response.delete_cookie(REFRESH_COOKIE, path="/", httponly=True, samesite="strict")
