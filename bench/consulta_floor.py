"""The consultation's HTTP floor (section ``consulta``, bench/consulta.py): the least an endpoint answering "which
communications are about this CPF" must do — a bare FastAPI app with one ``POST /situacao`` that reads the JSON body
``{"cpf"}``, runs the same indexed lookup as the store-level floor (``communications.person_key``, no checks, no
versions, no audit entry, no timeline) through the gateway's engine settings (gateway/db/engine.py) in the thread
pool, and answers the protocols as JSON. Served by plain uvicorn with the loop and HTTP parser of ``gateway serve``.

With ``--durable`` it also commits one row per request (a JSON of the size of the gateway's audit detail, in its own
transaction on one writer connection, the gateway's SQLite/PostgreSQL settings) before answering: the floor of an
endpoint that must record each consultation durably before it answers (issue 14 point 2), which the gateway does.

Run: ``python -m bench.consulta_floor --url DATABASE_URL --port N [--durable]``.
"""

from __future__ import annotations

import argparse
import json
import threading

from fastapi import FastAPI
from sqlalchemy import Column, Integer, MetaData, Table, Text, bindparam, insert, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from gateway.db.engine import make_engine
from gateway.db.tables import communications

LOOKUP = select(communications.c.protocol).where(communications.c.person_key == bindparam("k"))


_META = MetaData()
FLOOR_AUDIT = Table("bench_floor_audit", _META, Column("id", Integer, primary_key=True), Column("detail", Text))


def create_app(url: str, durable: bool = False) -> FastAPI:
    """The floor app on *url* (*durable*: one committed row per request, see the module's docstring)."""
    engine = make_engine(url, pool_size=4)
    writer = make_engine(url, writer=True) if durable else None
    lock = threading.Lock()
    if writer is not None:
        _META.create_all(writer)
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    def lookup(cpf: str) -> list[str]:
        with engine.connect() as conn:
            protocols = [r.protocol for r in conn.execute(LOOKUP, {"k": "cpf:" + cpf})]
        if writer is not None:
            detail = json.dumps({"usuario": "tjrj-sistema", "solicitante": "52998224725", "pessoa": "x" * 64,
                                 "finalidade": "00452180920248190001", "protocolos": protocols, "canal": "rest"})
            with lock, writer.begin() as conn:
                conn.execute(insert(FLOOR_AUDIT).values(detail=detail))
        return protocols

    async def situacao(request: Request) -> Response:
        body = json.loads(await request.body())
        protocols = await run_in_threadpool(lookup, str(body["cpf"]))
        return Response(json.dumps({"comunicacoes": protocols}), media_type="application/json")

    async def ready(_request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    app.add_route("/situacao", situacao, methods=["POST"], include_in_schema=False)
    app.add_route("/readyz", ready, methods=["GET"], include_in_schema=False)
    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--url", required=True, help="database URL (SQLite or PostgreSQL)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--durable", action="store_true", help="commit one row per request before answering")
    args = p.parse_args(argv)
    uvicorn.run(create_app(args.url, args.durable), host=args.host, port=args.port, workers=1, log_level="warning",
                access_log=False, lifespan="on", loop="auto", http="httptools", timeout_graceful_shutdown=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
