"""Server-rendered pages: one Jinja2 environment per package, sharing the Casebook shell.

Convention for a system's pages (`systems/<package>/pages.py`)::

    from pathlib import Path

    from fastapi import APIRouter, Request
    from fastapi.responses import HTMLResponse

    from casebook.web.templating import Templates
    from casebook.web.viewer import OptionalViewer

    templates = Templates(Path(__file__).with_name("templates"))
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse)
    async def home(request: Request, viewer: OptionalViewer) -> HTMLResponse:
        return templates.render(request, "url_shortener.html", {"links": []}, viewer=viewer)

and the system's template starts with ``{% extends "base.html" %}`` and fills the blocks
``title`` (text of the <title>, " · Casebook" is appended), ``content`` (the page body) and, when
needed, ``head`` (extra <link>/<script> tags, local URLs only: the product works offline).

- Template lookup: the system's directory first, then the shared `web/templates/`. A system may not
  reuse the name of a shared template (`Templates` raises ValueError), so nothing is shadowed by
  accident; name a system's templates after the system.
- Undefined variables raise (StrictUndefined): a typo is an error in tests, not a blank on a page.
- Every page receives `request`, `viewer` (the signed-in `Viewer` or None, shown in the nav),
  `nav` (`NavLinks`) and the globals `static_url(path)` (a URL under `/static/web/`) and `version`.
- `viewer` is a required keyword of `render`, so no page can forget the signed-in state; get it
  with the `OptionalViewer` dependency (or `Viewer` via `casebook.web.viewer.current_viewer`).
- Forms that POST with the session cookie depend on `casebook.web.csrf.SameOrigin`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from casebook import __version__
from casebook.web.redirects import safe_next

if TYPE_CHECKING:
    from casebook.web.viewer import Viewer

SHARED_TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")
STATIC_PREFIX = "/static/web"
ACCOUNT_PATHS = frozenset({"/login", "/register", "/logout"})
PAGE_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}
"""Sent with every page: no other site may frame it (clickjacking a form's buttons)."""


def static_url(path: str) -> str:
    """The URL of a file in `web/static/`, versioned so a release never serves a stale copy."""
    return f"{STATIC_PREFIX}/{path.lstrip('/')}?v={__version__}"


@dataclass(frozen=True)
class NavLinks:
    """The links of the shared navigation bar for one request."""

    login: str
    register: str
    home: str = "/"
    docs: str = "/docs"
    metrics: str = "/metrics"
    """Prometheus metrics, which `create_app` always serves (`casebook.platform.metrics`)."""


def nav_links(request: Request) -> NavLinks:
    """The nav for `request`: the sign-in links lead back to the current page."""
    if request.url.path in ACCOUNT_PATHS:
        # Switching between the sign-in pages keeps the page the visitor came from.
        here = safe_next(request.query_params.get("next"))
    else:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    back = "" if here == "/" else f"?next={quote(here)}"
    return NavLinks(login=f"/login{back}", register=f"/register{back}")


class Templates:
    """The Jinja2 templates of one package, able to extend the shared `base.html`.

    `directory` is the package's own templates directory; None gives the shared templates only
    (the console and sign-in pages use that). Raises ValueError when `directory` holds a template
    named like a shared one.
    """

    def __init__(self, directory: Path | None = None) -> None:
        search = [SHARED_TEMPLATES_DIR]
        if directory is not None:
            if not directory.is_dir():
                raise ValueError(f"templates directory {directory} does not exist")
            shared = {p.name for p in SHARED_TEMPLATES_DIR.iterdir()}
            clash = sorted(shared & {p.name for p in directory.iterdir()})
            if clash:
                raise ValueError(
                    f"{directory} reuses shared template name(s) {', '.join(clash)}; rename them"
                )
            search.insert(0, directory)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(search),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals["static_url"] = static_url
        self.env.globals["version"] = __version__

    def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        viewer: Viewer | None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """Render template `name` with `context` plus the shell's variables into an HTML response
        carrying `PAGE_HEADERS` and `headers`.

        Raises jinja2.TemplateNotFound for an unknown name and jinja2.UndefinedError when the
        template uses a variable the context lacks.
        """
        values: dict[str, Any] = {"request": request, "viewer": viewer, "nav": nav_links(request)}
        values.update(context or {})
        html = self.env.get_template(name).render(values)
        return HTMLResponse(
            html, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})}
        )
