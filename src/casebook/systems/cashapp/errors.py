"""CashApp's problems (RFC 9457 types under `/problems/cashapp/…`)."""

from __future__ import annotations

from casebook.platform.errors import Conflict, InvalidInput, NotFound


class ProfileRequired(Conflict):
    type_ = "cashapp/profile-required"
    title = "Create your $cashtag first"


class CashtagTaken(Conflict):
    type_ = "cashapp/cashtag-taken"
    title = "That $cashtag, phone or e-mail belongs to someone else"


class InvalidCashtag(InvalidInput):
    type_ = "cashapp/invalid-cashtag"
    title = "A $cashtag is $ and 1 to 20 letters or digits"


class RecipientNotFound(NotFound):
    type_ = "cashapp/recipient-not-found"
    title = "Nobody has that $cashtag, phone or e-mail"


class SelfPayment(InvalidInput):
    type_ = "cashapp/self-payment"
    title = "You cannot pay or request money from yourself"


class PaymentNotFound(NotFound):
    type_ = "cashapp/payment-not-found"
    title = "No such payment (or not yours)"


class RequestNotPending(Conflict):
    type_ = "cashapp/request-not-pending"
    title = "The request was already answered"


class NotYourTurn(Conflict):
    type_ = "cashapp/not-allowed-on-request"
    title = "Only the payer accepts or declines a request; only the requester cancels it"


class CardNotFound(NotFound):
    type_ = "cashapp/card-not-found"
    title = "No such card (or not yours)"


class CardAlreadyIssued(Conflict):
    type_ = "cashapp/card-already-issued"
    title = "You already have a Cash Card"


class BoostNotFound(NotFound):
    type_ = "cashapp/boost-not-found"
    title = "No such boost"


class AuthorizationNotFound(NotFound):
    type_ = "cashapp/authorization-not-found"
    title = "No such card authorization"


class AuthorizationClosed(Conflict):
    type_ = "cashapp/authorization-closed"
    title = "The authorization was already captured, reversed, declined or expired"


class CaptureTooLarge(InvalidInput):
    type_ = "cashapp/capture-exceeds-authorization"
    title = "A capture cannot exceed the authorized amount"
