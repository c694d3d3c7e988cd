"""Domain errors and their one mapping to RFC 9457 problem+json.

Services raise `Problem` subclasses (`NotFound`, `Conflict`, …) or their own subclasses of those;
`install_problem_handlers` turns every error, including FastAPI's validation errors and the router's
404/405, into `application/problem+json`. Unexpected exceptions become a 500 with no stack trace
in the body (it is logged with the request id instead).
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("casebook.errors")


class Problem(Exception):
    """An error the caller can act on. `type_` is a stable slug under `/problems/`."""

    status: int = 400
    type_: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str = "", **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extensions = extensions

    def headers(self) -> dict[str, str]:
        return {}

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"/problems/{self.type_}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body


class BadRequest(Problem):
    """A request the server cannot act on (400); prefer a more specific subclass."""


class InvalidInput(Problem):
    status = 422
    type_ = "invalid-input"
    title = "The request is not valid"


class Unauthorized(Problem):
    status = 401
    type_ = "unauthorized"
    title = "Authentication required"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(Problem):
    status = 403
    type_ = "forbidden"
    title = "Not allowed"


class NotFound(Problem):
    status = 404
    type_ = "not-found"
    title = "Not found"


class MethodNotAllowed(Problem):
    status = 405
    type_ = "method-not-allowed"
    title = "Method not allowed"


class Conflict(Problem):
    status = 409
    type_ = "conflict"
    title = "Conflict"


class Gone(Problem):
    status = 410
    type_ = "gone"
    title = "Gone"


class PayloadTooLarge(Problem):
    status = 413
    type_ = "payload-too-large"
    title = "Payload too large"


class TooManyRequests(Problem):
    status = 429
    type_ = "rate-limited"
    title = "Too many requests"

    def __init__(self, retry_after: float, detail: str = "") -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        super().__init__(
            detail or f"Rate limit exceeded; retry in {self.retry_after} s.",
            retry_after=self.retry_after,
        )

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    instance = request.url.path if request is not None else None
    return JSONResponse(
        problem.body(instance),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers(),
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        errors.append(
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "msg": err.get("msg", ""),
                "type": err.get("type", ""),
            }
        )
    return errors


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error raised while serving `app` to problem+json."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc, request)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        where = ".".join(p for p in first["loc"] if p not in {"body", "query", "path"})
        detail = f"{where}: {first['msg']}" if where else str(first["msg"])
        return problem_response(InvalidInput(detail, errors=errors), request)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        problem: Problem
        if exc.status_code == 404:
            problem = NotFound(f"Nothing at {request.url.path}.")
        elif exc.status_code == 405:
            problem = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}.")
        else:
            problem = _generic(exc.status_code, str(exc.detail))
        response = problem_response(problem, request)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        problem = _generic(500, "An unexpected error occurred; it has been logged.")
        return problem_response(problem, request)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


def _generic(status: int, detail: str) -> Problem:
    """A problem for a status no domain error names (a framework-raised 400, a 500)."""
    problem = Problem(detail)
    problem.status = status
    problem.type_ = "internal-error" if status >= 500 else f"http-{status}"
    problem.title = "Internal error" if status >= 500 else "Request failed"
    return problem
