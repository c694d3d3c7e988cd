"""Many concurrent orders and replaces from accounts that can afford only some of them: nobody
overspends or sells what they do not hold, each hold matches its open order, the ledger balances."""

from __future__ import annotations

import asyncio
import random

from sqlalchemy import select

from casebook.engines.ledger import InsufficientFunds
from casebook.engines.matching.errors import OrderNotOpen
from casebook.engines.matching.models import MatchingOrder
from casebook.engines.matching.types import Side
from casebook.engines.matching.venue import NewOrder, OrderView, Venue
from tests.engines.matching.conftest import assert_books_balance, balances, funded, list_stock
from tests.engines.matching.test_settlement import fee_income

BUYERS, SELLERS, ORDERS = 4, 4, 6


async def test_concurrent_orders_and_replaces_never_overspend(venue: Venue) -> None:
    aapl = await list_stock(venue, maker_bps=5, taker_bps=20)
    market = aapl.market
    rng = random.Random(7)
    # Each buyer can afford three one-lot bids at 100 (fees included), each seller holds 3 shares.
    buyers = [
        await funded(venue, f"b{i}", USD=3 * market.hold_amount(Side.BUY, 100, 1))
        for i in range(BUYERS)
    ]
    sellers = [await funded(venue, f"s{i}", AAPL=3) for i in range(SELLERS)]

    async def attempt(order: NewOrder) -> OrderView | None:
        try:
            return await venue.place(order)
        except InsufficientFunds:
            return None

    bids = await asyncio.gather(
        *(attempt(NewOrder(b, aapl.id, Side.BUY, 1, 100)) for b in buyers for _ in range(ORDERS))
    )
    for i, buyer in enumerate(buyers):
        assert sum(v is not None for v in bids[i * ORDERS : (i + 1) * ORDERS]) == 3, buyer
    asks = await asyncio.gather(
        *(
            attempt(NewOrder(s, aapl.id, Side.SELL, rng.randint(1, 2), rng.choice((101, 102, 103))))
            for s in sellers
            for _ in range(ORDERS)
        )
    )
    assert any(a is not None for a in asks) and any(a is None for a in asks)

    outcomes: list[str] = []

    async def move(account: int, order_id: int, price: int, qty: int) -> None:
        try:
            await venue.replace(account, order_id, price, qty)
            outcomes.append("replaced")
        except InsufficientFunds:
            outcomes.append("refused")
        except OrderNotOpen:
            outcomes.append("gone")

    moves = []
    for view in [v for v in (*bids, *asks) if v is not None]:
        price = view.price + rng.choice((-2, -1, 1, 2, 3))
        moves.append(move(view.account_id, view.id, max(price, 1), rng.randint(1, 3)))
    await asyncio.gather(*moves)
    assert {"replaced", "refused"} <= set(outcomes), outcomes
    assert venue.writer.batches < len(moves) + len(bids) + len(asks)  # group commit happened

    usd = aapl_total = 0
    async with venue.platform.db.session() as session:
        rows = list(await session.scalars(select(MatchingOrder)))
    for account in (*buyers, *sellers):
        held = {"USD": 0, "AAPL": 0}
        for row in rows:
            if row.account_id == account and row.status in ("open", "partially_filled"):
                side = Side.BUY if row.side == "buy" else Side.SELL
                held[market.hold_asset(side)] += market.hold_amount(side, row.price, row.open_qty)
                assert venue.book(aapl.id).open_order(row.id) == (
                    account,
                    side,
                    row.price,
                    row.open_qty,
                )
        for asset, (total, locked) in (await balances(venue, account)).items():
            assert 0 <= locked <= total, (account, asset)
            assert locked == held[asset], (account, asset)
            usd += total if asset == "USD" else 0
            aapl_total += total if asset == "AAPL" else 0
    assert aapl_total == 3 * SELLERS
    assert usd + await fee_income(venue) == BUYERS * 3 * market.hold_amount(Side.BUY, 100, 1)
    await assert_books_balance(venue)
