"""The feed engine's HTTP API for one system (mounted under `/api/<slug>`).

Identity is the platform's: a session token, or an API key with the scope `<slug>:read` (reads)
or `<slug>:write` (changes). Reads of posts and walls accept anonymous callers, who see public
posts of public accounts only. Every read goes through `audience.visible_posts`: a post the
caller may not see is 404 like a missing one, and lists leave it out.

Profiles and graph
- `GET /me`, `PATCH /me` {handle?, private?} — one's own profile (created on first use).
- `GET /users/{id}` — a profile (404 when either blocked the other).
- `GET /users/{id}/posts` — a profile wall, newest first, by cursor.
- `POST|DELETE /users/{id}/follow` — follow (a request, for a private account) / unfollow.
- `GET /users/{id}/followers`, `GET /users/{id}/following` — by cursor; private accounts'
  only for themselves, friends and approved followers (403 otherwise).
- `GET /follow-requests`, `POST /follow-requests/{id}/approve|decline`.
- `POST /users/{id}/friend-request` (crossing requests make a friendship),
  `GET /friend-requests`, `POST /friend-requests/{id}/accept|decline`,
  `DELETE /users/{id}/friend` (unfriend or cancel), `GET /friends`.
- `POST|DELETE /users/{id}/block`, `GET /blocks`.
- `POST /pages`, `POST /groups`, `GET /pages/{id}`, `GET /groups/{id}`,
  `POST|DELETE /pages/{id}/follow`, `POST /groups/{id}/join`, `POST /groups/{id}/leave`,
  `GET /pages/{id}/posts`, `GET /groups/{id}/posts`.
- `POST /lists`, `GET /lists`, `PUT /lists/{id}/members` — custom audiences.

Posts and feed
- `POST /posts` {body, audience, data?, page_id?, group_id?} → 201; `GET /posts/{id}`;
  `PATCH /posts/{id}` {body?, data?, audience?} and `DELETE /posts/{id}` — author only (403 for
  someone who can see it, 404 for someone who cannot).
- `GET /feed?rank=chronological|engagement&cursor=&limit=` — the home feed.
"""

# No `from __future__ import annotations`: the routes' dependencies are aliases local to
# `router(system)`, which FastAPI can only resolve from evaluated annotations.
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import graph, posts, service
from casebook.engines.feed.audience import is_blocked_between
from casebook.engines.feed.models import FeedEntity, FeedFriendship, FeedList, FeedProfile
from casebook.engines.feed.runtime import FeedRuntime, feed_runtime
from casebook.platform.auth.deps import Principal, optional_principal, require_scope
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session
from casebook.platform.errors import PROBLEM_JSON, Forbidden
from casebook.platform.idempotency import Idempotent
from casebook.platform.ids import IdStr
from casebook.platform.pagination import PageParams, PageQuery, decode_cursor, encode_cursor

