"""The engine's HTTP API for one system (mounted under `/api/<slug>`): devices, conversations,
members and join links, sending, history, edits and deletes, read marks, device cursors, search.

Every endpoint needs a signed-in caller and answers only about conversations the caller is in: a
conversation of someone else is 404 like a missing one. Writes that others must hear about run
in their own transaction and publish their bus events after it commits, so a socket never hears
of a change it cannot read yet. Sending goes through the system's group-commit writer and is
idempotent by `client_id`: a retry answers 200 with the stored message instead of 201.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from casebook.engines.messaging import search as search_service
from casebook.engines.messaging import service
from casebook.engines.messaging.errors import InvalidMessage
from casebook.engines.messaging.runtime import Messenger, messenger
from casebook.engines.messaging.views import (
    conversation_view,
    device_view,
    member_view,
    message_view,
)
from casebook.engines.messaging.writer import SendRequest
from casebook.platform.auth.deps import CurrentPrincipal
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session
from casebook.platform.errors import PROBLEM_JSON
from casebook.platform.ids import IdStr
from casebook.platform.ratelimit import RateLimit, enforce

PlatformDep = Annotated[Platform, Depends(get_platform)]
ConversationId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Seq = Annotated[int, Path(ge=1, le=2**62)]
SeqQuery = Annotated[int | None, Query(ge=0, le=2**62)]


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=`: the problem+json answers an endpoint may give."""
    return {
        status: {"description": "Problem", "content": {PROBLEM_JSON: {}}} for status in statuses
    }


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)


