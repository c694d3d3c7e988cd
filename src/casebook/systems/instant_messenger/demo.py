"""Demo data for Instant Messenger: the shared demo account with three friends, a direct chat
with each (with history, some of it read), and a group of all four.

Sign in at /login as `demo@example.com` with password `casebook-demo` and open
/instant-messenger/; the friends log in with `POST /api/instant-messenger/users/login` as
`asha_rao`, `ben_carter` or `chen_wei` with the same password, to chat back from a second
browser.

Loading is idempotent: accounts are found before they are made, friendships are requested only
between users who are not friends yet, the group is made once (found by owner and name), and
every message has a fixed client id, so the writer stores it once however often this runs.
"""

from __future__ import annotations

from sqlalchemy import select

from casebook.engines.messaging import contacts, service
from casebook.engines.messaging.models import (
    MessagingContact,
    MessagingConversation,
    MessagingProfile,
)
from casebook.engines.messaging.runtime import messenger
from casebook.engines.messaging.writer import SendRequest
from casebook.platform.auth.models import User
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.systems.instant_messenger import accounts

SLUG = "instant-messenger"
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "casebook-demo"
DEMO_USERNAME = "demo_user"
FRIENDS = (
    ("asha_rao", "Asha Rao"),
    ("ben_carter", "Ben Carter"),
    ("chen_wei", "Chen Wei"),
)
GROUP_NAME = "Weekend hike 🥾"
CHATS: dict[str, tuple[tuple[bool, str], ...]] = {
    "asha_rao": (
        (False, "Hi Asha! Did the photos from Saturday come through?"),
        (True, "Yes, all of them 📸 The one at the lake is my favourite."),
        (False, "Mine too. Coffee on Thursday?"),
        (True, "Thursday works ☕ 10 am at the usual place?"),
    ),
    "ben_carter": (
        (True, "Are you coming to the match tonight?"),
        (False, "Wouldn't miss it ⚽ Save me a seat."),
    ),
    "chen_wei": (
        (False, "Welcome to Casebook Messenger, Chen 👋"),
        (True, "Thanks! Search works on old messages too, try searching for 'dumplings'."),
        (True, "Dumplings at my place on Friday, by the way 🥟"),
    ),
}
"""Direct chat history per friend: (sent by the friend?, text), oldest first."""
GROUP_MESSAGES = (
    ("demo", "Trail plan: meet at the car park at 8, summit by noon ⛰️"),
    ("asha_rao", "I'll bring sandwiches 🥪"),
    ("ben_carter", "I've got the map and the first-aid kit."),
    ("chen_wei", "Weather looks clear all day ☀️"),
)
READ_BY_FRIEND = ("asha_rao", "chen_wei")
"""Friends who have read their direct chat with the demo user (the others only received it)."""


async def _demo_user(platform: Platform) -> int:
    """The shared demo account (registered on first use) with `demo_user` as its username when
    nobody has taken it."""
    async with platform.db.session(write=True) as session:
        user_id = await session.scalar(select(User.id).where(User.email == DEMO_EMAIL))
        if user_id is None:
            user = await register_user(
                session, DEMO_EMAIL, DEMO_PASSWORD, "Demo user", settings=platform.settings
            )
            user_id = user.id
        profile = await contacts.ensure_profile(session, SLUG, user_id)
        if profile.handle is None:
            taken = await session.scalar(
                select(MessagingProfile.user_id).where(
                    MessagingProfile.system == SLUG, MessagingProfile.handle == DEMO_USERNAME
                )
            )
            if taken is None:
                await contacts.update_profile(session, SLUG, user_id, handle=DEMO_USERNAME)
        return int(user_id)


async def _friend(platform: Platform, username: str, name: str) -> int:
    """A demo friend's user id, registering the username account on first use."""
    async with platform.db.session(write=True) as session:
        user_id = await session.scalar(
            select(MessagingProfile.user_id).where(
                MessagingProfile.system == SLUG, MessagingProfile.handle == username
            )
        )
        if user_id is not None:
            return int(user_id)
        user, _ = await accounts.register(
            platform, session, SLUG, username, DEMO_PASSWORD, display_name=name
        )
        return user.id


async def _befriend(platform: Platform, demo: int, friend: int) -> None:
    """Make the two mutual contacts through a friend request and its acceptance, unless they
    already are."""
    async with platform.db.session(write=True) as session:
        mine = await session.get(MessagingContact, (SLUG, demo, friend))
        theirs = await session.get(MessagingContact, (SLUG, friend, demo))
        if mine is not None and theirs is not None:
            return
        request = await contacts.request_friend(session, SLUG, friend, demo, "Let's chat here!")
        if request.status == "pending":
            await contacts.answer_request(session, SLUG, demo, request.id, accept=True)


async def _group(platform: Platform, owner: int, members: list[int]) -> int:
    """The demo group, created once."""
    async with platform.db.session(write=True) as session:
        group_id = await session.scalar(
            select(MessagingConversation.id).where(
                MessagingConversation.system == SLUG,
                MessagingConversation.kind == "group",
                MessagingConversation.created_by == owner,
                MessagingConversation.title == GROUP_NAME,
            )
        )
        events: list[service.Event] = []
        if group_id is None:
            group, events = await service.create_group(
                session,
                SLUG,
                messenger(platform, SLUG).config,
                owner,
                kind="group",
                title=GROUP_NAME,
                member_ids=members,
            )
            group_id = group.id
    await service.publish_all(platform.bus, SLUG, events)
    return int(group_id)


async def _send(
    platform: Platform, conversation_id: int, sender: int, client_id: str, text: str
) -> int:
    sent = await messenger(platform, SLUG).writer.send(
        SendRequest(
            conversation_id=conversation_id,
            sender_id=sender,
            client_id=client_id,
            kind="text",
            body=text,
        )
    )
    return sent.message.seq


async def _mark(platform: Platform, user: int, conversation_id: int, *, read: bool) -> None:
    async with platform.db.session(write=True) as session:
        conversation, _ = await service.membership(session, SLUG, conversation_id, user)
        last = conversation.last_seq
        events = await service.mark(
            session,
            SLUG,
            user,
            conversation_id,
            delivered_seq=last,
            read_seq=last if read else None,
        )
    await service.publish_all(platform.bus, SLUG, events)


async def load_demo(platform: Platform) -> None:
    """`System.demo`: the demo user, friends, direct chats with history, and a group."""
    demo = await _demo_user(platform)
    friends = {username: await _friend(platform, username, name) for username, name in FRIENDS}
    for friend in friends.values():
        await _befriend(platform, demo, friend)
    for username, lines in CHATS.items():
        friend = friends[username]
        async with platform.db.session(write=True) as session:
            chat, _, events = await service.create_direct(session, SLUG, demo, friend)
        await service.publish_all(platform.bus, SLUG, events)
        for number, (from_friend, text) in enumerate(lines):
            await _send(platform, chat.id, friend if from_friend else demo, f"demo-{number}", text)
        await _mark(platform, friend, chat.id, read=username in READ_BY_FRIEND)
    group = await _group(platform, demo, list(friends.values()))
    people = {"demo": demo, **friends}
    for number, (who, text) in enumerate(GROUP_MESSAGES):
        await _send(platform, group, people[who], f"demo-{number}", text)
    for friend in friends.values():
        await _mark(platform, friend, group, read=True)
