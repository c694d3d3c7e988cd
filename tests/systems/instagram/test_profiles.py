"""Accounts and profiles: registration and login through the platform, the Instagram profile
(bio, website, picture), counts, the post grid and a private account's hidden grid."""

from __future__ import annotations

import secrets

import httpx
import pytest
from sqlalchemy import select

from casebook.platform.auth.models import User
from casebook.platform.context import Platform
from tests.systems.instagram.conftest import API, IgUser, NewUser, Upload, small_png


async def _photo(client: httpx.AsyncClient, upload: Upload, user: IgUser, caption: str) -> str:
    item = await upload(user, small_png(), "image/png")
    made = await client.post(
        f"{API}/photos", json={"media_ids": [item["id"]], "caption": caption}, headers=user.headers
    )
    assert made.status_code == 201, made.text
    post_id: str = made.json()["id"]
    return post_id


@pytest.mark.feature("instagram", "user-accounts")
async def test_register_log_in_and_use_instagram_with_a_hashed_password(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    email = f"ig-acct-{secrets.token_hex(4)}@example.com"
    password = "correct horse battery"
    registered = await client.post(
        "/api/auth/register",
        json={"email": email, "password": password, "display_name": "Maya Lens"},
    )
    assert registered.status_code == 201, registered.text
    wrong = await client.post("/api/auth/login", json={"email": email, "password": "not it at all"})
    assert wrong.status_code == 401
    assert wrong.headers["content-type"].startswith("application/problem+json")
    login = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    me = await client.get(f"{API}/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["handle"] == "maya_lens"
    assert (await client.get(f"{API}/me")).status_code == 401
    async with platform.db.session() as session:
        stored = await session.scalar(select(User.password_hash).where(User.email == email))
    assert stored is not None and stored.startswith("$argon2id$") and password not in stored


@pytest.mark.feature("instagram", "user-accounts")
async def test_a_read_only_api_key_cannot_change_the_profile(
    client: httpx.AsyncClient, ig_user: NewUser
) -> None:
    alice = await ig_user()
    created = await client.post(
        "/api/auth/api-keys",
        json={"name": "viewer", "scopes": ["instagram:read"]},
        headers=alice.headers,
    )
    assert created.status_code == 201, created.text
    key = {"X-API-Key": created.json()["key"]}
    assert (await client.get(f"{API}/profiles/{alice.id}", headers=key)).status_code == 200
    refused = await client.patch(f"{API}/profile", json={"bio": "hacked"}, headers=key)
    assert refused.status_code == 403
    mine = await client.get(f"{API}/profiles/{alice.id}", headers=alice.headers)
    assert mine.json()["bio"] == ""


@pytest.mark.feature("instagram", "profiles")
async def test_profile_shows_bio_picture_counts_and_grid(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload
) -> None:
    alice, bob, carol = await ig_user(), await ig_user(), await ig_user()
    picture = await upload(alice, small_png((250, 200, 0)), "image/png")
    edited = await client.patch(
        f"{API}/profile",
        json={
            "bio": "Film photos of Lyon",
            "website": "https://alice.example",
            "avatar_media_id": picture["id"],
        },
        headers=alice.headers,
    )
    assert edited.status_code == 200, edited.text
    first = await _photo(client, upload, alice, "one")
    second = await _photo(client, upload, alice, "two")
    for follower in (bob, carol):
        followed = await client.post(f"{API}/users/{alice.id}/follow", headers=follower.headers)
        assert followed.json()["status"] == "active"
    await client.post(f"{API}/users/{bob.id}/follow", headers=alice.headers)
    await client.put(f"{API}/posts/{first}/reactions", json={"kind": "like"}, headers=bob.headers)

    seen = await client.get(f"{API}/profiles/{alice.id}", headers=carol.headers)
    assert seen.status_code == 200
    profile = seen.json()
    assert profile["bio"] == "Film photos of Lyon"
    assert profile["website"] == "https://alice.example"
    assert profile["counts"] == {"posts": 2, "followers": 2, "following": 1}
    assert profile["follow_status"] == "active"
    assert profile["posts_visible"] is True
    assert [tile["id"] for tile in profile["grid"]] == [second, first]
    assert profile["grid"][1]["likes"] == 1
    assert profile["grid"][0]["thumbnail"].endswith("/320.jpg")
    # The picture is public: an anonymous visitor fetches it.
    avatar = await client.get(profile["avatar"]["url"])
    assert avatar.status_code == 200 and avatar.headers["content-type"] == "image/jpeg"
    # Paging the grid by cursor.
    page = await client.get(f"{API}/profiles/{alice.id}?limit=1", headers=carol.headers)
    assert [t["id"] for t in page.json()["grid"]] == [second]
    rest = await client.get(
        f"{API}/profiles/{alice.id}?limit=1&cursor={page.json()['next_cursor']}"
    )
    assert [t["id"] for t in rest.json()["grid"]] == [first]
    # A deleted post leaves the grid and the count.
    assert (await client.delete(f"{API}/posts/{first}", headers=alice.headers)).status_code == 204
    after = (await client.get(f"{API}/profiles/{alice.id}")).json()
    assert after["counts"]["posts"] == 1
    assert [t["id"] for t in after["grid"]] == [second]


@pytest.mark.feature("instagram", "profiles")
async def test_bad_profile_edits_are_refused_and_change_nothing(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload
) -> None:
    alice, bob = await ig_user(), await ig_user()
    theirs = await upload(bob, small_png(), "image/png")
    await client.patch(f"{API}/profile", json={"bio": "kept"}, headers=alice.headers)
    cases = [
        ({"website": "javascript:alert(1)"}, 422),
        ({"website": "/relative"}, 422),
        ({"bio": "x" * 151}, 422),
        ({"avatar_media_id": theirs["id"]}, 404),
        ({"nickname": "x"}, 422),
    ]
    for body, status in cases:
        response = await client.patch(f"{API}/profile", json=body, headers=alice.headers)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    profile = (await client.get(f"{API}/profiles/{alice.id}", headers=alice.headers)).json()
    assert profile["bio"] == "kept" and profile["website"] == "" and profile["avatar"] is None
    # Bob's media did not become readable to others by the refused attempt.
    assert (
        await client.get(f"{API}/media/{theirs['id']}", headers=alice.headers)
    ).status_code == 404


@pytest.mark.feature("instagram", "profiles")
@pytest.mark.feature("instagram", "private-accounts")
async def test_a_private_profile_hides_its_grid_from_non_followers(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload
) -> None:
    owner = await ig_user(private=True)
    follower, stranger = await ig_user(), await ig_user()
    post = await _photo(client, upload, owner, "private life")
    request = await client.post(f"{API}/users/{owner.id}/follow", headers=follower.headers)
    assert request.json()["status"] == "pending"
    pending = (await client.get(f"{API}/profiles/{owner.id}", headers=follower.headers)).json()
    assert pending["follow_status"] == "pending"
    assert pending["posts_visible"] is False and pending["grid"] == []
    assert pending["counts"]["posts"] == 1  # counts are public, as on Instagram
    approved = await client.post(
        f"{API}/follow-requests/{follower.id}/approve", headers=owner.headers
    )
    assert approved.status_code == 204
    allowed = (await client.get(f"{API}/profiles/{owner.id}", headers=follower.headers)).json()
    assert allowed["posts_visible"] is True and [t["id"] for t in allowed["grid"]] == [post]
    for viewer in ({}, stranger.headers):
        hidden = (await client.get(f"{API}/profiles/{owner.id}", headers=viewer)).json()
        assert hidden["posts_visible"] is False and hidden["grid"] == []
    own = (await client.get(f"{API}/profiles/{owner.id}", headers=owner.headers)).json()
    assert own["is_self"] is True and [t["id"] for t in own["grid"]] == [post]


@pytest.mark.feature("instagram", "profiles")
@pytest.mark.feature("instagram", "report-block")
async def test_a_block_makes_the_profile_and_picture_disappear_both_ways(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload
) -> None:
    alice, bob = await ig_user(), await ig_user()
    picture = await upload(alice, small_png(), "image/png")
    await client.patch(
        f"{API}/profile", json={"avatar_media_id": picture["id"]}, headers=alice.headers
    )
    url = (await client.get(f"{API}/profiles/{alice.id}")).json()["avatar"]["url"]
    assert (await client.get(url, headers=bob.headers)).status_code == 200
    assert (
        await client.post(f"{API}/users/{bob.id}/block", headers=alice.headers)
    ).status_code == 204
    for viewer, other in ((bob, alice), (alice, bob)):
        gone = await client.get(f"{API}/profiles/{other.id}", headers=viewer.headers)
        assert gone.status_code == 404
    assert (await client.get(url, headers=bob.headers)).status_code == 404
    assert (await client.get(url)).status_code == 200
