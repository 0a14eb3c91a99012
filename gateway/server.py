"""The HTTP server of ``gateway serve`` and the sandbox: uvicorn's httptools protocol plus what uvicorn lacks against
slow and idle clients, and the optional operations listener (``GATEWAY_OPS_LISTEN``) in the same event loop.

uvicorn closes a kept-alive connection after ``timeout_keep_alive`` but has no timer before the first request, none
on the request head, none on the body, and no connection cap (``limit_concurrency`` answers 503 to *requests*, so
connections that never finish one are never counted). :class:`GuardedProtocol` adds, per connection:

- a **header timeout**: the whole request head within ``GATEWAY_HEADER_TIMEOUT_S`` of the connection's opening (or
  of the first byte of the next request on a kept-alive connection) — else 408 ``GATEWAY-E041`` and close;
- a **body deadline**: the whole body within ``GATEWAY_BODY_TIMEOUT_S`` of the end of the head — else 408 (when no
  answer has started) and close; the application sees a disconnect;
- the **keep-alive idle timeout** (uvicorn's, from ``GATEWAY_KEEPALIVE_TIMEOUT_S``);
- a **connection cap**: ``GATEWAY_MAX_CONNECTIONS`` open at once, and ``GATEWAY_MAX_CONNECTIONS_PER_CLIENT`` from one
  address (trusted proxies exempt), so one client cannot take them all. Beyond either, up to
  ``GATEWAY_HEALTHZ_RESERVE`` more connections are accepted that may only ask ``/healthz`` (anything else: 503
  ``GATEWAY-E042``; their header timeout is at most 2 s); beyond that a connection is reset at once, so file
  descriptors stay bounded (the soft descriptor limit is raised to fit the cap at start, or the start is refused).

Logging stays bounded: cut, refused and invalid connections, and the application's reports of clients gone away, are
counted and written as **one summary line per** ``GATEWAY_SERVER_LOG_INTERVAL_S`` (when anything happened), never a
line or a traceback per connection; the counts are also metrics (``gateway_connection_events_total{reason}``).

Why uvicorn and not another server (measured and read, issue 8): hypercorn has only a per-read timeout (a byte every
few seconds resets it) and no connection cap; granian has a header-read timeout but no body deadline nor cap, and
runs the application in its own worker model, where the operations listener could not share the process's event
loop and metrics. Subclassing uvicorn's httptools protocol keeps the measured server and its throughput.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.errors import OperatorError
from gateway.settings import Settings, SettingsError

log = logging.getLogger("gateway.server")
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
_RESERVE_HEADER_TIMEOUT_S = 2.0
_DESCRIPTOR_MARGIN = 256  # files, database connections, outgoing sockets besides the clients'
_TIMEOUT_BODY = b"GATEWAY-E041: tempo esgotado recebendo a requisicao; conexao encerrada.\n"
_RESERVE_BODY = b"GATEWAY-E042: limite de conexoes atingido: esta conexao atende apenas /healthz.\n"
#: what the summary line calls each counted event
REASONS = {
    "header_timeout": "cabeçalho lento", "body_timeout": "corpo lento", "idle": "ociosa",
    "refused": "recusada (limite)",
    "refused_client": "recusada (limite por cliente)", "reserve_refused": "só /healthz (503)",
    "invalid": "requisição inválida", "disconnected": "cliente desconectou", "accept_failed": "accept falhou",
}


@dataclass(frozen=True)
class ServerLimits:
    """The timers and caps of one listener (seconds, connections)."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 120.0
    keepalive_timeout_s: float = 5.0
    max_connections: int = 1000
    max_connections_per_client: int = 256
    healthz_reserve: int = 16
    log_interval_s: float = 10.0

    @classmethod
    def of(cls, settings: Settings) -> ServerLimits:
        """The public listener's limits from the settings."""
        return cls(settings.header_timeout_s, settings.body_timeout_s, settings.keepalive_timeout_s,
                   settings.max_connections, settings.max_connections_per_client, settings.healthz_reserve,
                   settings.server_log_interval_s)

    def ops(self) -> ServerLimits:
        """The operations listener's: the same timers, a small cap, no reserve."""
        return ServerLimits(self.header_timeout_s, self.body_timeout_s, self.keepalive_timeout_s, 64, 64, 0,
                            self.log_interval_s)


