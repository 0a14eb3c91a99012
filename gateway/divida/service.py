"""The dívida ativa bridge's use cases: ask PGFN and PGF about debtors and inscriptions, in one vocabulary.

``consultar_devedores(documentos)`` checks 1 to 100 CPFs/CNPJs and asks both partners about every document at
once, each lookup:
- bounded per partner (``divida_concorrencia`` lookups in flight; waiting for a slot counts against the deadline
  only), with the partner's own timeout, and never past the request's overall deadline;
- behind a circuit breaker per partner — the relay's :class:`~gateway.relay.CircuitBreaker` on the injected
  clock: a partner that keeps failing is not asked (``DIVIDA-E032``) until its cooldown lets one probe through;
- retried once when the failure is retryable and time is left (reads are safe to repeat); a 429 is retried only
  after its ``Retry-After``, when that fits before the deadline;
- served from the optional answer cache (off by default) with its age.
Every lookup becomes a :class:`~gateway.divida.domain.Fonte`; a document's result is ``parcial`` when any of its
sources failed. When no partner answered any lookup of the request the outcome is
:class:`~gateway.divida.domain.NenhumParceiroRespondeu` (``DIVIDA-E050``). An error that is not a partner's (a bug
of ours or of an adapter) is logged with its traceback and reported as that source's ``erro`` (``DIVIDA-E090``),
leaving the breaker alone — as the relay does.

``consultar_inscricao(credor, numero)`` checks the creditor and the number by that creditor's rule and asks it for
the inscription in detail: ``DIVIDA-E010`` when the partner does not know it, ``DIVIDA-E050`` when it failed.
Nothing here logs a document, a name or an answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gateway.clock import Clock
from gateway.divida import domain
from gateway.divida.caches import AnswerCache
from gateway.divida.domain import (
    Credor,
    EstadoFonte,
    Fonte,
    Inscricao,
    InscricaoDetalhada,
    NenhumParceiroRespondeu,
    ParceiroSobrecarregado,
    RespostaDevedor,
    ResultadoDevedor,
    ResultadoInscricao,
)
from gateway.divida.partners import DebtPartner
from gateway.errors import CATALOGUE, NotFound, PartnerError, PartnerTimeout
from gateway.relay import CircuitBreaker
from gateway.settings import Settings

log = logging.getLogger("gateway.divida")
_DEVEDOR, _INSCRICAO = "devedor", "inscricao"


@dataclass(frozen=True)
class DividaPolicy:
    """Tunables of the bridge (defaults for tests; a gateway builds it from its settings, :meth:`of`)."""

    timeouts: Mapping[Credor, float] = field(
        default_factory=lambda: MappingProxyType({Credor.PGFN: 5.0, Credor.PGF: 5.0}))
    deadline_s: float = 10.0
    concurrency: int = 16
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 10.0

    @classmethod
    def of(cls, settings: Settings) -> DividaPolicy:
        """The policy of ``GATEWAY_PGFN_TIMEOUT_S``, ``GATEWAY_PGF_TIMEOUT_S``, ``GATEWAY_DIVIDA_DEADLINE_S``,
        ``GATEWAY_DIVIDA_CONCORRENCIA`` and the breakers' ``GATEWAY_BREAKER_*``."""
        return cls(MappingProxyType({Credor.PGFN: settings.pgfn_timeout_s, Credor.PGF: settings.pgf_timeout_s}),
                   settings.divida_deadline_s, settings.divida_concorrencia, settings.breaker_threshold,
                   settings.breaker_cooldown_s)


