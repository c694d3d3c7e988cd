"""`/hacker-news/`: the site as people use it — front page, new/ask/show, item pages with the
ranked comment tree, submit, user pages, login — server-rendered over the same service functions
as the JSON API. This module has the lists, items, voting, commenting, editing and submitting;
`people_pages.py` the profiles and login, `page_shell.py` what they share.

Everything is readable without signing in, as on Hacker News; writes (vote, comment, submit, edit,
delete, "about") need the session cookie and a Hacker News username, and every POST passes the
same-origin check (`casebook.web.csrf`). Anonymous writers are sent to `/hacker-news/login`, which
logs in by username or creates an account, and brings them back (`goto`, a local path only).

Privacy: a page shows the viewer's own votes (the arrows they already used) and nobody else's;
dead items show as "[flagged]" with their content hidden, except a user's own dead submissions on
their own pages; deleted items show as "[deleted]".

The item page loads `static/hn.js` (ours; no third-party code), which follows the story on
`/ws/hacker-news?item=<id>` and adds new comments, scores, edits, kills and deletions without a
reload.

Costs: a ranked list page is an O(30) slice of the in-memory ranking plus three indexed queries
(stories, usernames, the viewer's votes on them); an item page is one indexed thread query plus
the same two lookups, O(C log C) for C comments.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.db import Session
from casebook.platform.errors import NotFound, Problem
from casebook.systems.hacker_news import editing, people_pages, reads, service
from casebook.systems.hacker_news.errors import ItemNotFound
from casebook.systems.hacker_news.models import Item
from casebook.systems.hacker_news.page_shell import (
    HERE,
    HOME,
    PER_PAGE,
    GotoField,
    ItemField,
    ItemQuery,
    State,
    TextField,
    TitleField,
    here_of,
    local_goto,
    message_page,
    render,
    viewer_account,
    writer_or_login,
)
from casebook.systems.hacker_news.runtime import HackerNews
from casebook.web.csrf import SameOrigin
from casebook.web.viewer import OptionalViewer, Viewer

router = APIRouter()

STATIC_FILES = {
    "hn.js": "text/javascript; charset=utf-8",
    "hn.css": "text/css; charset=utf-8",
}
"""The pages' own files and their media types; nothing else is served from `static/`."""


class StaticFileNotFound(NotFound):
    type_ = "hacker-news/static-file-not-found"
    title = "No such file"


# Lists ---------------------------------------------------------------------------------------


async def _list_page(
    request: Request,
    viewer: Viewer | None,
    session: AsyncSession,
    state: HackerNews,
    view: Literal["top", "new", "ask", "show"],
    page: int,
    before: int | None,
) -> HTMLResponse:
    offset = (page - 1) * PER_PAGE
    if view == "new":
        ids = await reads.new_story_ids(session, PER_PAGE, before)
    else:
        ids = reads.ranked_ids(state, view, PER_PAGE, offset)
    rows = await reads.stories(session, ids)
    me = await viewer_account(session, viewer)
    mine = await reads.votes_on(session, me.user_id, ids) if me else {}
    more: str | None = None
    if view == "new" and len(ids) == PER_PAGE:
        more = f"{HOME}newest?next={ids[-1]}"
    elif view != "new" and len(ids) == PER_PAGE:
        path = {"top": "news", "ask": "ask", "show": "show"}[view]
        more = f"{HOME}{path}?p={page + 1}"
    context = {
        "view": view,
        "rows": rows,
        "first_rank": offset + 1 if view != "new" else 1,
        "votes": mine,
        "more": more,
    }
    return render(request, "hacker_news_list.html", viewer, me, context)


PageNumber = Annotated[int, Query(ge=1, le=100)]


@router.get("/", response_class=HTMLResponse)
@router.get("/news", response_class=HTMLResponse)
async def front_page(
    request: Request, viewer: OptionalViewer, session: Session, state: State, p: PageNumber = 1
) -> HTMLResponse:
    """The front page: stories ranked by the HN formula, 30 a page (`?p=2`…)."""
    return await _list_page(request, viewer, session, state, "top", p, None)


@router.get("/newest", response_class=HTMLResponse)
async def newest(
    request: Request,
    viewer: OptionalViewer,
    session: Session,
    state: State,
    next: Annotated[int | None, Query(ge=1, le=2**53)] = None,
) -> HTMLResponse:
    """The newest stories; `?next=<id>` continues below that story (stable while new arrive)."""
    return await _list_page(request, viewer, session, state, "new", 1, next)


