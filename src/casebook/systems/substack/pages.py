"""`/substack/`: the reader's and the writer's pages.

Readers: the publications to discover (`/substack/`), a publication's home with its posts and
the subscribe form (`/substack/<slug>/`), a post (`/substack/<slug>/p/<id>`, the preview and a
paywall notice for a paid post the reader has no access to: the full text is never in the
HTML), and the confirmation page that e-mail footers link to (`/substack/unsubscribe/<token>`:
GET only shows a button, POST unsubscribes — mail scanners prefetch links, so a GET must change
nothing).

Writers: the dashboard (`/substack/dashboard`: their publications, a form to start one), a
publication's dashboard (subscribers, paid subscribers, earnings, growth, open and click rates,
drafts, scheduled and published posts) and the Markdown editor (save a draft, publish now,
schedule, unschedule).

Plain HTML forms over the same service functions as the API, signed in by the session cookie
(anonymous visitors are sent to `/login?next=…`); every POST passes the same-origin check of
`casebook.web.csrf`. A refusal re-shows the page with the reason and the problem's status and
changes nothing (the request's session is rolled back first).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import comments as feed_comments
from casebook.engines.feed.engagement_api import comment_views
from casebook.platform.auth.models import User
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession
from casebook.platform.errors import Problem
from casebook.platform.pagination import PageParams
from casebook.systems.substack import (
    analytics,
    discussion,
    newsletter,
    payments,
    publishing,
    subscriptions,
    tokens,
    tracking,
)
from casebook.systems.substack.errors import (
    InvalidForm,
    InvalidSchedule,
    InvalidToken,
    PostNotFound,
)
from casebook.systems.substack.models import Post, Publication, Subscriber
from casebook.systems.substack.runtime import Substack, substack
from casebook.systems.substack.schemas import MAX_BODY, PostCreate, PublicationCreate
from casebook.web.csrf import SameOrigin
from casebook.web.templating import Templates
from casebook.web.viewer import OptionalViewer, Viewer

templates = Templates(FilePath(__file__).with_name("templates"))
router = APIRouter()

HOME = "/substack/"
DASHBOARD = "/substack/dashboard"
POSTS_PER_PAGE = 20

PlatformDep = Annotated[Platform, Depends(get_platform)]
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
Slug = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")]
Token = Annotated[str, Path(max_length=64, pattern=r"^[0-9]{1,19}\.[A-Za-z0-9_-]{1,40}$")]
Cursor = Annotated[str | None, Query(max_length=2048)]
_DOLLARS = re.compile(r"^\$?\s*(\d{1,7})(?:\.(\d{1,2}))?$")


async def get_state(platform: PlatformDep) -> Substack:
    return substack(platform)


State = Annotated[Substack, Depends(get_state)]


def _login_redirect(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here)}", status_code=303)


def home_path(publication: Publication) -> str:
    return f"{HOME}{publication.slug}/"


def post_path(publication: Publication, post: Post) -> str:
    return f"{HOME}{publication.slug}/p/{post.id}"


def _problem_page(request: Request, viewer: Viewer | None, problem: Problem) -> HTMLResponse:
    context = {"title": problem.title, "detail": problem.detail, "status": problem.status}
    return templates.render(
        request, "substack_problem.html", context, viewer=viewer, status_code=problem.status
    )


def parse_dollars(text: str, field: str) -> int | None:
    """Cents of a typed dollar amount (`5`, `5.50`, `$5`); None when empty. Raises InvalidForm."""
    if not text.strip():
        return None
    match = _DOLLARS.match(text.strip().replace(",", ""))
    if match is None:
        raise InvalidForm(f"Enter the {field} in dollars, like 5 or 5.50.")
    return int(match[1]) * 100 + int((match[2] or "0").ljust(2, "0"))


def parse_schedule(text: str) -> datetime:
    """A `datetime-local` form value, read as UTC. Raises InvalidSchedule."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidSchedule("Give the date and time to publish at.") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _validation_message(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}"


