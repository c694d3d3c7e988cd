"""Deposits and withdrawals between the simulated chain and users' exchange wallets."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger.verify import verify
from casebook.platform.auth.deps import Principal
from casebook.platform.context import Platform
from casebook.systems.binance import keys
from casebook.systems.binance.chain import Chain, balance
from casebook.systems.binance.wallets import AssetPolicy, Wallets, WithdrawalUsage, wallets_router
from tests.systems.binance.conftest import ClientWallet, fund, produce

pytestmark = pytest.mark.feature("binance", "wallets")


BTC = AssetPolicy(
    confirmations=2, withdrawal_fee=50, daily_withdrawal_limit=100_000, review_threshold=40_000
)
STAFF: set[int] = set()


async def is_staff(session: AsyncSession, principal: Principal) -> bool:
    return principal.user_id in STAFF


@pytest.fixture
def wallets(platform: Platform, chain: Chain) -> Wallets:
    return Wallets(chain, {"BTC": BTC}, platform.settings.signing_key)


@pytest.fixture
async def http(
    wallets: Wallets, mounted: Callable[..., httpx.AsyncClient]
) -> AsyncIterator[httpx.AsyncClient]:
    async with mounted(wallets_router(wallets, is_staff)) as client:
        yield client


async def user(client: httpx.AsyncClient) -> tuple[int, dict[str, str]]:
    email, password = f"{secrets.token_hex(6)}@example.com", "correct horse battery"
    registered = await client.post(
        "/api/auth/register", json={"email": email, "password": password, "display_name": "U"}
    )
    assert registered.status_code == 201, registered.text
    login = await client.post("/api/auth/login", json={"email": email, "password": password})
    return int(registered.json()["id"]), {"Authorization": f"Bearer {login.json()['access_token']}"}


async def deposit(
    platform: Platform,
    chain: Chain,
    wallets: Wallets,
    http: httpx.AsyncClient,
    headers: dict[str, str],
    amount: int,
) -> str:
    """Send `amount` BTC from the user's own outside wallet to their deposit address, confirm it
    and run the crediting job; returns the deposit address."""
    address = (
        await http.get("/api/binance/wallet/deposit-address?asset=BTC", headers=headers)
    ).json()
    outside = ClientWallet()
    await fund(platform.db, chain, outside.address, "BTC", amount)
    async with platform.db.session(write=True) as session:
        body, signature = outside.signed(
            "transfer", to=address["address"], asset="BTC", amount=amount
        )
        await chain.submit(session, body, signature)
    await produce(platform.db, chain, blocks=1 + BTC.confirmations)
    assert await wallets.credit_deposits(platform.db) == 1
    await produce(platform.db, chain)  # includes the sweep to the hot wallet
    return str(address["address"])


async def test_a_deposit_is_credited_once_after_its_confirmations(
    platform: Platform,
    chain: Chain,
    wallets: Wallets,
    client: httpx.AsyncClient,
    http: httpx.AsyncClient,
) -> None:
    _, headers = await user(client)
    first = await http.get("/api/binance/wallet/deposit-address?asset=BTC", headers=headers)
    again = await http.get("/api/binance/wallet/deposit-address?asset=BTC", headers=headers)
    assert first.json() == again.json() and first.json()["confirmations_required"] == 2
    address = first.json()["address"]
    outside = ClientWallet()
    await fund(platform.db, chain, outside.address, "BTC", 5_000)
    async with platform.db.session(write=True) as session:
        body, signature = outside.signed("transfer", to=address, asset="BTC", amount=5_000)
        await chain.submit(session, body, signature)
    await produce(platform.db, chain, blocks=2)  # included, 1 confirmation
    assert await wallets.credit_deposits(platform.db) == 0
    assert (await http.get("/api/binance/wallet/balances", headers=headers)).json() == {}
    await produce(platform.db, chain)  # 2 confirmations
    runs = await asyncio.gather(*(wallets.credit_deposits(platform.db) for _ in range(3)))
    assert sorted(runs) == [0, 0, 1]
    assert await wallets.credit_deposits(platform.db) == 0
    balances = (await http.get("/api/binance/wallet/balances", headers=headers)).json()
    assert balances == {"BTC": {"total": 5_000, "locked": 0, "available": 5_000}}
    deposits = (await http.get("/api/binance/wallet/deposits", headers=headers)).json()
    assert [d["amount"] for d in deposits] == [5_000]
    # The sweep, signed with the sealed deposit key, moves the coins to the hot wallet.
    await produce(platform.db, chain)
    async with platform.db.session() as session:
        assert await balance(session, address, "BTC") == 0
        assert await balance(session, wallets.hot_wallet_address, "BTC") == 5_000
        assert (await verify(session)).ok
    _, stranger = await user(client)
    assert (await http.get("/api/binance/wallet/balances", headers=stranger)).json() == {}
    assert (await http.get("/api/binance/wallet/deposits", headers=stranger)).json() == []


async def test_a_small_withdrawal_is_paid_on_chain_and_settled_once(
    platform: Platform,
    chain: Chain,
    wallets: Wallets,
    client: httpx.AsyncClient,
    http: httpx.AsyncClient,
) -> None:
    _, headers = await user(client)
    await deposit(platform, chain, wallets, http, headers, 10_000)
    payee = ClientWallet()
    created = await http.post(
        "/api/binance/wallet/withdrawals",
        json={"asset": "BTC", "address": payee.address, "amount": 3_000},
        headers={**headers, "Idempotency-Key": "w-1"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "broadcast" and created.json()["fee"] == 50
    replay = await http.post(
        "/api/binance/wallet/withdrawals",
        json={"asset": "BTC", "address": payee.address, "amount": 3_000},
        headers={**headers, "Idempotency-Key": "w-1"},
    )
    assert replay.json()["id"] == created.json()["id"]
    balances = (await http.get("/api/binance/wallet/balances", headers=headers)).json()
    assert balances["BTC"] == {"total": 10_000, "locked": 3_050, "available": 6_950}
    await produce(platform.db, chain)
    assert await wallets.settle_withdrawals(platform.db) == 1
    assert await wallets.settle_withdrawals(platform.db) == 0
    withdrawal_id = created.json()["id"]
    done = await http.get(f"/api/binance/wallet/withdrawals/{withdrawal_id}", headers=headers)
    assert done.json()["status"] == "completed"
    balances = (await http.get("/api/binance/wallet/balances", headers=headers)).json()
    assert balances["BTC"] == {"total": 6_950, "locked": 0, "available": 6_950}
    async with platform.db.session() as session:
        assert await balance(session, payee.address, "BTC") == 3_000
        assert (await verify(session)).ok
    _, stranger = await user(client)
    peek = await http.get(f"/api/binance/wallet/withdrawals/{withdrawal_id}", headers=stranger)
    assert peek.status_code == 404


async def test_large_withdrawals_wait_for_staff_who_approve_or_reject(
    platform: Platform,
    chain: Chain,
    wallets: Wallets,
    client: httpx.AsyncClient,
    http: httpx.AsyncClient,
) -> None:
    _, headers = await user(client)
    staff_id, staff = await user(client)
    STAFF.add(staff_id)
    await deposit(platform, chain, wallets, http, headers, 100_000)
    payee = ClientWallet()
    request = {"asset": "BTC", "address": payee.address, "amount": 45_000}
    first = (
        await http.post("/api/binance/wallet/withdrawals", json=request, headers=headers)
    ).json()
    second = (
        await http.post("/api/binance/wallet/withdrawals", json=request, headers=headers)
    ).json()
    assert first["status"] == second["status"] == "pending_review"
    # The daily limit (100,000) counts both: a third is refused and holds nothing.
    third = await http.post("/api/binance/wallet/withdrawals", json=request, headers=headers)
    assert third.status_code == 422 and third.json()["remaining"] == 10_000
    own = await http.post(f"/api/binance/wallet/withdrawals/{first['id']}/approve", headers=headers)
    assert own.status_code == 403
    rejected = await http.post(
        f"/api/binance/wallet/withdrawals/{second['id']}/reject",
        json={"reason": "unusual destination"},
        headers=staff,
    )
    assert rejected.json()["status"] == "rejected"
    again = await http.post(
        f"/api/binance/wallet/withdrawals/{second['id']}/approve", headers=staff
    )
    assert again.status_code == 409
    approved = await http.post(
        f"/api/binance/wallet/withdrawals/{first['id']}/approve", headers=staff
    )
    assert approved.json()["status"] == "broadcast"
    await produce(platform.db, chain)
    assert await wallets.settle_withdrawals(platform.db) == 1
    balances = (await http.get("/api/binance/wallet/balances", headers=headers)).json()
    assert balances["BTC"] == {"total": 54_950, "locked": 0, "available": 54_950}
    # The rejected one freed its share of the daily limit.
    small = {**request, "amount": 30_000}
    assert (
        await http.post("/api/binance/wallet/withdrawals", json=small, headers=headers)
    ).status_code == 201
    async with platform.db.session() as session:
        assert (await verify(session)).ok


async def test_bad_withdrawals_change_nothing_and_chain_failures_release_the_hold(
    platform: Platform,
    chain: Chain,
    wallets: Wallets,
    client: httpx.AsyncClient,
    http: httpx.AsyncClient,
) -> None:
    _, headers = await user(client)
    await deposit(platform, chain, wallets, http, headers, 1_000)
    url, payee = "/api/binance/wallet/withdrawals", ClientWallet().address
    for bad in (
        {"asset": "DOGE", "address": payee, "amount": 1},
        {"asset": "BTC", "address": "0xabc", "amount": 1},
        {"asset": "BTC", "address": payee, "amount": 0},
    ):
        refused = await http.post(url, json=bad, headers=headers)
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
    broke = await http.post(
        url, json={"asset": "BTC", "address": payee, "amount": 951}, headers=headers
    )
    assert broke.status_code == 409
    assert (
        await http.post(url, json={"asset": "BTC", "address": payee, "amount": 1})
    ).status_code == 401
    # The treasury moves the hot wallet's coins to cold storage: the next payout reverts on chain.
    hot_key = keys.derived_signing_key(platform.settings.signing_key, "hot-wallet")
    async with platform.db.session(write=True) as session:
        hot = wallets.hot_wallet_address
        assert await balance(session, hot, "BTC") == 1_000
        body = {
            "chain": chain.chain_id,
            "kind": "transfer",
            "from": hot,
            "public_key": keys.public_key_hex(hot_key),
            "nonce": await chain.next_nonce(session, hot),
            "to": ClientWallet().address,
            "asset": "BTC",
            "amount": 1_000,
        }
        await chain.submit(session, body, keys.sign(hot_key, body))
    await produce(platform.db, chain)
    paid = await http.post(
        url, json={"asset": "BTC", "address": payee, "amount": 900}, headers=headers
    )
    assert paid.status_code == 201 and paid.json()["status"] == "broadcast"
    await produce(platform.db, chain)
    assert await wallets.settle_withdrawals(platform.db) == 1
    failed = (await http.get(f"{url}/{paid.json()['id']}", headers=headers)).json()
    assert failed["status"] == "failed"
    balances = (await http.get("/api/binance/wallet/balances", headers=headers)).json()
    assert balances["BTC"] == {"total": 1_000, "locked": 0, "available": 1_000}
    async with platform.db.session() as session:
        assert (await verify(session)).ok
        usage = await session.scalar(select(WithdrawalUsage.used))
        assert usage == 0  # the failed payout no longer counts against the daily limit


async def test_concurrent_withdrawals_never_overspend(
    platform: Platform,
    chain: Chain,
    wallets: Wallets,
    client: httpx.AsyncClient,
    http: httpx.AsyncClient,
) -> None:
    _, headers = await user(client)
    await deposit(platform, chain, wallets, http, headers, 10_000)
    payee = ClientWallet().address
    attempts = await asyncio.gather(
        *(
            http.post(
                "/api/binance/wallet/withdrawals",
                json={"asset": "BTC", "address": payee, "amount": 2_000},
                headers=headers,
            )
            for _ in range(8)
        )
    )
    codes = sorted(a.status_code for a in attempts)
    assert codes.count(201) == 4 and codes.count(409) == 4  # 4 x 2,050 fits in 10,000; 5 do not
    await produce(platform.db, chain)
    assert await wallets.settle_withdrawals(platform.db) == 4
    balances = (await http.get("/api/binance/wallet/balances", headers=headers)).json()
    assert balances["BTC"] == {"total": 1_800, "locked": 0, "available": 1_800}
    async with platform.db.session() as session:
        assert await balance(session, payee, "BTC") == 8_000
        assert (await verify(session)).ok
