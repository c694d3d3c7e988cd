"""Writing: Markdown sanitized to safe HTML, drafts visible only to authors, publishing and
scheduling (a platform job), and who may write."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.substack.rendering import render_post
from casebook.systems.substack.runtime import PUBLISH_JOB
from tests.platform.smtp_sink import SmtpSink
from tests.systems.substack.conftest import API, Account, subscribe, write_post

publishing = pytest.mark.feature("substack", "newsletter-publishing")

XSS = """Hello <script>alert(1)</script> **bold**

<img src="https://img.example/a.png" onerror="alert(2)">
<a href="javascript:alert(3)">js</a> [md](javascript:alert(4)) <iframe src="https://evil.example"></iframe>
<p style="background:url(x)" onclick="steal()">styled</p>
<a href="data:text/html,<script>x</script>">d</a>
<svg onload="alert(5)"></svg>

A [good link](https://good.example/page?a=1&b=2).
"""


@publishing
def test_markdown_renders_and_everything_dangerous_is_removed() -> None:
    rendered = render_post(XSS)
    html = rendered.html.lower()
    dangerous = ("<script", "onerror", "onload", "<iframe", "onclick", "style=", "<svg")
    for bad in (*dangerous, 'href="javascript', 'href="data', "alert(1)"):
        assert bad not in html, bad
    assert "<strong>bold</strong>" in rendered.html
    assert '<img src="https://img.example/a.png">' in rendered.html
    assert 'href="https://good.example/page?a=1&amp;b=2"' in rendered.html
    assert 'rel="noopener noreferrer nofollow"' in rendered.html
    assert rendered.links == ["https://good.example/page?a=1&b=2"]


@publishing
def test_preview_stops_at_the_paywall_marker_or_after_two_blocks() -> None:
    marked = render_post("Intro one.\n\nIntro two.\n\nIntro three.\n<!-- paywall -->\n\nSecret.")
    assert "Intro three." in marked.preview_html and "Secret" not in marked.preview_html
    assert "Secret." in marked.html
    plain = render_post("# Title\n\nOne.\n\nTwo.\n\nThree.")
    assert "One." in plain.preview_html and "Two." not in plain.preview_html


@publishing
async def test_drafts_are_seen_by_authors_only(
    client: httpx.AsyncClient, writer: Account, reader: Account, publication: dict[str, Any]
) -> None:
    created = await write_post(client, writer, publication["id"], body="Draft <b>text</b>")
    assert created.status_code == 201, created.text
    post = created.json()
    assert post["status"] == "draft" and post["html"] == "<p>Draft <b>text</b></p>\n"
    url = f"{API}/posts/{post['id']}"
    assert (await client.get(url, headers=writer.headers)).status_code == 200
    assert (await client.get(url, headers=reader.headers)).status_code == 404
    assert (await client.get(url)).status_code == 404
    drafts = f"{API}/publications/{publication['id']}/posts?status=draft"
    assert (await client.get(drafts, headers=reader.headers)).status_code == 403
    mine = await client.get(drafts, headers=writer.headers)
    assert [p["id"] for p in mine.json()["items"]] == [post["id"]]
    public = await client.get(f"{API}/publications/{publication['id']}/posts")
    assert public.json()["items"] == []
    # Nobody but an author edits or publishes it.
    edit = await client.patch(url, json={"title": "Mine now"}, headers=reader.headers)
    assert edit.status_code == 404
    publish = await client.post(f"{url}/publish", json={}, headers=reader.headers)
    assert publish.status_code == 404
    assert (await client.get(url, headers=writer.headers)).json()["title"] == "Hello"


@publishing
async def test_publishing_makes_the_post_public_once(
    client: httpx.AsyncClient, writer: Account, publication: dict[str, Any]
) -> None:
    post = (await write_post(client, writer, publication["id"], send_email=False)).json()
    edited = await client.patch(
        f"{API}/posts/{post['id']}", json={"body": "New *body*"}, headers=writer.headers
    )
    assert edited.json()["html"] == "<p>New <em>body</em></p>\n"
    published = await client.post(
        f"{API}/posts/{post['id']}/publish", json={}, headers=writer.headers
    )
    assert published.status_code == 200 and published.json()["status"] == "published"
    again = await client.post(f"{API}/posts/{post['id']}/publish", json={}, headers=writer.headers)
    assert again.status_code == 409
    public = await client.get(f"{API}/publications/{publication['id']}/posts")
    assert [p["id"] for p in public.json()["items"]] == [post["id"]]


@publishing
async def test_a_scheduled_post_is_published_and_mailed_by_its_job(
    client: httpx.AsyncClient,
    platform: Platform,
    writer: Account,
    reader: Account,
    publication: dict[str, Any],
    sink: SmtpSink,
) -> None:
    await subscribe(client, reader, publication["id"])
    at = utcnow() + timedelta(seconds=2)  # room to check it is unseen first, on a slow machine
    created = await write_post(
        client, writer, publication["id"], publish="schedule", scheduled_at=at.isoformat()
    )
    assert created.status_code == 201, created.text
    post = created.json()
    assert post["status"] == "scheduled"
    assert (
        await client.get(f"{API}/posts/{post['id']}", headers=reader.headers)
    ).status_code == 404
    jobs = [j for j in await platform.jobs.list_jobs(limit=50) if j.name == PUBLISH_JOB]
    assert len(jobs) == 1
    await platform.jobs.wait(jobs[0].id)
    seen = await client.get(f"{API}/posts/{post['id']}", headers=reader.headers)
    assert seen.status_code == 200 and seen.json()["status"] == "published"
    mail = await sink.wait_for(1)
    assert mail[0].rcpt_tos == [reader.email]


@publishing
async def test_bad_schedules_and_strangers_are_refused(
    client: httpx.AsyncClient,
    writer: Account,
    new_account: Callable[[], Awaitable[Account]],
    publication: dict[str, Any],
) -> None:
    past = (utcnow() - timedelta(minutes=1)).isoformat()
    late = await write_post(
        client, writer, publication["id"], publish="schedule", scheduled_at=past
    )
    assert late.status_code == 422
    assert late.json()["type"] == "/problems/substack-invalid-schedule"
    missing = await write_post(client, writer, publication["id"], publish="schedule")
    assert missing.status_code == 422
    stranger = await new_account()
    refused = await write_post(client, stranger, publication["id"])
    assert refused.status_code == 403
    assert (await write_post(client, writer, "12345")).status_code == 404
    drafts = await client.get(
        f"{API}/publications/{publication['id']}/posts?status=draft", headers=writer.headers
    )
    assert drafts.json()["items"] == []  # nothing was created by the refused requests
    # The owner adds the stranger as an author; now they may write.
    added = await client.post(
        f"{API}/publications/{publication['id']}/authors",
        json={"user_id": str(stranger.user_id)},
        headers=writer.headers,
    )
    assert added.status_code == 204
    assert (await write_post(client, stranger, publication["id"])).status_code == 201
    taken = await client.post(
        f"{API}/publications",
        json={"slug": publication["slug"], "name": "Copy"},
        headers=stranger.headers,
    )
    assert taken.status_code == 409
