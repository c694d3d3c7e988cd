"""Demo data: four people, friendships and a follow, a page, posts of every audience, a
reaction and a comment, declared interests, an ad and a running A/B experiment.

Sign in at /login as `demo@example.com` with password `casebook-demo` and open
/facebook-newsfeed/. The demo user is friends with Ada and Grace, follows Alan and Grace's page
"Casebook Engineering", and declared interests in programming and food, so Grace's ad ("Sponsored")
matches. Ada's "only me" draft is in the data and never on the demo user's page.

Idempotent: it does nothing once the demo page exists. An existing account with a demo email
(another system's demo made `demo@example.com`) is reused rather than registered again. Goes
through the same engine and system functions as the API, so posts fan out as usual; the
experiment starts only if no other experiment runs (one runs at a time).
"""

from __future__ import annotations

import contextlib

from sqlalchemy import select

from casebook.engines.feed import comments, graph, reactions, service
from casebook.engines.feed.models import FeedEntity
from casebook.engines.feed.runtime import feed_runtime
from casebook.platform.auth.models import User
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.systems.facebook_newsfeed import ads, experiments
from casebook.systems.facebook_newsfeed import interests as interest_mod

SLUG = "facebook-newsfeed"
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "casebook-demo"
DEMO_PAGE = "Casebook Engineering"
PEOPLE = (
    ("demo", DEMO_EMAIL, "Demo User"),
    ("ada", "ada@newsfeed.example.com", "Ada Lovelace"),
    ("grace", "grace@newsfeed.example.com", "Grace Hopper"),
    ("alan", "alan@newsfeed.example.com", "Alan Turing"),
)
POSTS = (
    ("ada", "Dinner on Friday at mine? Bringing the good bread. #food", "friends"),
    ("ada", "Draft: notes on the Analytical Engine, not ready to share.", "only_me"),
    ("grace", "A compiler is a translator that never gets tired. #programming", "public"),
    ("alan", "Can machines think? A short essay, out today. #computing", "public"),
    ("demo", "Hello from the demo account! Try a reaction or a comment.", "friends"),
)


async def _person(platform: Platform, email: str, name: str) -> int:
    async with platform.db.session() as session:
        existing = await session.scalar(select(User.id).where(User.email == email))
        if existing is not None:
            return int(existing)
        user = await register_user(session, email, DEMO_PASSWORD, name)
        return user.id


async def load_demo(platform: Platform) -> None:
    """`System.demo`: the people, graph, posts, engagement, ad and experiment above."""
    async with platform.db.session() as session:
        done = await session.scalar(
            select(FeedEntity.id).where(FeedEntity.system == SLUG, FeedEntity.name == DEMO_PAGE)
        )
    if done is not None:
        return
    runtime = feed_runtime(platform, SLUG)
    ids = {key: await _person(platform, email, name) for key, email, name in PEOPLE}
    for friend in ("ada", "grace"):
        await service.request_friendship(runtime, ids[friend], ids["demo"])
        await service.answer_friend_request(runtime, ids["demo"], ids[friend], accept=True)
    await service.follow(runtime, ids["demo"], ids["alan"])
    async with platform.db.session() as session:
        page = await graph.create_entity(
            session, SLUG, ids["grace"], "page", DEMO_PAGE, "How Casebook's systems are built."
        )
        page_id = page.id
    await service.follow(runtime, ids["demo"], page_id)
    published = {}
    for author, body, audience in POSTS:
        view = await service.publish(runtime, ids[author], body=body, audience=audience)
        published[author, audience] = int(view["id"])
    await service.publish(
        runtime,
        ids["grace"],
        body="We shipped the feed engine: hybrid fan-out, ranking, live updates. #engineering",
        audience="public",
        page_id=page_id,
    )
    grace_post = published["grace", "public"]
    async with platform.db.session() as session:
        await reactions.react(session, SLUG, ids["demo"], "post", grace_post, "love")
        await reactions.react(session, SLUG, ids["ada"], "post", grace_post, "like")
        await comments.add_comment(
            session, SLUG, ids["ada"], "post", grace_post, "And it never forgets a semicolon."
        )
        await interest_mod.set_declared(session, ids["demo"], ["programming", "food"])
        await ads.create_ad(
            session,
            ids["grace"],
            "Grace's Compiler School",
            title="Learn COBOL in 21 days",
            body="Evening classes for people who like their programs readable.",
            url="https://example.com/compiler-school",
            interests=["programming"],
            budget_impressions=10_000,
            starts_at=None,
            ends_at=None,
        )
        experiment = await experiments.create(
            session,
            ids["grace"],
            "Comments weigh more",
            [
                experiments.VariantSpec("control", 50, "engagement", {}),
                experiments.VariantSpec("comments-x2", 50, "engagement", {"comments": 4.0}),
            ],
        )
        experiment_id = experiment.id
    async with platform.db.session() as session:
        # Another experiment may run (one runs at a time): the demo's then stays a draft.
        with contextlib.suppress(experiments.ExperimentConflict):
            await experiments.start(session, ids["grace"], experiment_id)
