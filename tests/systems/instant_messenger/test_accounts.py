"""The seed's `POST /users/register` and `POST /users/login`: unique usernames on the platform
identity, refused input answered with problem+json and nothing stored."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import func, select

from casebook.platform.auth.models import User
from casebook.platform.context import Platform
from casebook.systems.instant_messenger.accounts import LOGIN_DOMAIN, login_email
from tests.systems.instant_messenger.conftest import (
    API,
    PASSWORD,
    ImUser,
    NewUser,
    assert_problem,
)

FEATURE = pytest.mark.feature("instant-messenger", "user-accounts")


async def _users(platform: Platform) -> int:
    async with platform.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


@FEATURE
async def test_register_then_log_in_with_the_username(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    created = await client.post(
        f"{API}/users/register", json={"username": "Grace_Hopper", "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["username"] == "grace_hopper" and body["display_name"] == "grace_hopper"
    assert int(body["user_id"]) > 0

    login = await client.post(
        f"{API}/users/login", json={"username": "GRACE_HOPPER", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    tokens = login.json()
    assert tokens["user_id"] == body["user_id"] and tokens["token_type"] == "bearer"
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = await client.get("/api/auth/me", headers=headers)
    assert me.json()["id"] == body["user_id"]
    profile = await client.get(f"{API}/profile", headers=headers)
    assert profile.json()["handle"] == "grace_hopper"
    # The platform account's login is the reserved address, never a real mailbox.
    assert me.json()["email"] == login_email("instant-messenger", "grace_hopper")
    assert me.json()["email"].endswith("@" + LOGIN_DOMAIN)


@FEATURE
async def test_wrong_password_and_unknown_username_get_the_same_401(
    client: httpx.AsyncClient, alice: ImUser
) -> None:
    wrong = await client.post(
        f"{API}/users/login", json={"username": alice.username, "password": "wrong horse 42"}
    )
    unknown = await client.post(
        f"{API}/users/login", json={"username": "nobody_here", "password": PASSWORD}
    )
    first = assert_problem(wrong, 401)
    second = assert_problem(unknown, 401)
    assert first["type"] == second["type"]
    assert "access_token" not in wrong.text


@FEATURE
async def test_a_username_is_unique_even_when_two_sign_ups_race(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    before = await _users(platform)
    answers = await asyncio.gather(
        *(
            client.post(
                f"{API}/users/register", json={"username": "ada_lovelace", "password": PASSWORD}
            )
            for _ in range(6)
        )
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 409, 409, 409, 409, 409]
    for answer in answers:
        if answer.status_code == 409:
            assert assert_problem(answer, 409)["type"].endswith("username-taken")
    assert await _users(platform) == before + 1


@FEATURE
async def test_bad_registrations_are_422_and_store_nothing(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    before = await _users(platform)
    bad = [
        {"username": "abc", "password": PASSWORD},  # too short
        {"username": "9lives", "password": PASSWORD},  # must start with a letter
        {"username": "has space", "password": PASSWORD},
        {"username": "fine_name", "password": "short"},  # weak password
        {"username": "fine_name", "password": PASSWORD, "display_name": ""},
        {"username": "fine_name"},
        {"username": "fine_name", "password": PASSWORD, "sender": "1"},  # unknown field
        {"username": "x" * 40, "password": PASSWORD},
    ]
    for body in bad:
        assert_problem(await client.post(f"{API}/users/register", json=body), 422)
    assert_problem(
        await client.post(
            f"{API}/users/register",
            content=b"{not json",
            headers={"content-type": "application/json"},
        ),
        422,
    )
    assert_problem(await client.post(f"{API}/users/login", json={"username": "a"}), 422)
    assert await _users(platform) == before


@FEATURE
async def test_a_renamed_user_logs_in_with_the_new_name_and_the_old_one_stays_reserved(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    user = await new_user("first_name")
    renamed = await client.patch(
        f"{API}/profile", json={"handle": "second_name"}, headers=user.headers
    )
    assert renamed.status_code == 200, renamed.text
    login = await client.post(
        f"{API}/users/login", json={"username": "second_name", "password": PASSWORD}
    )
    assert login.status_code == 200 and login.json()["user_id"] == user.id
    old = await client.post(
        f"{API}/users/login", json={"username": "first_name", "password": PASSWORD}
    )
    assert_problem(old, 401)
    again = await client.post(
        f"{API}/users/register", json={"username": "first_name", "password": PASSWORD}
    )
    assert_problem(again, 409)
