"""Failed logins throttled per (username, client address) — never per username alone, which would let anyone lock a
tribunal's integration out by guessing from elsewhere.

After ``GATEWAY_LOGIN_MAX_FAILURES`` failures of one pair within ``GATEWAY_LOGIN_WINDOW_S`` seconds (a sliding
window), that pair's attempts are refused with ``…-E029`` (:class:`~gateway.errors.TooManyRequests`, HTTP 429 with
``Retry-After`` on REST) *before* anything is checked — the KDF never runs for them — until the oldest of those
failures leaves the window. A success clears the pair. Other users, and the same user from other addresses, are not
affected. The client address is the connection's (or a trusted proxy's ``X-Forwarded-For``,
:mod:`gateway.edges.forwarded`), set per request in :data:`CLIENT_ADDRESS`.

Failures and refusals are counted (metrics ``gateway_login_failures_total`` and ``gateway_logins_throttled_total``)
and written to the audit log **aggregated**: at most one ``auth.falhas`` entry per ``GATEWAY_LOGIN_AUDIT_INTERVAL_S``,
carrying the totals of the interval and the 100 pairs with the most failures (the rest counted, not listed), so no
volume of guessing can grow the audit log faster than one entry per interval. Memory is bounded too: at most
``max_keys`` pairs are remembered (least recently failed forgotten first) and at most 10,000 pairs per summary.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from gateway.clock import Clock

log = logging.getLogger("gateway.auth")

#: The client address of the request being handled (set by :class:`gateway.edges.forwarded.ClientAddressMiddleware`).
CLIENT_ADDRESS: ContextVar[str | None] = ContextVar("gateway_client_address", default=None)
_SUMMARY_KEYS = 10_000
_LISTED = 100


class LoginThrottle:
    """Failed logins per (username, address) in a sliding window (see the module docstring). Not thread-safe: used
    from the event loop only."""

    def __init__(self, clock: Clock, max_failures: int = 10, window_s: float = 300.0,
                 max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_keys = max_keys
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._failed: Counter[tuple[str, str]] = Counter()
        self._refused: Counter[tuple[str, str]] = Counter()
        self._other_failed = 0
        self._other_refused = 0

    def retry_after(self, username: str, address: str) -> float | None:
        """Seconds until *username* may try again from *address*, or None when it may try now."""
        times = self._failures.get((username, address))
        if times is None or len(times) < self.max_failures:
            return None
        waited = self.clock.monotonic() - times[0]
        return self.window_s - waited if waited < self.window_s else None

    def failed(self, username: str, address: str) -> None:
        """Record a failed login of *username* from *address*."""
        key = (username, address)
        times = self._failures.pop(key, None) or deque(maxlen=self.max_failures)
        times.append(self.clock.monotonic())
        self._failures[key] = times
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)
        self._count(self._failed, key, "failed")

    def refused(self, username: str, address: str) -> None:
        """Record an attempt refused because the pair is throttled."""
        self._count(self._refused, (username, address), "refused")

    def succeeded(self, username: str, address: str) -> None:
        """A successful login clears the pair's failures."""
        self._failures.pop((username, address), None)

    def _count(self, counter: Counter[tuple[str, str]], key: tuple[str, str], kind: str) -> None:
        if key in counter or len(self._failed) + len(self._refused) < _SUMMARY_KEYS:
            counter[key] += 1
        elif kind == "failed":
            self._other_failed += 1
        else:
            self._other_refused += 1

    def take_summary(self) -> dict[str, Any] | None:
        """What happened since the last call, aggregated (None when nothing): totals, and the pairs with the most
        failures (at most 100, each ``{"usuario", "endereco", "falhas", "recusadas"}``)."""
        if not self._failed and not self._refused and not (self._other_failed or self._other_refused):
            return None
        keys = set(self._failed) | set(self._refused)
        ranked = sorted(keys, key=lambda k: (-self._failed[k], -self._refused[k], k))
        summary = {
            "falhas": sum(self._failed.values()) + self._other_failed,
            "recusadas": sum(self._refused.values()) + self._other_refused,
            "pares": len(keys) + (1 if self._other_failed or self._other_refused else 0),
            "janela_s": self.window_s, "limite": self.max_failures,
            "maiores": [{"usuario": u, "endereco": a, "falhas": self._failed[(u, a)],
                         "recusadas": self._refused[(u, a)]} for u, a in ranked[:_LISTED]],
            "omitidos": max(0, len(keys) - _LISTED),
        }
        self._failed.clear()
        self._refused.clear()
        self._other_failed = self._other_refused = 0
        return summary


