"""REST errors as RFC 9457 problem details (``application/problem+json``), keeping the members every REST error
has (DESIGN.md "REST conventions"): ``type``, ``title``, ``status``, ``detail``, and ``codigo`` (the stable code),
``mensagem`` (Portuguese, the same text as ``detail``) and ``campo`` (the field at fault, or null).

``type`` is ``urn:gateway-interop:erro:<código>`` — one URI per stable code, the README's table saying what it means.
:func:`problem` builds the response; :class:`HTTPProblem` is what a dependency raises to answer with one
(:func:`install` adds its handler); :class:`Problem` documents the shape in ``/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.responses import Response

MEDIA_TYPE = "application/problem+json"

#: ``title`` per status (Portuguese; the same for every error of that status).
TITLES = {400: "Requisição inválida", 401: "Autenticação necessária", 403: "Acesso negado",
          404: "Não encontrado", 409: "Conflito", 413: "Corpo grande demais", 422: "Requisição não processável",
          429: "Muitas requisições", 500: "Erro interno", 503: "Serviço indisponível"}


class Problem(BaseModel):
    """An RFC 9457 problem with the gateway's members."""

    type: str = Field(description="urn:gateway-interop:erro:<código>",
                      examples=["urn:gateway-interop:erro:GATEWAY-E062"])
    title: str
    status: int
    detail: str
    codigo: str = Field(description="código estável do erro (tabela do README)")
    mensagem: str = Field(description="o mesmo texto de detail")
    campo: str | None = Field(description="o campo em falta ou inválido, ou null")


def problem_type(code: str) -> str:
    """The ``type`` URI of the stable error code *code*."""
    return f"urn:gateway-interop:erro:{code}"


def problem_body(status: int, code: str, detail: str, campo: str | None = None,
                 title: str | None = None) -> dict[str, Any]:
    """The members of a problem (see :class:`Problem`)."""
    return {"type": problem_type(code), "title": title or TITLES.get(status, "Erro"), "status": status,
            "detail": detail, "codigo": code, "mensagem": detail, "campo": campo}


def problem(status: int, code: str, detail: str, *, campo: str | None = None, title: str | None = None,
            headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An ``application/problem+json`` response with status *status*."""
    return JSONResponse(problem_body(status, code, detail, campo, title), status_code=status,
                        headers=dict(headers or {}), media_type=MEDIA_TYPE)


class HTTPProblem(Exception):
    """Raised (by a dependency, a route) to answer with :func:`problem`."""

    def __init__(self, status: int, code: str, detail: str, *, campo: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.campo = campo
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        """The problem response."""
        return problem(self.status, self.code, self.detail, campo=self.campo, headers=self.headers)


async def _handle(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPProblem)
    return exc.response()


def install(app: FastAPI) -> None:
    """Answer every :class:`HTTPProblem` raised under *app* with its problem response."""
    app.add_exception_handler(HTTPProblem, _handle)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting *statuses* as problems (for a route's decorator)."""
    return {s: {"model": Problem, "description": TITLES.get(s, "Erro"),
                "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}} for s in statuses}
