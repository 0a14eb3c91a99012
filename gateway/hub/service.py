"""The MNI hub's use cases: one MNI 2.2.2 endpoint that routes each call to the right tribunal installation.

Per operation (DOMAIN.md §4; the rules are :mod:`gateway.hub.domain`'s):
- ``consultarProcesso``, ``consultarAlteracao``, incidental ``entregarManifestacaoProcessual``: by the process
  number's ``J.TR`` to the installation remembered for it, else found by asking each installation of that
  tribunal — a filing is sent only once the installation is known;
- initial petitions: the tribunal named in ``outroParametro nome="tribunal"``, else the client's default;
- ``consultarAvisosPendentes``: fanned out to the client's tribunals, merged, each failure named in ``mensagem``;
  the avisos seen are stored (client, installation, idAviso);
- ``consultarTeorComunicacao``: by that store for ``identificadorAviso``, by ``J.TR`` for ``numeroProcesso``;
- ``confirmarRecebimento`` (tribunal to tribunal): refused.
Business errors are ``sucesso=false`` with HTTP 200 and an ``MNI-E…`` code (any :class:`GatewayError` raised after
the request was read); every call is audited (client, installation, operation, the digest of the request with
every credential value blanked — :func:`gateway.hub.contract.request_digest` — and of the response bytes; never a
password, nor a digest a password guess could be tested against). A call's large documents travel through a
:class:`~gateway.mni.spill.Spill` (on disk, a placeholder in the bodies the hub reads and writes): both digests
cover the bodies with the placeholders, and a placeholder names the SHA-256 of the content it stands for, so they
still identify every byte. Calls to tribunals go through a
:class:`~adapters.tribunal.TribunalClient`, storage through :mod:`gateway.hub.store`; each call and each answer is
observed by a :class:`~gateway.hub.monitor.TribunalMonitor` (metrics per installation and operation, what
``/readyz`` reports). The registry is an attribute swapped whole when the file is reloaded
(:func:`gateway.hub.registry.reload_registry`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import anyio.to_thread
from sqlalchemy.engine import Engine

from adapters.tribunal import TribunalAnswer, TribunalClient
from gateway.auth import Authenticator, Caller
from gateway.clock import Clock
from gateway.db.committer import GroupCommitter, Job
from gateway.errors import AuthenticationFailed, GatewayError, MalformedRequest, PartnerError, VersionMismatch
from gateway.hub import contract, domain, store
from gateway.hub.caches import CredentialCache, LocationCache
from gateway.hub.credentials import CredentialStore, TribunalCredential, eproc_password
from gateway.hub.domain import FilingState, ProbePlan, Reconciliation, Step
from gateway.hub.monitor import ERRO, INSUCESSO, SUCESSO, TribunalMonitor
from gateway.hub.registry import Installation, Registry
from gateway.identifiers import is_valid_processo_cnj, processo_jtr
from gateway.mni.errors import answer_code, detail_of, hub_error
from gateway.mni.reader import MniMessage, read_request, read_response
from gateway.mni.responses import canonical_response, error_response
from gateway.mni.spill import Spill
from gateway.organs import OrganType
from gateway.settings import XmlLimits
from gateway.xml.reader import mni_policy
from gateway.xml.soap import PASSWORD_TEXT, UsernameToken

log = logging.getLogger("gateway.hub")
_IN_THREAD_ABOVE = 1 << 20  # parse bodies above 1 MB off the event loop
_FILING = "entregarManifestacaoProcessual"
#: Sends one request to one installation: (our answer bytes, the answer read).
Probe = Callable[[Installation], Awaitable[tuple[bytes, MniMessage]]]


class _Miss(Exception):
    """A credential not in the cache: to be read off the event loop."""


def _miss() -> TribunalCredential | None:
    raise _Miss


@dataclass(frozen=True)
class HubAnswer:
    """What the edge sends back (always HTTP 200: MNI's business answers)."""

    body: bytes
    content_type: str = "text/xml; charset=utf-8"


def digest(data: bytes) -> str:
    """SHA-256 hex of *data*."""
    return hashlib.sha256(data).hexdigest()


class Hub:
    """Routes MNI calls (see the module docstring)."""

    def __init__(self, registry: Registry, credentials: CredentialStore, auth: Authenticator,
                 committer: GroupCommitter, reader: Engine, clock: Clock, tribunal: TribunalClient,
                 limits: XmlLimits, filing_ttl: timedelta = timedelta(hours=24),
                 monitor: TribunalMonitor | None = None) -> None:
        self.registry = registry
        self.monitor = monitor or TribunalMonitor(clock)
        self.credentials = credentials
        self.auth = auth
        self.committer = committer
        self.reader = reader
        self.clock = clock
        self.tribunal = tribunal
        self.limits = limits
        self.filing_ttl = filing_ttl
        self._credentials = CredentialCache(clock)
        self._locations = LocationCache()
        self._background: set[asyncio.Task[None]] = set()

    # -- entry point ------------------------------------------------------------------------------------------

    async def handle(self, body_holder: list[bytes], content_type: str | None,
                     spill: Spill | None = None) -> HubAnswer:
        """Answer one MNI call. Raises :class:`GatewayError` only for what cannot be read at all (a Fault:
        MNI-E001…E011); everything else is an answer, ``sucesso=false`` with its ``MNI-E…`` code on failure.

        The body comes in a one-item list that this method empties, so a big request's bytes are released as soon
        as they are parsed (a 50 MB document must not be held twice while it is forwarded). *spill*: the call's
        spilled contents when the body holds placeholders (:mod:`gateway.mni.spill`); the tribunals' large answers
        are spilled there too, so the answer may hold placeholders (the edge splices them back)."""
        body = body_holder.pop()
        request_digest = contract.request_digest(body)
        if len(body) <= _IN_THREAD_ABOVE:
            msg = read_request(body, content_type, self.limits, light=True)
        else:
            msg = await anyio.to_thread.run_sync(read_request, body, content_type, self.limits)
            body = b""  # a big request's bytes go as soon as they are parsed (never read light: no re-read below)
        if spill is not None and spill.entries:
            spill.check_texts(msg.root, mni_policy(self.limits))
            msg.documents = spill.documents(msg.documents)
        operation = msg.operation
        caller: Caller | None = None
        installations: list[str] = []
        try:
            caller = await self._authenticate(msg)
            if domain.is_strict(self.registry.clients.get(caller.organ_code), msg):
                if msg.light:  # the light path does not look for every deviation: read it in full
                    msg = read_request(body, content_type, self.limits)
                    if spill is not None and spill.entries:
                        msg.documents = spill.documents(msg.documents)
                refusal = domain.strict_refusal(msg.deviations)
                if refusal is not None:
                    raise refusal
            answer, installations = await self._route(caller, msg, spill)
        except (MalformedRequest, VersionMismatch):
            raise
        except GatewayError as exc:
            code, message = answer_code(exc)
            if code != exc.code:
                log.error("MNI call failed: %s", exc, exc_info=exc)
            answer = HubAnswer(error_response(operation, code, message))
            self.monitor.answer(operation, code)
        else:
            self.monitor.answer(operation, None)
        if operation == _FILING:
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
        # no credential in the message: the authenticator may still know the caller by a client certificate that a
        # trusted proxy verified (gateway.client_certs); else MNI-E020
        token = None if cred is None else UsernameToken(cred.user, cred.password, PASSWORD_TEXT)
        try:
            caller = await self.auth.authenticate(token, "MNI")
        except AuthenticationFailed as exc:
            raise hub_error("MNI-E021" if exc.code.endswith("E021") else "MNI-E020") from None
        if caller.organ_type is not OrganType.MNI_CLIENTE:
            raise hub_error("MNI-E022", f"O órgão {caller.organ_code} não é cliente do hub MNI.")
        return caller

    async def _route(self, caller: Caller, msg: MniMessage, spill: Spill | None) -> tuple[HubAnswer, list[str]]:
        op = msg.operation
        if op == "confirmarRecebimento":
            raise hub_error("MNI-E045")
        if op == "consultarAvisosPendentes":
            return await self._avisos(caller, msg, spill)
        if op == "consultarTeorComunicacao" and msg.identificador_aviso and not msg.numero_processo:
            places = await anyio.to_thread.run_sync(store.aviso_places, self.reader, caller.organ_id,
                                                    msg.identificador_aviso)
            by_aviso = domain.aviso_installation(self.registry, places)
            out, _parsed = await self._call(caller, msg, by_aviso, spill)
            return HubAnswer(out), [by_aviso.key]
        if op == _FILING:
            return await self._deliver(caller, msg, spill)
        number = self._process_number(msg)
        inst, probed = await self._locate(caller, number, lambda i: self._call(caller, msg, i, spill),
                                          probe_with_request=True)
        if probed is not None:  # found while probing with the request itself: that answer is the answer
            return HubAnswer(probed), [inst.key]
        out, _parsed = await self._call(caller, msg, inst, spill)
        return HubAnswer(out), [inst.key]

    # -- where a process lives --------------------------------------------------------------------------------

    def _process_number(self, msg: MniMessage) -> str:
        number = domain.process_number(msg.numero_processo)
        if not is_valid_processo_cnj(number):
            # real clients send numbers with wrong check digits; route by J.TR anyway (recorded as a deviation)
            log.info("process number with wrong check digits routed by J.TR", extra={"jtr": processo_jtr(number)})
        return number

    async def _locate(self, caller: Caller, number: str, probe: Probe,
                      probe_with_request: bool) -> tuple[Installation, bytes | None]:
        """The installation holding *number* and, when it was found by *probe* and *probe_with_request*, the
        probe's answer (the client's own read-only request: its successful answer is the answer)."""
        jtr = processo_jtr(number)
        installations = domain.tribunal_installations(self.registry, caller.organ_code, jtr)
        remembered = self._locations.get(jtr, number)
        if remembered is None:
            remembered = await anyio.to_thread.run_sync(store.located_instance, self.reader, jtr, number)
        choice = domain.locate(installations, remembered, probe_with_request)
        if not isinstance(choice, ProbePlan):
            if choice.instance == remembered:
                self._locations.put(jtr, number, choice.instance)
            return choice, None
        reasons: list[str] = []
        errors: list[GatewayError] = []
        for inst in choice.installations:
            try:
                answer, parsed = await probe(inst)
            except GatewayError as exc:
                # the failure's own detail ("8.19/1: conexão encerrada…"): the answer's code already says the rest
                detail = detail_of(exc)
                reasons.append(detail if detail.startswith(f"{inst.key}:") else f"{inst.key}: {detail}")
                errors.append(exc)
                continue
            if parsed.sucesso:
                await store.write(self.committer, store.remember_location(jtr, number, inst.instance))
                self._locations.put(jtr, number, inst.instance)
                return inst, answer if probe_with_request else None
            reasons.append(f"{inst.key}: {parsed.mensagem or 'processo não encontrado'}")
        raise domain.not_located(reasons, errors)

    # -- calls ------------------------------------------------------------------------------------------------

    async def _credential(self, caller: Caller, inst: Installation) -> TribunalCredential:
        key = (caller.organ_id, inst.jtr, inst.instance)
        try:  # a cache hit on the event loop; a miss is read from the database in a worker thread
            cred = self._credentials.get(key, _miss)
        except _Miss:
            loaded = await anyio.to_thread.run_sync(store.credential, self.reader, self.credentials, *key)
            cred = self._credentials.get(key, lambda: loaded)
        if cred is None:
            raise hub_error("MNI-E023", f"Sem credencial de {caller.organ_code} para {inst.key}.")
        if "senha-eproc" in inst.quirks:
            return TribunalCredential(cred.username, eproc_password(cred.password, self.clock.now()))
        return cred

    async def _call(self, caller: Caller, msg: MniMessage, inst: Installation,
                    spill: Spill | None = None) -> tuple[bytes, MniMessage]:
        """Forward *msg* with only its credential fields rewritten; return our answer bytes and the parsed one
        (through *spill*: the request's placeholders spliced back on the way out, a large answer spilled)."""
        body = contract.with_credentials(msg, await self._credential(caller, inst))
        return await self._send(inst, msg.operation, body, spill=spill)

    async def _call_own(self, caller: Caller, inst: Installation, operation: str,
                        inner: str, timeout_s: float | None = None) -> tuple[bytes, MniMessage]:
        """Send one of the hub's own requests (a probe, a consultarAlteracao) with the client's credential."""
        body = contract.own_request(operation, await self._credential(caller, inst), inner)
        return await self._send(inst, operation, body, timeout_s)

    async def call_for(self, caller: Caller, jtr: str, instance: str, operation: str, inner: str,
                       timeout_s: float | None = None) -> MniMessage:
        """One read-only MNI call made by the gateway itself on behalf of client *caller* (the intimations'
        collector and ciência, :mod:`gateway.divida.intimacoes`) to installation ``jtr/instance``: *operation* with
        the client's credential towards it followed by *inner* (XML of the tipos namespace, ``tip`` prefix), within
        *timeout_s* seconds (the tribunal client's timeout when None). Returns the answer read (``sucesso`` may be
        false or absent: the caller decides). ``consultarAvisosPendentes`` answers are remembered in ``mni_avisos``
        as the fan-out's are, so a client's ``consultarTeorComunicacao`` by id finds their installation.

        Raises ``MNI-E040`` (deny by default: the client may not reach that tribunal, or the installation is not
        registered), ``MNI-E023`` (no credential), ``MNI-E041``/``E042``/``E047`` (the tribunal could not be
        reached, did not answer, answered something unreadable)."""
        installations = domain.tribunal_installations(self.registry, caller.organ_code, jtr)
        inst = next((i for i in installations if i.instance == instance), None)
        if inst is None:
            raise hub_error("MNI-E040", f"{jtr}/{instance} não está cadastrado.")
        _out, parsed = await self._call_own(caller, inst, operation, inner, timeout_s)
        if operation == "consultarAvisosPendentes" and parsed.sucesso is not False:
            seen = domain.seen_avisos(inst, parsed)
            if seen:
                await store.write(self.committer, store.remember_avisos(caller.organ_id, seen, self.clock.now()))
        return parsed

    async def file_own(self, caller: Caller, jtr: str, inner: bytes, *, numero_processo: str | None = None,
                       timeout_s: float | None = None) -> tuple[str, MniMessage]:
        """File an ``entregarManifestacaoProcessual`` the gateway built itself for client *caller* (the execuções
        fiscais' sender, :mod:`gateway.divida.execucao`): *inner* is the operation's body without the credential
        fields (``tip`` prefix declared inside), sent with the client's credential towards the installation — the
        first of tribunal *jtr* for an initial petition, the one holding *numero_processo* for an incidental one.
        Not remembered in ``mni_filings``: the caller keeps its own durable outbox and never resends blindly.
        Returns the installation's key and the answer read (``sucesso`` may be false: the court's refusal).

        Errors — what they say about the filing's fate decides the caller's next step: ``MNI-E041`` nothing was
        sent (also an HTTP 503 whose body is not SOAP: the court refused to handle it), ``MNI-E040``/``E023``/
        ``E046`` not sendable now (registry, credential, process not found); ``MNI-E043`` (no answer in time) and
        ``MNI-E047`` (unreadable answer): the court may have acted — outcome unknown."""
        if numero_processo is None:
            inst = domain.tribunal_installations(self.registry, caller.organ_code, jtr)[0]
        else:
            def probe(i: Installation) -> Awaitable[tuple[bytes, MniMessage]]:
                return self._call_own(caller, i, "consultarProcesso", contract.probe_inner(numero_processo))

            inst, _ = await self._locate(caller, numero_processo, probe, probe_with_request=False)
        body = contract.own_filing(await self._credential(caller, inst), inner)
        started = self.clock.monotonic()
        try:
            try:
                answer = await self.tribunal.post(inst.url, body, _FILING, timeout_s)
            except PartnerError as exc:
                raise domain.partner_failure(inst.key, exc, filing=True) from exc
            if answer.status == 503 and b"Envelope" not in answer.body[:4096]:
                raise hub_error("MNI-E041", f"{inst.key}: HTTP 503 sem resposta SOAP (nada foi processado)")
            _out, parsed = await self._read_answer(inst, [answer])
        except GatewayError as exc:
            self.monitor.call(inst.key, _FILING, ERRO, self.clock.monotonic() - started, exc.code)
            raise
        self.monitor.call(inst.key, _FILING, SUCESSO if parsed.sucesso else INSUCESSO,
                          self.clock.monotonic() - started)
        new_number = contract.new_process_number(parsed) if parsed.sucesso and numero_processo is None else None
        if new_number is not None:
            await self._settle_job(store.remember_location(processo_jtr(new_number), new_number, inst.instance))
        return inst.key, parsed

    async def _send(self, inst: Installation, operation: str, body: bytes,
                    timeout_s: float | None = None, spill: Spill | None = None) -> tuple[bytes, MniMessage]:
        started = self.clock.monotonic()
        try:
            try:
                if spill is None:
                    answer = await self.tribunal.post(inst.url, body, operation, timeout_s)
                else:
                    answer = await self.tribunal.post(inst.url, body, operation, timeout_s, spill=spill)
            except PartnerError as exc:
                raise domain.partner_failure(inst.key, exc, filing=operation == _FILING) from exc
            del body
            holder = [answer]
            del answer
            out, parsed = await self._read_answer(inst, holder)
        except GatewayError as exc:
            self.monitor.call(inst.key, operation, ERRO, self.clock.monotonic() - started, exc.code)
            raise
        self.monitor.call(inst.key, operation, SUCESSO if parsed.sucesso else INSUCESSO,
                          self.clock.monotonic() - started)
        return out, parsed

    async def _read_answer(self, inst: Installation, holder: list[TribunalAnswer]) -> tuple[bytes, MniMessage]:
        """Parse the tribunal's answer (taken out of *holder*, so its bytes go once parsed) into ours."""
        answer = holder.pop()
        status, content_type, data = answer.status, answer.content_type, answer.body
        size = answer.size if answer.size is not None else len(data)
        del answer
        try:
            if size > self.limits.max_body_bytes:  # a spilled answer's own size (its body holds placeholders)
                raise hub_error("MNI-E047", f"{inst.key}: HTTP {status}, MNI-E004: resposta de {size} bytes acima do "
                                            f"limite de {self.limits.max_body_bytes}")
            if len(data) <= _IN_THREAD_ABOVE:
                parsed = read_response(data, content_type, self.limits, light=True)
                if parsed.light and parsed.sucesso is not None and parsed.mensagem is not None:
                    return data, parsed  # already ours to give: official namespaces, sucesso and mensagem
                return canonical_response(parsed), parsed
            parsed = await anyio.to_thread.run_sync(read_response, data, content_type, self.limits)
            del data
            return await anyio.to_thread.run_sync(canonical_response, parsed), parsed
        except GatewayError as exc:
            raise hub_error("MNI-E047", f"{inst.key}: HTTP {status}, {exc.message}") from exc

    # -- avisos -----------------------------------------------------------------------------------------------

    async def _avisos(self, caller: Caller, msg: MniMessage, spill: Spill | None) -> tuple[HubAnswer, list[str]]:
        targets = domain.avisos_targets(self.registry, caller.organ_code)

        async def one(inst: Installation) -> tuple[Installation, MniMessage | None, str | None]:
            try:
                _out, parsed = await self._call(caller, msg, inst, spill)
            except GatewayError as exc:
                return inst, None, exc.message
            if parsed.sucesso is False:
                return inst, None, parsed.mensagem or "sucesso=false"
            return inst, parsed, None

        results = await asyncio.gather(*(one(i) for i in targets))
        merged = domain.merge_avisos([(i, p) for i, p, _e in results if p is not None],
                                     [f"{i.key}: {e}" for i, _p, e in results if e is not None])
        if merged.seen:
            await store.write(self.committer, store.remember_avisos(caller.organ_id, merged.seen, self.clock.now()))
        return HubAnswer(merged.body), [i.key for i in targets]

    # -- filings ----------------------------------------------------------------------------------------------

    async def _deliver(self, caller: Caller, msg: MniMessage, spill: Spill | None) -> tuple[HubAnswer, list[str]]:
        inst, number = await self._filing_target(caller, msg)
        key = domain.filing_key(caller.organ_id, domain.filing_subject(number, msg.dados_basicos_digest),
                                [d.digest for d in msg.documents])
        remembered = await anyio.to_thread.run_sync(store.filing, self.reader, key)
        step = domain.next_step(remembered, self.clock.now())
        if step is Step.REPLAY:
            assert remembered is not None and remembered.response is not None
            return HubAnswer(remembered.response), [inst.key]
        if step is Step.BUSY:
            raise hub_error("MNI-E050", "A mesma manifestação está sendo entregue; consulte em instantes.")
        if step is Step.RECONCILE:
            assert remembered is not None
            reconciled = await self._reconcile(caller, inst, number, key, remembered.documents_hash)
            if reconciled is not None:
                return reconciled, [inst.key]
        return await self._send_filing(caller, msg, inst, number, key, spill), [inst.key]

    async def _filing_target(self, caller: Caller, msg: MniMessage) -> tuple[Installation, str | None]:
        """The installation a filing goes to, and its process number (None for an initial petition)."""
        if domain.is_incidental(msg):
            number = self._process_number(msg)

            def probe(i: Installation) -> Awaitable[tuple[bytes, MniMessage]]:
                return self._call_own(caller, i, "consultarProcesso", contract.probe_inner(number))

            inst, _ = await self._locate(caller, number, probe, probe_with_request=False)
            return inst, number
        target = domain.initial_petition_target(self.registry.clients.get(caller.organ_code),
                                                domain.param(msg, "tribunal"))
        installations = domain.tribunal_installations(self.registry, caller.organ_code, target.jtr)
        if target.default_codigo_localidade:
            contract.set_default_localidade(msg, target.default_codigo_localidade)
        return installations[0], None

    async def _send_filing(self, caller: Caller, msg: MniMessage, inst: Installation, number: str | None,
                           key: str, spill: Spill | None) -> HubAnswer:
        """Record the filing ``sending`` (MNI-E050 if the same one got there first, MNI-E091 if the storage fails:
        nothing is sent then), send it, and settle it by the outcome (:mod:`gateway.hub.domain`). The answer kept
        for a replay is whole (a spilled part of it spliced back: the spill does not outlive the call)."""
        before = await self._documents_hash(caller, inst, number)
        await store.write(self.committer, store.start_filing(
            key, caller.organ_id, inst, number, [d.digest for d in msg.documents], before, self.clock.now(),
            self.filing_ttl))
        try:
            out, parsed = await self._call(caller, msg, inst, spill)
        except GatewayError as exc:
            await self._settle(key, domain.state_after_failure(exc))
            raise
        state = domain.state_after_answer(parsed.sucesso)
        kept = spill.joined(out) if spill is not None and state is not None and spill.references(out) else out
        await self._settle(key, state, contract.protocol_of(parsed), kept)
        new_number = contract.new_process_number(parsed) if state is FilingState.DONE and number is None else None
        if new_number is not None:
            await self._settle_job(store.remember_location(processo_jtr(new_number), new_number, inst.instance))
        return HubAnswer(out)

    async def _settle(self, key: str, state: FilingState | None, protocol: str | None = None,
                      response: bytes | None = None) -> None:
        await self._settle_job(store.settle_filing(key, state, protocol, response if state else None))

    async def _settle_job(self, job: Job[None]) -> None:
        """Record what the tribunal did with a filing. The tribunal's outcome is the client's answer even when
        this fails (the row then stays ``sending`` until it expires: resends are MNI-E050, never a second filing)."""
        try:
            await store.write(self.committer, job)
        except GatewayError:
            log.exception("could not record the outcome of an MNI filing")

    async def _documents_hash(self, caller: Caller, inst: Installation, number: str | None) -> str | None:
        if number is None:
            return None
        try:
            _out, parsed = await self._call_own(caller, inst, "consultarAlteracao", contract.alteracao_inner(number))
        except GatewayError:
            return None
        return contract.hash_documentos(parsed)

    async def _reconcile(self, caller: Caller, inst: Installation, number: str | None, key: str,
                         before: str | None) -> HubAnswer | None:
        """Decide an indeterminate filing through consultarAlteracao: filed → answered without resending; not
        filed → forgotten, and None (it is sent now); unknown → still indeterminate (MNI-E043)."""
        outcome = domain.reconcile(number, before, await self._documents_hash(caller, inst, number))
        if outcome is Reconciliation.UNKNOWN:
            raise hub_error("MNI-E043", "Não foi possível reconciliar: confirme no tribunal antes de reenviar.")
        if outcome is Reconciliation.FILED:
            text = ("Manifestação entregue anteriormente (reconciliada por consultarAlteracao: os documentos do "
                    "processo mudaram desde o envio); o tribunal não informou o protocolo.")
            answer = error_response(_FILING, "MNI-E050", text, sucesso=True)
            await store.write(self.committer, store.settle_filing(key, FilingState.DONE, None, answer))
            return HubAnswer(answer)
        await store.write(self.committer, store.settle_filing(key, None))
        return None

    # -- audit ------------------------------------------------------------------------------------------------

    async def drain(self) -> None:
        """Wait for the audit entries still on their way (at shutdown)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def aclose(self) -> None:
        """Wait for the audit entries on their way, then close the tribunal client's connections."""
        await self.drain()
        await self.tribunal.aclose()

    async def _audit(self, caller: Caller | None, operation: str, installations: Sequence[str], request_digest: str,
                     response: bytes) -> None:
        detail = {"cliente": caller.organ_code if caller else None, "usuario": caller.username if caller else None,
                  "operacao": operation, "instalacoes": list(installations), "requisicao": request_digest,
                  "resposta": digest(response)}
        try:
            await store.write(self.committer, store.audit_call(
                operation, self.clock.now(), caller.organ_id if caller else None, request_digest, detail))
        except GatewayError:
            log.exception("could not audit an MNI call")