class ConnectionGuard:
    """The open connections of one listener (total, per client address, in the reserve) and the counted events."""

    def __init__(self, name: str, limits: ServerLimits, trusted: Callable[[str], bool] = lambda _a: False,
                 on_event: Callable[[str], None] | None = None) -> None:
        self.name = name
        self.limits = limits
        self.trusted = trusted
        self.on_event = on_event
        self.open = 0
        self.reserve_open = 0
        self.per_client: Counter[str] = Counter()
        self.events: Counter[str] = Counter()

    def admit(self, host: str) -> str | None:
        """``"ok"``, ``"reserve"`` (only /healthz) or None (reset at once) for a new connection from *host*."""
        lim = self.limits
        over_client = not self.trusted(host) and self.per_client[host] >= lim.max_connections_per_client
        if not over_client and self.open - self.reserve_open < lim.max_connections:
            kind = "ok"
        elif self.reserve_open < lim.healthz_reserve:
            kind = "reserve"
            self.reserve_open += 1
        else:
            self.note("refused_client" if over_client else "refused")
            return None
        self.open += 1
        self.per_client[host] += 1
        return kind

    def release(self, host: str, kind: str) -> None:
        """A connection admitted as *kind* from *host* closed."""
        self.open -= 1
        if kind == "reserve":
            self.reserve_open -= 1
        self.per_client[host] -= 1
        if self.per_client[host] <= 0:
            del self.per_client[host]

    def note(self, reason: str) -> None:
        """Count one event (a key of :data:`REASONS`)."""
        self.events[reason] += 1
        if self.on_event is not None:
            self.on_event(reason)

    def summary(self) -> str | None:
        """The summary line of the events since the last call (None when nothing happened); resets the counts."""
        if not self.events:
            return None
        parts = ", ".join(f"{n} {REASONS.get(r, r)}" for r, n in sorted(self.events.items(), key=lambda x: -x[1]))
        self.events.clear()
        return f"conexões ({self.name}): {parts}; abertas agora {self.open}"

    async def report_forever(self, stop: asyncio.Event) -> None:
        """One summary line per interval while anything happens, until *stop*."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.limits.log_interval_s)
            line = self.summary()
            if line:
                log.warning(line)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the timers and caps of the module docstring. A subclass per listener sets
    :attr:`guard` (uvicorn builds protocols with its own arguments only)."""

    guard: ClassVar[ConnectionGuard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._phase = ""
        self._host = "?"
        self._admitted: str | None = None

    @classmethod
    def for_guard(cls, guard: ConnectionGuard) -> type[GuardedProtocol]:
        """A protocol class bound to *guard*."""
        return type("GuardedProtocol", (cls,), {"guard": guard})

    # -- connection ----------------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Admit (or reset) the connection, then arm the header timer."""
        peer = transport.get_extra_info("peername")
        self._host = str(peer[0]) if peer else "?"
        self._admitted = self.guard.admit(self._host)
        if self._admitted is None:
            transport.abort()
            return
        _no_delay(transport)
        super().connection_made(transport)
        timeout = self.guard.limits.header_timeout_s
        if self._admitted == "reserve":
            self.app = _healthz_only(self.app, self.guard)
            timeout = min(timeout, _RESERVE_HEADER_TIMEOUT_S)
        self._arm("header", timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        """Release the connection's place."""
        if self._admitted is None:
            return
        self._disarm()
        self.guard.release(self._host, self._admitted)
        self._admitted = None
        super().connection_lost(exc)

    # -- parser callbacks ----------------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        """The first byte of a request: its head must be complete within the header timeout."""
        super().on_message_begin()
        if self._phase != "header":
            self._arm("header", self.guard.limits.header_timeout_s)

    def on_headers_complete(self) -> None:
        """The head is in: the body must be complete within the body deadline."""
        super().on_headers_complete()
        if not self.transport.is_closing():
            self._arm("body", self.guard.limits.body_timeout_s)

    def on_message_complete(self) -> None:
        """The request is in: no timer until the answer is sent (then uvicorn's keep-alive timer)."""
        super().on_message_complete()
        self._disarm()

    def send_400_response(self, msg: str) -> None:
        """An unparseable request: counted (uvicorn's warning line is filtered out), answered 400, closed."""
        self.guard.note("invalid")
        self._disarm()
        super().send_400_response(msg)

    def timeout_keep_alive_handler(self) -> None:
        """A kept-alive connection idle too long: counted and closed."""
        if not self.transport.is_closing():
            self.guard.note("idle")
        super().timeout_keep_alive_handler()

    # -- timers --------------------------------------------------------------------------------------------------

    def _arm(self, phase: str, seconds: float) -> None:
        self._disarm()
        self._phase = phase
        self._timer = self.loop.call_later(seconds, self._expired, phase)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._phase = ""

    def _expired(self, phase: str) -> None:
        self._timer = None
        self._phase = ""
        if self.transport is None or self.transport.is_closing():
            return
        self.guard.note(f"{phase}_timeout")
        cycle = self.cycle
        answered = cycle is not None and phase == "body" and cycle.response_started
        if cycle is not None and phase == "body":
            cycle.disconnected = True  # the application's receive() now returns http.disconnect, its sends are dropped
            cycle.message_event.set()
        if not answered:
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                                 b"connection: close\r\ncontent-length: " + str(len(_TIMEOUT_BODY)).encode()
                                 + b"\r\n\r\n" + _TIMEOUT_BODY)
        self.transport.close()


def _healthz_only(app: ASGIApp, guard: ConnectionGuard) -> ASGIApp:
    """*app* for ``/healthz`` only; any other request is answered 503 GATEWAY-E042 and the connection closed."""

    async def reserved(scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope.get("path") == "/healthz":
            await app(scope, receive, send)
            return
        guard.note("reserve_refused")
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close"), (b"retry-after", b"5"),
            (b"content-length", str(len(_RESERVE_BODY)).encode())]})
        await send({"type": "http.response.body", "body": _RESERVE_BODY})

    return reserved


