"""`/docs`: Swagger UI from a PyPI asset package, so the API docs work offline.

FastAPI's own `/docs` loads Swagger UI from a CDN; the app disables it (`docs_url=None`) and this
router serves the same page with every asset under `/static/swagger/`. Swagger's spec validator
badge (which calls validator.swagger.io) is switched off for the same reason.

The assets come from `swagd` (Swagger UI 5.x, upstream's `dist` files in `swagd/ui/`). FastAPI
emits OpenAPI 3.1, which Swagger UI renders from version 5 on; the `swagger-ui-bundle` package
stops at 4.15 and shows "Unable to render this definition" for it. The directory is located
without importing `swagd`, whose own code (a command-line server) this app does not use.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

SWAGGER_PREFIX = "/static/swagger"
SWAGGER_FILES = frozenset(
    {
        "swagger-ui-bundle.js",
        "swagger-ui-bundle.js.map",
        "swagger-ui.css",
        "swagger-ui.css.map",
        "favicon-32x32.png",
    }
)
"""The files the docs page uses (and the source maps a browser's developer tools ask for).

The package also ships a demo `index.html` that loads the petstore spec from the internet; serving
only these names keeps that page, and anything else in the directory, off the site.
"""

router = APIRouter()


def swagger_ui_directory() -> Path:
    """The directory of Swagger UI's dist files; raises RuntimeError when `swagd` is missing."""
    spec = importlib.util.find_spec("swagd")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("Swagger UI assets missing: install the `swagd` package")
    return Path(next(iter(spec.submodule_search_locations))) / "ui"


class SwaggerStaticFiles(StaticFiles):
    """Static files from the Swagger UI package directory, limited to `SWAGGER_FILES`."""

    def __init__(self) -> None:
        super().__init__(directory=swagger_ui_directory())

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if path not in SWAGGER_FILES:
            return "", None
        return super().lookup_path(path)


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for `/openapi.json`; deep links `#/<tag>` open one system's endpoints."""
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title=f"{request.app.title} API",
        swagger_js_url=f"{SWAGGER_PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER_PREFIX}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None, "docExpansion": "none"},
    )
