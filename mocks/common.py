"""What every partner simulator shares: the received log, fault injection and the ``/_mock`` endpoints.

- ``GET /_mock/received`` → one entry per message received (a batch counts as its messages), duplicates flagged;
- ``POST /_mock/faults`` with ``latency_ms`` (before processing), ``latency_after_ms`` (after processing: the
  partner acted, the answer comes late), ``error_rate`` (answered with ``status``, default 503; a 429 carries
  ``Retry-After: 1``), ``down`` (connections are dropped without an answer), ``malformed`` (the partner processes,
  then answers bytes that are not XML/JSON); faults last until changed or reset. They apply to every POST and to
  the GET routes a simulator marks with :func:`business` (a query partner's lookups); never to ``/_mock/*`` nor to a
  ``?wsdl`` fetch, so a sandbox can always start and be steered;
- ``POST /_mock/reset`` clears received messages and faults (and restores demo data where a mock has any).

Simulators never import the gateway: they are the partners' side of a contract.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Faults:
    """The faults a simulator is injecting now."""

    latency_ms: float = 0
    # delay after the request was processed (the answer comes late, but the partner acted on it)
    latency_after_ms: float = 0
    error_rate: float = 0.0
    down: bool = False
    status: int | None = None
    malformed: bool = False


@dataclass
class MockState:
    """Messages received and stored by one simulator."""

    name: str
    received: list[dict[str, Any]] = field(default_factory=list)
    store: dict[str, str] = field(default_factory=dict)  # message id → receipt
    faults: Faults = field(default_factory=Faults)
    counter: int = 0
    on_reset: list[Callable[[], None]] = field(default_factory=list)

    def record(self, message_id: str, operation: str, body: str, **extra: Any) -> tuple[str, bool]:
        """Store one message (deduplicated by id); return (receipt, duplicate)."""
        duplicate = message_id in self.store
        if not duplicate:
            self.counter += 1
            self.store[message_id] = f"{self.name.upper()}-{self.counter:09d}"
        self.received.append({"id": message_id, "received_at": datetime.now(UTC).isoformat(),
                              "duplicate": duplicate, "operation": operation, "body": body, **extra})
        return self.store[message_id], duplicate

    def reset(self) -> None:
        """Forget everything received and every fault."""
        self.received.clear()
        self.store.clear()
        self.faults = Faults()
        self.counter = 0
        for hook in self.on_reset:
            hook()


_BUSINESS = "_mock_business_route"


def business(handler: Handler) -> Handler:
    """Mark a GET handler as one of the partner's business routes: the faults apply to it like to a POST."""
    setattr(handler, _BUSINESS, True)
    return handler


def _faults_apply(request: web.Request) -> bool:
    """Faults apply to POSTs and business GETs; never to ``/_mock/*`` (also under a prefix: ``/trf1/_mock/*``) or a
    ``?wsdl`` fetch."""
    if "/_mock/" in request.path or any(k.lower() == "wsdl" for k in request.query):
        return False
    if request.method in ("GET", "HEAD"):
        return bool(getattr(request.match_info.route.handler, _BUSINESS, False))
    return True


_LATE_DONE = "_mock_latency_after_done"


async def before_streaming(request: web.Request) -> None:
    """Called by a handler that streams its answer (``StreamResponse.prepare``) before it writes anything: waits the
    ``latency_after_ms`` fault now, since after the handler returns the answer is already on the wire and a late
    wait would hold only the connection (once per request; the middleware then does not wait again)."""
    state: MockState | None = request.app.get("state")
    if request.get(_LATE_DONE) or state is None or not _faults_apply(request):
        return
    request[_LATE_DONE] = True
    if state.faults.latency_after_ms:
        await asyncio.sleep(state.faults.latency_after_ms / 1000)


def _faults_middleware(state: MockState) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not _faults_apply(request):
            return await handler(request)
        f = state.faults
        if f.down:
            if request.transport is not None:
                request.transport.close()
            raise web.HTTPServiceUnavailable()  # never written: the connection is already gone
        if f.latency_ms:
            await asyncio.sleep(f.latency_ms / 1000)
        if f.error_rate and random.random() < f.error_rate:
            status = f.status or 503
            return web.Response(status=status, text="falha simulada\n",
                                headers={"Retry-After": "1"} if status == 429 else None)
        response = await handler(request)
        if f.latency_after_ms and not request.get(_LATE_DONE):  # a streamed answer waited before it was written
            await asyncio.sleep(f.latency_after_ms / 1000)
        if f.malformed:
            return web.Response(status=200, body=b"\x00\x01 isto n\xe3o \xe9 XML nem JSON <<<",
                                content_type="application/octet-stream")
        return response

    return middleware


def mock_app(state: MockState) -> web.Application:
    """An aiohttp application with the ``/_mock`` endpoints and fault injection; add the partner's routes."""
    app = web.Application(middlewares=[_faults_middleware(state)], client_max_size=256 * 1024 * 1024)
    app["state"] = state

    async def received(_request: web.Request) -> web.Response:
        return web.json_response(state.received)

    async def faults(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            state.faults = Faults(**{**asdict(Faults()), **body})
        except (ValueError, TypeError) as exc:
            return web.json_response({"erro": f"falhas inválidas: {exc}"}, status=400)
        return web.json_response(asdict(state.faults))

    async def reset(_request: web.Request) -> web.Response:
        state.reset()
        return web.json_response({"ok": True})

    app.router.add_get("/_mock/received", received)
    app.router.add_get("/_mock/faults", lambda _r: _json(asdict(state.faults)))
    app.router.add_post("/_mock/faults", faults)
    app.router.add_post("/_mock/reset", reset)
    return app


async def _json(body: Any) -> web.Response:
    return web.json_response(body)


def serve(make_app: Callable[[str], web.Application], description: str, argv: list[str] | None = None) -> int:
    """Run a simulator alone: ``python -m mocks.NAME --port 8081``. Prints its URL when it answers."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args(argv)

    async def main() -> None:
        # bind first so the URL (and a WSDL's soap:address) can name the real port
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        url = f"http://{args.host}:{sock.getsockname()[1]}"
        runner = web.AppRunner(make_app(url), access_log=None)
        await runner.setup()
        site = web.SockSite(runner, sock)
        await site.start()
        print(json.dumps({"url": url}), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use python -m mocks.tse or python -m mocks.cnj")
