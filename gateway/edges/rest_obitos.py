"""REST edge of death batches (``/api/v1/obitos``): send a batch, follow it, and the report of what is missing.

``POST /api/v1/obitos/lotes`` takes the JSON batch (``{"idLote", "competencia", "registros": [...]}``), spooled to
a file — only once the credential was checked (the route's dependency runs before the body is read) — and read
incrementally (ijson); a batch of at most ``GATEWAY_OBITOS_SYNC_MAX`` records is answered 200 with
every outcome, a bigger one 202 with ``Location`` (its progress at ``GET /api/v1/obitos/lotes/{idLote}``, outcomes
paged with ``cursor``/``limite``). Scope ``obitos:enviar`` (a bearer token, or HTTP Basic with the organ's
credential). ``GET /api/v1/obitos/pendencias?competencia=AAAA-MM`` (JSON, or CSV with ``formato=csv`` or
``Accept: text/csv``): with ``relatorios:ler`` every cartório, with ``obitos:enviar`` those the sender answers for.
Errors: RFC 9457 problems with the ``INFODIP-E06x``/``E07x`` codes (``gateway.errors.CATALOGUE``).
"""

# No "from __future__ import annotations": FastAPI must see the local dependencies in the annotations.

import csv
import io
from datetime import date
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from gateway.auth import Caller
from gateway.edges.oauth import Principal, require_scopes
from gateway.edges.problems import HTTPProblem, responses
from gateway.edges.spool import discard, spool
from gateway.obitos.contract import JsonBatch
from gateway.obitos.service import PAGE_MAX, BatchView, ObitosService, Pendencia

SENDER = require_scopes("obitos:enviar", basic=True)
ANYONE = require_scopes(basic=True)


class Prazo(BaseModel):
    """A record's deadline (Código Eleitoral art. 71 §3º): flagged, never refused."""

    dataLimite: str = Field(description="AAAA-MM-DD: dia 15 do mês seguinte ao óbito ou ao registro, o mais tarde")
    emAtraso: bool
    diasAtraso: int


class Resultado(BaseModel):
    """One record's outcome."""

    sequencia: int = Field(description="posição no lote, a partir de 0")
    resultado: str = Field(description="aceito | duplicado | vinculado | rejeitado")
    matricula: str | None
    protocolo: str | None = Field(description="a comunicação INFODIP espécie VI gravada (aceito, vinculado)")
    protocoloAnterior: str | None = Field(description="duplicado/vinculado: a comunicação anterior, quando visível")
    codigo: str | None
    campo: str | None
    mensagem: str | None
    prazo: Prazo | None
    municipioObito: str | None
    dataRegistro: str | None


class Lote(BaseModel):
    """A batch's progress and, paged, its outcomes."""

    idLote: str
    competencia: str
    situacao: str = Field(description="processando | concluido")
    total: int
    processados: int
    contagem: dict[str, int] = Field(description="por resultado: aceito, duplicado, vinculado, rejeitado")
    atrasados: int
    reenvio: bool = Field(description="true quando o mesmo lote (mesmo conteúdo) já fora recebido")
    itens: list[Resultado]
    proximo: str | None


class Declaracao(BaseModel):
    """``POST /api/v1/obitos/sem-obitos``: a month without deaths of a cartório."""

    cnsCartorio: str
    competencia: str


class DeclaracaoFeita(BaseModel):
    """The declaration (``registrada`` false when it existed already)."""

    cnsCartorio: str
    competencia: str
    registrada: bool


class PendenciaCartorio(BaseModel):
    """One cartório in the competência."""

    cnsCartorio: str
    cartorio: str | None
    registros: int
    declarouSemObitos: bool
    atrasados: int
    faltante: bool = Field(description="nem registros nem declaração de mês sem óbitos")


class Pendencias(BaseModel):
    """The report of a competência."""

    competencia: str
    itens: list[PendenciaCartorio]


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def lote_json(view: BatchView) -> Lote:
    """The wire form of a batch view (shared with the sandbox's documentation)."""
    return Lote(
        idLote=view.lote_id, competencia=view.competencia, situacao=view.status, total=view.total,
        processados=view.processed, contagem=view.counts, atrasados=view.late, reenvio=view.replay,
        itens=[Resultado(sequencia=o.seq, resultado=o.outcome, matricula=o.matricula, protocolo=o.protocol,
                         protocoloAnterior=o.earlier, codigo=o.code, campo=o.field, mensagem=o.message,
                         prazo=Prazo(dataLimite=o.due_date.isoformat(), emAtraso=o.days_late > 0,
                                     diasAtraso=o.days_late) if o.due_date else None,
                         municipioObito=o.municipio_ibge, dataRegistro=_iso(o.data_registro))
               for o in view.outcomes],
        proximo=view.next_cursor)


