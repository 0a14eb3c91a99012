"""The intimations' collector: a background task of ``gateway serve`` (and the sandbox) that asks, every
``GATEWAY_INTIMACOES_INTERVALO_S``, each court installation configured for each procuradoria for its pending avisos
(:meth:`~gateway.divida.intimacoes.service.IntimacoesService.collect`).

Which courts (:func:`plan`): ``GATEWAY_INTIMACOES_TRIBUNAIS`` — JSON ``{"PGFN": ["8.19", "4.04/1"], "PGF": […]}``,
a ``J.TR`` meaning every installation of that tribunal — or, when empty, every installation of every tribunal the
MNI registry lets each organ of ``GATEWAY_INTIMACOES_ORGAOS`` (``PGFN,PGF``) reach. The plan is read from the hub's
registry at every round, so a registry reload (SIGHUP) changes it without a restart.

Each installation is asked concurrently and on its own: a call bounded by ``GATEWAY_INTIMACOES_TIMEOUT_S``; a
failure (unreachable, timeout, refusal, no credential) is logged and that installation waits an exponential backoff
(from the interval, doubling, at most ``GATEWAY_INTIMACOES_BACKOFF_MAX_S``) while the others go on; a success resets
it. Nothing of a failed call is stored, and what another court answered is stored whatever this one did.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from gateway.divida.intimacoes.domain import parse_tribunais
from gateway.divida.intimacoes.service import IntimacoesService
from gateway.errors import GatewayError
from gateway.hub.registry import Registry
from gateway.metrics import Metrics

log = logging.getLogger("gateway.intimacoes")
__all__ = ["Collector", "Target", "parse_tribunais", "plan"]


@dataclass(frozen=True)
class Target:
    """One collection: a procuradoria (organ code) at one court installation."""

    organ_code: str
    jtr: str
    instance: str

    @property
    def key(self) -> str:
        """``ORGAN@J.TR/instance``."""
        return f"{self.organ_code}@{self.jtr}/{self.instance}"


def plan(registry: Registry, configured: dict[str, list[str]], organs: list[str]) -> list[Target]:
    """The collections of one round (module docstring): *configured* per organ, else every installation the
    *registry* gives each of *organs*. A court the registry does not know is kept (its collection fails, logged,
    with ``MNI-E040``), so a typo is visible rather than silently skipped."""
    out: list[Target] = []
    if configured:
        for organ, courts in configured.items():
            for court in courts:
                jtr, _, instance = court.partition("/")
                if instance:
                    out.append(Target(organ, jtr, instance))
                    continue
                tribunal = registry.tribunals.get(jtr)
                if tribunal is None:
                    out.append(Target(organ, jtr, "1"))
                    continue
                out.extend(Target(organ, jtr, i.instance) for i in tribunal.installations)
        return out
    for organ in organs:
        client = registry.clients.get(organ)
        if client is None:
            continue
        for jtr in client.tribunals:
            tribunal = registry.tribunals.get(jtr)
            if tribunal is not None:
                out.extend(Target(organ, jtr, i.instance) for i in tribunal.installations)
    return out


@dataclass
class _Backoff:
    failures: int = 0
    due: float = 0.0  # monotonic seconds


class Collector:
    """Runs collection rounds (module docstring)."""

    def __init__(self, service: IntimacoesService, registry: Callable[[], Registry],
                 configured: dict[str, list[str]], organs: list[str], interval_s: float, backoff_max_s: float,
                 metrics: Metrics | None = None) -> None:
        self.service = service
        self.metrics = metrics
        self.registry = registry
        self.configured = configured
        self.organs = organs
        self.interval_s = interval_s
        self.backoff_max_s = backoff_max_s
        self._backoff: dict[str, _Backoff] = {}
        self._wake = asyncio.Event()
        #: per target key: the outcome of its last call ("ok: N novas" or the error), for tests and operators
        self.last: dict[str, str] = {}

    def wake(self) -> None:
        """Collect now (tests, operators)."""
        self._wake.set()

    async def round(self) -> int:
        """Ask every due installation once, concurrently; returns how many new intimations were stored."""
        clock = self.service.clock
        targets = plan(self.registry(), self.configured, self.organs)
        now = clock.monotonic()
        due = [t for t in targets if self._backoff.get(t.key, _Backoff()).due <= now]
        counts = await asyncio.gather(*(self._one(t) for t in due))
        return sum(counts)

    async def _one(self, t: Target) -> int:
        clock = self.service.clock
        try:
            new = await self.service.collect(t.organ_code, t.jtr, t.instance)
        except (GatewayError, TimeoutError) as exc:
            state = self._backoff.setdefault(t.key, _Backoff())
            state.failures += 1
            wait = min(self.backoff_max_s, max(self.interval_s, 1.0) * 2 ** (state.failures - 1))
            state.due = clock.monotonic() + wait
            reason = exc.message if isinstance(exc, GatewayError) else "tempo esgotado"
            code = exc.code if isinstance(exc, GatewayError) else "INTIM-E020"
            self.last[t.key] = f"{code}: {reason}"
            log.warning("intimações de %s não coletadas (%s: %s); nova tentativa em %.0f s", t.key, code, reason,
                        wait)
            self._count(t, "erro", 0)
            return 0
        except Exception:  # a bug in one collection must not end the collector; logged, retried next round
            log.exception("intimações de %s: erro interno", t.key)
            self.last[t.key] = "INTIM-E090: erro interno"
            return 0
        self._backoff.pop(t.key, None)
        self.last[t.key] = f"ok: {len(new)} nova(s)"
        self._count(t, "ok", len(new))
        return len(new)

    def _count(self, t: Target, outcome: str, new: int) -> None:
        if self.metrics is not None:
            where = f"{t.jtr}/{t.instance}"
            self.metrics.intimacoes_collections.labels(where, outcome).inc()
            if new:
                self.metrics.intimacoes_new.labels(where).inc(new)

    def report(self) -> dict[str, str]:
        """What ``/readyz`` reports (never a reason for 503): per ``ORGAN@J.TR/instance``, the last outcome."""
        return dict(self.last)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Rounds every ``interval_s`` (or at once when woken) until *stop* is set."""
        while not stop.is_set():
            try:
                await self.round()
            except Exception:  # one bad round must not end the collector
                log.exception("intimações: rodada de coleta falhou")
            self._wake.clear()
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=self.interval_s, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
