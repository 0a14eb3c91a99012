"""The MNI hub service (gateway/hub/service.py) on a real database with tribunals behind the fake tribunal client:
routing, deny by default, idempotent filings, the corrected failure translations (nothing sent → MNI-E041, a
storage failure → MNI-E091), indeterminate filings reconciled, avisos merged — cheaper than the e2e suite, which
runs the same paths through real processes."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
from collections import defaultdict
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from adapters.tribunal import AiohttpTribunalClient, FakeTribunalClient, TribunalAnswer, TribunalCall, TribunalClient
from gateway.auth import Authenticator
from gateway.clock import FakeClock
from gateway.db.committer import GroupCommitter
from gateway.db.engine import make_engine
from gateway.db.tables import mni_filings, mni_process_locations, organs
from gateway.errors import Conflict, PartnerTimeout, PartnerUnreachable
from gateway.hub import store
from gateway.hub.credentials import CredentialStore, TribunalCredential, fernet_key
from gateway.hub.registry import Registry, parse_registry
from gateway.hub.service import Hub
from gateway.settings import Settings
from tests.support import KDF_N, SECRET, password_of

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICO = "http://www.cnj.jus.br/servico-intercomunicacao-2.2.2/"
TIPOS = "http://www.cnj.jus.br/tipos-servico-intercomunicacao-2.2.2"
INTER = "http://www.cnj.jus.br/intercomunicacao-2.2.2"
PJE = "08123459320198190001"  # 8.19, installation 1
SECOND = "00234564420188190001"  # 8.19, installation 2
EPROC = "50123459520234047100"  # 4.04
NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
FILING = "entregarManifestacaoProcessual"


def registry(urls: dict[str, str] | None = None) -> Registry:
    """TJRJ (two installations) and TRF4 (one); PGFN reaches both, PGF only TJRJ. *urls* overrides by key."""
    u = {"8.19/1": "http://t/8.19/1", "8.19/2": "http://t/8.19/2", "4.04/1": "http://t/4.04/1", **(urls or {})}
    return parse_registry({
        "tribunais": [{"jtr": "8.19", "instalacoes": [{"instancia": "1", "url": u["8.19/1"]},
                                                      {"instancia": "2", "url": u["8.19/2"]}]},
                      {"jtr": "4.04", "instalacoes": [{"instancia": "1", "url": u["4.04/1"]}]}],
        "clientes": {"PGFN": {"tribunais": ["8.19", "4.04"]}, "PGF": {"tribunais": ["8.19"]}}})


def answer(operation: str, sucesso: bool, mensagem: str, inner: str = "") -> TribunalAnswer:
    """A tribunal's MNI answer."""
    return TribunalAnswer(200, "text/xml; charset=utf-8", (
        f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:ser="{SERVICO}" xmlns:tip="{TIPOS}" xmlns:int="{INTER}">'
        f"<soap:Body><ser:{operation}Resposta><tip:sucesso>{str(sucesso).lower()}</tip:sucesso>"
        f"<tip:mensagem>{mensagem}</tip:mensagem>{inner}</ser:{operation}Resposta></soap:Body></soap:Envelope>"
    ).encode())


