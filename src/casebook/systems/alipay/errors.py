"""Alipay's domain errors; each becomes an RFC 9457 problem with its own `type`."""

from __future__ import annotations

from casebook.platform.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound, Problem


class ProfileNotFound(NotFound):
    type_ = "alipay/profile-not-found"
    title = "No such Alipay user"


class UsernameTaken(Conflict):
    type_ = "alipay/username-taken"
    title = "This username or phone number is already registered"


class MerchantNotFound(NotFound):
    type_ = "alipay/merchant-not-found"
    title = "No such merchant"


class AlreadyMerchant(Conflict):
    type_ = "alipay/already-merchant"
    title = "You already run a merchant account"


class NotAMerchant(Forbidden):
    type_ = "alipay/not-a-merchant"
    title = "Only merchants can do this"


class PaymentNotFound(NotFound):
    type_ = "alipay/payment-not-found"
    title = "No such payment"


class PaymentClosed(Conflict):
    type_ = "alipay/payment-closed"
    title = "The payment can no longer change"


class SelfPayment(InvalidInput):
    type_ = "alipay/self-payment"
    title = "You cannot pay yourself"


class InvalidQrCode(InvalidInput):
    type_ = "alipay/invalid-qr"
    title = "This is not a valid Alipay payment code"


class QrCodeNotFound(NotFound):
    type_ = "alipay/qr-not-found"
    title = "No such payment code"


class QrCodeExpired(Gone):
    type_ = "alipay/qr-expired"
    title = "This payment code has expired"


class QrCodeAlreadyPaid(Conflict):
    type_ = "alipay/qr-already-paid"
    title = "This payment code was already paid"


class QrAmountMismatch(InvalidInput):
    type_ = "alipay/qr-amount"
    title = "The amount does not fit this payment code"


class BillNotFound(NotFound):
    type_ = "alipay/bill-not-found"
    title = "No such bill"


class BillAlreadyPaid(Conflict):
    type_ = "alipay/bill-already-paid"
    title = "The bill is already paid"


class BankAccountNotFound(NotFound):
    type_ = "alipay/bank-account-not-found"
    title = "No such linked bank account"


class BankDeclined(Problem):
    """The bank refused the movement (insufficient balance at the bank, closed account)."""

    status = 402
    type_ = "alipay/bank-declined"
    title = "The bank declined the transfer"


class BankUnavailable(Problem):
    status = 503
    type_ = "alipay/bank-unavailable"
    title = "The bank did not answer; try again"


class NotificationNotFound(NotFound):
    type_ = "alipay/notification-not-found"
    title = "No such notification"
