"""Simulator of the CNJ registry (successor of CNCIAI): REST/JSON with an OpenAPI document, batches,
deduplication by message id.

Run alone: ``python -m mocks.cnj --port 8082``; OpenAPI at ``/openapi.json``.

``POST /api/v1/registros`` with ``{"registros": [{"idMensagem", "protocolo", "versao", "operacao", "tipo",
"orgaoRemetente", "dataRecebimento", "comunicacaoXml"}]}`` → ``{"resultados": [{"idMensagem", "situacao":
"registrado"|"duplicado"|"rejeitado", "recibo", "motivo"}]}``. ``GET /api/v1/registros/{idMensagem}``.

The change feed (Res. Conjunta 6/2020 art. 12: the TSE shares with the CNJ what it receives): the simulator consumes
the gateway's feed by webhook at ``POST /feed/eventos`` — it checks ``X-Gateway-Timestamp`` (at most 5 minutes old)
and ``X-Gateway-Assinatura`` (HMAC-SHA256 of ``"timestamp.body"`` with the secret given by ``POST /_mock/feed``
``{"segredo": "…"}``), answers 401 otherwise, and deduplicates by ``X-Gateway-Evento-Id`` and by each item's
``posicao``. ``GET /_mock/feed`` → ``{"eventos": [ids], "itens": [...], "recusados": n}``.
"""

from __future__ import annotations

import hashlib
import hmac
import sys
import time
from typing import Any

from aiohttp import web

from mocks.common import MockState, mock_app, serve

REQUIRED = ("idMensagem", "protocolo", "versao", "operacao", "tipo", "comunicacaoXml")


def openapi(url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the simulator's contract."""
    registro = {
        "type": "object",
        "required": list(REQUIRED),
        "properties": {
            "idMensagem": {"type": "string", "description": "id da mensagem do gateway (um por versão)"},
            "protocolo": {"type": "string"},
            "versao": {"type": "integer", "minimum": 1},
            "operacao": {"type": "string", "enum": ["envio", "retificacao", "cancelamento"]},
            "tipo": {"type": "string", "description": "I a IX"},
            "orgaoRemetente": {"type": "string"},
            "dataRecebimento": {"type": "string", "format": "date-time"},
            "comunicacaoXml": {"type": "string", "description": "o elemento recebido pelo gateway, na forma canônica"},
        },
    }
    resultado = {
        "type": "object",
        "properties": {"idMensagem": {"type": "string"},
                       "situacao": {"type": "string", "enum": ["registrado", "duplicado", "rejeitado"]},
                       "recibo": {"type": "string"}, "motivo": {"type": "string"}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Cadastro do CNJ (simulador)", "version": "1.0"},
        "servers": [{"url": url}],
        "paths": {
            "/api/v1/registros": {"post": {
                "summary": "Registra um lote de comunicações (deduplicadas por idMensagem)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["registros"],
                    "properties": {"registros": {"type": "array", "items": registro, "maxItems": 500}}}}}},
                "responses": {"200": {"description": "resultado por registro", "content": {"application/json": {
                    "schema": {"type": "object", "properties": {
                        "resultados": {"type": "array", "items": resultado}}}}}},
                    "400": {"description": "lote malformado (não adianta reenviar)"}},
            }},
            "/api/v1/registros/{idMensagem}": {"get": {
                "summary": "Consulta um registro",
                "parameters": [{"name": "idMensagem", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "registro"}, "404": {"description": "não encontrado"}},
            }},
        },
    }


def create_app(url: str) -> web.Application:
    """The CNJ simulator answering at *url*."""
    state = MockState("cnj")
    app = mock_app(state)
    records: dict[str, dict[str, Any]] = {}
    state.on_reset.append(records.clear)

    async def post(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            registros = body["registros"]
            assert isinstance(registros, list)
        except (ValueError, KeyError, AssertionError):
            return web.json_response({"erro": "esperado {\"registros\": [...]}"}, status=400)
        results = []
        for r in registros:
            if not isinstance(r, dict) or any(k not in r for k in REQUIRED):
                results.append({"idMensagem": r.get("idMensagem") if isinstance(r, dict) else None,
                                "situacao": "rejeitado", "motivo": f"campos obrigatórios: {', '.join(REQUIRED)}"})
                continue
            receipt, duplicate = state.record(r["idMensagem"], "registros", r["comunicacaoXml"],
                                              protocolo=r["protocolo"], versao=r["versao"],
                                              operacao_infodip=r["operacao"], tipo=r["tipo"])
            records.setdefault(r["idMensagem"], {**r, "recibo": receipt})
            results.append({"idMensagem": r["idMensagem"], "situacao": "duplicado" if duplicate else "registrado",
                            "recibo": receipt})
        return web.json_response({"resultados": results})

    async def get_one(request: web.Request) -> web.Response:
        record = records.get(request.match_info["message_id"])
        if record is None:
            return web.json_response({"erro": "não encontrado"}, status=404)
        return web.json_response(record)

    feed: dict[str, Any] = {"segredo": None, "eventos": [], "itens": [], "posicoes": set(), "recusados": 0}

    def forget_feed() -> None:
        feed.update(eventos=[], itens=[], posicoes=set(), recusados=0)

    state.on_reset.append(forget_feed)

    async def feed_secret(request: web.Request) -> web.Response:
        try:
            feed["segredo"] = str((await request.json())["segredo"])
        except (ValueError, KeyError, TypeError):
            return web.json_response({"erro": "esperado {\"segredo\": \"…\"}"}, status=400)
        forget_feed()
        return web.json_response({"ok": True})

    async def feed_seen(_request: web.Request) -> web.Response:
        return web.json_response({"eventos": feed["eventos"], "itens": feed["itens"], "recusados": feed["recusados"]})

    async def feed_event(request: web.Request) -> web.Response:
        body = await request.read()
        stamp = request.headers.get("X-Gateway-Timestamp", "")
        given = request.headers.get("X-Gateway-Assinatura", "")
        secret = feed["segredo"]
        fresh = stamp.isdigit() and abs(time.time() - int(stamp)) <= 300
        expected = "sha256=" + hmac.new(str(secret).encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        if secret is None or not fresh or not hmac.compare_digest(given, expected):
            feed["recusados"] += 1
            return web.json_response({"erro": "assinatura ou carimbo de tempo inválido"}, status=401)
        event = request.headers.get("X-Gateway-Evento-Id", "")
        if event not in feed["eventos"]:
            feed["eventos"].append(event)
            for item in (await request.json()).get("itens", []):
                if item.get("posicao") not in feed["posicoes"]:
                    feed["posicoes"].add(item.get("posicao"))
                    feed["itens"].append(item)
        return web.json_response({"ok": True})

    async def spec(_request: web.Request) -> web.Response:
        return web.json_response(openapi(url))

    app.router.add_post("/api/v1/registros", post)
    app.router.add_get("/api/v1/registros/{message_id}", get_one)
    app.router.add_get("/openapi.json", spec)
    app.router.add_post("/feed/eventos", feed_event)
    app.router.add_post("/_mock/feed", feed_secret)
    app.router.add_get("/_mock/feed", feed_seen)
    return app


def main(argv: list[str] | None = None) -> int:
    """``python -m mocks.cnj``."""
    return serve(create_app, "Simulador do cadastro do CNJ", argv)


if __name__ == "__main__":
    sys.exit(main())