PlatformDep = Annotated[Platform, Depends(get_platform)]
EntityId = Annotated[int, Path(ge=1, le=2**63 - 1)]
MAX_BODY = posts.MAX_BODY


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=`: the problem+json answers an endpoint may give."""
    return {
        status: {"description": "Problem", "content": {PROBLEM_JSON: {}}} for status in statuses
    }


class ProfilePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    handle: str | None = Field(default=None, min_length=2, max_length=31)
    private: bool | None = None


class PostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(default="", max_length=MAX_BODY)
    audience: str = Field(default="public", max_length=32)
    data: dict[str, Any] | None = None
    page_id: IdStr | None = None
    group_id: IdStr | None = None


class PostPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str | None = Field(default=None, max_length=MAX_BODY)
    audience: str | None = Field(default=None, max_length=32)
    data: dict[str, Any] | None = None


class EntityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    about: str = Field(default="", max_length=500)


class ListIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    member_ids: list[IdStr] = Field(default_factory=list, max_length=graph.MAX_LIST_MEMBERS)


class ListMembersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    member_ids: list[IdStr] = Field(max_length=graph.MAX_LIST_MEMBERS)


def profile_view(profile: FeedProfile) -> dict[str, Any]:
    return {
        "id": str(profile.user_id),
        "handle": profile.handle,
        "display_name": profile.display_name,
        "private": profile.private,
        "follower_count": profile.follower_count,
    }


def _ids(values: list[int]) -> list[str]:
    return [str(v) for v in values]


def _page_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    value = decode_cursor(cursor, (int,))[0]
    return value if isinstance(value, int) else None


def router(system: str) -> APIRouter:
    """Every feed endpoint for `system` (see the module docstring)."""
    api = APIRouter()
    Reader = Annotated[Principal, Depends(require_scope(f"{system}:read"))]
    Writer = Annotated[Principal, Depends(require_scope(f"{system}:write"))]
    Anyone = Annotated[Principal | None, Depends(optional_principal)]

    def runtime_of(platform: Platform) -> FeedRuntime:
        return feed_runtime(platform, system)

    def reader_id(principal: Principal | None) -> int | None:
        if principal is None:
            return None
        if not principal.has_scope(f"{system}:read"):
            raise Forbidden(f"The credential lacks the scope {system}:read.")
        return principal.user_id

    # Profiles -------------------------------------------------------------------------------

    @api.get("/me", responses=_problems(401))
    async def my_profile(principal: Reader, session: Session) -> dict[str, Any]:
        """The caller's profile in this system (created on first use)."""
        return profile_view(await graph.ensure_profile(session, system, principal.user_id))

    @api.patch("/me", responses=_problems(401, 409, 422))
    async def update_my_profile(
        body: ProfilePatch, principal: Writer, platform: PlatformDep
    ) -> dict[str, Any]:
        """Change one's handle or make the account private/public (public approves pending
        follow requests)."""
        profile = await service.update_profile(
            runtime_of(platform), principal.user_id, handle=body.handle, private=body.private
        )
        return profile_view(profile)

    @api.get("/users/{user_id}", responses=_problems(404))
    async def get_profile(user_id: EntityId, principal: Anyone, session: Session) -> dict[str, Any]:
        """A user's profile; 404 when unknown or when either blocked the other."""
        viewer = reader_id(principal)
        if viewer is not None and await is_blocked_between(session, system, viewer, user_id):
            raise graph.UserNotFound(f"No user {user_id}.")
        return profile_view(await graph.ensure_profile(session, system, user_id))

    @api.get("/users/{user_id}/posts", responses=_problems(404, 422))
    async def user_posts(
        user_id: EntityId, principal: Anyone, session: Session, page: PageQuery
    ) -> dict[str, Any]:
        """A profile wall: the user's posts the caller may see, newest first."""
        viewer = reader_id(principal)
        if viewer is not None and await is_blocked_between(session, system, viewer, user_id):
            raise graph.UserNotFound(f"No user {user_id}.")
        items, last = await posts.source_posts(
            session, system, viewer, user_id, before=_page_cursor(page.cursor), limit=page.limit
        )
        return {
            "items": await posts.hydrate_for(session, system, viewer, items),
            "next_cursor": encode_cursor([last]) if last is not None else None,
        }

    # Follows --------------------------------------------------------------------------------

    @api.post("/users/{user_id}/follow", responses=_problems(401, 404, 422))
    async def follow_user(
        user_id: EntityId, principal: Writer, platform: PlatformDep
    ) -> dict[str, Any]:
        """Follow a user: `active`, or `pending` until a private account approves."""
        result = await service.follow(runtime_of(platform), principal.user_id, user_id)
        return {"followee_id": str(result.followee_id), "status": result.status}

    @api.delete("/users/{user_id}/follow", status_code=204, responses=_problems(401))
    async def unfollow_user(
        user_id: EntityId, principal: Writer, platform: PlatformDep
    ) -> Response:
        """Unfollow or withdraw a request; their posts leave the caller's feed."""
        await service.unfollow(runtime_of(platform), principal.user_id, user_id)
        return Response(status_code=204)

    @api.get("/users/{user_id}/{direction}", responses=_problems(403, 404, 422))
    async def connections(
        user_id: EntityId,
        direction: Literal["followers", "following"],
        principal: Anyone,
        session: Session,
        page: PageQuery,
    ) -> dict[str, Any]:
        """A user's followers or the users they follow, by cursor (a private account's only for
        itself, its friends and approved followers)."""
        ids, last = await graph.connections_page(
            session,
            system,
            reader_id(principal),
            user_id,
            direction=direction,
            after=_page_cursor(page.cursor),
            limit=page.limit,
        )
        return {
            "user_ids": _ids(ids),
            "next_cursor": encode_cursor([last]) if last is not None else None,
        }

    @api.get("/follow-requests", responses=_problems(401))
    async def follow_requests(principal: Reader, session: Session) -> dict[str, Any]:
        """Pending requests to follow the caller, oldest first."""
        pending = await graph.pending_follower_ids(session, system, principal.user_id)
        return {"user_ids": _ids(pending)}

    @api.post(
        "/follow-requests/{user_id}/{decision}", status_code=204, responses=_problems(401, 404)
    )
    async def answer_follow_request(
        user_id: EntityId,
        decision: Literal["approve", "decline"],
        principal: Writer,
        platform: PlatformDep,
    ) -> Response:
        """Approve or decline a pending follow request."""
        await service.answer_follow_request(
            runtime_of(platform), principal.user_id, user_id, approve=decision == "approve"
        )
        return Response(status_code=204)

    # Friends --------------------------------------------------------------------------------

    @api.post("/users/{user_id}/friend-request", responses=_problems(401, 404, 422))
    async def request_friend(
        user_id: EntityId, principal: Writer, platform: PlatformDep
    ) -> dict[str, Any]:
        """Ask to be friends: `pending`, or `accepted` when they had asked the caller."""
        status = await service.request_friendship(runtime_of(platform), principal.user_id, user_id)
        return {"user_id": str(user_id), "status": status}

    @api.get("/friend-requests", responses=_problems(401))
    async def friend_requests(principal: Reader, session: Session) -> dict[str, Any]:
        """Pending friend requests to the caller (at most 1000)."""
        rows = await session.scalars(
            select(FeedFriendship.user_id)
            .where(
                FeedFriendship.system == system,
                FeedFriendship.friend_id == principal.user_id,
                FeedFriendship.status == "pending",
            )
            .order_by(FeedFriendship.created_at)
            .limit(1000)
        )
        return {"user_ids": _ids(list(rows))}

    @api.post(
        "/friend-requests/{user_id}/{decision}", status_code=204, responses=_problems(401, 404)
    )
    async def answer_friend_request(
        user_id: EntityId,
        decision: Literal["accept", "decline"],
        principal: Writer,
        platform: PlatformDep,
    ) -> Response:
        """Accept (friends follow each other) or decline a friend request."""
        await service.answer_friend_request(
            runtime_of(platform), principal.user_id, user_id, accept=decision == "accept"
        )
        return Response(status_code=204)

    @api.delete("/users/{user_id}/friend", status_code=204, responses=_problems(401))
    async def unfriend(user_id: EntityId, principal: Writer, platform: PlatformDep) -> Response:
        """End a friendship or cancel one's request."""
        await service.unfriend(runtime_of(platform), principal.user_id, user_id)
        return Response(status_code=204)

    @api.get("/friends", responses=_problems(401))
    async def friends(principal: Reader, session: Session) -> dict[str, Any]:
        """The caller's friends."""
        return {"user_ids": _ids(await graph.friend_ids(session, system, principal.user_id))}

    # Blocks ---------------------------------------------------------------------------------

    @api.post("/users/{user_id}/block", status_code=204, responses=_problems(401, 404, 422))
    async def block_user(user_id: EntityId, principal: Writer, platform: PlatformDep) -> Response:
        """Block: each stops seeing the other's posts; follows and friendship end."""
        await service.block(runtime_of(platform), principal.user_id, user_id)
        return Response(status_code=204)

    @api.delete("/users/{user_id}/block", status_code=204, responses=_problems(401))
    async def unblock_user(user_id: EntityId, principal: Writer, session: Session) -> Response:
        await graph.unblock(session, system, principal.user_id, user_id)
        return Response(status_code=204)

    @api.get("/blocks", responses=_problems(401))
    async def blocks(principal: Reader, session: Session) -> dict[str, Any]:
        return {"user_ids": _ids(await graph.blocked_ids(session, system, principal.user_id))}

    # Pages and groups -----------------------------------------------------------------------

    def entity_view(entity: FeedEntity) -> dict[str, Any]:
        return {
            "id": str(entity.id),
            "kind": entity.kind,
            "name": entity.name,
            "about": entity.about,
            "owner_id": str(entity.owner_id),
            "follower_count": entity.follower_count,
        }

    @api.post("/pages", status_code=201, responses=_problems(401, 422))
    async def create_page(body: EntityIn, principal: Writer, session: Session) -> dict[str, Any]:
        """Create a page the caller owns (and follows)."""
        entity = await graph.create_entity(
            session, system, principal.user_id, "page", body.name, body.about
        )
        return entity_view(entity)

    @api.post("/groups", status_code=201, responses=_problems(401, 422))
    async def create_group(body: EntityIn, principal: Writer, session: Session) -> dict[str, Any]:
        """Create a group; the caller is its first member."""
        entity = await graph.create_entity(
            session, system, principal.user_id, "group", body.name, body.about
        )
        return entity_view(entity)

    async def entity_of_kind(session: AsyncSession, entity_id: int, kind: str) -> FeedEntity:
        entity = await graph.get_entity(session, system, entity_id)
        if entity.kind != kind:
            raise graph.EntityNotFound(f"No {kind} {entity_id}.")
        return entity

    @api.get("/pages/{page_id}", responses=_problems(404))
    async def get_page(page_id: EntityId, session: Session) -> dict[str, Any]:
        return entity_view(await entity_of_kind(session, page_id, "page"))

    @api.get("/groups/{group_id}", responses=_problems(404))
    async def get_group(group_id: EntityId, session: Session) -> dict[str, Any]:
        return entity_view(await entity_of_kind(session, group_id, "group"))

    @api.post("/pages/{page_id}/follow", responses=_problems(401, 404))
    async def follow_page(
        page_id: EntityId, principal: Writer, session: Session, platform: PlatformDep
    ) -> dict[str, Any]:
        entity = await graph.get_entity(session, system, page_id)
        if entity.kind != "page":
            raise graph.EntityNotFound(f"No page {page_id}.")
        result = await service.follow(runtime_of(platform), principal.user_id, page_id)
        return {"followee_id": str(page_id), "status": result.status}

    @api.delete("/pages/{page_id}/follow", status_code=204, responses=_problems(401))
    async def unfollow_page(
        page_id: EntityId, principal: Writer, platform: PlatformDep
    ) -> Response:
        await service.unfollow(runtime_of(platform), principal.user_id, page_id)
        return Response(status_code=204)

    @api.post("/groups/{group_id}/join", responses=_problems(401, 404))
    async def join_group(
        group_id: EntityId, principal: Writer, platform: PlatformDep
    ) -> dict[str, Any]:
        joined = await service.join_group(runtime_of(platform), principal.user_id, group_id)
        return {"group_id": str(group_id), "joined": joined}

    @api.post("/groups/{group_id}/leave", status_code=204, responses=_problems(401, 404))
    async def leave_group(group_id: EntityId, principal: Writer, platform: PlatformDep) -> Response:
        await service.leave_group(runtime_of(platform), principal.user_id, group_id)
        return Response(status_code=204)

    async def entity_wall(
        entity_id: int,
        kind: str,
        principal: Principal | None,
        session: AsyncSession,
        page: PageParams,
    ) -> dict[str, Any]:
        await entity_of_kind(session, entity_id, kind)
        viewer = reader_id(principal)
        items, last = await posts.source_posts(
            session,
            system,
            viewer,
            entity_id,
            before=_page_cursor(page.cursor),
            limit=page.limit,
            by_author=False,
        )
        return {
            "items": await posts.hydrate_for(session, system, viewer, items),
            "next_cursor": encode_cursor([last]) if last is not None else None,
        }

    @api.get("/pages/{page_id}/posts", responses=_problems(404, 422))
    async def page_posts(
        page_id: EntityId, principal: Anyone, session: Session, page: PageQuery
    ) -> dict[str, Any]:
        """A page's wall: its posts the caller may see."""
        return await entity_wall(page_id, "page", principal, session, page)

    @api.get("/groups/{group_id}/posts", responses=_problems(404, 422))
    async def group_posts(
        group_id: EntityId, principal: Anyone, session: Session, page: PageQuery
    ) -> dict[str, Any]:
        """A group's wall: its posts, for its members."""
        return await entity_wall(group_id, "group", principal, session, page)

    # Lists ----------------------------------------------------------------------------------

    @api.post("/lists", status_code=201, responses=_problems(401, 404, 422))
    async def create_list(body: ListIn, principal: Writer, session: Session) -> dict[str, Any]:
        """A custom audience: post to it with `audience: "list:<id>"`."""
        entry = await graph.create_list(
            session, system, principal.user_id, body.name, body.member_ids
        )
        members = await graph.list_member_ids(session, entry.id)
        return {"id": str(entry.id), "name": entry.name, "member_ids": _ids(members)}

    @api.get("/lists", responses=_problems(401))
    async def my_lists(principal: Reader, session: Session) -> dict[str, Any]:
        rows = await session.scalars(
            select(FeedList)
            .where(FeedList.system == system, FeedList.owner_id == principal.user_id)
            .order_by(FeedList.id)
        )
        return {"items": [{"id": str(e.id), "name": e.name} for e in rows]}

    @api.put("/lists/{list_id}/members", responses=_problems(401, 404, 422))
    async def set_list_members(
        list_id: EntityId, body: ListMembersIn, principal: Writer, session: Session
    ) -> dict[str, Any]:
        """Replace a list's members; posts for the list follow at once."""
        members = await graph.set_list_members(
            session, system, principal.user_id, list_id, body.member_ids
        )
        return {"id": str(list_id), "member_ids": _ids(members)}

    # Posts ----------------------------------------------------------------------------------

    @api.post(
        "/posts",
        status_code=201,
        dependencies=[Idempotent],
        responses=_problems(401, 403, 404, 409, 422),
    )
    async def create_post(body: PostIn, principal: Writer, platform: PlatformDep) -> dict[str, Any]:
        """Publish a post; it reaches followers' feeds (and live sockets) after fan-out.
        Accepts `Idempotency-Key`: a retry with the same key and body answers the first post."""
        return await service.publish(
            runtime_of(platform),
            principal.user_id,
            body=body.body,
            audience=body.audience,
            data=body.data,
            page_id=body.page_id,
            group_id=body.group_id,
        )

    @api.get("/posts/{post_id}", responses=_problems(404))
    async def get_post(post_id: EntityId, principal: Anyone, session: Session) -> dict[str, Any]:
        """A post the caller may see; 404 otherwise."""
        viewer = reader_id(principal)
        post = await posts.readable_post(session, system, viewer, post_id)
        (view,) = await posts.hydrate_for(session, system, viewer, [post])
        return view

    @api.patch("/posts/{post_id}", responses=_problems(401, 403, 404, 422))
    async def edit_post(
        post_id: EntityId, body: PostPatch, principal: Writer, platform: PlatformDep
    ) -> dict[str, Any]:
        """Edit one's post (body, data, audience)."""
        return await service.edit(
            runtime_of(platform),
            principal.user_id,
            post_id,
            body=body.body,
            data=body.data,
            audience=body.audience,
        )

    @api.delete("/posts/{post_id}", status_code=204, responses=_problems(401, 403, 404))
    async def delete_post(post_id: EntityId, principal: Writer, platform: PlatformDep) -> Response:
        """Delete one's post: gone from every feed and read at once."""
        await service.delete(runtime_of(platform), principal.user_id, post_id)
        return Response(status_code=204)

    @api.get("/feed", responses=_problems(401, 410, 422))
    async def home_feed(
        principal: Reader,
        session: Session,
        platform: PlatformDep,
        page: PageQuery,
        rank: Annotated[Literal["chronological", "engagement"], Query()] = "chronological",
    ) -> dict[str, Any]:
        """The caller's home feed: posts of the people, pages and groups they follow (and their
        own), newest first or ranked by engagement, time decay and affinity."""
        result = await service.home_feed(
            runtime_of(platform),
            session,
            principal.user_id,
            rank=rank,
            cursor=page.cursor,
            limit=page.limit,
        )
        return {"items": result.items, "next_cursor": result.next_cursor}

    return api
