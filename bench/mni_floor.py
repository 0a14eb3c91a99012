"""The floor of the MNI hub (DESIGN.md, "Testing and measuring"): a bare FastAPI + aiohttp pass-through proxy.

One POST route (``/soap/mni``) that reads the request body, forwards it unchanged to one tribunal installation
(``--target``) with one shared ``aiohttp.ClientSession``, and answers the tribunal's bytes with its status and
content type. No parsing, no authentication, no routing, no credential rewriting, no audit. Served by uvicorn
exactly like ``gateway serve`` (one worker, ``loop="auto"``, ``http="auto"``, no access log).

    python -m bench.mni_floor --port 8090 --target http://127.0.0.1:8083/pje1grau/intercomunicacao
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from fastapi import FastAPI, Request, Response


def create_app(target: str) -> FastAPI:
    """The floor proxy forwarding to *target*."""
    state: dict[str, aiohttp.ClientSession] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # the same pool settings as the gateway's tribunal client (adapters/tribunal.py)
        state["session"] = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=60, connect=5), connector=aiohttp.TCPConnector(limit=100),
            auto_decompress=False)
        try:
            yield
        finally:
            await state["session"].close()

    app = FastAPI(lifespan=lifespan)

    async def proxy(request: Request) -> Response:
        body = await request.body()
        headers = {"Content-Type": request.headers.get("content-type", "text/xml; charset=utf-8")}
        action = request.headers.get("soapaction")
        if action is not None:
            headers["SOAPAction"] = action
        async with state["session"].post(target, data=body, headers=headers) as r:
            data = await r.read()
            return Response(data, status_code=r.status,
                            media_type=r.headers.get("Content-Type", "text/xml; charset=utf-8"))

    async def healthz(_request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    app.add_route("/soap/mni", proxy, methods=["POST"], include_in_schema=False)
    app.add_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_route("/readyz", healthz, methods=["GET"], include_in_schema=False)
    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="the tribunal installation URL to forward to")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    # the same uvicorn call as gateway.cli.cmd_serve
    uvicorn.run(create_app(args.target), host=args.host, port=args.port, workers=1, log_level="warning",
                access_log=False, lifespan="on", loop="auto", http="auto", timeout_graceful_shutdown=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
