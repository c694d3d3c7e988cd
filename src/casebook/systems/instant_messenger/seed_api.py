"""The seed's endpoints (seed-003 §8), with their meaning, over the messaging engine.

The seed's Flask code kept users and messages in dicts, trusted a `sender_id` in the body,
"encrypted" by prefixing "Encrypted: ", and its feed (`GET /messages/get/<user_id>`) returned
the messages of the user's contacts and fellow group members: anyone's private chats with
anyone, to anyone who asked with their id. Here every endpoint acts for the signed-in caller:

- `POST /users/register {username, password}` and `POST /users/login` (accounts.py): username
  accounts on the platform identity; login answers the platform's tokens.
- `GET /users/{user_id}/friends`: your mutual contacts with presence (another user's: 403).
- `POST /messages/send {receiver_id | group_id, content, client_id}`: into your direct chat with
  the receiver (created on first use) or a group you are in; `client_id` makes it idempotent (a
  retry answers 200 with the stored message, `duplicate: true`). A `sender_id` that is not you
  is 403.
- `GET /messages/{message_id}`: one message, with its delivered/read state, for members of its
  conversation only (others: 404, as if it did not exist).
- `GET /messages/search?q=`: full-text search of your own conversations, and users by name.
- `GET /messages/get/{user_id}`: your feed, the newest messages of your own conversations only
  (service.py); someone else's: 403.
- `POST /groups/create`, `POST /groups/{id}/add_member`, `POST /groups/{id}/remove_member`:
  engine groups (the owner and admins add and remove; anyone may remove themselves = leave).
- `POST /notifications/register` / `unregister`: a device's Web Push subscription (the engine
  pushes new messages to devices that are offline and have not muted the chat).

Ids are the engine's 64-bit ids as strings.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging import contacts, push, search, service
from casebook.engines.messaging.errors import ConversationNotFound
from casebook.engines.messaging.models import MessagingConversation, MessagingProfile
from casebook.engines.messaging.presence import Presence
from casebook.engines.messaging.runtime import messenger
from casebook.engines.messaging.views import message_view
from casebook.engines.messaging.writer import SendRequest
from casebook.platform.auth.deps import CurrentPrincipal, client_ip
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession
from casebook.platform.errors import PROBLEM_JSON, Forbidden, InvalidInput
from casebook.platform.ids import IdStr
from casebook.platform.ratelimit import RateLimit, enforce
from casebook.systems.instant_messenger import accounts
from casebook.systems.instant_messenger import service as im

PlatformDep = Annotated[Platform, Depends(get_platform)]
MAX_ID = 2**63 - 1
Ref = Annotated[IdStr, Field(ge=1, le=MAX_ID)]
"""A user, group or device id (a string of digits, or a number) that fits a BIGINT."""
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
MAX_CONTENT = 4096
"""The engine's text limit (`MessagingConfig.max_text_length`)."""


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": "Problem", "content": {PROBLEM_JSON: {}}} for status in statuses
    }


class NotYours(Forbidden):
    type_ = "instant-messenger/not-yours"
    title = "You act and read only as yourself"


def _only_self(claimed: int | None, user_id: int, field: str) -> None:
    if claimed is not None and claimed != user_id:
        raise NotYours(f"`{field}` must be your own user id.")


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=32)
    password: str = Field(max_length=1024)
    display_name: str | None = Field(default=None, min_length=1, max_length=100)


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=32)
    password: str = Field(max_length=1024)


class SendIn(BaseModel):
    """Exactly one of `receiver_id` and `group_id`. `sender_id` (the seed's field) may be given
    and must then be the caller."""

    model_config = ConfigDict(extra="forbid")
    sender_id: Ref | None = None
    receiver_id: Ref | None = None
    group_id: Ref | None = None
    content: str = Field(min_length=1, max_length=MAX_CONTENT)
    client_id: str = Field(min_length=1, max_length=64)


class GroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group_name: str = Field(min_length=1, max_length=128)
    members: list[Ref] = Field(default_factory=list, max_length=1000)


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: Ref


class NotificationsIn(BaseModel):
    """Register a Web Push subscription (`PushSubscription.toJSON()`) for one of your devices,
    or, without `device_id`, for a new device named `device_name`."""

    model_config = ConfigDict(extra="forbid")
    device_id: Ref | None = None
    device_name: str = Field(default="browser", min_length=1, max_length=64)
    subscription: push.SubscriptionIn


class UnregisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_id: Ref


def _user(profile: MessagingProfile) -> dict[str, Any]:
    return {
        "user_id": str(profile.user_id),
        "username": profile.handle,
        "display_name": profile.display_name,
        "status_text": profile.status_text,
    }


async def _group(
    session: AsyncSession, system: str, group_id: int, user_id: int
) -> MessagingConversation:
    """The group `group_id` if the user is in it; ConversationNotFound otherwise (also for a
    direct chat or channel id: those are not groups)."""
    conversation, _ = await service.membership(session, system, group_id, user_id)
    if conversation.kind != "group":
        raise ConversationNotFound(f"No group {group_id} among yours.")
    return conversation