@dataclass
class Tribunals:
    """Tribunal installations in memory, behind a :class:`FakeTribunalClient`. ``faults`` makes an operation fail
    as the real client reports it: ``unreachable`` (nothing sent), ``timeout`` (sent, the tribunal did nothing),
    ``timeout-after-acting`` / ``unreadable-after-acting`` (it filed, then no answer / an unreadable one),
    ``hold`` (the filing waits for ``release``)."""

    processes: dict[str, set[str]] = field(default_factory=lambda: {
        "http://t/8.19/1": {PJE}, "http://t/8.19/2": {SECOND}, "http://t/4.04/1": {EPROC}})
    avisos: dict[str, list[str]] = field(default_factory=lambda: {
        "http://t/8.19/1": ["202611200000001"], "http://t/8.19/2": ["202611200000002"],
        "http://t/4.04/1": ["202611200000003"]})
    faults: dict[tuple[str, str], str] = field(default_factory=dict)  # (url or "*", operation) → fault
    documents: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    filed: list[str] = field(default_factory=list)
    release: asyncio.Event | None = None

    def client(self) -> FakeTribunalClient:
        """A fake client answering as these tribunals."""
        return FakeTribunalClient(self.answer)

    def fault(self, call: TribunalCall) -> str | None:
        """The fault set for *call*, if any."""
        return self.faults.get((call.url, call.operation)) or self.faults.get(("*", call.operation))

    def answer(self, call: TribunalCall) -> TribunalAnswer | Awaitable[TribunalAnswer]:
        """Answer *call* like an MNI server (see the class docstring for faults)."""
        fault = self.fault(call)
        if fault == "unreachable":
            raise PartnerUnreachable("tribunal inacessível (ClientConnectorError)", retryable=True)
        if fault == "timeout":
            raise PartnerTimeout("tempo esgotado", retryable=True)
        found = re.search(rb"numeroProcesso>(\d{20})<", call.body)
        number = found.group(1).decode() if found else None
        op = call.operation
        if op == "consultarAvisosPendentes":
            inner = "".join(f'<tip:aviso idAviso="{a}"><int:processo numero="{PJE}"/></tip:aviso>'
                            for a in self.avisos.get(call.url, []))
            return answer(op, True, "ok", inner)
        if op == "consultarTeorComunicacao":
            return answer(op, True, f"teor em {call.url}")
        if number not in self.processes.get(call.url, set()):
            return answer(op, False, "Processo não encontrado")
        if op == "consultarAlteracao":
            return answer(op, True, "ok", f"<tip:hashDocumentos>h{self.documents[number]}</tip:hashDocumentos>")
        if op != FILING:
            return answer(op, True, "ok")
        return self._file(number, fault)

    def _file(self, number: str, fault: str | None) -> TribunalAnswer | Awaitable[TribunalAnswer]:
        self.documents[number] += 1
        self.filed.append(number)
        if fault == "timeout-after-acting":
            raise PartnerTimeout("tempo esgotado", retryable=True)
        if fault == "unreadable-after-acting":
            return TribunalAnswer(502, "text/html", b"<html>Bad gateway</html>")
        done = answer(FILING, True, "ok", f"<tip:protocoloRecebimento>P-{len(self.filed)}</tip:protocoloRecebimento>"
                                          "<tip:dataOperacao>20261121120000</tip:dataOperacao>")
        if fault == "hold" and self.release is not None:
            event = self.release

            async def later() -> TribunalAnswer:
                await asyncio.wait_for(event.wait(), timeout=10)
                return done
            return later()
        return done


@dataclass
class Env:
    """A hub on a seeded SQLite database, its clock and its engines."""

    url: str
    clock: FakeClock
    writer: Engine
    reader: Engine
    committer: GroupCommitter
    credentials: CredentialStore

    def hub(self, client: TribunalClient, reg: Registry | None = None) -> Hub:
        """A hub routing through *client*."""
        auth = Authenticator(self.reader, SECRET.encode(), 60, KDF_N)
        return Hub(reg or registry(), self.credentials, auth, self.committer, self.reader, self.clock, client,
                   Settings.from_env({}).mni_limits, timedelta(hours=24))

    def filing_states(self) -> list[str]:
        """The states of every remembered filing."""
        with self.reader.connect() as conn:
            return sorted(conn.execute(select(mni_filings.c.state)).scalars())


@pytest.fixture
def env(sqlite_url: str) -> Iterator[Env]:
    """A seeded database with PGFN's and PGF's credentials towards every installation, a started committer."""
    writer, reader = make_engine(sqlite_url, writer=True), make_engine(sqlite_url)
    clock = FakeClock(NOW)
    credentials = CredentialStore(fernet_key("", SECRET))
    with writer.begin() as conn:
        ids = {r.code: r.id for r in conn.execute(select(organs.c.id, organs.c.code))}
        for organ in ("PGFN", "PGF"):
            for jtr, inst in (("8.19", "1"), ("8.19", "2"), ("4.04", "1")):
                credentials.put(conn, ids[organ], jtr, inst,
                                TribunalCredential(f"{organ.lower()}-{jtr}-{inst}", "senha-no-tribunal"), NOW)
    committer = GroupCommitter(writer, clock, None)
    committer.start()
    yield Env(sqlite_url, clock, writer, reader, committer, credentials)
    committer.stop()
    writer.dispose()
    reader.dispose()


