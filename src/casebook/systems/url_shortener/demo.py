"""Demo data for the embedded server: a demo account with a few links and some clicks.

Sign in at /login as `demo@example.com` with password `casebook-demo` (see
docs/systems/url-shortener.md). Loading is idempotent: the account and each alias are created
once; clicks are added only to links created by this run, so restarts do not pile them up.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, update

from casebook.platform.auth.models import User
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.url_shortener import service
from casebook.systems.url_shortener.clicks import agent_family
from casebook.systems.url_shortener.errors import AliasTaken
from casebook.systems.url_shortener.models import ClickCount, Link
from casebook.systems.url_shortener.runtime import shortener

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "casebook-demo"
DEMO_LINKS = (
    ("rfc9457", "https://www.rfc-editor.org/rfc/rfc9457", 302, 140),
    ("python-asyncio", "https://docs.python.org/3/library/asyncio.html", 302, 60),
    ("url-shortening", "https://en.wikipedia.org/wiki/URL_shortening", 301, 25),
)
_REFERRERS = (None, "news.ycombinator.com", "www.reddit.com", "t.co", "mail.example.com")
_COUNTRIES = ("US", "DE", "IN", "GB", "BR", "JP", None)
_AGENTS = (
    b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 "
    b"Safari/537.36",
    b"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    b"Version/17.5 Safari/605.1.15",
    b"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    b"curl/8.5.0",
)


async def demo_user_id(platform: Platform) -> int:
    """The demo account's id, registering it on first use."""
    async with platform.db.session() as session:
        user_id = await session.scalar(select(User.id).where(User.email == DEMO_EMAIL))
        if user_id is not None:
            return user_id
        user = await register_user(
            session, DEMO_EMAIL, DEMO_PASSWORD, "Demo user", settings=platform.settings
        )
        return user.id


async def load_demo(platform: Platform) -> None:
    """`System.demo`: the demo account, its links and a fortnight of clicks."""
    state = shortener(platform)
    user_id = await demo_user_id(platform)
    rng = random.Random(3)
    for alias, url, redirect_type, clicks in DEMO_LINKS:
        try:
            view = await service.shorten(
                state, user_id, url, alias=alias, redirect_type=redirect_type
            )
        except AliasTaken:
            continue
        await _add_clicks(session_link=view.link, count=clicks, rng=rng, platform=platform)


async def _add_clicks(
    *, session_link: Link, count: int, rng: random.Random, platform: Platform
) -> None:
    now = utcnow()
    counts: Counter[tuple[int, str, str, str]] = Counter()
    times = []
    for _ in range(count):
        at = now - timedelta(hours=rng.triangular(0, 14 * 24, 0))
        times.append(at)
        key = (
            int(at.timestamp() // 3600),
            rng.choice(_REFERRERS) or "",
            rng.choice(_COUNTRIES) or "",
            agent_family(rng.choice(_AGENTS)),
        )
        counts[key] += 1
    rows: list[dict[str, Any]] = [
        {
            "link_id": session_link.id,
            "hour": hour,
            "referrer_host": referrer,
            "country": country,
            "agent": agent,
            "clicks": clicks,
        }
        for (hour, referrer, country, agent), clicks in counts.items()
    ]
    async with platform.db.session() as session:
        await session.execute(insert(ClickCount), rows)
        await session.execute(
            update(Link)
            .where(Link.id == session_link.id)
            .values(
                click_count=Link.click_count + count,
                last_click_at=max(times),
            )
        )
