"""Profiles, contact lists, friend requests and contact discovery for the chat systems.

- A profile is a user's identity inside one system (`MessagingProfile`): handle, display name,
  status line, and a verified phone number whose SHA-256 contact discovery matches. It is made on
  first use from the platform account's display name.
- A contact list is directed (Telegram, Viber: I may list you without you listing me); friend
  requests (Instant Messenger) make it mutual: accepting adds each user to the other's list, in
  one transaction. One request is open per pair whichever side sent it (a partial unique index),
  and a request towards someone who already asked you accepts theirs.
- Blocking is a flag on the blocker's contact entry: a blocked user cannot send the blocker friend
  requests, and `is_blocked` lets direct chats refuse them.
- Discovery (`discover`): the client sends SHA-256 hashes of the phone numbers in its address
  book and learns which belong to users of the system, never the numbers of the others. Hashes
  of phone numbers can be reversed by enumerating the ~10^10 numbers of a country, so this hides
  an address book from a casual reader, not from a determined server operator (Signal moved this
  lookup into secure enclaves for that reason).

Every function takes the caller's session and works inside its transaction. Lookups are index
probes: O(log n) per row touched.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging.models import (
    MessagingContact,
    MessagingFriendRequest,
    MessagingProfile,
)
from casebook.platform.auth.deps import CurrentPrincipal
from casebook.platform.auth.models import User
from casebook.platform.db import Session, WriteSession, utcnow
from casebook.platform.errors import Conflict, Forbidden, InvalidInput, NotFound
from casebook.platform.ids import IdStr, new_id

HANDLE = re.compile(r"^[a-z][a-z0-9_]{4,31}$")
"""Telegram's rule: 5-32 characters, a letter first, then letters, digits and underscores."""
PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
"""E.164: a plus, a country code not starting with 0, at most 15 digits in all."""
MAX_DISCOVER = 1000
MAX_CONTACTS = 10_000


class ProfileNotFound(NotFound):
    type_ = "messaging/user-not-found"
    title = "No such user here"


class HandleTaken(Conflict):
    type_ = "messaging/handle-taken"
    title = "That username is taken"


class PhoneTaken(Conflict):
    type_ = "messaging/phone-taken"
    title = "That phone number belongs to another account"


class RequestNotFound(NotFound):
    type_ = "messaging/friend-request-not-found"
    title = "No such friend request"


class AlreadyRequested(Conflict):
    type_ = "messaging/friend-request-open"
    title = "A friend request between you is already open"


class Blocked(Forbidden):
    type_ = "messaging/blocked"
    title = "This user does not accept requests from you"


def phone_hash(phone: str) -> str:
    """Hex SHA-256 of an E.164 number, as clients compute it for discovery."""
    return hashlib.sha256(phone.encode()).hexdigest()


def pair_key(a: int, b: int) -> str:
    low, high = sorted((a, b))
    return f"{low}:{high}"


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table)


async def ensure_profile(session: AsyncSession, system: str, user_id: int) -> MessagingProfile:
    """The user's profile in `system`, made from their account on first use. Raises
    ProfileNotFound when the account does not exist. Safe under races (insert or ignore)."""
    profile = await session.get(MessagingProfile, (system, user_id))
    if profile is not None:
        return profile
    name = await session.scalar(select(User.display_name).where(User.id == user_id))
    if name is None:
        raise ProfileNotFound(f"User {user_id} does not exist.")
    await session.execute(
        _insert(session, MessagingProfile)
        .values(system=system, user_id=user_id, display_name=name, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["system", "user_id"])
    )
    profile = await session.get(MessagingProfile, (system, user_id))
    assert profile is not None
    return profile


async def profile_of(session: AsyncSession, system: str, user_id: int) -> MessagingProfile:
    """An existing profile; raises ProfileNotFound for users who never used `system`."""
    profile = await session.get(MessagingProfile, (system, user_id))
    if profile is None:
        raise ProfileNotFound(f"User {user_id} has no account here.")
    return profile


