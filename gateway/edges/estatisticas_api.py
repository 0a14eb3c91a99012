"""Public statistics' edge (issue 15 point 1): ``GET /api/v1/estatisticas`` (JSON, or CSV with ``Accept:
text/csv``), the page ``GET /estatisticas`` and its chart ``GET /estatisticas/grafico.svg``. No authentication:
everything published is already suppressed (:mod:`gateway.estatisticas.suppression`). Filters ``ano``, ``tipo``,
``uf`` only select cells (ESTAT-E001…E004 otherwise, 422).
"""

from __future__ import annotations

import csv
import io
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.edges.problems import problem, responses
from gateway.errors import ClientError
from gateway.estatisticas.domain import KIND_NAMES, KINDS, MONTHS, UFS, KindTable, Row
from gateway.estatisticas.service import Answer, EstatisticasService, Filter
from gateway.infodip.deadlines import local_today
from gateway.web import charts, render

MONTH_NAMES = ("jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez")
UNIT = "pessoas (uma por comunicação em vigor)"


class Linha(BaseModel):
    """One row: the twelve months (January first) and the year; ``null`` is a withheld cell."""

    meses: list[int | None] = Field(min_length=12, max_length=12)
    ano: int | None
    uf: str | None = None
    orgao: str | None = None
    nome: str | None = None


class Tabela(BaseModel):
    """The published tables of one kind in the year."""

    tipo: str
    descricao: str
    total: Linha
    porUf: list[Linha]
    porOrgao: list[Linha]
    porSituacao: dict[str, int | None] = Field(description="ativa, cancelada, total")


class Estatisticas(BaseModel):
    """An answer of the public statistics (README "Public statistics and certificates")."""

    ano: int
    tipo: str | None
    uf: str | None
    unidade: str
    limiar: int
    calculadoEm: str
    anosDisponiveis: list[int]
    supressao: str
    tabelas: list[Tabela]


def _row_json(r: Row, **extra: Any) -> dict[str, Any]:
    return {**extra, "meses": list(r.months), "ano": r.year}


def to_json(a: Answer) -> dict[str, Any]:
    """The JSON shape of an answer (README "Estatísticas públicas"); ``null`` is a withheld cell."""
    return {
        "ano": a.filter.year, "tipo": a.filter.kind, "uf": a.filter.uf,
        "unidade": UNIT, "limiar": a.threshold, "calculadoEm": a.computed_at.isoformat(),
        "anosDisponiveis": list(a.years),
        "supressao": ("células com menos de %d pessoas e as complementares que impediriam recuperá-las por "
                      "diferença aparecem como null" % a.threshold),
        "tabelas": [{
            "tipo": t.kind, "descricao": KIND_NAMES[t.kind],
            "total": _row_json(t.total),
            "porUf": [_row_json(r, uf=r.uf) for r in t.by_uf],
            "porOrgao": [_row_json(r, orgao=r.key, nome=r.name, uf=r.uf) for r in t.by_organ],
            "porSituacao": dict(t.by_situation),
        } for t in a.tables],
    }


def to_csv(a: Answer) -> str:
    """One line per published cell: ``ano;tipo;tabela;uf;orgao;mes;pessoas`` (``mes`` empty: the year; ``pessoas``
    empty: withheld)."""
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow(["ano", "tipo", "tabela", "uf", "orgao", "mes", "pessoas"])

    def rows(t: KindTable, name: str, r: Row) -> None:
        for m, v in zip(MONTHS, r.months, strict=True):
            w.writerow([t.year, t.kind, name, r.uf, r.key if name == "orgao" else "", m, "" if v is None else v])
        w.writerow([t.year, t.kind, name, r.uf, r.key if name == "orgao" else "", "", "" if r.year is None else r.year])

    for t in a.tables:
        rows(t, "total", t.total)
        for r in t.by_uf:
            rows(t, "uf", r)
        for r in t.by_organ:
            rows(t, "orgao", r)
        for s, v in t.by_situation.items():
            w.writerow([t.year, t.kind, "situacao:" + s, "", "", "", "" if v is None else v])
    return out.getvalue()


def sections(a: Answer) -> list[dict[str, Any]]:
    """The page's tables: per kind, rows of (label, 12 months, year) by UF (first the total) and by organ, and the
    situations (``None``: withheld, shown as "—")."""
    out = []
    for t in a.tables:
        out.append({
            "kind": t.kind, "name": KIND_NAMES[t.kind],
            "uf_rows": [["Total", *t.total.months, t.total.year]] + [[r.uf, *r.months, r.year] for r in t.by_uf],
            "organ_rows": [[f"{r.key} ({r.uf})", *r.months, r.year] for r in t.by_organ],
            "situation_rows": [["Em vigor", t.by_situation["ativa"]],
                               ["Cancelada pelo remetente", t.by_situation["cancelada"]],
                               ["Total", t.by_situation["total"]]],
        })
    return out


def install(app: FastAPI, service: EstatisticasService, timezone: Any) -> None:
    """Add the statistics' routes to *app*."""

    def today_year() -> int:
        return local_today(service.clock.now(), timezone).year

    async def answer_of(request: Request) -> Answer:
        flt = Filter.parse(dict(request.query_params), today_year())
        return await anyio.to_thread.run_sync(service.answer, flt)

    @app.get("/api/v1/estatisticas", tags=["estatisticas"],
             summary="Estatísticas públicas (grade fixa, células pequenas suprimidas); CSV com Accept: text/csv",
             response_model=Estatisticas, responses={**responses(422, 503), 200: {
                 "content": {"text/csv": {}}, "description": "JSON, ou CSV com Accept: text/csv"}})
    async def estatisticas(request: Request) -> Response:
        try:
            a = await answer_of(request)
        except ClientError as exc:
            return problem(exc)
        if "text/csv" in request.headers.get("accept", ""):
            return Response(to_csv(a), media_type="text/csv; charset=utf-8", headers={
                "Content-Disposition": f'inline; filename="estatisticas-{a.filter.year}.csv"'})
        return JSONResponse(to_json(a))

    async def page(request: Request) -> Response:
        try:
            a = await answer_of(request)
        except ClientError as exc:
            return render.page("estatisticas.html", {"erro": exc.message, "a": None, "kinds": KINDS, "ufs": UFS,
                                                     "names": KIND_NAMES, "months": list(MONTH_NAMES),
                                                     "sel": dict(request.query_params), "query": ""}, status=422)
        sel = {"ano": str(a.filter.year), "tipo": a.filter.kind or "", "uf": a.filter.uf or ""}
        query = "&".join(f"{k}={v}" for k, v in sel.items() if v)
        return render.page("estatisticas.html", {"erro": None, "a": a, "kinds": KINDS, "ufs": UFS,
                                                 "names": KIND_NAMES, "months": list(MONTH_NAMES), "sel": sel,
                                                 "query": query, "unit": UNIT, "sections": sections(a)})

    async def chart(request: Request) -> Response:
        try:
            a = await answer_of(request)
        except ClientError as exc:
            return problem(exc)
        series = {f"Tipo {t.kind}": [float(v) if v is not None else None for v in t.total.months] for t in a.tables}
        return charts.svg_response(charts.bar_svg(f"Pessoas por mês de recebimento, {a.filter.year}",
                                                  list(MONTH_NAMES), series, stacked=False))

    app.add_route("/estatisticas", page, methods=["GET"], include_in_schema=False)
    app.add_route("/estatisticas/grafico.svg", chart, methods=["GET"], include_in_schema=False)