async def report_forever(throttle: LoginThrottle, write: Callable[[dict[str, Any]], Awaitable[None]],
                         interval_s: float, stop: asyncio.Event) -> None:
    """Every *interval_s*, hand the throttle's summary (if any) to *write* (one audit entry) and log one line;
    once more when *stop* is set."""
    while True:
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        except TimeoutError:
            pass
        summary = throttle.take_summary()
        if summary is not None:
            log.warning("logins malsucedidos: %d falha(s), %d tentativa(s) recusada(s) pelo limite, %d par(es) "
                        "usuário/endereço em %.0f s", summary["falhas"], summary["recusadas"], summary["pares"],
                        interval_s)
            try:
                await write(summary)
            except Exception:
                log.exception("could not audit the failed logins")
        if stop.is_set():
            return


class ClientRateLimit:
    """At most *per_minute* requests per client (a credential's username) in a sliding window, per process — the REST
    API's per-client bound (``GATEWAY_DIVIDA_LIMITE_POR_MINUTO``; ``0`` disables it).

    The window is a sliding-window counter (the algorithm of the `limits` library's ``SlidingWindowCounter``): per
    client the count of the current fixed minute and of the previous one, the latter weighted by how much of it
    still lies inside the last 60 s. O(1) memory per client, no thread, the injected clock. Why not the library
    itself: its in-memory storage starts a thread every 10 ms to expire keys, which cost ~0.6 ms a request under
    load (measured, ``make bench`` section ``divida``) — more than the rest of the bound. Not thread-safe: used from
    the event loop only."""

    WINDOW_S = 60.0

    def __init__(self, per_minute: int, clock: Clock, max_clients: int = 100_000) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.max_clients = max_clients
        self._counts: OrderedDict[str, tuple[int, int, int]] = OrderedDict()  # client → (minute, current, previous)

    def retry_after(self, client: str) -> float | None:
        """Count one request of *client*; None when it is admitted, else the seconds until it may try again (at
        least 1). A refused request is not counted."""
        if self.per_minute <= 0:
            return None
        now = self.clock.monotonic()
        minute = int(now // self.WINDOW_S)
        at, current, previous = self._counts.pop(client, (minute, 0, 0))
        if at != minute:  # roll the window: the last minute becomes the previous one (or nothing, if older)
            current, previous = 0, (current if at == minute - 1 else 0)
        elapsed = now - minute * self.WINDOW_S
        weight = 1.0 - elapsed / self.WINDOW_S
        self._counts[client] = (minute, current, previous)
        while len(self._counts) > self.max_clients:
            self._counts.popitem(last=False)
        if previous * weight + current + 1 <= self.per_minute:
            self._counts[client] = (minute, current + 1, previous)
            return None
        if current + 1 > self.per_minute:  # this minute is full: wait for it to become the previous one, and then
            # for its weight to fall until one more request fits
            return max(1.0, self.WINDOW_S - elapsed + (1.0 - (self.per_minute - 1) / current) * self.WINDOW_S)
        # the previous minute's weight must fall until one more request fits
        needed = 1.0 - (self.per_minute - current - 1) / previous
        return max(1.0, needed * self.WINDOW_S - elapsed)
