"""Which Host header names a verified custom short domain.

The set of verified domains is small (one per customer brand), so each process keeps all of them
in a dict: the redirect fast path checks a Host in O(1) with no I/O, and no stream of made-up Host
headers can reach the database. The table is reloaded every `REFRESH_SECONDS` by the background
task and immediately after a domain is verified or deleted in this process; other processes see
such a change within one refresh interval.
"""

from __future__ import annotations

from sqlalchemy import select

from casebook.platform.db import Database
from casebook.systems.url_shortener.models import Domain

REFRESH_SECONDS = 10.0


def request_host(raw: bytes) -> str:
    """The host part of a Host header value, lower case, without port or trailing dot."""
    host = raw.decode("latin-1").lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.split(":", 1)[0].rstrip(".")


class DomainHosts:
    """Verified custom short domains of this deployment: host → domain id."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self.by_host: dict[str, int] = {}

    async def reload(self) -> None:
        """Replace the table with the verified domains in the database. One query."""
        async with self._database.engine.connect() as conn:
            result = await conn.execute(
                select(Domain.host, Domain.id).where(Domain.verified_at.is_not(None))
            )
            self.by_host = {host: domain_id for host, domain_id in result}

    def domain_id(self, host: str) -> int | None:
        """The id of the verified domain `host`, if it is one. O(1)."""
        return self.by_host.get(host)