@router.get("/ask", response_class=HTMLResponse)
async def ask(
    request: Request, viewer: OptionalViewer, session: Session, state: State, p: PageNumber = 1
) -> HTMLResponse:
    """Ask HN stories, ranked."""
    return await _list_page(request, viewer, session, state, "ask", p, None)


@router.get("/show", response_class=HTMLResponse)
async def show(
    request: Request, viewer: OptionalViewer, session: Session, state: State, p: PageNumber = 1
) -> HTMLResponse:
    """Show HN stories, ranked."""
    return await _list_page(request, viewer, session, state, "show", p, None)


# Items ---------------------------------------------------------------------------------------


@router.get("/item", response_class=HTMLResponse)
async def item_page(
    request: Request, viewer: OptionalViewer, session: Session, state: State, item_id: ItemQuery
) -> HTMLResponse:
    """A story (or a comment) with every comment under it, ranked depth-first, and the reply
    form; live over /ws/hacker-news."""
    me = await viewer_account(session, viewer)
    root = await session.get(Item, item_id)
    if root is None:
        return message_page(request, viewer, me, ItemNotFound(f"There is no item {item_id}."))
    entries = await reads.thread(state, session, root)
    story = root if root.type == "story" else await session.get(Item, root.story_id or 0)
    authors = await reads.usernames(session, [root.by_id])
    ids = [root.id, *(e.item.id for e in entries)]
    mine = await reads.votes_on(session, me.user_id, ids) if me else {}
    editable = {
        i.id
        for i in (root, *(e.item for e in entries))
        if editing.can_edit(state, i, me.user_id if me else None)
    }
    live = {
        "item": root.id,
        "ws": "/ws/hacker-news",
        "home": HOME,
        "me": me.username if me else None,
    }
    context = {
        "root": root,
        "story": story,
        "by": authors.get(root.by_id, ""),
        "entries": entries,
        "votes": mine,
        "editable": editable,
        "live": live,
        "can_down": me is not None and me.karma >= state.config.downvote_karma,
    }
    return render(request, "hacker_news_item.html", viewer, me, context)


@router.get("/reply", response_class=HTMLResponse)
async def reply_page(
    request: Request, viewer: OptionalViewer, session: Session, item_id: ItemQuery
) -> Response:
    """The form to reply to one comment."""
    me = await writer_or_login(request, session, viewer, here_of(request))
    if isinstance(me, RedirectResponse):
        return me
    parent = await session.get(Item, item_id)
    if parent is None or parent.deleted:
        return message_page(request, viewer, me, ItemNotFound(f"There is no item {item_id}."))
    by = (await reads.usernames(session, [parent.by_id])).get(parent.by_id, "")
    return render(request, "hacker_news_reply.html", viewer, me, {"parent": parent, "by": by})


@router.post("/comment", response_class=HTMLResponse)
async def comment(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: Session,
    state: State,
    parent: Annotated[int, Form(ge=1, le=2**53)],
    text: TextField,
) -> Response:
    """Post a comment from the item page or the reply page; back to the story, at the comment."""
    me = await writer_or_login(request, session, viewer, f"{HOME}item?id={parent}")
    if isinstance(me, RedirectResponse):
        return me
    try:
        item = await service.add_comment(state, me.user_id, parent, text)
    except Problem as problem:
        return message_page(request, viewer, me, problem, back=f"{HOME}item?id={parent}")
    return RedirectResponse(f"{HOME}item?id={item.story_id}#{item.id}", status_code=303)


@router.post("/vote")
async def vote(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: Session,
    state: State,
    item_id: ItemField,
    how: Annotated[Literal["up", "down", "un"], Form()],
    goto: GotoField = "",
) -> Response:
    """An arrow (or "unvote") was pressed; back to the page it was on."""
    back = local_goto(goto, f"{HOME}item?id={item_id}")
    me = await writer_or_login(request, session, viewer, back)
    if isinstance(me, RedirectResponse):
        return me
    try:
        await service.vote(state, me.user_id, item_id, how)
    except Problem as problem:
        return message_page(request, viewer, me, problem, back=back)
    return RedirectResponse(back, status_code=303)


