"""The template convention systems use: their own directory plus the shared shell."""

from __future__ import annotations

from pathlib import Path

import httpx
import jinja2
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from casebook import __version__
from casebook.web.templating import Templates, static_url
from casebook.web.viewer import Viewer


def _system_templates(tmp_path: Path) -> Path:
    directory = tmp_path / "templates"
    directory.mkdir()
    (directory / "demo_home.html").write_text(
        '{% extends "base.html" %}{% block title %}Demo{% endblock %}'
        '{% block content %}<p id="greeting">Hello {{ who }}</p>{% endblock %}'
    )
    (directory / "demo_typo.html").write_text(
        '{% extends "base.html" %}{% block content %}{{ missing_variable }}{% endblock %}'
    )
    return directory


def _app(templates: Templates) -> FastAPI:
    app = FastAPI()
    viewer = Viewer(user_id=7, display_name="Ada <Lovelace>", email="ada@example.com")

    @app.get("/demo/", response_class=HTMLResponse)
    async def home(request: Request, signed_in: bool = False) -> HTMLResponse:
        context = {"who": "<world>"}
        return templates.render(
            request, "demo_home.html", context, viewer=viewer if signed_in else None
        )

    @app.get("/demo/typo", response_class=HTMLResponse)
    async def typo(request: Request) -> HTMLResponse:
        return templates.render(request, "demo_typo.html", viewer=None)

    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_a_system_template_extends_the_shared_shell(tmp_path: Path) -> None:
    templates = Templates(_system_templates(tmp_path))
    async with _client(_app(templates)) as client:
        response = await client.get("/demo/?x=1")
    page = response.text
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert "<title>Demo · Casebook</title>" in page
    assert '<p id="greeting">Hello &lt;world&gt;</p>' in page, "context values are escaped"
    assert f'href="/static/web/casebook.css?v={__version__}"' in page
    assert '<a href="/docs">API docs</a>' in page
    assert '<a href="/metrics">Metrics</a>' in page
    assert '<a href="/login?next=/demo/%3Fx%3D1">Log in</a>' in page


async def test_the_shell_shows_the_signed_in_viewer_escaped(tmp_path: Path) -> None:
    templates = Templates(_system_templates(tmp_path))
    async with _client(_app(templates)) as client:
        page = (await client.get("/demo/", params={"signed_in": "true"})).text
    assert "Signed in as <strong>Ada &lt;Lovelace&gt;</strong>" in page
    assert '<form class="inline-form" method="post" action="/logout">' in page
    assert "Log in</a>" not in page


async def test_an_undefined_variable_is_an_error_not_a_blank(tmp_path: Path) -> None:
    templates = Templates(_system_templates(tmp_path))
    async with _client(_app(templates)) as client:
        with pytest.raises(jinja2.UndefinedError, match="missing_variable"):
            await client.get("/demo/typo")


def test_a_system_may_not_shadow_a_shared_template(tmp_path: Path) -> None:
    directory = _system_templates(tmp_path)
    (directory / "base.html").write_text("<html>my own shell</html>")
    with pytest.raises(ValueError, match=r"base\.html"):
        Templates(directory)


def test_a_missing_templates_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        Templates(tmp_path / "nope")


def test_static_urls_carry_the_release_version() -> None:
    assert static_url("casebook.css") == f"/static/web/casebook.css?v={__version__}"
    assert static_url("/favicon.svg") == f"/static/web/favicon.svg?v={__version__}"
