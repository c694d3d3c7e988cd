"""The DEX: constant-product pools (x·y = k) executed by the simulated chain, non-custodial.

Users hold their own keys: they sign `swap`, `add_liquidity` and `remove_liquidity`
transactions client-side and submit them like any chain transaction; the server never sees a
private key. The chain validates and executes each one in the block that includes it, against the
sender's chain balances, so the exchange's ledger is never touched by a DEX trade.

Pool arithmetic (Uniswap V2's, in integers, every rounding in the pool's favour):

- swap: `out = floor(in·(10⁴-fee)·R_out / (R_in·10⁴ + in·(10⁴-fee)))`; the whole `in`, fee
  included, joins the reserves, so k = R_x·R_y never decreases, and `out < R_out` always.
- first deposit: `sqrt(x·y)` shares (floor), of which MINIMUM_LIQUIDITY are locked forever (held
  by the burn address), so the pool can never be emptied and a share cannot be inflated cheaply.
- later deposits: `shares = min(floor(x·S/R_x), floor(y·S/R_y))` and the pool takes
  `ceil(shares·R_x/S)` and `ceil(shares·R_y/S)` (at most what was offered); withdrawals pay
  `floor(shares·R/S)`. So the value of a share, sqrt(k)/S, never decreases.
- `min_out` / `min_shares` / `min_x`+`min_y` bound slippage and `deadline` (a block height)
  bounds time: the transaction reverts, changing nothing but its nonce, if either is broken.

Every executor checks everything, then writes (the chain serialises blocks). O(log n) a
transaction; the math is O(1) on Python's big integers (products stay below 2¹⁰⁰).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from math import isqrt
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.db import Session, WriteSession
from casebook.platform.errors import InvalidInput, NotFound
from casebook.systems.binance import keys
from casebook.systems.binance.chain import (
    ASSET_PATTERN,
    MAX_AMOUNT,
    Chain,
    Execution,
    InvalidTransaction,
    Revert,
    SignedTx,
    TxBody,
    TxKind,
    TxOut,
    balance,
    credit,
    debit,
    tx_out,
)
from casebook.systems.binance.dex_models import DexPool, DexPosition

BPS = 10_000
DEFAULT_FEE_BPS = 30
MINIMUM_LIQUIDITY = 1000
BURN_ADDRESS = "0x" + "0" * 36 + "dead"
POOL_PATTERN = r"^[A-Z0-9]{1,10}-[A-Z0-9]{1,10}$"


# The pool's arithmetic: pure functions, O(1)


def swap_out(amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int) -> int:
    """What a swap of `amount_in` pays out, rounded down."""
    in_with_fee = amount_in * (BPS - fee_bps)
    return (in_with_fee * reserve_out) // (reserve_in * BPS + in_with_fee)


def initial_shares(amount_x: int, amount_y: int) -> int:
    """Shares the first depositor receives (MINIMUM_LIQUIDITY more are locked); may be ≤ 0,
    which the caller refuses."""
    return isqrt(amount_x * amount_y) - MINIMUM_LIQUIDITY


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def deposit_terms(
    amount_x: int, amount_y: int, reserve_x: int, reserve_y: int, total_shares: int
) -> tuple[int, int, int]:
    """(shares minted, x taken, y taken) for offering (amount_x, amount_y) to a live pool."""
    shares = min(amount_x * total_shares // reserve_x, amount_y * total_shares // reserve_y)
    take_x = _ceil_div(shares * reserve_x, total_shares)
    take_y = _ceil_div(shares * reserve_y, total_shares)
    return shares, take_x, take_y


def withdrawal_terms(
    shares: int, reserve_x: int, reserve_y: int, total_shares: int
) -> tuple[int, int]:
    """(x paid, y paid) for burning `shares`."""
    return shares * reserve_x // total_shares, shares * reserve_y // total_shares


def pool_address(pool_id: str) -> str:
    """The chain address that holds a pool's tokens (no key controls it)."""
    return "0x" + hashlib.blake2b(f"dex-pool:{pool_id}".encode(), digest_size=20).hexdigest()


# Transactions


class _DexBody(TxBody):
    pool: str = Field(pattern=POOL_PATTERN)
    deadline: int = Field(ge=1, le=2**53)
    """The last block height that may include the transaction."""


