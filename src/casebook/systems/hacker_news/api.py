"""`/api/hacker-news`: accounts, submissions, comments, votes, flags, and `/v0/…`, a compatible
subset of the official Hacker News API (https://github.com/HackerNews/API).

Writes need a signed-in user with a Hacker News username (`POST /register`, or `POST /account`
for an existing Casebook user). Reads are public, as on Hacker News, except `GET /me/votes`.

The `/v0` routes answer exactly what the official API answers, so its clients work with the base
URL `<server>/api/hacker-news/v0/`: `item/<id>.json` (an unknown id answers `null`, as Firebase
does), `user/<username>.json` (`null` when unknown), `topstories.json` and `newstories.json` (up to
500 ids), `askstories.json` and `showstories.json` (up to 200), `maxitem.json`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from casebook.platform.auth.deps import CurrentPrincipal, client_ip
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session
from casebook.systems.hacker_news import accounts, editing, reads, service
from casebook.systems.hacker_news.errors import ItemNotFound
from casebook.systems.hacker_news.models import Account, Item
from casebook.systems.hacker_news.runtime import HackerNews, hacker_news
from casebook.systems.hacker_news.schemas import (
    AboutIn,
    AccountOut,
    ClaimIn,
    CommentIn,
    EditIn,
    FlagOut,
    LoginIn,
    MyVote,
    MyVotesOut,
    RegisterIn,
    StoryIn,
    TokensOut,
    VoteIn,
    VoteOut,
)


def get_state(request: Request) -> HackerNews:
    return hacker_news(request.app.state.platform)


State = Annotated[HackerNews, Depends(get_state)]
PlatformDep = Annotated[Platform, Depends(get_platform)]
ItemId = Annotated[int, Path(ge=1, le=2**53)]

router = APIRouter(tags=["hacker-news"])


def _account_out(account: Account) -> AccountOut:
    return AccountOut(
        username=account.username,
        user_id=account.user_id,
        karma=account.karma,
        about=account.about,
        created=int(account.created_at.timestamp()),
    )


@router.post("/register", status_code=201)
async def register(body: RegisterIn, platform: PlatformDep) -> AccountOut:
    """Create a Casebook user with a Hacker News username (the seed's `POST /api/register`).
    422 for a bad username, e-mail or password; 409 when the username or e-mail is taken."""
    account = await accounts.register(platform, body.username, body.email, body.password)
    return _account_out(account)


@router.post("/login")
async def login(body: LoginIn, request: Request, platform: PlatformDep) -> TokensOut:
    """Log in with username (or e-mail) and password; 401 when they do not match, 429 when too
    many attempts were made."""
    account, tokens = await accounts.login(
        platform, body.username, body.password, client_ip(request)
    )
    return TokensOut(
        username=account.username if account else None,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
    )


@router.post("/account", status_code=201)
async def claim(body: ClaimIn, principal: CurrentPrincipal, session: Session) -> AccountOut:
    """Give the signed-in Casebook user a Hacker News username; 409 when taken or when they
    have one already."""
    return _account_out(await accounts.claim_username(session, principal.user_id, body.username))


@router.get("/me")
async def me(principal: CurrentPrincipal, session: Session) -> AccountOut:
    """The caller's account (403 `hacker-news/no-account` before they claim a username)."""
    return _account_out(await accounts.account_of(session, principal.user_id))


@router.patch("/me")
async def set_about(body: AboutIn, principal: CurrentPrincipal, session: Session) -> AccountOut:
    """Change the caller's "about" text."""
    account = await accounts.account_of(session, principal.user_id)
    account.about = body.about.strip()
    return _account_out(account)


@router.get("/me/votes")
async def my_votes(
    principal: CurrentPrincipal,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> MyVotesOut:
    """The caller's voting history, newest item first; page on with `before=next_before`.
    Votes are private: there is no way to read another user's."""
    rows = await reads.my_votes(session, principal.user_id, limit, before)
    return MyVotesOut(
        votes=[MyVote(item_id=i, vote="up" if d > 0 else "down") for i, d in rows],
        next_before=rows[-1][0] if len(rows) == limit else None,
    )


@router.post("/stories", status_code=201)
async def submit(body: StoryIn, principal: CurrentPrincipal, state: State) -> dict[str, Any]:
    """Submit a link (`url`), an Ask HN / Show HN (by title) or a text story; answers the item
    in the HN API's shape. 409 `hacker-news/duplicate-url` (with `existing_id`) for a link
    submitted within the dupe window; 429 past the submission limits (stricter for new
    accounts)."""
    item = await service.submit_story(state, principal.user_id, body.title, body.url, body.text)
    return await _fresh(state, item.id)


@router.post("/items/{item_id}/comments", status_code=201)
async def comment(
    item_id: ItemId, body: CommentIn, principal: CurrentPrincipal, state: State
) -> dict[str, Any]:
    """Reply to a story or comment. 404 unknown/deleted parent, 409 dead parent, 429 past the
    comment limits."""
    item = await service.add_comment(state, principal.user_id, item_id, body.text)
    return await _fresh(state, item.id)


@router.patch("/items/{item_id}")
async def edit(
    item_id: ItemId, body: EditIn, principal: CurrentPrincipal, state: State
) -> dict[str, Any]:
    """Edit your own story (`title`, `text`) or comment (`text`) within `edit_window_hours` (2 h)
    of posting. 403 `hacker-news/not-your-item` or `hacker-news/edit-window-closed`, 404
    unknown/deleted, 409 dead, 422 nothing to change or invalid text."""
    item = await editing.edit_item(
        state, principal.user_id, item_id, title=body.title, text=body.text
    )
    return await _fresh(state, item.id)


@router.delete("/items/{item_id}", status_code=204)
async def delete(item_id: ItemId, principal: CurrentPrincipal, state: State) -> Response:
    """Delete your own story or comment within the edit window: the API then shows it as
    `{"deleted": true}` without its title, text, URL or author; its replies stay. Same errors as
    editing."""
    await editing.delete_item(state, principal.user_id, item_id)
    return Response(status_code=204)


@router.post("/items/{item_id}/vote")
async def vote(item_id: ItemId, body: VoteIn, principal: CurrentPrincipal, state: State) -> VoteOut:
    """`how`: "up", "down" (needs `downvote_karma`) or "un" (take the vote back). Repeating a
    vote changes nothing. 403 for one's own item or too little karma, 404/409 as above."""
    result = await service.vote(state, principal.user_id, item_id, body.how)
    return VoteOut(id=result.id, score=result.score, vote=result.vote)


@router.post("/items/{item_id}/flag")
async def flag(item_id: ItemId, principal: CurrentPrincipal, state: State) -> FlagOut:
    """Flag an item (needs `flag_karma`); the `kill_flags`-th flag kills it."""
    result = await service.flag(state, principal.user_id, item_id, True)
    return FlagOut(id=result.id, flagged=result.flagged, dead=result.dead)


@router.delete("/items/{item_id}/flag")
async def unflag(item_id: ItemId, principal: CurrentPrincipal, state: State) -> FlagOut:
    """Withdraw the caller's flag."""
    result = await service.flag(state, principal.user_id, item_id, False)
    return FlagOut(id=result.id, flagged=result.flagged, dead=result.dead)


@router.get("/items/{item_id}/thread")
async def thread(item_id: ItemId, state: State, session: Session) -> dict[str, Any]:
    """An item and every comment under it in ranked depth-first order, each with its depth."""
    root = await session.get(Item, item_id)
    if root is None:
        raise ItemNotFound(f"There is no item {item_id}.")
    item = await reads.item_json(state, session, item_id)
    entries = await reads.thread(state, session, root)
    return {
        "item": item,
        "comments": [
            {"depth": e.depth, "item": service.item_view(e.item, e.by, [])} for e in entries
        ],
    }


async def _fresh(state: HackerNews, item_id: int) -> dict[str, Any]:
    async with state.platform.db.session() as session:
        item = await reads.item_json(state, session, item_id)
    assert item is not None
    return item


# The official API's read routes. Their bodies are JSON values (`null`, arrays of ids) that no
# pydantic model describes better than the HN documentation, so they answer raw JSON.


def _json(value: Any) -> Response:
    import orjson

    return Response(orjson.dumps(value), media_type="application/json")


@router.get("/v0/item/{item_id}.json")
async def v0_item(
    item_id: Annotated[int, Path(ge=0, le=2**53)], state: State, session: Session
) -> Response:
    """An item in the official shape, or `null`."""
    return _json(await reads.item_json(state, session, item_id))


@router.get("/v0/user/{username}.json")
async def v0_user(
    username: Annotated[str, Path(min_length=1, max_length=15)], session: Session
) -> Response:
    """A user (case-sensitive id) in the official shape, or `null`."""
    account = await accounts.account_named(session, username)
    return _json(None if account is None else await reads.user_json(session, account))


@router.get("/v0/topstories.json")
async def v0_top(state: State) -> Response:
    """Up to 500 ids of the front page, best first."""
    return _json(reads.ranked_ids(state, "top", state.config.list_size))


@router.get("/v0/newstories.json")
async def v0_new(state: State, session: Session) -> Response:
    """Up to 500 ids of the newest stories."""
    return _json(await reads.new_story_ids(session, state.config.list_size))


@router.get("/v0/askstories.json")
async def v0_ask(state: State) -> Response:
    """Up to 200 ids of Ask HN stories, ranked."""
    return _json(reads.ranked_ids(state, "ask", state.config.ask_show_size))


@router.get("/v0/showstories.json")
async def v0_show(state: State) -> Response:
    """Up to 200 ids of Show HN stories, ranked."""
    return _json(reads.ranked_ids(state, "show", state.config.ask_show_size))


@router.get("/v0/maxitem.json")
async def v0_maxitem(session: Session) -> Response:
    """The largest item id."""
    return _json(await reads.max_item(session))
