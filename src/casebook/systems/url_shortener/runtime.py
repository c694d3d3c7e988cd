"""The URL Shortener's per-process state, kept at `platform.state["url-shortener"]`.

One `Shortener` per app process: its settings, the code generator and counter block, the
group-commit writer of new links, the link cache, the table of verified custom hosts, the click
buffer and the domain verifier. `start` and `stop` are the system's startup and shutdown hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import structlog

from casebook.platform.context import Platform
from casebook.systems.url_shortener.clicks import ClickRecorder
from casebook.systems.url_shortener.codes import CodeGenerator, derive_code_key
from casebook.systems.url_shortener.config import ShortenerSettings
from casebook.systems.url_shortener.counter import CodeAllocator
from casebook.systems.url_shortener.domains import DomainVerifier
from casebook.systems.url_shortener.hosts import REFRESH_SECONDS, DomainHosts
from casebook.systems.url_shortener.linkcache import LinkCache
from casebook.systems.url_shortener.writer import LinkWriter

if TYPE_CHECKING:
    from casebook.systems.url_shortener.edge import RedirectEdge

STATE_KEY = "url-shortener"
log = structlog.get_logger("casebook.url_shortener")


class Shortener:
    """Everything the URL Shortener keeps in one process."""

    def __init__(self, platform: Platform, config: ShortenerSettings | None = None) -> None:
        self.platform = platform
        self.config = config or ShortenerSettings()
        self.codes = CodeGenerator(derive_code_key(platform.settings.signing_key))
        self.allocator = CodeAllocator(platform.db, self.config.code_block_size)
        self.writer = LinkWriter(platform.db)
        self.links = LinkCache(platform, self.config)
        self.hosts = DomainHosts(platform.db)
        self.clicks = ClickRecorder(platform.db, self.config)
        self.verifier = DomainVerifier(
            self.config.domain_verify_timeout_seconds, nameservers=self.config.dns_nameservers
        )
        base = urlsplit(platform.settings.base_url)
        self.scheme = base.scheme or "http"
        self.main_netloc = base.netloc
        self.main_hosts = self._main_hosts()
        """Host names of the main short host; a target URL on any of them would loop."""
        self._refresher: asyncio.Task[None] | None = None
        self.edge: RedirectEdge | None = None
        """The redirect listener, when `redirect_port` is set."""

    def _main_hosts(self) -> frozenset[str]:
        base = (urlsplit(self.platform.settings.base_url).hostname or "").lower()
        return frozenset({base, *(h.lower() for h in self.config.short_hosts)} - {""})

    def configure(self, config: ShortenerSettings) -> None:
        """Apply new settings to every component (used by tests)."""
        self.config = config
        self.main_hosts = self._main_hosts()
        self.allocator.block_size = config.code_block_size
        self.links.config = config
        self.clicks.config = config
        self.verifier.timeout = config.domain_verify_timeout_seconds
        self.verifier.nameservers = list(config.dns_nameservers)

    def short_url(self, code: str, domain_host: str | None = None) -> str:
        """The public short URL of `code` on the main host or on custom domain `domain_host`."""
        if domain_host:
            return f"{self.scheme}://{domain_host}/{code}"
        return f"{self.scheme}://{self.main_netloc}/s/{code}"

    async def _refresh_hosts(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.hosts.reload()
            except Exception:
                log.exception("reloading custom domains failed")


def shortener(platform: Platform) -> Shortener:
    """The URL Shortener state of `platform` (created by `start`)."""
    state: Shortener = platform.state[STATE_KEY]
    return state


async def start(platform: Platform) -> None:
    """Startup hook: load the verified domains, start the link writer and the click flusher."""
    state = Shortener(platform)
    platform.state[STATE_KEY] = state
    await state.hosts.reload()
    state.writer.start()
    state.clicks.start()
    state._refresher = asyncio.get_running_loop().create_task(
        state._refresh_hosts(), name="url-shortener-hosts"
    )


async def ready(platform: Platform) -> None:
    """Ready hook: open the redirect listener (`redirect_port`), once the app can answer."""
    state = shortener(platform)
    if state.config.redirect_port is not None:
        from casebook.systems.url_shortener.edge import RedirectEdge

        state.edge = RedirectEdge(state)
        await state.edge.start(state.config.redirect_host, state.config.redirect_port)


async def stop(platform: Platform) -> None:
    """Shutdown hook: stop the background tasks, commit the queued links and flush the buffered
    clicks."""
    state = platform.state.pop(STATE_KEY, None)
    if state is None:
        return
    if state.edge is not None:
        await state.edge.stop()
    if state._refresher is not None:
        state._refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await state._refresher
    await state.writer.stop()
    await state.links.close()
    try:
        await state.clicks.stop()
    except Exception:
        log.exception("final click flush failed", lost=state.clicks.pending)
