"""Razorpay's domain errors. Each is a problem+json `Problem`; the `/v1` compatibility API also
renders it in Razorpay's own error shape (`{"error": {"code", "description", ...}}`, see
`compat.razorpay_error_body`), which the official SDKs parse."""

from __future__ import annotations

from typing import Any

from casebook.platform.errors import Conflict, InvalidInput, NotFound, Unauthorized


class EntityNotFound(NotFound):
    type_ = "razorpay/not-found"
    title = "The id provided does not exist"

    def __init__(self, detail: str = "The id provided does not exist", **extensions: Any) -> None:
        super().__init__(detail, **extensions)


class BadPaymentRequest(InvalidInput):
    """Input Razorpay refuses (`BAD_REQUEST_ERROR`); `field` names the offending field."""

    type_ = "razorpay/bad-request"
    title = "The request is not valid"

    def __init__(self, detail: str, field: str | None = None) -> None:
        if field is None:
            super().__init__(detail)
        else:
            super().__init__(detail, field=field)


class IllegalTransition(Conflict):
    """The payment (or link, or order) is not in a state that allows this."""

    type_ = "razorpay/illegal-transition"
    title = "Not allowed in the entity's current state"


class RefundExceedsCaptured(Conflict):
    type_ = "razorpay/refund-exceeds-captured"
    title = "The refund amount exceeds what is left to refund"


class MerchantExists(Conflict):
    type_ = "razorpay/merchant-exists"
    title = "This user already has a merchant account"


class NoMerchant(NotFound):
    type_ = "razorpay/no-merchant"
    title = "This user has no merchant account"


class AuthenticationFailed(Unauthorized):
    type_ = "razorpay/authentication-failed"
    title = "Authentication failed"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="Razorpay"'}