class DividaService:
    """Debtors and inscriptions at PGFN and PGF (see the module docstring). *partners* lacking a creditor leave it
    unconfigured: its sources are ``indisponivel`` (``DIVIDA-E033``)."""

    def __init__(self, partners: Mapping[Credor, DebtPartner], clock: Clock, policy: DividaPolicy | None = None,
                 cache: AnswerCache | None = None) -> None:
        self.partners = dict(partners)
        self.clock = clock
        self.policy = policy or DividaPolicy()
        self.cache = cache or AnswerCache(clock, 0)
        self.breakers = {c: CircuitBreaker(self.policy.breaker_threshold, self.policy.breaker_cooldown_s, clock)
                         for c in Credor}
        self._slots = {c: asyncio.Semaphore(self.policy.concurrency) for c in Credor}

    async def consultar_devedores(self, documentos: object) -> list[ResultadoDevedor]:
        """One :class:`ResultadoDevedor` per distinct document of *documentos* (1 to 100 CPFs/CNPJs, masked or
        not), in the order given.

        Raises :class:`~gateway.errors.ValidationFailed` (``DIVIDA-E001`` naming ``documentos[i]``,
        ``DIVIDA-E002``) and :class:`NenhumParceiroRespondeu` (``DIVIDA-E050``) when no lookup was answered."""
        docs = domain.documentos(documentos)
        deadline = asyncio.get_running_loop().time() + self.policy.deadline_s
        results = await asyncio.gather(*(self._devedor(doc, deadline) for doc in docs))
        if not any(r.algum_respondeu for r in results):
            raise NenhumParceiroRespondeu(results[0].fontes)
        return list(results)

    async def consultar_inscricao(self, credor: object, numero: object) -> ResultadoInscricao:
        """Inscription *numero* of *credor* (``PGFN`` or ``PGF``) in detail.

        Raises :class:`~gateway.errors.ValidationFailed` (``DIVIDA-E003`` field ``credor``; ``DIVIDA-E004``,
        ``E005``, ``E006`` field ``numero``), :class:`~gateway.errors.NotFound` ``DIVIDA-E010`` and
        :class:`NenhumParceiroRespondeu` ``DIVIDA-E050``."""
        de = domain.credor(credor)
        number = domain.numero_inscricao(de, numero)
        deadline = asyncio.get_running_loop().time() + self.policy.deadline_s
        fonte, answer = await self._ask(de, _INSCRICAO, number, deadline)
        if fonte.estado is not EstadoFonte.OK:
            raise NenhumParceiroRespondeu([fonte])
        if answer is None:
            raise NotFound("DIVIDA-E010", field="numero")
        if not isinstance(answer, InscricaoDetalhada):
            raise TypeError(f"resposta inesperada do parceiro: {type(answer).__name__}")
        return ResultadoInscricao(answer, fonte)

    def circuitos(self) -> dict[str, str]:
        """Each partner's breaker state (``closed``, ``open``, ``half-open``), for readiness reports."""
        return {str(c): b.state for c, b in self.breakers.items()}

    async def aclose(self) -> None:
        """Close every partner's connections."""
        for partner in self.partners.values():
            await partner.aclose()

    # -- one document ------------------------------------------------------------------------------------------

    async def _devedor(self, documento: str, deadline: float) -> ResultadoDevedor:
        asked = await asyncio.gather(*(self._ask(c, _DEVEDOR, documento, deadline) for c in Credor))
        nome = None
        inscricoes: list[Inscricao] = []
        for _fonte, answer in asked:
            if isinstance(answer, RespostaDevedor):
                nome = nome or answer.nome
                inscricoes.extend(answer.inscricoes)
        return domain.resultado(documento, nome, inscricoes, [fonte for fonte, _ in asked])

    # -- one lookup --------------------------------------------------------------------------------------------

    async def _ask(self, credor: Credor, kind: str, argument: str, deadline: float) -> tuple[Fonte, Any]:
        """Ask *credor* (``kind`` is ``devedor`` or ``inscricao``) about *argument*: its :class:`Fonte` and answer
        (None when it failed). Never raises for a partner's failure or an adapter's bug."""
        asked_at = self.clock.now()
        partner = self.partners.get(credor)
        if partner is None:
            return Fonte(credor, EstadoFonte.INDISPONIVEL, asked_at, domain_message("DIVIDA-E033"),
                         "DIVIDA-E033"), None
        key = (kind, credor, argument)
        cached = self.cache.get(key)
        if cached is not None:
            return Fonte(credor, EstadoFonte.OK, cached.consultado_em, idade_cache_s=cached.idade_s), cached.answer
        call: Callable[[str], Awaitable[object]] = partner.devedor if kind == _DEVEDOR else partner.inscricao
        retried = False
        while True:
            try:
                answer = await self._call(credor, call, argument, deadline)
            except PartnerError as exc:
                if not retried and await self._may_retry(exc, deadline):
                    retried = True
                    asked_at = self.clock.now()
                    continue
                return domain.fonte_da_falha(credor, exc, asked_at), None
            except Exception:
                log.exception("erro interno do gateway ao consultar %s (%s)", credor, kind)
                return Fonte(credor, EstadoFonte.ERRO, asked_at, domain_message("DIVIDA-E090"), "DIVIDA-E090"), None
            self.cache.put(key, answer, asked_at)
            return Fonte(credor, EstadoFonte.OK, asked_at), answer

    async def _may_retry(self, exc: PartnerError, deadline: float) -> bool:
        """Whether to send a failed read once more: retryable, not refused by our own breaker or deadline, time
        left; after a 429 only once its ``Retry-After`` has passed (waited here), if that fits before the deadline."""
        if not exc.retryable or exc.code in ("DIVIDA-E032", "DIVIDA-E034"):
            return False
        left = deadline - asyncio.get_running_loop().time()
        wait = (exc.retry_after or 0.0) if isinstance(exc, ParceiroSobrecarregado) else 0.0
        if wait >= left:
            return False
        if wait:
            await asyncio.sleep(wait)
        return True

    async def _call(self, credor: Credor, call: Callable[[str], Awaitable[object]], argument: str,
                    deadline: float) -> object:
        """One call through *credor*'s slot, breaker, timeout and the deadline; raises the partner errors."""
        loop = asyncio.get_running_loop()
        slots = self._slots[credor]
        try:
            async with asyncio.timeout_at(deadline):
                await slots.acquire()
        except TimeoutError:
            raise _deadline(credor) from None
        try:
            breaker = self.breakers[credor]
            if not breaker.allow():
                raise PartnerError(f"{credor}: {domain_message('DIVIDA-E032')}", retryable=False, partner=credor,
                                   code="DIVIDA-E032")
            timeout = self.policy.timeouts[credor]
            limited_by_deadline = deadline - loop.time() < timeout
            try:
                async with asyncio.timeout(min(timeout, max(0.0, deadline - loop.time()))):
                    answer = await call(argument)
            except TimeoutError:
                breaker.failure()
                if limited_by_deadline:
                    raise _deadline(credor) from None
                raise PartnerTimeout(f"{credor}: sem resposta em {timeout:g} s", retryable=True,
                                     partner=credor) from None
            except PartnerError:
                breaker.failure()
                raise
            except BaseException:
                breaker.cancel_probe()  # a bug of ours or a cancellation: not the partner's failure
                raise
            breaker.success()
            return answer
        finally:
            slots.release()


def domain_message(code: str) -> str:
    """The catalogue's Portuguese message of *code*."""
    return CATALOGUE[code]


def _deadline(credor: Credor) -> PartnerTimeout:
    return PartnerTimeout(f"{credor}: {domain_message('DIVIDA-E034')}", retryable=False, partner=credor,
                          code="DIVIDA-E034")
