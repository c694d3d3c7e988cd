"""Money to friends, family and businesses: wallet to wallet, one ledger transfer.

Atomic (one ledger transfer moves the money and the row that records it commits with it) and
idempotent through the endpoint's `Idempotency-Key`. The transfer row's id is the ledger
transfer's id, so the two can never disagree.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Ledger, Transfer
from casebook.platform.ids import new_id
from casebook.platform.pagination import Keyset, PageParams
from casebook.systems.alipay import accounts
from casebook.systems.alipay.errors import SelfPayment
from casebook.systems.alipay.models import P2PTransfer
from casebook.systems.alipay.notifications import notify, yuan
from casebook.systems.alipay.users import resolve_user

NEWEST_FIRST = Keyset(P2PTransfer.id)


async def send(
    session: AsyncSession, sender_id: int, recipient: str, amount: int, memo: str
) -> P2PTransfer:
    """Move `amount` fen from the sender's wallet to the recipient's (username, phone or
    e-mail). Raises ProfileNotFound (404), SelfPayment (422), InsufficientFunds (409)."""
    recipient_id = await resolve_user(session, recipient)
    if recipient_id == sender_id:
        raise SelfPayment("You cannot send money to yourself.")
    ledger = Ledger(session)
    source = await accounts.wallet(ledger, sender_id)
    target = await accounts.wallet(ledger, recipient_id)
    row = P2PTransfer(
        id=new_id(), sender_id=sender_id, recipient_id=recipient_id, amount=amount, memo=memo
    )
    session.add(row)
    await ledger.transfer(
        Transfer(
            id=row.id,
            debit_account_id=source.id,
            credit_account_id=target.id,
            amount=amount,
            code="p2p-transfer",
            reference=f"alipay:transfer:{row.id}",
        )
    )
    notify(session, sender_id, "transfer.sent", f"Sent {yuan(amount)} to {recipient}.")
    notify(session, recipient_id, "transfer.received", f"Received {yuan(amount)}. {memo}".strip())
    return row


async def list_transfers(
    session: AsyncSession, user_id: int, page: PageParams
) -> tuple[list[P2PTransfer], str | None]:
    """Transfers the user sent or received, newest first."""
    stmt = select(P2PTransfer).where(
        or_(P2PTransfer.sender_id == user_id, P2PTransfer.recipient_id == user_id)
    )
    return await NEWEST_FIRST.fetch(session, stmt, page)
