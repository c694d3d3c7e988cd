"""Every table of the Binance system, imported together (the registry imports this module)."""

from casebook.systems.binance import chain_models, dex_models, wallets
from casebook.systems.binance.apikeys import BinanceApiKey
from casebook.systems.binance.futures_models import FuturesPosition  # noqa: F401
from casebook.systems.binance.launchpad_models import LaunchpadProject  # noqa: F401
from casebook.systems.binance.margin_models import BinanceMarginAccount  # noqa: F401
from casebook.systems.binance.staff import BinanceStaff

__all__ = ["BinanceApiKey", "BinanceStaff", "chain_models", "dex_models", "wallets"]
