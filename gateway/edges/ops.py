"""Operations endpoints: ``/healthz``, ``/readyz``, ``/metrics``, ``/xsd/NAME``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio.to_thread
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.health import Health
from gateway.metrics import Metrics
from gateway.schemas import SERVED_XSD


async def healthz(_request: Request) -> Response:
    """The process answers."""
    return JSONResponse({"status": "ok"})


def readyz_endpoint(health: Health) -> Callable[[Request], Awaitable[Response]]:
    """``/readyz``: 200 when ready, 503 only when the database or its migrations are not (partners never make it
    503)."""

    async def readyz(_request: Request) -> Response:
        ready, body = await anyio.to_thread.run_sync(health.readiness)
        return JSONResponse(body, status_code=200 if ready else 503)

    return readyz


def metrics_endpoint(metrics: Metrics) -> Callable[[Request], Awaitable[Response]]:
    """``/metrics`` in the Prometheus text format."""

    async def endpoint(_request: Request) -> Response:
        data = await anyio.to_thread.run_sync(generate_latest, metrics.registry)
        return Response(data, media_type=CONTENT_TYPE_LATEST)

    return endpoint


async def xsd(request: Request) -> Response:
    """The contract XSDs under ``/xsd/NAME``."""
    path = SERVED_XSD.get(request.path_params["name"])
    if path is None:
        return Response("XSD desconhecido.\n", status_code=404, media_type="text/plain")
    return Response(path.read_bytes(), media_type="text/xml; charset=utf-8")
