"""The floor of the dívida ativa API (issue 11): a bare FastAPI + aiohttp fan-out to both partners.

One POST route (``/api/v1/devedores/inscricoes``) that reads the JSON body and, for each document, asks the PGFN
simulator (``GET …/devedor/{doc}`` with a bearer token fetched once at start) and the PGF simulator (``POST
…/inscricoes/consulta``, first page) concurrently with one shared ``aiohttp.ClientSession``, and answers the two
JSON bodies merged as they came: ``{"resultados": [{"documento", "pgfn": …, "pgf": …}]}``. No authentication, no
checks, no normalisation, no audit, no limit. Served by uvicorn exactly like ``gateway serve``.

    python -m bench.divida_floor --port 8090 --pgfn URL --pgfn-key K --pgfn-secret S --pgf URL --pgf-key K
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from fastapi import FastAPI, Request, Response

PGFN_API = "/consulta-divida-ativa-df/api/v1"
PGF_API = "/api/v1"


def create_app(pgfn: str, pgfn_key: str, pgfn_secret: str, pgf: str, pgf_key: str) -> FastAPI:
    """The floor asking *pgfn* and *pgf*."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        session = state["session"] = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=30, connect=5), connector=aiohttp.TCPConnector(limit=128))
        async with session.post(pgfn + "/token", auth=aiohttp.BasicAuth(pgfn_key, pgfn_secret),
                                data={"grant_type": "client_credentials"}) as r:
            state["token"] = (await r.json())["access_token"]
        try:
            yield
        finally:
            await session.close()

    app = FastAPI(lifespan=lifespan)

    async def one(doc: str) -> dict[str, Any]:
        session: aiohttp.ClientSession = state["session"]

        async def ask_pgfn() -> Any:
            async with session.get(f"{pgfn}{PGFN_API}/devedor/{doc}",
                                   headers={"Authorization": f"Bearer {state['token']}"}) as r:
                return json.loads(await r.read())

        async def ask_pgf() -> Any:
            async with session.post(f"{pgf}{PGF_API}/inscricoes/consulta", headers={"X-API-Key": pgf_key},
                                    json={"documento": doc, "pagina": 1, "tamanho_pagina": 100}) as r:
                return json.loads(await r.read())

        a, b = await asyncio.gather(ask_pgfn(), ask_pgf())
        return {"documento": doc, "pgfn": a, "pgf": b}

    async def devedores(request: Request) -> Response:
        body = json.loads(await request.body())
        results = await asyncio.gather(*(one(d) for d in body["documentos"]))
        return Response(json.dumps({"resultados": results}), media_type="application/json")

    async def healthz(_request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    app.add_route("/api/v1/devedores/inscricoes", devedores, methods=["POST"], include_in_schema=False)
    app.add_route("/readyz", healthz, methods=["GET"], include_in_schema=False)
    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pgfn", required=True)
    p.add_argument("--pgfn-key", required=True)
    p.add_argument("--pgfn-secret", required=True)
    p.add_argument("--pgf", required=True)
    p.add_argument("--pgf-key", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    uvicorn.run(create_app(args.pgfn, args.pgfn_key, args.pgfn_secret, args.pgf, args.pgf_key), host=args.host,
                port=args.port, workers=1, log_level="warning", access_log=False, lifespan="on", loop="auto",
                http="auto", timeout_graceful_shutdown=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
