"""Comments and replies on posts (the feed engine's threads on the "substack-post" target): a
published free post's discussion is public, a paid post's is for readers who may read it
whole, drafts have none, and only authors of comments (or of the post) delete them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.systems.substack.conftest import API, Account, subscribe, top_up, write_post

comments = pytest.mark.feature("substack", "comments")


async def comment(
    client: httpx.AsyncClient, account: Account, post_id: str, body: str
) -> httpx.Response:
    return await client.post(
        f"{API}/posts/{post_id}/comments", json={"body": body}, headers=account.headers
    )


@comments
async def test_readers_discuss_a_free_post_in_threads(
    client: httpx.AsyncClient,
    writer: Account,
    new_account: Callable[[], Awaitable[Account]],
    publication: dict[str, Any],
) -> None:
    post = (await write_post(client, writer, publication["id"], publish="now")).json()
    readers = [await new_account() for _ in range(4)]
    made = await asyncio.gather(
        *(comment(client, r, post["id"], f"Hi {i}") for i, r in enumerate(readers))
    )
    assert [m.status_code for m in made] == [201] * 4
    first = made[0].json()
    answer = await client.post(
        f"{API}/comments/{first['id']}/replies", json={"body": "Thanks!"}, headers=writer.headers
    )
    assert answer.status_code == 201 and answer.json()["depth"] == 1
    thread = (await client.get(f"{API}/posts/{post['id']}/comments")).json()["items"]
    assert len(thread) == 5 and {c["body"] for c in thread} >= {f"Hi {i}" for i in range(4)}
    at = [c["id"] for c in thread].index(first["id"])
    assert thread[at + 1]["body"] == "Thanks!"  # depth-first: the reply follows its parent
    assert thread[at]["replies"] == 1
    assert (await client.get(f"{API}/comments/{first['id']}/replies")).json()["items"][0][
        "body"
    ] == "Thanks!"
    # Only the comment's author, or the post's, deletes it.
    other = made[1].json()
    assert (
        await client.delete(f"{API}/comments/{other['id']}", headers=readers[0].headers)
    ).status_code == 403
    assert (
        await client.patch(
            f"{API}/comments/{other['id']}", json={"body": "edited"}, headers=readers[0].headers
        )
    ).status_code == 403
    assert (
        await client.delete(f"{API}/comments/{other['id']}", headers=writer.headers)
    ).status_code == 204
    after = (await client.get(f"{API}/posts/{post['id']}/comments")).json()["items"]
    assert len(after) == 4 and other["id"] not in [c["id"] for c in after]
    empty = await comment(client, readers[0], post["id"], "   ")
    assert empty.status_code == 422
    assert (
        await client.post(f"{API}/posts/{post['id']}/comments", json={"body": "x"})
    ).status_code == 401


@comments
async def test_a_paid_posts_discussion_is_hidden_from_readers_who_may_not_read_it(
    client: httpx.AsyncClient,
    writer: Account,
    new_account: Callable[[], Awaitable[Account]],
    publication: dict[str, Any],
) -> None:
    post = (
        await write_post(client, writer, publication["id"], audience="paid", publish="now")
    ).json()
    payer, free = await new_account(), await new_account()
    await subscribe(client, free, publication["id"])
    await top_up(client, payer, 1_000)
    paid = await client.post(
        f"{API}/publications/{publication['id']}/paid-subscription",
        json={"plan": "monthly"},
        headers=payer.headers,
    )
    assert paid.status_code == 201, paid.text
    made = await comment(client, payer, post["id"], "Worth every cent")
    assert made.status_code == 201
    comment_id = made.json()["id"]
    assert (await client.get(f"{API}/posts/{post['id']}/comments", headers=writer.headers)).json()[
        "items"
    ][0]["body"] == "Worth every cent"
    for headers in (free.headers, {}):
        assert (
            await client.get(f"{API}/posts/{post['id']}/comments", headers=headers)
        ).status_code == 404
        assert (
            await client.get(f"{API}/comments/{comment_id}", headers=headers)
        ).status_code == 404
        assert (
            await client.get(f"{API}/comments/{comment_id}/replies", headers=headers)
        ).status_code == 404
    assert (await comment(client, free, post["id"], "let me in")).status_code == 404
    sneaky = await client.post(
        f"{API}/comments/{comment_id}/replies", json={"body": "me too"}, headers=free.headers
    )
    assert sneaky.status_code == 404
    assert (
        await client.delete(f"{API}/comments/{comment_id}", headers=free.headers)
    ).status_code == 404
    thread = (await client.get(f"{API}/posts/{post['id']}/comments", headers=payer.headers)).json()
    assert [c["body"] for c in thread["items"]] == ["Worth every cent"]


@comments
async def test_drafts_have_no_discussion(
    client: httpx.AsyncClient, writer: Account, publication: dict[str, Any]
) -> None:
    draft = (await write_post(client, writer, publication["id"])).json()
    assert (await comment(client, writer, draft["id"], "early")).status_code == 404
    assert (
        await client.get(f"{API}/posts/{draft['id']}/comments", headers=writer.headers)
    ).status_code == 404
    assert (await client.get(f"{API}/posts/12345/comments")).status_code == 404
