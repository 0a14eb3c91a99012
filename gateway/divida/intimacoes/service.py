"""The intimations' use cases (issue 12, point 7): collect a court's pending avisos for a procuradoria, list them
without taking notice, and take notice (ciência) once.

- :meth:`IntimacoesService.collect` asks one court installation for a procuradoria's pending avisos through the MNI
  hub (:meth:`gateway.hub.service.Hub.call_for`: the hub's registry, credentials, client and monitor — no second
  MNI client) and stores the new ones (:func:`gateway.divida.intimacoes.store.store_new`); each new one is offered
  to :attr:`IntimacoesService.evidence_hook` (see there) and wakes the callbacks.
- :meth:`IntimacoesService.listar` reads only the gateway's store: listing never reaches the court, so it never
  takes notice (the Domicílio Judicial Eletrônico's manner, DOMAIN.md §2b).
- :meth:`IntimacoesService.ciencia` takes notice through ``consultarTeorComunicacao`` and stores the communication's
  exact bytes with the acting person (``On-Behalf-Of``) in one transaction with its audit entry. Irreversible and
  idempotent: once stored, every later call answers the stored content without calling the court (also two calls at
  once in one process: a lock per intimation). When the court call fails nothing is recorded: ``INTIM-E020`` (502:
  the court answered an error, nothing readable, or no answer in time — it may have registered the opening; asking
  again returns the content) or ``INTIM-E021`` (503: the court could not be reached).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.engine import Engine, Row

from gateway.auth import Caller
from gateway.clock import Clock
from gateway.db.committer import GroupCommitter
from gateway.db.tables import organs
from gateway.divida.intimacoes import contract, domain, store
from gateway.divida.intimacoes.domain import Evidencia, Filtro
from gateway.errors import GatewayError, NotFound, PartnerError, PartnerRefused, PartnerUnreachable
from gateway.hub.service import Hub
from gateway.organs import OrganType

log = logging.getLogger("gateway.intimacoes")
AVISOS, TEOR = "consultarAvisosPendentes", "consultarTeorComunicacao"
#: MNI-E… codes of the hub meaning "the tribunal could not be reached" (nothing was sent)
_UNREACHABLE = {"MNI-E041"}


@dataclass(frozen=True)
class Pagina:
    """A page of the listing and the cursor of the next one (None: the last page)."""

    itens: list[contract.Intimacao]
    proximo: str | None


class IntimacoesService:
    """See the module docstring."""

    def __init__(self, hub: Hub, committer: GroupCommitter, reader: Engine, clock: Clock, tz: ZoneInfo,
                 timeout_s: float = 30.0) -> None:
        self.hub = hub
        self.committer = committer
        self.reader = reader
        self.clock = clock
        self.tz = tz
        self.timeout_s = timeout_s
        #: HOOK for issue 12 point 4 (h12a): called with the :class:`~gateway.divida.intimacoes.domain.Evidencia` of
        #: every newly stored intimation (process number, class, parties' documents, value) after it is durable —
        #: the lead wires the filings' ``resolve_from_evidence(...)`` here in ``gateway/bootstrap.py``. A failure
        #: is logged and never loses the intimation.
        self.evidence_hook: Callable[[Evidencia], Awaitable[None]] | None = None
        #: called after new intimations are stored (bootstrap adds the callbacks' wake-up)
        self.listeners: list[Callable[[], None]] = []
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self._organs: dict[str, int] = {}

    # -- who --------------------------------------------------------------------------------------------------------

    def organ_caller(self, organ_code: str) -> Caller:
        """The hub client *organ_code* as the gateway acts for it (collecting its avisos). Errors: NotFound
        ``INTIM-E011`` when no such organ is registered."""
        organ_id = self._organs.get(organ_code)
        if organ_id is None:
            with self.reader.connect() as conn:
                organ_id = conn.execute(select(organs.c.id).where(organs.c.code == organ_code)).scalar_one_or_none()
            if organ_id is None:
                raise NotFound("INTIM-E011", f"Órgão {organ_code} não cadastrado.")
            self._organs[organ_code] = organ_id
        return Caller("gateway:intimacoes", organ_id, organ_code, OrganType.MNI_CLIENTE, frozenset())

    def today(self) -> date:
        """Today's civil date in the courts' time zone."""
        return self.clock.now().astimezone(self.tz).date()

    # -- collecting -------------------------------------------------------------------------------------------------

    async def collect(self, organ_code: str, jtr: str, instance: str) -> list[store.Nova]:
        """Ask installation ``jtr/instance`` for *organ_code*'s pending avisos and store the new ones; returns them.

        Bounded by ``timeout_s``. Errors: the hub's (``MNI-E040`` not allowed, ``MNI-E023`` no credential,
        ``MNI-E041``/``E042``/``E047`` the court failed), :class:`~gateway.errors.PartnerRefused` ``INTIM-E022``
        when the court answered ``sucesso=false``, and storage errors. Nothing is stored on failure."""
        caller = await anyio.to_thread.run_sync(self.organ_caller, organ_code)
        parsed = await asyncio.wait_for(
            self.hub.call_for(caller, jtr, instance, AVISOS, "", timeout_s=self.timeout_s), self.timeout_s + 1)
        if parsed.sucesso is False:  # eproc omits sucesso on avisos: absent counts as an answer
            raise PartnerRefused(f"{jtr}/{instance}: {parsed.mensagem or 'sucesso=false'}", retryable=True,
                                 partner=f"{jtr}/{instance}", code="INTIM-E022")
        avisos = contract.read_avisos(parsed.body)
        tz = self.tz
        new = await self.committer.run(store.store_new(
            caller.organ_id, jtr, instance, avisos, self.clock.now(),
            lambda sent: domain.tacit_notice_date(sent, tz)))
        if new:
            for listener in self.listeners:
                listener()
            await self._offer_evidence(organ_code, jtr, new)
        return new

    async def _offer_evidence(self, organ_code: str, jtr: str, new: list[store.Nova]) -> None:
        hook = self.evidence_hook
        if hook is None:
            return
        for n in new:
            a = n.aviso
            try:
                await hook(Evidencia(organ_code, jtr, a.numero_processo, a.classe, a.partes, a.valor_causa, n.id))
            except Exception:  # the intimation is stored; a failing resolution must not undo nor stop collecting
                log.exception("evidence hook failed for intimation %s", n.id)

    # -- listing ----------------------------------------------------------------------------------------------------

    async def listar(self, caller: Caller, f: Filtro) -> Pagina:
        """The caller's intimations matching *f*, by arrival, without taking notice (no court is called)."""
        today = self.today()
        rows = await anyio.to_thread.run_sync(store.listing, self.reader, caller.organ_id, f, today)
        more = len(rows) > f.limite
        rows = rows[:f.limite]
        return Pagina([self.view(r, today) for r in rows],
                      domain.encode_cursor(rows[-1].seq) if more and rows else None)

    def view(self, r: Row[Any], today: date | None = None) -> contract.Intimacao:
        """The REST shape of stored row *r* on *today* (civil date; default: now)."""
        today = today or self.today()
        opened = store.when(r.ciencia_at)
        efetiva = domain.ciencia_efetiva(r.prazo_tacito, r.ciencia_tipo,
                                         opened.astimezone(self.tz).date() if opened else None, today)
        sent = store.when(r.disponibilizada_em)
        collected = store.when(r.collected_at)
        assert sent is not None and collected is not None
        return contract.Intimacao(
            id=r.id, numeroProcesso=r.process_number, tribunal=r.jtr, instancia=r.instance, idAviso=r.aviso_id,
            tipoComunicacao=r.tipo, classeProcessual=r.classe, valorCausa=r.valor_causa,
            partes=[contract.ParteJson(polo=p.polo, nome=p.nome, documento=p.documento)
                    for p in contract.partes_of(r.partes)],
            disponibilizadaEm=sent.astimezone(self.tz).isoformat(),
            situacao=domain.situacao(r.prazo_tacito, r.ciencia_tipo, today).value,
            cienciaPresumidaEm=r.prazo_tacito.isoformat(),
            cienciaEm=opened.astimezone(self.tz).isoformat() if opened else None,
            cienciaEfetivaEm=efetiva.isoformat() if efetiva else None,
            coletadaEm=collected.astimezone(self.tz).isoformat())

    # -- ciência ----------------------------------------------------------------------------------------------------

    async def ciencia(self, caller: Caller, ident: str, pessoa: str, canal: str) -> contract.Ciencia:
        """Take notice of intimation *ident* of *caller*'s organ for the natural person *pessoa* (CPF) and return its
        content (module docstring). Errors: ``INTIM-E010`` (404: not the caller's, or none), ``INTIM-E020`` (502),
        ``INTIM-E021`` (503), ``INTIM-E022`` (502: the court refused, ``sucesso=false``), storage errors."""
        lock = self._locks.setdefault(ident, asyncio.Lock())
        self._users[ident] = self._users.get(ident, 0) + 1
        try:
            async with lock:
                return await self._ciencia(caller, ident, pessoa, canal)
        finally:
            self._users[ident] -= 1
            if not self._users[ident]:  # nobody else waits: forget the lock
                del self._users[ident], self._locks[ident]

    async def _ciencia(self, caller: Caller, ident: str, pessoa: str, canal: str) -> contract.Ciencia:
        row = await anyio.to_thread.run_sync(store.get, self.reader, caller.organ_id, ident)
        if row is None:
            raise NotFound("INTIM-E010", field="id")
        detail = {"intimacao": ident, "aviso": row.aviso_id, "instalacao": f"{row.jtr}/{row.instance}",
                  "processo": row.process_number, "usuario": caller.username, "canal": canal}
        if row.teor_xml is not None:
            await self.committer.run(store.audit_repeat(caller.organ_id, pessoa, self.clock.now(), detail))
            return self._answer(row, repeated=True)
        teor = await self._teor(caller, row)
        now = self.clock.now()
        tipo = domain.ciencia_tipo(row.prazo_tacito, now.astimezone(self.tz).date())
        taken = await self.committer.run(store.record_ciencia(ident, caller.organ_id, pessoa, teor, tipo, now,
                                                              detail))
        stored = await anyio.to_thread.run_sync(store.get, self.reader, caller.organ_id, ident)
        assert stored is not None
        return self._answer(stored, repeated=not taken)

    async def _teor(self, caller: Caller, row: Row[Any]) -> bytes:
        """The ``comunicacao`` bytes of *row*'s aviso, asked of its court as the organ (the court registers the
        opening). Errors: INTIM-E020/E021/E022 (module docstring)."""
        organ = Caller(caller.username, caller.organ_id, caller.organ_code, OrganType.MNI_CLIENTE, frozenset())
        where = f"{row.jtr}/{row.instance}"
        inner = f"<tip:identificadorAviso>{escape(row.aviso_id)}</tip:identificadorAviso>"
        try:
            parsed = await asyncio.wait_for(
                self.hub.call_for(organ, row.jtr, row.instance, TEOR, inner, timeout_s=self.timeout_s),
                self.timeout_s + 1)
        except TimeoutError:
            raise PartnerError(f"{where}: tempo esgotado", retryable=True, partner=where, code="INTIM-E020") from None
        except GatewayError as exc:
            if exc.code in _UNREACHABLE or isinstance(exc, PartnerUnreachable):
                raise PartnerUnreachable(f"{where}: {exc.message}", retryable=True, partner=where,
                                         code="INTIM-E021") from exc
            raise PartnerError(f"{where}: {exc.message}", retryable=True, partner=where, code="INTIM-E020") from exc
        if parsed.sucesso is False:
            raise PartnerRefused(f"{where}: {parsed.mensagem or 'sucesso=false'}", retryable=True, partner=where,
                                 code="INTIM-E022")
        teor = contract.comunicacao_of(parsed.body, row.aviso_id)
        if teor is None:
            raise PartnerError(f"{where}: resposta sem comunicacao para o aviso {row.aviso_id}", retryable=True,
                               partner=where, code="INTIM-E020")
        return teor

    def _answer(self, row: Row[Any], *, repeated: bool) -> contract.Ciencia:
        content = contract.teor_json(row.teor_xml)
        return contract.Ciencia(
            intimacao=self.view(row), teor=content["teor"], prazo=content["prazo"], tipoPrazo=content["tipoPrazo"],
            dataReferencia=content["dataReferencia"],
            documentos=[contract.Documento(**d) for d in content["documentos"]],
            comunicacaoXml=content["comunicacaoXml"], repetida=repeated)
