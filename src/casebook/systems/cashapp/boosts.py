"""Cash Boost: merchant offers a user adds to their Cash Card, one at a time.

A boost takes a percentage off the purchase amount at the merchant it names, up to a cap. The
discount is computed on the purchase amount (the seed computed it on the card's balance, which
made the discount grow with how rich the user was, not with what they bought). The user's wallet
pays `amount - discount`; CashApp's `boost-funding` account pays the discount to the merchant, so
the merchant still receives the full price.

The offers are a fixed catalogue (CashApp curates them; there is no merchant self-service here).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Boost:
    id: str
    merchant_id: str
    """The card network's merchant id the boost applies at."""
    title: str
    percent_bp: int
    """Discount in basis points (1000 = 10 %); below 10000, so the user always pays something."""
    max_discount: int
    """Cap per purchase, in cents."""

    def discount(self, amount: int) -> int:
        """The discount on a purchase of `amount` cents: floor(amount * percent), capped.

        Non-decreasing in `amount`, and `amount - discount` is too, so capturing less than was
        authorized never makes the user pay more than they were held for.
        """
        return min(amount * self.percent_bp // 10_000, self.max_discount)


CATALOGUE: tuple[Boost, ...] = (
    Boost("coffee-10", "corner-coffee", "10% off at Corner Coffee", 1000, 200),
    Boost("grocer-5", "green-grocer", "5% off at Green Grocer", 500, 1000),
    Boost("rides-15", "city-rides", "15% off City Rides", 1500, 500),
    Boost("books-20", "book-nook", "20% off at Book Nook", 2000, 1500),
)
BOOSTS = {boost.id: boost for boost in CATALOGUE}
