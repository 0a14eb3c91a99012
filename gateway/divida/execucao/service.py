"""The execuções fiscais' use cases (issue 12, points 1–6).

- :meth:`ExecucaoService.ajuizar` runs every check before answering (the request read field by field, LEF art. 2º
  §5º, Res. CNJ 547/2024 per creditor, the CDAs' signatures, the destination court), renders the petition PDF,
  signs it with the procuradoria's key, builds the MNI request, validates it against the official schema, and stores
  it — with its CDAs, its audit entry and its status event — in one transaction (the group committer). Refused: a 422
  problem listing every failure, nothing stored. Accepted: 202 with the id; the same reference with the same content
  answers the same id.
- :class:`Sender` delivers the stored bytes through the hub (:meth:`gateway.hub.service.Hub.file_own`): leased
  ``enviada`` before the court is called; ``protocolada`` or ``recusada`` by the court's answer; back to ``recebida``
  with a backoff when nothing was sent (the court unreachable, a 503); **``indeterminada``** when the answer was lost
  (no answer in time, an unreadable one, or the gateway stopped mid-call). MNI 2.2.2 offers no way to ask whether an
  initial petition was received, so an indeterminada filing is never resent automatically (point 4).
- An indeterminada filing is resolved by an authorised person (:meth:`ExecucaoService.resolver`: the process number
  found, or an explicit, audited decision to resend) or by the gateway when it can prove the outcome
  (:meth:`ExecucaoService.resolve_from_evidence`: an intimation of the same procuradoria in the same court on a
  class-1116 process whose polo passivo holds the debtor and every co-responsible party, with the same value of the
  claim, not yet any filing's process — only when exactly one indeterminada filing matches).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.engine import Engine, Row

from gateway.auth import Caller
from gateway.clock import Clock
from gateway.db.committer import GroupCommitter
from gateway.db.tables import organs
from gateway.divida.execucao import contract, documents, domain, store
from gateway.divida.execucao.documents import Anexo, Assinatura, Signatario, Verificador
from gateway.divida.execucao.domain import Erro, Estado, Localidade, Regras
from gateway.divida.intimacoes.domain import Evidencia, decode_cursor, encode_cursor
from gateway.errors import (
    ClientError,
    GatewayError,
    ManyRefusals,
    NotFound,
    ServerError,
    ValidationFailed,
)
from gateway.hub.contract import new_process_number, protocol_of
from gateway.hub.service import Hub
from gateway.identifiers import is_valid_processo_cnj
from gateway.organs import OrganType

log = logging.getLogger("gateway.execucao")
#: hub codes meaning the filing's outcome is unknown (the court may hold it)
UNKNOWN_OUTCOME = {"MNI-E043", "MNI-E047", "MNI-E042"}
#: eproc's answer to an identical resend within 600 s: no protocol, nothing new filed — the first one's fate unknown
DUPLICATE_HINT = "Manifestaçao idêntica"
MAX_PAGE = 100
FOLLOW_UPS = ("suspensao_parcelamento", "extincao_pagamento", "substituicao_cda")


@dataclass(frozen=True)
class Pagina:
    """A page of filings and the next page's cursor."""

    itens: list[contract.Execucao]
    proximo: str | None


