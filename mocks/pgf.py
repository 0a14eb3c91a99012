"""Simulator of PGF's debt queries — an API of OUR OWN DESIGN: no public PGF API exists (DOMAIN.md §5).

It is deliberately unlike PGFN's (SERPRO) so that the gateway's two adapters are really different: an API key
header instead of OAuth2, ISO dates, integer cents, snake_case, paginated results, a search by POST body (a CPF
never travels in a URL), no 404 for a person without debts, the creditor autarchy or foundation on every
inscription, and a number format of its own with one check digit. Contract, number format and a worked example:
``mocks/README_pgf.md``; OpenAPI at ``/openapi.json`` (:func:`openapi`).

Run alone: ``python -m mocks.pgf --port 8085 [--seed N] [--devedores N] [--api-key K]``.

Besides the ``/_mock`` surface of :mod:`mocks.common` (faults apply to every API route, GETs included):
``GET /_mock/demo`` (API key, demo documents, seed, the data's fingerprint). ``/_mock/received`` lists each call:
``operation`` (``credores``, ``consulta``, ``inscricao``), ``body`` (the document or number asked), ``status``, ``id``
(``X-Request-Id`` or ``X-Gateway-Message-Id`` when sent, else a new id).
"""

from __future__ import annotations

import argparse
import math
import secrets
import sys
from datetime import date
from typing import Any

from aiohttp import web

from mocks.common import MockState, business, mock_app, serve
from mocks.divida_data import DATA_BASE, DEFAULT_DEVEDORES, DEFAULT_SEED, PGF, Base, Inscricao, default_base
from mocks.divida_ids import format_cnj, format_pgf, is_valid_cnpj, is_valid_cpf, is_valid_pgf, normalize_pgf, unmask
from mocks.divida_tables import CREDORES, CREDORES_POR_CODIGO, Credor
from mocks.pgfn import request_id

API = "/api/v1"
DEFAULT_API_KEY = "pgf-sandbox-chave-de-api"
MAX_PAGE = 100
DEFAULT_PAGE = 20


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def credor_json(c: Credor) -> dict[str, Any]:
    """A creditor: ``{"codigo": "201", "sigla", "nome", "cnpj"}`` (``codigo`` = the CCC of its numbers)."""
    return {"codigo": f"{c.codigo:03d}", "sigla": c.sigla, "nome": c.nome, "cnpj": c.cnpj}


def inscricao_json(base: Base, i: Inscricao, documento: str | None = None) -> dict[str, Any]:
    """An inscription; with *documento*, that person's ``responsabilidade`` (list items); without, every
    ``responsaveis`` with domicile (the detail)."""
    assert i.credor is not None
    out: dict[str, Any] = {
        "numero": i.numero,
        "numero_formatado": format_pgf(i.numero),
        "credor": credor_json(CREDORES_POR_CODIGO[i.credor]),
        "receita": {"codigo": i.receita.codigo, "descricao": i.receita.nome,
                    "natureza": i.receita.natureza.lower().replace(" ", "_"),
                    "fundamento_legal": i.receita.fundamento},
        "situacao": {"codigo": i.situacao.chave, "descricao": i.situacao.descricao.capitalize(),
                     "ativa": i.situacao.ativa, "ajuizada": i.situacao.ajuizada},
        "data_vencimento": _iso(i.data_vencimento),
        "data_inscricao": _iso(i.data_inscricao),
        "valores": {"originario_centavos": i.valor_originario, "inscrito_centavos": i.valor_inscrito,
                    "atualizado_centavos": i.valor_consolidado, "data_atualizacao": DATA_BASE.isoformat()},
        "processo_administrativo": i.processo_administrativo,
        "processo_judicial": None if not i.processo_judicial else {
            "numero": i.processo_judicial, "numero_formatado": format_cnj(i.processo_judicial),
            "data_ajuizamento": _iso(i.data_ajuizamento)},
        "protesto": {"data": _iso(i.data_protesto)} if i.data_protesto else None,
        "unidade": {"nome": i.unidade.nome, "uf": i.unidade.uf},
    }
    if documento is not None:
        out["responsabilidade"] = next(r.tipo for r in i.responsaveis if r.documento == documento).lower()
    else:
        out["responsaveis"] = [
            {"documento": r.documento, "nome": (p := base.pessoas[r.documento]).nome,
             "tipo_pessoa": p.tipo.lower(), "responsabilidade": r.tipo.lower(),
             "domicilio": {"uf": p.uf, "municipio": p.municipio}}
            for r in i.responsaveis
        ]
    return out


def _erro(status: int, codigo: str, mensagem: str, campo: str | None = None) -> web.Response:
    headers = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'} if status == 401 else None
    return web.json_response({"erro": {"codigo": codigo, "mensagem": mensagem, "campo": campo}}, status=status,
                             headers=headers)


