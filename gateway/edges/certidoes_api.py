"""Certificates' edge (issue 15 point 2): ``POST /api/v1/certidoes`` (public, rate-limited per client address),
``GET /api/v1/certidoes/{codigo}``, ``POST /api/v1/certidoes/{codigo}/conferir`` (a document's bytes as the body),
and the verification page ``GET /certidoes/verificar?codigo=`` with its upload form (``POST``, multipart).

Thin: parse, call :class:`~gateway.certidoes.service.CertidoesService`, render. Errors are problem details
(CERT-E001…E005, E010) on the API and a message beside the field on the page.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.certidoes.domain import display_code
from gateway.certidoes.service import CertidoesService, Record
from gateway.edges.problems import problem, responses
from gateway.errors import ClientError, NotFound, ValidationFailed
from gateway.throttle import CLIENT_ADDRESS
from gateway.web import render

#: the largest document the verification accepts (a certificate is ~15 KB)
MAX_UPLOAD = 5 * 1024 * 1024


class PedidoCertidao(BaseModel):
    """The person a certificate is about: a CPF (masked or not) and the name to print."""

    cpf: str = Field(examples=["529.982.247-25"])
    nome: str = Field(max_length=200, examples=["Maria da Conceição Araújo"])


class Hashes(BaseModel):
    """SHA-256 (hex) of the documents as issued."""

    pdf: str
    xml: str


class Condenacao(BaseModel):
    """A kind I communication in force that a positiva lists."""

    protocolo: str
    orgaoRemetente: str
    processo: str | None
    dataTransitoJulgado: str


class HistoricoImportado(BaseModel):
    """An imported history the data includes."""

    origem: str
    lote: str
    comunicacoes: int


class CertidaoEmitida(BaseModel):
    """A certificate just issued, with both signed documents (base64)."""

    codigo: str
    codigoFormatado: str
    numero: str
    tipo: str = Field(description="negativa | positiva")
    emitidaEm: str
    abrangenciaDesde: str | None
    historicosImportados: list[HistoricoImportado]
    condenacoes: list[Condenacao]
    verificacao: str
    sha256: Hashes
    pdf: str = Field(description="PDF assinado PAdES, base64")
    xml: str = Field(description="XML assinado XML-DSig, base64")


class RegistroCertidao(BaseModel):
    """What verification answers about a code."""

    codigo: str
    codigoFormatado: str
    numero: str
    tipo: str
    emitidaEm: str
    nome: str = Field(description="como impresso")
    cpf: str = Field(description="mascarado")
    abrangenciaDesde: str | None
    comunicacoes: list[str]
    sha256: Hashes


class Conferencia(RegistroCertidao):
    """Whether a file is one of the documents issued under the code."""

    confere: bool
    documento: str | None = Field(description="pdf | xml | null")


def record_json(r: Record) -> dict[str, Any]:
    """What verification answers about a code (README "Certidões")."""
    return {"codigo": r.code, "codigoFormatado": display_code(r.code), "numero": r.number, "tipo": r.kind,
            "emitidaEm": r.issued_at.isoformat(), "nome": r.name, "cpf": r.cpf_masked,
            "abrangenciaDesde": r.coverage_since.isoformat() if r.coverage_since else None,
            "comunicacoes": list(r.protocols), "sha256": {"pdf": r.pdf_sha256, "xml": r.xml_sha256}}


def brasilia(at: datetime) -> str:
    """*at* as the verification page prints it: ``01/12/2026 09:30:00 (horário de Brasília)``."""
    return at.astimezone(ZoneInfo("America/Sao_Paulo")).strftime("%d/%m/%Y %H:%M:%S (horário de Brasília)")


def install(app: FastAPI, service: CertidoesService) -> None:
    """Add the certificates' routes to *app*."""
    render.environment.filters.setdefault("brasilia", brasilia)

    async def issue(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return problem(ValidationFailed("CERT-E003", "corpo JSON ilegível: {\"cpf\", \"nome\"}", field="corpo"))
        if not isinstance(body, dict):
            return problem(ValidationFailed("CERT-E003", "corpo JSON deve ser um objeto {\"cpf\", \"nome\"}"))
        try:
            issued = await service.issue(str(body.get("cpf") or ""), str(body.get("nome") or ""),
                                         CLIENT_ADDRESS.get() or (request.client.host if request.client else "?"),
                                         str(request.base_url))
        except ClientError as exc:
            return problem(exc)
        c = issued.content
        return JSONResponse(status_code=201, headers={"Location": f"/api/v1/certidoes/{c.code}"}, content={
            "codigo": c.code, "codigoFormatado": display_code(c.code), "numero": c.number, "tipo": c.kind,
            "emitidaEm": c.issued_at.isoformat(),
            "abrangenciaDesde": c.coverage_since.isoformat() if c.coverage_since else None,
            "historicosImportados": [{"origem": i.origin, "lote": i.batch, "comunicacoes": i.communications}
                                     for i in c.imported],
            "condenacoes": [{"protocolo": v.protocol, "orgaoRemetente": v.sender, "processo": v.process_number,
                             "dataTransitoJulgado": v.final_judgment.isoformat()} for v in c.convictions],
            "verificacao": issued.verify_url, "sha256": {"pdf": issued.pdf_sha256, "xml": issued.xml_sha256},
            "pdf": base64.b64encode(issued.pdf).decode(), "xml": base64.b64encode(issued.xml).decode()})

    async def lookup(request: Request) -> Response:
        try:
            return JSONResponse(record_json(service.find(request.path_params["codigo"])))
        except ClientError as exc:
            return problem(exc)

    async def conferir(request: Request) -> Response:
        data = await request.body()
        try:
            if not data or len(data) > MAX_UPLOAD:
                raise ValidationFailed("CERT-E005", field="corpo")
            record, which = service.check(request.path_params["codigo"], data)
        except ClientError as exc:
            return problem(exc)
        return JSONResponse({**record_json(record), "confere": which is not None, "documento": which})

    async def page(request: Request) -> Response:
        raw = request.query_params.get("codigo", "")
        context: dict[str, Any] = {"codigo": raw, "r": None, "erro": None, "conferencia": None}
        status = 200
        if raw:
            try:
                context["r"] = service.find(raw)
            except NotFound as exc:
                context["erro"], status = exc.message, 404
        return render.page("certidao_verificar.html", context, status=status)

    async def upload(request: Request) -> Response:
        context: dict[str, Any] = {"codigo": "", "r": None, "erro": None, "conferencia": None}
        status = 200
        try:
            async with request.form(max_files=1, max_fields=4, max_part_size=MAX_UPLOAD) as form:
                raw = str(form.get("codigo") or "")
                context["codigo"] = raw
                f = form.get("arquivo")
                data = await f.read(MAX_UPLOAD + 1) if isinstance(f, UploadFile) else b""
            if not data or len(data) > MAX_UPLOAD:
                raise ValidationFailed("CERT-E005", field="arquivo")
            record, which = service.check(raw, data)
            context["r"], context["conferencia"] = record, which or "nao"
        except NotFound as exc:
            context["erro"], status = exc.message, 404
        except ClientError as exc:
            context["erro"], status = exc.message, 422
        except ValueError as exc:  # a multipart body that cannot be read
            context["erro"], status = f"Formulário ilegível ({exc}).", 400
        return render.page("certidao_verificar.html", context, status=status)

    body = {"requestBody": {"required": True, "content": {"application/json": {
        "schema": PedidoCertidao.model_json_schema()}}}}
    app.add_api_route("/api/v1/certidoes", issue, methods=["POST"], tags=["certidoes"], status_code=201,
                      summary="Emite certidão negativa ou positiva de condenação por improbidade (pessoas físicas)",
                      response_model=CertidaoEmitida, responses=responses(422, 429, 503), openapi_extra=body)
    app.add_api_route("/api/v1/certidoes/{codigo}", lookup, methods=["GET"], tags=["certidoes"],
                      summary="Verifica uma certidão pelo código", response_model=RegistroCertidao,
                      responses=responses(404))
    app.add_api_route("/api/v1/certidoes/{codigo}/conferir", conferir, methods=["POST"], tags=["certidoes"],
                      summary="Confere um PDF ou XML (o corpo) com a certidão do código",
                      response_model=Conferencia, responses=responses(404, 422), openapi_extra={"requestBody": {
                          "required": True, "content": {"application/pdf": {}, "application/xml": {}}}})
    app.add_route("/certidoes/verificar", page, methods=["GET"], include_in_schema=False)
    app.add_route("/certidoes/verificar", upload, methods=["POST"], include_in_schema=False)