class ExecucaoService:
    """See the module docstring."""

    def __init__(self, hub: Hub, committer: GroupCommitter, reader: Engine, clock: Clock, verificador: Verificador,
                 signatario: Signatario | None, localidades: dict[str, Localidade], regras: dict[str, Regras],
                 timeout_s: float = 60.0) -> None:
        self.hub = hub
        self.committer = committer
        self.reader = reader
        self.clock = clock
        self.verificador = verificador
        self.signatario = signatario
        self.localidades = localidades
        self.regras = regras
        self.timeout_s = timeout_s
        self._organs: dict[str, int] = {}
        self._codes: dict[int, str] = {}
        #: called after a filing is stored or resolved to be sent (the sender's wake-up)
        self.listeners: list[Any] = []

    # -- who ----------------------------------------------------------------------------------------------------

    def organ_code(self, organ_id: int) -> str:
        """The code of organ *organ_id* (cached)."""
        code = self._codes.get(organ_id)
        if code is None:
            with self.reader.connect() as conn:
                code = str(conn.execute(select(organs.c.code).where(organs.c.id == organ_id)).scalar_one())
            self._codes[organ_id] = code
        return code

    def organ_id(self, code: str) -> int | None:
        """The id of organ *code*, or None."""
        ident = self._organs.get(code)
        if ident is None:
            with self.reader.connect() as conn:
                ident = conn.execute(select(organs.c.id).where(organs.c.code == code)).scalar_one_or_none()
            if ident is not None:
                self._organs[code] = ident
        return ident

    def _wake(self) -> None:
        for listener in self.listeners:
            listener()

    # -- filing -------------------------------------------------------------------------------------------------

    async def ajuizar(self, caller: Caller, data: object, actor: str) -> tuple[contract.Execucao, bool]:
        """Check and store one execução fiscal for *caller*'s procuradoria from request *data* (the JSON's dict or
        the ListaCDA's); returns its view and whether it was created now. Errors: :class:`ManyRefusals` (422: every
        ``EXEC-E0xx`` failure with its field), Conflict ``EXEC-E007`` (reference reused) / ``EXEC-E020`` (a CDA
        already filed, with its process), ServerError ``EXEC-E090``/``E091``, storage errors. Nothing is stored
        when it fails."""
        pedido, erros = contract.pedido_of(data, caller.organ_code)
        if pedido is None:
            raise ManyRefusals([(e.codigo, e.campo, e.mensagem) for e in erros])
        regras = self.regras.get(caller.organ_code, Regras())
        v = domain.verificar(pedido, regras, self.localidades)
        signatures = await documents.verify_all(self.verificador, pedido.cdas)
        v.erros.extend(s for s in signatures if isinstance(s, Erro))
        if v.erros:
            raise ManyRefusals([(e.codigo, e.campo, e.mensagem) for e in v.erros])
        assert v.destino is not None
        if self.signatario is None:
            raise ServerError("EXEC-E091")
        now = self.clock.now()
        signed = [s for s in signatures if isinstance(s, Assinatura)]
        inner = await anyio.to_thread.run_sync(self._render, pedido, v.destino, signed, now)
        partes = [pedido.devedor.documento or ""] + [co.documento or "" for c in pedido.cdas
                                                     for co in c.corresponsaveis]
        nova = store.Nova(
            pedido.referencia, domain.pedido_digest(pedido), "inicial", None, v.destino.jtr,
            v.destino.codigo_localidade, pedido.devedor.documento, f"{pedido.valor:.2f}",
            tuple(c.numero_inscricao for c in pedido.cdas), tuple(dict.fromkeys(p for p in partes if p)), inner,
            [{"codigo": e.codigo, "campo": e.campo, "mensagem": e.mensagem} for e in v.sinalizacoes],
            pedido.callback_url,
            {"usuario": actor, "assinaturas": [s.signatario for s in signed], "bytes": len(inner)},
            secrets.token_urlsafe(32) if pedido.callback_url else None)
        aceite = await self.committer.run(store.accept(caller.organ_id, nova, now))
        view = await self.ver(caller, aceite.id)
        if aceite.created:
            self._wake()
            view.segredoCallback = nova.callback_secret  # answered once, when the filing is created
        return view, aceite.created

    def _render(self, p: domain.Pedido, destino: domain.Destino, signed: list[Assinatura], now: Any) -> bytes:
        assert self.signatario is not None
        tribunal = f"TRF{int(destino.jtr.split('.')[1])}"
        pdf = documents.render_petition(p, destino, tribunal, now)
        cert = self.signatario.cert.public_bytes(documents.serialization.Encoding.DER)
        anexos = [Anexo(documents.TIPO_PETICAO_INICIAL, "Petição inicial - execução fiscal", pdf,
                        self.signatario.sign(pdf), cert, p.cdas)]
        for c, s in zip(p.cdas, signed, strict=True):
            anexos.append(Anexo(documents.TIPO_CDA, f"Certidão de Dívida Ativa {c.numero_inscricao}",
                                c.documento.pdf, s.p7s, s.certificado, (c,)))
        inner = documents.build_initial(p, destino, anexos, now)
        problems = documents.validate(inner)
        if problems:
            log.error("petição inválida no esquema MNI: %s", problems[:5])
            raise ServerError("EXEC-E090", f"{CATALOGUE_090}: {problems[0]}")
        return inner

    async def peticionar(self, caller: Caller, parent_id: str, body: contract.Peticao, actor: str
                         ) -> tuple[contract.Execucao, bool]:
        """File follow-up petition *body* on protocolada execução *parent_id* (issue 12 point 6): suspension for a
        parcelamento, extinction on payment, or the substitution of a CDA (LEF art. 2º §8º, the new CDA checked
        as at filing). Errors: NotFound ``EXEC-E030``; Conflict ``EXEC-E031`` (not protocolada); ValidationFailed
        ``EXEC-E033``; :class:`ManyRefusals` for the new CDA; as :meth:`ajuizar`."""
        parent = await anyio.to_thread.run_sync(store.get, self.reader, caller.organ_id, parent_id)
        if parent is None:
            raise NotFound("EXEC-E030", field="id")
        if parent.state != Estado.PROTOCOLADA.value or parent.tipo != "inicial" or not parent.numero_processo:
            from gateway.errors import Conflict
            raise Conflict("EXEC-E031", f"A execução está {parent.state}: petições só numa execução protocolada.",
                           "id")
        if body.tipo not in FOLLOW_UPS:
            raise ValidationFailed("EXEC-E033", f"tipo deve ser um de {', '.join(FOLLOW_UPS)}.", "tipo")
        if self.signatario is None:
            raise ServerError("EXEC-E091")
        cdas = json.loads(parent.cdas)
        now = self.clock.now()
        new_cda: domain.Cda | None = None
        signed: Assinatura | None = None
        if body.tipo == "substituicao_cda":
            if body.numeroInscricao not in cdas or body.cda is None:
                raise ValidationFailed("EXEC-E033", "Informe numeroInscricao (uma CDA desta execução) e a nova cda.",
                                       "numeroInscricao")
            pedido, erros = contract.pedido_of({"referencia": body.referencia, "cdas": [body.cda],
                                                "credor": {"nome": "x", "cnpj": domain.UNIAO[1]}}, caller.organ_code)
            if pedido is None:
                raise ManyRefusals([(e.codigo, e.campo, e.mensagem) for e in erros])
            v = domain.verificar(pedido, self.regras.get(caller.organ_code, Regras()), self.localidades)
            got = await self.verificador.verificar(pedido.cdas[0], "cda")
            errs = [e for e in v.erros if e.codigo != "EXEC-E016"] + ([got] if isinstance(got, Erro) else [])
            if pedido.devedor.documento != parent.devedor:
                errs.append(Erro("EXEC-E005", "cda.devedor", "A nova CDA deve ser do mesmo devedor."))
            if errs:
                raise ManyRefusals([(e.codigo, e.campo, e.mensagem) for e in errs])
            assert isinstance(got, Assinatura)
            new_cda, signed = pedido.cdas[0], got
            cdas = [c for c in cdas if c != body.numeroInscricao] + [new_cda.numero_inscricao]
        texto = body.texto or {
            "suspensao_parcelamento": "Requer a suspensão da execução em razão de parcelamento do débito "
                                      "(CTN art. 151 VI).",
            "extincao_pagamento": "Requer a extinção da execução em razão do pagamento do débito (CPC art. 924 II).",
            "substituicao_cda": f"Requer a substituição da CDA {body.numeroInscricao} pela CDA anexa "
                                "(Lei 6.830/1980 art. 2º §8º)."}[body.tipo]
        resumo = (parent.devedor or "", parent.valor or "0.00", now.date().isoformat())
        inner = await anyio.to_thread.run_sync(self._render_follow_up, parent.numero_processo, body.tipo, texto,
                                               new_cda, signed, now, resumo)
        digest = documents.hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        nova = store.Nova(body.referencia, digest, body.tipo, parent_id, parent.jtr, parent.codigo_localidade,
                          parent.devedor, parent.valor, tuple(cdas), tuple(json.loads(parent.partes)), inner, [],
                          parent.callback_url, {"usuario": actor, "processo": parent.numero_processo})
        aceite = await self.committer.run(store.accept(caller.organ_id, nova, now))
        if aceite.created:
            self._wake()
        return await self.ver(caller, aceite.id), aceite.created

    def _render_follow_up(self, numero: str, tipo: str, texto: str, cda: domain.Cda | None,
                          signed: Assinatura | None, now: Any, resumo: tuple[str, str, str]) -> bytes:
        assert self.signatario is not None
        from fpdf import FPDF

        pdf = FPDF()
        pdf.add_page()
        pdf.set_font("helvetica", size=11)
        pdf.multi_cell(pdf.epw, 6, documents._latin1(f"Processo {numero}\n\n{texto}\n\nDocumento gerado pelo gateway "
                                                     f"em {now:%d/%m/%Y %H:%M} (UTC)."))
        data = bytes(pdf.output())
        cert = self.signatario.cert.public_bytes(documents.serialization.Encoding.DER)
        anexos = [Anexo(documents.TIPO_PETICAO, texto[:120], data, self.signatario.sign(data), cert,
                        (cda,) if cda else (), resumo)]
        if cda is not None and signed is not None:
            anexos.append(Anexo(documents.TIPO_CDA, f"Certidão de Dívida Ativa {cda.numero_inscricao}",
                                cda.documento.pdf, signed.p7s, signed.certificado, (cda,)))
        inner = documents.build_incidental(numero, anexos, now, tipo)
        problems = documents.validate(inner)
        if problems:
            raise ServerError("EXEC-E090", problems[0])
        return inner

    # -- reading ------------------------------------------------------------------------------------------------

    async def ver(self, caller: Caller, ident: str) -> contract.Execucao:
        """Filing *ident* of *caller*'s organ. Errors: NotFound ``EXEC-E030``."""
        row = await anyio.to_thread.run_sync(store.get, self.reader, caller.organ_id, ident)
        if row is None:
            raise NotFound("EXEC-E030", field="id")
        return self.view(row, caller.organ_code)

    def view(self, r: Row[Any], organ_code: str) -> contract.Execucao:
        """The REST shape of stored row *r*."""
        created, updated = store.when(r.created_at), store.when(r.updated_at)
        assert created is not None and updated is not None
        return contract.Execucao(
            id=r.id, referencia=r.referencia, tipo=r.tipo, situacao=r.state, procuradoria=organ_code, tribunal=r.jtr,
            codigoLocalidade=r.codigo_localidade, valorCausa=r.valor, cdas=json.loads(r.cdas),
            numeroProcesso=r.numero_processo, protocolo=r.protocolo, dataProtocolo=r.data_protocolo,
            motivo=r.motivo, resolucao=json.loads(r.resolucao) if r.resolucao else None,
            sinalizacoes=[contract.Sinalizacao(**s) for s in json.loads(r.sinalizacoes)], tentativas=r.attempts,
            recebidaEm=created.isoformat(), atualizadaEm=updated.isoformat(), execucaoOriginal=r.parent_id)

    async def listar(self, caller: Caller, situacao: str | None, numero_processo: str | None,
                     referencia: str | None, cursor: str | None, limite: int) -> Pagina:
        """The caller's filings by arrival, filtered. Errors: ValidationFailed ``EXEC-E040``."""
        if situacao is not None and situacao not in {e.value for e in Estado}:
            raise ValidationFailed("EXEC-E040", f"situacao deve ser uma de {', '.join(e.value for e in Estado)}.",
                                   "situacao")
        if not 1 <= limite <= MAX_PAGE:
            raise ValidationFailed("EXEC-E040", f"limite deve estar entre 1 e {MAX_PAGE}.", "limite")
        after = _decode_cursor(cursor)
        rows = await anyio.to_thread.run_sync(store.listing, self.reader, caller.organ_id, after, limite, situacao,
                                              numero_processo, referencia)
        more = len(rows) > limite
        rows = rows[:limite]
        return Pagina([self.view(r, caller.organ_code) for r in rows],
                      encode_cursor(rows[-1].seq) if more and rows else None)

    # -- unknown outcomes (point 4) ---------------------------------------------------------------------------------

    async def resolver(self, caller: Caller, ident: str, body: contract.Resolucao, pessoa: str,
                       actor: str) -> contract.Execucao:
        """Resolve indeterminada filing *ident* by the decision of natural person *pessoa* (CPF, On-Behalf-Of):
        the process number found at the court (→ protocolada) or ``decisao: "reenviar"`` (→ recebida, sent again).
        Errors: ValidationFailed ``EXEC-E032``, NotFound ``EXEC-E030``, Conflict ``EXEC-E031``."""
        numero = "".join(ch for ch in (body.numeroProcesso or "") if ch.isdigit()) or None
        resend = body.decisao == "reenviar"
        if resend == (numero is not None) or (numero is not None and not is_valid_processo_cnj(numero)) or (
                body.decisao not in (None, "reenviar")):
            raise ValidationFailed("EXEC-E032", field="numeroProcesso" if numero else "decisao")
        resolucao = {"por": pessoa, "usuario": actor, "como": "reenvio decidido" if resend else "processo informado",
                     "numeroProcesso": numero, "justificativa": body.justificativa,
                     "em": self.clock.now().isoformat()}
        await self.committer.run(store.resolve(caller.organ_id, ident, self.clock.now(), resolucao,
                                               numero_processo=numero, resend=resend))
        if resend:
            self._wake()
        return await self.ver(caller, ident)

    async def resolve_from_evidence(self, ev: Evidencia) -> None:
        """The intimations' evidence hook (``IntimacoesService.evidence_hook``): settle the one indeterminada
        initial petition this intimation proves protocolled (module docstring); nothing when none or several
        match."""
        if ev.classe != domain.CLASSE_EXECUCAO_FISCAL or not ev.numero_processo:
            return
        organ_id = await anyio.to_thread.run_sync(self.organ_id, ev.organ_code)
        if organ_id is None:
            return
        candidates = await anyio.to_thread.run_sync(store.indeterminate_candidates, self.reader, organ_id, ev.jtr)
        if not candidates:
            return
        passivo = {p.documento for p in ev.partes if p.documento and (p.polo or "PA") == "PA"}
        value = _decimal(ev.valor_causa)
        matches = [c for c in candidates
                   if set(json.loads(c.partes)) <= passivo and c.devedor in passivo
                   and (value is None or _decimal(c.valor) == value)]
        if len(matches) != 1 or value is None:
            return
        taken = await anyio.to_thread.run_sync(store.taken_processes, self.reader, [ev.numero_processo])
        if taken:
            return
        resolucao = {"por": "gateway", "como": "evidência: intimação do tribunal", "intimacao": ev.intimacao_id,
                     "numeroProcesso": ev.numero_processo, "justificativa":
                     "Processo da classe 1116 no mesmo tribunal, com o devedor e os corresponsáveis no polo passivo "
                     "e o mesmo valor da causa.", "em": self.clock.now().isoformat()}
        try:
            await self.committer.run(store.resolve(organ_id, matches[0].id, self.clock.now(), resolucao,
                                                   numero_processo=ev.numero_processo, resend=False))
        except ClientError:  # resolved meanwhile by a person
            return