async def update_profile(
    session: AsyncSession,
    system: str,
    user_id: int,
    *,
    handle: str | None = None,
    display_name: str | None = None,
    status_text: str | None = None,
) -> MessagingProfile:
    """Change the caller's own profile; raises InvalidInput or HandleTaken (409)."""
    profile = await ensure_profile(session, system, user_id)
    if handle is not None:
        handle = handle.lower()
        if not HANDLE.fullmatch(handle):
            raise InvalidInput(
                "A username is 5-32 letters, digits or underscores, starting with a letter.",
                field="handle",
            )
        taken = await session.scalar(
            select(MessagingProfile.user_id).where(
                MessagingProfile.system == system,
                MessagingProfile.handle == handle,
                MessagingProfile.user_id != user_id,
            )
        )
        if taken is not None:
            raise HandleTaken(f"@{handle} is taken; choose another username.")
        profile.handle = handle
    if display_name is not None:
        profile.display_name = display_name
    if status_text is not None:
        profile.status_text = status_text
    try:
        await session.flush()
    except IntegrityError:
        # A racing request took the handle between our check and the flush.
        raise HandleTaken(f"@{handle} is taken; choose another username.") from None
    return profile


async def set_verified_phone(
    session: AsyncSession, system: str, user_id: int, phone: str
) -> MessagingProfile:
    """Record a phone number the caller proved they own (the system verifies it, e.g. by an
    SMS code). Raises InvalidInput for a number that is not E.164, PhoneTaken when another
    account of the system has it."""
    if not PHONE.fullmatch(phone):
        raise InvalidInput("A phone number is in E.164 form, e.g. +447700900123.", field="phone")
    profile = await ensure_profile(session, system, user_id)
    owner = await session.scalar(
        select(MessagingProfile.user_id).where(
            MessagingProfile.system == system, MessagingProfile.phone == phone
        )
    )
    if owner is not None and owner != user_id:
        raise PhoneTaken("That number is registered to another account.")
    profile.phone = phone
    profile.phone_hash = phone_hash(phone)
    try:
        await session.flush()
    except IntegrityError:
        raise PhoneTaken("That number is registered to another account.") from None
    return profile


async def user_by_phone(session: AsyncSession, system: str, phone: str) -> int | None:
    return await session.scalar(
        select(MessagingProfile.user_id).where(
            MessagingProfile.system == system, MessagingProfile.phone == phone
        )
    )


async def search_users(
    session: AsyncSession, system: str, query: str, limit: int = 20
) -> list[MessagingProfile]:
    """Profiles whose handle starts with `query` or whose display name contains it (case
    folded), handles first. A prefix of the handle uses the unique index; the name match scans
    (fine for the sizes a demo holds; a production build would add a trigram index)."""
    folded = query.strip().lower().lstrip("@")
    if not folded:
        return []
    pattern = folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = await session.scalars(
        select(MessagingProfile)
        .where(
            MessagingProfile.system == system,
            or_(
                MessagingProfile.handle.like(pattern + "%", escape="\\"),
                func.lower(MessagingProfile.display_name).like(f"%{pattern}%", escape="\\"),
            ),
        )
        .order_by(
            MessagingProfile.handle.is_(None), MessagingProfile.handle, MessagingProfile.user_id
        )
        .limit(limit)
    )
    return list(rows)


async def contacts_of(session: AsyncSession, system: str, owner_id: int) -> list[Any]:
    """The owner's contacts with their profiles: rows of (MessagingContact, MessagingProfile)."""
    result = await session.execute(
        select(MessagingContact, MessagingProfile)
        .join(
            MessagingProfile,
            and_(
                MessagingProfile.system == MessagingContact.system,
                MessagingProfile.user_id == MessagingContact.contact_id,
            ),
        )
        .where(MessagingContact.system == system, MessagingContact.owner_id == owner_id)
        .order_by(MessagingContact.tag, MessagingProfile.display_name, MessagingContact.contact_id)
        .limit(MAX_CONTACTS)
    )
    return [tuple(row) for row in result]


