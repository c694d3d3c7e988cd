"""The matching engine: price-time order books, their journal, market data and settlement in the
ledger, shared by the trading systems (Stock Exchange, Zerodha, Robinhood, Binance)."""
