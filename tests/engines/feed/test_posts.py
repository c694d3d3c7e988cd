"""Posts through the HTTP API: create, read, edit and delete by the author only, validation
answered with problem+json that changes nothing, profile walls paged by cursor, and the
"post" engagement target and @mention resolution that the engagement code relies on."""

from __future__ import annotations

import httpx
import pytest

from casebook.engines.feed import targets
from casebook.engines.feed.audience import user_ids_for_handles, visible_post
from casebook.platform.context import Platform
from tests.engines.feed.conftest import API, SYSTEM, FeedUser, NewUser, Publish

pytestmark = pytest.mark.feature("facebook-newsfeed", "publish-posts")


async def test_an_author_publishes_reads_edits_and_deletes_a_post(
    client: httpx.AsyncClient, alice: FeedUser, publish: Publish
) -> None:
    post = await publish(alice, "hello world", data={"location": "Lisbon"})
    assert post["author"]["id"] == alice.id
    assert post["audience"] == "public"
    assert post["data"] == {"location": "Lisbon"}

    read = await client.get(f"{API}/posts/{post['id']}", headers=alice.headers)
    assert read.status_code == 200
    assert read.json()["body"] == "hello world"

    edited = await client.patch(
        f"{API}/posts/{post['id']}", json={"body": "hello again"}, headers=alice.headers
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["body"] == "hello again"
    assert edited.json()["edited_at"] is not None

    deleted = await client.delete(f"{API}/posts/{post['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"{API}/posts/{post['id']}", headers=alice.headers)
    assert gone.status_code == 404
    assert gone.json()["type"] == "/problems/feed/post-not-found"


async def test_only_the_author_may_edit_or_delete(
    client: httpx.AsyncClient, alice: FeedUser, bob: FeedUser, publish: Publish
) -> None:
    public = await publish(alice, "mine")
    private = await publish(alice, "secret", audience="only_me")

    edit = await client.patch(
        f"{API}/posts/{public['id']}", json={"body": "yours now"}, headers=bob.headers
    )
    assert edit.status_code == 403
    assert edit.json()["type"] == "/problems/feed/not-author"
    delete = await client.delete(f"{API}/posts/{public['id']}", headers=bob.headers)
    assert delete.status_code == 403
    # A post bob cannot see is not found, not forbidden: he learns nothing about it.
    hidden = await client.delete(f"{API}/posts/{private['id']}", headers=bob.headers)
    assert hidden.status_code == 404

    still = await client.get(f"{API}/posts/{public['id']}", headers=alice.headers)
    assert still.json()["body"] == "mine"
    anonymous = await client.post(f"{API}/posts", json={"body": "x"})
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"body": "   "}, "/problems/feed/invalid-post"),
        ({"body": "x" * 10_001}, "/problems/invalid-input"),
        ({"body": "x", "audience": "everyone"}, "/problems/feed/invalid-audience"),
        ({"body": "x", "audience": "list:abc"}, "/problems/feed/invalid-audience"),
        ({"body": "x", "audience": "list:12345"}, "/problems/feed/list-not-found"),
        ({"body": "x", "data": {"blob": "y" * 17_000}}, "/problems/feed/invalid-post"),
        ({"body": "x", "group_id": "123"}, "/problems/feed/entity-not-found"),
        ({"body": "x", "colour": "red"}, "/problems/invalid-input"),
    ],
)
async def test_bad_posts_are_refused_and_change_nothing(
    client: httpx.AsyncClient, alice: FeedUser, body: dict[str, object], problem: str
) -> None:
    response = await client.post(f"{API}/posts", json=body, headers=alice.headers)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == problem
    wall = await client.get(f"{API}/users/{alice.id}/posts", headers=alice.headers)
    assert wall.json()["items"] == []


