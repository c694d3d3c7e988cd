"""Demo data: three users, a few stories of each kind, a comment thread and votes.

Log in with username `demo` and password `casebook-demo`. Loading is idempotent: it does nothing
once the `demo` account exists. It goes through the same service functions as the API (so the
new-account limits apply: each demo user submits at most two stories).
"""

from __future__ import annotations

from casebook.platform.context import Platform
from casebook.systems.hacker_news import accounts, service
from casebook.systems.hacker_news.runtime import hacker_news

DEMO_PASSWORD = "casebook-demo"
USERS = ("demo", "ada", "grace")
STORIES = (
    (
        "ada",
        "The Analytical Engine, annotated",
        "https://en.wikipedia.org/wiki/Analytical_engine",
        None,
    ),
    ("grace", "Ask HN: What was your first compiler?", None, "Mine was A-0, in 1952."),
    (
        "demo",
        "Show HN: Casebook, system-design case studies built for real",
        "https://example.com/casebook",
        None,
    ),
    (
        "grace",
        "RFC 9457: Problem Details for HTTP APIs",
        "https://www.rfc-editor.org/rfc/rfc9457",
        None,
    ),
)


async def load_demo(platform: Platform) -> None:
    """`System.demo`: the demo users, stories, a small thread and some votes."""
    async with platform.db.session() as session:
        if await accounts.account_named(session, "demo") is not None:
            return
    state = hacker_news(platform)
    ids: dict[str, int] = {}
    for name in USERS:
        account = await accounts.register(platform, name, f"{name}@hn.example.com", DEMO_PASSWORD)
        ids[name] = account.user_id
    stories = [
        await service.submit_story(state, ids[by], title, url, text)
        for by, title, url, text in STORIES
    ]
    first = await service.add_comment(
        state, ids["grace"], stories[0].id, "Note G is the first program."
    )
    await service.add_comment(state, ids["demo"], first.id, "And it computes Bernoulli numbers.")
    await service.add_comment(state, ids["ada"], stories[1].id, "I wrote mine on paper.")
    for voter, story in (("demo", 0), ("grace", 0), ("ada", 2), ("demo", 1), ("ada", 3)):
        if stories[story].by_id != ids[voter]:
            await service.vote(state, ids[voter], stories[story].id, "up")