CATALOGUE_090 = "Petição inválida no esquema MNI 2.2.2"


def _decimal(value: str | None) -> Decimal | None:
    try:
        return Decimal(value).quantize(Decimal("0.01")) if value else None
    except InvalidOperation:
        return None


def _decode_cursor(cursor: str | None) -> int:
    """The listing's cursor: the intimations' sequence cursor, refused with this listing's own code."""
    return decode_cursor(cursor, "EXEC-E040", "Cursor de paginação inválido.")


# -- the sender ------------------------------------------------------------------------------------------------------


class Sender:
    """Delivers the stored filings through the hub (module docstring): each round leases the due ones, sends them
    concurrently (at most *concurrency* at once, each bounded by *timeout_s*), records each outcome. A failure to
    record leaves the row ``enviada`` until its lease expires: then ``indeterminada`` — never a second send."""

    def __init__(self, service: ExecucaoService, *, batch: int = 50, concurrency: int = 20, timeout_s: float = 60.0,
                 poll_s: float = 1.0, backoff_s: float = 5.0, backoff_max_s: float = 300.0) -> None:
        self.service = service
        self.batch = batch
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(32):08x}"
        self._wake = asyncio.Event()
        service.listeners.append(self.wake)

    def wake(self) -> None:
        """Start a round now (a new filing, a decision to resend)."""
        self._wake.set()

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Rounds until *stop* is set."""
        while not stop.is_set():
            try:
                busy = await self.round()
            except GatewayError:
                log.exception("execuções: rodada do envio falhou")
                busy = 0
            if busy:
                continue
            self._wake.clear()
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=self.poll_s, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()

    async def round(self) -> int:
        """One round; returns how many filings were sent."""
        s = self.service
        lease_s = self.timeout_s * 2 + 5  # past it, a filing still enviada was lost mid-call: indeterminada
        leased, _lost = await s.committer.run(store.lease(self.owner, s.clock.now(), self.batch, lease_s))
        if not leased:
            return 0
        gate = asyncio.Semaphore(self.concurrency)

        async def one(e: store.Envio) -> None:
            async with gate:
                await self._send(e)

        await asyncio.gather(*(one(e) for e in leased))
        return len(leased)

    async def _send(self, e: store.Envio) -> None:
        s = self.service
        code = await anyio.to_thread.run_sync(s.organ_code, e.organ_id)
        caller = Caller("gateway:execucoes", e.organ_id, code, OrganType.MNI_CLIENTE, frozenset())
        try:
            _where, parsed = await asyncio.wait_for(
                s.hub.file_own(caller, e.jtr, e.request_xml, numero_processo=e.numero_processo,
                               timeout_s=self.timeout_s), self.timeout_s + 5)
        except TimeoutError:
            await self._record(e, Estado.INDETERMINADA, motivo="Sem resposta do tribunal no prazo: a petição pode ter "
                                                               "sido recebida.")
            return
        except GatewayError as exc:
            if exc.code in UNKNOWN_OUTCOME:
                await self._record(e, Estado.INDETERMINADA, motivo=f"{exc.code}: {exc.message}")
            else:  # nothing was sent (unreachable, 503, no credential, not in the registry): try again later
                row = await anyio.to_thread.run_sync(store.get, s.reader, e.organ_id, e.id)
                attempts = row.attempts if row is not None else 1
                delay = min(self.backoff_max_s, self.backoff_s * 2 ** min(attempts - 1, 10))
                delay *= 0.5 + random.random() / 2
                await self._record(e, Estado.RECEBIDA, motivo=f"{exc.code}: {exc.message}",
                                   retry_at=s.clock.now() + timedelta(seconds=delay))
            return
        if parsed.sucesso:
            number = new_process_number(parsed) if e.numero_processo is None else e.numero_processo
            stamp = next((el.text for el in parsed.body.iter() if isinstance(el.tag, str)
                          and el.tag.endswith("}dataOperacao")), None)
            await self._record(e, Estado.PROTOCOLADA, numero_processo=number, protocolo=protocol_of(parsed),
                               data_protocolo=stamp, motivo=parsed.mensagem)
        elif DUPLICATE_HINT.lower() in (parsed.mensagem or "").lower():
            await self._record(e, Estado.INDETERMINADA, motivo=f"O tribunal acusou petição idêntica em andamento "
                                                               f"({parsed.mensagem}).")
        else:
            await self._record(e, Estado.RECUSADA, motivo=parsed.mensagem or "sucesso=false sem mensagem")

    async def _record(self, e: store.Envio, state: Estado, **kw: Any) -> None:
        s = self.service
        try:
            await s.committer.run(store.record(e.id, self.owner, state, s.clock.now(), **kw))
        except GatewayError:  # stays enviada; the lease's expiry makes it indeterminada (never resent)
            log.exception("execuções: não foi possível registrar o resultado de %s", e.id)