class ConversationIn(BaseModel):
    """`direct` names `user_id` (and `e2e` for a secret chat); `group`/`channel` a `title` and
    optional `members`."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["direct", "group", "channel"]
    user_id: IdStr | None = None
    e2e: bool = False
    title: str = Field(default="", max_length=128)
    about: str = Field(default="", max_length=512)
    members: list[IdStr] = Field(default_factory=list, max_length=1000)


class ConversationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=128)
    about: str | None = Field(default=None, max_length=512)


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: IdStr


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["owner", "admin", "member", "subscriber"]


class HandleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    handle: str | None = Field(max_length=64)


class MessageIn(BaseModel):
    """A new message. `envelopes` (E2E only) maps recipient device id → base64 ciphertext;
    `device_id` is the sending device."""

    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(min_length=1, max_length=64)
    kind: str = Field(default="text", max_length=12)
    body: str | None = Field(default=None, max_length=65536)
    data: dict[str, Any] | None = None
    device_id: IdStr | None = None
    envelopes: dict[str, str] | None = Field(default=None, max_length=1000)


class EditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(min_length=1, max_length=64)
    body: str = Field(min_length=1, max_length=65536)
    device_id: IdStr | None = None


class MarksIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delivered_seq: int | None = Field(default=None, ge=0, le=2**62)
    read_seq: int | None = Field(default=None, ge=0, le=2**62)


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conversation_id: IdStr
    seq: int = Field(ge=0, le=2**62)


def _envelopes(raw: dict[str, str] | None) -> dict[int, bytes] | None:
    if raw is None:
        return None
    decoded: dict[int, bytes] = {}
    for device, text in raw.items():
        if not device.isdigit() or len(device) > 19:
            raise InvalidMessage(f"envelopes: {device!r} is not a device id.")
        try:
            decoded[int(device)] = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidMessage(
                f"envelopes: the envelope of device {device} is not base64."
            ) from None
    return decoded


def router(system: str, *, replaced: Collection[tuple[str, str]] = ()) -> APIRouter:
    """The HTTP endpoints of the messaging engine for `system`, without the (method, path)
    operations in `replaced` (a system serves those itself)."""
    api = APIRouter(tags=[system])

    def engine(platform: Platform) -> Messenger:
        return messenger(platform, system)

    # Devices -----------------------------------------------------------------------------------

    @api.post("/devices", status_code=201, responses=_problems(401, 409, 422))
    async def register_device(
        body: DeviceIn, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """Register a messaging device (phone, desktop, browser) of the caller. Its id is what
        the WebSocket hello and end-to-end keys name."""
        async with platform.db.session(write=True) as session:
            device = await service.register_device(session, system, principal.user_id, body.name)
        return device_view(device)

    @api.get("/devices", responses=_problems(401))
    async def list_devices(principal: CurrentPrincipal, session: Session) -> dict[str, Any]:
        """The caller's devices, oldest first (revoked ones included, marked)."""
        devices = await service.list_devices(session, system, principal.user_id)
        return {"items": [device_view(d) for d in devices]}

    @api.delete("/devices/{device_id}", status_code=204, responses=_problems(401, 404))
    async def revoke_device(
        device_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
        principal: CurrentPrincipal,
        platform: PlatformDep,
    ) -> Response:
        """Revoke one of the caller's devices: its sockets close, it gets no more envelopes."""
        async with platform.db.session(write=True) as session:
            events = await service.revoke_device(session, system, principal.user_id, device_id)
        await service.publish_all(platform.bus, system, events)
        return Response(status_code=204)

    @api.post("/devices/{device_id}/ack", responses=_problems(401, 404, 422))
    async def ack(
        device_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
        body: AckIn,
        principal: CurrentPrincipal,
        platform: PlatformDep,
    ) -> dict[str, Any]:
        """The device has received everything up to `seq` of the conversation (its cursor and
        the caller's delivered mark move forward, never back)."""
        async with platform.db.session(write=True) as session:
            events = await service.ack(
                session, system, principal.user_id, device_id, body.conversation_id, body.seq
            )
        await service.publish_all(platform.bus, system, events)
        return {"conversation_id": str(body.conversation_id), "acked": True}

    @api.get("/devices/{device_id}/pending", responses=_problems(401, 404))
    async def pending(
        device_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
        principal: CurrentPrincipal,
        session: Session,
    ) -> dict[str, Any]:
        """Conversations with entries this device has not acknowledged (what a resume sends)."""
        rows = await service.pending_for_device(session, system, principal.user_id, device_id)
        return {
            "items": [
                {
                    "conversation_id": str(p.conversation_id),
                    "after_seq": p.after_seq,
                    "last_seq": p.last_seq,
                }
                for p in rows
            ]
        }

    # Conversations -----------------------------------------------------------------------------

    @api.post("/conversations", status_code=201, responses=_problems(401, 404, 409, 422))
    async def create_conversation(
        body: ConversationIn,
        principal: CurrentPrincipal,
        platform: PlatformDep,
        response: Response,
    ) -> dict[str, Any]:
        """Start a direct chat (answers 200 with the existing one if the pair already has it),
        a group or a channel."""
        me = principal.user_id
        async with platform.db.session(write=True) as session:
            if body.kind == "direct":
                if body.user_id is None or body.members or body.title:
                    raise InvalidMessage("A direct chat names user_id and nothing else.")
                conversation, created, events = await service.create_direct(
                    session,
                    system,
                    me,
                    body.user_id,
                    e2e=body.e2e or engine(platform).config.direct_chats_e2e,
                )
                if not created:
                    response.status_code = 200
            else:
                if body.user_id is not None or body.e2e:
                    raise InvalidMessage("Groups and channels take a title and members.")
                if not body.title.strip():
                    raise InvalidMessage("A group or channel needs a title.")
                conversation, events = await service.create_group(
                    session,
                    system,
                    engine(platform).config,
                    me,
                    kind=body.kind,
                    title=body.title,
                    about=body.about,
                    member_ids=body.members,
                )
            _, member = await service.membership(session, system, conversation.id, me)
            view = conversation_view(conversation, member)
        await service.publish_all(platform.bus, system, events)
        return view

    @api.get("/conversations", responses=_problems(401, 422))
    async def list_conversations(
        principal: CurrentPrincipal,
        session: Session,
        before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
    ) -> dict[str, Any]:
        """The caller's conversations, newest first; `next_before` pages on."""
        rows = await service.list_conversations(
            session, system, principal.user_id, before_id=before, limit=limit
        )
        next_before = str(rows[-1][0].id) if len(rows) == limit else None
        return {"items": [conversation_view(c, m) for c, m in rows], "next_before": next_before}

    @api.get("/conversations/{conversation_id}", responses=_problems(401, 404))
    async def get_conversation(
        conversation_id: ConversationId, principal: CurrentPrincipal, session: Session
    ) -> dict[str, Any]:
        """One conversation of the caller, with their role, marks and unread count."""
        conversation, member = await service.membership(
            session, system, conversation_id, principal.user_id
        )
        return conversation_view(conversation, member)

    @api.patch("/conversations/{conversation_id}", responses=_problems(401, 403, 404, 409, 422))
    async def update_conversation(
        conversation_id: ConversationId,
        body: ConversationPatch,
        principal: CurrentPrincipal,
        platform: PlatformDep,
    ) -> dict[str, Any]:
        """Change a group's or channel's title or about (owner and admins)."""
        async with platform.db.session(write=True) as session:
            conversation, member, events = await service.update_conversation(
                session,
                system,
                conversation_id,
                principal.user_id,
                title=body.title,
                about=body.about,
            )
            view = conversation_view(conversation, member)
        await service.publish_all(platform.bus, system, events)
        return view

    # Members and join links --------------------------------------------------------------------

    @api.get("/conversations/{conversation_id}/members", responses=_problems(401, 404, 422))
    async def list_members(
        conversation_id: ConversationId,
        principal: CurrentPrincipal,
        session: Session,
        after: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 100,
    ) -> dict[str, Any]:
        """Members by user id; `next_after` pages on."""
        members = await service.list_members(
            session, system, conversation_id, principal.user_id, after_user_id=after, limit=limit
        )
        next_after = str(members[-1].user_id) if len(members) == limit else None
        return {"items": [member_view(m) for m in members], "next_after": next_after}

    @api.post(
        "/conversations/{conversation_id}/members",
        status_code=201,
        responses=_problems(401, 403, 404, 409, 422),
    )
    async def add_member(
        conversation_id: ConversationId,
        body: MemberIn,
        principal: CurrentPrincipal,
        platform: PlatformDep,
    ) -> dict[str, Any]:
        """Add a user to a group or channel (owner and admins); 409 when full or already in."""
        async with platform.db.session(write=True) as session:
            member, events = await service.add_member(
                session, system, conversation_id, principal.user_id, body.user_id
            )
            view = member_view(member)
        await service.publish_all(platform.bus, system, events)
        return view

    @api.delete(
        "/conversations/{conversation_id}/members/{user_id}",
        status_code=204,
        responses=_problems(401, 403, 404, 409),
    )
    async def remove_member(
        conversation_id: ConversationId,
        user_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
        principal: CurrentPrincipal,
        platform: PlatformDep,
    ) -> Response:
        """Leave (your own user id) or remove a member (owner and admins)."""
        async with platform.db.session(write=True) as session:
            events = await service.remove_member(
                session, system, conversation_id, principal.user_id, user_id
            )
        await service.publish_all(platform.bus, system, events)
        return Response(status_code=204)

    @api.patch(
        "/conversations/{conversation_id}/members/{user_id}",
        responses=_problems(401, 403, 404, 409, 422),
    )
    async def set_role(
        conversation_id: ConversationId,
        user_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
        body: RoleIn,
        principal: CurrentPrincipal,
        platform: PlatformDep,
    ) -> dict[str, Any]:
        """Promote, demote, or hand ownership over (owner only)."""
        async with platform.db.session(write=True) as session:
            member, events = await service.set_role(
                session, system, conversation_id, principal.user_id, user_id, body.role
            )
            view = member_view(member)
        await service.publish_all(platform.bus, system, events)
        return view

    @api.post("/conversations/{conversation_id}/join-link", responses=_problems(401, 403, 404, 409))
    async def create_join_link(
        conversation_id: ConversationId, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """A new join link for a group or channel (the previous one stops working)."""
        async with platform.db.session(write=True) as session:
            token = await service.set_join_link(
                session, system, conversation_id, principal.user_id, enabled=True
            )
        return {"token": token}

    @api.delete(
        "/conversations/{conversation_id}/join-link",
        status_code=204,
        responses=_problems(401, 403, 404, 409),
    )
    async def revoke_join_link(
        conversation_id: ConversationId, principal: CurrentPrincipal, platform: PlatformDep
    ) -> Response:
        """Revoke the join link."""
        async with platform.db.session(write=True) as session:
            await service.set_join_link(
                session, system, conversation_id, principal.user_id, enabled=False
            )
        return Response(status_code=204)

    @api.post("/join/{token}", responses=_problems(401, 404, 409))
    async def join(
        token: Annotated[str, Path(min_length=16, max_length=48)],
        principal: CurrentPrincipal,
        platform: PlatformDep,
    ) -> dict[str, Any]:
        """Join the group or channel of a join link."""
        async with platform.db.session(write=True) as session:
            conversation, member, events = await service.join_by_token(
                session, system, token, principal.user_id
            )
            view = conversation_view(conversation, member)
        await service.publish_all(platform.bus, system, events)
        return view

    @api.put(
        "/conversations/{conversation_id}/handle", responses=_problems(401, 403, 404, 409, 422)
    )
    async def set_handle(
        conversation_id: ConversationId,
        body: HandleIn,
        principal: CurrentPrincipal,
        platform: PlatformDep,
    ) -> dict[str, Any]:
        """Make a group or channel public under a handle (null: private again). Owner only."""
        async with platform.db.session(write=True) as session:
            conversation = await service.set_public_handle(
                session, system, conversation_id, principal.user_id, body.handle
            )
            _, member = await service.membership(
                session, system, conversation_id, principal.user_id
            )
            view = conversation_view(conversation, member)
        return view

    @api.get("/public/{handle}", responses=_problems(401, 404))
    async def public_preview(
        handle: Annotated[str, Path(min_length=1, max_length=64)],
        principal: CurrentPrincipal,
        session: Session,
    ) -> dict[str, Any]:
        """Preview a public group or channel before joining (title, about, member count)."""
        conversation = await service.public_conversation(session, system, handle)
        return conversation_view(conversation)

    @api.post("/public/{handle}/join", responses=_problems(401, 404, 409))
    async def join_public(
        handle: Annotated[str, Path(min_length=1, max_length=64)],
        principal: CurrentPrincipal,
        platform: PlatformDep,
    ) -> dict[str, Any]:
        """Join a public group or subscribe to a public channel."""
        async with platform.db.session(write=True) as session:
            conversation, member, events = await service.join_public(
                session, system, handle, principal.user_id
            )
            view = conversation_view(conversation, member)
        await service.publish_all(platform.bus, system, events)
        return view

    # Messages ----------------------------------------------------------------------------------

    @api.post(
        "/conversations/{conversation_id}/messages",
        status_code=201,
        responses=_problems(401, 403, 404, 409, 422, 429, 503),
    )
    async def send(
        conversation_id: ConversationId,
        body: MessageIn,
        principal: CurrentPrincipal,
        platform: PlatformDep,
        response: Response,
    ) -> dict[str, Any]:
        """Send a message; it gets the conversation's next seq. Retrying with the same
        `client_id` returns the stored message (200) and sends nothing twice. Over the sender's
        rate (`MessagingConfig.send_rate` / `send_burst`): 429 with Retry-After."""
        state = engine(platform)
        await enforce(
            platform,
            f"messaging:{system}:send:{principal.user_id}",
            RateLimit(state.config.send_rate, state.config.send_burst),
        )
        sent = await state.writer.send(
            SendRequest(
                conversation_id=conversation_id,
                sender_id=principal.user_id,
                client_id=body.client_id,
                kind=body.kind,
                body=body.body,
                data=body.data,
                sender_device_id=body.device_id,
                envelopes=_envelopes(body.envelopes),
            )
        )
        if sent.duplicate:
            response.status_code = 200
        return sent.view

    @api.get("/conversations/{conversation_id}/messages", responses=_problems(401, 404, 422))
    async def history(
        conversation_id: ConversationId,
        principal: CurrentPrincipal,
        session: Session,
        before: SeqQuery = None,
        after: SeqQuery = None,
        order: Literal["newest", "oldest"] | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        device_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    ) -> dict[str, Any]:
        """A page of the log: newest first by default (`before` pages back), oldest first with
        `after` or `order=oldest`. `device_id` adds that device's E2E ciphertexts."""
        newest_first = order == "newest" if order is not None else after is None
        items = await service.history(
            session,
            system,
            principal.user_id,
            conversation_id,
            before=before,
            after=after,
            limit=limit,
            newest_first=newest_first,
            device_id=device_id,
        )
        page = [message_view(i.message, i.ciphertext) for i in items]
        more = len(items) == limit
        last = items[-1].message.seq if items else None
        return {
            "items": page,
            "next_before": last if more and newest_first else None,
            "next_after": last if more and not newest_first else None,
        }

    @api.patch(
        "/conversations/{conversation_id}/messages/{seq}",
        responses=_problems(401, 403, 404, 409, 422, 503),
    )
    async def edit(
        conversation_id: ConversationId,
        seq: Seq,
        body: EditIn,
        principal: CurrentPrincipal,
        platform: PlatformDep,
    ) -> dict[str, Any]:
        """Edit your message (within the edit window): an "edit" event joins the log and the
        message shows the new text."""
        sent = await engine(platform).writer.send(
            SendRequest(
                conversation_id=conversation_id,
                sender_id=principal.user_id,
                client_id=body.client_id,
                kind="edit",
                body=body.body,
                target_seq=seq,
                sender_device_id=body.device_id,
            )
        )
        return sent.view

    @api.delete(
        "/conversations/{conversation_id}/messages/{seq}",
        responses=_problems(401, 403, 404, 409, 422, 503),
    )
    async def delete_message(
        conversation_id: ConversationId,
        seq: Seq,
        principal: CurrentPrincipal,
        platform: PlatformDep,
        scope: Annotated[Literal["everyone", "me"], Query(alias="for")] = "everyone",
    ) -> dict[str, Any]:
        """Delete for everyone (sender, or an admin in groups and channels: a "delete" event,
        the text and data are erased) or `?for=me` (hidden from your devices only)."""
        if scope == "me":
            async with platform.db.session(write=True) as session:
                events = await service.hide_message(
                    session, system, principal.user_id, conversation_id, seq
                )
            await service.publish_all(platform.bus, system, events)
            return {"conversation_id": str(conversation_id), "seq": seq, "hidden": True}
        sent = await engine(platform).writer.send(
            SendRequest(
                conversation_id=conversation_id,
                sender_id=principal.user_id,
                # Deterministic: a retried delete is the same event, never a second one.
                client_id=f"delete:{seq}",
                kind="delete",
                target_seq=seq,
            )
        )
        return sent.view

    @api.get(
        "/conversations/{conversation_id}/messages/{seq}/receipts",
        responses=_problems(401, 404),
    )
    async def receipts(
        conversation_id: ConversationId, seq: Seq, principal: CurrentPrincipal, session: Session
    ) -> dict[str, Any]:
        """Sent / delivered / read for one message, with counts of members past each mark."""
        state = await service.receipt_state(
            session, system, principal.user_id, conversation_id, seq
        )
        return {
            "seq": state.seq,
            "state": state.state,
            "recipients": state.recipients,
            "delivered": state.delivered,
            "read": state.read,
        }

    @api.post("/conversations/{conversation_id}/read", responses=_problems(401, 404, 422))
    async def mark(
        conversation_id: ConversationId,
        body: MarksIn,
        principal: CurrentPrincipal,
        platform: PlatformDep,
    ) -> dict[str, Any]:
        """Move your delivered/read marks forward (never back; reading implies delivery)."""
        async with platform.db.session(write=True) as session:
            events = await service.mark(
                session,
                system,
                principal.user_id,
                conversation_id,
                delivered_seq=body.delivered_seq,
                read_seq=body.read_seq,
            )
            _, member = await service.membership(
                session, system, conversation_id, principal.user_id
            )
            marks = {"delivered_seq": member.delivered_seq, "read_seq": member.read_seq}
        await service.publish_all(platform.bus, system, events)
        return {"conversation_id": str(conversation_id), **marks}

    @api.post("/conversations/{conversation_id}/clear", responses=_problems(401, 404))
    async def clear(
        conversation_id: ConversationId, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """Clear your history of this conversation (others keep theirs)."""
        async with platform.db.session(write=True) as session:
            cleared = await service.clear_history(
                session, system, principal.user_id, conversation_id
            )
        return {"conversation_id": str(conversation_id), "cleared_seq": cleared}

    # Search ------------------------------------------------------------------------------------

    @api.get("/search", responses=_problems(401, 422))
    async def search(
        principal: CurrentPrincipal,
        session: Session,
        q: Annotated[str, Query(min_length=1, max_length=256)],
        conversation_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
        before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> dict[str, Any]:
        """Full-text search over your own conversations (newest first; `next_before_id` pages
        on). End-to-end encrypted messages are never searchable."""
        found = await search_service.search(
            session,
            system,
            principal.user_id,
            q,
            conversation_id=conversation_id,
            before_id=before_id,
            limit=limit,
        )
        next_before = str(found[-1].id) if len(found) == limit else None
        return {"items": [message_view(m) for m in found], "next_before_id": next_before}

    api.routes[:] = [
        route
        for route in api.routes
        if not (
            isinstance(route, APIRoute)
            and any((method, route.path) in replaced for method in route.methods or ())
        )
    ]
    return api
