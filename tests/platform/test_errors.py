import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from casebook.platform.errors import Conflict, TooManyRequests, install_problem_handlers


class _Body(BaseModel):
    name: str = Field(min_length=1, max_length=5)


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things")
    async def create(body: _Body) -> dict[str, str]:
        if body.name == "taken":
            raise Conflict("That name is taken; pick another.")
        if body.name == "slow":
            raise TooManyRequests(retry_after=2.2)
        if body.name == "boom":
            raise RuntimeError("secret internals")
        return {"name": body.name}

    return app


@pytest.fixture
async def http() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_domain_error_becomes_problem_json(http: httpx.AsyncClient) -> None:
    r = await http.post("/things", json={"name": "taken"})
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json() == {
        "type": "/problems/conflict",
        "title": "Conflict",
        "status": 409,
        "detail": "That name is taken; pick another.",
        "instance": "/things",
    }


async def test_validation_error_names_the_field(http: httpx.AsyncClient) -> None:
    r = await http.post("/things", json={"name": "much too long"})
    assert r.status_code == 422
    body = r.json()
    assert body["type"] == "/problems/invalid-input"
    assert body["detail"].startswith("name:")
    assert body["errors"][0]["loc"] == ["body", "name"]


async def test_malformed_json_is_a_4xx_problem(http: httpx.AsyncClient) -> None:
    r = await http.post("/things", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"


async def test_rate_limit_carries_retry_after(http: httpx.AsyncClient) -> None:
    r = await http.post("/things", json={"name": "slow"})
    assert r.status_code == 429
    assert r.headers["retry-after"] == "3"
    assert r.json()["retry_after"] == 3


async def test_unknown_route_and_wrong_method_are_problems(http: httpx.AsyncClient) -> None:
    missing = await http.get("/nothing-here")
    assert (missing.status_code, missing.json()["type"]) == (404, "/problems/not-found")
    wrong = await http.delete("/things")
    assert (wrong.status_code, wrong.json()["type"]) == (405, "/problems/method-not-allowed")


async def test_unexpected_error_is_500_without_internals(http: httpx.AsyncClient) -> None:
    r = await http.post("/things", json={"name": "boom"})
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert "secret internals" not in r.text
    assert "Traceback" not in r.text
