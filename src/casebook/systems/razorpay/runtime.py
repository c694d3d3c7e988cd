"""Razorpay's per-process state at `platform.state["razorpay"]`: settings, the simulated
gateways and the smart router that learns their success rates."""

from __future__ import annotations

from casebook.engines.ledger import expiry
from casebook.platform.context import Platform
from casebook.systems.razorpay.config import RazorpaySettings
from casebook.systems.razorpay.gateways import Gateway, default_gateways
from casebook.systems.razorpay.routing import SmartRouter
from casebook.systems.razorpay.vault import CardVault

STATE_KEY = "razorpay"


class Razorpay:
    """Everything Razorpay keeps in one process."""

    def __init__(self, platform: Platform, config: RazorpaySettings | None = None) -> None:
        self.platform = platform
        self.config = config or RazorpaySettings()
        self.gateways: list[Gateway] = default_gateways(self.config.gateway_seed)
        for gateway in self.gateways:
            gateway.latency = self.config.gateway_latency_seconds
        self.router = self._router()
        self.vault = CardVault()
        """The card network's token vault (simulated); kept when settings change."""

    def _router(self) -> SmartRouter:
        return SmartRouter(
            self.gateways,
            window=self.config.routing_window,
            timeout=self.config.routing_timeout_seconds,
            explore=self.config.routing_explore,
            seed=self.config.gateway_seed,
        )

    def configure(self, config: RazorpaySettings) -> None:
        """Apply new settings (tests): fresh gateways and a router with no history."""
        self.config = config
        self.gateways = default_gateways(config.gateway_seed)
        for gateway in self.gateways:
            gateway.latency = config.gateway_latency_seconds
        self.router = self._router()

    def gateway(self, name: str) -> Gateway:
        for gateway in self.gateways:
            if gateway.name == name:
                return gateway
        raise KeyError(name)


def razorpay(platform: Platform) -> Razorpay:
    """This process's Razorpay state, created on first use."""
    state = platform.state.get(STATE_KEY)
    if state is None:
        state = platform.state[STATE_KEY] = Razorpay(platform)
    assert isinstance(state, Razorpay)
    return state


async def start(platform: Platform) -> None:
    """`System.on_startup`: state, the hold-expiry, webhook delivery, daily settlement and
    subscription billing jobs."""
    from casebook.systems.razorpay import billing, settlements, webhooks

    razorpay(platform)
    expiry.install(platform)
    webhooks.install(platform)
    settlements.install(platform)
    await settlements.schedule_daily(platform)
    billing.install(platform)
    await billing.schedule_billing(platform)
