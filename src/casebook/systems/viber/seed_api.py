"""The seed's five endpoints (seed-000 §4.6), with their meaning, over the messaging engine.

The seed's Flask toy kept users in a dict, trusted a `sender` field, "encrypted" by prefixing
"Encrypted:" and numbered groups with `random.randint(1000, 9999)`. Here:

- `POST /authenticate {phone, password}` logs in a phone-number account (made with the engine's
  `/auth/phone/code` + `/auth/phone/register`) and answers the seed's `{message, user}` plus
  the platform's tokens; 401 otherwise.
- `POST /send_message {receiver, client_id, device_id, envelopes}` sends to the receiver's 1:1
  chat, which is end-to-end encrypted: the body is per-device ciphertext made by the client
  (`casebook.clients.messaging`); a plaintext `message` is refused (422). The sender is the
  caller: a `sender` naming anyone else is 403.
- `POST /add_contact {contact}` and `GET /get_contacts` are the caller's own contact list (the
  seed returned every user of the system).
- `POST /create_group_chat {name, participants}` creates an engine group; its id is the
  engine's 64-bit time-ordered id, which cannot collide (the seed's 4-digit random id did after
  about a hundred groups, by the birthday bound).

People are named by user id or by E.164 phone number.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging import contacts, phone, service
from casebook.engines.messaging.api import _envelopes
from casebook.engines.messaging.errors import UserNotFound
from casebook.engines.messaging.runtime import messenger
from casebook.engines.messaging.writer import SendRequest
from casebook.platform.auth.deps import CurrentPrincipal, client_ip
from casebook.platform.auth.models import User
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession
from casebook.platform.errors import PROBLEM_JSON, Forbidden, InvalidInput
from casebook.platform.ids import IdStr
from casebook.platform.ratelimit import RateLimit, enforce

PlatformDep = Annotated[Platform, Depends(get_platform)]
Person = Annotated[
    str, Field(min_length=1, max_length=20, pattern=r"^(\+[1-9][0-9]{6,14}|[0-9]{1,19})$")
]
"""A user id (digits) or an E.164 phone number."""


class PlaintextRefused(InvalidInput):
    type_ = "viber/end-to-end-required"
    title = "Viber 1:1 chats are end-to-end encrypted"


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": "Problem", "content": {PROBLEM_JSON: {}}} for status in statuses
    }


async def resolve_person(session: AsyncSession, system: str, person: str) -> int:
    """The user id named by `person` (an id or a verified phone number of `system`); raises
    UserNotFound. One index probe."""
    if person.startswith("+"):
        user_id = await contacts.user_by_phone(session, system, person)
    else:
        user_id = await session.scalar(select(User.id).where(User.id == int(person)))
    if user_id is None:
        raise UserNotFound(f"No Viber user {person}.")
    return int(user_id)


class AuthenticateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str = Field(max_length=16)
    password: str = Field(max_length=1024)


class SendMessageIn(BaseModel):
    """`envelopes` maps each recipient device id to base64 ciphertext; `message` (the seed's
    plaintext field) exists only to be refused with a clear problem."""

    model_config = ConfigDict(extra="forbid")
    sender: IdStr | None = None
    receiver: Person
    client_id: str = Field(
        default_factory=lambda: secrets.token_hex(8), min_length=1, max_length=64
    )
    device_id: IdStr | None = None
    envelopes: dict[str, str] | None = Field(default=None, max_length=1000)
    message: str | None = Field(default=None, max_length=65536)


class AddContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: IdStr | None = None
    contact: Person
    name: str | None = Field(default=None, max_length=100)


class CreateGroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    participants: list[Person] = Field(default_factory=list, max_length=1000)


def _only_self(claimed: int | None, user_id: int, field: str) -> None:
    if claimed is not None and claimed != user_id:
        raise Forbidden(f"`{field}` must be you; you act only for yourself.")


def router(system: str) -> APIRouter:
    """The seed's endpoints for `system` (mounted under /api/viber)."""
    api = APIRouter(tags=[system])

    @api.post("/authenticate", responses=_problems(401, 422, 429))
    async def authenticate(
        body: AuthenticateIn, request: Request, platform: PlatformDep, session: WriteSession
    ) -> dict[str, Any]:
        """Log in with phone number and password: the seed's `{message, user}` and tokens."""
        pair = await phone.login_by_phone(
            platform, session, system, body.phone, body.password, client_ip(request)
        )
        user_id = await contacts.user_by_phone(session, system, body.phone)
        assert user_id is not None  # the password matched, so the number has an account
        profile = await contacts.profile_of(session, system, user_id)
        return {
            "message": "Authentication successful",
            "user": {"id": str(user_id), "name": profile.display_name, "phone": profile.phone},
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "token_type": "bearer",
            "expires_in": pair.expires_in,
        }

    @api.post("/send_message", responses=_problems(401, 403, 404, 422, 429, 503))
    async def send_message(
        body: SendMessageIn, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """Send an end-to-end encrypted message to `receiver`'s 1:1 chat (created if needed).
        Retrying with the same `client_id` stores nothing twice (`duplicate: true`)."""
        me = principal.user_id
        _only_self(body.sender, me, "sender")
        if body.message is not None:
            raise PlaintextRefused(
                "Encrypt the message for each device of the chat (casebook.clients.messaging) "
                "and send the `envelopes`; the server never takes 1:1 plaintext.",
            )
        state = messenger(platform, system)
        await enforce(
            platform,
            f"messaging:{system}:send:{me}",
            RateLimit(state.config.send_rate, state.config.send_burst),
        )
        async with platform.db.session(write=True) as session:
            other = await resolve_person(session, system, body.receiver)
            chat, _, events = await service.create_direct(session, system, me, other, e2e=True)
        await service.publish_all(platform.bus, system, events)
        sent = await state.writer.send(
            SendRequest(
                conversation_id=chat.id,
                sender_id=me,
                client_id=body.client_id,
                kind="encrypted",
                sender_device_id=body.device_id,
                envelopes=_envelopes(body.envelopes),
            )
        )
        return {
            "message": "Message sent",
            "conversation_id": str(chat.id),
            "message_id": str(sent.message.id),
            "seq": sent.message.seq,
            "duplicate": sent.duplicate,
        }

    @api.post("/add_contact", responses=_problems(401, 403, 404, 422))
    async def add_contact(
        body: AddContactIn, principal: CurrentPrincipal, session: WriteSession
    ) -> dict[str, Any]:
        """Add someone (by user id or phone number) to your contacts, synced to every device."""
        _only_self(body.user, principal.user_id, "user")
        contact_id = await resolve_person(session, system, body.contact)
        entry = await contacts.add_contact(
            session, system, principal.user_id, contact_id, name=body.name
        )
        return {"message": "Contact added", "contact": {"id": str(contact_id), "name": entry.name}}

    @api.get("/get_contacts", responses=_problems(401, 403, 422))
    async def get_contacts(
        principal: CurrentPrincipal,
        session: Session,
        user: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    ) -> dict[str, Any]:
        """Your contacts (`user`, if given, must be you)."""
        _only_self(user, principal.user_id, "user")
        rows = await contacts.contacts_of(session, system, principal.user_id)
        return {
            "contacts": [
                {
                    "id": str(profile.user_id),
                    "name": entry.name or profile.display_name,
                    "display_name": profile.display_name,
                    "handle": profile.handle,
                    "blocked": entry.blocked,
                }
                for entry, profile in rows
            ]
        }

    @api.post("/create_group_chat", status_code=201, responses=_problems(401, 404, 409, 422))
    async def create_group_chat(
        body: CreateGroupIn, principal: CurrentPrincipal, platform: PlatformDep
    ) -> dict[str, Any]:
        """A group chat of you and `participants` (ids or phone numbers)."""
        if not body.name.strip():
            raise InvalidInput("A group chat needs a name.", field="name")
        async with platform.db.session(write=True) as session:
            members = [await resolve_person(session, system, p) for p in body.participants]
            group, events = await service.create_group(
                session,
                system,
                messenger(platform, system).config,
                principal.user_id,
                kind="group",
                title=body.name.strip(),
                member_ids=members,
            )
        await service.publish_all(platform.bus, system, events)
        participants = [principal.user_id, *sorted(set(members) - {principal.user_id})]
        return {
            "message": "Group chat created",
            "group_chat": {
                "group_id": str(group.id),
                "name": group.title,
                "participants": [str(p) for p in participants],
            },
        }

    return api