def request(operation: str, inner: str, user: str = "pgfn-mni") -> bytes:
    """A client's MNI request with its hub credential (MNI fields)."""
    who = ("idManifestante", "senhaManifestante") if operation == FILING else ("idConsultante", "senhaConsultante")
    return (f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:ser="{SERVICO}" xmlns:tip="{TIPOS}" xmlns:int="{INTER}">'
            f"<soap:Body><ser:{operation}><tip:{who[0]}>{user}</tip:{who[0]}>"
            f"<tip:{who[1]}>{password_of(user)}</tip:{who[1]}>{inner}</ser:{operation}></soap:Body>"
            "</soap:Envelope>").encode()


def consult(number: str, user: str = "pgfn-mni") -> bytes:
    """consultarProcesso of *number*."""
    return request("consultarProcesso", f"<tip:numeroProcesso>{number}</tip:numeroProcesso>", user)


def filing(number: str, seed: str = "a") -> bytes:
    """An incidental filing of one small document (its content from *seed*)."""
    content = base64.b64encode(b"%PDF-" + seed.encode()).decode()
    return request(FILING, f"<tip:numeroProcesso>{number}</tip:numeroProcesso>"
                           '<tip:documento mimetype="application/pdf" tipoDocumento="58">'
                           f"<int:conteudo>{content}</int:conteudo></tip:documento>"
                           "<tip:dataEnvio>20261121120000</tip:dataEnvio>")


@dataclass(frozen=True)
class Answer:
    """sucesso, mensagem, its MNI code and protocoloRecebimento of a hub answer."""

    sucesso: bool
    mensagem: str
    code: str | None
    protocol: str | None


def read(body: bytes) -> Answer:
    """The parts of a hub answer the tests look at."""
    root = etree.fromstring(body)
    mensagem = root.findtext(f".//{{{TIPOS}}}mensagem") or ""
    found = re.match(r"(MNI-E\d{3})", mensagem)
    return Answer(root.findtext(f".//{{{TIPOS}}}sucesso") == "true", mensagem, found.group(1) if found else None,
                  root.findtext(f".//{{{TIPOS}}}protocoloRecebimento") or None)


def run(hub: Hub, *bodies: bytes) -> list[Answer]:
    """Send *bodies* one after the other through *hub* and wait for their audit entries."""
    async def main() -> list[Answer]:
        out = [read((await hub.handle([b], "text/xml; charset=utf-8")).body) for b in bodies]
        await hub.drain()
        return out
    return asyncio.run(main())


def test_consultation_probes_remembers_and_forwards_with_the_hubs_credential(env: Env) -> None:
    """A process of the second installation is found by probing with the request (first installation: not found),
    remembered in the database, and the next call goes straight there; the tribunal sees the hub's credential
    towards that installation, never the client's password."""
    tribunals = Tribunals()
    fake = tribunals.client()
    first, again = run(env.hub(fake), consult(SECOND), consult(SECOND))
    assert first.sucesso and again.sucesso
    assert [c.url for c in fake.calls] == ["http://t/8.19/1", "http://t/8.19/2", "http://t/8.19/2"]
    assert all(b"pgfn-8.19-" in c.body and password_of("pgfn-mni").encode() not in c.body for c in fake.calls)
    with env.reader.connect() as conn:
        assert conn.execute(select(mni_process_locations.c.instance).where(
            mni_process_locations.c.process_number == SECOND)).scalar_one() == "2"
    fresh = tribunals.client()  # a new hub (empty memory) reads the location from the database
    assert run(env.hub(fresh), consult(SECOND))[0].sucesso and [c.url for c in fresh.calls] == ["http://t/8.19/2"]


def test_deny_by_default_reaches_no_tribunal(env: Env) -> None:
    """PGF's registry entry lists only TJRJ: a TRF4 process is MNI-E040 and no tribunal is called."""
    fake = Tribunals().client()
    refused, = run(env.hub(fake), consult(EPROC, user="pgf-mni"))
    assert (refused.sucesso, refused.code) == (False, "MNI-E040") and fake.calls == []


def test_filing_is_replayed_within_the_ttl_and_sent_again_after(env: Env) -> None:
    """The same filing within 24 h gets the stored answer without reaching the tribunal again; once the filing
    expired (the injected clock moved 25 h) it is sent again."""
    tribunals = Tribunals()
    hub = env.hub(tribunals.client())
    first, again = run(hub, filing(EPROC), filing(EPROC))
    assert first.sucesso and first.protocol == "P-1" and again == first and tribunals.filed == [EPROC]
    env.clock.advance(25 * 3600)
    later, = run(hub, filing(EPROC))
    assert later.sucesso and later.protocol == "P-2" and tribunals.filed == [EPROC, EPROC]