def router(system: str) -> APIRouter:
    """The seed's endpoints for `system` (mounted under /api/instant-messenger)."""
    api = APIRouter(tags=[system])

    # Users -------------------------------------------------------------------------------------

    @api.post("/users/register", status_code=201, responses=_problems(409, 422))
    async def register(
        body: RegisterIn, platform: PlatformDep, session: WriteSession
    ) -> dict[str, Any]:
        """Sign up with a unique username (5-32 letters, digits, underscores; a letter first)
        and a password of 10 to 256 characters. Log in with `POST /users/login`."""
        user, profile = await accounts.register(
            platform, session, system, body.username, body.password, body.display_name
        )
        return {
            "user_id": str(user.id),
            "username": profile.handle,
            "display_name": profile.display_name,
        }

    @api.post("/users/login", responses=_problems(401, 422, 429))
    async def login(
        body: LoginIn, request: Request, platform: PlatformDep, session: WriteSession
    ) -> dict[str, Any]:
        """Exchange username and password for the platform's tokens (send the access token as
        `Authorization: Bearer …`). Attempts are limited per account and per client address."""
        user_id, pair = await accounts.login(
            platform, session, system, body.username, body.password, client_ip(request)
        )
        return {
            "user_id": str(user_id),
            "username": body.username.strip().lower(),
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "token_type": "bearer",
            "expires_in": pair.expires_in,
        }

    @api.get("/users/{user_id}/friends", responses=_problems(401, 403, 422))
    async def friends(
        user_id: PathId,
        principal: CurrentPrincipal,
        platform: PlatformDep,
        session: Session,
        after: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 100,
    ) -> dict[str, Any]:
        """Your friends (mutual contacts, made by accepting a friend request), by user id, with
        online / last seen; `next_after` pages on. Only your own list."""
        _only_self(user_id, principal.user_id, "user_id")
        rows = await im.friends_of(session, system, user_id, after=after, limit=limit)
        # Friends agreed to be friends: each sees the other's presence, chat or no chat.
        states = await Presence(platform, system).states(session, [f.profile.user_id for f in rows])
        presence = {s.user_id: s for s in states}
        items = []
        for friend in rows:
            state = presence[friend.profile.user_id]
            items.append(
                {
                    **_user(friend.profile),
                    "name": friend.name or friend.profile.display_name,
                    "tag": friend.tag,
                    "online": state.online,
                    "last_seen": state.last_seen.isoformat() if state.last_seen else None,
                }
            )
        next_after = items[-1]["user_id"] if len(items) == limit else None
        return {"friends": items, "next_after": next_after}

    # Messages ----------------------------------------------------------------------------------

    @api.post("/messages/send", status_code=201, responses=_problems(401, 403, 404, 422, 429, 503))
    async def send(
        body: SendIn, principal: CurrentPrincipal, platform: PlatformDep, response: Response
    ) -> dict[str, Any]:
        """Send `content` to a user (`receiver_id`: your direct chat, created on first use) or
        a group you are in (`group_id`). The message gets its chat's next sequence number and
        reaches the recipients' devices live. Retrying with the same `client_id` stores
        nothing twice: 200 with the stored message and `duplicate: true`."""
        me = principal.user_id
        _only_self(body.sender_id, me, "sender_id")
        if (body.receiver_id is None) == (body.group_id is None):
            raise InvalidInput("Name exactly one of receiver_id and group_id.", field="receiver_id")
        state = messenger(platform, system)
        await enforce(
            platform,
            f"messaging:{system}:send:{me}",
            RateLimit(state.config.send_rate, state.config.send_burst),
        )
        async with platform.db.session(write=True) as session:
            if body.receiver_id is not None:
                chat, _, events = await service.create_direct(session, system, me, body.receiver_id)
            else:
                assert body.group_id is not None
                chat, events = await _group(session, system, body.group_id, me), []
        await service.publish_all(platform.bus, system, events)
        sent = await state.writer.send(
            SendRequest(
                conversation_id=chat.id,
                sender_id=me,
                client_id=body.client_id,
                kind="text",
                body=body.content,
            )
        )
        if sent.duplicate:
            response.status_code = 200
        message = sent.message
        return {
            "message_id": str(message.id),
            "sender": str(message.sender_id),
            "receiver": str(body.receiver_id) if body.receiver_id is not None else None,
            "group_id": str(body.group_id) if body.group_id is not None else None,
            "content": message.body,
            "conversation_id": str(message.conversation_id),
            "seq": message.seq,
            "client_id": message.client_id,
            "created_at": message.created_at.isoformat(),
            "duplicate": sent.duplicate,
        }

    @api.get("/messages/search", responses=_problems(401, 422))
    async def search_messages(
        principal: CurrentPrincipal,
        session: Session,
        q: Annotated[str, Query(min_length=1, max_length=256)],
        before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> dict[str, Any]:
        """Messages of your own conversations containing every word of `q` (newest first;
        `next_before_id` pages on), and users whose username starts with, or whose name
        contains, `q`. End-to-end encrypted messages are never searchable."""
        found = await search.search(
            session, system, principal.user_id, q, before_id=before_id, limit=limit
        )
        users = await contacts.search_users(session, system, q[:64], limit=20)
        return {
            "messages": [message_view(m) for m in found],
            "users": [_user(p) for p in users],
            "next_before_id": str(found[-1].id) if len(found) == limit else None,
        }

    @api.get("/messages/get/{user_id}", responses=_problems(401, 403, 422))
    async def feed(
        user_id: PathId,
        principal: CurrentPrincipal,
        session: Session,
        before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        limit: Annotated[int, Query(ge=1, le=50)] = 50,
    ) -> dict[str, Any]:
        """Your feed: the newest messages of your own chats and groups (the seed's top 50),
        newest first; `next_before_id` pages on. Only your own."""
        _only_self(user_id, principal.user_id, "user_id")
        found = await im.feed_of(session, system, user_id, before_id=before_id, limit=limit)
        return {
            "messages": [message_view(m) for m in found],
            "next_before_id": str(found[-1].id) if len(found) == limit else None,
        }

    @api.get("/messages/{message_id}", responses=_problems(401, 404, 422))
    async def get_message(
        message_id: PathId, principal: CurrentPrincipal, session: Session
    ) -> dict[str, Any]:
        """One message of a conversation you are in, with its receipt: "sent", "delivered" (to
        every other member) or "read" (by every other member), and the counts for groups."""
        conversation, message = await im.message_by_id(
            session, system, principal.user_id, message_id
        )
        receipt = await service.receipt_state(
            session, system, principal.user_id, conversation.id, message.seq
        )
        return {
            **message_view(message),
            "conversation_kind": conversation.kind,
            "receipt": {
                "state": receipt.state,
                "recipients": receipt.recipients,
                "delivered": receipt.delivered,
                "read": receipt.read,
            },
        }

    # Groups ------------------------------------------------------------------------------------

    @api.post("/groups/create", status_code=201, responses=_problems(401, 404, 422))
    async def create_group(
        body: GroupIn, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """A group of you (its owner) and `members`."""
        name = body.group_name.strip()
        if not name:
            raise InvalidInput("A group needs a name.", field="group_name")
        me = principal.user_id
        async with platform.db.session(write=True) as session:
            group, events = await service.create_group(
                session,
                system,
                messenger(platform, system).config,
                me,
                kind="group",
                title=name,
                member_ids=list(body.members),
            )
        await service.publish_all(platform.bus, system, events)
        members = [me, *sorted(set(body.members) - {me})]
        return {
            "group_id": str(group.id),
            "group_name": group.title,
            "owner_id": str(me),
            "members": [str(m) for m in members],
        }

    @api.post("/groups/{group_id}/add_member", responses=_problems(401, 403, 404, 409, 422))
    async def add_member(
        group_id: PathId, body: MemberIn, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """Add a user to your group (owner and admins); 409 when already in or the group is
        full. The new member sees messages sent from now on."""
        async with platform.db.session(write=True) as session:
            await _group(session, system, group_id, principal.user_id)
            member, events = await service.add_member(
                session, system, group_id, principal.user_id, body.user_id
            )
            role = member.role
        await service.publish_all(platform.bus, system, events)
        return {"group_id": str(group_id), "user_id": str(body.user_id), "role": role}

    @api.post("/groups/{group_id}/remove_member", responses=_problems(401, 403, 404, 409, 422))
    async def remove_member(
        group_id: PathId, body: MemberIn, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """Remove a member (owner and admins), or leave (your own user id; the owner hands
        ownership over first). The removed user reads nothing of the group from then on."""
        async with platform.db.session(write=True) as session:
            await _group(session, system, group_id, principal.user_id)
            events = await service.remove_member(
                session, system, group_id, principal.user_id, body.user_id
            )
        await service.publish_all(platform.bus, system, events)
        return {"group_id": str(group_id), "user_id": str(body.user_id), "removed": True}

    # Push notifications ------------------------------------------------------------------------

    @api.post("/notifications/register", responses=_problems(401, 404, 409, 422))
    async def register_notifications(
        body: NotificationsIn, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """Subscribe a device to push notifications of new messages (sent while it is offline,
        for chats it has not muted)."""
        push.check_endpoint(body.subscription.endpoint, push.push_config(platform, system))
        async with platform.db.session(write=True) as session:
            device_id = body.device_id
            if device_id is None:
                device = await service.register_device(
                    session, system, principal.user_id, body.device_name
                )
                device_id = device.id
            await push.set_subscription(
                session, system, principal.user_id, device_id, body.subscription
            )
        return {
            "device_id": str(device_id),
            "endpoint": body.subscription.endpoint,
            "registered": True,
        }

    @api.post("/notifications/unregister", responses=_problems(401, 404, 422))
    async def unregister_notifications(
        body: UnregisterIn, principal: CurrentPrincipal, session: WriteSession
    ) -> dict[str, Any]:
        """Stop push notifications to one of your devices (it stays registered for chat)."""
        await push.remove_subscription(session, system, principal.user_id, body.device_id)
        return {"device_id": str(body.device_id), "registered": False}

    return api
