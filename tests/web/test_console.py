"""The console at `/` and the system detail pages, through the ASGI app."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from casebook.app import create_app
from casebook.platform.settings import Settings
from casebook.systems import all_systems

ROW = re.compile(
    r'<tr class="system-row" data-slug="([^"]+)" data-status="([^"]+)">(.*?)</tr>', re.S
)
GROUP_HEADING = re.compile(r'<h2 id="group-\d+">([^<]+)<span class="group-count">([^<]+)</span>')


def rows(page: str) -> dict[str, tuple[str, str]]:
    """slug → (status, row html) of every system row, in page order."""
    return {slug: (status, body) for slug, status, body in ROW.findall(page)}


async def test_console_lists_all_43_systems_grouped_in_catalogue_order(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text

    systems = all_systems()
    assert list(rows(page)) == [s.slug for s in systems]
    assert len(rows(page)) == 43

    groups = [name.strip() for name, _ in GROUP_HEADING.findall(page)]
    expected_groups: list[str] = []
    for system in systems:
        if system.group.capitalize() not in expected_groups:
            expected_groups.append(system.group.capitalize())
    assert groups == [html.escape(g) for g in expected_groups]
    assert f"<strong>{sum(s.built for s in systems)}</strong> of 43 built" in page
    assert '<a href="/metrics">Metrics</a>' in page
    assert (await client.get("/metrics")).status_code == 200, "the nav links to a live page"


async def test_console_shows_number_title_seed_and_feature_count_of_a_built_system(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get("/")).text
    system = next(s for s in all_systems() if s.slug == "url-shortener")
    status, row = rows(page)["url-shortener"]

    assert status == "served"
    assert f'<td class="num">{system.number}</td>' in row
    assert f">{html.escape(system.title)}</a>" in row
    assert f"<td>{system.seed}</td>" in row
    assert '<span class="badge badge-built">built</span>' in row
    assert f'<a href="/systems/url-shortener#features">{len(system.features)}</a>' in row
    assert '<a href="/docs#/url-shortener">API</a>' in row
    has_page_link = '<a href="/url-shortener/">page</a>' in row
    assert has_page_link == (system.pages is not None)


async def test_console_marks_unbuilt_systems_not_yet_without_links(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get("/")).text
    unbuilt = [s for s in all_systems() if not s.built]
    assert unbuilt, "the catalogue has systems still to build"
    table = rows(page)
    for system in unbuilt:
        status, row = table[system.slug]
        assert status == "not-yet"
        assert "badge-todo" in row and "not yet" in row
        assert "/docs#" not in row
        assert f'href="/{system.slug}/"' not in row
        assert f'href="/systems/{system.slug}"' in row


@pytest.fixture
async def client_serving_nothing(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with every built system switched off (an unbuilt slug selects none)."""
    application = create_app(settings, only=["zoom"])
    assert application.state.systems == []
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_a_built_system_this_server_does_not_serve_has_no_links(
    client_serving_nothing: httpx.AsyncClient,
) -> None:
    page = (await client_serving_nothing.get("/")).text
    status, row = rows(page)["url-shortener"]
    assert status == "built"
    assert "built · off" in row
    assert "/docs#/url-shortener" not in row
    assert 'href="/url-shortener/"' not in row

    detail = (await client_serving_nothing.get("/systems/url-shortener")).text
    assert "built · not served here" in detail
    assert "/docs#/url-shortener" not in detail


async def test_system_detail_lists_every_feature_with_id_and_title(
    client: httpx.AsyncClient,
) -> None:
    system = next(s for s in all_systems() if s.slug == "url-shortener")
    response = await client.get("/systems/url-shortener")
    assert response.status_code == 200
    page = response.text

    assert f"<h1>{system.number}. {html.escape(system.title)}</h1>" in page
    assert html.escape(system.summary) in page
    assert html.escape(system.hard_core) in page
    features = re.findall(r"<tr><td><code>([^<]+)</code></td><td>([^<]*)</td></tr>", page)
    assert features == [(f.id, html.escape(f.title)) for f in system.features]
    assert '<a href="/docs#/url-shortener">API docs</a>' in page


async def test_system_detail_shows_the_capacity_model_when_the_system_has_one(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get("/systems/url-shortener")).text
    system = next(s for s in all_systems() if s.slug == "url-shortener")
    if system.capacity is None:
        assert 'id="capacity"' not in page
        return
    assert 'id="capacity"' in page
    for label, value, _seed, _note in system.capacity.summary_rows():
        cells = (
            f'<th scope="row">{html.escape(label)}</th><td class="num">{html.escape(value)}</td>'
        )
        assert cells in page


async def test_system_detail_of_an_unbuilt_system_lists_its_seed_features(
    client: httpx.AsyncClient,
) -> None:
    system = next(s for s in all_systems() if s.slug == "zoom")
    assert not system.built
    page = (await client.get("/systems/zoom")).text
    assert '<span class="badge badge-todo">not yet</span>' in page
    assert ", ".join(system.engines) in page
    for feature in system.features:
        assert f"<code>{feature.id}</code>" in page
    assert "/docs#/zoom" not in page


async def test_unknown_system_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/systems/no-such-system")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "no-such-system" in response.json()["detail"]


async def test_pages_link_the_stylesheet_and_favicon_which_are_served(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get("/")).text
    links = re.findall(r'<link rel="[^"]*"(?: type="[^"]*")? href="([^"]+)">', page)
    assert len(links) == 2
    for href in links:
        assert href.startswith("/static/web/")
        asset = await client.get(href)
        assert asset.status_code == 200, href
    css = await client.get("/static/web/casebook.css")
    assert css.headers["content-type"].startswith("text/css")
    assert "http://" not in css.text and "https://" not in css.text
