"""REST edge (``/api/v1``): consultation of a communication's delivery state, and dead-letter operations.

Callers authenticate as every REST route does (:func:`gateway.edges.oauth.require_scopes`): a bearer token from
``POST /oauth/token``; the consultation also takes HTTP Basic as before (the same credentials as the SOAP
UsernameToken, throttled the same way per user and client address: 429 with ``Retry-After`` and ``INFODIP-E029``);
the operations routes need the scope ``operador``, which the operations token (``GATEWAY_ADMIN_TOKEN``) holds.
Every error — the gateway's own, a request outside the contract (FastAPI's validation), an unknown route or method,
an unexpected failure — is one RFC 9457 problem (:mod:`gateway.edges.problems`: ``type``, ``title``, ``status``,
``detail``, ``codigo``, ``mensagem``, ``campo``), and every route declares its answers' models, so ``/openapi.json``
documents both.
"""

# No "from __future__ import annotations": FastAPI must see the local dependencies in the annotations.

import logging
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.delivery import DeliveryService
from gateway.edges.oauth import Principal, require_scopes
from gateway.edges.problems import HTTPProblem, document, problem, responses
from gateway.errors import (
    ClientError,
    Conflict,
    GatewayError,
    OperatorError,
    ServerError,
)
from gateway.hub.registry import Registry
from gateway.infodip.contract import communication_situacao, delivery_situacao
from gateway.infodip.service import InfodipService

log = logging.getLogger("gateway.rest")
ISO = "ISO 8601, com fuso"


def error_response(exc: GatewayError) -> JSONResponse:
    """The problem+json answer for *exc* (:func:`gateway.edges.problems.problem`)."""
    return problem(exc)


class ReplayRequest(BaseModel):
    """Which dead letters to put back in the queue (none given: all)."""

    destino: str | None = None
    idMensagem: str | None = None


#: any authenticated organ (its own communications only), by bearer token or HTTP Basic as before tokens
SENDER = require_scopes(basic=True)
OPERATOR = require_scopes("operador")


class Processamento(BaseModel):
    """What a national store did with a version after receiving it (DOMAIN.md §2a)."""

    destino: str = Field(examples=["TSE"])
    resultado: str = Field(description="processado | eleitor-nao-encontrado | revisao-manual")
    motivo: str | None
    dataProcessamento: str | None = Field(description=ISO)
    registradoEm: str = Field(description=ISO)


class Versao(BaseModel):
    """One version of a communication."""

    numero: int
    operacao: str = Field(description="envio | retificacao | cancelamento")
    idMensagem: str
    referenciaRemetente: str
    dataRecebimento: str = Field(description=ISO)
    emAtraso: bool
    motivoCancelamento: str | None
    processamento: list[Processamento] = Field(default_factory=list,
                                               description="o que cada repositório fez com a versão (vazio: ainda "
                                                           "não informado)")


class Entrega(BaseModel):
    """The delivery of one version to one destination."""

    versao: int
    destino: str = Field(examples=["TSE", "CNJ"])
    situacao: str = Field(description="tipoSituacaoEntrega do contrato: pendente, bloqueada, entregue, falha, morta")
    tentativas: int
    recibo: str | None
    motivo: str | None
    atualizadoEm: str = Field(description=ISO)


class Comunicacao(BaseModel):
    """A communication, its versions and the delivery state of each version per destination."""

    protocolo: str
    tipo: str = Field(examples=["I", "IV"])
    situacao: str = Field(description="tipoSituacaoComunicacao do contrato: ativa, cancelada")
    versaoAtual: int
    versoes: list[Versao]
    entregas: list[Entrega]


class EntregaMorta(BaseModel):
    """A delivery in the terminal (dead-letter) state."""

    idMensagem: str
    protocolo: str
    versao: int
    destino: str
    tentativas: int
    motivo: str | None
    atualizadoEm: str = Field(description=ISO)


class Reprocessada(BaseModel):
    """A dead letter put back in the queue."""

    idMensagem: str
    destino: str


class Reprocessamento(BaseModel):
    """What a replay put back in the queue."""

    reprocessadas: list[Reprocessada]


class RegistroMni(BaseModel):
    """The MNI registry now in force."""

    tribunais: list[str] = Field(examples=[["4.04", "8.19"]])
    instalacoes: list[str] = Field(examples=[["4.04/1", "8.19/1", "8.19/2"]])
    clientes: list[str] = Field(examples=[["PGF", "PGFN"]])


#: pydantic's error types for a body that is not a JSON object at all (sent as form data or text, say)
_NOT_AN_OBJECT = frozenset({"model_attributes_type", "dict_type", "model_type"})