class SwapBody(_DexBody):
    kind: Literal["swap"]
    asset_in: str = Field(pattern=ASSET_PATTERN)
    amount_in: int = Field(ge=1, le=MAX_AMOUNT)
    min_out: int = Field(ge=1, le=MAX_AMOUNT)


class AddLiquidityBody(_DexBody):
    kind: Literal["add_liquidity"]
    amount_x: int = Field(ge=1, le=MAX_AMOUNT)
    amount_y: int = Field(ge=1, le=MAX_AMOUNT)
    min_shares: int = Field(ge=1, le=2**62)


class RemoveLiquidityBody(_DexBody):
    kind: Literal["remove_liquidity"]
    shares: int = Field(ge=1, le=2**62)
    min_x: int = Field(ge=0, le=MAX_AMOUNT)
    min_y: int = Field(ge=0, le=MAX_AMOUNT)


def split_pool(pool_id: str) -> tuple[str, str]:
    """The pool's two assets; raises InvalidInput unless the id is "X-Y" with X < Y."""
    asset_x, _, asset_y = pool_id.partition("-")
    if not asset_x or not asset_y or asset_x >= asset_y:
        raise InvalidTransaction("pool must be two assets in order, as 'X-Y' with X < Y.")
    return asset_x, asset_y


def _check_deadline(execution: Execution, body: _DexBody) -> None:
    if execution.height > body.deadline:
        raise Revert(f"deadline passed: block {execution.height} > {body.deadline}")


async def _pool(session: AsyncSession, pool_id: str) -> DexPool | None:
    return await session.scalar(
        select(DexPool).where(DexPool.id == pool_id).execution_options(populate_existing=True)
    )


async def _move_reserves(session: AsyncSession, pool_id: str, dx: int, dy: int, ds: int) -> None:
    await session.execute(
        update(DexPool)
        .where(DexPool.id == pool_id)
        .values(
            reserve_x=DexPool.reserve_x + dx,
            reserve_y=DexPool.reserve_y + dy,
            total_shares=DexPool.total_shares + ds,
        )
    )


async def _add_shares(session: AsyncSession, pool_id: str, address: str, shares: int) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    insert = dialect.insert(DexPosition).values(pool_id=pool_id, address=address, shares=shares)
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["pool_id", "address"],
            set_={"shares": DexPosition.shares + insert.excluded.shares},
        )
    )


async def _require_balance(session: AsyncSession, address: str, asset: str, amount: int) -> None:
    if await balance(session, address, asset) < amount:
        raise Revert(f"insufficient {asset} balance")


async def _execute_swap(execution: Execution, body: SwapBody) -> None:
    _check_deadline(execution, body)
    session = execution.session
    pool = await _pool(session, body.pool)
    if pool is None:
        raise Revert(f"no pool {body.pool}")
    if body.asset_in not in (pool.asset_x, pool.asset_y):
        raise Revert(f"{body.asset_in} is not in pool {pool.id}")
    x_in = body.asset_in == pool.asset_x
    reserve_in, reserve_out = (
        (pool.reserve_x, pool.reserve_y) if x_in else (pool.reserve_y, pool.reserve_x)
    )
    asset_out = pool.asset_y if x_in else pool.asset_x
    out = swap_out(body.amount_in, reserve_in, reserve_out, pool.fee_bps)
    if out < body.min_out:
        raise Revert(f"slippage: would receive {out} {asset_out} < min_out {body.min_out}")
    await debit(session, body.sender, body.asset_in, body.amount_in)
    here = pool_address(pool.id)
    await credit(session, here, body.asset_in, body.amount_in)
    await debit(session, here, asset_out, out)
    await credit(session, body.sender, asset_out, out)
    dx, dy = (body.amount_in, -out) if x_in else (-out, body.amount_in)
    await _move_reserves(session, pool.id, dx, dy, 0)


