"""RFC 9457 problem details: the one shape of every REST error (DESIGN.md, "REST conventions").

```json
{"type": "urn:gateway-interop:problema:INFODIP-E021", "title": "Usuário ou senha inválidos.", "status": 401,
 "detail": "Usuário ou senha inválidos.", "codigo": "INFODIP-E021", "mensagem": "Usuário ou senha inválidos.",
 "campo": "Security/UsernameToken"}
```

``type`` names the stable code (a URN: the README's catalogue says what each means), ``title`` is the catalogue's
text for the code, ``detail`` and ``mensagem`` this occurrence's Portuguese message, ``campo`` the field at fault
(or null). Served as ``application/problem+json``; 401 carries ``WWW-Authenticate``, 429 and 503 ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.responses import Response

from gateway.errors import (
    CATALOGUE,
    AuthenticationFailed,
    ClientError,
    Conflict,
    GatewayError,
    ManyRefusals,
    NotAllowed,
    NotFound,
    Overloaded,
    PartnerError,
    ServerError,
    TooManyRequests,
)

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:gateway-interop:problema:"
#: HTTP status by the error's class (first match); any other GatewayError is the request's fault: 422
STATUS: tuple[tuple[type[GatewayError], int], ...] = (
    (AuthenticationFailed, 401), (TooManyRequests, 429), (NotAllowed, 403), (NotFound, 404), (Conflict, 409),
    (ServerError, 503), (PartnerError, 502))


class Problem(BaseModel):
    """An error of the REST API (RFC 9457 problem details with the gateway's members)."""

    type: str = Field(description="URI do tipo do problema: urn:gateway-interop:problema:<codigo>",
                      examples=["urn:gateway-interop:problema:INFODIP-E021"])
    title: str = Field(description="O que o código significa (o catálogo de erros do README)")
    status: int = Field(description="O status HTTP desta resposta")
    detail: str = Field(description="Esta ocorrência, em português (igual a mensagem)")
    codigo: str = Field(description="Código estável do erro", examples=["INFODIP-E021"])
    mensagem: str = Field(description="Mensagem em português")
    campo: str | None = Field(description="Campo em falta ou inválido, ou null")


def status_of(exc: GatewayError) -> int:
    """The HTTP status of *exc* (see :data:`STATUS`)."""
    return next((status for cls, status in STATUS if isinstance(exc, cls)), 422)


def problem(exc: GatewayError, status: int | None = None, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The problem+json answer for *exc*, with *status* (default :func:`status_of`) and the headers its status
    calls for: ``WWW-Authenticate`` (401), ``Retry-After`` in whole seconds (429, and the 503 of an overload)."""
    status = status or status_of(exc)
    extra: dict[str, str] = {}
    if isinstance(exc, HTTPProblem):
        status = exc.status
    if status == 401:
        extra["WWW-Authenticate"] = 'Basic realm="gateway"'
    if isinstance(exc, TooManyRequests):
        extra["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
    elif isinstance(exc, Overloaded):
        extra["Retry-After"] = str(exc.retry_after_s)
    extra.update(headers or {})
    body = Problem(type=TYPE_PREFIX + exc.code, title=CATALOGUE.get(exc.code, exc.message), status=status,
                   detail=exc.message, codigo=exc.code, mensagem=exc.message, campo=exc.field)
    content = body.model_dump()
    if isinstance(exc, ManyRefusals):  # every failed check of one request, each with its code and field
        content["erros"] = [{"codigo": c, "campo": f, "mensagem": m} for c, f, m in exc.errors]
    return JSONResponse(content, status_code=status, headers=extra, media_type=MEDIA_TYPE)


class HTTPProblem(ClientError):
    """Raised by a dependency or a route to answer a problem with an explicit *status* (e.g. 401 with a Bearer
    challenge, 403 for a missing scope, 400 for a missing header): a :class:`~gateway.errors.GatewayError`, so it
    is rendered by :func:`problem` like every other error."""

    def __init__(self, status: int, code: str, detail: str, *, campo: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(code, detail, campo)
        self.status = status
        self.detail = detail
        self.campo = campo
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        """The problem response."""
        return problem(self, self.status, self.headers)


async def _handle(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPProblem)
    return exc.response()


def install(app: FastAPI) -> None:
    """Answer every :class:`HTTPProblem` raised under *app* with its problem response."""
    app.add_exception_handler(HTTPProblem, _handle)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for a route that may answer a problem with each of *statuses*."""
    described = {400: "Requisição inválida", 401: "Autenticação ausente ou inválida", 403: "Sem permissão",
                 404: "Não encontrado", 409: "Conflito", 422: "Requisição fora do contrato",
                 429: "Muitas tentativas: aguarde Retry-After segundos", 502: "Um parceiro falhou",
                 503: "Indisponível ou sobrecarregado: tente de novo após Retry-After"}
    return {s: {"model": Problem, "description": described.get(s, "Erro"),
                "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}} for s in statuses}


def document(app: FastAPI) -> None:
    """Make *app*'s OpenAPI document say that errors are ``application/problem+json`` only (FastAPI adds
    ``application/json`` beside every additional response's media type)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for answer in operation.get("responses", {}).values():
                    content = answer.get("content", {})
                    if MEDIA_TYPE in content:
                        content.pop("application/json", None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
