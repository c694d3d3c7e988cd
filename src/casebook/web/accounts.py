"""Browser sign-in: `/login`, `/register` and `/logout` pages over the shared identity.

The forms call the auth service directly (`register_user`, `authenticate`, `logout`) and keep the
session in the auth package's HttpOnly, SameSite=Lax cookies. Every POST also passes the
same-origin check of `casebook.web.csrf`. After signing in, the browser goes to `next`, which must
be a path on this site (`casebook.web.redirects.safe_next`), so a crafted link cannot bounce a
user to another site.

A failed attempt re-renders the form with the service's explanation and the HTTP status of the
error (401 wrong credentials, 409 e-mail taken, 422 invalid input, 429 too many attempts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.auth import service
from casebook.platform.auth.cookies import (
    REFRESH_COOKIE,
    clear_session_cookies,
    set_session_cookies,
)
from casebook.platform.auth.deps import client_ip
from casebook.platform.auth.passwords import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH
from casebook.platform.auth.service import TokenPair
from casebook.platform.context import Platform, get_platform
from casebook.platform.errors import Problem
from casebook.platform.settings import Settings
from casebook.web.csrf import SameOrigin
from casebook.web.redirects import MAX_NEXT_LENGTH, safe_next
from casebook.web.templating import Templates
from casebook.web.viewer import OptionalViewer, Viewer

router = APIRouter()
templates = Templates()


@dataclass(frozen=True)
class FieldLimits:
    """Input lengths the forms announce to the browser; the auth service enforces the rules."""

    email: int = service.EMAIL_MAX_LENGTH
    display_name: int = service.NAME_MAX_LENGTH
    password: int = PASSWORD_MAX_LENGTH
    password_min: int = PASSWORD_MIN_LENGTH


LIMITS = FieldLimits()

# Generous caps, so that an over-long value still reaches the code that explains what is wrong
# with it (the service, or `safe_next`), while a megabyte of form data is refused outright.
NextField = Annotated[str, Form(max_length=4 * MAX_NEXT_LENGTH)]
EmailField = Annotated[str, Form(max_length=4 * LIMITS.email)]
PasswordField = Annotated[str, Form(max_length=4 * LIMITS.password)]
NameField = Annotated[str, Form(max_length=4 * LIMITS.display_name)]


def _next_query(target: str) -> str:
    return "" if target == "/" else f"?next={quote(target)}"


def _form_page(
    request: Request,
    name: str,
    viewer: Viewer | None,
    *,
    next_path: str,
    error: str = "",
    problem: Problem | None = None,
    **fields: Any,
) -> HTMLResponse:
    """A form page, or the form again after `problem` with its status and headers (Retry-After)."""
    context = {
        "next": next_path,
        "next_query": _next_query(next_path),
        "error": error,
        "limits": LIMITS,
        **fields,
    }
    if problem is None:
        return templates.render(request, name, context, viewer=viewer)
    return templates.render(
        request,
        name,
        context,
        viewer=viewer,
        status_code=problem.status,
        headers=problem.headers(),
    )


def _see_other(target: str) -> RedirectResponse:
    # 303 so the browser follows with a GET, whatever the form's method was.
    return RedirectResponse(target, status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, viewer: OptionalViewer, next: str = "/") -> HTMLResponse:
    """The sign-in form; `next` is where to go afterwards (a local path)."""
    return _form_page(request, "login.html", viewer, next_path=safe_next(next), email="")


@router.post("/login", response_class=HTMLResponse)
async def login_submit(
    request: Request,
    _same_origin: SameOrigin,
    platform: Annotated[Platform, Depends(get_platform)],
    viewer: OptionalViewer,
    email: EmailField = "",
    password: PasswordField = "",
    next: NextField = "/",
) -> Response:
    """Check the credentials; on success set the session cookies and go to `next` (303)."""
    target = safe_next(next)
    try:
        async with platform.db.session() as session:
            tokens = await _sign_in(session, platform, request, email, password)
    except Problem as problem:
        return _form_page(
            request,
            "login.html",
            viewer,
            next_path=target,
            error=_explain(problem, "login"),
            problem=problem,
            email=email,
        )
    return _signed_in(target, tokens, platform.settings)


async def _sign_in(
    session: AsyncSession, platform: Platform, request: Request, email: str, password: str
) -> TokenPair:
    """Check the credentials (throttled per IP and e-mail) and issue the session's tokens."""
    return await service.authenticate(
        session,
        platform.settings,
        email,
        password,
        limiter=platform.rate_limiter,
        client_ip=client_ip(request),
    )


def _signed_in(target: str, tokens: TokenPair, settings: Settings) -> Response:
    """Go to `target` (303) carrying the new session's cookies."""
    response = _see_other(target)
    set_session_cookies(response, tokens, settings)
    return response


@router.get("/register", response_class=HTMLResponse)
async def register_page(request: Request, viewer: OptionalViewer, next: str = "/") -> HTMLResponse:
    """The registration form; `next` is where to go once the account exists (a local path)."""
    return _form_page(
        request, "register.html", viewer, next_path=safe_next(next), email="", display_name=""
    )


@router.post("/register", response_class=HTMLResponse)
async def register_submit(
    request: Request,
    _same_origin: SameOrigin,
    platform: Annotated[Platform, Depends(get_platform)],
    viewer: OptionalViewer,
    display_name: NameField = "",
    email: EmailField = "",
    password: PasswordField = "",
    next: NextField = "/",
) -> Response:
    """Create the account and sign it in (one transaction), then go to `next` (303)."""
    target = safe_next(next)
    try:
        async with platform.db.session() as session:
            await service.register_user(
                session, email, password, display_name, settings=platform.settings
            )
            tokens = await _sign_in(session, platform, request, email, password)
    except Problem as problem:
        return _form_page(
            request,
            "register.html",
            viewer,
            next_path=target,
            error=_explain(problem, "register"),
            problem=problem,
            email=email,
            display_name=display_name,
        )
    return _signed_in(target, tokens, platform.settings)


@router.get("/logout", response_class=HTMLResponse)
async def logout_page(request: Request, viewer: OptionalViewer) -> HTMLResponse:
    """A page with the sign-out button (signing out is a POST, so a link cannot do it)."""
    return templates.render(request, "logout.html", viewer=viewer)


@router.post("/logout")
async def logout_submit(
    request: Request,
    _same_origin: SameOrigin,
    platform: Annotated[Platform, Depends(get_platform)],
) -> Response:
    """Revoke the session's refresh token, clear the cookies and go to the console (303)."""
    refresh_token = request.cookies.get(REFRESH_COOKIE)
    if refresh_token:
        async with platform.db.session() as session:
            await service.logout(session, refresh_token)
    response = _see_other("/")
    clear_session_cookies(response)
    return response


def _explain(problem: Problem, form: str) -> str:
    """The service's explanation, plus what to do next where it does not already say."""
    if problem.status == 401 and form == "login":
        return f"{problem.detail} Check the e-mail address and password and try again."
    return problem.detail
