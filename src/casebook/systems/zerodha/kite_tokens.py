"""Kite instrument tokens for the exchange's INR listings.

Kite's ticker packs a token in 32 bits whose low byte is the exchange segment (NSE = 1), so the
venue's 64-bit instrument ids cannot serve. A listing's token is `(n << 8) | 1`, n = its rank
(from 1) among the INR listings ordered by instrument id. Ids are time-ordered and listings are
never removed (delisting is not built), so a token never changes and every process computes
the same one. O(listings) to build the map; listings are few.
"""

from __future__ import annotations

from casebook.engines.matching.venue import Instrument, Venue

NSE_SEGMENT = 1
CASH = "INR"


def tokens(venue: Venue) -> dict[int, int]:
    """Instrument id → Kite instrument token, for every INR listing of the venue."""
    ids = sorted(i.id for i in venue.listed.values() if i.quote_asset == CASH)
    return {instrument_id: (rank << 8) | NSE_SEGMENT for rank, instrument_id in enumerate(ids, 1)}


def token_of(venue: Venue, instrument_id: int) -> int:
    """The token of a listing (0 for an instrument that is not an INR listing)."""
    return tokens(venue).get(instrument_id, 0)


def instrument_of(venue: Venue, token: int) -> Instrument | None:
    """The INR listing of a token, or None."""
    for instrument_id, known in tokens(venue).items():
        if known == token:
            return venue.listed[instrument_id]
    return None
