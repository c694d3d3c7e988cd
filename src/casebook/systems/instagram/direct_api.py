"""Instagram Direct over HTTP, mounted at `/api/instagram/direct`: the messaging engine's API
(devices, conversations, messages, receipts, search, attachments, push…) with Instagram's routes
in front of it where Instagram's rules differ.

Instagram's own routes:
- `POST /conversations` {kind: "direct", user_id} — open (or find) the one-to-one thread; groups,
  channels and secret chats are refused (not built); 403 between blocked users.
- `GET /inbox`, `GET /requests` — the inbox, and the message requests addressed to the caller.
- `POST /requests/{conversation_id}/accept` | `/decline`.
- `POST /share` {post_id, user_ids, client_id} — share a post the caller sees into each user's
  thread (a message of kind "share" naming the post).
- `GET /conversations/{id}/messages` — the engine's history, where each shared post carries
  `post`: the post when the reader may see it now, else null.

Everything else is the engine's, unchanged; every message, whatever the route or the WebSocket
(`/ws/instagram/direct`), passes `direct.guard_batch` in the writer's transaction.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from casebook.engines.feed import audience
from casebook.engines.messaging import mount, service
from casebook.engines.messaging.api import ConversationIn
from casebook.engines.messaging.runtime import messenger
from casebook.engines.messaging.views import conversation_view, message_view
from casebook.engines.messaging.writer import SendRequest
from casebook.platform.auth.deps import Principal, require_scope
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session
from casebook.platform.errors import PROBLEM_JSON, Problem
from casebook.platform.ids import IdStr
from casebook.platform.ratelimit import RateLimit, enforce
from casebook.systems.instagram import direct
from casebook.systems.instagram.media import SLUG

PlatformDep = Annotated[Platform, Depends(get_platform)]
Reader = Annotated[Principal, Depends(require_scope(f"{SLUG}:read"))]
Writer = Annotated[Principal, Depends(require_scope(f"{SLUG}:write"))]
ConversationId = Annotated[int, Path(ge=1, le=2**63 - 1)]
BeforeId = Annotated[int | None, Query(ge=1, le=2**63 - 1)]
SeqQuery = Annotated[int | None, Query(ge=0, le=2**62)]
MAX_SHARE_RECIPIENTS = 15
"""People one share reaches at once (Instagram's share sheet sends to a handful, not a list)."""


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"description": "Problem", "content": {PROBLEM_JSON: {}}} for s in statuses}


class ShareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    post_id: IdStr
    user_ids: list[IdStr] = Field(min_length=1, max_length=MAX_SHARE_RECIPIENTS)
    client_id: str = Field(min_length=1, max_length=64)


def _thread_view(row: direct.ThreadRow) -> dict[str, Any]:
    view = conversation_view(row.conversation, row.member)
    view["peer_id"] = str(row.peer_id) if row.peer_id is not None else None
    thread = row.thread
    view["request"] = (
        None
        if thread is None
        else {
            "sender_id": str(thread.sender_id),
            "recipient_id": str(thread.recipient_id),
            "status": thread.status,
        }
    )
    return view


def _page(rows: list[direct.ThreadRow], limit: int) -> dict[str, Any]:
    more = len(rows) == limit
    return {
        "items": [_thread_view(r) for r in rows],
        "next_before": str(rows[-1].conversation.id) if more else None,
    }


