"""Simulator of PGFN's debt queries in the shape of SERPRO's "Consulta Dívida Ativa" (DOMAIN.md §5).

Run alone: ``python -m mocks.pgfn --port 8084 [--seed N] [--devedores N] [--token-ttl 3600] [--consumer-key K]
[--consumer-secret S]``. Data: :mod:`mocks.divida_data` (deterministic by seed).

- ``POST /token`` — HTTP Basic ``consumer-key:consumer-secret``, form ``grant_type=client_credentials`` →
  ``{"access_token", "token_type": "Bearer", "expires_in": 3600, "scope": "default"}``; bad credentials → 401
  ``{"error": "invalid_client"}``; another grant → 400 ``{"error": "unsupported_grant_type"}``.
- ``GET /consulta-divida-ativa-df/api/v1/devedor/{cpfCnpj}`` (``Authorization: Bearer …``) → a JSON array, one object
  per inscription where the document answers (as principal, co-responsible or solidary: co-debtors see the full
  value): ``numeroInscricao, numeroProcesso, situacaoInscricao, situacaoDescricao, nomeDevedor, tipoDevedor,
  valorTotalConsolidadoMoeda ("13.676,34"), cpfCnpj, codigoSida, nomeUnidade, codigoComprot, codigoUorg``.
  Unknown → 404 ``[{"message": "CPF não encontrado."}]`` (or ``CNPJ``); not a valid CPF/CNPJ → 400.
- ``GET /consulta-divida-ativa-df/api/v1/inscricao/{numero}`` → one detailed record (dates ``DD/MM/AAAA``, amounts
  pt-BR strings, every debtor with domicile); the number may be masked or stripped of its leading zeros; wrong
  check digits → 400; unknown → 404 ``[{"message": "Inscrição não encontrada."}]``.
- A missing, unknown or expired token → 401 ``{"fault": {"code": 900902|900901, …}}`` with ``WWW-Authenticate``
  (the error shape of SERPRO's API gateway, modelled). Situation codes and unit codes are the simulator's own.

Besides the ``/_mock`` surface of :mod:`mocks.common` (faults apply to the token and both lookups, GETs included):
``GET /_mock/demo`` (credentials, demo documents, seed and the data's fingerprint), ``GET|POST /_mock/config``
(``{"token_ttl_s": 3600}`` for tokens issued from now on), ``POST /_mock/expire-tokens`` (every token issued so far
is expired: the next lookup gets 401). ``/_mock/received`` lists each call: ``operation`` (``token``, ``devedor``,
``inscricao``), ``body`` (the document or number asked), ``status`` answered, ``id`` (``X-Request-Id`` or
``X-Gateway-Message-Id`` when sent, else a new id). ``/_mock/reset`` restores the start-up configuration and keeps
issued tokens valid.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import secrets
import sys
import time
import uuid
from datetime import date
from typing import Any

from aiohttp import web

from mocks.common import MockState, business, mock_app, serve
from mocks.divida_data import DATA_BASE, DEFAULT_DEVEDORES, DEFAULT_SEED, PGFN, Base, Inscricao, default_base
from mocks.divida_ids import format_cnj, format_sida, is_valid_cnpj, is_valid_cpf, is_valid_sida, normalize_sida, unmask

API = "/consulta-divida-ativa-df/api/v1"
DEFAULT_KEY = "pgfn-sandbox-consumer-key"
DEFAULT_SECRET = "pgfn-sandbox-consumer-secret"


def moeda(cents: int) -> str:
    """Cents as SERPRO writes money: ``1367634`` → ``"13.676,34"``."""
    return f"{cents // 100:,}".replace(",", ".") + f",{cents % 100:02d}"


def data_br(d: date | None) -> str | None:
    """``DD/MM/AAAA`` (None stays None)."""
    return d.strftime("%d/%m/%Y") if d else None


def resumo(base: Base, i: Inscricao, documento: str, tipo: str) -> dict[str, Any]:
    """One element of the ``devedor`` array: the inscription as seen from *documento* (its role *tipo*)."""
    return {
        "numeroInscricao": i.numero,
        "numeroProcesso": unmask(i.processo_administrativo),
        "situacaoInscricao": i.situacao.codigo,
        "situacaoDescricao": i.situacao.descricao,
        "nomeDevedor": base.pessoas[documento].nome,
        "tipoDevedor": tipo,
        "valorTotalConsolidadoMoeda": moeda(i.valor_consolidado),
        "cpfCnpj": documento,
        "codigoSida": i.receita.codigo,
        "nomeUnidade": i.unidade.nome,
        "codigoComprot": i.unidade.comprot,
        "codigoUorg": i.unidade.uorg,
    }


def detalhe(base: Base, i: Inscricao) -> dict[str, Any]:
    """The ``inscricao`` record: what a CDA states (Lei 6.830/1980 art. 2º §5º), in SERPRO's naming style."""
    return {
        "numeroInscricao": i.numero,
        "numeroInscricaoFormatado": format_sida(i.numero),
        "situacao": i.situacao.codigo,
        "situacaoDescricao": i.situacao.descricao,
        "tipoSituacaoInscricao": i.situacao.tipo,
        "dataInscricao": data_br(i.data_inscricao),
        "dataVencimento": data_br(i.data_vencimento),
        "processoAdministrativo": i.processo_administrativo,
        "indicadorAjuizado": "SIM" if i.processo_judicial else "NAO",
        "numeroProcessoJudicialNovo": format_cnj(i.processo_judicial) if i.processo_judicial else None,
        "dataAjuizamento": data_br(i.data_ajuizamento),
        "indicadorProtesto": "SIM" if i.data_protesto else "NAO",
        "dataProtesto": data_br(i.data_protesto),
        "codigoReceita": i.receita.codigo,
        "nomeNaturezaReceita": i.receita.nome,
        "naturezaDivida": i.receita.natureza,
        "fundamentoLegal": i.receita.fundamento,
        "valorPrincipalMoeda": moeda(i.valor_originario),
        "valorTotalInscritoMoeda": moeda(i.valor_inscrito),
        "valorTotalConsolidadoMoeda": moeda(i.valor_consolidado),
        "dataConsolidacao": data_br(DATA_BASE),
        "nomeUnidade": i.unidade.nome,
        "ufUnidade": i.unidade.uf,
        "codigoUorg": i.unidade.uorg,
        "codigoComprot": i.unidade.comprot,
        "devedores": [
            {"cpfCnpj": r.documento, "nomeDevedor": (p := base.pessoas[r.documento]).nome, "tipoDevedor": r.tipo,
             "tipoPessoa": p.tipo, "ufDevedor": p.uf, "municipioDevedor": p.municipio}
            for r in i.responsaveis
        ],
    }


