"""The DEX: constant-product pools executed by the chain, signed client-side, non-custodial."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from math import ceil, floor

import httpx
import pytest
from sqlalchemy import func, select

from casebook.engines.ledger.ledger import TRANSFERS
from casebook.platform.context import Platform
from casebook.platform.db import Database
from casebook.systems.binance import dex
from casebook.systems.binance.chain import Chain, balance, chain_router
from casebook.systems.binance.dex_models import DexPool, DexPosition
from tests.systems.binance.conftest import ClientWallet, fund, produce

pytestmark = pytest.mark.feature("binance", "dex")


async def post_tx(http: httpx.AsyncClient, signed: tuple[dict[str, object], str]) -> str:
    body, signature = signed
    response = await http.post("/api/binance/dex/tx", json={"body": body, "signature": signature})
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    return str(response.json()["hash"])


async def status(http: httpx.AsyncClient, tx_hash: str) -> dict[str, object]:
    response = await http.get(f"/api/binance/dex/tx/{tx_hash}")
    assert response.status_code == 200
    result: dict[str, object] = response.json()
    return result


async def test_liquidity_swap_slippage_deadline_and_withdrawal_over_http(
    platform: Platform, chain: Chain, mounted: Callable[..., httpx.AsyncClient]
) -> None:
    db = platform.db
    async with db.session() as session:
        # Other systems' startup may have posted (Robinhood funds its capital): count from here.
        transfers_before = await session.scalar(select(func.count()).select_from(TRANSFERS))
    lp, trader = ClientWallet(), ClientWallet()
    await fund(db, chain, lp.address, "BNB", 1_000_000)
    await fund(db, chain, lp.address, "USDT", 400_000_000)
    await fund(db, chain, trader.address, "USDT", 10_000_000)
    async with mounted(chain_router(chain), dex.dex_router(chain)) as http:
        created = await post_tx(
            http,
            lp.signed(
                "add_liquidity",
                pool="BNB-USDT",
                amount_x=100_000,
                amount_y=40_000_000,
                min_shares=1,
                deadline=100,
            ),
        )
        await produce(db, chain)
        assert (await status(http, created))["status"] == "succeeded"
        pool = (await http.get("/api/binance/dex/pools/BNB-USDT")).json()
        assert (pool["reserve_x"], pool["reserve_y"]) == (100_000, 40_000_000)
        assert pool["total_shares"] == 2_000_000  # sqrt(100_000 * 40_000_000)
        position = await http.get(f"/api/binance/dex/pools/BNB-USDT/positions/{lp.address}")
        assert position.json()["shares"] == 2_000_000 - dex.MINIMUM_LIQUIDITY

        quote = (
            await http.get(
                "/api/binance/dex/quote",
                params={"pool": "BNB-USDT", "asset_in": "USDT", "amount_in": 1_000_000},
            )
        ).json()
        expected = 1_000_000 * 9970 * 100_000 // (40_000_000 * 10_000 + 1_000_000 * 9970)
        assert quote["amount_out"] == expected and quote["asset_out"] == "BNB"
        assert quote["price_impact_bps"] > 0

        greedy = await post_tx(
            http,
            trader.signed(
                "swap",
                pool="BNB-USDT",
                asset_in="USDT",
                amount_in=1_000_000,
                min_out=expected + 1,
                deadline=100,
            ),
        )
        late = await post_tx(
            http,
            trader.signed(
                "swap", pool="BNB-USDT", asset_in="USDT", amount_in=1_000_000, min_out=1, deadline=2
            ),
        )
        fair = await post_tx(
            http,
            trader.signed(
                "swap",
                pool="BNB-USDT",
                asset_in="USDT",
                amount_in=1_000_000,
                min_out=expected,
                deadline=100,
            ),
        )
        await produce(db, chain)
        greedy_status, late_status = await status(http, greedy), await status(http, late)
        assert greedy_status["status"] == "reverted" and "slippage" in str(greedy_status["error"])
        assert late_status["status"] == "reverted" and "deadline" in str(late_status["error"])
        assert (await status(http, fair))["status"] == "succeeded"
        account = (await http.get(f"/api/binance/chain/addresses/{trader.address}")).json()
        assert account["balances"] == {"BNB": expected, "USDT": 9_000_000}
        assert account["next_nonce"] == 3

        withdraw = await post_tx(
            http,
            lp.signed(
                "remove_liquidity",
                pool="BNB-USDT",
                shares=1_000_000,
                min_x=1,
                min_y=1,
                deadline=100,
            ),
        )
        await produce(db, chain)
        assert (await status(http, withdraw))["status"] == "succeeded"
        after = (await http.get("/api/binance/dex/pools/BNB-USDT")).json()
        paid_x = 1_000_000 * (100_000 - expected) // 2_000_000
        assert after["reserve_x"] == 100_000 - expected - paid_x
        async with db.session() as session:
            assert await balance(session, lp.address, "BNB") == 1_000_000 - 100_000 + paid_x
            assert await balance(session, dex.pool_address("BNB-USDT"), "BNB") == after["reserve_x"]
            # The exchange's ledger is never touched by the DEX.
            transfers = await session.scalar(select(func.count()).select_from(TRANSFERS))
            assert transfers == transfers_before


async def test_bad_dex_requests_are_refused_with_problems(
    platform: Platform, chain: Chain, mounted: Callable[..., httpx.AsyncClient]
) -> None:
    wallet = ClientWallet()
    async with mounted(dex.dex_router(chain)) as http:
        for pool in ("USDT-BNB", "BNB-BNB"):
            body, signature = wallet.signed(
                "swap", nonce=0, pool=pool, asset_in="BNB", amount_in=5, min_out=1, deadline=9
            )
            refused = await http.post(
                "/api/binance/dex/tx", json={"body": body, "signature": signature}
            )
            assert refused.status_code == 422
            assert refused.headers["content-type"] == "application/problem+json"
        transfer, signature = wallet.signed(
            "transfer", nonce=0, to=wallet.address, asset="BNB", amount=1
        )
        refused = await http.post(
            "/api/binance/dex/tx", json={"body": transfer, "signature": signature}
        )
        assert refused.status_code == 422
        missing = await http.get(
            "/api/binance/dex/quote", params={"pool": "BNB-USDT", "asset_in": "BNB", "amount_in": 5}
        )
        assert missing.status_code == 404
        assert (await http.get("/api/binance/dex/quote", params={"pool": "x"})).status_code == 422
    async with platform.db.session() as session:
        assert await chain.pending_count(session) == 0


# The independent model: exact rationals, floored/ceiled only where the pool rounds.


@dataclass
class ModelPool:
    rx: int = 0
    ry: int = 0
    shares: int = 0
    positions: dict[str, int] = field(default_factory=dict)

    def swap(self, x_in: bool, amount: int, min_out: int) -> int | None:
        r_in, r_out = (self.rx, self.ry) if x_in else (self.ry, self.rx)
        after_fee = amount * Fraction(10_000 - dex.DEFAULT_FEE_BPS, 10_000)
        exact = after_fee * r_out / (r_in + after_fee)
        out = floor(exact)
        assert out <= exact < r_out
        if out < min_out:
            return None
        if x_in:
            self.rx, self.ry = self.rx + amount, self.ry - out
        else:
            self.rx, self.ry = self.rx - out, self.ry + amount
        return out

    def add(self, who: str, x: int, y: int) -> tuple[int, int] | None:
        if self.shares == 0:
            root = next(s for s in range(int((x * y) ** 0.5) + 2, -1, -1) if s * s <= x * y)
            minted, take_x, take_y = root - dex.MINIMUM_LIQUIDITY, x, y
            if minted <= 0:
                return None
            self.positions["burn"] = dex.MINIMUM_LIQUIDITY
            self.shares = dex.MINIMUM_LIQUIDITY
        else:
            minted = floor(min(Fraction(x, self.rx), Fraction(y, self.ry)) * self.shares)
            take_x = ceil(Fraction(minted * self.rx, self.shares))
            take_y = ceil(Fraction(minted * self.ry, self.shares))
            assert take_x <= x and take_y <= y
            if minted < 1:
                return None
        self.rx, self.ry, self.shares = self.rx + take_x, self.ry + take_y, self.shares + minted
        self.positions[who] = self.positions.get(who, 0) + minted
        return take_x, take_y

    def remove(self, who: str, burned: int) -> tuple[int, int] | None:
        if self.positions.get(who, 0) < burned:
            return None
        out_x = floor(Fraction(burned * self.rx, self.shares))
        out_y = floor(Fraction(burned * self.ry, self.shares))
        if out_x == 0 or out_y == 0:
            return None
        self.rx, self.ry, self.shares = self.rx - out_x, self.ry - out_y, self.shares - burned
        self.positions[who] -= burned
        return out_x, out_y


def test_pool_arithmetic_matches_the_exact_model_and_never_loses_value() -> None:
    rng = random.Random(20240601)
    for _ in range(20):
        model = ModelPool()
        rx, ry, shares = 0, 0, 0
        x0, y0 = rng.randint(2_000, 10**12), rng.randint(2_000, 10**12)
        if dex.initial_shares(x0, y0) <= 0:
            continue
        model.add("a", x0, y0)
        rx, ry, shares = x0, y0, dex.initial_shares(x0, y0) + dex.MINIMUM_LIQUIDITY
        assert (rx, ry, shares) == (model.rx, model.ry, model.shares)
        for _ in range(60):
            k_before, value_before = rx * ry, Fraction(rx * ry, shares * shares)
            op = rng.choice(("swap_x", "swap_y", "add", "remove"))
            if op.startswith("swap"):
                amount = rng.randint(
                    1, max(1, (rx if op == "swap_x" else ry) // rng.choice((2, 50, 10**6)))
                )
                x_in = op == "swap_x"
                out = dex.swap_out(
                    amount, rx if x_in else ry, ry if x_in else rx, dex.DEFAULT_FEE_BPS
                )
                assert model.swap(x_in, amount, 0) == out
                rx, ry = (rx + amount, ry - out) if x_in else (rx - out, ry + amount)
                assert rx * ry >= k_before  # k never decreases
            elif op == "add":
                x, y = rng.randint(1, rx), rng.randint(1, ry)
                minted, take_x, take_y = dex.deposit_terms(x, y, rx, ry, shares)
                expected = model.add("a", x, y)
                if minted < 1:
                    assert expected is None
                    continue
                assert expected == (take_x, take_y)
                rx, ry, shares = rx + take_x, ry + take_y, shares + minted
            else:
                burned = rng.randint(1, shares - dex.MINIMUM_LIQUIDITY)
                out_x, out_y = dex.withdrawal_terms(burned, rx, ry, shares)
                expected_out = model.remove("a", burned)
                if out_x == 0 or out_y == 0:
                    assert expected_out is None
                    continue
                assert expected_out == (out_x, out_y)
                rx, ry, shares = rx - out_x, ry - out_y, shares - burned
            assert (rx, ry, shares) == (model.rx, model.ry, model.shares)
            assert rx > 0 and ry > 0
            # A share never loses value: sqrt(k)/S does not decrease.
            assert Fraction(rx * ry, shares * shares) >= value_before


async def test_randomized_trading_on_chain_matches_the_model(db: Database, chain: Chain) -> None:
    rng = random.Random(7)
    wallets = [ClientWallet() for _ in range(3)]
    held: dict[tuple[str, str], int] = {}
    for wallet in wallets:
        for asset in ("ETH", "USDC"):
            await fund(db, chain, wallet.address, asset, 10**9)
            held[(wallet.address, asset)] = 10**9
    model = ModelPool()
    for block in range(6):
        planned = []
        async with db.session(write=True) as session:
            for _ in range(rng.randint(1, 6)):
                wallet = rng.choice(wallets)
                if model.shares == 0 or rng.random() < 0.2:
                    fields = {
                        "kind": "add_liquidity",
                        "amount_x": rng.randint(10**5, 10**8),
                        "amount_y": rng.randint(10**5, 10**8),
                        "min_shares": 1,
                    }
                elif rng.random() < 0.2 and model.positions.get(wallet.address):
                    fields = {
                        "kind": "remove_liquidity",
                        "min_x": 0,
                        "min_y": 0,
                        "shares": rng.randint(1, model.positions[wallet.address]),
                    }
                else:
                    fields = {
                        "kind": "swap",
                        "asset_in": rng.choice(("ETH", "USDC")),
                        "amount_in": rng.randint(1, 10**7),
                        "min_out": 1,
                    }
                kind = str(fields.pop("kind"))
                body, signature = wallet.signed(kind, pool="ETH-USDC", deadline=100, **fields)
                await chain.submit(session, body, signature)
                planned.append((wallet.address, kind, fields))
                # Plan against the model in the same order the block will execute them.
                _apply(model, held, wallet.address, kind, fields)
        await produce(db, chain)
        async with db.session() as session:
            pool = await session.get(DexPool, "ETH-USDC")
            assert pool is not None
            assert (pool.reserve_x, pool.reserve_y, pool.total_shares) == (
                model.rx,
                model.ry,
                model.shares,
            ), f"block {block}: {planned}"
            here = dex.pool_address("ETH-USDC")
            assert await balance(session, here, "ETH") == pool.reserve_x
            assert await balance(session, here, "USDC") == pool.reserve_y
            for (address, asset), amount in held.items():
                assert await balance(session, address, asset) == amount
            positions = await session.scalar(
                select(func.sum(DexPosition.shares)).where(DexPosition.pool_id == "ETH-USDC")
            )
            assert positions == pool.total_shares


def _apply(
    model: ModelPool,
    held: dict[tuple[str, str], int],
    who: str,
    kind: str,
    fields: dict[str, int | str],
) -> None:
    """What the chain should do with one transaction, computed by the model."""
    if kind == "swap":
        x_in = fields["asset_in"] == "ETH"
        amount = int(fields["amount_in"])
        asset_in, asset_out = ("ETH", "USDC") if x_in else ("USDC", "ETH")
        if held[(who, asset_in)] < amount:
            return
        out = model.swap(x_in, amount, 1)
        if out is not None:
            held[(who, asset_in)] -= amount
            held[(who, asset_out)] += out
    elif kind == "add_liquidity":
        snapshot = (model.rx, model.ry, model.shares, dict(model.positions))
        taken = model.add(who, int(fields["amount_x"]), int(fields["amount_y"]))
        if taken is None:
            return
        if held[(who, "ETH")] < taken[0] or held[(who, "USDC")] < taken[1]:
            model.rx, model.ry, model.shares, model.positions = snapshot
            return
        held[(who, "ETH")] -= taken[0]
        held[(who, "USDC")] -= taken[1]
    else:
        paid = model.remove(who, int(fields["shares"]))
        if paid is not None:
            held[(who, "ETH")] += paid[0]
            held[(who, "USDC")] += paid[1]