# --- readers ---------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def discover(
    request: Request, viewer: OptionalViewer, session: Session, cursor: Cursor = None
) -> Response:
    """Every publication, newest first, with a link to the writer's dashboard."""
    try:
        found, next_cursor = await publishing.discover(
            session, PageParams(cursor=cursor, limit=POSTS_PER_PAGE)
        )
    except Problem as problem:
        return _problem_page(request, viewer, problem)
    context = {"publications": found, "next_cursor": next_cursor, "home": HOME}
    return templates.render(request, "substack_discover.html", context, viewer=viewer)


async def _publication_page(
    request: Request,
    viewer: Viewer | None,
    session: AsyncSession,
    slug: str,
    cursor: str | None,
    *,
    error: Problem | None = None,
) -> HTMLResponse:
    publication = await publishing.get_publication(session, slug)
    viewer_id = viewer.user_id if viewer else None
    posts, next_cursor = await publishing.list_posts(
        session, publication.id, viewer_id, PageParams(cursor=cursor, limit=POSTS_PER_PAGE)
    )
    subscriber: Subscriber | None = None
    paid = None
    wallet = None
    if viewer is not None:
        subscriber = await subscriptions.subscription_of(session, viewer.user_id, publication.id)
        paid = await payments.paid_subscription_of(session, viewer.user_id, publication.id)
        if publication.monthly_price or publication.annual_price:
            wallet = await payments.wallet_balance(session, viewer.user_id)
    context: dict[str, Any] = {
        "publication": publication,
        "posts": [(p, post_path(publication, p)) for p in posts],
        "next_cursor": next_cursor,
        "subscribed": subscriber is not None and subscriber.status == "active",
        "paid": paid,
        "has_access": await publishing.has_paid_access(session, publication.id, viewer_id),
        "is_author": await publishing.is_author(session, publication.id, viewer_id),
        "wallet": wallet,
        "error": error.detail if error else None,
        "path": home_path(publication),
        "dashboard": f"{DASHBOARD}/{publication.id}",
    }
    return templates.render(
        request,
        "substack_publication.html",
        context,
        viewer=viewer,
        status_code=error.status if error else 200,
    )


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_confirm(
    request: Request, token: Token, viewer: OptionalViewer, session: Session, state: State
) -> Response:
    """The footer link of every e-mail: names the publication and the address and asks for a
    click on a button. Changes nothing (mail scanners fetch links)."""
    return await _unsubscribe_page(request, token, viewer, session, state, done=False)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_submit(
    request: Request,
    token: Token,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: Session,
    state: State,
) -> Response:
    """Unsubscribe the address the signed token names; repeating it is harmless."""
    try:
        await _subscriber_of_token(session, state, token)
    except Problem as problem:
        return _problem_page(request, viewer, problem)
    await tracking.unsubscribe_by_token(session, state.signing_key, token)
    return await _unsubscribe_page(request, token, viewer, session, state, done=True)


async def _subscriber_of_token(session: AsyncSession, state: Substack, token: str) -> Subscriber:
    subscriber_id = tokens.verify(state.signing_key, tokens.Purpose.UNSUBSCRIBE, token)
    subscriber = await session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise InvalidToken()
    return subscriber


async def _unsubscribe_page(
    request: Request,
    token: str,
    viewer: Viewer | None,
    session: AsyncSession,
    state: Substack,
    *,
    done: bool,
) -> HTMLResponse:
    try:
        subscriber = await _subscriber_of_token(session, state, token)
    except Problem as problem:
        return _problem_page(request, viewer, problem)
    await session.refresh(subscriber)
    publication = await publishing.get_publication(session, subscriber.publication_id)
    context = {
        "publication": publication,
        "email": subscriber.email,
        "active": subscriber.status == "active",
        "done": done,
        "action": f"{HOME}unsubscribe/{token}",
        "home": home_path(publication),
    }
    return templates.render(request, "substack_unsubscribe.html", context, viewer=viewer)


# --- the writer's dashboard and editor ---------------------------------------------------------


