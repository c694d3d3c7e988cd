"""Binance (seed 004 §2). This round holds the simulated chain, the exchange's deposit and
withdrawal wallets and the on-chain DEX; the system itself (venue, SYSTEM) is assembled next round.
See docs/systems/binance.md."""