async def _execute_add_liquidity(execution: Execution, body: AddLiquidityBody) -> None:
    _check_deadline(execution, body)
    session = execution.session
    asset_x, asset_y = split_pool(body.pool)
    pool = await _pool(session, body.pool)
    if pool is None:
        shares = initial_shares(body.amount_x, body.amount_y)
        if shares <= 0:
            raise Revert(f"initial liquidity must exceed {MINIMUM_LIQUIDITY} shares")
        take_x, take_y = body.amount_x, body.amount_y
    else:
        shares, take_x, take_y = deposit_terms(
            body.amount_x, body.amount_y, pool.reserve_x, pool.reserve_y, pool.total_shares
        )
    if shares < body.min_shares:
        raise Revert(f"slippage: would mint {shares} shares < min_shares {body.min_shares}")
    await _require_balance(session, body.sender, asset_x, take_x)
    await _require_balance(session, body.sender, asset_y, take_y)
    here = pool_address(body.pool)
    for asset, amount in ((asset_x, take_x), (asset_y, take_y)):
        await debit(session, body.sender, asset, amount)
        await credit(session, here, asset, amount)
    if pool is None:
        session.add(
            DexPool(
                id=body.pool,
                asset_x=asset_x,
                asset_y=asset_y,
                reserve_x=take_x,
                reserve_y=take_y,
                total_shares=shares + MINIMUM_LIQUIDITY,
                fee_bps=DEFAULT_FEE_BPS,
                created_height=execution.height,
            )
        )
        await session.flush()
        await _add_shares(session, body.pool, BURN_ADDRESS, MINIMUM_LIQUIDITY)
    else:
        await _move_reserves(session, pool.id, take_x, take_y, shares)
    await _add_shares(session, body.pool, body.sender, shares)


async def _execute_remove_liquidity(execution: Execution, body: RemoveLiquidityBody) -> None:
    _check_deadline(execution, body)
    session = execution.session
    pool = await _pool(session, body.pool)
    if pool is None:
        raise Revert(f"no pool {body.pool}")
    held = await session.scalar(
        select(DexPosition.shares).where(
            DexPosition.pool_id == pool.id, DexPosition.address == body.sender
        )
    )
    if (held or 0) < body.shares:
        raise Revert(f"holds {held or 0} shares of {pool.id}, fewer than {body.shares}")
    out_x, out_y = withdrawal_terms(body.shares, pool.reserve_x, pool.reserve_y, pool.total_shares)
    if out_x < body.min_x or out_y < body.min_y:
        raise Revert(f"slippage: would receive {out_x}/{out_y} < min {body.min_x}/{body.min_y}")
    if out_x == 0 or out_y == 0:
        raise Revert("too few shares to withdraw anything")
    await session.execute(
        update(DexPosition)
        .where(DexPosition.pool_id == pool.id, DexPosition.address == body.sender)
        .values(shares=DexPosition.shares - body.shares)
    )
    await _move_reserves(session, pool.id, -out_x, -out_y, -body.shares)
    here = pool_address(pool.id)
    for asset, amount in ((pool.asset_x, out_x), (pool.asset_y, out_y)):
        await debit(session, here, asset, amount)
        await credit(session, body.sender, asset, amount)


DEX_KINDS: dict[str, TxKind] = {
    "swap": TxKind(SwapBody, _execute_swap),
    "add_liquidity": TxKind(AddLiquidityBody, _execute_add_liquidity),
    "remove_liquidity": TxKind(RemoveLiquidityBody, _execute_remove_liquidity),
}
"""The DEX's transaction kinds, for `Chain(kinds=DEX_KINDS)`."""


def binance_chain(block_interval_seconds: float = 3.0) -> Chain:
    """The simulated chain with the DEX on it (what the Binance system installs)."""
    return Chain(kinds=DEX_KINDS, block_interval_seconds=block_interval_seconds)


# Reads


@dataclass(frozen=True)
class Quote:
    pool: str
    asset_in: str
    amount_in: int
    asset_out: str
    amount_out: int
    fee: int
    """The part of amount_in kept by the pool, rounded down (informative)."""
    price_impact_bps: int
    """How much worse than the pool's current price the swap executes, in basis points."""


async def pools(session: AsyncSession) -> list[DexPool]:
    return list(await session.scalars(select(DexPool).order_by(DexPool.id)))


async def pool(session: AsyncSession, pool_id: str) -> DexPool:
    found = await _pool(session, pool_id)
    if found is None:
        raise NotFound(f"There is no pool {pool_id}.")
    return found


