"""REST edge of the dívida ativa bridge (issue 11, point 3): PJe asks one API about PGFN's and PGF's debtors.

- ``POST /api/v1/devedores/inscricoes`` with ``{"documentos": [CPF/CNPJ, 1 to 100], "finalidade": "<processo>"}``
  (a body: a CPF never travels in a URL) → ``{"resultados": [...]}``, one per distinct document;
- ``GET /api/v1/inscricoes/{credor}/{numero}?finalidade=<processo>`` → one inscription in detail.

Both need a bearer token with the scope ``divida:ler`` and the CPF of the natural person acting in
``On-Behalf-Of`` (:func:`~gateway.edges.oauth.require_scopes`: 401 ``GATEWAY-E062``, 403 ``GATEWAY-E063``, 400
``GATEWAY-E064``, 422 ``GATEWAY-E065``). The edge only parses and maps: the use cases — per-client bound, purpose,
audit — are :class:`~gateway.divida.access.DividaAccess`'s, the wire format :mod:`gateway.divida.contract`'s.
Errors are RFC 9457 problems (:mod:`gateway.edges.problems`): 422 naming the field (``DIVIDA-E001``…``E007``,
``GATEWAY-E070`` for a body outside the contract or not JSON), 404 ``DIVIDA-E010``, 429 ``DIVIDA-E040`` with
``Retry-After``, and 503 ``DIVIDA-E050`` with ``Retry-After`` when no partner answered at all — a partner that fails
alone is reported in ``fontes`` with ``parcial: true``, never as an error.
"""

# No "from __future__ import annotations": FastAPI must see the dependencies' annotations.

import math
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import Response

from gateway.divida import contract
from gateway.divida.access import Acesso, DividaAccess
from gateway.divida.domain import NenhumParceiroRespondeu
from gateway.edges.oauth import Principal, require_scopes
from gateway.edges.problems import HTTPProblem, responses

READER = require_scopes("divida:ler", on_behalf_of=True)
JSON = "application/json"


def _acesso(who: Principal, finalidade: object) -> Acesso:
    assert who.caller is not None and who.on_behalf_of is not None  # divida:ler is an organ's; OBO required
    return Acesso(who.caller.organ_id, who.caller.username, f"rest:{who.via}", who.on_behalf_of, finalidade)


def _unavailable(exc: NenhumParceiroRespondeu, default_wait_s: float) -> HTTPProblem:
    wait = max(1, math.ceil(exc.retry_after if exc.retry_after is not None else default_wait_s))
    return HTTPProblem(503, exc.code, exc.message, headers={"Retry-After": str(wait)})


def install(app: FastAPI, access: DividaAccess) -> None:
    """Add the bridge's routes to *app* (authentication and problems: :func:`gateway.edges.oauth.install` first)."""
    router = APIRouter(prefix="/api/v1", tags=["dívida ativa"])
    wait_s = access.service.policy.breaker_cooldown_s

    @router.post("/devedores/inscricoes", response_model=contract.Resultados,
                 summary="Inscrições em dívida ativa (PGFN e PGF) de 1 a 100 devedores, numa chamada",
                 responses=responses(400, 401, 403, 422, 429, 503))
    async def devedores(body: contract.ConsultaDevedores, who: Annotated[Principal, Depends(READER)]) -> Response:
        try:
            results = await access.devedores(_acesso(who, body.finalidade), body.documentos)
        except NenhumParceiroRespondeu as exc:
            raise _unavailable(exc, wait_s) from None
        return Response(contract.resultados(results).model_dump_json(), media_type=JSON)

    @router.get("/inscricoes/{credor}/{numero}", response_model=contract.ResultadoInscricao,
                summary="Uma inscrição em dívida ativa em detalhe (credor PGFN ou PGF)",
                responses=responses(400, 401, 403, 404, 422, 429, 503))
    async def inscricao(credor: str, numero: str, who: Annotated[Principal, Depends(READER)],
                        finalidade: Annotated[str, Query(description=contract.CNJ,
                                                         examples=[contract.EXEMPLO_PROCESSO])]) -> Response:
        try:
            result = await access.inscricao(_acesso(who, finalidade), credor, numero)
        except NenhumParceiroRespondeu as exc:
            raise _unavailable(exc, wait_s) from None
        return Response(contract.inscricao_detalhada(result).model_dump_json(), media_type=JSON)

    app.include_router(router)
