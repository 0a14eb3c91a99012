"""Operations endpoints: ``/healthz``, ``/readyz``, ``/metrics``, ``/xsd/NAME``, and ``/docs``.

``/docs`` is Swagger UI served from the gateway itself — its script, style sheet and icon under ``/docs-assets/`` —
so it works on an intranet: the page names no external URL (a test checks). The assets come from the
``swagger-ui-bundle-v2`` package (Swagger UI 5, which reads the OpenAPI 3.1 that FastAPI writes; kept current by the
connexion project's maintainers; the original ``swagger-ui-bundle`` stopped at Swagger UI 4, which cannot). Swagger
UI's online validator is switched off (``validatorUrl: null``): it would send the schema out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio.to_thread
from fastapi.openapi.docs import get_swagger_ui_html
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

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


DOCS_ASSETS = "/docs-assets"


def docs_routes(title: str, openapi_url: str = "/openapi.json") -> list[BaseRoute]:
    """``/docs`` (Swagger UI on *openapi_url*) and ``/docs-assets/…`` (its bundled files)."""
    page = get_swagger_ui_html(openapi_url=openapi_url, title=title,
                               swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                               swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                               swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
                               swagger_ui_parameters={"validatorUrl": None}).body

    async def docs(_request: Request) -> Response:
        return HTMLResponse(page)

    return [Route("/docs", docs, methods=["GET"], include_in_schema=False),
            Mount(DOCS_ASSETS, app=StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")]
