"""The /razorpay/ page: become a merchant, see keys, balance, payments, refunds, settlements and
links, create a key (secret shown once) and a payment link, capture and refund, all by HTML
forms that refuse cross-site posts and show only the viewer's own merchant data."""

from __future__ import annotations

import re
import secrets

import httpx
import pytest

from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.systems.razorpay.runtime import Razorpay
from tests.systems.razorpay.conftest import (
    API,
    V1,
    Merchant,
    authorized_payment,
    captured_payment,
)

PAGE = "/razorpay/"
SAME_ORIGIN = {"origin": "http://testserver"}
CROSS_SITE = {"origin": "https://evil.example"}


def sign_in(client: httpx.AsyncClient, token: str) -> None:
    client.cookies.set("casebook_access", token)


async def _user_token(client: httpx.AsyncClient) -> str:
    email, password = f"page-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
    registered = await client.post(
        "/api/auth/register", json={"email": email, "password": password, "display_name": "P"}
    )
    assert registered.status_code == 201, registered.text
    login = await client.post("/api/auth/login", json={"email": email, "password": password})
    return str(login.json()["access_token"])


@pytest.mark.feature("razorpay", "merchant-accounts")
async def test_visitors_log_in_and_users_become_merchants_with_a_key_shown_once(
    client: httpx.AsyncClient, state: Razorpay
) -> None:
    anonymous = await client.get(PAGE)
    assert (anonymous.status_code, anonymous.headers["location"]) == (
        303,
        "/login?next=/razorpay/",
    )
    token = await _user_token(client)
    sign_in(client, token)
    first = await client.get(PAGE)
    assert first.status_code == 200 and "Become a merchant" in first.text
    cross = await client.post(f"{PAGE}merchant", data={"name": "Evil"}, headers=CROSS_SITE)
    assert cross.status_code == 403
    no_header = await client.post(f"{PAGE}merchant", data={"name": "Evil"})
    assert no_header.status_code == 403
    blank = await client.post(f"{PAGE}merchant", data={"name": "   "}, headers=SAME_ORIGIN)
    assert blank.status_code == 422 and "Become a merchant" in blank.text
    opened = await client.post(f"{PAGE}merchant", data={"name": "Chai Co"}, headers=SAME_ORIGIN)
    assert opened.status_code == 201
    shown = re.search(r"key_id (rzp_test_\S+) · key_secret (\S+)</p>", opened.text)
    assert shown is not None
    key_id, secret = shown.groups()
    page = await client.get(PAGE)
    assert "Chai Co" in page.text and key_id in page.text and secret not in page.text
    # The secret works on the API.
    works = await client.get(f"{V1}/payments", auth=(key_id, secret))
    assert works.status_code == 200
    again = await client.post(f"{PAGE}merchant", data={"name": "Twice"}, headers=SAME_ORIGIN)
    assert again.status_code == 409 and "already" in again.text
    second = await client.post(f"{PAGE}keys", headers=SAME_ORIGIN)
    assert second.status_code == 201
    other = re.search(r"key_id (rzp_test_\S+) · key_secret", second.text)
    assert other is not None and other.group(1) != key_id
    keys = await client.get(f"{API}/merchants/me", headers={"Authorization": f"Bearer {token}"})
    assert set(keys.json()["key_ids"]) == {key_id, other.group(1)}


