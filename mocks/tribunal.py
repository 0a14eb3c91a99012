"""Simulator of a tribunal's MNI 2.2.2 server (PJe or eproc), the partner of the gateway's MNI hub.

Run alone: ``python -m mocks.tribunal --port 8083 --profile pje-tjrj|eproc-trf4``. It prints ``{"url": …}``.

- ``pje-tjrj`` (J.TR 8.19, PJe-like): installations ``1`` at ``/pje1grau/intercomunicacao`` and ``2`` at
  ``/pje2grau/intercomunicacao``; plain passwords; an identical manifestação is accepted again.
- ``eproc-trf4`` (J.TR 4.04, eproc-like): installation ``1`` at ``/eproc/intercomunicacao``; the password travels
  as ``sha256_hex("DD-MM-AAAA" + senha)`` of today in America/Sao_Paulo; an identical manifestação within 600 s is
  refused with ``sucesso=false`` and an empty protocol; avisos answers omit ``sucesso``/``mensagem`` (switchable).

``GET {installation}?wsdl`` serves the official WSDL with ``soap:address`` pointing at that installation; the XSDs
are at ``/xsd/NAME``. Besides the ``/_mock`` endpoints of :mod:`mocks.common`: ``GET /_mock/demo`` (credentials,
processes, avisos, the 50 MB document), ``GET|POST /_mock/config`` (``mtom``, ``omit_avisos_status``,
``reject_duplicates``, ``duplicate_window_s``), ``POST /_mock/canned`` (answer the next calls of an operation with
exact bytes, until reset) and ``DELETE /_mock/canned``; ``/_mock/intimacoes`` issues intimations to the procuradorias
(:mod:`mocks.tribunal_intimacoes`). The header ``X-Mock-Mtom: true`` asks for MTOM on one call.

Decisions (where the contract and real servers disagree, or the contract is silent):

- ``tipoDocumento`` and ``tipoComunicacaoProcessual`` require a strict ``##other`` element; no real server sends it
  and nothing could satisfy it, so it is omitted (the only XSD deviation of what the simulator builds).
- ``incluirCabecalho=false`` yields an empty ``<dadosBasicos/>`` as eproc does (the XSD requires the element).
- The new process number of an initial petition travels as ``<parametro nome="numeroProcesso" valor="…"/>``
  (eproc's manual shows it as element text, which the XSD's empty ``tipoParametro`` does not allow); the process is
  created in the installation that received the petition, the órgão julgador chosen by "distribution".
- ``protocoloRecebimento`` = ``dataOperacao`` (14) + a 16-digit counter; refusals carry an empty protocol.
- Received documents above 1 MB keep only size and sha256; asking for their content returns the metadata with
  ``outroParametro nome="conteudoIndisponivel"``. Content that is not base64 (the manuals' placeholders) is refused
  with ``sucesso=false``.
- Only successful filings start the 600 s duplicate window; identity = installation, manifestante, process number
  (or the canonical dadosBasicos) and each document's type and sha256 (``dataEnvio`` is ignored).
- eproc passwords: the date of "now" in America/Sao_Paulo, also ±5 minutes (a client clock across midnight).
- PJe serialises with the tipos namespace as default (``ns2``/``ns4``), eproc with ``ns1``/``ns2``/``ns3`` and a
  ``SOAP-ENV`` envelope, so a hub sees both styles.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from lxml import etree

from mocks import tribunal_intimacoes
from mocks import tribunal_render as render
from mocks.common import MockState, mock_app, serve
from mocks.tribunal_data import (
    FEDERAL_PROFILES,
    PROFILES,
    SMALL_DOCUMENT_LIMIT,
    Document,
    Movement,
    Person,
    Polo,
    Process,
    Profile,
    cnj_number,
    demo_data,
    tiny_pdf,
)
from mocks.tribunal_xml import (
    Malformed,
    Outgoing,
    Request,
    Style,
    fault,
    flag,
    kid,
    kids,
    read_request,
    send,
    sub,
    t,
    text,
)

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas" / "mni" / "2.2.2"
WSDL_PATH = SCHEMAS / "wsdl" / "servico-intercomunicacao-2.2.2.wsdl"
BRT = ZoneInfo("America/Sao_Paulo")
DUPLICATE_MESSAGE = ("Manifestaçao idêntica sendo processada. O tempo para reenvio é de 600 segundos após a tentativa "
                     "anterior.")


def now_brt() -> datetime:
    """The current time in Brasília."""
    return datetime.now(BRT)


def stamp(dt: datetime | None = None) -> str:
    """``AAAAMMDDHHMMSS`` in Brasília time."""
    return (dt or now_brt()).strftime("%Y%m%d%H%M%S")


def eproc_password(senha: str, when: datetime | None = None) -> str:
    """What an eproc client sends as password: ``sha256_hex("DD-MM-AAAA" + senha)`` of the Brasília date."""
    day = (when or now_brt()).astimezone(BRT).strftime("%d-%m-%Y")
    return hashlib.sha256((day + senha).encode()).hexdigest()


@dataclass
class Config:
    """Behaviour switches (``/_mock/config``)."""

    mtom: bool = False
    omit_avisos_status: bool = False
    reject_duplicates: bool = False
    duplicate_window_s: float = 600.0
    # per operation: answer this many ms late after acting on the request (the client may time out, yet it happened)
    delay_after_ms: dict[str, float] = field(default_factory=dict)
    # per operation: hold the request this many ms and then fail without acting on it (the client times out, and
    # nothing happened)
    stall_without_acting_ms: dict[str, float] = field(default_factory=dict)


class Tribunal:
    """State and operations of one simulated tribunal."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.style = Style(profile.system)
        self.reset()

    def reset(self) -> None:
        """Restore the demo data, the default switches and forget canned answers."""
        demo = demo_data(self.profile)
        self.processes = demo.processes
        self.avisos = demo.avisos
        self.big = demo.big_document
        self.config = Config(omit_avisos_status=self.profile.omits_avisos_status,
                             reject_duplicates=self.profile.rejects_duplicates)
        self.canned: dict[str, dict[str, Any]] = {}
        self.fingerprints: dict[str, float] = {}
        self.protocols = 0
        self.new_processes = 0
        self.next_doc = 0
        self.next_mov = 1000

    # --- helpers -------------------------------------------------------------------------------------------------

    def authenticate(self, user: str | None, password: str | None) -> bool:
        """Check a credential as the profile's system does (plain, or eproc's date-salted sha256)."""
        expected = self.profile.credentials.get(user or "")
        if expected is None or password is None:
            return False
        if not self.profile.salted_password:
            return hmac.compare_digest(password.encode(), expected.encode())
        now = now_brt()  # tolerate a clock a few minutes apart around midnight
        candidates = {eproc_password(expected, now + timedelta(minutes=d)) for d in (-5, 0, 5)}
        return any(hmac.compare_digest(password.strip().lower().encode(), c.encode()) for c in candidates)

    def find(self, numero: str | None, installation: str) -> Process | None:
        """The process *numero* if it lives in *installation*."""
        p = self.processes.get(numero or "")
        return p if p is not None and p.installation == installation else None

    def _status(self, out: Outgoing, ok: bool, message: str) -> Outgoing:
        sub(out.wrapper, t("sucesso"), "true" if ok else "false")
        sub(out.wrapper, t("mensagem"), message)
        return out

    def _denied(self, op: str) -> Outgoing:
        return self._status(Outgoing(self.style, op), False, "MNI-E401: usuário ou senha inválidos")

    def _not_found(self, op: str, numero: str | None) -> Outgoing:
        return self._status(Outgoing(self.style, op), False, f"processo não encontrado: {numero or '(vazio)'}")

    # --- operations ----------------------------------------------------------------------------------------------

    def avisos_pendentes(self, req: Request, inst: str) -> Outgoing:
        """consultarAvisosPendentes: read-only list of the caller's pending avisos in this installation."""
        pl, op = req.payload, req.operation
        user = text(pl, "idConsultante")
        if not self.authenticate(user, text(pl, "senhaConsultante")):
            return self._denied(op)
        rep, ref = text(pl, "idRepresentado"), text(pl, "dataReferencia")
        found = [a for a in self.avisos.values()
                 if a.consultant == user and a.ciencia is None and self.find(a.numero, inst) is not None
                 and not (rep and rep.isdigit() and a.destinatario.documento != rep)
                 and not (ref and ref.isdigit() and len(ref) == 14 and a.disponibilizacao < ref)]
        out = Outgoing(self.style, op)
        if not self.config.omit_avisos_status:
            self._status(out, True, f"Consultados {len(found)} de {len(found)}")
        for a in found:
            render.aviso(out.wrapper, t("aviso"), a, self.processes[a.numero])
        return out

    def teor(self, req: Request, inst: str) -> Outgoing:
        """consultarTeorComunicacao: the communications asked, registering ciência of the pending ones."""
        pl, op = req.payload, req.operation
        user = text(pl, "idConsultante")
        if not self.authenticate(user, text(pl, "senhaConsultante")):
            return self._denied(op)
        aviso_id, numero = text(pl, "identificadorAviso"), text(pl, "numeroProcesso")
        found = [a for a in self.avisos.values() if a.consultant == user and self.find(a.numero, inst) is not None
                 and ((aviso_id and a.id == aviso_id) or (not aviso_id and numero and a.numero == numero))]
        if not found:
            what = f"aviso {aviso_id}" if aviso_id else f"processo {numero}"
            return self._status(Outgoing(self.style, op), False, f"nenhuma comunicação encontrada para {what}")
        out = self._status(Outgoing(self.style, op), True, "Consulta de teor realizada com sucesso")
        for a in found:
            if a.ciencia is None:
                a.ciencia = stamp()
            render.comunicacao(out, out.wrapper, t("comunicacao"), a, self.processes[a.numero])
        return out

    def _consulted_process(self, req: Request, inst: str) -> Process | Outgoing:
        """The process a consultant asks for in this installation, or the refusal to answer instead."""
        pl, op = req.payload, req.operation
        if not self.authenticate(text(pl, "idConsultante"), text(pl, "senhaConsultante")):
            return self._denied(op)
        numero = text(pl, "numeroProcesso")
        p = self.find(numero, inst)
        return self._not_found(op, numero) if p is None else p

    def processo(self, req: Request, inst: str) -> Outgoing:
        """consultarProcesso with movimentos / incluirCabecalho / incluirDocumentos / documento (ids or ``*``)."""
        pl, op = req.payload, req.operation
        p = self._consulted_process(req, inst)
        if isinstance(p, Outgoing):
            return p
        asked = {(d.text or "").strip() for d in kids(pl, "documento")}
        ref = text(pl, "dataReferencia")
        out = self._status(Outgoing(self.style, op), True, "Processo consultado com sucesso")
        render.processo(out, out.wrapper, t("processo"), p, cabecalho_=flag(pl, "incluirCabecalho") is not False,
                        movimentos=bool(flag(pl, "movimentos")), listar=bool(flag(pl, "incluirDocumentos")),
                        conteudo=asked, todos="*" in asked,
                        desde=ref if ref and ref.isdigit() and len(ref) == 14 else None)
        return out

    def alteracao(self, req: Request, inst: str) -> Outgoing:
        """consultarAlteracao: SHA-1 hashes of header, movements and documents."""
        op = req.operation
        p = self._consulted_process(req, inst)
        if isinstance(p, Outgoing):
            return p
        out = self._status(Outgoing(self.style, op), True, "Consulta realizada com sucesso")
        for name, value in zip(("hashCabecalho", "hashMovimentacoes", "hashDocumentos"), p.hashes(), strict=True):
            sub(out.wrapper, t(name), value)
        return out

    def confirmar(self, req: Request, inst: str) -> Outgoing:
        """confirmarRecebimento (tribunal to tribunal): acknowledged."""
        pl, op = req.payload, req.operation
        if not self.authenticate(text(pl, "idRecebedor"), text(pl, "senhaRecebedor")):
            return self._denied(op)
        return self._status(Outgoing(self.style, op), True, f"Recebimento confirmado: {text(pl, 'protocolo') or ''}")

    def entregar(self, req: Request, inst: str) -> tuple[Outgoing, bool, str | None]:
        """entregarManifestacaoProcessual → (answer, duplicate, number of the process created or None)."""
        pl, op = req.payload, req.operation

        def refused(message: str) -> tuple[Outgoing, bool, str | None]:
            """A refusal: sucesso=false, empty protocol."""
            out = self._status(Outgoing(self.style, op), False, message)
            sub(out.wrapper, t("protocoloRecebimento"), "")
            sub(out.wrapper, t("dataOperacao"), stamp())
            return out, False, None

        user = text(pl, "idManifestante")
        if not self.authenticate(user, text(pl, "senhaManifestante")):
            return refused("MNI-E401: usuário ou senha inválidos")
        numero, dados = text(pl, "numeroProcesso"), kid(pl, "dadosBasicos")
        target = self.find(numero, inst) if numero else None
        if numero and target is None:
            return refused(f"processo não encontrado: {numero}")
        if not numero and dados is None:
            return refused("informe numeroProcesso (incidental) ou dadosBasicos (inicial)")
        docs_in = kids(pl, "documento")
        if not docs_in:
            return refused("a manifestação não traz documento")
        parsed: list[tuple[etree._Element, Any]] = []
        for d in docs_in:
            c = kid(d, "conteudo")
            blob = req.blobs[int(c.get("{urn:mock-tribunal}blob", "-1"))] if c is not None else None
            if blob is None or blob.size == 0:
                return refused("documento sem conteúdo")
            if not blob.valid:
                return refused("conteúdo de documento não é base64 válido")
            parsed.append((d, blob))
        if dados is not None and dados.get("classeProcessual") == "1116":
            problem = execucao_fiscal_problem(dados, [d for d, _b in parsed])
            if problem:
                return refused(f"Execução fiscal recusada: {problem}")
        basis = numero or etree.tostring(dados, method="c14n").decode()  # type: ignore[arg-type]
        fingerprint = hashlib.sha256(json.dumps(
            [inst, user, basis, [(d.get("tipoDocumento"), b.sha256) for d, b in parsed]]).encode()).hexdigest()
        now = time.monotonic()
        seen = self.fingerprints.get(fingerprint)
        if self.config.reject_duplicates and seen is not None and now - seen < self.config.duplicate_window_s:
            out, _, _ = refused(DUPLICATE_MESSAGE)
            return out, True, None
        when = stamp()
        created = None
        if target is None:
            assert dados is not None
            target = self._create(dados, inst, when)
            created = target.numero
        self.next_mov += 1
        mov = Movement(str(self.next_mov), when, 26 if created else 85, "petição inicial" if created else "petição")
        for d, blob in parsed:
            self.next_doc += 1
            doc = Document(f"9{self.next_doc:08d}", d.get("tipoDocumento") or "13",
                           d.get("descricao") or "Petição", d.get("mimetype") or "application/pdf", when,
                           blob.size, blob.sha256, mov.id,
                           blob.content if blob.size <= SMALL_DOCUMENT_LIMIT else None)
            target.documents.append(doc)
            mov.documentos.append(doc.id)
        target.movements.append(mov)
        self.fingerprints[fingerprint] = now
        self.protocols += 1
        protocol = f"{when}{self.protocols:016d}"
        out = self._status(Outgoing(self.style, op), True, "Petição processada com sucesso.")
        sub(out.wrapper, t("protocoloRecebimento"), protocol)
        sub(out.wrapper, t("dataOperacao"), when)
        receipt = tiny_pdf(f"{self.profile.tribunal} - recibo de protocolo {protocol} - processo {target.numero} - "
                           f"{len(parsed)} documento(s) - {when}")
        out.blob(out.wrapper, t("recibo"), Document.of("recibo", "recibo", "recibo", when, receipt))
        if created:
            sub(out.wrapper, t("parametro"), nome="numeroProcesso", valor=created)
        return out, False, created

    def _create(self, dados: etree._Element, inst: str, when: str) -> Process:
        """A new process distributed from *dados* (initial petition), in the installation that received it."""
        self.new_processes += 1
        number = cnj_number(900000 + self.new_processes, now_brt().year, self.profile.segment, self.profile.tr,
                            self.profile.origin)
        polos = []
        for polo in kids(dados, "polo"):
            partes = []
            for parte in kids(polo, "parte"):
                pe = kid(parte, "pessoa")
                if pe is not None:
                    partes.append(Person(pe.get("nome") or "(sem nome)", pe.get("tipoPessoa") or "fisica",
                                         pe.get("numeroDocumentoPrincipal"), pe.get("sexo")))
                else:
                    partes.append(Person(text(parte, "interessePublico") or "interesse público", "juridica"))
            polos.append(Polo(polo.get("polo"), partes))
        assuntos = []
        for a in kids(dados, "assunto"):
            code = text(a, "codigoNacional")
            local = kid(a, "assuntoLocal")
            code = code or (local.get("codigoPaiNacional") if local is not None else None)
            if code and code.isdigit():
                assuntos.append(int(code))
        classe = dados.get("classeProcessual") or ""
        valor = text(dados, "valorCausa")
        try:
            valor_causa = float(valor) if valor else None
        except ValueError:
            valor_causa = None
        # the tribunal's distribution chooses the órgão julgador: the one of this installation's demo processes
        orgao = next(p.orgao for p in self.processes.values() if p.installation == inst)
        p = Process(number, inst, int(classe) if classe.isdigit() else 7,
                    dados.get("codigoLocalidade") or str(self.profile.origin), orgao, assuntos or [10671], polos,
                    when, valor_causa, None)
        self.processes[number] = p
        return p

    # --- demo ----------------------------------------------------------------------------------------------------

    def demo(self, url: str) -> dict[str, Any]:
        """What ``GET /_mock/demo`` answers."""
        big_p = self.processes[self.big[0]]
        big_d = next(d for d in big_p.documents if d.id == self.big[1])
        return {
            "profile": self.profile.name, "tribunal": self.profile.tribunal, "jtr": self.profile.jtr,
            "system": self.profile.system, "credentials": dict(self.profile.credentials),
            "password_rule": ('sha256_hex("DD-MM-AAAA" + senha), date in America/Sao_Paulo'
                              if self.profile.salted_password else "plain"),
            "installations": [{"instance": x.id, "grau": x.grau, "url": url + x.path, "wsdl": url + x.path + "?wsdl"}
                              for x in self.profile.installations],
            "processes": [{"numeroProcesso": p.numero, "installation": p.installation, "classeProcessual": p.classe,
                           "codigoLocalidade": p.codigo_localidade, "orgaoJulgador": p.orgao.nome,
                           "documentos": [d.id for d in p.documents]} for p in self.processes.values()],
            "avisos": [{"idAviso": a.id, "consultant": a.consultant, "numeroProcesso": a.numero,
                        "installation": self.processes[a.numero].installation, "pending": a.ciencia is None}
                       for a in self.avisos.values()],
            "big_document": {"numeroProcesso": big_p.numero, "installation": big_p.installation,
                             "idDocumento": big_d.id, "size": big_d.size, "sha256": big_d.sha256},
            "config": asdict(self.config),
        }