async def add_contact(
    session: AsyncSession,
    system: str,
    owner_id: int,
    contact_id: int,
    *,
    name: str | None = None,
    tag: str | None = None,
    blocked: bool | None = None,
) -> MessagingContact:
    """Add or update one entry of the owner's list. The contact must use the system."""
    if contact_id == owner_id:
        raise InvalidInput("You cannot add yourself as a contact.", field="user_id")
    await ensure_profile(session, system, owner_id)
    await profile_of(session, system, contact_id)
    await session.execute(
        _insert(session, MessagingContact)
        .values(system=system, owner_id=owner_id, contact_id=contact_id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["system", "owner_id", "contact_id"])
    )
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name
    if tag is not None:
        changes["tag"] = tag
    if blocked is not None:
        changes["blocked"] = blocked
    if changes:
        await session.execute(
            update(MessagingContact)
            .where(
                MessagingContact.system == system,
                MessagingContact.owner_id == owner_id,
                MessagingContact.contact_id == contact_id,
            )
            .values(**changes)
        )
    contact = await session.get(MessagingContact, (system, owner_id, contact_id))
    assert contact is not None
    await session.refresh(contact)
    return contact


async def remove_contact(
    session: AsyncSession, system: str, owner_id: int, contact_id: int
) -> bool:
    """Remove one entry of the owner's list (the other side's list is theirs to keep)."""
    result = await session.execute(
        delete(MessagingContact).where(
            MessagingContact.system == system,
            MessagingContact.owner_id == owner_id,
            MessagingContact.contact_id == contact_id,
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def is_blocked(session: AsyncSession, system: str, by_user: int, user: int) -> bool:
    """Whether `by_user` has blocked `user`. One primary-key probe."""
    contact = await session.get(MessagingContact, (system, by_user, user))
    return contact is not None and contact.blocked


async def request_friend(
    session: AsyncSession, system: str, from_user: int, to_user: int, message: str = ""
) -> MessagingFriendRequest:
    """Ask `to_user` to become mutual contacts. If they already asked `from_user`, that request
    is accepted instead. Raises Blocked, AlreadyRequested (409), ProfileNotFound."""
    if from_user == to_user:
        raise InvalidInput("You cannot befriend yourself.", field="to_user_id")
    await ensure_profile(session, system, from_user)
    await profile_of(session, system, to_user)
    if await is_blocked(session, system, to_user, from_user):
        raise Blocked("This user does not accept friend requests from you.")
    key = pair_key(from_user, to_user)
    request_id = await session.scalar(
        _insert(session, MessagingFriendRequest)
        .values(
            id=new_id(),
            system=system,
            from_user_id=from_user,
            to_user_id=to_user,
            pair_key=key,
            status="pending",
            message=message,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(
            index_elements=["system", "pair_key"],
            index_where=MessagingFriendRequest.status == "pending",
        )
        .returning(MessagingFriendRequest.id)
    )
    if request_id is not None:
        created = await session.get(MessagingFriendRequest, request_id)
        assert created is not None
        return created
    open_request = await session.scalar(
        select(MessagingFriendRequest).where(
            MessagingFriendRequest.system == system,
            MessagingFriendRequest.pair_key == key,
            MessagingFriendRequest.status == "pending",
        )
    )
    if open_request is not None and open_request.from_user_id == to_user:
        return await answer_request(session, system, from_user, open_request.id, accept=True)
    raise AlreadyRequested("You already asked this user; wait for their answer.")


async def answer_request(
    session: AsyncSession, system: str, user_id: int, request_id: int, *, accept: bool
) -> MessagingFriendRequest:
    """Accept or decline a request addressed to `user_id`. Exactly one answer wins under
    concurrency (a guarded UPDATE); raises RequestNotFound for a request that is not theirs or
    no longer open."""
    now = utcnow()
    result = await session.execute(
        update(MessagingFriendRequest)
        .where(
            MessagingFriendRequest.id == request_id,
            MessagingFriendRequest.system == system,
            MessagingFriendRequest.to_user_id == user_id,
            MessagingFriendRequest.status == "pending",
        )
        .values(status="accepted" if accept else "declined", answered_at=now)
    )
    if not getattr(result, "rowcount", 0):
        raise RequestNotFound("There is no open friend request with this id for you.")
    request = await session.get(MessagingFriendRequest, request_id)
    assert request is not None
    await session.refresh(request)
    if accept:
        for owner, other in (
            (request.from_user_id, request.to_user_id),
            (request.to_user_id, request.from_user_id),
        ):
            await session.execute(
                _insert(session, MessagingContact)
                .values(system=system, owner_id=owner, contact_id=other, created_at=now)
                .on_conflict_do_nothing(index_elements=["system", "owner_id", "contact_id"])
            )
    return request


async def cancel_request(session: AsyncSession, system: str, user_id: int, request_id: int) -> None:
    """The sender withdraws an open request; raises RequestNotFound."""
    result = await session.execute(
        delete(MessagingFriendRequest).where(
            MessagingFriendRequest.id == request_id,
            MessagingFriendRequest.system == system,
            MessagingFriendRequest.from_user_id == user_id,
            MessagingFriendRequest.status == "pending",
        )
    )
    if not getattr(result, "rowcount", 0):
        raise RequestNotFound("There is no open friend request with this id from you.")


async def requests_of(
    session: AsyncSession, system: str, user_id: int, direction: Literal["incoming", "outgoing"]
) -> list[MessagingFriendRequest]:
    """Open requests to (incoming) or from (outgoing) the user, newest first."""
    column = (
        MessagingFriendRequest.to_user_id
        if direction == "incoming"
        else MessagingFriendRequest.from_user_id
    )
    rows = await session.scalars(
        select(MessagingFriendRequest)
        .where(
            MessagingFriendRequest.system == system,
            column == user_id,
            MessagingFriendRequest.status == "pending",
        )
        .order_by(MessagingFriendRequest.id.desc())
        .limit(200)
    )
    return list(rows)


async def discover(
    session: AsyncSession, system: str, user_id: int, hashes: list[str]
) -> list[MessagingProfile]:
    """Profiles whose phone hash is among `hashes` (the caller's own excluded). One index range
    probe per hash, O(k log n)."""
    wanted = {h.lower() for h in hashes}
    if not wanted:
        return []
    rows = await session.scalars(
        select(MessagingProfile).where(
            MessagingProfile.system == system,
            MessagingProfile.phone_hash.in_(sorted(wanted)),
            MessagingProfile.user_id != user_id,
        )
    )
    return list(rows)


# HTTP


class ProfileOut(BaseModel):
    user_id: IdStr
    handle: str | None
    display_name: str
    status_text: str
    last_seen_at: datetime | None


class MyProfileOut(ProfileOut):
    phone: str | None


class ProfilePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    handle: str | None = Field(None, min_length=5, max_length=32)
    display_name: str | None = Field(None, min_length=1, max_length=100)
    status_text: str | None = Field(None, max_length=140)


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=100)
    tag: str | None = Field(None, max_length=32)
    blocked: bool | None = None


class ContactOut(BaseModel):
    user: ProfileOut
    name: str
    tag: str
    blocked: bool
    created_at: datetime


class FriendRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_user_id: IdStr
    message: str = Field("", max_length=200)


class FriendRequestOut(BaseModel):
    id: IdStr
    from_user_id: IdStr
    to_user_id: IdStr
    status: str
    message: str
    created_at: datetime
    answered_at: datetime | None


class DiscoverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone_hashes: list[Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]] = Field(
        max_length=MAX_DISCOVER
    )


def _profile(profile: MessagingProfile) -> ProfileOut:
    return ProfileOut(
        user_id=profile.user_id,
        handle=profile.handle,
        display_name=profile.display_name,
        status_text=profile.status_text,
        last_seen_at=profile.last_seen_at,
    )


def _request(request: MessagingFriendRequest) -> FriendRequestOut:
    return FriendRequestOut(
        id=request.id,
        from_user_id=request.from_user_id,
        to_user_id=request.to_user_id,
        status=request.status,
        message=request.message,
        created_at=request.created_at,
        answered_at=request.answered_at,
    )


def router(system: str) -> APIRouter:
    """Profile, users, contacts and friend-request endpoints of `system`."""
    api = APIRouter(tags=[system])

    @api.get("/profile")
    async def my_profile(principal: CurrentPrincipal, session: WriteSession) -> MyProfileOut:
        """Your profile here (made from your account the first time)."""
        profile = await ensure_profile(session, system, principal.user_id)
        return MyProfileOut(**_profile(profile).model_dump(), phone=profile.phone)

    @api.patch("/profile")
    async def patch_profile(
        body: ProfilePatch, principal: CurrentPrincipal, session: WriteSession
    ) -> MyProfileOut:
        """Choose a username, change your display name or status line."""
        profile = await update_profile(
            session,
            system,
            principal.user_id,
            handle=body.handle,
            display_name=body.display_name,
            status_text=body.status_text,
        )
        return MyProfileOut(**_profile(profile).model_dump(), phone=profile.phone)

    @api.get("/users/search")
    async def find_users(
        principal: CurrentPrincipal,
        session: Session,
        q: Annotated[str, Query(min_length=1, max_length=64)],
        limit: Annotated[int, Query(ge=1, le=50)] = 20,
    ) -> list[ProfileOut]:
        """Users by username prefix or part of their name."""
        return [_profile(p) for p in await search_users(session, system, q, limit)]

    @api.get("/users/{user_id}")
    async def get_user(user_id: int, principal: CurrentPrincipal, session: Session) -> ProfileOut:
        """Another user's public profile."""
        return _profile(await profile_of(session, system, user_id))

    @api.get("/contacts")
    async def list_contacts(principal: CurrentPrincipal, session: Session) -> list[ContactOut]:
        """Your contact list, by tag then name."""
        rows = await contacts_of(session, system, principal.user_id)
        return [
            ContactOut(
                user=_profile(profile),
                name=contact.name,
                tag=contact.tag,
                blocked=contact.blocked,
                created_at=contact.created_at,
            )
            for contact, profile in rows
        ]

    @api.put("/contacts/{user_id}")
    async def put_contact(
        user_id: int, body: ContactIn, principal: CurrentPrincipal, session: WriteSession
    ) -> ContactOut:
        """Add someone to your list, or rename, tag, block or unblock them."""
        contact = await add_contact(
            session,
            system,
            principal.user_id,
            user_id,
            name=body.name,
            tag=body.tag,
            blocked=body.blocked,
        )
        profile = await profile_of(session, system, user_id)
        return ContactOut(
            user=_profile(profile),
            name=contact.name,
            tag=contact.tag,
            blocked=contact.blocked,
            created_at=contact.created_at,
        )

    @api.delete("/contacts/{user_id}", status_code=204)
    async def delete_contact(
        user_id: int, principal: CurrentPrincipal, session: WriteSession
    ) -> Response:
        """Remove someone from your list."""
        if not await remove_contact(session, system, principal.user_id, user_id):
            raise ProfileNotFound("That user is not in your contacts.")
        return Response(status_code=204)

    @api.post("/contacts/discover")
    async def discover_contacts(
        body: DiscoverIn, principal: CurrentPrincipal, session: Session
    ) -> list[dict[str, Any]]:
        """Which of these SHA-256 phone hashes (of your address book) are users here."""
        found = await discover(session, system, principal.user_id, body.phone_hashes)
        return [{"phone_hash": p.phone_hash, **_profile(p).model_dump(mode="json")} for p in found]

    @api.post("/friend-requests", status_code=201)
    async def send_request(
        body: FriendRequestIn, principal: CurrentPrincipal, session: WriteSession
    ) -> FriendRequestOut:
        """Ask someone to be friends (mutual contacts); if they asked you first, you accept."""
        return _request(
            await request_friend(session, system, principal.user_id, body.to_user_id, body.message)
        )

    @api.get("/friend-requests")
    async def list_requests(
        principal: CurrentPrincipal,
        session: Session,
        direction: Literal["incoming", "outgoing"] = "incoming",
    ) -> list[FriendRequestOut]:
        """Open requests to you (incoming) or from you (outgoing)."""
        return [
            _request(r) for r in await requests_of(session, system, principal.user_id, direction)
        ]

    @api.post("/friend-requests/{request_id}/accept")
    async def accept(
        request_id: int, principal: CurrentPrincipal, session: WriteSession
    ) -> FriendRequestOut:
        return _request(
            await answer_request(session, system, principal.user_id, request_id, accept=True)
        )

    @api.post("/friend-requests/{request_id}/decline")
    async def decline(
        request_id: int, principal: CurrentPrincipal, session: WriteSession
    ) -> FriendRequestOut:
        return _request(
            await answer_request(session, system, principal.user_id, request_id, accept=False)
        )

    @api.delete("/friend-requests/{request_id}", status_code=204)
    async def cancel(
        request_id: int, principal: CurrentPrincipal, session: WriteSession
    ) -> Response:
        """Withdraw a request you sent."""
        await cancel_request(session, system, principal.user_id, request_id)
        return Response(status_code=204)

    return api
