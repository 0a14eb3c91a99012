"""Admission: the bound on intake requests in flight, and the coded, retry-safe refusal beyond it.

Beyond capacity a queue only grows: every request waits longer, times out, and its client retries into the same
queue (issue 9 measured p99 30 s at 500 requests/s offered for 338/s achieved). The gateway sheds instead: an
intake request that finds ``limit`` others in flight is refused at once, before its body is read, with
INFODIP-E092 (:class:`~gateway.errors.Overloaded`) and a ``Retry-After`` hint — a ``soap:Server`` Fault (HTTP 500,
DESIGN.md's rule for every Fault, plus the header) on ``/soap/infodip``, an RFC 9457 problem (HTTP 503) on
``/api/v1``. Nothing was stored, so the same request (same ``referenciaRemetente``) may be sent again. What is
admitted keeps a latency of about ``limit`` ÷ throughput; the group committer's bounded queue
(``GATEWAY_COMMIT_QUEUE_MAX``) is the second line, behind this one, when the database is what is slow.

A count alone does not fit every machine: the same 256 in flight is 0.3 s of work on a fast host and 1.1 s on a
slow one. So the bound also follows the queueing delay itself, as CoDel does for network queues: when the
*shortest* time an admitted request spent in the gateway during an interval (``interval_s``, 100 ms) exceeds
``target_s`` (``GATEWAY_INTAKE_TARGET_MS``, 300 ms) a standing queue has formed, and new intake requests are refused
while more than :data:`FLOOR` are in flight, until an interval's shortest stay is back under the target. What is
admitted then keeps a latency of a few times the target (``make bench``'s overload section: p99 < 1 s). The wait
*before* a request reaches this middleware (the event loop too busy to read its socket) is invisible to that rule:
the loop's own lag is sampled every 50 ms, and while every sample of the last 200 ms is above ``lag_target_s``
(``GATEWAY_INTAKE_MAX_LAG_MS``, 150 ms) intake is refused beyond the floor as well, so refusing (which costs next
to nothing) always has room. A single pause (a collection, a burst of the relay) is not a queue and sheds nothing.

The relay yields to intake while :meth:`Admission.busy` (half the limit or more in flight, or a standing queue).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
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


#: POST routes under /api/v1 that only read (not intake; a POST only to keep CPFs out of URLs): the bound does not
#: apply to them
READS = frozenset({"/api/v1/devedores/inscricoes", "/api/v1/pessoas/situacao"})
#: requests always admitted in flight, whatever the queueing delay (so the delay keeps being measured)
FLOOR = 4
#: lag samples (one per half interval) that must all be above the target to shed
LAG_SAMPLES = 4


class Admission:
    """How many intake requests are in flight in this process, how long they stay, and the bounds: at most
    ``limit`` in flight (``GATEWAY_INTAKE_MAX_INFLIGHT``; 0: unbounded) and no standing queue longer than
    ``target_s`` (0: not watched). Used from the event loop's thread only; *monotonic* gives seconds."""

    def __init__(self, limit: int, retry_after_s: int = 1, on_refused: Callable[[str], None] | None = None, *,
                 target_s: float = 0.0, interval_s: float = 0.1, lag_target_s: float = 0.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.on_refused = on_refused
        self.target_s = target_s
        self.interval_s = interval_s
        self.monotonic = monotonic
        self.lag_target_s = lag_target_s
        #: the event loop's sampled lag (seconds): the smallest of the last :data:`LAG_SAMPLES` samples
        self.lag = 0.0
        self._lags: deque[float] = deque(maxlen=LAG_SAMPLES)
        self._watched: asyncio.AbstractEventLoop | None = None
        self.inflight = 0
        self.refused = 0
        self._answers: dict[str, tuple[int, list[tuple[bytes, bytes]], bytes]] = {}
        #: whether the last interval's shortest stay exceeded the target
        self.standing = False
        self._interval_end = 0.0
        self._interval_min: float | None = None

    def refusal(self, channel: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """The refusal on *channel*, built once (refusing must cost next to nothing)."""
        if channel not in self._answers:
            status, headers, body = refusal(channel, self.retry_after_s)
            self._answers[channel] = (status, [*headers, (b"content-length", str(len(body)).encode())], body)
        return self._answers[channel]

    def busy(self) -> bool:
        """Whether intake is near its bound (half of it or more in flight, or a standing queue): the relay then
        takes a smaller share."""
        return (self.limit > 0 and self.inflight * 2 >= self.limit) or self.standing or self.lagging()

    def full(self) -> bool:
        """Whether a new request must be refused: the count at its bound, or a standing queue with more than
        :data:`FLOOR` in flight."""
        if self.limit > 0 and self.inflight >= self.limit:
            return True
        if self.standing and self.monotonic() >= self._interval_end + self.interval_s:
            self.standing = False  # nothing completed for a whole interval: the queue has drained
        return (self.standing or self.lagging()) and self.inflight >= FLOOR

    def lagging(self) -> bool:
        """Whether the event loop's sampled lag is above its target."""
        return self.lag_target_s > 0 and self.lag > self.lag_target_s

    def watch_loop(self) -> None:
        """Sample the running event loop's lag every half interval (a timer callback rescheduling itself; started
        once per loop, from the loop's thread)."""
        loop = asyncio.get_running_loop()
        if self.lag_target_s <= 0 or self._watched is loop:
            return
        self._watched = loop
        period = self.interval_s / 2

        def tick(due: float) -> None:
            self._lags.append(max(0.0, loop.time() - due))
            self.lag = min(self._lags)
            if self._watched is loop:
                loop.call_later(period, tick, loop.time() + period)

        loop.call_later(period, tick, loop.time() + period)

    def observe(self, stay_s: float) -> None:
        """Note that an admitted request left after *stay_s* seconds; close the interval when it is over."""
        if self.target_s <= 0:
            return
        now = self.monotonic()
        if self._interval_min is None or stay_s < self._interval_min:
            self._interval_min = stay_s
        if now >= self._interval_end:
            self.standing = self._interval_min > self.target_s
            self._interval_min = None
            self._interval_end = now + self.interval_s


def _channel(scope: Scope) -> str | None:
    """``soap`` or ``rest`` for an intake request the bound applies to; None for everything else (WSDL, health,
    metrics, the MNI hub, REST reads — the dívida queries included: POST only so that CPFs stay out of URLs, they
    store nothing but their audit entry and have their own per-client bound)."""
    path, method = scope.get("path", ""), scope.get("method", "GET")
    if path in ("/soap/infodip", "/soap/infodip-1.1") and method == "POST":
        return "soap"
    if path.startswith("/api/v1/") and method == "POST" and path not in READS:
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
        gate.watch_loop()
        if gate.full():
            gate.refused += 1
            if gate.on_refused is not None:
                gate.on_refused(channel)
            status, headers, body = gate.refusal(channel)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        gate.inflight += 1
        entered = gate.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            gate.inflight -= 1
            gate.observe(gate.monotonic() - entered)
