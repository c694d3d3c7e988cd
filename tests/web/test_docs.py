"""`/docs` serves Swagger UI from the local package: no CDN, no external URL."""

from __future__ import annotations

import re
import warnings

import httpx
from fastapi import FastAPI

from casebook.web.docs import SWAGGER_FILES


async def test_docs_page_loads_swagger_ui_from_this_server_only(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    page = response.text
    assert "SwaggerUIBundle" in page
    assert "url: '/openapi.json'" in page
    assert "://" not in page, "the docs page must not name any external URL"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sorted(assets) == [
        "/static/swagger/favicon-32x32.png",
        "/static/swagger/swagger-ui-bundle.js",
        "/static/swagger/swagger-ui.css",
    ]
    for asset in assets:
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 500


async def test_docs_turn_off_the_online_spec_validator(client: httpx.AsyncClient) -> None:
    page = (await client.get("/docs")).text
    assert '"validatorUrl": null' in page


async def test_swagger_static_serves_only_the_files_the_docs_use(
    client: httpx.AsyncClient,
) -> None:
    js = await client.get("/static/swagger/swagger-ui-bundle.js")
    assert js.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert "swagger-ui-bundle.js" in SWAGGER_FILES
    # The package's demo page fetches the petstore spec from the internet: not ours to serve.
    for name in ("index.html", "swagger-initializer.js", "swagger-ui.js", "oauth2-redirect.html"):
        response = await client.get(f"/static/swagger/{name}")
        assert response.status_code == 404, name


async def test_openapi_document_tags_each_served_system(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    tags = {tag["name"] for tag in schema.get("tags", [])}
    assert "url-shortener" in tags


def test_every_operation_is_documented_once(app: FastAPI) -> None:
    """A system that serves an engine route itself (Instagram's Direct history) drops the
    engine's: no operation id twice, and the path documents the system's own operation."""
    app.openapi_schema = None
    with warnings.catch_warnings():
        # FastAPI warns on a duplicate operation id. Only that warning becomes an error: a
        # blanket "error" filter would also turn the ResourceWarning of any earlier test's
        # socket that the garbage collector happens to finalise here into a failure.
        warnings.filterwarnings("error", message="Duplicate Operation ID")
        schema = app.openapi()
    ids = [
        operation["operationId"]
        for path in schema["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    assert len(ids) == len(set(ids))
    history = schema["paths"]["/api/instagram/direct/conversations/{conversation_id}/messages"]
    assert "shared post" in history["get"]["description"]