async def test_a_profile_wall_pages_by_cursor_without_repeats_while_posts_arrive(
    client: httpx.AsyncClient, alice: FeedUser, bob: FeedUser, publish: Publish
) -> None:
    first = [await publish(alice, f"post {i}") for i in range(5)]
    page1 = await client.get(
        f"{API}/users/{alice.id}/posts", params={"limit": 2}, headers=bob.headers
    )
    body1 = page1.json()
    assert [p["id"] for p in body1["items"]] == [first[4]["id"], first[3]["id"]]
    await publish(alice, "newer, arrives while bob pages")
    seen = [p["id"] for p in body1["items"]]
    cursor = body1["next_cursor"]
    while cursor:
        page = await client.get(
            f"{API}/users/{alice.id}/posts",
            params={"limit": 2, "cursor": cursor},
            headers=bob.headers,
        )
        seen += [p["id"] for p in page.json()["items"]]
        cursor = page.json()["next_cursor"]
    assert seen == [p["id"] for p in reversed(first)]

    bad = await client.get(f"{API}/users/{alice.id}/posts", params={"cursor": "!!"})
    assert bad.status_code == 422


async def test_the_post_target_resolves_to_the_author_only_for_viewers_who_may_see_it(
    platform: Platform, alice: FeedUser, bob: FeedUser, publish: Publish
) -> None:
    public = await publish(alice, "for all")
    mine = await publish(alice, "for me", audience="only_me")
    async with platform.db.session() as session:
        assert targets.is_registered("post")
        assert await targets.resolve(session, SYSTEM, "post", bob.user_id, int(public["id"])) == (
            alice.user_id
        )
        assert await targets.resolve(session, SYSTEM, "post", bob.user_id, int(mine["id"])) is None
        assert await targets.resolve(session, SYSTEM, "post", None, int(mine["id"])) is None
        # Another system's viewer never finds this system's post.
        assert (
            await visible_post(session, "facebook-timeline", alice.user_id, int(public["id"]))
            is None
        )


async def test_handles_resolve_mentions_case_insensitively_within_the_system(
    client: httpx.AsyncClient, platform: Platform, new_user: NewUser
) -> None:
    maria = await new_user("Maria Silva")
    namesake = await new_user("maria silva")
    me = await client.get(f"{API}/me", headers=maria.headers)
    assert me.json()["handle"] == "maria_silva"
    other = await client.get(f"{API}/me", headers=namesake.headers)
    assert other.json()["handle"] != "maria_silva"
    assert other.json()["handle"].startswith("maria_silva_")

    renamed = await client.patch(f"{API}/me", json={"handle": "Mimi"}, headers=namesake.headers)
    assert renamed.status_code == 200 and renamed.json()["handle"] == "mimi"
    taken = await client.patch(f"{API}/me", json={"handle": "mimi"}, headers=maria.headers)
    assert taken.status_code == 409
    bad = await client.patch(f"{API}/me", json={"handle": "no spaces"}, headers=maria.headers)
    assert bad.status_code == 422

    async with platform.db.session() as session:
        found = await user_ids_for_handles(session, SYSTEM, ["@Maria_Silva", "MIMI", "nobody"])
        assert found == {"maria_silva": maria.user_id, "mimi": namesake.user_id}
        assert await user_ids_for_handles(session, "instagram", ["maria_silva"]) == {}


async def test_a_retried_publish_with_the_same_idempotency_key_makes_one_post(
    client: httpx.AsyncClient, alice: FeedUser
) -> None:
    headers = {**alice.headers, "Idempotency-Key": "post-1"}
    first = await client.post(f"{API}/posts", json={"body": "once"}, headers=headers)
    again = await client.post(f"{API}/posts", json={"body": "once"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    other = await client.post(f"{API}/posts", json={"body": "twice?"}, headers=headers)
    assert other.status_code == 422
    wall = await client.get(f"{API}/users/{alice.id}/posts", headers=alice.headers)
    assert [p["id"] for p in wall.json()["items"]] == [first.json()["id"]]