async def quote(session: AsyncSession, pool_id: str, asset_in: str, amount_in: int) -> Quote:
    """What a swap would pay against the current reserves (a later block may differ: sign with a
    `min_out` below this). Raises NotFound or InvalidInput."""
    found = await pool(session, pool_id)
    if asset_in not in (found.asset_x, found.asset_y):
        raise InvalidInput(f"{asset_in} is not in pool {pool_id}.")
    x_in = asset_in == found.asset_x
    r_in, r_out = (found.reserve_x, found.reserve_y) if x_in else (found.reserve_y, found.reserve_x)
    out = swap_out(amount_in, r_in, r_out, found.fee_bps)
    ideal = amount_in * r_out // r_in
    impact = (ideal - out) * BPS // ideal if ideal else BPS
    return Quote(
        pool=pool_id,
        asset_in=asset_in,
        amount_in=amount_in,
        asset_out=found.asset_y if x_in else found.asset_x,
        amount_out=out,
        fee=amount_in * found.fee_bps // BPS,
        price_impact_bps=impact,
    )


async def shares_of(session: AsyncSession, pool_id: str, address: str) -> int:
    value = await session.scalar(
        select(DexPosition.shares).where(
            DexPosition.pool_id == pool_id, DexPosition.address == address
        )
    )
    return int(value or 0)


# HTTP: /dex/* (the lead mounts the router under /api/binance)


class PoolOut(BaseModel):
    id: str
    asset_x: str
    asset_y: str
    reserve_x: int
    reserve_y: int
    total_shares: int
    fee_bps: int
    address: str


class QuoteOut(BaseModel):
    pool: str
    asset_in: str
    amount_in: int
    asset_out: str
    amount_out: int
    fee: int
    price_impact_bps: int


class PositionOut(BaseModel):
    pool: str
    address: str
    shares: int


def _pool_out(found: DexPool) -> PoolOut:
    return PoolOut(
        id=found.id,
        asset_x=found.asset_x,
        asset_y=found.asset_y,
        reserve_x=found.reserve_x,
        reserve_y=found.reserve_y,
        total_shares=found.total_shares,
        fee_bps=found.fee_bps,
        address=pool_address(found.id),
    )


def dex_router(chain: Chain) -> APIRouter:
    """Pools, quotes, positions and signed DEX transactions, at /dex/*. Public, like the chain:
    a DEX has no accounts, only signatures."""
    router = APIRouter(prefix="/dex")

    @router.get("/pools", response_model=list[PoolOut])
    async def list_pools(session: Session) -> list[PoolOut]:
        return [_pool_out(p) for p in await pools(session)]

    @router.get("/pools/{pool_id}", response_model=PoolOut)
    async def get_pool(pool_id: str, session: Session) -> PoolOut:
        return _pool_out(await pool(session, pool_id))

    @router.get("/pools/{pool_id}/positions/{address}", response_model=PositionOut)
    async def get_position(pool_id: str, address: str, session: Session) -> PositionOut:
        """An address's LP shares in a pool (0 if none)."""
        if not keys.ADDRESS.match(address):
            raise InvalidInput("address must be 0x and 40 lower-case hex digits.")
        await pool(session, pool_id)
        return PositionOut(
            pool=pool_id, address=address, shares=await shares_of(session, pool_id, address)
        )

    @router.get("/quote", response_model=QuoteOut)
    async def get_quote(
        session: Session,
        pool_id: str = Query(alias="pool", pattern=POOL_PATTERN),
        asset_in: str = Query(pattern=ASSET_PATTERN),
        amount_in: int = Query(ge=1, le=MAX_AMOUNT),
    ) -> QuoteOut:
        """The output of a swap against the current reserves."""
        return QuoteOut(**(await quote(session, pool_id, asset_in, amount_in)).__dict__)

    @router.post("/tx", status_code=202, response_model=TxOut, response_model_by_alias=True)
    async def submit_dex_tx(signed: SignedTx, session: WriteSession) -> TxOut:
        """Submit a signed swap / add_liquidity / remove_liquidity; the next block executes it."""
        if signed.body.get("kind") not in DEX_KINDS:
            raise InvalidTransaction(f"kind must be one of {', '.join(sorted(DEX_KINDS))}.")
        if isinstance(signed.body.get("pool"), str):
            split_pool(signed.body["pool"])
        return tx_out(await chain.submit(session, signed.body, signed.signature))

    @router.get("/tx/{tx_hash}", response_model=TxOut, response_model_by_alias=True)
    async def get_dex_tx(tx_hash: str, session: Session) -> TxOut:
        """A DEX transaction's status: pending, succeeded or reverted (with the reason)."""
        view = await chain.tx(session, tx_hash)
        if view.kind not in DEX_KINDS:
            raise NotFound(f"There is no DEX transaction {tx_hash}.")
        return tx_out(view)

    return router
