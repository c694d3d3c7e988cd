"""`/hacker-news/` people pages: profiles (`/user`, `/submitted`, `/threads`, the private
`/upvoted`) and accounts (`/login`, `/register`, `/account` to choose a username). Readable by
anyone except `/upvoted`; "about" is changed only by its owner (the form has no user field)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.auth.cookies import set_session_cookies
from casebook.platform.auth.deps import client_ip
from casebook.platform.context import Platform
from casebook.platform.db import Session
from casebook.platform.errors import Problem
from casebook.systems.hacker_news import accounts, editing, reads
from casebook.systems.hacker_news.errors import UserNotFound
from casebook.systems.hacker_news.models import Account, Item
from casebook.systems.hacker_news.page_shell import (
    HOME,
    USER_ITEMS,
    GotoField,
    PlatformDep,
    State,
    local_goto,
    login_redirect,
    message_page,
    render,
    viewer_account,
    writer_or_login,
)
from casebook.systems.hacker_news.schemas import MAX_ABOUT
from casebook.web.csrf import SameOrigin
from casebook.web.viewer import OptionalViewer, Viewer

router = APIRouter()

# Users ---------------------------------------------------------------------------------------

Username = Annotated[str, Query(alias="id", min_length=1, max_length=15)]


async def _account_or_message(
    request: Request, session: AsyncSession, viewer: Viewer | None, me: Account | None, name: str
) -> Account | HTMLResponse:
    account = await accounts.account_named(session, name)
    if account is None:
        return message_page(request, viewer, me, UserNotFound(f"There is no user {name!r}."))
    return account


async def _user_items(
    session: AsyncSession, account: Account, me: Account | None, type_: str, before: int | None
) -> list[Item]:
    """A user's stories or comments, newest first; their dead ones only to themselves."""
    found = await reads.items_by(session, account.user_id, type_, USER_ITEMS, before)
    own = me is not None and me.user_id == account.user_id
    return [item for item in found if own or not item.dead]


@router.get("/user", response_class=HTMLResponse)
async def user_page(
    request: Request, viewer: OptionalViewer, session: Session, name: Username
) -> HTMLResponse:
    """A profile: created, karma, about (editable by its owner), and links to the user's
    submissions and comments."""
    me = await viewer_account(session, viewer)
    account = await _account_or_message(request, session, viewer, me, name)
    if isinstance(account, HTMLResponse):
        return account
    context = {"account": account, "error": None}
    return render(request, "hacker_news_user.html", viewer, me, context)