def execucao_fiscal_problem(dados: etree._Element, docs: list[etree._Element]) -> str | None:
    """What a court checks on a class-1116 initial petition (issue 12 point 8): the exequente (polo ativo, with its
    CNPJ) and the executados (polo passivo), subject 6017, a positive ``valorCausa``, a ``codigoLocalidade``, and a
    signature on every document (``assinatura`` present and not empty). None when it passes."""
    polos = {p.get("polo"): p for p in kids(dados, "polo")}
    ativo, passivo = polos.get("AT"), polos.get("PA")
    exequentes = [kid(pa, "pessoa") for pa in kids(ativo, "parte")] if ativo is not None else []
    if not any(pe is not None and pe.get("numeroDocumentoPrincipal") for pe in exequentes):
        return "polo ativo sem exequente identificado (CNPJ)"
    if passivo is None or not kids(passivo, "parte"):
        return "polo passivo sem executado"
    if not any(text(a, "codigoNacional") == "6017" for a in kids(dados, "assunto")):
        return "assunto 6017 (Dívida Ativa) ausente"
    try:
        if float(text(dados, "valorCausa") or "0") <= 0:
            return "valorCausa ausente"
    except ValueError:
        return "valorCausa ilegível"
    if not dados.get("codigoLocalidade"):
        return "codigoLocalidade ausente"
    for d in docs:
        if not any(a.get("assinatura") for a in kids(d, "assinatura")):
            return f"documento '{d.get('descricao') or d.get('tipoDocumento')}' sem assinatura"
    return None