def test_a_filing_that_reached_no_tribunal_is_unreachable_and_can_be_resent(env: Env) -> None:
    """When nothing was sent (connection refused), a filing is MNI-E041 — not MNI-E043 'may have been filed' —
    and forgotten: the resend reaches the tribunal and is filed once."""
    tribunals = Tribunals(faults={("*", FILING): "unreachable"})
    hub = env.hub(tribunals.client())
    failed, = run(hub, filing(EPROC))
    assert (failed.sucesso, failed.code) == (False, "MNI-E041") and env.filing_states() == []
    tribunals.faults.clear()
    resent, = run(hub, filing(EPROC))
    assert resent.sucesso and tribunals.filed == [EPROC]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("url", ["htp:/tribunal/eproc", "http://127.0.0.1:{port}/eproc"])
def test_a_malformed_or_refusing_tribunal_url_is_unreachable_with_the_real_client(env: Env, url: str) -> None:
    """With the real aiohttp client, a filing towards a malformed URL or a closed port answers MNI-E041 and leaves
    no filing behind (before, any aiohttp error was 'resultado indeterminado', MNI-E043)."""
    client = AiohttpTribunalClient(timeout_s=5, connect_timeout_s=2)
    hub = env.hub(client, registry({"4.04/1": url.format(port=_free_port())}))
    try:
        failed, = run(hub, filing(EPROC))
    finally:
        asyncio.run(client.aclose())
    assert (failed.sucesso, failed.code) == (False, "MNI-E041"), failed.mensagem
    assert env.filing_states() == []


def test_a_storage_failure_while_filing_is_e091_and_nothing_is_sent(env: Env) -> None:
    """When the database cannot record the filing (here: inserting into mni_filings fails), the answer is
    MNI-E091 'try again' — not MNI-E050 'being delivered' — and the tribunal never received the filing."""
    with env.writer.begin() as conn:
        conn.execute(text("CREATE TRIGGER broken BEFORE INSERT ON mni_filings BEGIN "
                          "INSERT INTO tabela_inexistente VALUES (1); END"))
    tribunals = Tribunals()
    fake = tribunals.client()
    failed, = run(env.hub(fake), filing(EPROC))
    assert (failed.sucesso, failed.code) == (False, "MNI-E091"), failed.mensagem
    assert tribunals.filed == [] and FILING not in [c.operation for c in fake.calls]
    with env.writer.begin() as conn:
        conn.execute(text("DROP TRIGGER broken"))
    assert run(env.hub(fake), filing(EPROC))[0].sucesso and tribunals.filed == [EPROC]


def test_the_same_filing_twice_at_once_is_e050_and_filed_once(env: Env) -> None:
    """A second identical filing while the first is with the tribunal is MNI-E050; the first gets its protocol
    and the tribunal holds one filing."""
    tribunals = Tribunals(faults={("*", FILING): "hold"})

    async def main() -> tuple[Any, ...]:
        tribunals.release = asyncio.Event()
        fake = tribunals.client()
        hub = env.hub(fake)
        first = asyncio.get_running_loop().create_task(hub.handle([filing(EPROC)], "text/xml"))
        deadline = asyncio.get_running_loop().time() + 10
        while FILING not in [c.operation for c in fake.calls]:  # the first is now with the tribunal
            assert asyncio.get_running_loop().time() < deadline, "the first filing never reached the tribunal"
            await asyncio.sleep(0.01)
        second = await hub.handle([filing(EPROC)], "text/xml")
        tribunals.release.set()
        done = await first
        await hub.drain()
        return read(done.body), read(second.body)

    first, second = asyncio.run(main())
    assert first.sucesso and first.protocol == "P-1"
    assert (second.sucesso, second.code) == (False, "MNI-E050") and tribunals.filed == [EPROC]


def test_a_live_filing_under_the_same_key_is_a_conflict_in_the_job(env: Env) -> None:
    """Recording a filing whose key another request already holds (e.g. a replica that got there first) is a
    Conflict (MNI-E050) raised by the job before it writes; once that filing expired the key is reused."""
    inst = registry().tribunals["4.04"].installations[0]

    async def start(at: datetime) -> None:
        await store.write(env.committer, store.start_filing("k" * 64, 1, inst, EPROC, ["d"], "h0", at,
                                                            timedelta(hours=24)))

    asyncio.run(start(NOW))
    with pytest.raises(Conflict) as e:
        asyncio.run(start(NOW + timedelta(hours=1)))
    assert e.value.code == "MNI-E050"
    asyncio.run(start(NOW + timedelta(hours=25)))
    assert env.filing_states() == ["sending"]