@router.post("/user", response_class=HTMLResponse)
async def save_about(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: Session,
    about: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """Save the signed-in user's own "about" (there is no way to change anyone else's)."""
    me = await writer_or_login(request, session, viewer, HOME)
    if isinstance(me, RedirectResponse):
        return me
    if len(about.strip()) > MAX_ABOUT:
        context = {"account": me, "error": f"About is at most {MAX_ABOUT} characters."}
        return render(request, "hacker_news_user.html", viewer, me, context, 422)
    me.about = about.strip()
    return RedirectResponse(f"{HOME}user?id={quote(me.username)}", status_code=303)


@router.get("/submitted", response_class=HTMLResponse)
async def submitted(
    request: Request,
    viewer: OptionalViewer,
    session: Session,
    name: Username,
    next: Annotated[int | None, Query(ge=1, le=2**53)] = None,
) -> HTMLResponse:
    """A user's stories, newest first (`?next=<id>` pages on)."""
    me = await viewer_account(session, viewer)
    account = await _account_or_message(request, session, viewer, me, name)
    if isinstance(account, HTMLResponse):
        return account
    items = await _user_items(session, account, me, "story", next)
    rows = [(item, account.username) for item in items]
    mine = await reads.votes_on(session, me.user_id, [i.id for i in items]) if me else {}
    more = (
        f"{HOME}submitted?id={quote(name)}&next={items[-1].id}"
        if len(items) == USER_ITEMS
        else None
    )
    context = {
        "view": "submitted",
        "rows": rows,
        "first_rank": 1,
        "votes": mine,
        "more": more,
        "account": account,
    }
    return render(request, "hacker_news_list.html", viewer, me, context)


@router.get("/threads", response_class=HTMLResponse)
async def threads(
    request: Request,
    viewer: OptionalViewer,
    session: Session,
    state: State,
    name: Username,
    next: Annotated[int | None, Query(ge=1, le=2**53)] = None,
) -> HTMLResponse:
    """A user's comments, newest first, each linking to its story."""
    me = await viewer_account(session, viewer)
    account = await _account_or_message(request, session, viewer, me, name)
    if isinstance(account, HTMLResponse):
        return account
    items = await _user_items(session, account, me, "comment", next)
    story_ids = {i.story_id for i in items if i.story_id is not None}
    rows = await session.execute(
        select(Item.id, Item.title, Item.dead).where(Item.id.in_(story_ids))
    )
    # A dead story's title is hidden like the story itself ("[flagged]").
    titles = {story_id: ("[flagged]" if dead else title) for story_id, title, dead in rows}
    mine = await reads.votes_on(session, me.user_id, [i.id for i in items]) if me else {}
    editable = {i.id for i in items if editing.can_edit(state, i, me.user_id if me else None)}
    more = (
        f"{HOME}threads?id={quote(name)}&next={items[-1].id}" if len(items) == USER_ITEMS else None
    )
    context = {
        "account": account,
        "items": items,
        "titles": titles,
        "votes": mine,
        "editable": editable,
        "more": more,
    }
    return render(request, "hacker_news_threads.html", viewer, me, context)


@router.get("/upvoted", response_class=HTMLResponse)
async def upvoted(
    request: Request,
    viewer: OptionalViewer,
    session: Session,
    next: Annotated[int | None, Query(ge=1, le=2**53)] = None,
) -> Response:
    """The signed-in user's own votes (private: there is no page of anyone else's)."""
    me = await writer_or_login(request, session, viewer, f"{HOME}upvoted")
    if isinstance(me, RedirectResponse):
        return me
    votes = await reads.my_votes(session, me.user_id, USER_ITEMS, next)
    items = {
        i.id: i
        for i in await session.scalars(select(Item).where(Item.id.in_([v for v, _ in votes])))
    }
    names = await reads.usernames(session, (i.by_id for i in items.values()))
    rows = [(items[i], d, names.get(items[i].by_id, "")) for i, d in votes if i in items]
    more = f"{HOME}upvoted?next={votes[-1][0]}" if len(votes) == USER_ITEMS else None
    context = {"rows": rows, "more": more}
    return render(request, "hacker_news_upvoted.html", viewer, me, context)


# Accounts ------------------------------------------------------------------------------------


def _login_context(
    goto: str, error: str | None = None, username: str = "", email: str = ""
) -> dict[str, Any]:
    return {"goto": goto, "error": error, "username": username, "email": email}


@router.get("/login", response_class=HTMLResponse)
async def login_page(
    request: Request,
    viewer: OptionalViewer,
    session: Session,
    goto: Annotated[str, Query(max_length=2048)] = HOME,
) -> Response:
    """Log in by username, create an account, or (signed in to Casebook without a Hacker News
    username) choose one."""
    me = await viewer_account(session, viewer)
    target = local_goto(goto)
    if me is not None:
        return RedirectResponse(target, status_code=303)
    return render(request, "hacker_news_login.html", viewer, me, _login_context(target))


def _signed_in(target: str, tokens: Any, platform: Platform) -> Response:
    response = RedirectResponse(target, status_code=303)
    set_session_cookies(response, tokens, platform.settings)
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    platform: PlatformDep,
    username: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    goto: GotoField = HOME,
) -> Response:
    """Check the username (or e-mail) and password; set the session cookies and go back."""
    target = local_goto(goto)
    try:
        _account, tokens = await accounts.login(platform, username, password, client_ip(request))
    except Problem as problem:
        context = _login_context(target, problem.detail, username)
        return render(request, "hacker_news_login.html", viewer, None, context, problem.status)
    return _signed_in(target, tokens, platform)


@router.post("/register", response_class=HTMLResponse)
async def register(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    platform: PlatformDep,
    username: Annotated[str, Form(max_length=60)] = "",
    email: Annotated[str, Form(max_length=1024)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    goto: GotoField = HOME,
) -> Response:
    """Create a Casebook user with a Hacker News username, sign in and go back."""
    target = local_goto(goto)
    try:
        await accounts.register(platform, username, email, password)
        _account, tokens = await accounts.login(platform, username, password, client_ip(request))
    except Problem as problem:
        context = _login_context(target, problem.detail, username, email)
        return render(request, "hacker_news_login.html", viewer, None, context, problem.status)
    return _signed_in(target, tokens, platform)


@router.post("/account", response_class=HTMLResponse)
async def claim(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: Session,
    username: Annotated[str, Form(max_length=60)] = "",
    goto: GotoField = HOME,
) -> Response:
    """A signed-in Casebook user chooses their Hacker News username."""
    target = local_goto(goto)
    if viewer is None:
        return login_redirect(target)
    try:
        await accounts.claim_username(session, viewer.user_id, username)
    except Problem as problem:
        context = _login_context(target, problem.detail, username)
        return render(request, "hacker_news_login.html", viewer, None, context, problem.status)
    return RedirectResponse(target, status_code=303)
