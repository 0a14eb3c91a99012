"""What the MNI hub knows of each tribunal installation: its metrics, and the reachability ``/readyz`` reports.

Every call the hub makes to an installation is observed (:meth:`TribunalMonitor.call`): counted in
``gateway_mni_calls_total{installation,operation,outcome}``, timed in ``gateway_mni_call_duration_seconds``, a failure
counted by the code its client got in ``gateway_mni_errors_total``, and remembered as the installation's last call.
Besides, a cheap probe (:meth:`TribunalMonitor.probe_forever`) opens a TCP connection to each installation's
host and port every ``GATEWAY_MNI_PROBE_INTERVAL_S`` (each attempt bounded by ``GATEWAY_MNI_PROBE_TIMEOUT_S``), so
an installation nobody called lately is still known to answer. ``/readyz`` shows both, never as a 503: the hub's
tribunals are partners, and a partner down does not make the gateway unready (DESIGN.md, "Gateway URLs").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from gateway.clock import Clock
from gateway.hub.registry import Installation
from gateway.metrics import Metrics

#: outcomes of a call: the tribunal answered sucesso=true / sucesso=false / nothing usable
SUCESSO, INSUCESSO, ERRO = "sucesso", "insucesso", "erro"


@dataclass(frozen=True)
class _Event:
    """One observation of an installation: a call's outcome or a probe's."""

    reached: bool
    result: str  # sucesso | insucesso | erro (calls); ok | the failure's name (probes)
    at: datetime
    code: str | None = None

    def view(self) -> dict[str, object]:
        out: dict[str, object] = {"resultado": self.result, "em": self.at.isoformat()}
        if self.code:
            out["codigo"] = self.code
        return out


class TribunalMonitor:
    """Metrics and the latest call and probe of each installation (keyed ``J.TR/instância``)."""

    def __init__(self, clock: Clock, metrics: Metrics | None = None) -> None:
        self.clock = clock
        self.metrics = metrics
        self._calls: dict[str, _Event] = {}
        self._probes: dict[str, _Event] = {}

    def call(self, installation: str, operation: str, outcome: str, seconds: float, code: str | None = None) -> None:
        """Observe one call to *installation* that took *seconds*: *outcome* is :data:`SUCESSO`, :data:`INSUCESSO`
        or :data:`ERRO` (then *code*, the ``MNI-E…`` code the client got)."""
        self._calls[installation] = _Event(outcome != ERRO, outcome, self.clock.now(), code)
        if self.metrics is None:
            return
        self.metrics.mni_calls.labels(installation, operation, outcome).inc()
        self.metrics.mni_duration.labels(installation, operation).observe(seconds)
        if outcome == ERRO:
            self.metrics.mni_errors.labels(installation, operation, code or "?").inc()
        self._gauge(installation)

    def answer(self, operation: str, code: str | None) -> None:
        """Count one answer of the hub to its client: *code* None for a successful one."""
        if self.metrics is not None:
            self.metrics.mni_answers.labels(operation, code or "OK").inc()

    async def probe(self, installations: Iterable[Installation], timeout_s: float) -> None:
        """Open (and close) a TCP connection to every installation at once, each within *timeout_s* seconds."""
        await asyncio.gather(*(self._probe_one(i, timeout_s) for i in installations))

    async def _probe_one(self, inst: Installation, timeout_s: float) -> None:
        parts = urlsplit(inst.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            _reader, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port), timeout_s)
        except (OSError, TimeoutError, ValueError) as exc:
            self._probes[inst.key] = _Event(False, "tempo esgotado" if isinstance(exc, TimeoutError)
                                            else type(exc).__name__, self.clock.now())
        else:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), timeout_s)
            self._probes[inst.key] = _Event(True, "ok", self.clock.now())
        self._gauge(inst.key)

    async def probe_forever(self, installations: Callable[[], Iterable[Installation]], interval_s: float,
                            timeout_s: float, stop: asyncio.Event) -> None:
        """Probe the installations *installations* returns (read each round: a reloaded registry is followed)
        every *interval_s* seconds until *stop* is set."""
        while not stop.is_set():
            await self.probe(list(installations()), timeout_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)

    def _latest(self, key: str) -> _Event | None:
        events = [e for e in (self._calls.get(key), self._probes.get(key)) if e is not None]
        return max(events, key=lambda e: e.at) if events else None

    def _gauge(self, key: str) -> None:
        latest = self._latest(key)
        if self.metrics is not None and latest is not None:
            self.metrics.mni_installation_up.labels(key).set(1 if latest.reached else 0)

    def report(self, installations: Iterable[Installation]) -> dict[str, dict[str, object]]:
        """``{"8.19/1": {"situacao": "alcancavel"|"inalcancavel"|"desconhecida", "sonda": {"resultado", "em"},
        "ultimaChamada": {"resultado", "em", "codigo"?}}}`` for *installations*; ``situacao`` follows the latest of
        the probe and the call. Nothing here does I/O: ``/readyz`` stays cheap."""
        out: dict[str, dict[str, object]] = {}
        for inst in installations:
            latest = self._latest(inst.key)
            entry: dict[str, object] = {"situacao": "desconhecida" if latest is None
                                        else "alcancavel" if latest.reached else "inalcancavel"}
            if inst.key in self._probes:
                entry["sonda"] = self._probes[inst.key].view()
            if inst.key in self._calls:
                entry["ultimaChamada"] = self._calls[inst.key].view()
            out[inst.key] = entry
        return out
