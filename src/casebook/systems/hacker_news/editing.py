"""Authors editing and deleting their own stories and comments within HN's edit window.

For `edit_window_hours` (2 h, as on Hacker News) after posting, the author may change a story's
title and text (not its URL: the link is what people voted on) or a comment's text, and may delete
either. Deleting keeps the item's place — its id, its replies, its score — and removes what it
said: title, text, URL and author are gone and the HN API shows `{"id", "type", "time",
"deleted": true, …}`, as the official one does. A deleted story leaves the ranked lists and frees
its URL for a new submission; a deleted comment no longer counts in its story's `descendants`.

Both are one conditional UPDATE (`… WHERE id = :id AND deleted = false`), so an edit racing a
delete cannot bring deleted text back and two deletes decrement `descendants` once. O(log n).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.db import utcnow
from casebook.systems.hacker_news import live
from casebook.systems.hacker_news.accounts import account_of
from casebook.systems.hacker_news.errors import (
    EditWindowClosed,
    InvalidSubmission,
    ItemDead,
    ItemNotFound,
    NotYourItem,
)
from casebook.systems.hacker_news.models import Item, UrlClaim
from casebook.systems.hacker_news.runtime import HackerNews, ranked_story
from casebook.systems.hacker_news.service import (
    MAX_TEXT,
    MAX_TITLE,
    clean_text,
    item_view,
    story_kind,
    story_penalty,
)


def editable_until(state: HackerNews, item: Item) -> float:
    """Unix time at which the item's edit window closes."""
    return (item.created_at + timedelta(hours=state.config.edit_window_hours)).timestamp()


def can_edit(state: HackerNews, item: Item, user_id: int | None) -> bool:
    """Whether `user_id` may still edit or delete `item` (pages use it to show the links)."""
    return (
        user_id is not None
        and item.by_id == user_id
        and not item.deleted
        and utcnow().timestamp() < editable_until(state, item)
    )


async def _own_item(state: HackerNews, session: AsyncSession, user_id: int, item_id: int) -> Item:
    """The caller's live-or-dead, undeleted item inside its edit window.

    Raises NoAccount (403), ItemNotFound (404: none, or deleted), NotYourItem (403) and
    EditWindowClosed (403)."""
    await account_of(session, user_id)
    item = await session.get(Item, item_id)
    if item is None or item.deleted:
        raise ItemNotFound(f"There is no item {item_id}.")
    if item.by_id != user_id:
        raise NotYourItem("Only its author may edit or delete this item.")
    if utcnow().timestamp() >= editable_until(state, item):
        hours = state.config.edit_window_hours
        raise EditWindowClosed(f"Items can be edited or deleted for {hours:g} hours after posting.")
    return item


async def edit_item(
    state: HackerNews, user_id: int, item_id: int, *, title: str | None, text: str | None
) -> Item:
    """Change the caller's story (`title` and/or `text`; an empty `text` removes it) or comment
    (`text`). A new title may move a story to or from Ask HN / Show HN.

    Raises what `_own_item` raises, ItemDead (409: a killed item stays as it was) and
    InvalidSubmission (422: nothing to change, a title on a comment, an empty comment, a text
    story left without text).
    """
    async with state.platform.db.session(write=True) as session:
        item = await _own_item(state, session, user_id, item_id)
        if item.dead:
            raise ItemDead("Dead items cannot be edited.")
        if title is None and text is None:
            raise InvalidSubmission("Give a new title or text.")
        values: dict[str, object]
        if item.type == "comment":
            if title is not None:
                raise InvalidSubmission("Comments have no title.")
            assert text is not None
            values = {"text": clean_text(text, "comment", MAX_TEXT, required=True)}
        else:
            new_title = (
                clean_text(title, "title", MAX_TITLE, required=True)
                if title is not None
                else item.title or ""
            )
            new_text = (
                clean_text(text, "text", MAX_TEXT, required=False) or None
                if text is not None
                else item.text
            )
            kind = story_kind(new_title, item.url)
            if kind == "text" and new_text is None:
                raise InvalidSubmission("A story without a URL needs some text.")
            values = {
                "title": new_title,
                "text": new_text,
                "kind": kind,
                "penalty": story_penalty(state.config, kind, item.domain),
            }
        changed = await session.scalar(
            update(Item)
            .where(Item.id == item_id, Item.deleted.is_(False), Item.dead.is_(False))
            .values(**values)
            .returning(Item.id)
            .execution_options(synchronize_session=False)
        )
        if changed is None:
            raise ItemNotFound(f"There is no item {item_id}.")
        await session.refresh(item)
        username = (await account_of(session, user_id)).username
        story = ranked_story(item) if item.type == "story" else None
        story_id = item.story_id if item.type == "comment" else item.id
    if story is not None:
        await state.story_changed(story, alive=True)
    await live.publish_item(
        state.platform, story_id or item_id, {"type": "edit", "item": item_view(item, username, [])}
    )
    return item


async def delete_item(state: HackerNews, user_id: int, item_id: int) -> None:
    """Delete the caller's story or comment: its title, text and URL are removed and it shows
    as deleted; replies stay. Raises what `_own_item` raises."""
    async with state.platform.db.session(write=True) as session:
        item = await _own_item(state, session, user_id, item_id)
        deleted = await session.scalar(
            update(Item)
            .where(Item.id == item_id, Item.deleted.is_(False))
            .values(deleted=True, title=None, text=None, url=None, domain=None)
            .returning(Item.id)
            .execution_options(synchronize_session=False)
        )
        if deleted is None:
            raise ItemNotFound(f"There is no item {item_id}.")
        story = ranked_story(item) if item.type == "story" else None
        story_id = item.story_id if item.type == "comment" else item.id
        if item.type == "comment" and item.story_id is not None:
            await session.execute(
                update(Item)
                .where(Item.id == item.story_id)
                .values(descendants=Item.descendants - 1)
                .execution_options(synchronize_session=False)
            )
        else:
            await session.execute(delete(UrlClaim).where(UrlClaim.item_id == item_id))
    if story is not None:
        await state.story_changed(story, alive=False)
    await live.publish_item(state.platform, story_id or item_id, {"type": "deleted", "id": item_id})