@pytest.mark.parametrize("fault", ["timeout-after-acting", "unreadable-after-acting"])
def test_an_unknown_outcome_is_indeterminate_and_reconciled_as_filed(env: Env, fault: str) -> None:
    """The tribunal filed it but its answer did not come (MNI-E043) or could not be read (MNI-E047): the filing
    stays indeterminate; the resend is reconciled through consultarAlteracao (documents changed → filed) and
    answered without a second filing."""
    tribunals = Tribunals(faults={("*", FILING): fault})
    hub = env.hub(tribunals.client())
    unknown, = run(hub, filing(EPROC))
    assert unknown.code == ("MNI-E043" if fault.startswith("timeout") else "MNI-E047"), unknown.mensagem
    assert env.filing_states() == ["indeterminate"]
    tribunals.faults.clear()
    reconciled, = run(hub, filing(EPROC))
    assert reconciled.sucesso and "reconciliada" in reconciled.mensagem and tribunals.filed == [EPROC]
    assert env.filing_states() == ["done"]


def test_an_unknown_outcome_not_filed_is_sent_on_resend(env: Env) -> None:
    """The tribunal held the filing without acting (MNI-E043): on resend the documents are unchanged, so it is
    sent now and filed once."""
    tribunals = Tribunals(faults={("*", FILING): "timeout"})
    hub = env.hub(tribunals.client())
    unknown, = run(hub, filing(EPROC))
    assert unknown.code == "MNI-E043" and tribunals.filed == []
    tribunals.faults.clear()
    resent, = run(hub, filing(EPROC))
    assert resent.sucesso and resent.protocol == "P-1" and tribunals.filed == [EPROC]


def test_avisos_merged_with_a_failure_named_and_teor_routed_by_aviso(env: Env) -> None:
    """Avisos are fanned out to every installation of PGFN's tribunals and merged, TRF4's failure named in
    mensagem; consultarTeorComunicacao by identificadorAviso then reaches the installation that listed it."""
    tribunals = Tribunals(faults={("http://t/4.04/1", "consultarAvisosPendentes"): "unreachable"})
    fake = tribunals.client()
    avisos, teor = run(env.hub(fake), request("consultarAvisosPendentes", ""),
                       request("consultarTeorComunicacao",
                               "<tip:identificadorAviso>202611200000002</tip:identificadorAviso>"))
    assert avisos.sucesso and avisos.mensagem.startswith("2 aviso(s) de 2 instalação(ões). Falhas: 4.04/1: ")
    assert teor.sucesso and teor.mensagem == "teor em http://t/8.19/2"
    assert fake.calls[-1].url == "http://t/8.19/2"


def test_every_call_is_audited(env: Env) -> None:
    """Each call, refused or routed, is one audit entry naming the client, the installations and the digests."""
    import json

    from gateway.db.tables import audit_log

    run(env.hub(Tribunals().client()), consult(PJE), consult(EPROC, user="pgf-mni"))
    with env.reader.connect() as conn:
        details = [json.loads(d) for d in conn.execute(select(audit_log.c.detail).where(
            audit_log.c.event == "mni.consultarProcesso")).scalars()]
    assert [(d["cliente"], d["instalacoes"]) for d in details] == [("PGFN", ["8.19/1"]), ("PGF", [])]
    assert all(len(d["requisicao"]) == 64 and len(d["resposta"]) == 64 for d in details)



def test_a_process_no_installation_could_answer_names_each_failure_once(env: Env) -> None:
    """Probing for an unknown process while every installation fails without answering: MNI-E042 whose
    ``mensagem`` states the catalogue's sentence once and then each installation's own failure, without repeating
    the sentence inside each (a newcomer read "Tempo esgotado… 8.19/1: Tempo esgotado… 8.19/1: conexão…")."""
    tribunals = Tribunals(faults={("*", "consultarProcesso"): "timeout"})
    got = run(env.hub(tribunals.client()), consult(SECOND))[0]
    assert not got.sucesso and got.code == "MNI-E042", got.mensagem
    sentence = "Sem resposta do tribunal"
    assert got.mensagem.count(sentence) == 1, got.mensagem
    assert "8.19/1: tempo esgotado" in got.mensagem and "8.19/2: tempo esgotado" in got.mensagem, got.mensagem
