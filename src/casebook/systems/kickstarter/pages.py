"""`/kickstarter/`: discover live projects, and a page per project with its funding progress,
reward tiers and updates; a signed-in visitor pledges (or changes the pledge) from a form and
cancels it. The forms post to this router with the session cookie, guarded by the same-origin
check of `casebook.web.csrf`, and call the same service functions as the API."""

from __future__ import annotations

import re
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.db import Session, WriteSession, utcnow
from casebook.platform.errors import Problem
from casebook.platform.pagination import PageParams
from casebook.systems.kickstarter import pledges, projects, wallets
from casebook.systems.kickstarter.api import pledge_out, project_out, tier_out, update_out
from casebook.systems.kickstarter.errors import InvalidPledgeForm, PledgeNotFound
from casebook.web.csrf import SameOrigin
from casebook.web.templating import Templates
from casebook.web.viewer import OptionalViewer, Viewer

templates = Templates(FilePath(__file__).with_name("templates"))
router = APIRouter()
PER_PAGE = 24
ProjectId = Annotated[int, Path(ge=1, le=2**63 - 1)]
_DOLLARS = re.compile(r"^\$?\s*(\d{1,7})(?:\.(\d{1,2}))?$")
"""A dollar amount as people type it: `25`, `25.5`, `$25.50`; up to $9,999,999.99."""


def parse_dollars(text: str) -> int:
    """Cents of a typed dollar amount within the pledge limits. Raises InvalidPledgeForm."""
    match = _DOLLARS.match(text.strip().replace(",", ""))
    if match is None:
        raise InvalidPledgeForm("Enter the amount in dollars, like 25 or 25.50.", field="amount")
    cents = int(match[1]) * 100 + int((match[2] or "0").ljust(2, "0"))
    if not pledges.MIN_PLEDGE <= cents <= pledges.MAX_PLEDGE:
        raise InvalidPledgeForm(
            f"Pledge between ${pledges.MIN_PLEDGE / 100:,.2f} and "
            f"${pledges.MAX_PLEDGE / 100:,.2f}.",
            field="amount",
        )
    return cents


def parse_reward(text: str) -> int | None:
    """The chosen reward tier's id, None for "no reward". Raises InvalidPledgeForm."""
    if not text.strip():
        return None
    if not text.strip().isdecimal() or len(text.strip()) > 19:
        raise InvalidPledgeForm("Choose one of the rewards listed.", field="reward")
    return int(text.strip())


def _project_path(project_id: int) -> str:
    return f"/kickstarter/projects/{project_id}"


def _login_redirect(project_id: int) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(_project_path(project_id))}", status_code=303)


@router.get("/", response_class=HTMLResponse)
async def home(
    request: Request,
    viewer: OptionalViewer,
    session: Session,
    category: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> HTMLResponse:
    """Live and finished projects, most backed first, optionally of one category."""
    chosen = category if category in projects.CATEGORIES else None
    found, next_cursor = await projects.discover(
        session, chosen, "popular", PageParams(cursor=cursor, limit=PER_PAGE)
    )
    now = utcnow()
    context = {
        "projects": [project_out(p, now) for p in found],
        "categories": projects.CATEGORIES,
        "category": chosen,
        "next_cursor": next_cursor,
    }
    return templates.render(request, "kickstarter_home.html", context, viewer=viewer)


async def _project_page(
    request: Request,
    viewer: Viewer | None,
    session: AsyncSession,
    project_id: int,
    *,
    error: Problem | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    project = await projects.visible_project(
        session, project_id, viewer.user_id if viewer else None
    )
    tiers = await projects.reward_tiers(session, project_id)
    updates, _ = await projects.list_updates(session, project_id, PageParams(limit=20))
    mine = None
    wallet = None
    if viewer is not None:
        found = await pledges.active_pledge(session, viewer.user_id, project_id)
        mine = pledge_out(found) if found else None
        wallet = await wallets.wallet_view(session, viewer.user_id)
    if form is None:
        form = {
            "amount": f"{mine.amount / 100:.2f}" if mine else "",
            "reward": str(mine.reward_tier_id or "") if mine else "",
        }
    context: dict[str, Any] = {
        "project": project_out(project),
        "tiers": [tier_out(t) for t in tiers],
        "updates": [update_out(u) for u in updates],
        "mine": mine,
        "wallet": wallet,
        "is_creator": viewer is not None and viewer.user_id == project.creator_id,
        "open": project.status == "live" and project.deadline > utcnow(),
        "error": error.detail if error else None,
        "form": form,
        "path": _project_path(project_id),
    }
    return templates.render(
        request,
        "kickstarter_project.html",
        context,
        viewer=viewer,
        status_code=error.status if error else 200,
    )


@router.get("/projects/{project_id}", response_class=HTMLResponse)
async def project_page(
    request: Request, viewer: OptionalViewer, session: Session, project_id: ProjectId
) -> HTMLResponse:
    """One project: progress against the goal, time left, rewards, the creator's updates and,
    for a signed-in visitor, their pledge and the form to pledge, change or cancel."""
    return await _project_page(request, viewer, session, project_id)


@router.post("/projects/{project_id}/pledge", response_class=HTMLResponse)
async def pledge_submit(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: WriteSession,
    project_id: ProjectId,
    amount: Annotated[str, Form(max_length=32)] = "",
    reward: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Pledge from the form, or change the pledge you already have; back to the project (303).
    A refusal (too little in the wallet, sold-out reward, bad amount…) re-shows the page with
    the reason and the problem's status, and changes nothing."""
    if viewer is None:
        return _login_redirect(project_id)
    try:
        cents, tier_id = parse_dollars(amount), parse_reward(reward)
        mine = await pledges.active_pledge(session, viewer.user_id, project_id)
        if mine is None:
            await pledges.place_pledge(session, viewer.user_id, project_id, cents, tier_id)
        else:
            await pledges.change_pledge(session, viewer.user_id, mine.id, cents, tier_id)
    except Problem as problem:
        # The request's session commits when the endpoint returns; undo a half-made pledge
        # (say, a reward claimed before the wallet said no) before showing why.
        await session.rollback()
        form = {"amount": amount, "reward": reward}
        return await _project_page(request, viewer, session, project_id, error=problem, form=form)
    return RedirectResponse(_project_path(project_id), status_code=303)


@router.post("/projects/{project_id}/pledge/cancel", response_class=HTMLResponse)
async def pledge_cancel(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: WriteSession,
    project_id: ProjectId,
) -> Response:
    """Cancel your pledge on the project (its hold is released); back to the project (303)."""
    if viewer is None:
        return _login_redirect(project_id)
    try:
        mine = await pledges.active_pledge(session, viewer.user_id, project_id)
        if mine is None:
            raise PledgeNotFound("You have no open pledge on this project.")
        await pledges.cancel_pledge(session, viewer.user_id, mine.id)
    except Problem as problem:
        await session.rollback()
        return await _project_page(request, viewer, session, project_id, error=problem)
    return RedirectResponse(_project_path(project_id), status_code=303)