def _caller(who: Principal) -> Caller:
    if who.caller is None:
        raise HTTPProblem(403, "GATEWAY-E063", "O token de operação não envia nem consulta lotes.",
                          campo="Authorization")
    return who.caller


def pendencias_csv(competencia: str, items: list[Pendencia]) -> str:
    """The report as CSV (header row; ``;`` is not used: RFC 4180 commas, UTF-8)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["competencia", "cnsCartorio", "cartorio", "registros", "declarouSemObitos", "atrasados", "faltante"])
    for p in items:
        w.writerow([competencia, p.cns, p.cartorio or "", p.registros, str(p.declarou_sem_obitos).lower(),
                    p.atrasados, str(p.faltante).lower()])
    return out.getvalue()


def install(app: FastAPI, service: ObitosService) -> None:
    """Add the ``/api/v1/obitos`` routes to *app* (after :func:`gateway.edges.oauth.install`)."""
    router = APIRouter(prefix="/api/v1/obitos")
    settings = service.settings

    @router.post("/lotes", status_code=200, response_model=Lote,
                 responses={**responses(401, 403, 409, 413, 422, 429, 503),
                            202: {"model": Lote, "description": "lote grande: em processamento; acompanhe em "
                                                                "Location"}},
                 summary="Envia um lote mensal de óbitos (JSON; até GATEWAY_OBITOS_MAX_RECORDS registros)",
                 openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                     "type": "object", "required": ["idLote", "competencia", "registros"], "properties": {
                         "idLote": {"type": "string"}, "competencia": {"type": "string", "example": "2026-10"},
                         "registros": {"type": "array", "items": {"type": "object"}}}}}}}})
    async def enviar(request: Request, who: Annotated[Principal, Depends(SENDER)]) -> Response:
        caller = _caller(who)
        path = await spool(request, settings.obitos_max_body_bytes, settings.obitos_spool_dir)
        view = await service.receive(caller, lambda: JsonBatch(path), "rest", on_done=lambda: discard(path),
                                     spooled=path)
        body = lote_json(view).model_dump()
        if view.status == "concluido":
            return JSONResponse(body, status_code=200)
        return JSONResponse(body, status_code=202, headers={"Location": f"/api/v1/obitos/lotes/{view.lote_id}"})

    @router.get("/lotes/{idLote}", responses=responses(401, 403, 404, 422, 429, 503),
                summary="Andamento de um lote (processados/total) e seus resultados, paginados")
    async def consultar(idLote: str, who: Annotated[Principal, Depends(SENDER)],
                        cursor: str | None = None,
                        limite: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 100) -> Lote:
        view = await anyio.to_thread.run_sync(service.view, _caller(who), idLote, cursor, limite)
        return lote_json(view)

    @router.post("/sem-obitos", responses=responses(401, 403, 409, 422, 429, 503),
                 summary="Declara que o cartório não registrou óbitos na competência")
    async def sem_obitos(body: Declaracao, who: Annotated[Principal, Depends(SENDER)]) -> DeclaracaoFeita:
        made = await service.declare_none(_caller(who), body.cnsCartorio, body.competencia)
        return DeclaracaoFeita(cnsCartorio=body.cnsCartorio, competencia=body.competencia, registrada=made)

    @router.get("/pendencias", response_model=Pendencias, responses={**responses(401, 403, 422, 429, 503),
                                          200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                                                "description": "JSON, ou CSV com formato=csv / Accept: text/csv"}},
                summary="Por cartório e competência: o que falta (nem registros nem declaração) e o que atrasou")
    async def pendencias(request: Request, who: Annotated[Principal, Depends(ANYONE)],
                         competencia: Annotated[str, Query(description="AAAA-MM")],
                         formato: Annotated[str | None, Query(pattern="^(json|csv)$")] = None) -> Response:
        if "relatorios:ler" in who.scopes or "operador" in who.scopes:
            scope = None
        elif "obitos:enviar" in who.scopes and who.caller is not None:
            scope = await anyio.to_thread.run_sync(service.coverage, who.caller)
        else:
            raise HTTPProblem(403, "GATEWAY-E063", "Escopo insuficiente: esta operação exige relatorios:ler ou "
                              "obitos:enviar.", campo="Authorization")
        items = await anyio.to_thread.run_sync(service.pendencias, competencia, scope)
        wants_csv = formato == "csv" or (formato is None and "text/csv" in request.headers.get("accept", ""))
        if wants_csv:
            return Response(pendencias_csv(competencia, items), media_type="text/csv; charset=utf-8")
        return JSONResponse(Pendencias(competencia=competencia, itens=[PendenciaCartorio(
            cnsCartorio=p.cns, cartorio=p.cartorio, registros=p.registros, declarouSemObitos=p.declarou_sem_obitos,
            atrasados=p.atrasados, faltante=p.faltante) for p in items]).model_dump())

    app.include_router(router)
