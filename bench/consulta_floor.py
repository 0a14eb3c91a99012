"""The consultation's HTTP floor (section ``consulta``, bench/consulta.py): the least an endpoint answering "which
communications are about this CPF" must do — a bare FastAPI app with one ``POST /situacao`` that reads the JSON body
``{"cpf"}``, runs the same indexed lookup as the store-level floor (``communications.person_key``, no checks, no
versions, no audit entry, no timeline) through the gateway's engine settings (gateway/db/engine.py) in the thread
pool, and answers the protocols as JSON. Served by plain uvicorn with the loop and HTTP parser of ``gateway serve``.

Run: ``python -m bench.consulta_floor --url DATABASE_URL --port N``.
"""

from __future__ import annotations

import argparse
import json

from fastapi import FastAPI
from sqlalchemy import bindparam, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from gateway.db.engine import make_engine
from gateway.db.tables import communications

LOOKUP = select(communications.c.protocol).where(communications.c.person_key == bindparam("k"))


def create_app(url: str) -> FastAPI:
    """The floor app on *url*."""
    engine = make_engine(url, pool_size=4)
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    def lookup(cpf: str) -> list[str]:
        with engine.connect() as conn:
            return [r.protocol for r in conn.execute(LOOKUP, {"k": "cpf:" + cpf})]

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
    args = p.parse_args(argv)
    uvicorn.run(create_app(args.url), host=args.host, port=args.port, workers=1, log_level="warning",
                access_log=False, lifespan="on", loop="auto", http="httptools", timeout_graceful_shutdown=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
