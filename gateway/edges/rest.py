"""REST edge (``/api/v1``): consultation of a communication's delivery state, and dead-letter operations.

Callers authenticate as every REST route does (:func:`gateway.edges.oauth.require_scopes`): a bearer token from
``POST /oauth/token``; the consultation also takes HTTP Basic as before (the same credentials as the SOAP
UsernameToken, throttled the same way per user and client address: 429 with ``Retry-After`` and ``INFODIP-E029``);
the dead-letter operations need the scope ``operador``, which the operations token (``GATEWAY_ADMIN_TOKEN``) holds.
Errors are JSON ``{"codigo", "mensagem", "campo"}``.
"""

# No "from __future__ import annotations": FastAPI must see the local dependencies in the annotations.

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from gateway.delivery import DeliveryService
from gateway.edges.oauth import Principal, require_scopes
from gateway.edges.problems import HTTPProblem
from gateway.errors import (
    AuthenticationFailed,
    GatewayError,
    NotAllowed,
    NotFound,
    Overloaded,
    ServerError,
    TooManyRequests,
)
from gateway.infodip.contract import communication_situacao, delivery_situacao
from gateway.infodip.service import InfodipService

_STATUS = {AuthenticationFailed: 401, TooManyRequests: 429, NotAllowed: 403, NotFound: 404, ServerError: 503}


def error_response(exc: GatewayError) -> JSONResponse:
    """The JSON answer for *exc* (401 with ``WWW-Authenticate``, 429 with ``Retry-After`` in seconds, …)."""
    status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 422)
    headers = {"WWW-Authenticate": 'Basic realm="gateway"'} if status == 401 else None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(max(1, int(exc.retry_after + 0.999)))}
    elif isinstance(exc, Overloaded):  # *-E092: 503 and when to come back
        headers = {"Retry-After": str(exc.retry_after_s)}
    return JSONResponse({"codigo": exc.code, "mensagem": exc.message, "campo": exc.field}, status_code=status,
                        headers=headers)


class ReplayRequest(BaseModel):
    """Which dead letters to put back in the queue (none given: all)."""

    destino: str | None = None
    idMensagem: str | None = None


#: any authenticated organ (its own communications only), by bearer token or HTTP Basic as before tokens
SENDER = require_scopes(basic=True)
OPERATOR = require_scopes("operador")


def install(app: FastAPI, service: InfodipService, delivery: DeliveryService) -> None:
    """Add the ``/api/v1`` routes and the error mapping to *app* (authentication: :func:`gateway.edges.oauth.install`
    first)."""
    router = APIRouter(prefix="/api/v1")

    @router.get("/comunicacoes/{protocolo}", summary="Comunicação, versões e situação de entrega por destino")
    async def get_communication(protocolo: str, who: Annotated[Principal, Depends(SENDER)]) -> dict[str, Any]:
        if who.caller is None:  # the operations token is no organ: it has no communications
            raise HTTPProblem(403, "GATEWAY-E063", "O token de operação não consulta comunicações de órgãos.",
                              campo="Authorization")
        view = await service.consultation(who.caller, protocolo, channel=f"rest:{who.via}")
        return {
            "protocolo": view.protocol, "tipo": view.kind, "situacao": communication_situacao(view.status),
            "versaoAtual": view.current_version,
            "versoes": [{"numero": v.version, "operacao": v.operation, "idMensagem": v.message_id,
                         "referenciaRemetente": v.reference, "dataRecebimento": v.received_at.isoformat(),
                         "emAtraso": v.late, "motivoCancelamento": v.cancel_reason} for v in view.versions],
            "entregas": [{"versao": d.version, "destino": d.destination,
                          "situacao": delivery_situacao(d.status), "tentativas": d.attempts,
                          "recibo": d.receipt, "motivo": d.reason, "atualizadoEm": d.updated_at.isoformat()}
                         for d in view.deliveries],
        }

    @router.get("/dead-letters", summary="Entregas em estado terminal (morta), com o motivo")
    async def dead_letters(_op: Annotated[Principal, Depends(OPERATOR)],
                           destino: str | None = None) -> list[dict[str, Any]]:
        dead = await anyio.to_thread.run_sync(delivery.dead_letters, destino)
        return [{"idMensagem": d.message_id, "protocolo": d.protocol, "versao": d.version, "destino": d.destination,
                 "tentativas": d.attempts, "motivo": d.reason, "atualizadoEm": d.updated_at.isoformat()}
                for d in dead]

    @router.post("/dead-letters/replay", summary="Recoloca entregas mortas na fila (todas, por destino ou mensagem)")
    async def replay(body: ReplayRequest, op: Annotated[Principal, Depends(OPERATOR)]) -> dict[str, Any]:
        done = await delivery.replay(destination=body.destino, message_id=body.idMensagem, actor=f"api:{op.actor}")
        return {"reprocessadas": [{"idMensagem": r.message_id, "destino": r.destination} for r in done]}

    app.include_router(router)

    @app.exception_handler(GatewayError)
    async def _gateway_error(_request: Request, exc: GatewayError) -> JSONResponse:
        return error_response(exc)