class _LogFilter(logging.Filter):
    """Drops the per-connection lines (uvicorn's "Invalid HTTP request", a client gone away in the middle of a
    request, asyncio's accept failures) and counts them instead."""

    def __init__(self, guard: ConnectionGuard) -> None:
        super().__init__()
        self.guard = guard

    def filter(self, record: logging.LogRecord) -> bool:
        """False (and counted) for a per-connection record."""
        if record.name == "uvicorn.error" and record.getMessage().startswith("Invalid HTTP request"):
            return False  # counted by GuardedProtocol.send_400_response
        if record.name == "asyncio" and "accept" in record.getMessage():
            self.guard.note("accept_failed")
            return False
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and _is_disconnect(exc):
            self.guard.note("disconnected")
            return False
        return True


def _is_disconnect(exc: BaseException) -> bool:
    from starlette.requests import ClientDisconnect

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ClientDisconnect | ConnectionResetError | BrokenPipeError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


@contextlib.contextmanager
def bounded_logging(guard: ConnectionGuard) -> Iterator[None]:
    """Install the per-connection filter on every root handler and uvicorn's loggers for the block."""
    flt = _LogFilter(guard)
    targets: list[logging.Filterer] = [*logging.getLogger().handlers, logging.getLogger("uvicorn.error"),
                                       logging.getLogger("asyncio")]
    for t in targets:
        t.addFilter(flt)
    try:
        yield
    finally:
        for t in targets:
            t.removeFilter(flt)