def _int(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(name)
    return value


def create_app(url: str, seed: int = DEFAULT_SEED, devedores: int = DEFAULT_DEVEDORES,
               api_key: str = DEFAULT_API_KEY) -> web.Application:
    """The PGF simulator answering at *url*, with the data of *seed*."""
    state = MockState("pgf")
    app = mock_app(state)
    base = default_base(seed, devedores)
    fingerprint = base.fingerprint()

    def record(request: web.Request, operation: str, asked: str, response: web.Response) -> web.Response:
        state.record(request_id(request), operation, asked, status=response.status)
        return response

    def denied(request: web.Request) -> web.Response | None:
        given = request.headers.get("X-API-Key")
        if not given:
            return _erro(401, "CHAVE_AUSENTE", "Informe a chave de API no cabeçalho X-API-Key.")
        if not secrets.compare_digest(given.encode(), api_key.encode()):
            return _erro(401, "CHAVE_INVALIDA", "Chave de API inválida.")
        return None

    async def credores(request: web.Request) -> web.Response:
        refused = denied(request)
        return record(request, "credores", "", refused or web.json_response(
            {"credores": [credor_json(c) for c in CREDORES]}))

    async def consulta(request: web.Request) -> web.Response:
        refused = denied(request)
        if refused is not None:
            return record(request, "consulta", "", refused)
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("corpo")
        except ValueError:
            return record(request, "consulta", "", _erro(400, "CORPO_INVALIDO",
                                                         'Esperado JSON {"documento": "...", "pagina": 1}.'))
        asked = str(body.get("documento", ""))
        doc = unmask(asked)
        if not (len(doc) == 11 and is_valid_cpf(doc)) and not (len(doc) == 14 and is_valid_cnpj(doc)):
            return record(request, "consulta", asked, _erro(422, "DOCUMENTO_INVALIDO", "CPF ou CNPJ inválido.",
                                                            "documento"))
        try:
            pagina = _int(body, "pagina", 1)
            if pagina < 1:
                raise ValueError("pagina")
            tamanho = _int(body, "tamanho_pagina", DEFAULT_PAGE)
            if not 1 <= tamanho <= MAX_PAGE:
                raise ValueError("tamanho_pagina")
        except ValueError as exc:
            return record(request, "consulta", asked, _erro(
                422, "PAGINACAO_INVALIDA", f"pagina ≥ 1 e 1 ≤ tamanho_pagina ≤ {MAX_PAGE} (inteiros).", str(exc)))
        found = base.inscricoes_de(PGF, doc)
        page = found[(pagina - 1) * tamanho:pagina * tamanho]
        return record(request, "consulta", asked, web.json_response({
            "documento": doc,
            "inscricoes": [inscricao_json(base, i, doc) for i, _ in page],
            "paginacao": {"pagina": pagina, "tamanho_pagina": tamanho, "total_itens": len(found),
                          "total_paginas": math.ceil(len(found) / tamanho)},
        }))

    async def inscricao(request: web.Request) -> web.Response:
        asked = request.match_info["numero"]
        refused = denied(request)
        if refused is not None:
            return record(request, "inscricao", asked, refused)
        numero = normalize_pgf(asked)
        if numero is None or not is_valid_pgf(numero):
            return record(request, "inscricao", asked, _erro(
                422, "NUMERO_INVALIDO", "Número de inscrição inválido (15 dígitos CCC AAAA NNNNNNN D, dígito "
                "verificador ISO 7064 MOD 11,10).", "numero"))
        if int(numero[:3]) not in CREDORES_POR_CODIGO:
            return record(request, "inscricao", asked, _erro(422, "CREDOR_DESCONHECIDO",
                                                             f"Credor {numero[:3]} desconhecido.", "numero"))
        found = base.inscricoes[PGF].get(numero)
        if found is None:
            return record(request, "inscricao", asked, _erro(404, "INSCRICAO_NAO_ENCONTRADA",
                                                             "Inscrição não encontrada.", "numero"))
        return record(request, "inscricao", asked, web.json_response(inscricao_json(base, found)))

    async def spec(_request: web.Request) -> web.Response:
        return web.json_response(openapi(url))

    async def demo(_request: web.Request) -> web.Response:
        return web.json_response({
            "partner": "pgf", "url": url, "api": url + API, "credentials": {"api_key": api_key},
            "devedores": base.demo_documents(), "seed": base.seed, "fingerprint": fingerprint,
            "data_base": DATA_BASE.isoformat(), "inscricoes": len(base.inscricoes[PGF]),
        })

    async def home(_request: web.Request) -> web.Response:
        return web.Response(text="API de dívida ativa da PGF (simulador; desenho próprio). OpenAPI em /openapi.json\n")

    app.router.add_get(API + "/credores", business(credores))
    app.router.add_post(API + "/inscricoes/consulta", consulta)
    app.router.add_get(API + "/inscricoes/{numero}", business(inscricao))
    app.router.add_get("/openapi.json", spec)
    app.router.add_get("/", home)
    app.router.add_get("/_mock/demo", demo)
    return app


def openapi(url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the simulator's (our own) contract."""
    erro = {"type": "object", "properties": {"erro": {"type": "object", "properties": {
        "codigo": {"type": "string"}, "mensagem": {"type": "string"}, "campo": {"type": ["string", "null"]}}}}}
    numero = {"type": "string", "pattern": "^[0-9]{15}$",
              "description": "CCC AAAA NNNNNNN D: credor, ano, sequência, DV ISO 7064 MOD 11,10 (máscara aceita)"}
    inscricao = {"type": "object", "properties": {
        "numero": numero, "numero_formatado": {"type": "string", "example": "201.2023.0012345-7"},
        "credor": {"type": "object", "properties": {"codigo": {"type": "string"}, "sigla": {"type": "string"},
                                                    "nome": {"type": "string"}, "cnpj": {"type": "string"}}},
        "receita": {"type": "object", "properties": {
            "codigo": {"type": "string"}, "descricao": {"type": "string"},
            "natureza": {"enum": ["tributaria", "nao_tributaria"]}, "fundamento_legal": {"type": "string"}}},
        "situacao": {"type": "object", "properties": {"codigo": {"type": "string"}, "descricao": {"type": "string"},
                                                      "ativa": {"type": "boolean"}, "ajuizada": {"type": "boolean"}}},
        "data_vencimento": {"type": "string", "format": "date"},
        "data_inscricao": {"type": "string", "format": "date"},
        "valores": {"type": "object", "properties": {
            "originario_centavos": {"type": "integer"}, "inscrito_centavos": {"type": "integer"},
            "atualizado_centavos": {"type": "integer", "description": "0 quando extinta"},
            "data_atualizacao": {"type": "string", "format": "date"}}},
        "processo_administrativo": {"type": "string"},
        "processo_judicial": {"type": ["object", "null"], "properties": {
            "numero": {"type": "string", "pattern": "^[0-9]{20}$"}, "numero_formatado": {"type": "string"},
            "data_ajuizamento": {"type": "string", "format": "date"}}},
        "protesto": {"type": ["object", "null"], "properties": {"data": {"type": "string", "format": "date"}}},
        "unidade": {"type": "object", "properties": {"nome": {"type": "string"}, "uf": {"type": "string"}}},
        "responsabilidade": {"enum": ["principal", "corresponsavel", "solidario"],
                             "description": "na consulta: o papel do documento consultado"},
        "responsaveis": {"type": "array", "description": "no detalhe: todos, com domicílio", "items": {
            "type": "object", "properties": {
                "documento": {"type": "string"}, "nome": {"type": "string"},
                "tipo_pessoa": {"enum": ["fisica", "juridica"]},
                "responsabilidade": {"enum": ["principal", "corresponsavel", "solidario"]},
                "domicilio": {"type": "object", "properties": {"uf": {"type": "string"},
                                                               "municipio": {"type": "string"}}}}}},
    }}
    errors = {"401": {"description": "chave ausente ou inválida", "content": {"application/json": {"schema": erro}}},
              "422": {"description": "entrada inválida", "content": {"application/json": {"schema": erro}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Dívida ativa da PGF (simulador — contrato de desenho próprio, sem API pública)",
                 "version": "1.0", "description": "Ver mocks/README_pgf.md"},
        "servers": [{"url": url}],
        "components": {"securitySchemes": {"chave": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}},
        "security": [{"chave": []}],
        "paths": {
            API + "/credores": {"get": {
                "summary": "Autarquias e fundações credoras e seus códigos (CCC do número de inscrição)",
                "responses": {"200": {"description": "lista"}, **errors}}},
            API + "/inscricoes/consulta": {"post": {
                "summary": "Inscrições em que o documento responde (principal, corresponsável, solidário), paginadas",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["documento"], "properties": {
                        "documento": {"type": "string", "description": "CPF ou CNPJ (alfanumérico aceito)"},
                        "pagina": {"type": "integer", "minimum": 1, "default": 1},
                        "tamanho_pagina": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE,
                                           "default": DEFAULT_PAGE}}}}}},
                "responses": {"200": {"description": "página (vazia quando não há dívida)", "content": {
                    "application/json": {"schema": {"type": "object", "properties": {
                        "documento": {"type": "string"}, "inscricoes": {"type": "array", "items": inscricao},
                        "paginacao": {"type": "object", "properties": {
                            "pagina": {"type": "integer"}, "tamanho_pagina": {"type": "integer"},
                            "total_itens": {"type": "integer"}, "total_paginas": {"type": "integer"}}}}}}}},
                              **errors}}},
            API + "/inscricoes/{numero}": {"get": {
                "summary": "Detalhe de uma inscrição, com todos os responsáveis",
                "parameters": [{"name": "numero", "in": "path", "required": True, "schema": numero}],
                "responses": {"200": {"description": "inscrição", "content": {"application/json": {
                    "schema": inscricao}}}, "404": {"description": "não encontrada"}, **errors}}},
        },
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m mocks.pgf [--seed N] [--devedores N] [--api-key K]``."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--devedores", type=int, default=DEFAULT_DEVEDORES)
    p.add_argument("--api-key", default=DEFAULT_API_KEY)
    args, rest = p.parse_known_args(argv if argv is not None else sys.argv[1:])
    return serve(lambda url: create_app(url, args.seed, args.devedores, args.api_key),
                 "Simulador da API de dívida ativa da PGF (desenho próprio)", rest)


if __name__ == "__main__":
    sys.exit(main())
