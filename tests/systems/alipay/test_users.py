"""User accounts: the seed's register (username, e-mail, password, phone) and login by username."""

from __future__ import annotations

import httpx
import pytest

from tests.systems.alipay.conftest import API, NewUser, User

pytestmark = pytest.mark.feature("alipay", "user-accounts")


async def test_registered_user_logs_in_by_username_and_uses_the_token(
    client: httpx.AsyncClient, alice: User
) -> None:
    profile = await client.get(f"{API}/profile", headers=alice.headers)
    assert profile.status_code == 200
    assert profile.json() == {
        "id": str(alice.user_id),
        "username": alice.username,
        "phone": alice.phone,
        "email": None,
    }


async def test_login_also_accepts_the_email(client: httpx.AsyncClient, alice: User) -> None:
    response = await client.post(
        f"{API}/users/login", json={"username": alice.email, "password": alice.password}
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"


@pytest.mark.parametrize("username", ["nobody_here", "ALICE"])
async def test_wrong_password_and_unknown_username_fail_alike(
    client: httpx.AsyncClient, alice: User, username: str
) -> None:
    wrong = await client.post(
        f"{API}/users/login", json={"username": alice.username, "password": "not-it"}
    )
    unknown = await client.post(
        f"{API}/users/login", json={"username": username, "password": "not-it"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["type"] == unknown.json()["type"]


async def test_taken_username_or_phone_is_a_conflict(
    client: httpx.AsyncClient, alice: User
) -> None:
    same_name = await client.post(
        f"{API}/users/register",
        json={
            "username": alice.username,
            "email": "other@example.com",
            "password": "a-good-password-1",
            "phone": "+8613900000001",
        },
    )
    assert same_name.status_code == 409
    assert same_name.json()["type"] == "/problems/alipay/username-taken"
    same_phone = await client.post(
        f"{API}/users/register",
        json={
            "username": "someone_else",
            "email": "other2@example.com",
            "password": "a-good-password-1",
            "phone": alice.phone,
        },
    )
    assert same_phone.status_code == 409
    # The failed registrations left no account behind: the e-mail is still free.
    retry = await client.post(
        f"{API}/users/register",
        json={
            "username": "someone_else",
            "email": "other2@example.com",
            "password": "a-good-password-1",
            "phone": "+8613900000002",
        },
    )
    assert retry.status_code == 201, retry.text


@pytest.mark.parametrize(
    "changes",
    [{"phone": "13800138000"}, {"username": "9lives"}, {"username": "ab"}, {"extra": 1}],
)
async def test_invalid_registration_is_refused(
    client: httpx.AsyncClient, changes: dict[str, object]
) -> None:
    body = {
        "username": "valid_name",
        "email": "valid@example.com",
        "password": "a-good-password-1",
        "phone": "+8613800138000",
        **changes,
    }
    response = await client.post(f"{API}/users/register", json=body)
    assert response.status_code == 422


async def test_an_account_from_elsewhere_adds_a_profile_once(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    email, password = "plain@example.com", "a-good-password-1"
    registered = await client.post(
        "/api/auth/register", json={"email": email, "password": password, "display_name": "P"}
    )
    assert registered.status_code == 201
    token = (
        await client.post("/api/auth/login", json={"email": email, "password": password})
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get(f"{API}/profile", headers=headers)).status_code == 404
    created = await client.post(
        f"{API}/profile",
        json={"username": "plain_user", "phone": "+8613711112222"},
        headers=headers,
    )
    assert created.status_code == 201
    again = await client.post(
        f"{API}/profile",
        json={"username": "plain_user2", "phone": "+8613711113333"},
        headers=headers,
    )
    assert again.status_code == 409


async def test_endpoints_need_credentials(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{API}/wallet")).status_code == 401
    assert (await client.post(f"{API}/transfers", json={})).status_code == 401
