"""REST edge of the consultation context (issue 14): ``POST /api/v1/pessoas/situacao`` (a person's political-rights
situation), ``GET /api/v1/comunicacoes`` (a sender's own communications, cursor-paged) and
``GET /api/v1/relatorios/atrasos`` (the lateness report, JSON or CSV).

Thin: parse, call :class:`~gateway.consulta.service.ConsultaService`, render. A CPF or a name never travels in a URL:
the person's keys, ``data`` and ``finalidade`` come in the POST body; the acting person in ``On-Behalf-Of``.
Errors are problem details (:mod:`gateway.edges.problems`; codes INFODIP-E080…E088, GATEWAY-E062…E065).
"""

# No "from __future__ import annotations": FastAPI must see the local dependencies in the annotations.

import csv
import email.message
import io
import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError

from gateway.consulta.service import SCOPE as CONSULTA_SCOPE
from gateway.consulta.service import ConsultaService, LatenessLine, PersonQuery, Situation
from gateway.edges.oauth import Principal, oauth_edge, require_scopes
from gateway.edges.problems import HTTPProblem, responses
from gateway.infodip.contract import communication_situacao, delivery_situacao

ISO = "ISO 8601, com fuso"
SENDER = require_scopes(basic=True)
ANYONE = require_scopes(basic=True)


class SituacaoPedido(BaseModel):
    """The key of the person (one of: ``cpf``; ``tituloEleitor``; ``nome`` + ``dataNascimento`` + ``nomeMae``), the
    date of the situation (default: today) and the purpose (the CNJ number of the process that motivates it)."""

    cpf: str | None = None
    tituloEleitor: str | None = None
    nome: str | None = Field(None, max_length=200)
    dataNascimento: date | None = None
    nomeMae: str | None = Field(None, max_length=200)
    data: date | None = Field(None, description="situação nesta data, pelas regras vigentes nela (padrão: hoje)")
    finalidade: str | None = Field(None, description="número CNJ do processo que motiva a consulta")


class Regras(BaseModel):
    """The rule version applied."""

    versao: str
    vigencia: date
    descricao: str
    fontes: list[str]


class SituacaoNaData(BaseModel):
    """The situation on the date asked about."""

    direitosPoliticosSuspensos: bool
    inelegivel: bool = Field(description="inelegibilidade em curso ou direitos suspensos (CF art. 14 §3º II)")
    inscricaoCancelada: bool


class Intervalo(BaseModel):
    """One interval of the timeline, [inicio, fim): fim is the first day without the effect (null: open)."""

    tipo: str = Field(description="suspensao_direitos_politicos | inelegibilidade | inscricao_cancelada")
    inicio: date
    fim: date | None
    fundamento: str
    alinea: str | None
    comunicacoes: list[str]
    inferida: bool
    observacoes: list[str]


class VersaoComunicacao(BaseModel):
    """One version of a communication (``conteudo``: the stored XML; null for a cancelamento)."""

    numero: int
    operacao: str
    idMensagem: str
    dataRecebimento: str = Field(description=ISO)
    emAtraso: bool
    motivoCancelamento: str | None
    conteudo: str | None


class ComunicacaoDaPessoa(BaseModel):
    """A communication about the person, from any sender."""

    protocolo: str
    tipo: str
    situacao: str
    remetente: str
    processo: str | None
    dataFato: date
    versaoAtual: int
    versoes: list[VersaoComunicacao]


class HistoricoImportado(BaseModel):
    """An imported history the data comes from."""

    origem: str
    lote: str
    importadoEm: str | None
    comunicacoes: int


class Cobertura(BaseModel):
    """What the data covers."""

    desde: str | None = Field(description="primeira comunicação recebida pelo gateway (ISO 8601), null se nenhuma")
    historicosImportados: list[HistoricoImportado]


class Situacao(BaseModel):
    """A person's political-rights situation: the timeline and every communication behind it."""

    data: date
    chave: str = Field(description="cpf | titulo | nome")
    regras: Regras
    situacao: SituacaoNaData
    intervalos: list[Intervalo]
    comunicacoes: list[ComunicacaoDaPessoa]
    cobertura: Cobertura


class ResultadoProcessamento(BaseModel):
    """What the destination did with the version, when it said so."""

    situacao: str = Field(description="processada | eleitorNaoEncontrado | revisaoManual")
    informadoEm: str | None = Field(None, description=ISO)
    detalhe: str | None = None


class EntregaAtual(BaseModel):
    """The delivery of the current version to one destination."""

    destino: str
    situacao: str
    resultadoProcessamento: ResultadoProcessamento | None = None


class ItemLista(BaseModel):
    """One communication of a sender's listing."""

    protocolo: str
    tipo: str
    situacao: str
    versaoAtual: int
    processo: str | None
    dataFato: date
    recebidaEm: str = Field(description=ISO)
    atualizadaEm: str = Field(description=ISO)
    referenciaRemetente: str = Field(description="referência da versão atual")
    emAtraso: bool
    diasAtraso: int
    entregas: list[EntregaAtual]


