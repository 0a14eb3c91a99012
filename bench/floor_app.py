"""The intake floor (DESIGN.md, "Testing and measuring"): the least a correct intake endpoint must do.

A bare FastAPI app with one POST endpoint that reads the body, parses it with lxml using the hardened parser flags of
``gateway/xml/reader.py``, XSD-validates the SOAP body's first child against the INFODIP 1.0 XSD, and commits the
request as ONE INSERT in ONE transaction per request into a SQLite file with the gateway's settings (WAL,
``synchronous=FULL``, ``busy_timeout``, ``BEGIN IMMEDIATE``) — no other checks — answering a small fixed SOAP
response.

Choice of database access (documented in bench/README.md): synchronous ``sqlite3`` on ONE dedicated writer thread
that owns ONE connection (a single-thread executor). Parsing and validation run on the event loop, as in the gateway;
each request makes one thread hop for its commit. A single writer is the strongest honest "one commit per request"
design on SQLite: several writer connections would only contend for the database lock (and SQLite's busy handler
sleeps), which would make the floor slower and the ratio flattering.

Run: ``python -m bench.floor_app --db PATH --port N`` (uvicorn, one worker, the same loop and HTTP parser as
``gateway serve``: uvloop when installed, httptools — a dependency of the gateway; the gateway's protocol adds its
timers and connection caps, gateway/server.py, which the floor does without).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from lxml import etree
from starlette.requests import Request
from starlette.responses import Response

ROOT = Path(__file__).resolve().parent.parent
XSD_PATH = ROOT / "schemas" / "infodip" / "1.0" / "xsd" / "infodip-1.0.xsd"
SOAP_BODY = "{http://schemas.xmlsoap.org/soap/envelope/}Body"
XML = "text/xml; charset=utf-8"
OK_RESPONSE = (b'<?xml version="1.0" encoding="UTF-8"?>'
               b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
               b'<i:enviarComunicacaoResposta xmlns:i="urn:gateway-interop:infodip:1.0"><i:ok>true</i:ok>'
               b"</i:enviarComunicacaoResposta></soap:Body></soap:Envelope>")
BAD_RESPONSE = (b'<?xml version="1.0" encoding="UTF-8"?>'
                b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
                b"<faultcode>soap:Client</faultcode><faultstring>invalid</faultstring></soap:Fault></soap:Body>"
                b"</soap:Envelope>")
_local = threading.local()


def _parser() -> etree.XMLParser:
    """The flags of ``gateway.xml.reader._parser`` (one parser per thread: lxml parsers are not thread-safe)."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                                 huge_tree=False, collect_ids=False, remove_comments=True, remove_pis=True)
        _local.parser = parser
    return parser


def connect(path: str) -> sqlite3.Connection:
    """A connection with the settings of ``gateway/db/engine.py`` (autocommit mode, explicit BEGIN)."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                 "received_at REAL NOT NULL, payload BLOB NOT NULL)")
    return conn


class Writer:
    """One thread, one connection, one transaction (one INSERT) per request."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="floor-writer")
        self.conn: sqlite3.Connection | None = None

    def start(self) -> None:
        self.conn = self.pool.submit(connect, self.path).result()

    def stop(self) -> None:
        self.pool.shutdown(wait=True)
        if self.conn is not None:
            self.conn.close()

    def _insert(self, payload: bytes) -> None:
        conn = self.conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT INTO messages (received_at, payload) VALUES (?, ?)", (time.time(), payload))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def insert(self, payload: bytes) -> None:
        await asyncio.get_running_loop().run_in_executor(self.pool, self._insert, payload)


def create_app(db_path: str) -> FastAPI:
    """The floor application."""
    schema = etree.XMLSchema(etree.parse(str(XSD_PATH), etree.XMLParser(resolve_entities=False, no_network=True)))
    writer = Writer(db_path)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        writer.start()
        try:
            yield
        finally:
            writer.stop()

    app = FastAPI(lifespan=lifespan)

    async def soap(request: Request) -> Response:
        body = await request.body()
        try:
            root = etree.fromstring(body, _parser())
        except etree.XMLSyntaxError:
            return Response(BAD_RESPONSE, status_code=500, media_type=XML)
        soap_body = root.find(SOAP_BODY)
        operation = None if soap_body is None else next((c for c in soap_body if isinstance(c.tag, str)), None)
        if operation is None or not schema.validate(operation):
            return Response(BAD_RESPONSE, status_code=500, media_type=XML)
        await writer.insert(body)
        return Response(OK_RESPONSE, media_type=XML)

    async def healthz(_request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    app.add_route("/soap/infodip", soap, methods=["POST"], include_in_schema=False)
    app.add_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_route("/readyz", healthz, methods=["GET"], include_in_schema=False)
    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", required=True, help="SQLite file (created if missing)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    # plain uvicorn with the parser and loop of gateway.cli.cmd_serve (gateway/server.py), without its guards
    uvicorn.run(create_app(args.db), host=args.host, port=args.port, workers=1, log_level="warning",
                access_log=False, lifespan="on", loop="auto", http="httptools", timeout_graceful_shutdown=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