class UnexpectedErrorMiddleware:
    """ASGI middleware: an exception that no handler turned into an answer (a bug) is logged once (logger
    ``gateway.rest``, with its traceback) and answered ``500`` problem+json ``GATEWAY-E090``, and the connection stays
    usable. When the answer had already started, nothing can be said any more: the exception goes on to the server,
    which closes the connection."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            if started:
                raise
            log.error("unexpected error in %s %s", scope.get("method"), scope.get("path"), exc_info=exc)
            await problem(ServerError("GATEWAY-E090"), 500)(scope, receive, send)


def _said(error: Mapping[str, Any]) -> str:
    """What a validation error says to the client: the validator's own message, except for a body that is not a
    JSON object, where it says what to send (a newcomer's ``curl -d`` without ``Content-Type`` read "Input should
    be a valid dictionary or object to extract fields from")."""
    if tuple(error.get("loc", ())) == ("body",) and error.get("type") in _NOT_AN_OBJECT:
        return "o corpo deve ser um objeto JSON, enviado com Content-Type: application/json"
    return str(error.get("msg", ""))


def install(app: FastAPI, service: InfodipService, delivery: DeliveryService, *,
            reload_registry: Callable[[], Registry] | None = None) -> None:
    """Add the ``/api/v1`` routes and the error mapping to *app* (authentication: :func:`gateway.edges.oauth.install`
    first); *reload_registry* (the MNI hub's, when there is one) backs
    ``POST /api/v1/operacao/registro-mni/recarregar``."""
    router = APIRouter(prefix="/api/v1")

    @router.get("/comunicacoes/{protocolo}", summary="Comunicação, versões e situação de entrega por destino",
                responses=responses(401, 403, 404, 422, 429, 503))
    async def get_communication(protocolo: str, who: Annotated[Principal, Depends(SENDER)]) -> Comunicacao:
        if who.caller is None:  # the operations token is no organ: it has no communications
            raise HTTPProblem(403, "GATEWAY-E063", "O token de operação não consulta comunicações de órgãos.",
                              campo="Authorization")
        view = await service.consultation(who.caller, protocolo, channel=f"rest:{who.via}")
        return Comunicacao(
            protocolo=view.protocol, tipo=view.kind, situacao=communication_situacao(view.status),
            versaoAtual=view.current_version,
            versoes=[Versao(numero=v.version, operacao=v.operation, idMensagem=v.message_id,
                            referenciaRemetente=v.reference, dataRecebimento=v.received_at.isoformat(),
                            emAtraso=v.late, motivoCancelamento=v.cancel_reason,
                            processamento=[Processamento(
                                destino=o.destination, resultado=o.outcome, motivo=o.detail,
                                dataProcessamento=o.processed_at.isoformat() if o.processed_at else None,
                                registradoEm=o.recorded_at.isoformat()) for o in v.outcomes])
                     for v in view.versions],
            entregas=[Entrega(versao=d.version, destino=d.destination, situacao=delivery_situacao(d.status),
                              tentativas=d.attempts, recibo=d.receipt, motivo=d.reason,
                              atualizadoEm=d.updated_at.isoformat()) for d in view.deliveries])

    @router.get("/dead-letters", summary="Entregas em estado terminal (morta), com o motivo",
                responses=responses(401, 403, 422, 503))
    async def dead_letters(_op: Annotated[Principal, Depends(OPERATOR)],
                           destino: str | None = None) -> list[EntregaMorta]:
        dead = await anyio.to_thread.run_sync(delivery.dead_letters, destino)
        return [EntregaMorta(idMensagem=d.message_id, protocolo=d.protocol, versao=d.version, destino=d.destination,
                             tentativas=d.attempts, motivo=d.reason, atualizadoEm=d.updated_at.isoformat())
                for d in dead]

    @router.post("/dead-letters/replay", summary="Recoloca entregas mortas na fila (todas, por destino ou mensagem)",
                 responses=responses(401, 403, 422, 503))
    async def replay(body: ReplayRequest, op: Annotated[Principal, Depends(OPERATOR)]) -> Reprocessamento:
        done = await delivery.replay(destination=body.destino, message_id=body.idMensagem, actor=f"api:{op.actor}")
        return Reprocessamento(reprocessadas=[Reprocessada(idMensagem=r.message_id, destino=r.destination)
                                              for r in done])

    @router.post("/operacao/registro-mni/recarregar", responses=responses(401, 403, 409, 422, 503),
                 summary="Relê o registro de instalações MNI (GATEWAY_MNI_REGISTRY_PATH) sem reiniciar; um arquivo "
                         "inválido é recusado (GATEWAY-E003) e o registro em vigor permanece")
    async def reload(_op: Annotated[Principal, Depends(OPERATOR)]) -> RegistroMni:
        if reload_registry is None:
            raise Conflict("GATEWAY-E001", "Hub MNI não configurado (GATEWAY_MNI_REGISTRY_PATH).")
        try:
            registry = await anyio.to_thread.run_sync(reload_registry)
        except OperatorError as exc:  # the file is invalid: the request is refused, the running registry stays
            raise ClientError(exc.code, exc.message, exc.field) from None
        return RegistroMni(**registry.summary())

    app.include_router(router)
    document(app)

    @app.exception_handler(GatewayError)
    async def _gateway_error(_request: Request, exc: GatewayError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        fields = ["/".join(str(p) for p in e.get("loc", ())[1:]) or str(e.get("loc", ("?",))[0]) for e in errors]
        detail = "; ".join(f"{f}: {_said(e)}" for f, e in zip(fields, errors, strict=True))
        return problem(ClientError("GATEWAY-E070", f"Requisição fora do contrato — {detail}",
                                   fields[0] if fields else None), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            err = ClientError("GATEWAY-E071", f"Recurso inexistente: {request.url.path}")
        elif exc.status_code == 405:
            err = ClientError("GATEWAY-E071", f"Método {request.method} não permitido em {request.url.path}")
        else:
            err = ClientError("GATEWAY-E070", str(exc.detail))
        return problem(err, exc.status_code, exc.headers)

    # an unexpected exception answers 500 GATEWAY-E090 here, not in Starlette's outermost handler: that one
    # re-raises after answering, so the server logged the error twice and closed a kept-alive connection, and the
    # client's next request on it failed (found by a probe of the sandbox)
    app.add_middleware(UnexpectedErrorMiddleware)