class Lista(BaseModel):
    """A page of the listing."""

    itens: list[ItemLista]
    proximo: str | None


class LinhaAtraso(BaseModel):
    """On time and late versions per sender, kind and month (art. 7º: 10 days; deaths by the 15th)."""

    remetente: str
    tipo: str
    mes: str = Field(examples=["2026-11"])
    noPrazo: int
    emAtraso: int
    atrasoMedianoDias: float
    piorAtrasoDias: int


class RelatorioAtrasos(BaseModel):
    """The lateness report."""

    linhas: list[LinhaAtraso]


def situation_json(s: Situation) -> Situacao:
    """The REST rendering of a :class:`Situation`."""
    t = s.timeline
    return Situacao(
        data=s.on, chave=s.key_kind,
        regras=Regras(versao=s.rules.id, vigencia=s.rules.vigencia, descricao=s.rules.descricao,
                      fontes=list(s.rules.fontes)),
        situacao=SituacaoNaData(direitosPoliticosSuspensos=t.suspended, inelegivel=t.ineligible,
                                inscricaoCancelada=t.registration_cancelled),
        intervalos=[Intervalo(tipo=i.kind, inicio=i.start, fim=i.end, fundamento=i.basis, alinea=i.alinea,
                              comunicacoes=list(i.protocols), inferida=i.inferred, observacoes=list(i.notes))
                    for i in t.intervals],
        comunicacoes=[ComunicacaoDaPessoa(
            protocolo=c.protocol, tipo=c.kind, situacao=communication_situacao(c.status), remetente=c.sender,
            processo=c.process_number, dataFato=c.fact_date, versaoAtual=c.current_version,
            versoes=[VersaoComunicacao(numero=v.version, operacao=v.operation, idMensagem=v.message_id,
                                       dataRecebimento=v.received_at.isoformat(), emAtraso=v.late,
                                       motivoCancelamento=v.cancel_reason,
                                       conteudo=None if v.operation == "cancelamento" else v.payload.decode())
                     for v in c.versions]) for c in s.communications],
        cobertura=Cobertura(desde=s.coverage.since.isoformat() if s.coverage.since else None,
                            historicosImportados=[HistoricoImportado(
                                origem=h.origin, lote=h.batch,
                                importadoEm=h.imported_at.isoformat() if h.imported_at else None,
                                comunicacoes=h.communications) for h in s.coverage.imported]))


#: the OpenAPI of ``POST /api/v1/pessoas/situacao`` that FastAPI derived from the parameters it no longer declares
_SITUACAO_OPENAPI: dict[str, Any] = {
    "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/SituacaoPedido"}}},
                    "required": True},
    "security": [{"OAuth2": [CONSULTA_SCOPE]}]}
_BODY_ERROR = "There was an error parsing the body"
#: an empty body (a JSON ``null`` is not one: it is refused as the wrong type, not as missing)
EMPTY = object()


async def json_body(request: Request) -> Any:
    """The request's body as FastAPI reads a JSON body parameter: :data:`EMPTY` when empty; the decoded JSON when the
    ``Content-Type`` is ``application/json`` or ``application/*+json``; the bytes otherwise (refused by
    :func:`situacao_pedido`). Errors: RequestValidationError (``json_invalid`` at the offset: 422 GATEWAY-E070),
    HTTPException 400 (a body that cannot be read or decoded, e.g. not UTF-8)."""
    try:
        raw = await request.body()
        if not raw:
            return EMPTY
        content_type = request.headers.get("content-type")
        if content_type:
            message = email.message.Message()
            message["content-type"] = content_type
            if message.get_content_maintype() == "application":
                subtype = message.get_content_subtype()
                if subtype == "json" or subtype.endswith("+json"):
                    return json.loads(raw)
        return raw
    except json.JSONDecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                       "input": {}, "ctx": {"error": exc.msg}}], body=exc.doc) from exc
    except HTTPException:
        raise
    except Exception as exc:
        raise HTTPException(status_code=400, detail=_BODY_ERROR) from exc


def situacao_pedido(raw: Any) -> SituacaoPedido:
    """The request body *raw* (:func:`json_body`) as a :class:`SituacaoPedido`, validated as FastAPI validates a
    body parameter. Errors: RequestValidationError, located under ``body`` (422 GATEWAY-E070)."""
    if raw is EMPTY:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        return SituacaoPedido.model_validate(raw, from_attributes=True)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()], body=raw) from None


