"""REST edge of the execuções fiscais filed through the MNI hub (issue 12, points 1–6). Bearer scope
``execucao-fiscal:ajuizar`` (PGFN, PGF).

- ``POST /api/v1/execucoes-fiscais`` — JSON or eproc's ``ListaCDA`` XML (:mod:`gateway.divida.execucao.contract`):
  202 ``Execucao`` (``situacao: recebida``) at once when every check passes; the same ``referencia`` with the same
  content answers the same id (200); 422 problem listing every failure in ``erros`` (``EXEC-E0xx``, field naming the
  CDA), 409 ``EXEC-E007``/``EXEC-E020``; nothing stored when refused.
- ``GET /api/v1/execucoes-fiscais/{id}`` and ``GET /api/v1/execucoes-fiscais?situacao=&numeroProcesso=&referencia=
  &cursor=&limite=`` → the filing(s): ``recebida``, ``enviada``, ``protocolada`` (``numeroProcesso``, ``protocolo``),
  ``recusada`` (``motivo``) or ``indeterminada``.
- ``POST /api/v1/execucoes-fiscais/{id}/resolucao`` with ``On-Behalf-Of`` — an indeterminada filing resolved by a
  person: ``{"numeroProcesso", "justificativa"}`` or ``{"decisao": "reenviar", "justificativa"}`` (audited).
- ``POST /api/v1/execucoes-fiscais/{id}/peticoes`` — a follow-up petition on a protocolada execução (point 6).

The edge parses and maps only (:class:`~gateway.divida.execucao.service.ExecucaoService`).
"""

# No "from __future__ import annotations": FastAPI must see the dependencies' annotations.

import json
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from gateway.auth import Caller
from gateway.divida.execucao import contract
from gateway.divida.execucao.service import MAX_PAGE, ExecucaoService
from gateway.edges.oauth import Principal, require_scopes
from gateway.edges.problems import HTTPProblem, responses
from gateway.errors import ManyRefusals
from gateway.settings import XmlLimits
from gateway.xml.reader import execucao_policy, read_xml

FILER = require_scopes("execucao-fiscal:ajuizar")
ACTING = require_scopes("execucao-fiscal:ajuizar", on_behalf_of=True)
MAX_BODY = 64 * 1024 * 1024
_BODY_DOC = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object"}, "example": {
        "referencia": "PGFN-2026-000123", "cdas": [{"numeroInscricao": "…", "…": "ver README"}]}},
    "application/xml": {"schema": {"type": "string"},
                        "example": "<ListaCDA referencia=\"…\"><CDA>…</CDA></ListaCDA>"}}}}


def _caller(who: Principal) -> Caller:
    if who.caller is None:
        raise HTTPProblem(403, "GATEWAY-E063", "O token de operação não é uma procuradoria.", campo="Authorization")
    return who.caller


def install(app: FastAPI, service: ExecucaoService, limits: XmlLimits) -> None:
    """Add the execuções fiscais' routes to *app*."""
    router = APIRouter(prefix="/api/v1/execucoes-fiscais", tags=["execuções fiscais"])

    @router.post("", summary="Ajuíza uma execução fiscal a partir de CDAs estruturadas (JSON ou ListaCDA XML)",
                 status_code=202, responses=responses(401, 403, 409, 422, 503), openapi_extra=_BODY_DOC)
    async def ajuizar(request: Request, who: Annotated[Principal, Depends(FILER)]) -> JSONResponse:
        caller = _caller(who)
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise ManyRefusals([("EXEC-E001", "body", f"Corpo acima de {MAX_BODY // 2**20} MiB.")])
        kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if kind.endswith("xml"):
            root, _info = read_xml(raw, execucao_policy(limits))
            data: object = contract.dict_of_lista_cda(root)
            if isinstance(data, dict) and "_raiz" in data:
                raise ManyRefusals([("EXEC-E001", "ListaCDA", f"Raiz {data['_raiz']}: esperado ListaCDA.")])
        else:
            try:
                data = json.loads(raw)
            except ValueError:
                raise ManyRefusals([("EXEC-E001", "body", "JSON malformado.")]) from None
        view, created = await service.ajuizar(caller, data, f"rest:{who.via}:{who.actor}")
        return JSONResponse(view.model_dump(), status_code=202 if created else 200,
                            headers={"Location": f"/api/v1/execucoes-fiscais/{view.id}"})

    @router.get("", summary="Execuções fiscais da procuradoria (filtros, cursor)", responses=responses(401, 403, 422))
    async def listar(who: Annotated[Principal, Depends(FILER)], situacao: str | None = None,
                     numeroProcesso: str | None = None, referencia: str | None = None, cursor: str | None = None,
                     limite: int = Query(50, description=f"1 a {MAX_PAGE}")) -> contract.Pagina:
        page = await service.listar(_caller(who), situacao, numeroProcesso, referencia, cursor, limite)
        return contract.Pagina(itens=page.itens, proximo=page.proximo)

    @router.get("/{ident}", summary="Situação de uma execução fiscal", responses=responses(401, 403, 404))
    async def ver(ident: str, who: Annotated[Principal, Depends(FILER)]) -> contract.Execucao:
        return await service.ver(_caller(who), ident)

    @router.post("/{ident}/resolucao", summary="Resolve uma execução indeterminada (processo encontrado ou reenvio)",
                 responses=responses(400, 401, 403, 404, 409, 422))
    async def resolver(ident: str, body: contract.Resolucao,
                       who: Annotated[Principal, Depends(ACTING)]) -> contract.Execucao:
        assert who.on_behalf_of is not None
        return await service.resolver(_caller(who), ident, body, who.on_behalf_of, f"rest:{who.via}:{who.actor}")

    @router.post("/{ident}/peticoes", summary="Petição intercorrente (suspensão, extinção, substituição de CDA)",
                 status_code=202, responses=responses(401, 403, 404, 409, 422))
    async def peticionar(ident: str, body: contract.Peticao,
                         who: Annotated[Principal, Depends(FILER)]) -> JSONResponse:
        view, created = await service.peticionar(_caller(who), ident, body, f"rest:{who.via}:{who.actor}")
        return JSONResponse(view.model_dump(), status_code=202 if created else 200,
                            headers={"Location": f"/api/v1/execucoes-fiscais/{view.id}"})

    app.include_router(router)
