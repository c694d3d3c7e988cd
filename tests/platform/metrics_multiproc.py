"""Prometheus multiprocess mode, run by tests/platform/test_metrics.py in a fresh interpreter.

    PROMETHEUS_MULTIPROC_DIR=DIR python -m tests.platform.metrics_multiproc

prometheus-client picks its storage when first imported, so this must be a new process with the
variable set. It forks two "workers" that each serve requests through `MetricsMiddleware`, waits
for them, then prints what GET /metrics of a third process would answer.
"""

from __future__ import annotations

import asyncio
import multiprocessing

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from casebook.platform.metrics import MetricsMiddleware, fold_all, render_metrics
from casebook.platform.settings import Settings


async def _ok(_request: object) -> PlainTextResponse:
    return PlainTextResponse("ok")


def serve(requests: int) -> None:
    app = MetricsMiddleware(Starlette(routes=[Route("/items/{item_id}", _ok)]))

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for number in range(requests):
                assert (await client.get(f"/items/{number}")).status_code == 200

    asyncio.run(run())
    fold_all()  # what the app's shutdown does


if __name__ == "__main__":
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=serve, args=(count,)) for count in (3, 4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0
    print(render_metrics(Settings()).decode())
