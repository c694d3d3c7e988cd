"""The Bot API's objects (User, Chat, Message, PhotoSize, CallbackQuery) in Telegram's JSON
shapes, built from the messaging engine's rows.

Mapping (what a bot sees):
- a user's and a bot's `id` is their platform user id; a bot has `is_bot: true`;
- a private chat's `id` is the other user's id (as in Telegram); a group is a "supergroup" and
  a channel a "channel", both with the negative conversation id;
- `message_id` is the message's seq in its conversation (per chat, increasing, like Telegram);
- a photo is the list of its attachment's sizes, smallest first (thumbnail, compressed,
  original); a size's `file_id` is "<attachment id>" plus "_thumbnail"/"_compressed".

`Directory` loads what the objects need about a set of users in two queries, so building the
objects of a batch of N messages costs O(N) plus a constant number of queries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging.models import (
    MessagingAttachment,
    MessagingConversation,
    MessagingProfile,
)
from casebook.platform.auth.models import User
from casebook.systems.telegram.models import TelegramBot

SLUG = "telegram"
BOT_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{5,32})?")
PHOTO_SIZES = ("thumbnail", "compressed")
"""Derived image variants, smallest first; the original comes last."""


@dataclass(frozen=True)
class Person:
    user_id: int
    name: str
    username: str | None
    is_bot: bool


@dataclass
class Directory:
    """Names of users and bots, loaded once per batch."""

    people: dict[int, Person]

    @classmethod
    async def load(cls, session: AsyncSession, user_ids: Iterable[int]) -> Directory:
        """Display names, usernames and bot flags of `user_ids`: three IN queries."""
        ids = set(user_ids)
        people: dict[int, Person] = {}
        if not ids:
            return cls(people)
        names = dict(
            (
                await session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
            ).all()
        )
        bots = dict(
            (
                await session.execute(
                    select(TelegramBot.id, TelegramBot.username).where(TelegramBot.id.in_(ids))
                )
            ).all()
        )
        handles = dict(
            (
                await session.execute(
                    select(MessagingProfile.user_id, MessagingProfile.handle).where(
                        MessagingProfile.system == SLUG, MessagingProfile.user_id.in_(ids)
                    )
                )
            ).all()
        )
        for user_id in ids:
            is_bot = user_id in bots
            username = bots[user_id] if is_bot else handles.get(user_id)
            people[user_id] = Person(
                user_id, names.get(user_id, "Deleted Account"), username, is_bot
            )
        return cls(people)

    def user(self, user_id: int) -> dict[str, Any]:
        """Telegram's User object."""
        person = self.people.get(user_id) or Person(user_id, "Deleted Account", None, False)
        view: dict[str, Any] = {
            "id": person.user_id,
            "is_bot": person.is_bot,
            "first_name": person.name,
        }
        if person.username:
            view["username"] = person.username
        return view


def unix(moment: datetime | str) -> int:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return int(moment.timestamp())


def direct_peer(conversation: MessagingConversation, user_id: int) -> int:
    """The other member of a direct chat, read from its `direct_key` ("<low>:<high>[:e2e]")."""
    assert conversation.direct_key is not None
    low, high = (int(part) for part in conversation.direct_key.split(":")[:2])
    return high if low == user_id else low


def chat_id(conversation: MessagingConversation, viewer_id: int) -> int:
    """The chat's id as `viewer_id` (a bot) names it."""
    if conversation.kind == "direct":
        return direct_peer(conversation, viewer_id)
    return -conversation.id


def chat(
    conversation: MessagingConversation, viewer_id: int, directory: Directory
) -> dict[str, Any]:
    """Telegram's Chat object of `conversation` as seen by `viewer_id`."""
    if conversation.kind == "direct":
        peer = directory.user(direct_peer(conversation, viewer_id))
        view = {"id": peer["id"], "type": "private", "first_name": peer["first_name"]}
        if "username" in peer:
            view["username"] = peer["username"]
        return view
    view = {
        "id": -conversation.id,
        "type": "supergroup" if conversation.kind == "group" else "channel",
        "title": conversation.title,
    }
    if conversation.public_handle:
        view["username"] = conversation.public_handle
    return view


def photo_sizes(attachment: MessagingAttachment) -> list[dict[str, Any]]:
    """Telegram's PhotoSize list of an image attachment, smallest first."""
    sizes: list[dict[str, Any]] = []
    for name in PHOTO_SIZES:
        variant = (attachment.variants or {}).get(name)
        if variant is not None:
            sizes.append(
                {
                    "file_id": f"{attachment.id}_{name}",
                    "file_unique_id": f"{attachment.sha256[:12]}{name[0]}",
                    "width": int(variant["width"]),
                    "height": int(variant["height"]),
                    "file_size": int(variant["size"]),
                }
            )
    sizes.append(
        {
            "file_id": str(attachment.id),
            "file_unique_id": attachment.sha256[:12],
            "width": attachment.width or 0,
            "height": attachment.height or 0,
            "file_size": attachment.size,
        }
    )
    return sizes


def message(
    view: Mapping[str, Any],
    conversation: MessagingConversation,
    viewer_id: int,
    directory: Directory,
    *,
    attachments: Mapping[int, MessagingAttachment] | None = None,
    reply_markup: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Telegram's Message object of an engine message (its `message_view`) for `viewer_id`.

    Channel posts carry `sender_chat` (the channel) instead of `from`, as on Telegram."""
    result: dict[str, Any] = {
        "message_id": view["seq"],
        "date": unix(view["created_at"]),
        "chat": chat(conversation, viewer_id, directory),
    }
    if conversation.kind == "channel":
        result["sender_chat"] = result["chat"]
    else:
        result["from"] = directory.user(int(view["sender_id"]))
    if view.get("edited_at"):
        result["edit_date"] = unix(view["edited_at"])
    data = view.get("data") or {}
    photos = [
        attachments[int(a)]
        for a in data.get("attachments", ())
        if attachments and int(a) in attachments and attachments[int(a)].kind == "image"
    ]
    if photos:
        result["photo"] = photo_sizes(photos[0])
        if view.get("body"):
            result["caption"] = view["body"]
    elif view.get("body") is not None:
        result["text"] = view["body"]
        command = BOT_COMMAND.match(view["body"])
        if command:
            # Telegram marks a leading /command so bots' command filters recognise it.
            result["entities"] = [{"type": "bot_command", "offset": 0, "length": command.end()}]
    if reply_markup:
        result["reply_markup"] = dict(reply_markup)
    return result
