"""Readers: subscribing (exact counts under concurrency), RSS parsed by feedparser, and the
analytics of opens (pixel) and clicks (tracked redirects to the post's own links only)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import feedparser
import httpx
import pytest

from casebook.platform.context import Platform
from casebook.systems.substack.runtime import SEND_JOB, Substack
from tests.platform.smtp_sink import SmtpSink
from tests.systems.substack.conftest import API, Account, subscribe, write_post


@pytest.mark.feature("substack", "subscriptions")
@pytest.mark.feature("substack", "user-accounts")
async def test_subscriber_counts_are_exact_under_concurrency(
    client: httpx.AsyncClient,
    new_account: Callable[[], Awaitable[Account]],
    publication: dict[str, Any],
) -> None:
    accounts = [await new_account() for _ in range(6)]
    url = f"{API}/publications/{publication['id']}/subscription"
    # Everyone subscribes twice at once: each counts once.
    done = await asyncio.gather(
        *(client.post(url, headers=a.headers) for a in accounts for _ in range(2))
    )
    assert {d.status_code for d in done} == {201}
    count = (await client.get(f"{API}/publications/{publication['id']}")).json()
    assert count["subscriber_count"] == 6
    leaving = await asyncio.gather(
        *(client.delete(url, headers=a.headers) for a in accounts[:3] for _ in range(2))
    )
    assert sorted(d.status_code for d in leaving) == [204] * 3 + [404] * 3
    count = (await client.get(f"{API}/publications/{publication['id']}")).json()
    assert count["subscriber_count"] == 3
    mine = await client.get(f"{API}/subscriptions", headers=accounts[4].headers)
    assert [s["publication_id"] for s in mine.json()] == [publication["id"]]
    gone = await client.get(f"{API}/subscriptions", headers=accounts[0].headers)
    assert gone.json() == []
    assert (await client.post(url)).status_code == 401
    discover = await client.get(f"{API}/publications")
    assert publication["id"] in [p["id"] for p in discover.json()["items"]]


@pytest.mark.feature("substack", "rss")
async def test_the_rss_feed_parses_and_holds_only_published_posts(
    client: httpx.AsyncClient, writer: Account, publication: dict[str, Any]
) -> None:
    free = await write_post(
        client, writer, publication["id"], title="Free & <open>", publish="now", send_email=False
    )
    await write_post(
        client,
        writer,
        publication["id"],
        title="Paid one",
        publish="now",
        send_email=False,
        audience="paid",
        body="Teaser.\n<!-- paywall -->\n\nHidden words.",
    )
    await write_post(client, writer, publication["id"], title="Still a draft")
    response = await client.get(f"{API}/publications/{publication['slug']}/feed.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/rss+xml")
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0, parsed.bozo_exception
    assert parsed.version == "rss20"
    assert parsed.feed.title == "The Weekly Byte"
    titles = [entry.title for entry in parsed.entries]
    assert titles == ["Paid one", "Free & <open>"]
    assert parsed.entries[1].link.endswith(f"/p/{free.json()['id']}")
    assert "Hidden words" not in response.text and "Teaser." in parsed.entries[0].content[0].value
    assert (await client.get(f"{API}/publications/nope/feed.xml")).status_code == 404


@pytest.mark.feature("substack", "analytics")
async def test_opens_and_clicks_are_counted_and_clicks_only_go_to_the_posts_links(
    client: httpx.AsyncClient,
    platform: Platform,
    state: Substack,
    sink: SmtpSink,
    writer: Account,
    new_account: Callable[[], Awaitable[Account]],
    publication: dict[str, Any],
) -> None:
    readers = [await new_account() for _ in range(4)]
    for account in readers:
        await subscribe(client, account, publication["id"])
    body = "Read [the paper](https://papers.example/p1) and [this](https://blog.example/x)."
    created = await write_post(client, writer, publication["id"], publish="now", body=body)
    post_id = created.json()["id"]
    await platform.jobs.wait(f"{SEND_JOB}:{post_id}")
    received = await sink.wait_for(4)
    htmls = [r.message.get_body(preferencelist=("html",)).get_content() for r in received]  # type: ignore[union-attr]
    assert "https://papers.example/p1" not in htmls[0]  # links are tracked
    pixels = [re.search(r'src="[^"]*(/api/substack/o/[^"]+)"', h)[1] for h in htmls]  # type: ignore[index]
    clicks = [re.findall(r'href="[^"]*(/api/substack/c/[^"]+)"', h) for h in htmls]
    # Two readers open (one of them three times, concurrently), one clicks without loading images.
    opened = await asyncio.gather(*(client.get(p) for p in [pixels[0]] * 3 + [pixels[1]]))
    assert {o.status_code for o in opened} == {200}
    assert opened[0].headers["content-type"] == "image/gif"
    redirect = await client.get(clicks[2][0])
    assert redirect.status_code == 302
    assert redirect.headers["location"] == "https://papers.example/p1"
    second = await client.get(clicks[2][1])
    assert second.headers["location"] == "https://blog.example/x"
    # No open redirect: an index the post does not have, or a forged token, goes nowhere.
    beyond = re.sub(r"/\d+$", "/2", clicks[2][0])
    assert (await client.get(beyond)).status_code == 404
    forged = re.sub(r"\.[A-Za-z0-9_-]+/", ".AAAAAAAAAAAAAAAAAAAAAA/", clicks[2][0])
    assert (await client.get(forged)).status_code == 404
    assert (await client.get("/api/substack/o/1.AAAAAAAAAAAAAAAAAAAAAA.gif")).status_code == 404

    stats = await client.get(
        f"{API}/publications/{publication['id']}/analytics", headers=writer.headers
    )
    assert stats.status_code == 200, stats.text
    data = stats.json()
    assert data["subscribers"] == 4
    assert sum(day["subscribed"] for day in data["growth"]) == 4
    assert data["posts"][0]["sent"] == 4
    assert data["posts"][0]["opened"] == 3  # the clicker counts as opened
    assert data["posts"][0]["clicked"] == 1
    assert data["posts"][0]["open_rate"] == 0.75 and data["posts"][0]["click_rate"] == 0.25
    other = await client.get(
        f"{API}/publications/{publication['id']}/analytics", headers=readers[0].headers
    )
    assert other.status_code == 403