async def _dashboard(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    *,
    error: Problem | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "publications": await publishing.authored_publications(session, viewer.user_id),
        "error": error.detail if error else None,
        "form": form
        or {"slug": "", "name": "", "description": "", "monthly_price": "", "annual_price": ""},
        "dashboard": DASHBOARD,
        "home": HOME,
    }
    return templates.render(
        request,
        "substack_dashboard.html",
        context,
        viewer=viewer,
        status_code=error.status if error else 200,
    )


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(request: Request, viewer: OptionalViewer, session: Session) -> Response:
    """The publications you write for, and the form to start one."""
    if viewer is None:
        return _login_redirect(request)
    return await _dashboard(request, viewer, session)


@router.post("/dashboard", response_class=HTMLResponse)
async def start_publication(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: Session,
    slug: Annotated[str, Form(max_length=100)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=1000)] = "",
    monthly_price: Annotated[str, Form(max_length=32)] = "",
    annual_price: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Start a publication from the form; on success go to its dashboard (303)."""
    if viewer is None:
        return _login_redirect(request)
    form = {
        "slug": slug,
        "name": name,
        "description": description,
        "monthly_price": monthly_price,
        "annual_price": annual_price,
    }
    try:
        try:
            body = PublicationCreate(
                slug=slug.strip().lower(),
                name=name.strip(),
                description=description.strip(),
                monthly_price=parse_dollars(monthly_price, "monthly price"),
                annual_price=parse_dollars(annual_price, "annual price"),
            )
        except ValidationError as invalid:
            raise InvalidForm(_validation_message(invalid)) from None
        publication = await publishing.create_publication(
            session,
            viewer.user_id,
            slug=body.slug,
            name=body.name,
            description=body.description,
            monthly_price=body.monthly_price,
            annual_price=body.annual_price,
        )
    except Problem as problem:
        await session.rollback()
        return await _dashboard(request, viewer, session, error=problem, form=form)
    return RedirectResponse(f"{DASHBOARD}/{publication.id}", status_code=303)


async def _authored_publication(
    session: AsyncSession, viewer: Viewer, publication_id: int
) -> Publication:
    publication = await publishing.get_publication(session, publication_id)
    await publishing.require_author(session, publication_id, viewer.user_id)
    return publication


@router.get("/dashboard/{publication_id}", response_class=HTMLResponse)
async def publication_dashboard(
    request: Request,
    publication_id: Id,
    viewer: OptionalViewer,
    session: Session,
    days: Annotated[int, Query(ge=1, le=365)] = 30,
) -> Response:
    """A publication's numbers (authors only): subscribers, paid subscribers, earnings, growth
    per day, open and click rates per post; its drafts, scheduled and published posts."""
    if viewer is None:
        return _login_redirect(request)
    try:
        publication = await _authored_publication(session, viewer, publication_id)
    except Problem as problem:
        return _problem_page(request, viewer, problem)
    lists: dict[str, list[Post]] = {}
    for status in ("draft", "scheduled", "published"):
        posts, _ = await publishing.list_posts(
            session, publication_id, viewer.user_id, PageParams(limit=50), status=status
        )
        lists[status] = posts
    report = await analytics.report(session, publication_id, days)
    context: dict[str, Any] = {
        "publication": publication,
        "report": report,
        "peak": max([g.subscribed for g in report.growth] + [1]),
        "earnings": await payments.earnings_balance(session, publication_id),
        "lists": lists,
        "days": days,
        "dashboard": DASHBOARD,
        "home": home_path(publication),
    }
    return templates.render(request, "substack_publication_dashboard.html", context, viewer=viewer)


EMPTY_POST = {
    "title": "",
    "subtitle": "",
    "body": "",
    "audience": "everyone",
    "send_email": "on",
    "scheduled_at": "",
}


def _post_form(post: Post) -> dict[str, str]:
    return {
        "title": post.title,
        "subtitle": post.subtitle,
        "body": post.body_markdown,
        "audience": post.audience,
        "send_email": "on" if post.send_email else "",
        "scheduled_at": post.scheduled_at.strftime("%Y-%m-%dT%H:%M") if post.scheduled_at else "",
    }


def _editor(
    request: Request,
    viewer: Viewer,
    publication: Publication,
    post: Post | None,
    form: dict[str, str],
    *,
    error: Problem | None = None,
) -> HTMLResponse:
    action = f"{DASHBOARD}/posts/{post.id}" if post else f"{DASHBOARD}/{publication.id}/new"
    context: dict[str, Any] = {
        "publication": publication,
        "post": post,
        "form": form,
        "action": action,
        "error": error.detail if error else None,
        "max_body": MAX_BODY,
        "dashboard": f"{DASHBOARD}/{publication.id}",
        "view": post_path(publication, post) if post else None,
    }
    return templates.render(
        request,
        "substack_editor.html",
        context,
        viewer=viewer,
        status_code=error.status if error else 200,
    )


@router.get("/dashboard/{publication_id}/new", response_class=HTMLResponse)
async def new_post(
    request: Request, publication_id: Id, viewer: OptionalViewer, session: Session
) -> Response:
    """The editor for a new post (authors only)."""
    if viewer is None:
        return _login_redirect(request)
    try:
        publication = await _authored_publication(session, viewer, publication_id)
    except Problem as problem:
        return _problem_page(request, viewer, problem)
    return _editor(request, viewer, publication, None, dict(EMPTY_POST))


Action = Literal["draft", "publish", "schedule", "unschedule"]


class PostForm:
    """The editor's fields as typed (kept to re-show them after a refusal)."""

    def __init__(
        self,
        title: Annotated[str, Form(max_length=1000)] = "",
        subtitle: Annotated[str, Form(max_length=1000)] = "",
        body: Annotated[str, Form(max_length=MAX_BODY)] = "",
        audience: Annotated[Literal["everyone", "paid"], Form()] = "everyone",
        send_email: Annotated[str, Form(max_length=8)] = "",
        scheduled_at: Annotated[str, Form(max_length=40)] = "",
        action: Annotated[Action, Form()] = "draft",
    ) -> None:
        self.title, self.subtitle, self.body = title, subtitle, body
        self.audience, self.send_email, self.scheduled_at = audience, send_email, scheduled_at
        self.action: Action = action

    def as_dict(self) -> dict[str, str]:
        return {
            "title": self.title,
            "subtitle": self.subtitle,
            "body": self.body,
            "audience": self.audience,
            "send_email": "on" if self.send_email else "",
            "scheduled_at": self.scheduled_at,
        }

    def validated(self) -> PostCreate:
        """The fields checked against the API's limits. Raises InvalidForm."""
        try:
            return PostCreate(
                title=self.title.strip(),
                subtitle=self.subtitle.strip(),
                body=self.body,
                audience=self.audience,
                send_email=bool(self.send_email),
            )
        except ValidationError as invalid:
            raise InvalidForm(_validation_message(invalid)) from None

    def when(self) -> datetime | None:
        """The scheduled time for `schedule` (required), None otherwise."""
        if self.action != "schedule":
            return None
        if not self.scheduled_at.strip():
            raise InvalidSchedule("Give the date and time (UTC) to publish at.")
        return parse_schedule(self.scheduled_at)