@pytest.mark.feature("razorpay", "capture")
@pytest.mark.feature("razorpay", "refunds")
async def test_capture_and_refund_from_the_page_and_only_own_data_shows(
    client: httpx.AsyncClient, merchant: Merchant, other_merchant: Merchant, platform: Platform
) -> None:
    authorized = await authorized_payment(client, merchant, 30_000)
    captured = await captured_payment(client, merchant, 20_000)
    foreign = await captured_payment(client, other_merchant, 40_000)
    sign_in(client, merchant.token)
    page = await client.get(PAGE)
    assert authorized["id"] in page.text and captured["id"] in page.text
    assert foreign["id"] not in page.text and other_merchant.key_id not in page.text
    assert page.text.count('data-testid="payment"') == 2

    cross = await client.post(f"{PAGE}payments/{authorized['id']}/capture", headers=CROSS_SITE)
    assert cross.status_code == 403
    status = await client.get(f"{V1}/payments/{authorized['id']}", headers=merchant.basic)
    assert status.json()["status"] == "authorized"

    done = await client.post(f"{PAGE}payments/{authorized['id']}/capture", headers=SAME_ORIGIN)
    assert done.status_code == 303
    status = await client.get(f"{V1}/payments/{authorized['id']}", headers=merchant.basic)
    assert status.json()["status"] == "captured"
    twice = await client.post(f"{PAGE}payments/{authorized['id']}/capture", headers=SAME_ORIGIN)
    assert twice.status_code == 409 and "already been captured" in twice.text

    part = await client.post(
        f"{PAGE}payments/{captured['id']}/refund", data={"amount": "50.50"}, headers=SAME_ORIGIN
    )
    assert part.status_code == 303
    too_much = await client.post(
        f"{PAGE}payments/{captured['id']}/refund", data={"amount": "200"}, headers=SAME_ORIGIN
    )
    assert too_much.status_code == 409 and "more than what is left" in too_much.text
    rest = await client.post(
        f"{PAGE}payments/{captured['id']}/refund", data={"amount": ""}, headers=SAME_ORIGIN
    )
    assert rest.status_code == 303
    refunded = await client.get(f"{V1}/payments/{captured['id']}", headers=merchant.basic)
    assert (refunded.json()["status"], refunded.json()["amount_refunded"]) == ("refunded", 20_000)

    # Another merchant's payment is "not found" from this page, and nothing moves.
    stolen = await client.post(f"{PAGE}payments/{foreign['id']}/refund", headers=SAME_ORIGIN)
    assert stolen.status_code == 404
    theirs = await client.get(f"{V1}/payments/{foreign['id']}", headers=other_merchant.basic)
    assert theirs.json()["amount_refunded"] == 0
    bad_amount = await client.post(
        f"{PAGE}payments/{authorized['id']}/refund", data={"amount": "1.234"}, headers=SAME_ORIGIN
    )
    assert bad_amount.status_code == 422

    page = await client.get(PAGE)
    assert "₹50.50" in page.text and "₹149.50" in page.text  # the two refunds of ₹200
    async with platform.db.session() as session:
        assert (await verify(session)).ok


@pytest.mark.feature("razorpay", "payment-links")
async def test_create_a_payment_link_from_the_page(
    client: httpx.AsyncClient, merchant: Merchant, other_merchant: Merchant
) -> None:
    sign_in(client, merchant.token)
    cross = await client.post(f"{PAGE}links", data={"amount": "10"}, headers=CROSS_SITE)
    assert cross.status_code == 403
    bad = await client.post(f"{PAGE}links", data={"amount": "0.50"}, headers=SAME_ORIGIN)
    assert bad.status_code == 422 and "at least ₹1" in bad.text
    made = await client.post(
        f"{PAGE}links",
        data={"amount": "1,299.00", "description": "Yoga mat", "accept_partial": "true"},
        headers=SAME_ORIGIN,
    )
    assert made.status_code == 303
    listed = (await client.get(f"{V1}/payment_links", headers=merchant.basic)).json()
    assert [(x["amount"], x["description"], x["accept_partial"]) for x in listed["items"]] == [
        (129_900, "Yoga mat", True)
    ]
    page = await client.get(PAGE)
    assert listed["items"][0]["id"] in page.text and "Yoga mat" in page.text
    assert listed["items"][0]["short_url"] in page.text
    sign_in(client, other_merchant.token)
    theirs = await client.get(PAGE)
    assert "Yoga mat" not in theirs.text and 'data-testid="link"' not in theirs.text
