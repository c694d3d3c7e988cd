"""Accounts: unique usernames, login by username, profiles."""

from __future__ import annotations

import httpx
import pytest

from tests.systems.hacker_news.conftest import API, SLUG, HnUser, NewUser

pytestmark = pytest.mark.feature(SLUG, "user-accounts")


async def test_register_then_log_in_with_the_username(client: httpx.AsyncClient) -> None:
    body = {"username": "Dhouston", "email": "dh@example.com", "password": "dropbox-2007!"}
    created = await client.post(f"{API}/register", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["username"] == "Dhouston"
    assert created.json()["karma"] == 1
    login = await client.post(
        f"{API}/login", json={"username": "dhouston", "password": "dropbox-2007!"}
    )
    assert login.status_code == 200
    me = await client.get(
        f"{API}/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert me.json()["username"] == "Dhouston"
    wrong = await client.post(
        f"{API}/login", json={"username": "dhouston", "password": "nope-nope-1"}
    )
    assert wrong.status_code == 401


async def test_usernames_are_unique_case_insensitively(
    client: httpx.AsyncClient, alice: HnUser
) -> None:
    body = {
        "username": alice.username.upper(),
        "email": "other@example.com",
        "password": "pw-long-enough",
    }
    taken = await client.post(f"{API}/register", json=body)
    assert taken.status_code == 409
    assert taken.json()["type"] == "/problems/hacker-news/username-taken"
    bad = await client.post(f"{API}/register", json={**body, "username": "no spaces"})
    assert bad.status_code == 422


async def test_a_casebook_user_claims_a_username_once(client: httpx.AsyncClient) -> None:
    await client.post(
        "/api/auth/register",
        json={"email": "plain@example.com", "password": "pw-long-enough", "display_name": "P"},
    )
    login = await client.post(
        "/api/auth/login", json={"email": "plain@example.com", "password": "pw-long-enough"}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    before = await client.post(
        f"{API}/stories", json={"title": "t", "url": "https://a.example/"}, headers=headers
    )
    assert before.status_code == 403
    assert before.json()["type"] == "/problems/hacker-news/no-account"
    claimed = await client.post(f"{API}/account", json={"username": "plainuser"}, headers=headers)
    assert claimed.status_code == 201
    again = await client.post(f"{API}/account", json={"username": "other"}, headers=headers)
    assert again.status_code == 409


@pytest.mark.feature(SLUG, "user-profiles")
async def test_profile_shows_submissions_karma_and_about(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    author = await new_user()
    story = await client.post(
        f"{API}/stories",
        json={"title": "Mine", "url": "https://p.example/1"},
        headers=author.headers,
    )
    await client.patch(f"{API}/me", json={"about": "I write things"}, headers=author.headers)
    profile = (await client.get(f"{API}/v0/user/{author.username}.json")).json()
    assert profile["id"] == author.username
    assert profile["about"] == "I write things"
    assert profile["submitted"] == [story.json()["id"]]
    assert set(profile) == {"id", "created", "karma", "about", "submitted"}
    missing = await client.get(f"{API}/v0/user/{author.username.upper()}.json")
    assert missing.status_code == 200 and missing.json() is None