async def _apply_action(
    session: AsyncSession, platform: Platform, viewer: Viewer, post: Post, form: PostForm
) -> Post:
    if form.action in ("publish", "schedule"):
        post = await publishing.publish_post(session, viewer.user_id, post.id, form.when())
    elif form.action == "unschedule":
        post = await publishing.unschedule(session, viewer.user_id, post.id)
    # Commit before queueing: the send or publish job must find what this request wrote.
    await session.commit()
    await newsletter.after_publish(platform, post)
    return post


@router.post("/dashboard/{publication_id}/new", response_class=HTMLResponse)
async def create_post(
    request: Request,
    publication_id: Id,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: Session,
    platform: PlatformDep,
    form: Annotated[PostForm, Depends()],
) -> Response:
    """Save the new post as a draft, publish it now or schedule it; then to its editor (303)."""
    if viewer is None:
        return _login_redirect(request)
    try:
        publication = await _authored_publication(session, viewer, publication_id)
    except Problem as problem:
        return _problem_page(request, viewer, problem)
    try:
        body = form.validated()
        form.when()  # refuse a bad schedule before anything is written
        draft = publishing.PostDraft(
            title=body.title,
            body=body.body,
            subtitle=body.subtitle,
            audience=body.audience,
            send_email=body.send_email,
        )
        post = await publishing.create_post(session, viewer.user_id, publication_id, draft)
        post = await _apply_action(session, platform, viewer, post, form)
    except Problem as problem:
        await session.rollback()
        await session.refresh(publication)  # the rollback expired it; the page reads it
        return _editor(request, viewer, publication, None, form.as_dict(), error=problem)
    return RedirectResponse(f"{DASHBOARD}/posts/{post.id}", status_code=303)