@router.get("/edit", response_class=HTMLResponse)
async def edit_page(
    request: Request, viewer: OptionalViewer, session: Session, state: State, item_id: ItemQuery
) -> Response:
    """The author's form to edit or delete their item within the edit window."""
    me = await writer_or_login(request, session, viewer, here_of(request))
    if isinstance(me, RedirectResponse):
        return me
    item = await session.get(Item, item_id)
    if item is None or not editing.can_edit(state, item, me.user_id):
        problem = ItemNotFound(
            f"Item {item_id} is not yours to edit, or its {state.config.edit_window_hours:g}-hour "
            "edit window has closed."
        )
        return message_page(request, viewer, me, problem)
    return render(request, "hacker_news_edit.html", viewer, me, {"item": item, "error": None})


def _after_edit(item: Item) -> str:
    story_id = item.story_id if item.type == "comment" else item.id
    return f"{HOME}item?id={story_id}" + (f"#{item.id}" if item.type == "comment" else "")


@router.post("/edit", response_class=HTMLResponse)
async def edit(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: Session,
    state: State,
    item_id: ItemField,
    text: TextField,
    title: Annotated[str | None, Form(max_length=4 * service.MAX_TITLE)] = None,
) -> Response:
    """Save the author's edit; back to the item."""
    me = await writer_or_login(request, session, viewer, f"{HOME}edit?id={item_id}")
    if isinstance(me, RedirectResponse):
        return me
    try:
        item = await editing.edit_item(state, me.user_id, item_id, title=title, text=text)
    except Problem as problem:
        current = await session.get(Item, item_id)
        if current is None or current.by_id != me.user_id:
            return message_page(request, viewer, me, problem)
        context = {"item": current, "error": problem.detail}
        return render(request, "hacker_news_edit.html", viewer, me, context, problem.status)
    return RedirectResponse(_after_edit(item), status_code=303)


@router.post("/delete", response_class=HTMLResponse)
async def delete(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: Session,
    state: State,
    item_id: ItemField,
) -> Response:
    """Delete the author's item; back to its story (or the front page for a story)."""
    me = await writer_or_login(request, session, viewer, f"{HOME}edit?id={item_id}")
    if isinstance(me, RedirectResponse):
        return me
    item = await session.get(Item, item_id)
    try:
        await editing.delete_item(state, me.user_id, item_id)
    except Problem as problem:
        return message_page(request, viewer, me, problem)
    assert item is not None
    return RedirectResponse(HOME if item.type == "story" else _after_edit(item), status_code=303)


# Submit --------------------------------------------------------------------------------------


@router.get("/submit", response_class=HTMLResponse)
async def submit_page(request: Request, viewer: OptionalViewer, session: Session) -> Response:
    """The submission form."""
    me = await writer_or_login(request, session, viewer, f"{HOME}submit")
    if isinstance(me, RedirectResponse):
        return me
    form = {"title": "", "url": "", "text": ""}
    context = {"form": form, "error": None, "existing": None}
    return render(request, "hacker_news_submit.html", viewer, me, context)


@router.post("/submit", response_class=HTMLResponse)
async def submit(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: Session,
    state: State,
    title: TitleField = "",
    url: Annotated[str, Form(max_length=4000)] = "",
    text: TextField = "",
) -> Response:
    """Submit a story; on success go to /newest (as HN does), else show why (a duplicate links
    to the existing story)."""
    me = await writer_or_login(request, session, viewer, f"{HOME}submit")
    if isinstance(me, RedirectResponse):
        return me
    try:
        await service.submit_story(state, me.user_id, title, url or None, text or None)
    except Problem as problem:
        context = {
            "form": {"title": title, "url": url, "text": text},
            "error": problem.detail,
            "existing": problem.extensions.get("existing_id"),
        }
        return render(request, "hacker_news_submit.html", viewer, me, context, problem.status)
    return RedirectResponse(f"{HOME}newest", status_code=303)


@router.get("/static/{name}")
async def static_file(name: str) -> FileResponse:
    """One of the pages' own static files (404 for any other name)."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise StaticFileNotFound(f"{HOME}static/ has no file {name!r}.")
    return FileResponse(
        HERE / "static" / name,
        media_type=media_type,
        # The URL carries the version (?v=), so a browser may keep the file for a day.
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


router.include_router(people_pages.router)
