"""Admission: the bound on intake requests in flight, and the coded, retry-safe refusal beyond it.

Beyond capacity a queue only grows: every request waits longer, times out, and its client retries into the same
queue (issue 9 measured p99 30 s at 500 requests/s offered for 338/s achieved). The gateway sheds instead: an
intake request that finds ``limit`` others in flight is refused at once, before its body is read, with
INFODIP-E092 (:class:`~gateway.errors.Overloaded`) and a ``Retry-After`` hint — a ``soap:Server`` Fault (HTTP 500,
DESIGN.md's rule for every Fault, plus the header) on ``/soap/infodip``, an RFC 9457 problem (HTTP 503) on
``/api/v1``. Nothing was stored, so the same request (same ``referenciaRemetente``) may be sent again. What is
admitted keeps a latency of about ``limit`` ÷ throughput; the group committer's bounded queue
(``GATEWAY_COMMIT_QUEUE_MAX``) is the second line, behind this one, when the database is what is slow.

The relay yields to intake while :meth:`Admission.busy` (half the limit or more in flight).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from gateway.errors import Overloaded
from gateway.infodip.contract import errors_detail
from gateway.xml.soap import fault

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Admission:
    """How many intake requests are in flight in this process, and the bound (``GATEWAY_INTAKE_MAX_INFLIGHT``;
    0: unbounded). Used from the event loop's thread only."""

    def __init__(self, limit: int, retry_after_s: int = 1,
                 on_refused: Callable[[str], None] | None = None) -> None:
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.on_refused = on_refused
        self.inflight = 0
        self.refused = 0

    def busy(self) -> bool:
        """Whether intake is near its bound (half of it or more in flight): the relay then takes a smaller share."""
        return self.limit > 0 and self.inflight * 2 >= self.limit

    def full(self) -> bool:
        """Whether a new request would exceed the bound."""
        return self.limit > 0 and self.inflight >= self.limit


def _channel(scope: Scope) -> str | None:
    """``soap`` or ``rest`` for an intake request the bound applies to; None for everything else (WSDL, health,
    metrics, the MNI hub, REST reads)."""
    path, method = scope.get("path", ""), scope.get("method", "GET")
    if path == "/soap/infodip" and method == "POST":
        return "soap"
    if path.startswith("/api/v1/") and method == "POST":
        return "rest"
    return None


def refusal(channel: str, retry_after_s: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of the INFODIP-E092 refusal on *channel* (``soap`` or ``rest``)."""
    exc = Overloaded(retry_after_s=retry_after_s)
    retry = (b"retry-after", str(retry_after_s).encode())
    if channel == "soap":
        return 500, [(b"content-type", b"text/xml; charset=utf-8"), retry], fault(exc, errors_detail(exc))
    body = json.dumps({"type": "about:blank", "title": "Gateway sobrecarregado", "status": 503,
                       "detail": exc.message, "codigo": exc.code, "mensagem": exc.message, "campo": None},
                      ensure_ascii=False).encode()
    return 503, [(b"content-type", b"application/problem+json"), retry], body


class AdmissionMiddleware:
    """Pure ASGI middleware applying :class:`Admission` to intake requests (see :func:`_channel`)."""

    def __init__(self, app: ASGIApp, admission: Admission) -> None:
        self.app = app
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse at once when full; otherwise count the request in flight until its answer is sent."""
        channel = _channel(scope) if scope["type"] == "http" else None
        if channel is None:
            await self.app(scope, receive, send)
            return
        gate = self.admission
        if gate.full():
            gate.refused += 1
            if gate.on_refused is not None:
                gate.on_refused(channel)
            status, headers, body = refusal(channel, gate.retry_after_s)
            headers.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        gate.inflight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            gate.inflight -= 1