async def _authored_post(
    session: AsyncSession, viewer: Viewer, post_id: int
) -> tuple[Publication, Post]:
    post = await publishing.authored_post(session, viewer.user_id, post_id)
    return await publishing.get_publication(session, post.publication_id), post


@router.get("/dashboard/posts/{post_id}", response_class=HTMLResponse)
async def edit_post(
    request: Request, post_id: Id, viewer: OptionalViewer, session: Session
) -> Response:
    """The editor for a post of a publication you write for (404 otherwise)."""
    if viewer is None:
        return _login_redirect(request)
    try:
        publication, post = await _authored_post(session, viewer, post_id)
    except Problem as problem:
        return _problem_page(request, viewer, problem)
    return _editor(request, viewer, publication, post, _post_form(post))


@router.post("/dashboard/posts/{post_id}", response_class=HTMLResponse)
async def save_post(
    request: Request,
    post_id: Id,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: Session,
    platform: PlatformDep,
    form: Annotated[PostForm, Depends()],
) -> Response:
    """Save the edits, then publish, schedule or unschedule as the pressed button says; back to
    the editor (303)."""
    if viewer is None:
        return _login_redirect(request)
    try:
        publication, post = await _authored_post(session, viewer, post_id)
    except Problem as problem:
        return _problem_page(request, viewer, problem)
    try:
        body = form.validated()
        form.when()
        changes = {
            "title": body.title,
            "subtitle": body.subtitle,
            "body": body.body,
            "audience": body.audience,
            "send_email": body.send_email,
        }
        post = await publishing.edit_post(session, viewer.user_id, post_id, changes)
        await _apply_action(session, platform, viewer, post, form)
    except Problem as problem:
        await session.rollback()
        await session.refresh(publication)  # the rollback expired both; the page reads them
        await session.refresh(post)
        return _editor(request, viewer, publication, post, form.as_dict(), error=problem)
    return RedirectResponse(f"{DASHBOARD}/posts/{post_id}", status_code=303)


# --- a publication's pages (last: `/{slug}/…` must not shadow the fixed paths above) -----------


@router.get("/{slug}/", response_class=HTMLResponse)
async def publication_home(
    request: Request, slug: Slug, viewer: OptionalViewer, session: Session, cursor: Cursor = None
) -> Response:
    """A publication: its published posts (paid ones marked), the subscribe form or your
    subscription, and its paid plans."""
    try:
        return await _publication_page(request, viewer, session, slug, cursor)
    except Problem as problem:
        return _problem_page(request, viewer, problem)


@router.post("/{slug}/subscribe", response_class=HTMLResponse)
async def subscribe_submit(
    request: Request, slug: Slug, viewer: OptionalViewer, _: SameOrigin, session: Session
) -> Response:
    """Subscribe (free) with your account's address; back to the publication (303)."""
    if viewer is None:
        return _login_redirect(request)
    try:
        publication = await publishing.get_publication(session, slug)
        await subscriptions.subscribe(session, viewer.user_id, publication.id)
    except Problem as problem:
        return _problem_page(request, viewer, problem)
    return RedirectResponse(home_path(publication), status_code=303)


@router.post("/{slug}/leave", response_class=HTMLResponse)
async def leave_submit(
    request: Request, slug: Slug, viewer: OptionalViewer, _: SameOrigin, session: Session
) -> Response:
    """Unsubscribe while signed in; back to the publication (303)."""
    if viewer is None:
        return _login_redirect(request)
    try:
        publication = await publishing.get_publication(session, slug)
        await subscriptions.unsubscribe(session, viewer.user_id, publication.id)
    except Problem as problem:
        await session.rollback()
        return await _publication_page(request, viewer, session, slug, None, error=problem)
    return RedirectResponse(home_path(publication), status_code=303)


