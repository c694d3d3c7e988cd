"""The /substack/ pages: a publication's home with the subscribe form, post pages with the
paywall, the unsubscribe confirmation page of the e-mail footer (GET asks, POST acts), and the
writer's dashboard and editor; cookies sign in, forms are same-origin only, and nobody reaches
another writer's dashboard."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from casebook.platform.context import Platform
from casebook.systems.substack.runtime import SEND_JOB, Substack
from tests.platform.smtp_sink import SmtpSink
from tests.systems.substack.conftest import API, Account, subscribe, top_up, write_post

SAME_ORIGIN = {"origin": "http://testserver"}
SECRET = "The paid-only ending nobody free may read."
PAID_BODY = f"Free opening paragraph.\n\n<!-- paywall -->\n\n{SECRET}"


def sign_in(client: httpx.AsyncClient, account: Account) -> None:
    client.cookies.set("casebook_access", account.token)


async def subscriber_count(client: httpx.AsyncClient, publication: dict[str, Any]) -> int:
    found = await client.get(f"{API}/publications/{publication['id']}")
    return int(found.json()["subscriber_count"])


@pytest.mark.feature("substack", "subscriptions")
async def test_a_reader_subscribes_and_leaves_from_the_publication_home(
    client: httpx.AsyncClient, writer: Account, reader: Account, publication: dict[str, Any]
) -> None:
    home = f"/substack/{publication['slug']}/"
    await write_post(client, writer, publication["id"], title="Out <now>", publish="now")
    await write_post(client, writer, publication["id"], title="Still a draft")
    anonymous = await client.get(home)
    assert anonymous.status_code == 200 and "text/html" in anonymous.headers["content-type"]
    assert "Out &lt;now&gt;" in anonymous.text and "Out <now>" not in anonymous.text
    assert "Still a draft" not in anonymous.text
    assert "Log in</a> or" in anonymous.text and "Subscribe for free" not in anonymous.text
    assert (await client.get("/substack/")).text.count(f"/substack/{publication['slug']}/") == 1

    sign_in(client, reader)
    assert "Subscribe for free" in (await client.get(home)).text
    forged = await client.post(f"{home}subscribe", headers={"origin": "https://evil.example"})
    assert forged.status_code == 403 and await subscriber_count(client, publication) == 0
    done = await client.post(f"{home}subscribe", headers=SAME_ORIGIN)
    assert done.status_code == 303 and done.headers["location"] == home
    page = await client.get(home)
    assert "You are subscribed" in page.text and reader.email in page.text
    assert await subscriber_count(client, publication) == 1
    left = await client.post(f"{home}leave", headers=SAME_ORIGIN)
    assert left.status_code == 303 and await subscriber_count(client, publication) == 0
    again = await client.post(f"{home}leave", headers=SAME_ORIGIN)
    assert again.status_code == 404 and "no such subscription" in again.text.lower()
    assert (await client.get("/substack/no-such-pub/")).status_code == 404


@pytest.mark.feature("substack", "paid-subscriptions")
async def test_the_post_page_shows_free_readers_the_preview_and_never_the_paid_text(
    client: httpx.AsyncClient,
    writer: Account,
    reader: Account,
    new_account: Any,
    publication: dict[str, Any],
) -> None:
    created = await write_post(
        client, writer, publication["id"], audience="paid", body=PAID_BODY, publish="now"
    )
    post = created.json()
    page = f"/substack/{publication['slug']}/p/{post['id']}"
    anonymous = await client.get(page)
    assert anonymous.status_code == 200
    assert "Free opening paragraph." in anonymous.text and SECRET not in anonymous.text
    assert 'data-testid="paywall"' in anonymous.text
    sign_in(client, reader)
    await subscribe(client, reader, publication["id"])
    free = await client.get(page)
    assert SECRET not in free.text and 'data-testid="paywall"' in free.text
    # Paying from the publication's page opens it.
    home = f"/substack/{publication['slug']}/"
    broke = await client.post(f"{home}paid", data={"plan": "monthly"}, headers=SAME_ORIGIN)
    assert broke.status_code == 409 and 'role="alert"' in broke.text
    assert SECRET not in (await client.get(page)).text
    await top_up(client, reader, 1_000)
    paid = await client.post(f"{home}paid", data={"plan": "monthly"}, headers=SAME_ORIGIN)
    assert paid.status_code == 303
    opened = await client.get(page)
    assert SECRET in opened.text and 'data-testid="paywall"' not in opened.text
    assert "paid posts are open to you until" in (await client.get(home)).text
    sign_in(client, writer)
    assert SECRET in (await client.get(page)).text
    # A post is only found under its own publication's address.
    other = await new_account()
    elsewhere = await client.post(
        f"{API}/publications",
        json={"slug": f"other-{post['id'][-6:]}", "name": "Other"},
        headers=other.headers,
    )
    wrong = f"/substack/{elsewhere.json()['slug']}/p/{post['id']}"
    assert (await client.get(wrong)).status_code == 404


@pytest.mark.feature("substack", "newsletter-publishing")
async def test_drafts_are_404_to_readers_and_bodies_are_sanitized_on_the_page(
    client: httpx.AsyncClient, writer: Account, reader: Account, publication: dict[str, Any]
) -> None:
    body = "Hello <script>alert(1)</script><img src=x onerror=alert(2)> **bold**"
    draft = (await write_post(client, writer, publication["id"], body=body)).json()
    page = f"/substack/{publication['slug']}/p/{draft['id']}"
    assert (await client.get(page)).status_code == 404
    sign_in(client, reader)
    assert (await client.get(page)).status_code == 404
    sign_in(client, writer)
    mine = await client.get(page)
    assert mine.status_code == 200 and "only authors see this" in mine.text
    assert "<strong>bold</strong>" in mine.text
    assert "<script>alert" not in mine.text and "onerror" not in mine.text


@pytest.mark.feature("substack", "email-delivery")
async def test_the_footer_link_asks_before_unsubscribing_and_only_a_post_acts(
    client: httpx.AsyncClient,
    platform: Platform,
    state: Substack,
    sink: SmtpSink,
    writer: Account,
    reader: Account,
    publication: dict[str, Any],
) -> None:
    await subscribe(client, reader, publication["id"])
    post = (await write_post(client, writer, publication["id"], publish="now")).json()
    await platform.jobs.wait(f"{SEND_JOB}:{post['id']}")
    [received] = await sink.wait_for(1)
    text = received.message.get_body(preferencelist=("plain",))
    assert text is not None
    found = re.search(r"Unsubscribe: (\S+)", text.get_content())
    assert found is not None
    path = found[1].removeprefix(state.base_url)
    assert path.startswith("/substack/unsubscribe/")
    # Mail scanners fetch links: GETs change nothing.
    for _ in range(2):
        asked = await client.get(path)
        assert asked.status_code == 200
        assert "The Weekly Byte" in asked.text and reader.email in asked.text
        assert f'action="{path}"' in asked.text
    assert await subscriber_count(client, publication) == 1
    refused = await client.post(path)  # no Origin, no Referer: not our form
    assert refused.status_code == 403 and await subscriber_count(client, publication) == 1
    done = await client.post(path, headers=SAME_ORIGIN)
    assert done.status_code == 200 and 'data-testid="unsubscribed"' in done.text
    assert await subscriber_count(client, publication) == 0
    repeat = await client.post(path, headers=SAME_ORIGIN)
    assert repeat.status_code == 200 and await subscriber_count(client, publication) == 0
    assert 'action="' not in (await client.get(path)).text.split("<main", 1)[1]
    forged = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
    assert (await client.get(forged)).status_code == 404
    assert (await client.post(forged, headers=SAME_ORIGIN)).status_code == 404


@pytest.mark.feature("substack", "newsletter-publishing")
@pytest.mark.feature("substack", "analytics")
async def test_a_writer_starts_a_publication_drafts_schedules_and_publishes_from_the_pages(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: SmtpSink,
    writer: Account,
    reader: Account,
) -> None:
    assert (await client.get("/substack/dashboard")).headers["location"] == (
        "/login?next=/substack/dashboard"
    )
    sign_in(client, writer)
    reserved = await client.post(
        "/substack/dashboard", data={"slug": "dashboard", "name": "Mine"}, headers=SAME_ORIGIN
    )
    assert reserved.status_code == 409 and "reserved" in reserved.text
    bad_price = await client.post(
        "/substack/dashboard",
        data={"slug": "field-notes", "name": "Field Notes", "monthly_price": "five"},
        headers=SAME_ORIGIN,
    )
    assert bad_price.status_code == 422 and 'value="Field Notes"' in bad_price.text
    started = await client.post(
        "/substack/dashboard",
        data={"slug": "field-notes", "name": "Field Notes", "monthly_price": "5"},
        headers=SAME_ORIGIN,
    )
    assert started.status_code == 303
    dashboard = started.headers["location"]
    publication_id = dashboard.rsplit("/", 1)[1]
    publication = (await client.get(f"{API}/publications/{publication_id}")).json()
    assert publication["slug"] == "field-notes" and publication["monthly_price"] == 500
    await subscribe(client, reader, publication_id)

    form = {"title": "Week 1", "body": "Some *news*.", "send_email": "on", "action": "draft"}
    saved = await client.post(f"{dashboard}/new", data=form, headers=SAME_ORIGIN)
    assert saved.status_code == 303
    editor = saved.headers["location"]
    post_id = editor.rsplit("/", 1)[1]
    assert 'data-testid="draft-posts"' in (page := (await client.get(dashboard)).text)
    assert "Week 1" in page.split('data-testid="draft-posts"')[1].split("</section>")[0]

    past = {**form, "action": "schedule", "scheduled_at": "2020-01-01T09:00"}
    refused = await client.post(editor, data=past, headers=SAME_ORIGIN)
    assert refused.status_code == 422 and "future" in refused.text
    assert (await client.get(f"{API}/posts/{post_id}", headers=writer.headers)).json()[
        "status"
    ] == "draft"
    later = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    scheduled = await client.post(
        editor, data={**form, "action": "schedule", "scheduled_at": later}, headers=SAME_ORIGIN
    )
    assert scheduled.status_code == 303
    assert "Status: scheduled" in (await client.get(editor)).text
    unscheduled = await client.post(
        editor, data={**form, "action": "unschedule"}, headers=SAME_ORIGIN
    )
    assert unscheduled.status_code == 303
    assert "Status: draft" in (await client.get(editor)).text

    edited = {**form, "title": "Week 1, edited", "action": "publish"}
    published = await client.post(editor, data=edited, headers=SAME_ORIGIN)
    assert published.status_code == 303
    await platform.jobs.wait(f"{SEND_JOB}:{post_id}")
    [mail] = await sink.wait_for(1)
    assert mail.rcpt_tos == [reader.email] and mail.message["Subject"] == "Week 1, edited"
    view = await client.get(f"/substack/field-notes/p/{post_id}")
    assert "<em>news</em>" in view.text
    stats = (await client.get(dashboard)).text
    assert '<strong data-testid="subscribers">1</strong>' in stats
    row = stats.split('data-testid="post-stats"')[1].split("</table>")[0]
    assert "Week 1, edited" in row and '<td class="num">1</td>' in row
    twice = await client.post(editor, data=edited, headers=SAME_ORIGIN)
    assert twice.status_code == 409


@pytest.mark.feature("substack", "user-accounts")
async def test_nobody_reaches_another_writers_dashboard_or_editor(
    client: httpx.AsyncClient, writer: Account, reader: Account, publication: dict[str, Any]
) -> None:
    post = (await write_post(client, writer, publication["id"], title="Mine")).json()
    dashboard = f"/substack/dashboard/{publication['id']}"
    editor = f"/substack/dashboard/posts/{post['id']}"
    anonymous = await client.get(editor)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    sign_in(client, reader)
    assert (await client.get(dashboard)).status_code == 403
    assert (await client.get(f"{dashboard}/new")).status_code == 403
    page = await client.get(editor)
    assert page.status_code == 404 and "Mine" not in page.text
    form = {"title": "Hijacked", "body": "x", "action": "publish"}
    assert (await client.post(editor, data=form, headers=SAME_ORIGIN)).status_code == 404
    assert (await client.post(f"{dashboard}/new", data=form, headers=SAME_ORIGIN)).status_code == (
        403
    )
    sign_in(client, writer)
    assert (await client.post(editor, data=form)).status_code == 403  # no Origin: not our form
    drafts = await client.get(
        f"{API}/publications/{publication['id']}/posts?status=draft", headers=writer.headers
    )
    assert [p["title"] for p in drafts.json()["items"]] == ["Mine"]
    published = await client.get(f"{API}/publications/{publication['id']}/posts")
    assert published.json()["items"] == []
    mine = await client.get("/substack/dashboard")
    assert "The Weekly Byte" in mine.text
    sign_in(client, reader)
    assert "The Weekly Byte" not in (await client.get("/substack/dashboard")).text


@pytest.mark.feature("substack", "comments")
async def test_readers_comment_from_the_post_page_but_not_on_paid_posts_they_cannot_read(
    client: httpx.AsyncClient, writer: Account, reader: Account, publication: dict[str, Any]
) -> None:
    free = (await write_post(client, writer, publication["id"], publish="now")).json()
    paid = (
        await write_post(
            client, writer, publication["id"], audience="paid", body=PAID_BODY, publish="now"
        )
    ).json()
    free_page = f"/substack/{publication['slug']}/p/{free['id']}"
    paid_page = f"/substack/{publication['slug']}/p/{paid['id']}"
    assert "Log in</a> to comment" in (await client.get(free_page)).text
    sign_in(client, writer)
    said = await client.post(
        f"{paid_page}/comments", data={"body": "Paid-only <chat>"}, headers=SAME_ORIGIN
    )
    assert said.status_code == 303
    assert "Paid-only &lt;chat&gt;" in (await client.get(paid_page)).text
    sign_in(client, reader)
    assert "Paid-only" not in (await client.get(paid_page)).text
    assert 'data-testid="comments"' not in (await client.get(paid_page)).text
    refused = await client.post(f"{paid_page}/comments", data={"body": "hi"}, headers=SAME_ORIGIN)
    assert refused.status_code == 404
    forged = await client.post(f"{free_page}/comments", data={"body": "hi"})
    assert forged.status_code == 403
    posted = await client.post(
        f"{free_page}/comments", data={"body": "First!"}, headers=SAME_ORIGIN
    )
    assert posted.status_code == 303 and posted.headers["location"].endswith("#comments")
    thread = (await client.get(f"{API}/posts/{free['id']}/comments")).json()["items"]
    assert [c["body"] for c in thread] == ["First!"]
    reply = await client.post(
        f"{free_page}/comments",
        data={"body": "Second, nested", "parent_id": thread[0]["id"]},
        headers=SAME_ORIGIN,
    )
    assert reply.status_code == 303
    page = (await client.get(free_page)).text
    assert page.index("First!") < page.index("Second, nested")
    assert "margin-left: 1.5rem" in page
    assert (await client.get(f"{API}/posts/{paid['id']}/comments")).status_code == 404
