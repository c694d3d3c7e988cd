"""A card network simulator: the external party between merchants and the Cash Card issuer.

It cannot exist here (Visa's network), so it is simulated, faithfully enough to drive the issuer
the way a network does, with its own state and rules:

- merchants are registered with the network (id, name, category code); only they may send
  messages, and only the merchant that made an authorization may capture or reverse it;
- the network validates what it can before involving an issuer: the card number must pass the
  Luhn check ("14" otherwise) and its BIN must route to an issuer ("15" otherwise); amounts are
  1 cent to 1,000,000 dollars;
- each authorization gets a network reference (`network_ref`) that every later message about it
  carries, which is how the issuer recognises a retry;
- a capture may be for less than the authorized amount, never more, and happens once; a reversal
  releases an uncaptured authorization;
- knobs: `latency_seconds` delays each issuer call; `lose_responses` makes the next N issuer
  answers to authorizations get lost on the way back: the merchant gets "91" (issuer unavailable)
  and the network sends the issuer a reversal for that reference, as real networks do when a
  response times out, so no money stays held for a sale the merchant believes failed.

Its state lives in memory (one network per app process): after a restart it has forgotten its
authorizations, and the issuer's holds on them simply expire.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import Protocol

from casebook.systems.cashapp.card_numbers import luhn_valid
from casebook.systems.cashapp.issuer import AuthorizationRequest, IssuerDecision

MAX_AMOUNT = 100_000_000
ISSUER_UNAVAILABLE = "91"
NO_SUCH_ISSUER = "15"
INVALID_CARD = "14"
INVALID_AMOUNT = "13"


class Issuer(Protocol):
    async def authorize(self, message: AuthorizationRequest) -> IssuerDecision: ...

    async def capture(self, network_ref: str, amount: int | None) -> IssuerDecision: ...

    async def reverse(self, network_ref: str) -> IssuerDecision: ...


@dataclass(frozen=True)
class Merchant:
    id: str
    name: str
    mcc: str
    """ISO 18245 merchant category code."""


class UnknownMerchant(Exception):
    """The sender is not a merchant of this network."""


class UnknownAuthorization(Exception):
    """No authorization with this reference was made by this merchant."""


@dataclass(frozen=True)
class NetworkResponse:
    network_ref: str
    code: str
    reason: str
    amount: int = 0
    discount: int = 0

    @property
    def approved(self) -> bool:
        return self.code == "00"


@dataclass
class _NetworkAuthorization:
    merchant_id: str
    operator: int
    """Who operates the merchant terminal that sent it (the API caller)."""
    amount: int
    state: str
    """`pending`, `approved`, `declined`, `lost`, `capturing`, `captured`, `reversing`,
    `reversed`, `expired`."""
    issuer: Issuer


@dataclass
class NetworkSettings:
    latency_seconds: float = 0.0
    lose_responses: int = 0


@dataclass
class CardNetwork:
    """The network: merchants, issuers by BIN, and the authorizations it has routed."""

    issuers: dict[str, Issuer]
    merchants: dict[str, Merchant] = field(default_factory=dict)
    settings: NetworkSettings = field(default_factory=NetworkSettings)
    authorizations: dict[str, _NetworkAuthorization] = field(default_factory=dict)

    def register_merchant(self, merchant: Merchant) -> None:
        self.merchants[merchant.id] = merchant

    def _merchant(self, merchant_id: str) -> Merchant:
        merchant = self.merchants.get(merchant_id)
        if merchant is None:
            raise UnknownMerchant(merchant_id)
        return merchant

    def _route(self, pan: str) -> Issuer | None:
        for bin_, issuer in self.issuers.items():
            if pan.startswith(bin_):
                return issuer
        return None

    async def _call(self) -> None:
        if self.settings.latency_seconds:
            await asyncio.sleep(self.settings.latency_seconds)

    async def authorize(
        self,
        merchant_id: str,
        *,
        operator: int,
        pan: str,
        exp_month: int,
        exp_year: int,
        cvv: str | None,
        amount: int,
        currency: str = "USD",
    ) -> NetworkResponse:
        """Route a merchant's authorization request to the card's issuer and relay its answer.

        Raises UnknownMerchant. O(number of issuers) routing plus one issuer call.
        """
        merchant = self._merchant(merchant_id)
        ref = secrets.token_hex(8)
        if not 0 < amount <= MAX_AMOUNT:
            return NetworkResponse(ref, INVALID_AMOUNT, "invalid_amount")
        if not luhn_valid(pan):
            return NetworkResponse(ref, INVALID_CARD, "invalid_card_number")
        issuer = self._route(pan)
        if issuer is None:
            return NetworkResponse(ref, NO_SUCH_ISSUER, "no_such_issuer")
        record = _NetworkAuthorization(merchant.id, operator, amount, "pending", issuer)
        self.authorizations[ref] = record
        await self._call()
        decision = await issuer.authorize(
            AuthorizationRequest(
                network_ref=ref,
                pan=pan,
                exp_month=exp_month,
                exp_year=exp_year,
                cvv=cvv,
                merchant_id=merchant.id,
                merchant_name=merchant.name,
                amount=amount,
                currency=currency,
            )
        )
        if self.settings.lose_responses > 0:
            self.settings.lose_responses -= 1
            record.state = "lost"
            if decision.approved:
                await issuer.reverse(ref)
            return NetworkResponse(ref, ISSUER_UNAVAILABLE, "issuer_unavailable")
        record.state = "approved" if decision.approved else "declined"
        return NetworkResponse(
            ref, decision.code, decision.reason, decision.amount, decision.discount
        )

    def _own(self, merchant_id: str, operator: int, ref: str) -> _NetworkAuthorization:
        self._merchant(merchant_id)
        record = self.authorizations.get(ref)
        if record is None or record.merchant_id != merchant_id or record.operator != operator:
            raise UnknownAuthorization(ref)
        return record

    async def capture(
        self, merchant_id: str, ref: str, *, operator: int, amount: int | None = None
    ) -> NetworkResponse:
        """Clear an approved authorization for `amount` (None: in full). Raises UnknownMerchant,
        UnknownAuthorization."""
        record = self._own(merchant_id, operator, ref)
        if record.state != "approved":
            return NetworkResponse(ref, "12", f"authorization_{record.state}")
        if amount is not None and not 0 < amount <= record.amount:
            return NetworkResponse(ref, INVALID_AMOUNT, "capture_exceeds_authorization")
        issuer = record.issuer
        record.state = "capturing"
        await self._call()
        try:
            decision = await issuer.capture(ref, amount)
        except BaseException:
            record.state = "approved"
            raise
        record.state = "captured" if decision.approved else "approved"
        if decision.code == "12":
            record.state = decision.reason.removeprefix("authorization_")
        return NetworkResponse(
            ref, decision.code, decision.reason, decision.amount, decision.discount
        )

    async def reverse(self, merchant_id: str, ref: str, *, operator: int) -> NetworkResponse:
        """Release an uncaptured authorization. Raises UnknownMerchant, UnknownAuthorization."""
        record = self._own(merchant_id, operator, ref)
        if record.state != "approved":
            return NetworkResponse(ref, "12", f"authorization_{record.state}")
        issuer = record.issuer
        record.state = "reversing"
        await self._call()
        try:
            decision = await issuer.reverse(ref)
        except BaseException:
            record.state = "approved"
            raise
        record.state = "reversed" if decision.approved else "approved"
        if decision.code == "12":
            record.state = decision.reason.removeprefix("authorization_")
        return NetworkResponse(
            ref, decision.code, decision.reason, decision.amount, decision.discount
        )