@router.post("/{slug}/paid", response_class=HTMLResponse)
async def paid_submit(
    request: Request,
    slug: Slug,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: WriteSession,
    plan: Annotated[Literal["monthly", "annual"], Form()],
) -> Response:
    """Pay for a plan from your wallet; back to the publication (303). A refusal (too little in
    the wallet, no such plan, already paying) re-shows the page with the reason."""
    if viewer is None:
        return _login_redirect(request)
    try:
        publication = await publishing.get_publication(session, slug)
        await payments.subscribe_paid(session, viewer.user_id, publication.id, plan)
    except Problem as problem:
        await session.rollback()
        try:
            return await _publication_page(request, viewer, session, slug, None, error=problem)
        except Problem as missing:
            return _problem_page(request, viewer, missing)
    return RedirectResponse(home_path(publication), status_code=303)


@router.get("/{slug}/p/{post_id}", response_class=HTMLResponse)
async def post_page(
    request: Request, slug: Slug, post_id: Id, viewer: OptionalViewer, session: Session
) -> Response:
    """A post. Drafts and scheduled posts: authors only (404 otherwise). A paid post shows
    readers without paid access its preview and the paywall, never the rest."""
    viewer_id = viewer.user_id if viewer else None
    try:
        publication = await publishing.get_publication(session, slug)
        readable = await publishing.read_post(session, viewer_id, post_id)
        if readable.post.publication_id != publication.id:
            raise PostNotFound()
    except Problem as problem:
        return _problem_page(request, viewer, problem)
    subscriber = None
    if viewer is not None:
        subscriber = await subscriptions.subscription_of(session, viewer.user_id, publication.id)
    # The discussion is shown exactly when the engine's "substack-post" target lets this viewer
    # see it (published, and read whole for a paid post): the page asks the same resolver.
    thread: list[dict[str, Any]] | None = None
    names: dict[str, str] = {}
    if readable.post.status == "published" and readable.full:
        page = await feed_comments.list_comments(
            session, discussion.SYSTEM, viewer_id, discussion.TARGET, post_id, limit=100
        )
        thread = await comment_views(session, discussion.SYSTEM, page.items)
        # Substack readers have no feed profile: name comment authors by their accounts.
        ids = {c.author_id for c in page.items}
        users: list[User] = (
            list(await session.scalars(select(User).where(User.id.in_(ids)))) if ids else []
        )
        names = {str(u.id): u.display_name or "reader" for u in users}
    context: dict[str, Any] = {
        "thread": thread,
        "names": names,
        "publication": publication,
        "post": readable.post,
        "html": readable.html,
        "paywalled": not readable.full,
        "subscribed": subscriber is not None and subscriber.status == "active",
        "is_author": await publishing.is_author(session, publication.id, viewer_id),
        "home": home_path(publication),
        "path": post_path(publication, readable.post),
        "edit": f"{DASHBOARD}/posts/{readable.post.id}",
    }
    return templates.render(request, "substack_post.html", context, viewer=viewer)


@router.post("/{slug}/p/{post_id}/comments", response_class=HTMLResponse)
async def comment_submit(
    request: Request,
    slug: Slug,
    post_id: Id,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: WriteSession,
    platform: PlatformDep,
    body: Annotated[str, Form(max_length=20_000)] = "",
    parent_id: Annotated[str, Form(max_length=19, pattern=r"^[0-9]*$")] = "",
) -> Response:
    """Comment on the post (or reply to `parent_id`) from its page; back to the discussion
    (303). 404 for a post whose discussion the viewer may not see."""
    if viewer is None:
        return _login_redirect(request)
    try:
        publication = await publishing.get_publication(session, slug)
        post = await session.get(Post, post_id)
        if post is None or post.publication_id != publication.id:
            raise PostNotFound()
        await discussion.create_comment(
            session, platform, viewer.user_id, post_id, body, int(parent_id) if parent_id else None
        )
    except Problem as problem:
        await session.rollback()
        return _problem_page(request, viewer, problem)
    return RedirectResponse(f"{HOME}{slug}/p/{post_id}#comments", status_code=303)
