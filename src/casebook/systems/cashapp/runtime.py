"""CashApp's per-process state: the card key, the issuer, and the simulated card network.

Created on first use per `Platform` (`cashapp(platform)`); `start` (the system's `on_startup`)
also installs the ledger's hold-expiry job, which releases card holds nobody captured.
"""

from __future__ import annotations

from dataclasses import dataclass

from casebook.engines.ledger import expiry
from casebook.platform.context import Platform
from casebook.systems.cashapp.card_numbers import BIN, card_key
from casebook.systems.cashapp.issuer import CashAppIssuer
from casebook.systems.cashapp.network import CardNetwork, Merchant

MERCHANTS: tuple[Merchant, ...] = (
    Merchant("corner-coffee", "Corner Coffee", "5814"),
    Merchant("green-grocer", "Green Grocer", "5411"),
    Merchant("city-rides", "City Rides", "4121"),
    Merchant("book-nook", "Book Nook", "5942"),
    Merchant("hardware-hub", "Hardware Hub", "5251"),
)
"""The merchants registered on the simulated network (the boosts are for the first four)."""

_STATE_KEY = "cashapp"


@dataclass
class CashApp:
    key: bytes
    issuer: CashAppIssuer
    network: CardNetwork


def cashapp(platform: Platform) -> CashApp:
    """This process's CashApp state for `platform`."""
    state = platform.state.get(_STATE_KEY)
    if isinstance(state, CashApp):
        return state
    key = card_key(platform.settings.signing_key)
    issuer = CashAppIssuer(platform.db, key)
    network = CardNetwork(issuers={BIN: issuer})
    for merchant in MERCHANTS:
        network.register_merchant(merchant)
    state = CashApp(key, issuer, network)
    platform.state[_STATE_KEY] = state
    return state


async def start(platform: Platform) -> None:
    """`System.on_startup`: the expiry job for card holds, and this process's state."""
    expiry.install(platform)
    cashapp(platform)