def lateness_csv(lines: list[LatenessLine]) -> str:
    """The lateness report as CSV (``;``-separated, a header line, decimal point)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(["remetente", "tipo", "mes", "noPrazo", "emAtraso", "atrasoMedianoDias", "piorAtrasoDias"])
    for line in lines:
        writer.writerow([line.sender, line.kind, line.month, line.on_time, line.late,
                         f"{line.median_delay_days:g}", line.worst_delay_days])
    return out.getvalue()


def install(app: FastAPI, service: ConsultaService) -> None:
    """Add the consultation routes to *app* (after :func:`gateway.edges.oauth.install`)."""
    router = APIRouter(prefix="/api/v1")

    @router.post("/pessoas/situacao", summary="Situação de direitos políticos de uma pessoa ao longo do tempo",
                 responses=responses(400, 401, 403, 422, 429, 503), response_model=Situacao,
                 openapi_extra=_SITUACAO_OPENAPI)
    async def situacao(request: Request) -> Response:
        # one plain function instead of FastAPI's dependency resolution (issue 14: a tenth of a consultation's
        # CPU), the same checks in the same order: the body's JSON syntax, the token and its scope, On-Behalf-Of,
        # the body's schema (test_consulta_edge pins every answer)
        raw = await json_body(request)
        who = await oauth_edge(request).principal(request, (CONSULTA_SCOPE,), None, basic_allowed=False,
                                                  on_behalf_of=True)
        body = situacao_pedido(raw)
        if who.caller is None:
            raise HTTPProblem(403, "GATEWAY-E063", "O token de operação não consulta pessoas.", campo="Authorization")
        query = PersonQuery(body.cpf, body.tituloEleitor, body.nome, body.dataNascimento, body.nomeMae)
        answer = await service.consult(who.caller, who.scopes, who.on_behalf_of, body.finalidade, query, body.data,
                                       channel=f"rest:{who.via}")
        # rendered while the audit entry commits; sent only once it is durable (E091/E081 raised by durable())
        rendered = b"" if answer.ambiguous else situation_json(answer.situation).model_dump_json().encode()
        await answer.durable()
        return Response(rendered, media_type="application/json")

    @router.get("/comunicacoes", summary="Lista as comunicações do próprio remetente, com filtros e cursor",
                responses=responses(401, 403, 422, 429, 503))
    async def listar(who: Annotated[Principal, Depends(SENDER)],
                     desde: Annotated[date | None, Query(description="recebidas a partir de (data local)")] = None,
                     ate: Annotated[date | None, Query(description="recebidas até (inclusive)")] = None,
                     tipo: str | None = None, situacao: str | None = None,
                     entrega: Annotated[str | None, Query(description="situação de entrega da versão atual")] = None,
                     referencia: str | None = None, processo: str | None = None, cursor: str | None = None,
                     limite: int = 50) -> Lista:
        if who.caller is None:
            raise HTTPProblem(403, "GATEWAY-E063", "O token de operação não tem comunicações.", campo="Authorization")
        page = await service.listing(who.caller, desde=desde, ate=ate, tipo=tipo, situacao=situacao, entrega=entrega,
                                     referencia=referencia, processo=processo, cursor=cursor, limite=limite)
        return Lista(itens=[ItemLista(
            protocolo=i.protocol, tipo=i.kind, situacao=communication_situacao(i.status), versaoAtual=i.current_version,
            processo=i.process_number, dataFato=i.fact_date, recebidaEm=i.created_at.isoformat(),
            atualizadaEm=i.updated_at.isoformat(), referenciaRemetente=i.reference, emAtraso=i.late,
            diasAtraso=i.days_late,
            entregas=[EntregaAtual(destino=d.destination, situacao=delivery_situacao(d.status),
                                   resultadoProcessamento=ResultadoProcessamento(
                                       situacao=d.outcome.situation, detalhe=d.outcome.detail,
                                       informadoEm=d.outcome.reported_at.isoformat() if d.outcome.reported_at
                                       else None) if d.outcome else None)
                      for d in i.deliveries]) for i in page.items], proximo=page.next_cursor)

    @router.get("/relatorios/atrasos", summary="Relatório de atrasos por remetente, tipo e mês (JSON ou CSV)",
                response_model=RelatorioAtrasos, responses={**responses(401, 403, 422, 503),
                           200: {"content": {"text/csv": {}}, "description": "JSON, ou CSV com formato=csv"}})
    async def atrasos(who: Annotated[Principal, Depends(ANYONE)], desde: date | None = None, ate: date | None = None,
                      remetente: str | None = None,
                      formato: Annotated[str, Query(pattern="^(json|csv)$")] = "json") -> Response:
        lines = await service.lateness(who.caller, who.scopes, desde=desde, ate=ate, remetente=remetente)
        if formato == "csv":
            return Response(lateness_csv(lines), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": 'attachment; filename="atrasos.csv"'})
        report = RelatorioAtrasos(linhas=[LinhaAtraso(
            remetente=line.sender, tipo=line.kind, mes=line.month, noPrazo=line.on_time, emAtraso=line.late,
            atrasoMedianoDias=line.median_delay_days, piorAtrasoDias=line.worst_delay_days) for line in lines])
        return Response(report.model_dump_json(), media_type="application/json")

    app.include_router(router)
    build = app.openapi

    def openapi() -> dict[str, Any]:  # the body's schema, which no declared parameter puts in the document now
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        body = SituacaoPedido.model_json_schema(ref_template="#/components/schemas/{model}")
        for prop in body.get("properties", {}).values():  # as FastAPI wrote it: no "default": null
            if "default" in prop and prop["default"] is None:
                del prop["default"]
        schema.setdefault("components", {}).setdefault("schemas", {}).setdefault("SituacaoPedido", body)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