def _body_text(head: bytes) -> str:
    return head[:2048].decode("utf-8", errors="replace")


def create_federal_app(url: str) -> web.Application:
    """``--profile federal``: the regional federal courts TRF1, TRF2, TRF3, TRF5 and TRF6 in one process (issue 12),
    each a whole simulator — installations, ``/_mock`` endpoints, intimations' timer — under ``/trfN``, so each has
    its own URL (``{url}/trfN``) for the hub's registry and the sandbox's info file. ``GET /`` lists them."""
    app = web.Application(client_max_size=256 * 1024 * 1024)
    courts = {}
    for name in FEDERAL_PROFILES:
        prefix = f"/trf{PROFILES[name].tr}"
        app.add_subapp(prefix, create_app(url + prefix, name, prefix=prefix))
        courts[PROFILES[name].jtr] = url + prefix

    async def index(_request: web.Request) -> web.Response:
        return web.json_response({"tribunais": courts})

    app.router.add_get("/", index)
    return app


def create_app(url: str, profile_name: str = "pje-tjrj", prefix: str = "") -> web.Application:
    """The tribunal simulator answering at *url* with the profile *profile_name* (*prefix*: the path it is mounted
    under, when it is a sub-application of :func:`create_federal_app`)."""
    profile = PROFILES[profile_name]
    state = MockState(f"tribunal-{profile.jtr}")
    tribunal = Tribunal(profile)
    state.on_reset.append(tribunal.reset)
    app = mock_app(state)
    app["tribunal"] = tribunal
    wsdl_text = WSDL_PATH.read_text(encoding="utf-8")
    by_path = {prefix + x.path: x for x in profile.installations}

    def log(inst: str, op: str | None, numero: str | None, head: bytes, message_id: str | None,
            duplicate: bool = False, **extra: Any) -> None:
        """Append one entry to ``/_mock/received``."""
        state.received.append({"id": message_id, "received_at": now_brt().isoformat(), "duplicate": duplicate,
                               "operation": op, "numeroProcesso": numero, "installation": inst,
                               "body": _body_text(head), **extra})

    async def get_installation(request: web.Request) -> web.Response:
        """``?wsdl``: the official WSDL pointing at this installation; otherwise a short text."""
        inst = by_path[request.path]
        if any(k.lower() == "wsdl" for k in request.query):
            here = f"{request.scheme}://{request.host}{prefix}{inst.path}"
            return web.Response(text=wsdl_text.replace('location="http://www.cnj.jus.br"', f'location="{here}"'),
                                content_type="text/xml")
        return web.Response(text=f"MNI 2.2.2 — {profile.tribunal} (simulador), instalação {inst.id}. WSDL: ?wsdl\n")

    async def post_installation(request: web.Request) -> web.StreamResponse:
        """One MNI call: read, record, answer (canned bytes, or the operation's answer)."""
        inst = by_path[request.path].id
        message_id = request.headers.get("X-Gateway-Message-Id")
        try:
            req = await read_request(request)
        except Malformed as exc:
            log(inst, None, None, b"", message_id)
            return fault(exc.code, str(exc))
        pl = req.payload
        dados = kid(pl, "dadosBasicos")
        numero = text(pl, "numeroProcesso") or (dados.get("numero") if dados is not None else None)
        if req.operation == "consultarTeorComunicacao" and not numero:
            a = tribunal.avisos.get(text(pl, "identificadorAviso") or "")
            numero = a.numero if a else None
        canned = tribunal.canned.get(req.operation)
        if canned is not None:
            log(inst, req.operation, numero, req.head, message_id, canned=True)
            return web.Response(status=canned["status"], body=canned["body"],
                                headers={"Content-Type": canned["content_type"]})
        stall = tribunal.config.stall_without_acting_ms.get(req.operation)
        if stall:
            await asyncio.sleep(stall / 1000)
            return web.Response(status=503, text="tribunal sobrecarregado (simulado)\n")
        duplicate, created = False, None
        if req.operation == "entregarManifestacaoProcessual":
            out, duplicate, created = tribunal.entregar(req, inst)
        else:
            handler = {"consultarAvisosPendentes": tribunal.avisos_pendentes, "consultarTeorComunicacao": tribunal.teor,
                       "consultarProcesso": tribunal.processo, "consultarAlteracao": tribunal.alteracao,
                       "confirmarRecebimento": tribunal.confirmar}[req.operation]
            out = handler(req, inst)
        log(inst, req.operation, numero, req.head, message_id, duplicate,
            **({"numeroProcessoCriado": created} if created else {}))
        mtom = tribunal.config.mtom or request.headers.get("X-Mock-Mtom", "").lower() in ("1", "true", "yes")
        late = tribunal.config.delay_after_ms.get(req.operation)
        if late:
            await asyncio.sleep(late / 1000)
        return await send(request, out, mtom)

    async def xsd(request: web.Request) -> web.Response:
        """The official XSDs, verbatim."""
        name = request.match_info["name"]
        path = SCHEMAS / "xsd" / name
        if "/" in name or not name.endswith(".xsd") or not path.is_file():
            raise web.HTTPNotFound()
        return web.Response(body=path.read_bytes(), content_type="text/xml")

    async def demo(_request: web.Request) -> web.Response:
        """``GET /_mock/demo``."""
        return web.json_response(tribunal.demo(url))

    async def get_config(_request: web.Request) -> web.Response:
        """``GET /_mock/config``."""
        return web.json_response(asdict(tribunal.config))

    async def set_config(request: web.Request) -> web.Response:
        """``POST /_mock/config``: change switches (others kept)."""
        try:
            body = await request.json()
            tribunal.config = Config(**{**asdict(tribunal.config), **body})
        except (ValueError, TypeError) as exc:
            return web.json_response({"erro": f"configuração inválida: {exc}"}, status=400)
        return web.json_response(asdict(tribunal.config))

    async def set_canned(request: web.Request) -> web.Response:
        """``POST /_mock/canned``: the next calls of an operation answer exactly these bytes."""
        try:
            body = await request.json()
            op = str(body["operation"])
            raw = base64.b64decode(body["body_base64"]) if "body_base64" in body else str(body["body"]).encode()
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            return web.json_response({"erro": f"resposta enlatada inválida: {exc}"}, status=400)
        tribunal.canned[op] = {"status": int(body.get("status", 200)), "body": raw,
                               "content_type": str(body.get("content_type", "text/xml; charset=utf-8"))}
        return web.json_response({"operation": op, "bytes": len(raw)})

    async def clear_canned(_request: web.Request) -> web.Response:
        """``DELETE /_mock/canned``."""
        tribunal.canned.clear()
        return web.json_response({"ok": True})

    for x in profile.installations:
        app.router.add_get(x.path, get_installation)
        app.router.add_post(x.path, post_installation)
    app.router.add_get("/xsd/{name}", xsd)
    app.router.add_get("/_mock/demo", demo)
    app.router.add_get("/_mock/config", get_config)
    app.router.add_post("/_mock/config", set_config)
    app.router.add_post("/_mock/canned", set_canned)
    app.router.add_delete("/_mock/canned", clear_canned)
    app["intimacoes"] = tribunal_intimacoes.install(app, tribunal)  # intimations to the procuradorias (issue 12)
    return app


def main(argv: list[str] | None = None) -> int:
    """``python -m mocks.tribunal [--profile pje-tjrj|eproc-trf4] [--host H] [--port N]``."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--profile", choices=[*sorted(PROFILES), "federal"], default="pje-tjrj")
    args, rest = p.parse_known_args(argv if argv is not None else sys.argv[1:])
    if args.profile == "federal":
        return serve(create_federal_app, "Simulador MNI 2.2.2 dos TRF1, TRF2, TRF3, TRF5 e TRF6 (um por prefixo /trfN)",
                     rest)
    return serve(lambda url: create_app(url, args.profile),
                 f"Simulador de servidor MNI 2.2.2 de tribunal (perfis: {', '.join(sorted(PROFILES))})", rest)


if __name__ == "__main__":
    sys.exit(main())
