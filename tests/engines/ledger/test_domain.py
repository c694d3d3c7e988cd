"""`plan_batch` on its own: the ledger's rules with no database."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from casebook.engines.ledger.domain import (
    AccountState,
    Outcome,
    PendingStatus,
    StoredTransfer,
    Transfer,
    TransferKind,
    plan_batch,
)

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
MINT, ALICE, BOB, EURO = 1, 2, 3, 4


def accounts() -> dict[int, AccountState]:
    return {
        MINT: AccountState(MINT, "USD", credit_normal=True, allow_negative=True, debits_posted=100),
        ALICE: AccountState(
            ALICE, "USD", credit_normal=True, allow_negative=False, credits_posted=100
        ),
        BOB: AccountState(BOB, "USD", credit_normal=True, allow_negative=False),
        EURO: AccountState(EURO, "EUR", credit_normal=True, allow_negative=False),
    }


def plan(transfers: list[Transfer], state: dict[int, AccountState] | None = None, **kw: object):  # type: ignore[no-untyped-def]
    return plan_batch(
        transfers,
        state if state is not None else accounts(),
        kw.get("pendings", {}),  # type: ignore[arg-type]
        kw.get("existing", {}),  # type: ignore[arg-type]
        now=kw.get("now", NOW),  # type: ignore[arg-type]
        seqs=itertools.count(1),
    )


def test_malformed_transfers_are_refused_with_their_reason() -> None:
    result = plan(
        [
            Transfer(0, ALICE, BOB, 1),
            Transfer(2, ALICE, ALICE, 1),
            Transfer(3, ALICE, BOB, 0),
            Transfer(4, ALICE, EURO, 1),
            Transfer(5, ALICE, BOB, 1, timeout=5),
            Transfer(6, ALICE, BOB, 1, kind=TransferKind.POST),
            Transfer(7, ALICE, BOB, 1, pending_id=9),
            Transfer(8, ALICE, 99, 1),
            Transfer(9, ALICE, BOB, 1, code="x" * 33),
        ]
    )
    assert result.outcomes == [
        Outcome.ID_MUST_BE_POSITIVE,
        Outcome.ACCOUNTS_MUST_BE_DIFFERENT,
        Outcome.AMOUNT_MUST_BE_POSITIVE,
        Outcome.CURRENCIES_MUST_MATCH,
        Outcome.INVALID_TIMEOUT,
        Outcome.PENDING_ID_REQUIRED,
        Outcome.PENDING_ID_NOT_ALLOWED,
        Outcome.CREDIT_ACCOUNT_NOT_FOUND,
        Outcome.INVALID_TEXT,
    ]
    assert result.inserts == [] and all(not any(vars(d).values()) for d in result.deltas.values())


def test_a_batch_can_create_a_hold_and_post_it_and_a_repeated_id_is_a_retry() -> None:
    result = plan(
        [
            Transfer(10, ALICE, BOB, 80, kind=TransferKind.PENDING, timeout=60),
            Transfer(11, kind=TransferKind.POST, pending_id=10, amount=30),
            Transfer(11, kind=TransferKind.POST, pending_id=10, amount=30),
            Transfer(12, kind=TransferKind.VOID, pending_id=10),
        ]
    )
    assert result.outcomes == [
        Outcome.OK,
        Outcome.OK,
        Outcome.EXISTS,
        Outcome.PENDING_TRANSFER_ALREADY_POSTED,
    ]
    assert result.resolved == {10: PendingStatus.POSTED}
    assert (result.deltas[ALICE].debits_posted, result.deltas[ALICE].debits_pending) == (30, 0)
    assert result.inserts[0].timeout_at == NOW + timedelta(seconds=60)


def test_an_expired_hold_cannot_be_posted_and_only_expiry_releases_it() -> None:
    hold = StoredTransfer(
        id=10, seq=1, kind=TransferKind.PENDING, debit_account_id=ALICE, credit_account_id=BOB,
        amount=50, pending_id=None, pending_status=PendingStatus.PENDING, timeout=60,
        timeout_at=NOW - timedelta(seconds=1), code="", reference="", debit_balance=100,
        credit_balance=0, created_at=NOW - timedelta(seconds=61),
    )  # fmt: skip
    state = accounts()
    state[ALICE].debits_pending = 50
    state[BOB].credits_pending = 50
    result = plan(
        [
            Transfer(11, kind=TransferKind.POST, pending_id=10),
            Transfer(12, kind=TransferKind.EXPIRE, pending_id=10),
        ],
        state,
        pendings={10: hold},
    )
    assert result.outcomes == [Outcome.PENDING_TRANSFER_EXPIRED, Outcome.OK]
    assert state[ALICE].debits_pending == 0 and state[ALICE].posted == 100
    early = plan([Transfer(13, kind=TransferKind.EXPIRE, pending_id=10)], accounts(),
                 pendings={10: hold}, now=NOW - timedelta(seconds=30))  # fmt: skip
    assert early.outcomes == [Outcome.PENDING_TRANSFER_NOT_EXPIRED]


def test_a_chain_left_open_at_the_end_of_a_batch_is_refused_whole() -> None:
    result = plan([Transfer(1, ALICE, BOB, 10), Transfer(2, ALICE, BOB, 10, linked=True)])
    assert result.outcomes == [Outcome.OK, Outcome.LINKED_EVENT_CHAIN_OPEN]
    assert result.deltas[ALICE].debits_posted == 10


@given(
    st.lists(
        st.tuples(
            st.sampled_from([MINT, ALICE, BOB]),
            st.sampled_from([MINT, ALICE, BOB]),
            st.integers(1, 150),
            st.sampled_from([TransferKind.SINGLE, TransferKind.PENDING]),
            st.booleans(),
        ),
        max_size=30,
    )
)
def test_any_batch_keeps_debits_equal_to_credits_and_wallets_non_negative(
    specs: list[tuple[int, int, int, TransferKind, bool]],
) -> None:
    state = accounts()
    before = {i: a.counters() for i, a in state.items()}
    transfers = [
        Transfer(n + 1, d, c, amt, kind=k, linked=link)
        for n, (d, c, amt, k, link) in enumerate(specs)
    ]
    result = plan(transfers, state)
    for account in state.values():
        assert not account.breaks_rule()
        delta = result.deltas.get(account.id)
        expected = tuple(
            b + (getattr(delta, f) if delta else 0)
            for b, f in zip(
                before[account.id],
                ("debits_pending", "debits_posted", "credits_pending", "credits_posted"),
                strict=True,
            )
        )
        assert account.counters() == expected
    assert sum(a.debits_posted for a in state.values()) == sum(
        a.credits_posted for a in state.values()
    )
    assert sum(a.debits_pending for a in state.values()) == sum(
        a.credits_pending for a in state.values()
    )
    assert len(result.inserts) == sum(o is Outcome.OK for o in result.outcomes)