def request_id(request: web.Request) -> str:
    """The caller's request id (``X-Request-Id`` or ``X-Gateway-Message-Id``), else a new one."""
    return request.headers.get("X-Request-Id") or request.headers.get("X-Gateway-Message-Id") or str(uuid.uuid4())


def _messages(text: str, status: int) -> web.Response:
    return web.json_response([{"message": text}], status=status)


_CHALLENGE = 'Bearer realm="consulta-divida-ativa", error="invalid_token"'


def _fault(code: int, message: str, description: str) -> web.Response:
    return web.json_response({"fault": {"code": code, "message": message, "description": description}}, status=401,
                             headers={"WWW-Authenticate": _CHALLENGE})


def create_app(url: str, seed: int = DEFAULT_SEED, devedores: int = DEFAULT_DEVEDORES, token_ttl: float = 3600,
               key: str = DEFAULT_KEY, secret: str = DEFAULT_SECRET) -> web.Application:
    """The PGFN simulator answering at *url*, with the data of *seed*."""
    state = MockState("pgfn")
    app = mock_app(state)
    base = default_base(seed, devedores)
    fingerprint = base.fingerprint()
    config = {"token_ttl_s": float(token_ttl)}
    tokens: dict[str, float] = {}  # token → expiry (monotonic seconds)
    state.on_reset.append(lambda: config.update(token_ttl_s=float(token_ttl)))

    def record(request: web.Request, operation: str, asked: str, response: web.Response) -> web.Response:
        state.record(request_id(request), operation, asked, status=response.status)
        return response

    def authorised(request: web.Request) -> web.Response | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _fault(900902, "Missing Credentials", "Informe o token de acesso: Authorization: Bearer <token>")
        expiry = tokens.get(token.strip())
        if expiry is None or expiry <= time.monotonic():
            return _fault(900901, "Invalid Credentials", "Token inválido ou expirado: obtenha outro em /token")
        return None

    async def token(request: web.Request) -> web.Response:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            given = base64.b64decode(encoded.strip(), validate=True).decode() if scheme.lower() == "basic" else ""
        except (binascii.Error, UnicodeDecodeError):
            given = ""
        if not (secrets.compare_digest(given.encode(), f"{key}:{secret}".encode())):
            return record(request, "token", "", web.json_response(
                {"error": "invalid_client", "error_description": "consumer key/secret inválidos"}, status=401,
                headers={"WWW-Authenticate": 'Basic realm="token"'}))
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return record(request, "token", "", web.json_response(
                {"error": "unsupported_grant_type", "error_description": "use grant_type=client_credentials"},
                status=400))
        issued = secrets.token_urlsafe(24)
        ttl = config["token_ttl_s"]
        tokens[issued] = time.monotonic() + ttl
        return record(request, "token", "", web.json_response(
            {"access_token": issued, "scope": "default", "token_type": "Bearer", "expires_in": int(ttl)}))

    async def devedor(request: web.Request) -> web.Response:
        asked = request.match_info["documento"]
        denied = authorised(request)
        if denied is not None:
            return record(request, "devedor", asked, denied)
        doc = unmask(asked)
        if not (len(doc) == 11 and is_valid_cpf(doc)) and not (len(doc) == 14 and is_valid_cnpj(doc)):
            return record(request, "devedor", asked, _messages("CPF/CNPJ inválido.", 400))
        found = base.inscricoes_de(PGFN, doc)
        if not found:
            return record(request, "devedor", asked,
                          _messages(f"{'CPF' if len(doc) == 11 else 'CNPJ'} não encontrado.", 404))
        return record(request, "devedor", asked,
                      web.json_response([resumo(base, i, doc, r.tipo) for i, r in found]))

    async def inscricao(request: web.Request) -> web.Response:
        asked = request.match_info["numero"]
        denied = authorised(request)
        if denied is not None:
            return record(request, "inscricao", asked, denied)
        numero = normalize_sida(asked)
        if numero is None or not is_valid_sida(numero):
            return record(request, "inscricao", asked, _messages("Número de inscrição inválido.", 400))
        found = base.inscricoes[PGFN].get(numero)
        if found is None:
            return record(request, "inscricao", asked, _messages("Inscrição não encontrada.", 404))
        return record(request, "inscricao", asked, web.json_response(detalhe(base, found)))

    async def demo(_request: web.Request) -> web.Response:
        return web.json_response({
            "partner": "pgfn", "url": url, "token_url": url + "/token", "api": url + API,
            "credentials": {"consumer_key": key, "consumer_secret": secret},
            "devedores": base.demo_documents(), "seed": base.seed, "fingerprint": fingerprint,
            "data_base": DATA_BASE.isoformat(), "inscricoes": len(base.inscricoes[PGFN]),
        })

    async def get_config(_request: web.Request) -> web.Response:
        return web.json_response(config)

    async def set_config(request: web.Request) -> web.Response:
        try:
            ttl = float((await request.json())["token_ttl_s"])
            if ttl < 0:
                raise ValueError("negativo")
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"erro": f"configuração inválida: {exc}"}, status=400)
        config["token_ttl_s"] = ttl
        return web.json_response(config)

    async def expire_tokens(_request: web.Request) -> web.Response:
        now = time.monotonic()
        expired = sum(1 for t in tokens.values() if t > now)
        for t in tokens:
            tokens[t] = now
        return web.json_response({"expirados": expired})

    async def home(_request: web.Request) -> web.Response:
        return web.Response(text=f"Consulta Dívida Ativa (simulador da PGFN). Token em /token; API em {API}\n")

    app.router.add_post("/token", token)
    app.router.add_get(API + "/devedor/{documento}", business(devedor))
    app.router.add_get(API + "/inscricao/{numero}", business(inscricao))
    app.router.add_get("/", home)
    app.router.add_get("/_mock/demo", demo)
    app.router.add_get("/_mock/config", get_config)
    app.router.add_post("/_mock/config", set_config)
    app.router.add_post("/_mock/expire-tokens", expire_tokens)
    return app


def main(argv: list[str] | None = None) -> int:
    """``python -m mocks.pgfn [--seed N] [--devedores N] [--token-ttl S] [--consumer-key K] [--consumer-secret S]``."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--devedores", type=int, default=DEFAULT_DEVEDORES)
    p.add_argument("--token-ttl", type=float, default=3600)
    p.add_argument("--consumer-key", default=DEFAULT_KEY)
    p.add_argument("--consumer-secret", default=DEFAULT_SECRET)
    args, rest = p.parse_known_args(argv if argv is not None else sys.argv[1:])
    return serve(lambda url: create_app(url, args.seed, args.devedores, args.token_ttl, args.consumer_key,
                                        args.consumer_secret),
                 "Simulador da Consulta Dívida Ativa (PGFN, formato SERPRO)", rest)


if __name__ == "__main__":
    sys.exit(main())