def _instagram_routes() -> APIRouter:
    api = APIRouter(tags=[SLUG])

    @api.post("/conversations", status_code=201, responses=_problems(401, 403, 404, 422))
    async def open_thread(
        body: ConversationIn, principal: Writer, platform: PlatformDep, response: Response
    ) -> dict[str, Any]:
        """Open the one-to-one thread with `user_id` (200 with the existing one). Instagram
        Direct has no groups, channels or secret chats here (422); blocked users: 403."""
        if body.kind != "direct" or body.e2e or body.user_id is None:
            raise direct.DirectOnly("Name user_id; groups and secret chats are not built.")
        async with platform.db.session(write=True) as session:
            conversation, created, events = await direct.open_thread(
                session, principal.user_id, body.user_id
            )
            _, member = await service.membership(session, SLUG, conversation.id, principal.user_id)
            view = conversation_view(conversation, member)
        if not created:
            response.status_code = 200
        await service.publish_all(platform.bus, SLUG, events)
        return view

    @api.get("/inbox", responses=_problems(401, 422))
    async def inbox(
        principal: Reader,
        session: Session,
        before: BeforeId = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 30,
    ) -> dict[str, Any]:
        """The caller's threads, newest first, without the message requests addressed to them;
        each names its `peer_id` and its `request` state. `next_before` pages on."""
        rows = await direct.inbox(session, principal.user_id, before_id=before, limit=limit)
        return _page(rows, limit)

    @api.get("/requests", responses=_problems(401, 422))
    async def message_requests(
        principal: Reader,
        session: Session,
        before: BeforeId = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 30,
    ) -> dict[str, Any]:
        """Message requests addressed to the caller (from people they are not connected to),
        newest first. `next_before` pages on."""
        rows = await direct.requests(session, principal.user_id, before_id=before, limit=limit)
        return _page(rows, limit)

    @api.post("/requests/{conversation_id}/accept", responses=_problems(401, 404))
    async def accept(
        conversation_id: ConversationId, principal: Writer, platform: PlatformDep
    ) -> dict[str, Any]:
        """Accept a message request: the thread joins the inbox and the caller may reply."""
        async with platform.db.session(write=True) as session:
            await direct.accept_request(session, principal.user_id, conversation_id)
        return {"conversation_id": str(conversation_id), "status": "accepted"}

    @api.post("/requests/{conversation_id}/decline", responses=_problems(401, 404))
    async def decline(
        conversation_id: ConversationId, principal: Writer, platform: PlatformDep
    ) -> dict[str, Any]:
        """Decline a message request: it disappears with its messages (for the caller only;
        the sender is not told, and a new message from them is a new request)."""
        async with platform.db.session(write=True) as session:
            await direct.decline_request(session, principal.user_id, conversation_id)
        return {"conversation_id": str(conversation_id), "status": "declined"}

    @api.post("/share", status_code=201, responses=_problems(401, 403, 404, 409, 422, 429))
    async def share(body: ShareIn, principal: Writer, platform: PlatformDep) -> dict[str, Any]:
        """Send the post `post_id` (one the caller sees) to each of `user_ids`, in the thread
        with each (opened if needed). All or nothing up front: an unseen post is 404, a blocked
        recipient 403; each thread then gets a "share" message, and `items` says per recipient
        what was sent or which problem refused it (a message request the caller has not
        accepted: 409). Retrying with the same `client_id` sends nothing twice."""
        me = principal.user_id
        state = messenger(platform, SLUG)
        recipients = list(dict.fromkeys(body.user_ids))
        await enforce(
            platform,
            f"messaging:{SLUG}:send:{me}",  # the engine's send budget: a share is a send
            RateLimit(state.config.send_rate, state.config.send_burst),
            cost=len(recipients),
        )
        async with platform.db.session(write=True) as session:
            if await audience.visible_post(session, SLUG, me, body.post_id) is None:
                raise direct.SharedPostNotFound()
            threads: list[int] = []
            events: list[service.Event] = []
            for user_id in recipients:
                conversation, _, opened = await direct.open_thread(session, me, user_id)
                threads.append(conversation.id)
                events += opened
        await service.publish_all(platform.bus, SLUG, events)
        # Sent together so the writer commits them in one batch.
        outcomes = await asyncio.gather(
            *(
                state.writer.send(
                    SendRequest(
                        conversation_id=conversation_id,
                        sender_id=me,
                        client_id=body.client_id,
                        kind="share",
                        data={"post_id": str(body.post_id)},
                    )
                )
                for conversation_id in threads
            ),
            return_exceptions=True,
        )
        items: list[dict[str, Any]] = []
        for user_id, outcome in zip(recipients, outcomes, strict=True):
            if isinstance(outcome, Problem):
                items.append({"user_id": str(user_id), "problem": outcome.body()})
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                items.append({"user_id": str(user_id), "message": outcome.view})
        return {"items": items}

    @api.get("/conversations/{conversation_id}/messages", responses=_problems(401, 404, 422))
    async def history(
        conversation_id: ConversationId,
        principal: Reader,
        session: Session,
        before: SeqQuery = None,
        after: SeqQuery = None,
        order: Literal["newest", "oldest"] | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        device_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    ) -> dict[str, Any]:
        """The engine's history page (same parameters and shape), where each shared post's
        message carries `post`: the post's view when the caller may see it now, else null."""
        newest_first = order == "newest" if order is not None else after is None
        items = await service.history(
            session,
            SLUG,
            principal.user_id,
            conversation_id,
            before=before,
            after=after,
            limit=limit,
            newest_first=newest_first,
            device_id=device_id,
        )
        page = [message_view(i.message, i.ciphertext) for i in items]
        await direct.render_shared_posts(session, principal.user_id, page)
        more = len(items) == limit
        last = items[-1].message.seq if items else None
        return {
            "items": page,
            "next_before": last if more and newest_first else None,
            "next_after": last if more and not newest_first else None,
        }

    return api


def router() -> APIRouter:
    """Instagram's Direct routes, then the messaging engine's but for those Instagram serves
    itself (so each operation is served and documented once)."""
    own = _instagram_routes()
    replaced = {
        (method, route.path)
        for route in own.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    api = APIRouter()
    api.include_router(own)
    api.include_router(mount.api_router(SLUG, replaced=replaced))
    return api
