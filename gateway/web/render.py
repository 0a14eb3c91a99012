"""The pages' rendering: one Jinja2 environment, HTML responses with security headers, bundled static assets.

Templates live in ``gateway/web/templates`` and are autoescaped (HTML and XML). :func:`page` renders one into an
``HTMLResponse`` whose headers forbid inline script, framing and any other origin (:data:`SECURITY_HEADERS`); pages
therefore put their script, if any, in ``/static/`` files — the main path of every page works without it.
:func:`install` mounts ``/static/`` (files packaged with the gateway; nothing is fetched from a CDN).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
#: URL prefix of the bundled assets
STATIC_PATH = "/static"

#: headers of every page: scripts and styles only from this origin, images also as data: URLs (QR codes), no
#: framing, no MIME sniffing, no referrer leaving the gateway
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

environment = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html", "xml"]),
    undefined=StrictUndefined,  # a missing variable is a bug, not an empty string on a page
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.globals["static"] = lambda name: f"{STATIC_PATH}/{name}"


def render(template: str, context: Mapping[str, Any] | None = None) -> str:
    """*template* (a path under ``templates/``) rendered with *context*; raises ``jinja2.TemplateError``."""
    return environment.get_template(template).render(**(context or {}))


def page(template: str, context: Mapping[str, Any] | None = None, *, status: int = 200,
         headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """An HTML response of *template* with :data:`SECURITY_HEADERS` (plus *headers*, which win)."""
    return HTMLResponse(render(template, context), status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def install(app: Starlette) -> None:
    """Serve the bundled assets at ``/static/`` on *app* (idempotent)."""
    if not any(isinstance(r, Mount) and r.path == STATIC_PATH for r in app.router.routes):
        app.router.routes.append(Mount(STATIC_PATH, app=StaticFiles(directory=str(STATIC)), name="static"))
