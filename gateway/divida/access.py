"""Access to the dívida ativa bridge bound to a person and a purpose: what the REST edge calls (issue 11, point 5).

Inscriptions in dívida ativa are not covered by fiscal secrecy (CTN art. 198 §3º II: PGFN publishes its debtor
list), but the CNJ–PGFN–PGF agreement's data clause (plan item 6) and the LGPD (art. 6º I and X, art. 37) bind their
use to the parties' own activities and ask for accountability. So every lookup here:

1. is counted against its client's bound (:class:`~gateway.throttle.ClientRateLimit`, ``GATEWAY_DIVIDA_LIMITE_POR_
   MINUTO`` per credential): beyond it :class:`~gateway.errors.TooManyRequests` ``DIVIDA-E040`` (429 with
   ``Retry-After``) before anything else is looked at;
2. names its purpose, the number of the process it serves (``finalidade``, ``DIVIDA-E007``), and the natural person
   acting (``On-Behalf-Of``, checked by the edge's :func:`~gateway.edges.oauth.require_scopes`);
3. once the partners were asked, is one audit entry — ``divida.devedores`` or ``divida.inscricao``: the organ, the
   credential, the channel, the person's CPF, the purpose, the documents (or the inscription) asked and what became
   of each partner's lookups — whether the partners answered or not. The entry is queued at the group committer
   before the answer is given (a full queue refuses the answer: ``Overloaded``, 503) and committed with the next
   group commit, just after it: DESIGN.md's rule for reads (the MNI hub's), so that the audit does not add a
   durable commit to every lookup's latency. A process killed in that instant loses the entry of an answer it
   gave; :meth:`DividaAccess.drain` waits for the entries on their way at shutdown.

Nothing of the answer (names, inscriptions, amounts) is logged or audited; the audit entry records what was asked
and which partners answered, not what they said.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.clock import Clock
from gateway.db.committer import GroupCommitter, WriteContext
from gateway.divida import domain
from gateway.divida.domain import Fonte, NenhumParceiroRespondeu, ResultadoDevedor, ResultadoInscricao
from gateway.divida.service import DividaService
from gateway.errors import NotFound, TooManyRequests
from gateway.throttle import ClientRateLimit

log = logging.getLogger("gateway.divida")
DEVEDORES, INSCRICAO = "divida.devedores", "divida.inscricao"


@dataclass(frozen=True)
class Acesso:
    """Who asks and why: the organ (id), the credential (``usuario``, the rate limit's client), the channel
    (``rest:bearer``…), the CPF of the natural person acting (``On-Behalf-Of``, 11 digits) and the purpose as sent
    (``finalidade``, checked here)."""

    organ_id: int
    usuario: str
    canal: str
    pessoa: str
    finalidade: object


class DividaAccess:
    """The bridge's use cases as callers reach them: bounded per client, bound to a purpose, audited (see the
    module docstring)."""

    def __init__(self, service: DividaService, committer: GroupCommitter, clock: Clock,
                 limit: ClientRateLimit | None = None) -> None:
        self.service = service
        self.committer = committer
        self.clock = clock
        self.limit = limit or ClientRateLimit(0, clock)
        self._pending: set[concurrent.futures.Future[None]] = set()

    async def devedores(self, acesso: Acesso, documentos: object) -> list[ResultadoDevedor]:
        """:meth:`DividaService.consultar_devedores` for *acesso*: one result per distinct document.

        Raises :class:`~gateway.errors.TooManyRequests` (``DIVIDA-E040``), :class:`~gateway.errors.ValidationFailed`
        (``DIVIDA-E007`` field ``finalidade``, ``DIVIDA-E001`` field ``documentos[i]``, ``DIVIDA-E002``),
        :class:`NenhumParceiroRespondeu` (``DIVIDA-E050``, audited) and ``Overloaded`` (``INFODIP-E092``) when the
        audit entry cannot be queued."""
        self._admit(acesso)
        finalidade = domain.finalidade(acesso.finalidade)
        docs = domain.documentos(documentos)
        try:
            results = await self.service.consultar_devedores(docs)
        except NenhumParceiroRespondeu as exc:
            await self._audit(DEVEDORES, acesso, finalidade, {"documentos": list(docs)}, exc.fontes)
            raise
        await self._audit(DEVEDORES, acesso, finalidade, {"documentos": list(docs)},
                          (f for r in results for f in r.fontes))
        return results

    async def inscricao(self, acesso: Acesso, credor: object, numero: object) -> ResultadoInscricao:
        """:meth:`DividaService.consultar_inscricao` for *acesso*.

        Raises :class:`~gateway.errors.TooManyRequests` (``DIVIDA-E040``), :class:`~gateway.errors.ValidationFailed`
        (``DIVIDA-E007``, ``E003``, ``E004``, ``E005``, ``E006``), :class:`~gateway.errors.NotFound`
        (``DIVIDA-E010``, audited), :class:`NenhumParceiroRespondeu` (``DIVIDA-E050``, audited) and
        ``Overloaded``."""
        self._admit(acesso)
        finalidade = domain.finalidade(acesso.finalidade)
        de = domain.credor(credor)
        number = domain.numero_inscricao(de, numero)
        asked = {"credor": str(de), "numeroInscricao": number}
        try:
            result = await self.service.consultar_inscricao(de, number)
        except NenhumParceiroRespondeu as exc:
            await self._audit(INSCRICAO, acesso, finalidade, asked, exc.fontes)
            raise
        except NotFound:
            await self._audit(INSCRICAO, acesso, finalidade, {**asked, "encontrada": False}, ())
            raise
        await self._audit(INSCRICAO, acesso, finalidade, asked, (result.fonte,))
        return result

    def _admit(self, acesso: Acesso) -> None:
        wait = self.limit.retry_after(acesso.usuario)
        if wait is not None:
            raise TooManyRequests("DIVIDA-E040", f"Limite de {self.limit.per_minute} consultas por minuto deste "
                                  f"cliente excedido: aguarde {wait:.0f} s.", None, retry_after=wait)

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait (at most *timeout_s*) for the audit entries queued and not yet committed (at shutdown)."""
        if self._pending:
            await asyncio.wait([asyncio.wrap_future(f) for f in list(self._pending)], timeout=timeout_s)

    async def _audit(self, event: str, acesso: Acesso, finalidade: str, asked: Mapping[str, Any],
                     fontes: Iterable[Fonte]) -> None:
        at = self.clock.now()
        detail = {"usuario": acesso.usuario, "canal": acesso.canal, "pessoa": acesso.pessoa,
                  "finalidade": finalidade, **asked, "fontes": fontes_por_credor(fontes)}

        def job(ctx: WriteContext) -> None:
            ctx.audit.append(ctx.conn, event, at, organ_id=acesso.organ_id, detail=detail)

        future = self.committer.submit(job)  # Overloaded when the writer's queue is full: nothing is answered
        self._pending.add(future)
        future.add_done_callback(self._settled)

    def _settled(self, future: concurrent.futures.Future[None]) -> None:
        self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            exc = future.exception()
            log.error("could not audit a dívida access: %s", getattr(exc, "code", type(exc).__name__))


def fontes_por_credor(fontes: Iterable[Fonte]) -> dict[str, dict[str, int]]:
    """What became of the lookups, per creditor: ``{"PGFN": {"ok": 3}, "PGF": {"ok": 2, "tempo_esgotado": 1}}``."""
    counts: dict[str, Counter[str]] = {}
    for f in fontes:
        counts.setdefault(str(f.credor), Counter())[str(f.estado)] += 1
    return {credor: dict(sorted(c.items())) for credor, c in counts.items()}
