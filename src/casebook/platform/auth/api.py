"""`/api/auth`: one identity across every system — accounts, tokens and API keys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from casebook.platform.auth import service
from casebook.platform.auth.deps import (
    CurrentPrincipal,
    SessionPrincipal,
    client_ip,
    forget_api_keys,
)
from casebook.platform.auth.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    LoginIn,
    RefreshIn,
    RegisterIn,
    TokenOut,
    UserOut,
)
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session
from casebook.platform.errors import PROBLEM_JSON
from casebook.platform.idempotency import Idempotent
from casebook.platform.pagination import Page, PageQuery

router = APIRouter()

PlatformDep = Annotated[Platform, Depends(get_platform)]

_MEANINGS = {
    401: "Missing or invalid credentials",
    403: "The credential may not do this",
    404: "No such resource",
    409: "Conflict with the current state",
    422: "Invalid input",
    429: "Too many attempts; see Retry-After",
}


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the problem+json errors a route may answer."""
    return {
        status: {"description": _MEANINGS[status], "content": {PROBLEM_JSON: {}}}
        for status in statuses
    }


def _tokens(pair: service.TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post(
    "/register",
    status_code=201,
    response_model=UserOut,
    dependencies=[Idempotent],
    responses=_problems(409, 422),
)
async def register(body: RegisterIn, session: Session, platform: PlatformDep) -> UserOut:
    """Create an account. The e-mail address is lower-cased and must be unused; the password has
    10 to 256 characters. Accepts `Idempotency-Key`."""
    user = await service.register_user(
        session, body.email, body.password, body.display_name, settings=platform.settings
    )
    return UserOut.model_validate(user)


@router.post("/login", response_model=TokenOut, responses=_problems(401, 422, 429))
async def login(
    body: LoginIn, request: Request, session: Session, platform: PlatformDep
) -> TokenOut:
    """Exchange e-mail and password for a short-lived access token (a JWT; send it as
    `Authorization: Bearer …`) and a refresh token. Attempts are limited per address and per
    client IP address (`429` with `Retry-After`)."""
    pair = await service.authenticate(
        session,
        platform.settings,
        body.email,
        body.password,
        limiter=platform.rate_limiter,
        client_ip=client_ip(request),
    )
    return _tokens(pair)


@router.post("/refresh", response_model=TokenOut, responses=_problems(401, 422))
async def refresh(body: RefreshIn, session: Session, platform: PlatformDep) -> TokenOut:
    """Trade a refresh token for a new pair. Each refresh token works once: presenting one
    again revokes every token of that login, and both holders must log in again."""
    return _tokens(await service.refresh(session, platform.settings, body.refresh_token))


@router.post("/logout", status_code=204, responses=_problems(422))
async def logout(body: RefreshIn, session: Session) -> Response:
    """Revoke the refresh token and every token rotated from the same login. Always `204`."""
    await service.logout(session, body.refresh_token)
    return Response(status_code=204)


@router.get("/me", response_model=UserOut, responses=_problems(401))
async def me(principal: CurrentPrincipal, session: Session) -> UserOut:
    """The account behind the credential (session or API key)."""
    return UserOut.model_validate(await service.get_user(session, principal.user_id))


@router.post(
    "/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=_problems(401, 403, 422),
)
async def create_api_key(
    body: ApiKeyIn, principal: SessionPrincipal, session: Session
) -> ApiKeyCreated:
    """Create an API key limited to `scopes`. The key (`cbk_…`) is in this response only; store
    it now. Needs a logged-in user: an API key cannot create keys."""
    key, plaintext = await service.create_api_key(
        session, principal.user_id, body.name, body.scopes
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=plaintext)


@router.get("/api-keys", response_model=Page[ApiKeyOut], responses=_problems(401, 403, 422))
async def list_api_keys(
    principal: SessionPrincipal, page: PageQuery, session: Session
) -> Page[ApiKeyOut]:
    """Your live API keys, newest first, by cursor (`?cursor=&limit=`). Keys show their prefix
    only."""
    keys, next_cursor = await service.list_api_keys(session, principal.user_id, page)
    return Page[ApiKeyOut](
        items=[ApiKeyOut.model_validate(k) for k in keys], next_cursor=next_cursor
    )


@router.delete("/api-keys/{key_id}", status_code=204, responses=_problems(401, 403, 404))
async def revoke_api_key(
    key_id: Annotated[int, Path(ge=0, le=2**63 - 1)],
    principal: SessionPrincipal,
    session: Session,
    platform: Annotated[Platform, Depends(get_platform)],
) -> Response:
    """Revoke one of your API keys; it stops working at once (within 1 s on other servers of a
    cluster). Another user's key is `404`."""
    await service.revoke_api_key(session, principal.user_id, key_id)
    await session.commit()
    forget_api_keys(platform)
    return Response(status_code=204)
