"""The MNI hub: one MNI 2.2.2 endpoint that routes each call to the right tribunal installation.

Per operation (DOMAIN.md §4):
- ``consultarProcesso``, ``consultarAlteracao``, incidental ``entregarManifestacaoProcessual``: by the process
  number's ``J.TR``; the installation holding the process is remembered from earlier answers, else found by asking
  each installation of that tribunal — a filing is sent only once the installation is known;
- initial petitions: the tribunal named in ``outroParametro nome="tribunal"``, else the client's default;
- ``consultarAvisosPendentes``: fanned out to the client's tribunals, merged, each failure named in ``mensagem``;
  the avisos seen are stored (client, installation, idAviso);
- ``consultarTeorComunicacao``: by that store for ``identificadorAviso``, by ``J.TR`` for ``numeroProcesso``;
- ``confirmarRecebimento`` (tribunal to tribunal): refused.
Business errors are ``sucesso=false`` with HTTP 200 and an ``MNI-E…`` code; every call is audited (client,
installation, operation, digests of the request and response bytes — never passwords).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.sax.saxutils import escape

import anyio.to_thread
from lxml import etree
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from gateway.auth import Authenticator, Caller
from gateway.clock import Clock, utc
from gateway.db.committer import GroupCommitter, WriteContext
from gateway.db.tables import mni_avisos, mni_filings, mni_process_locations
from gateway.errors import CATALOGUE, AuthenticationFailed, GatewayError
from gateway.hub.credentials import CredentialStore, TribunalCredential, eproc_password
from gateway.hub.forwarder import Forwarder, TribunalAnswer, TribunalTimeout, TribunalUnavailable
from gateway.hub.registry import Installation, Registry
from gateway.identifiers import is_valid_processo_cnj
from gateway.mni.mtom import inline_xop
from gateway.mni.names import SOAP11_NS, TIPOS_NS
from gateway.mni.reader import MniMessage, read_request, read_response
from gateway.mni.responses import canonical_response, error_response
from gateway.organs import OrganType
from gateway.settings import XmlLimits
from gateway.xml.soap import PASSWORD_TEXT, WSSE_NS, UsernameToken, fault

log = logging.getLogger("gateway.hub")
_T = "{%s}" % TIPOS_NS
_IN_THREAD_ABOVE = 1 << 20  # parse bodies above 1 MB off the event loop


@dataclass(frozen=True)
class HubAnswer:
    """What the edge sends back (always HTTP 200: MNI's business answers)."""

    body: bytes
    content_type: str = "text/xml; charset=utf-8"


class HubError(Exception):
    """A coded ``sucesso=false`` answer."""

    def __init__(self, code: str, detail: str | None = None) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {self.message}")

    @property
    def message(self) -> str:
        """Portuguese message with the detail."""
        base = CATALOGUE.get(self.code, self.code)
        return f"{base} {self.detail}" if self.detail else base


def digest(data: bytes) -> str:
    """SHA-256 hex of *data*."""
    return hashlib.sha256(data).hexdigest()


def process_jtr(number: str) -> str:
    """``J.TR`` of a 20-digit process number (digits 14–16)."""
    return f"{number[13]}.{number[14:16]}"


class Hub:
    """Routes MNI calls (see the module docstring)."""

    def __init__(self, registry: Registry, credentials: CredentialStore, auth: Authenticator,
                 committer: GroupCommitter, reader: Engine, clock: Clock, forwarder: Forwarder,
                 limits: XmlLimits, filing_ttl: timedelta = timedelta(hours=24)) -> None:
        self.registry = registry
        self.credentials = credentials
        self.auth = auth
        self.committer = committer
        self.reader = reader
        self.clock = clock
        self.forwarder = forwarder
        self.limits = limits
        self.filing_ttl = filing_ttl
        # short-lived caches of what every call needs: decrypted credentials (60 s, so a changed credential is
        # picked up quickly) and where processes live (kept until a probe learns otherwise)
        self._credentials: dict[tuple[int, str, str], tuple[float, TribunalCredential | None]] = {}
        self._locations: dict[tuple[str, str], str] = {}
        self._background: set[asyncio.Task[None]] = set()

    # -- entry point ------------------------------------------------------------------------------------------

    async def handle(self, body_holder: list[bytes], content_type: str | None) -> HubAnswer:
        """Answer one MNI call. Raises :class:`GatewayError` only for what cannot be read at all (a Fault).

        The body comes in a one-item list that this method empties, so a big request's bytes are released as soon
        as they are parsed (a 50 MB document must not be held twice while it is forwarded)."""
        body = body_holder.pop()
        request_digest = digest(body)
        small = len(body) <= _IN_THREAD_ABOVE
        if small:
            msg = read_request(body, content_type, self.limits, light=True)
        else:
            msg = await anyio.to_thread.run_sync(read_request, body, content_type, self.limits)
            del body  # a big request's bytes go as soon as they are parsed
        operation = msg.operation
        caller: Caller | None = None
        installations: list[str] = []
        try:
            caller = await self._authenticate(msg)
            client = self.registry.clients.get(caller.organ_code)
            strict = (client.strict if client else False) or _param(msg, "modoEstrito") == "true"
            if strict and msg.light:  # the light path does not look for every deviation: read it in full
                msg = read_request(body, content_type, self.limits)
            if strict and msg.deviations:
                raise HubError("MNI-E031", "; ".join(f"{d.code}: {d.detail}" for d in msg.deviations))
            answer, installations = await self._route(caller, msg)
        except HubError as exc:
            answer = HubAnswer(error_response(operation, exc.code, exc.message))
        if operation == "entregarManifestacaoProcessual":
            # a filing's audit entry is durable before the client hears the answer
            await self._audit(caller, operation, installations, request_digest, answer.body)
        else:
            # a consultation's entry is committed in the next group commit without holding the answer back
            task = asyncio.get_running_loop().create_task(
                self._audit(caller, operation, installations, request_digest, answer.body))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return answer

    async def _authenticate(self, msg: MniMessage) -> Caller:
        cred = msg.credentials
        if cred is None:
            raise HubError("MNI-E020")
        try:
            caller = await self.auth.authenticate(UsernameToken(cred.user, cred.password, PASSWORD_TEXT), "MNI")
        except AuthenticationFailed as exc:
            raise HubError("MNI-E021" if exc.code.endswith("E021") else "MNI-E020") from None
        if caller.organ_type is not OrganType.MNI_CLIENTE:
            raise HubError("MNI-E022", f"O órgão {caller.organ_code} não é cliente do hub MNI.")
        return caller

    async def _route(self, caller: Caller, msg: MniMessage) -> tuple[HubAnswer, list[str]]:
        op = msg.operation
        if op == "confirmarRecebimento":
            raise HubError("MNI-E045")
        if op == "consultarAvisosPendentes":
            return await self._avisos(caller, msg)
        if op == "consultarTeorComunicacao" and msg.identificador_aviso and not msg.numero_processo:
            by_aviso = await anyio.to_thread.run_sync(self._aviso_installation, caller, msg.identificador_aviso)
            return await self._forward_to(caller, msg, by_aviso), [by_aviso.key]
        if op == "entregarManifestacaoProcessual":
            return await self._deliver(caller, msg)
        number = self._process_number(msg)
        inst = await self._installation_of(caller, msg, number, probe_with_request=True)
        if isinstance(inst, HubAnswer):  # found while probing: that answer is the answer
            return inst, [self._located(number)]
        return await self._forward_to(caller, msg, inst), [inst.key]

    # -- routing helpers --------------------------------------------------------------------------------------

    def _process_number(self, msg: MniMessage) -> str:
        number = (msg.numero_processo or "").strip()
        if len(number) != 20 or not number.isdigit():
            raise HubError("MNI-E030", f"numeroProcesso {number!r} não tem 20 dígitos.")
        if not is_valid_processo_cnj(number):
            # real clients send numbers with wrong check digits; route by J.TR anyway (recorded as a deviation)
            log.info("process number with wrong check digits routed by J.TR", extra={"jtr": process_jtr(number)})
        return number

    def _tribunal(self, caller: Caller, jtr: str) -> list[Installation]:
        tribunal = self.registry.tribunals.get(jtr)
        client = self.registry.clients.get(caller.organ_code)
        # deny by default: a client reaches only the tribunals its registry entry lists
        if tribunal is None or client is None or jtr not in client.tribunals:
            raise HubError("MNI-E040", f"J.TR {jtr} não está disponível para {caller.organ_code}.")
        return list(tribunal.installations)

    def _located(self, number: str) -> str:
        with self.reader.connect() as conn:
            row = conn.execute(select(mni_process_locations.c.instance).where(
                mni_process_locations.c.jtr == process_jtr(number),
                mni_process_locations.c.process_number == number)).first()
        return f"{process_jtr(number)}/{row.instance}" if row else process_jtr(number)

    async def _installation_of(self, caller: Caller, msg: MniMessage | None, number: str,
                               probe_with_request: bool) -> Installation | HubAnswer:
        """The installation holding *number*: remembered, else found by asking each installation. When
        *probe_with_request*, the client's own (read-only) request is the probe and its successful answer is
        returned directly."""
        jtr = process_jtr(number)
        installations = self._tribunal(caller, jtr)
        known = self._locations.get((jtr, number))
        if known is None:
            with self.reader.connect() as conn:
                row = conn.execute(select(mni_process_locations.c.instance).where(
                    mni_process_locations.c.jtr == jtr, mni_process_locations.c.process_number == number)).first()
            known = row.instance if row is not None else None
        if known is not None:
            inst = next((i for i in installations if i.instance == known), None)
            if inst is not None:
                self._remember_here(jtr, number, known)
                return inst
        if len(installations) == 1 and not probe_with_request:
            return installations[0]
        failures = []
        unreachable: list[str] = []  # codes of installations that could not answer: "not found" cannot be concluded
        for inst in installations:
            probe = msg if probe_with_request and msg is not None else None
            try:
                if probe is not None:
                    answer, parsed = await self._call(caller, probe, inst)
                else:
                    answer, parsed = await self._call_raw(caller, inst, "consultarProcesso",
                                                          _probe_body(number), None)
            except HubError as exc:
                failures.append(f"{inst.key}: {exc.message}")
                unreachable.append(exc.code)
                continue
            if parsed.sucesso:
                await self.committer.run(_remembering(jtr, number, inst.instance))
                self._remember_here(jtr, number, inst.instance)
                return HubAnswer(answer) if probe is not None else inst
            failures.append(f"{inst.key}: {parsed.mensagem or 'processo não encontrado'}")
        if unreachable:
            code = "MNI-E041" if "MNI-E041" in unreachable else unreachable[0]
            raise HubError(code, " | ".join(failures))
        raise HubError("MNI-E046", " | ".join(failures))

    def _remember_here(self, jtr: str, number: str, instance: str) -> None:
        """Keep *number*'s installation in memory (bounded; the database keeps the full map)."""
        if len(self._locations) >= 100_000:
            self._locations.clear()
        self._locations[(jtr, number)] = instance

    def _aviso_installation(self, caller: Caller, aviso_id: str) -> Installation:
        with self.reader.connect() as conn:
            rows = conn.execute(select(mni_avisos.c.jtr, mni_avisos.c.instance).where(
                mni_avisos.c.organ_id == caller.organ_id, mni_avisos.c.aviso_id == aviso_id)).all()
        places = {(r.jtr, r.instance) for r in rows}
        if len(places) > 1:
            raise HubError("MNI-E044", "Tribunais: " + ", ".join(sorted(f"{j}/{i}" for j, i in places)))
        if not places:
            raise HubError("MNI-E048")
        jtr, instance = places.pop()
        inst = self.registry.installation(jtr, instance)
        if inst is None:
            raise HubError("MNI-E040", f"{jtr}/{instance} não está mais cadastrado.")
        return inst

    # -- calls ------------------------------------------------------------------------------------------------

    def _credential(self, caller: Caller, inst: Installation) -> TribunalCredential:
        key = (caller.organ_id, inst.jtr, inst.instance)
        hit = self._credentials.get(key)
        if hit is not None and hit[0] > time.monotonic():
            cred = hit[1]
        else:
            with self.reader.connect() as conn:
                cred = self.credentials.get(conn, caller.organ_id, inst.jtr, inst.instance)
            self._credentials[key] = (time.monotonic() + 60.0, cred)
        if cred is None:
            raise HubError("MNI-E023", f"Sem credencial de {caller.organ_code} para {inst.key}.")
        if "senha-eproc" in inst.quirks:
            return TribunalCredential(cred.username, eproc_password(cred.password, self.clock.now()))
        return cred

    async def _call(self, caller: Caller, msg: MniMessage, inst: Installation,
                    timeout_s: float | None = None) -> tuple[bytes, MniMessage]:
        """Forward *msg* with only its credential fields rewritten; return our answer bytes and the parsed one."""
        cred = self._credential(caller, inst)
        body = with_credentials(msg, cred)
        return await self._send(inst, msg.operation, body, timeout_s)

    async def _call_raw(self, caller: Caller, inst: Installation, operation: str, inner: str,
                        timeout_s: float | None) -> tuple[bytes, MniMessage]:
        cred = self._credential(caller, inst)
        user_field, pass_field = _credential_fields(operation)
        body = (f'<soap:Envelope xmlns:soap="{SOAP11_NS}" xmlns:ser="http://www.cnj.jus.br/servico-'
                f'intercomunicacao-2.2.2/" xmlns:tip="{TIPOS_NS}"><soap:Body><ser:{operation}>'
                f"<tip:{user_field}>{escape(cred.username)}</tip:{user_field}>"
                f"<tip:{pass_field}>{escape(cred.password)}</tip:{pass_field}>{inner}"
                f"</ser:{operation}></soap:Body></soap:Envelope>").encode()
        return await self._send(inst, operation, body, timeout_s)

    async def _send(self, inst: Installation, operation: str, body: bytes,
                    timeout_s: float | None) -> tuple[bytes, MniMessage]:
        try:
            answer = await self.forwarder.post(inst.url, body, operation, timeout_s)
        except TribunalUnavailable as exc:
            raise HubError("MNI-E041", f"{inst.key}: {exc}") from exc
        except TribunalTimeout as exc:
            raise HubError("MNI-E042", f"{inst.key}: {exc}") from exc
        del body
        holder = [answer]
        del answer
        return await self._read_answer(inst, holder)

    async def _read_answer(self, inst: Installation, holder: list[TribunalAnswer]) -> tuple[bytes, MniMessage]:
        """Parse the tribunal's answer (taken out of *holder*, so its bytes go once parsed) into ours."""
        answer = holder.pop()
        status, content_type, data = answer.status, answer.content_type, answer.body
        del answer
        try:
            if len(data) <= _IN_THREAD_ABOVE:
                parsed = read_response(data, content_type, self.limits, light=True)
                if parsed.light and parsed.sucesso is not None and parsed.mensagem is not None:
                    return data, parsed  # already ours to give: official namespaces, sucesso and mensagem
                return canonical_response(parsed), parsed
            parsed = await anyio.to_thread.run_sync(read_response, data, content_type, self.limits)
            del data
            return await anyio.to_thread.run_sync(canonical_response, parsed), parsed
        except GatewayError as exc:
            raise HubError("MNI-E047", f"{inst.key}: HTTP {status}, {exc.message}") from exc

    async def _forward_to(self, caller: Caller, msg: MniMessage, inst: Installation) -> HubAnswer:
        out, _parsed = await self._call(caller, msg, inst)
        return HubAnswer(out)

    # -- avisos -----------------------------------------------------------------------------------------------

    async def _avisos(self, caller: Caller, msg: MniMessage) -> tuple[HubAnswer, list[str]]:
        client = self.registry.clients.get(caller.organ_code)
        if client is None or not client.tribunals:
            raise HubError("MNI-E040", f"Nenhum tribunal configurado para {caller.organ_code}.")
        targets = [i for jtr in client.tribunals for i in self._tribunal(caller, jtr)]

        async def one(inst: Installation) -> tuple[Installation, bytes | None, MniMessage | None, str | None]:
            try:
                out, parsed = await self._call(caller, msg, inst)
            except HubError as exc:
                return inst, None, None, exc.message
            if parsed.sucesso is False:
                return inst, None, None, parsed.mensagem or "sucesso=false"
            return inst, out, parsed, None

        results = await asyncio.gather(*(one(i) for i in targets))
        good = [(i, out, p) for i, out, p, err in results if out is not None and p is not None]
        failures = [f"{i.key}: {err}" for i, _o, _p, err in results if err is not None]
        if not good:
            raise HubError("MNI-E041", " | ".join(failures))
        seen: list[dict[str, object]] = []
        merged_root: etree._Element | None = None
        merged_body: etree._Element | None = None
        for inst, out, _parsed in good:
            root = etree.fromstring(out)
            body = root.find(f"{{{SOAP11_NS}}}Body")
            assert body is not None and len(body) == 1
            op_el = body[0]
            avisos = [el for el in op_el if etree.QName(el).localname == "aviso"]
            for av in avisos:
                aviso_id = av.get("idAviso")
                if aviso_id:
                    proc = av.find(".//{*}processo")
                    seen.append({"aviso_id": aviso_id, "jtr": inst.jtr, "instance": inst.instance,
                                 "process_number": proc.get("numero") if proc is not None else None})
            if merged_root is None:
                merged_root, merged_body = root, op_el
            else:
                assert merged_body is not None
                for av in avisos:
                    merged_body.append(copy.deepcopy(av))
        assert merged_root is not None and merged_body is not None
        message = f"{sum(1 for _ in merged_body.iterfind('{*}aviso'))} aviso(s) de {len(good)} instalação(ões)"
        if failures:
            message += ". Falhas: " + " | ".join(failures)
        mensagem = merged_body.find(f"{_T}mensagem")
        if mensagem is not None:
            mensagem.text = message
        if seen:
            now = self.clock.now()
            await self.committer.run(lambda ctx: _remember_avisos(ctx, caller.organ_id, seen, now))
        return HubAnswer(etree.tostring(merged_root, xml_declaration=True, encoding="UTF-8")), [i.key for i in targets]

    # -- filings ----------------------------------------------------------------------------------------------

    async def _deliver(self, caller: Caller, msg: MniMessage) -> tuple[HubAnswer, list[str]]:
        if msg.numero_processo and msg.numero_processo.strip("0"):
            number = self._process_number(msg)
            found = await self._installation_of(caller, None, number, probe_with_request=False)
            assert isinstance(found, Installation)
            inst = found
            subject = number
        else:
            jtr = _param(msg, "tribunal")
            client = self.registry.clients.get(caller.organ_code)
            if not jtr and client is not None and client.default_tribunal:
                jtr = client.default_tribunal
                # the client's default tribunal comes with its default codigoLocalidade (a tribunal's own code)
                dados = msg.body.find(f"{_T}dadosBasicos")
                if dados is not None and not dados.get("codigoLocalidade") and client.default_codigo_localidade:
                    dados.set("codigoLocalidade", client.default_codigo_localidade)
            if not jtr:
                raise HubError("MNI-E040", "Petição inicial sem tribunal: informe outroParametro 'tribunal'.")
            installations = self._tribunal(caller, jtr)
            inst = installations[0]
            number = None
            subject = msg.dados_basicos_digest or "sem-dados-basicos"
        key = digest(json.dumps([caller.organ_id, subject, sorted(d.digest for d in msg.documents)]).encode())
        existing = await anyio.to_thread.run_sync(self._filing, key)
        if existing is not None:
            state, response = existing
            if state == "done" and response is not None:
                return HubAnswer(response), [inst.key]
            if state == "sending":
                raise HubError("MNI-E050", "A mesma manifestação está sendo entregue; consulte em instantes.")
            if state == "indeterminate":
                reconciled = await self._reconcile(caller, inst, number, key)
                if reconciled is not None:
                    return reconciled, [inst.key]
        before = await self._documents_hash(caller, inst, number)
        now = self.clock.now()
        try:
            await self.committer.run(lambda ctx: _start_filing(ctx, key, caller.organ_id, inst, number, msg, now,
                                                               self.filing_ttl, before))
        except GatewayError as exc:
            raise HubError("MNI-E050", "A mesma manifestação está sendo entregue.") from exc
        try:
            out, parsed = await self._call(caller, msg, inst)
        except HubError as exc:
            if exc.code == "MNI-E042":  # sent, no answer: the outcome is unknown; never resend blindly
                await self.committer.run(lambda ctx: _set_filing(ctx, key, "indeterminate", None, None))
                raise HubError("MNI-E043", exc.detail) from exc
            await self.committer.run(lambda ctx: _drop_filing(ctx, key))
            raise
        if parsed.sucesso:
            protocol = _protocol(parsed)
            await self.committer.run(lambda ctx: _set_filing(ctx, key, "done", protocol, out))
            if msg.numero_processo is None or not msg.numero_processo.strip("0"):
                new_number = dict(parsed.parameters).get("numeroProcesso")
                if new_number and len(new_number) == 20:
                    await self.committer.run(lambda ctx: _remember(ctx, process_jtr(new_number), new_number,
                                                                   inst.instance))
        else:
            await self.committer.run(lambda ctx: _drop_filing(ctx, key))
        return HubAnswer(out), [inst.key]

    async def _documents_hash(self, caller: Caller, inst: Installation, number: str | None) -> str | None:
        if number is None:
            return None
        try:
            _out, parsed = await self._call_raw(caller, inst, "consultarAlteracao",
                                                f"<tip:numeroProcesso>{number}</tip:numeroProcesso>", None)
        except HubError:
            return None
        return _hash_documentos(parsed)

    async def _reconcile(self, caller: Caller, inst: Installation, number: str | None,
                         key: str) -> HubAnswer | None:
        """Decide an indeterminate filing through consultarAlteracao: the process's documents changed since the
        filing was sent → it was filed (answered without resending); unchanged → not filed, so it is sent now
        (returns None); unknown (initial petition, tribunal silent) → still indeterminate."""
        with self.reader.connect() as conn:
            before = conn.execute(select(mni_filings.c.document_digests).where(
                mni_filings.c.filing_key == key)).scalar_one_or_none()
        previous = json.loads(before or "{}").get("hashDocumentos")
        now_hash = await self._documents_hash(caller, inst, number)
        if number is None or previous is None or now_hash is None:
            raise HubError("MNI-E043", "Não foi possível reconciliar: confirme no tribunal antes de reenviar.")
        if now_hash != previous:
            text = ("Manifestação entregue anteriormente (reconciliada por consultarAlteracao: os documentos do "
                    "processo mudaram desde o envio); o tribunal não informou o protocolo.")
            answer = error_response("entregarManifestacaoProcessual", "MNI-E050", text, sucesso=True)
            await self.committer.run(lambda ctx: _set_filing(ctx, key, "done", None, answer))
            return HubAnswer(answer)
        await self.committer.run(lambda ctx: _drop_filing(ctx, key))
        return None

    def _filing(self, key: str) -> tuple[str, bytes | None] | None:
        with self.reader.connect() as conn:
            row = conn.execute(select(mni_filings.c.state, mni_filings.c.response, mni_filings.c.expires_at)
                               .where(mni_filings.c.filing_key == key)).first()
        if row is None:
            return None
        if utc(row.expires_at) < self.clock.now():
            return None
        return row.state, row.response

    # -- audit ------------------------------------------------------------------------------------------------

    async def drain(self) -> None:
        """Wait for the audit entries still on their way (at shutdown)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def _audit(self, caller: Caller | None, operation: str, installations: Sequence[str], request_digest: str,
                     response: bytes) -> None:
        detail = {"cliente": caller.organ_code if caller else None, "usuario": caller.username if caller else None,
                  "operacao": operation, "instalacoes": list(installations), "requisicao": request_digest,
                  "resposta": digest(response)}
        now = self.clock.now()
        try:
            await self.committer.run(lambda ctx: ctx.audit.append(
                ctx.conn, f"mni.{operation}", now, organ_id=caller.organ_id if caller else None,
                payload_digest=request_digest, detail=detail))
        except GatewayError:
            log.exception("could not audit an MNI call")


# -- pure helpers -----------------------------------------------------------------------------------------------


def _param(msg: MniMessage, name: str) -> str | None:
    return next((v for n, v in msg.parameters if n == name), None)


def _credential_fields(operation: str) -> tuple[str, str]:
    if operation == "entregarManifestacaoProcessual":
        return "idManifestante", "senhaManifestante"
    return "idConsultante", "senhaConsultante"


def with_credentials(msg: MniMessage, cred: TribunalCredential) -> bytes:
    """The request with only its credential fields rewritten (WS-Security header removed, MNI fields set).

    MTOM/XOP attachments travel inline (base64): one well-formed document any MNI server reads; each attachment is
    moved into the tree once and released from the message."""
    root = msg.root
    if msg.attachments:
        inline_xop(root, msg.attachments)
        msg.attachments.clear()
    header = root.find(f"{{{SOAP11_NS}}}Header")
    if header is not None:
        for sec in header.findall(f"{{{WSSE_NS}}}Security"):
            header.remove(sec)
    user_field, pass_field = _credential_fields(msg.operation)
    op = msg.body
    user = op.find(_T + user_field)
    password = op.find(_T + pass_field)
    if user is None:
        user = etree.Element(_T + user_field)
        op.insert(0, user)
    if password is None:
        password = etree.Element(_T + pass_field)
        user.addnext(password)
    user.text = cred.username
    password.text = cred.password
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _probe_body(number: str) -> str:
    return (f"<tip:numeroProcesso>{number}</tip:numeroProcesso><tip:movimentos>false</tip:movimentos>"
            "<tip:incluirCabecalho>false</tip:incluirCabecalho><tip:incluirDocumentos>false</tip:incluirDocumentos>")


def _hash_documentos(parsed: MniMessage) -> str | None:
    el = parsed.body.find(f".//{_T}hashDocumentos")
    if el is None:
        el = next((e for e in parsed.body.iter() if isinstance(e.tag, str)
                   and etree.QName(e).localname == "hashDocumentos"), None)
    return el.text.strip() if el is not None and el.text else None


def _protocol(parsed: MniMessage) -> str | None:
    el = next((e for e in parsed.body if isinstance(e.tag, str)
               and etree.QName(e).localname == "protocoloRecebimento"), None)
    return el.text.strip() if el is not None and el.text else None


def _remembering(jtr: str, number: str, instance: str) -> Callable[[WriteContext], None]:
    """A job remembering that *number* lives in ``jtr/instance``."""
    return lambda ctx: _remember(ctx, jtr, number, instance)


def _remember(ctx: WriteContext, jtr: str, number: str, instance: str) -> None:
    now = ctx.clock.now()
    conn = ctx.conn
    done = conn.execute(update(mni_process_locations).where(
        mni_process_locations.c.jtr == jtr, mni_process_locations.c.process_number == number).values(
        instance=instance, updated_at=now)).rowcount
    if not done:
        conn.execute(insert(mni_process_locations).values(jtr=jtr, process_number=number, instance=instance,
                                                          updated_at=now))


def _remember_avisos(ctx: WriteContext, organ_id: int, seen: list[dict[str, object]], now: datetime) -> None:
    conn = ctx.conn
    for item in seen:
        exists = conn.execute(select(mni_avisos.c.aviso_id).where(
            mni_avisos.c.organ_id == organ_id, mni_avisos.c.aviso_id == item["aviso_id"],
            mni_avisos.c.jtr == item["jtr"], mni_avisos.c.instance == item["instance"])).first()
        if exists is None:
            conn.execute(insert(mni_avisos).values(organ_id=organ_id, seen_at=now, **item))


def _start_filing(ctx: WriteContext, key: str, organ_id: int, inst: Installation, number: str | None,
                  msg: MniMessage, now: datetime, ttl: timedelta, documents_hash: str | None) -> None:
    conn = ctx.conn
    # an expired filing under the same key is forgotten; a live one makes the insert fail (IntegrityError), which
    # the caller answers as "the same manifestação is being delivered"
    conn.execute(delete(mni_filings).where(mni_filings.c.filing_key == key, mni_filings.c.expires_at < now))
    conn.execute(insert(mni_filings).values(
        filing_key=key, organ_id=organ_id, jtr=inst.jtr, instance=inst.instance, process_number=number,
        state="sending", document_digests=json.dumps({"documentos": [d.digest for d in msg.documents],
                                                      "hashDocumentos": documents_hash}),
        created_at=now, updated_at=now, expires_at=now + ttl))


def _set_filing(ctx: WriteContext, key: str, state: str, protocol: str | None, response: bytes | None) -> None:
    ctx.conn.execute(update(mni_filings).where(mni_filings.c.filing_key == key).values(
        state=state, protocol=protocol, response=response, updated_at=ctx.clock.now()))


def _drop_filing(ctx: WriteContext, key: str) -> None:
    ctx.conn.execute(delete(mni_filings).where(mni_filings.c.filing_key == key))


def fault_for(exc: GatewayError) -> bytes:
    """A SOAP Fault for what the hub could not read at all (the code and its Portuguese message in ``detail``)."""
    if exc.message == exc.code and exc.code in CATALOGUE:
        exc.message = CATALOGUE[exc.code]
    return fault(exc, f'<mensagem xmlns="{TIPOS_NS}">{escape(exc.code + ": " + exc.message)}</mensagem>')
