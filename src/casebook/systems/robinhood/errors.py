"""Robinhood's own problems (RFC 9457 types under `/problems/robinhood/…`)."""

from __future__ import annotations

from casebook.platform.errors import Conflict, Forbidden, InvalidInput, NotFound


class OnboardingRequired(Forbidden):
    type_ = "robinhood/onboarding-required"
    title = "Finish onboarding before trading"


class OnboardingRejected(Forbidden):
    type_ = "robinhood/onboarding-rejected"
    title = "The application was not approved"


class AlreadyOnboarded(Conflict):
    type_ = "robinhood/already-onboarded"
    title = "The customer is already onboarded"


class NoMarket(InvalidInput):
    type_ = "robinhood/no-market"
    title = "There is no price to trade at"


class InsufficientShares(Conflict):
    type_ = "robinhood/insufficient-shares"
    title = "Not enough shares"


class OrderNotFound(NotFound):
    type_ = "robinhood/order-not-found"
    title = "No such order"


class OrderClosed(Conflict):
    type_ = "robinhood/order-closed"
    title = "The order is no longer open"


class OrderBusy(Conflict):
    type_ = "robinhood/order-busy"
    title = "The order is being matched with another customer's; try again in a moment"


class UnknownSymbol(NotFound):
    type_ = "robinhood/unknown-symbol"
    title = "No such stock"
