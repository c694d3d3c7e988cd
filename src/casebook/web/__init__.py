"""The shared UI shell: base template, stylesheet, console, sign-in pages and offline API docs.

`install_web(app)` mounts all of it on the app (called once from `casebook.app.create_app`):

- `/` the console (every system of the catalogue) and `/systems/<slug>` a system's detail page;
- `/login`, `/register`, `/logout` the browser sign-in pages (session cookies);
- `/docs` Swagger UI served from a PyPI asset package (`swagd`), so it works offline;
- `/static/web/…` this package's static files, `/static/swagger/…` Swagger UI's.

`/static/<slug>/` stays free for systems that need static files of their own. Systems render their
pages with `casebook.web.templating.Templates` (see that module for the convention).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from casebook.web.accounts import router as accounts_router
from casebook.web.console import router as console_router
from casebook.web.docs import SwaggerStaticFiles
from casebook.web.docs import router as docs_router
from casebook.web.templating import STATIC_DIR, STATIC_PREFIX

__all__ = ["install_web"]


def install_web(app: FastAPI) -> None:
    """Mount the console, sign-in pages, `/docs` and the static files on `app`."""
    app.include_router(console_router, include_in_schema=False)
    app.include_router(accounts_router, include_in_schema=False)
    app.include_router(docs_router, include_in_schema=False)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="web-static")
    app.mount("/static/swagger", SwaggerStaticFiles(), name="swagger-static")
