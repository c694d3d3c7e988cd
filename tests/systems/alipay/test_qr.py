"""Scan-to-pay: signed, expiring, single-use merchant QR codes rendered as real QR images."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from datetime import timedelta

import httpx
import pytest
import zxingcpp

from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.alipay import qr
from casebook.systems.alipay.runtime import Alipay
from tests.systems.alipay.conftest import (
    API,
    NewUser,
    User,
    books_balance,
    make_merchant,
    top_up,
    wallet,
)

pytestmark = pytest.mark.feature("alipay", "qr-payment")


async def new_code(
    client: httpx.AsyncClient, merchant: User, amount: int | None = 1_500
) -> dict[str, str]:
    body = {} if amount is None else {"amount": amount}
    response = await client.post(
        f"{API}/merchants/me/qr-codes", json=body, headers=merchant.headers
    )
    assert response.status_code == 201, response.text
    code: dict[str, str] = response.json()
    return code


async def pay(
    client: httpx.AsyncClient, payer: User, payload: str, amount: int | None = None
) -> httpx.Response:
    body: dict[str, object] = {"payload": payload}
    if amount is not None:
        body["amount"] = amount
    return await client.post(f"{API}/qr/pay", json=body, headers=payer.headers)


def read_qr(modules: tuple[tuple[int, ...], ...]) -> list[str]:
    """Decode a QR module matrix with zxing-cpp, as a phone camera would see it."""
    scale, border = 4, 4
    size = len(modules) + 2 * border
    pixels = bytearray()
    for y in range(size * scale):
        row = y // scale - border
        for x in range(size * scale):
            col = x // scale - border
            dark = 0 <= row < len(modules) and 0 <= col < len(modules) and modules[row][col]
            pixels.append(0 if dark else 255)
    image = memoryview(bytes(pixels)).cast("B", shape=[size * scale, size * scale])
    return [result.text for result in zxingcpp.read_barcodes(image)]


async def test_a_merchant_code_renders_as_a_real_qr_image(
    client: httpx.AsyncClient, bob: User
) -> None:
    await make_merchant(client, bob)
    code = await new_code(client, bob)
    assert read_qr(qr.matrix(code["payload"])) == [code["payload"]]
    png = await client.get(code["png_url"], headers=bob.headers)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png.content[16:24])
    assert width == height > 100
    svg = await client.get(code["svg_url"], headers=bob.headers)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg")


async def test_scanning_pays_the_merchant_exactly_once(
    client: httpx.AsyncClient, alice: User, bob: User, platform: Platform
) -> None:
    shop = await make_merchant(client, bob)
    await top_up(client, alice, 10_000)
    code = await new_code(client, bob, 1_500)
    first = await pay(client, alice, code["payload"])
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "completed"
    assert first.json()["merchant_id"] == shop["id"]
    again = await pay(client, alice, code["payload"])
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/alipay/qr-already-paid"
    assert (await wallet(client, alice))["balance"] == 8_500
    listed = (await client.get(f"{API}/merchants/me/qr-codes", headers=bob.headers)).json()
    assert listed["items"][0]["paid"] is True
    assert listed["items"][0]["payment_id"] == first.json()["id"]
    await books_balance(platform)


async def test_concurrent_scans_pay_once(
    client: httpx.AsyncClient, bob: User, new_user: NewUser, platform: Platform
) -> None:
    await make_merchant(client, bob)
    payers = [await new_user() for _ in range(6)]
    for payer in payers:
        await top_up(client, payer, 2_000)
    code = await new_code(client, bob, 1_500)
    results = await asyncio.gather(*(pay(client, p, code["payload"]) for p in payers))
    assert sorted(r.status_code for r in results) == [201] + [409] * 5
    balances = sorted([(await wallet(client, p))["balance"] for p in payers])
    assert balances == [500] + [2_000] * 5
    merchant = (await client.get(f"{API}/merchants/me", headers=bob.headers)).json()
    assert merchant["balance"] == 1_500
    await books_balance(platform)


async def test_a_payer_without_funds_leaves_the_code_payable(
    client: httpx.AsyncClient, alice: User, bob: User, new_user: NewUser
) -> None:
    await make_merchant(client, bob)
    poor = await new_user()
    await top_up(client, poor, 100)
    await top_up(client, alice, 5_000)
    code = await new_code(client, bob, 1_500)
    assert (await pay(client, poor, code["payload"])).status_code == 409
    assert (await pay(client, alice, code["payload"])).status_code == 201


async def test_an_open_amount_code_takes_the_payers_amount(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    await make_merchant(client, bob)
    await top_up(client, alice, 5_000)
    code = await new_code(client, bob, None)
    missing = await pay(client, alice, code["payload"])
    assert missing.status_code == 422
    paid = await pay(client, alice, code["payload"], 777)
    assert paid.status_code == 201 and paid.json()["amount"] == 777


async def test_a_fixed_code_refuses_another_amount(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    await make_merchant(client, bob)
    await top_up(client, alice, 5_000)
    code = await new_code(client, bob, 1_500)
    response = await pay(client, alice, code["payload"], 1)
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/alipay/qr-amount"


def tamper(payload: str, **changes: object) -> str:
    prefix, claims, signature = payload.split(".")
    body = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    body.update(changes)
    encoded = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    return f"{prefix}.{encoded}.{signature}"


async def test_an_altered_or_forged_code_is_refused(
    client: httpx.AsyncClient, alice: User, bob: User, state: Alipay
) -> None:
    await make_merchant(client, bob)
    await top_up(client, alice, 5_000)
    code = await new_code(client, bob, 1_500)
    cheaper = tamper(code["payload"], a=1)
    forged_key = qr.sign(
        b"not-our-key",
        qr.QrClaims(merchant_id=1, amount=1, expires_at=utcnow() + timedelta(hours=1), nonce="x"),
    )
    for payload in (cheaper, forged_key, "hello", "ALIPAY1.???.???"):
        response = await pay(client, alice, payload)
        assert response.status_code == 422, payload
        assert response.json()["type"] == "/problems/alipay/invalid-qr"
    assert (await wallet(client, alice))["balance"] == 5_000


async def test_an_expired_code_is_gone(
    client: httpx.AsyncClient, alice: User, bob: User, state: Alipay
) -> None:
    shop = await make_merchant(client, bob)
    await top_up(client, alice, 5_000)
    expired = qr.sign(
        state.qr_key,
        qr.QrClaims(
            merchant_id=int(shop["id"]),
            amount=100,
            expires_at=utcnow() - timedelta(seconds=1),
            nonce="n",
        ),
    )
    response = await pay(client, alice, expired)
    assert response.status_code == 410


async def test_only_the_merchant_sees_its_codes(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    await make_merchant(client, bob)
    await make_merchant(client, alice)
    code = await new_code(client, bob)
    assert (await client.get(code["png_url"], headers=alice.headers)).status_code == 404
    listed = (await client.get(f"{API}/merchants/me/qr-codes", headers=alice.headers)).json()
    assert listed["items"] == []


async def test_merchant_cannot_pay_its_own_code_and_ttl_is_bounded(
    client: httpx.AsyncClient, bob: User, state: Alipay
) -> None:
    await make_merchant(client, bob)
    await top_up(client, bob, 5_000)
    code = await new_code(client, bob)
    assert (await pay(client, bob, code["payload"])).status_code == 422
    too_long = await client.post(
        f"{API}/merchants/me/qr-codes",
        json={"ttl_seconds": state.config.qr_max_ttl_seconds + 1},
        headers=bob.headers,
    )
    assert too_long.status_code == 422
