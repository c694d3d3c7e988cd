"""Phone-number accounts through `/api/instant-messenger`: SMS codes, sign-up, log-in."""

from __future__ import annotations

import re

import httpx

from casebook.platform.context import Platform
from casebook.platform.sms import SimulatedSmsCarrier

API = "/api/instant-messenger"
PHONE = "+447700900123"


async def _code(platform: Platform, phone: str) -> str:
    assert isinstance(platform.sms, SimulatedSmsCarrier)
    inbox = await platform.sms.inbox(phone)
    match = re.search(r"\b(\d{6})\b", inbox[0].text)
    assert match is not None
    return match.group(1)


async def test_sign_up_and_log_in_with_a_phone_number(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    sent = await client.post(f"{API}/auth/phone/code", json={"phone": PHONE})
    assert sent.status_code == 202, sent.text
    code = await _code(platform, PHONE)
    body = {"phone": PHONE, "code": code, "password": "correct horse 42", "display_name": "Ann"}
    weak = await client.post(f"{API}/auth/phone/register", json={**body, "password": "x"})
    assert weak.status_code == 422
    # The refused sign-up did not use up the code.
    registered = await client.post(f"{API}/auth/phone/register", json=body)
    assert registered.status_code == 201, registered.text
    token = registered.json()["access_token"]
    profile = await client.get(f"{API}/profile", headers={"Authorization": f"Bearer {token}"})
    assert profile.json()["phone"] == PHONE and profile.json()["display_name"] == "Ann"

    replay = await client.post(f"{API}/auth/phone/register", json=body)
    assert replay.status_code == 409
    login = await client.post(
        f"{API}/auth/phone/login", json={"phone": PHONE, "password": "correct horse 42"}
    )
    assert login.status_code == 200 and login.json()["access_token"]
    wrong = await client.post(
        f"{API}/auth/phone/login", json={"phone": PHONE, "password": "wrong horse 42"}
    )
    unknown = await client.post(
        f"{API}/auth/phone/login", json={"phone": "+447700900999", "password": "correct horse 42"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["type"] == unknown.json()["type"]


async def test_a_code_is_single_use_and_burns_after_five_wrong_tries(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await client.post(f"{API}/auth/phone/code", json={"phone": PHONE})
    code = await _code(platform, PHONE)
    wrong = "000000" if code != "000000" else "111111"
    body = {"phone": PHONE, "password": "correct horse 42", "display_name": "Ann"}
    for _ in range(5):
        refused = await client.post(f"{API}/auth/phone/register", json={**body, "code": wrong})
        assert refused.status_code == 422 and refused.json()["type"].endswith("wrong-code")
    burnt = await client.post(f"{API}/auth/phone/register", json={**body, "code": code})
    assert burnt.status_code == 422
    # Nothing was created by the refused attempts.
    login = await client.post(
        f"{API}/auth/phone/login", json={"phone": PHONE, "password": "correct horse 42"}
    )
    assert login.status_code == 401


async def test_codes_are_rate_limited_and_need_a_reachable_e164_number(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    first = await client.post(f"{API}/auth/phone/code", json={"phone": PHONE})
    again = await client.post(f"{API}/auth/phone/code", json={"phone": PHONE})
    assert first.status_code == 202 and again.status_code == 429
    assert int(again.headers["Retry-After"]) > 0
    bad = await client.post(f"{API}/auth/phone/code", json={"phone": "07700 900123"})
    assert bad.status_code == 422
    dead = await client.post(f"{API}/auth/phone/code", json={"phone": "+15550100"})
    assert dead.status_code == 422 and dead.json()["type"].endswith("sms-not-delivered")


async def test_an_email_account_adds_a_verified_number(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await client.post(
        "/api/auth/register",
        json={"email": "cy@example.com", "password": "correct horse 42", "display_name": "Cy"},
    )
    login = await client.post(
        "/api/auth/login", json={"email": "cy@example.com", "password": "correct horse 42"}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    await client.post(f"{API}/auth/phone/code", json={"phone": PHONE})
    code = await _code(platform, PHONE)
    wrong = "000000" if code != "000000" else "111111"
    refused = await client.put(
        f"{API}/profile/phone", json={"phone": PHONE, "code": wrong}, headers=headers
    )
    assert refused.status_code == 422
    added = await client.put(
        f"{API}/profile/phone", json={"phone": PHONE, "code": code}, headers=headers
    )
    assert added.status_code == 200 and added.json() == {"phone": PHONE}
    by_phone = await client.post(
        f"{API}/auth/phone/login", json={"phone": PHONE, "password": "correct horse 42"}
    )
    assert by_phone.status_code == 200