def ensure_descriptors(needed: int) -> int:
    """Raise the soft limit of open files to *needed* when the hard limit allows; return the limit in force.
    Errors: SettingsError (GATEWAY-E001) when it cannot be."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise SettingsError(f"GATEWAY_MAX_CONNECTIONS + GATEWAY_HEALTHZ_RESERVE pedem {needed} descritores de arquivo "
                            f"e o processo pode abrir {soft}: reduza o limite de conexões ou aumente o ulimit -n")
    return int(soft)


def _no_delay(transport: asyncio.Transport) -> None:
    """TCP_NODELAY on the connection (issue 15's bench found it off: a response's headers and body leave as two
    segments, and with Nagle the body waited for the client's delayed ACK — ~40 ms per keep-alive request)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # the peer already left
            pass


def bind(host: str, port: int, what: str = "GATEWAY_HOST/GATEWAY_PORT") -> socket.socket:
    """A listening socket on *host*:*port* (port 0: a free one). Errors, one line each: SettingsError (GATEWAY-E001)
    for a host that does not resolve (the setting is wrong); OperatorError (GATEWAY-E052, a system condition) when
    the address cannot be listened on — a port in use, a privileged port."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except OSError as exc:
        raise SettingsError(f"{what}: endereço inválido {host}:{port} ({exc.strerror or exc})") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise OperatorError(f"{what}: não foi possível escutar em {host}:{port} ({exc.strerror or exc})",
                            code="GATEWAY-E052") from None
    sock.set_inheritable(True)
    return sock


def run(main: Awaitable[None], switch_interval_ms: float | None = None) -> None:
    """Run *main* on a new event loop — uvloop's when it is installed, as uvicorn's ``loop="auto"`` would — with the
    interpreter's thread switch interval set to *switch_interval_ms* milliseconds meanwhile (``GATEWAY_GIL_SWITCH_
    INTERVAL_MS``: how long the loop may wait for the GIL while another thread holds it; None leaves it as it is),
    restored afterwards."""
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    else:
        factory = uvloop.new_event_loop
    before = sys.getswitchinterval()
    if switch_interval_ms is not None:
        sys.setswitchinterval(switch_interval_ms / 1000)
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(main)  # type: ignore[arg-type]
    finally:
        sys.setswitchinterval(before)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to :func:`serve_async` (several servers share one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Signals are handled by :func:`serve_async`."""
        yield


def _config(app: ASGIApp, guard: ConnectionGuard, lifespan: str, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(app, http=GuardedProtocol.for_guard(guard), loop="asyncio", lifespan=lifespan,  # type: ignore[arg-type]
                          log_level=log_level, access_log=False, timeout_keep_alive=int(max(
                              1, round(guard.limits.keepalive_timeout_s))), timeout_graceful_shutdown=10,
                          ws="none", server_header=False,
                          # X-Forwarded-* are the gateway's to judge (gateway/edges/forwarded.py, only from
                          # GATEWAY_TRUSTED_PROXIES): uvicorn's own handling would believe them from 127.0.0.1 and
                          # rewrite the peer's address before the gateway saw it
                          proxy_headers=False)


async def serve_async(app: ASGIApp, limits: ServerLimits, sock: socket.socket, *,
                      ops_app: ASGIApp | None = None, ops_sock: socket.socket | None = None,
                      trusted: Callable[[str], bool] = lambda _a: False,
                      on_event: Callable[[str], None] | None = None, stop: asyncio.Event | None = None,
                      log_level: str = "warning") -> None:
    """Serve *app* (its lifespan on) on *sock* and, when given, *ops_app* on *ops_sock*, until SIGINT/SIGTERM or
    *stop*; then shut both down gracefully."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (2, 15):  # SIGINT, SIGTERM
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    public = ConnectionGuard("pública", limits, trusted, on_event)
    servers = [(_Server(_config(app, public, "on", log_level)), sock)]
    guards = [public]
    if ops_app is not None and ops_sock is not None:
        ops = ConnectionGuard("operação", limits.ops(), on_event=on_event)
        servers.append((_Server(_config(ops_app, ops, "off", log_level)), ops_sock))
        guards.append(ops)
    with bounded_logging(public):
        tasks = [asyncio.create_task(s.serve(sockets=[k])) for s, k in servers]
        reporters = [asyncio.create_task(g.report_forever(stop)) for g in guards]
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for s, _ in servers:
            s.should_exit = True
        stop.set()
        try:
            await asyncio.gather(*tasks)
        finally:
            await asyncio.gather(*reporters, stopper, return_exceptions=True)
            for g in guards:
                line = g.summary()
                if line:
                    log.warning(line)
