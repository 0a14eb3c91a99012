"""Operations endpoints: ``/healthz``, ``/readyz``, ``/metrics``, ``/xsd/NAME``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.db.migrate import current_revision, head_revision
from gateway.metrics import Metrics
from gateway.schemas import SERVED_XSD


async def healthz(_request: Request) -> Response:
    """The process answers."""
    return JSONResponse({"status": "ok"})


def readyz_endpoint(
    engine: Engine, extra: Callable[[], dict[str, object]] | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """``/readyz``: 503 only when the database or its migrations are not ready (partners never make it 503)."""
    import anyio.to_thread

    def check() -> tuple[int, dict[str, object]]:
        body: dict[str, object] = {}
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            body["database"] = "ok"
        except Exception as exc:
            return 503, {"status": "unavailable", "database": f"erro: {type(exc).__name__}"}
        current, head = current_revision(engine), head_revision()
        body["migrations"] = {"current": current, "head": head}
        if current != head:
            return 503, {"status": "unavailable", **body}
        if extra is not None:
            body.update(extra())
        return 200, {"status": "ready", **body}

    async def readyz(_request: Request) -> Response:
        status, body = await anyio.to_thread.run_sync(check)
        return JSONResponse(body, status_code=status)

    return readyz


def metrics_endpoint(metrics: Metrics) -> Callable[[Request], Awaitable[Response]]:
    """``/metrics`` in the Prometheus text format."""
    import anyio.to_thread

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
