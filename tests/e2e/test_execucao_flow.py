"""Execuções fiscais end to end (issue 12 points 1–5): ``gateway serve`` as a real process filing through its MNI hub
at the six simulated regional federal courts (two simulator processes: TRF4 alone, TRF1/2/3/5/6 under prefixes), the
REST API with bearer tokens — on SQLite and PostgreSQL. A filing is protocolled in the TRF of the debtor's State and
its number read back; a resend with the same reference is the same filing; a CDA already filed is refused with its
process; a court down is retried; an answer lost leaves the filing ``indeterminada`` — resolved by a person or by
the court's intimation, never by a second filing; each refusal answers 422 with its code and nothing is stored."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.bootstrap import console
from gateway.divida.execucao import samples
from gateway.divida.execucao.documents import Signatario, create_signatario
from gateway.settings import Settings
from tests.support import KDF_N, GatewayProcess, password_of, test_settings, wait_until

pytestmark = pytest.mark.e2e
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "execucao"
PROCURADOR = "52998224725"
TRFS = ("4.01", "4.02", "4.03", "4.04", "4.05", "4.06")
FAST = {"GATEWAY_INTIMACOES_INTERVALO_S": "0.3", "GATEWAY_INTIMACOES_TIMEOUT_S": "3",
        "GATEWAY_INTIMACOES_BACKOFF_MAX_S": "1", "GATEWAY_EXECUCAO_TIMEOUT_S": "2", "GATEWAY_RELAY_ENABLED": "true"}


class FederalCourts:
    """The six TRFs as two simulator processes; ``url(jtr)`` is each court's own base URL."""

    def __init__(self) -> None:
        from gateway.sandbox import FEDERAL, expand_federal, start_mock

        self.procs = [start_mock("tribunal", "127.0.0.1", 0, args=("--profile", "eproc-trf4"), name="tribunal-4.04"),
                      start_mock("tribunal", "127.0.0.1", 0, args=("--profile", "federal"), name=FEDERAL)]
        self.urls = expand_federal({p.name: p.url for p in self.procs})
        self.reset()

    def url(self, jtr: str) -> str:
        """Base URL of court *jtr*."""
        return self.urls[f"tribunal-{jtr}"]

    def reset(self) -> None:
        """Demo data, no faults, no intimation timer, in every court."""
        for jtr in TRFS:
            httpx.post(self.url(jtr) + "/_mock/reset", timeout=10).raise_for_status()
            httpx.post(self.url(jtr) + "/_mock/intimacoes/config", json={"intervalo_s": 0},
                       timeout=10).raise_for_status()

    def filings(self, jtr: str) -> list[dict[str, Any]]:
        """The ``entregarManifestacaoProcessual`` calls court *jtr* received."""
        return [e for e in httpx.get(self.url(jtr) + "/_mock/received", timeout=10).json()
                if e["operation"] == "entregarManifestacaoProcessual"]

    def stop(self) -> None:
        """Stop both processes."""
        for p in self.procs:
            p.stop()


@pytest.fixture(scope="module")
def courts() -> Iterator[FederalCourts]:
    """The simulated TRFs for this module."""
    c = FederalCourts()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Signatario, Path, Path]:
    """The procuradoria's signing key (also signing the test CDAs)."""
    d = tmp_path_factory.mktemp("keys")
    key, cert = d / "key.pem", d / "cert.pem"
    return create_signatario(str(key), str(cert), "Procuradoria de teste"), key, cert


@pytest.fixture
def gateway(db_url: str, courts: FederalCourts, signer: tuple[Signatario, Path, Path],
            tmp_path: Path) -> Iterator[GatewayProcess]:
    """A gateway whose hub reaches the six TRFs for PGFN and PGF (both with ``execucao-fiscal:ajuizar``)."""
    from gateway.hub.demo import configure, describe

    courts.reset()
    with console(Settings.from_env({}, database_url=db_url, password_kdf_n=KDF_N)) as con:
        con.admin.grant("PGFN", ["execucao-fiscal:ajuizar", "intimacoes:ler"])
        con.admin.grant("PGF", ["execucao-fiscal:ajuizar", "intimacoes:ler"])
    registry = tmp_path / "mni-registry.json"
    settings = test_settings(db_url, tmp_path, execucao_chave_path=str(signer[1]),
                             execucao_certificado_path=str(signer[2]))
    with console(settings) as con:
        configure(con.admin, describe([courts.url(j) for j in TRFS]), registry)
    env = {**FAST, "GATEWAY_EXECUCAO_CHAVE_PATH": str(signer[1]), "GATEWAY_EXECUCAO_CERTIFICADO_PATH": str(signer[2])}
    proc = GatewayProcess(settings.with_(mni_registry_path=str(registry)), tmp_path / "gateway.log", env).start()
    yield proc
    proc.stop()
    courts.reset()


def token(gw: GatewayProcess, username: str = "pgfn-mni") -> str:
    """A bearer token of *username*'s organ."""
    r = httpx.post(gw.url + "/oauth/token", auth=(username, password_of(username)),
                   data={"grant_type": "client_credentials"}, timeout=30)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def post(gw: GatewayProcess, tok: str, body: object, xml: bytes | None = None) -> httpx.Response:
    """POST /api/v1/execucoes-fiscais (JSON, or *xml* as ListaCDA)."""
    headers = {"Authorization": f"Bearer {tok}"}
    if xml is not None:
        return httpx.post(gw.url + "/api/v1/execucoes-fiscais", content=xml,
                          headers={**headers, "Content-Type": "application/xml"}, timeout=60)
    return httpx.post(gw.url + "/api/v1/execucoes-fiscais", json=body, headers=headers, timeout=60)


def get(gw: GatewayProcess, tok: str, ident: str) -> dict[str, Any]:
    """GET one filing."""
    r = httpx.get(f"{gw.url}/api/v1/execucoes-fiscais/{ident}", headers={"Authorization": f"Bearer {tok}"},
                  timeout=30)
    assert r.status_code == 200, r.text
    return dict(r.json())


def settled(gw: GatewayProcess, tok: str, ident: str, state: str, timeout: float = 30) -> dict[str, Any]:
    """Wait until filing *ident* is in *state*; return it."""
    seen: list[dict[str, Any]] = []

    def there() -> bool:
        seen[:] = [get(gw, tok, ident)]
        return bool(seen[0]["situacao"] == state)

    wait_until(there, timeout=timeout, interval=0.1, what=f"execução {ident} em {state} (última: {seen})")
    return seen[0]


def test_filed_in_every_trf_by_the_debtors_state_for_pgfn_and_pgf(
        gateway: GatewayProcess, courts: FederalCourts, signer: tuple[Signatario, Path, Path]) -> None:
    """One filing per TRF (the debtor's municipality decides it; MG → TRF6) for PGFN and one per TRF for PGF (the
    autarchy as polo ativo): each answered 202 at once, protocolled with a new class-1116 number of that court, read
    back by GET and the list; a resend with the same reference answers the same id; every court received exactly one
    petition per filing."""
    tokens = {"PGFN": token(gateway), "PGF": token(gateway, "pgf-mni")}
    ids: dict[tuple[str, str], str] = {}
    for n, jtr in enumerate(TRFS, start=1):
        for proc, tok in tokens.items():
            body = samples.request(signer[0], f"{proc}-{jtr}", n=n + (100 if proc == "PGF" else 0), jtr=jtr,
                                   procuradoria=proc)
            r = post(gateway, tok, body)
            assert r.status_code == 202, r.text
            assert r.json()["situacao"] in ("recebida", "enviada", "protocolada") and r.json()["tribunal"] == jtr
            ids[(proc, jtr)] = r.json()["id"]
            again = post(gateway, tok, body)
            assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    for (proc, jtr), ident in ids.items():
        done = settled(gateway, tokens[proc], ident, "protocolada")
        number = done["numeroProcesso"]
        assert number and number[13:16] == jtr.replace(".", ""), done
        assert done["protocolo"]
    for jtr in TRFS:
        assert len(courts.filings(jtr)) == 2, jtr  # PGFN's and PGF's, each once
    page = httpx.get(gateway.url + "/api/v1/execucoes-fiscais", params={"situacao": "protocolada", "limite": 4},
                     headers={"Authorization": f"Bearer {tokens['PGFN']}"}, timeout=30).json()
    assert len(page["itens"]) == 4 and page["proximo"]
    rest = httpx.get(gateway.url + "/api/v1/execucoes-fiscais", params={"cursor": page["proximo"], "limite": 4},
                     headers={"Authorization": f"Bearer {tokens['PGFN']}"}, timeout=30).json()
    assert len(rest["itens"]) == 2 and rest["proximo"] is None


def test_each_refusal_has_its_code_and_stores_nothing(
        gateway: GatewayProcess, courts: FederalCourts, signer: tuple[Signatario, Path, Path]) -> None:
    """Each kind of refusal answers a 422 problem listing every failure with its ``EXEC-E…`` code and the field
    naming the CDA — identifiers, a missing requisite, a bad or absent signature, no conciliation, no protest,
    different debtors, a municipality without a court unit, eproc's ListaCDA example (field by field) — and nothing
    is stored nor sent; a CDA already filed is refused (409) with the process it went to."""
    tok = token(gateway)
    good = samples.request(signer[0], "R-ok", n=7, jtr="4.06")

    def refused(body: object, code: str, field: str, xml: bytes | None = None) -> dict[str, Any]:
        r = post(gateway, tok, body, xml)
        assert r.status_code == 422, r.text
        problem = r.json()
        assert problem["codigo"].startswith("EXEC-E") or problem["codigo"].startswith("MNI-E")
        assert any(e["codigo"] == code and e["campo"] == field for e in problem["erros"]), problem
        return problem

    def changed(**what: Any) -> dict[str, Any]:
        body = copy.deepcopy(good)
        body["referencia"] = f"R-{len(what)}-{sorted(what)[0]}"
        for path, value in what.items():
            target = body["cdas"][0]
            keys = path.split("__")
            for k in keys[:-1]:
                target = target[k]
            if value is None:
                target.pop(keys[-1])
            else:
                target[keys[-1]] = value
        return body

    refused(changed(devedor__cpfCnpj="11222333000100"), "EXEC-E003", "cdas[0].devedor.cpfCnpj")
    refused(changed(devedor__cpfCnpj=None), "EXEC-E010", "cdas[0].devedor.cpfCnpj")
    refused(changed(fundamentoLegal=None), "EXEC-E002", "cdas[0].fundamentoLegal")
    refused(changed(numeroInscricao="7061000000199"), "EXEC-E003", "cdas[0].numeroInscricao")
    refused(changed(conciliacao=None), "EXEC-E011", "cdas[0].conciliacao")
    refused(changed(protesto=None), "EXEC-E012", "cdas[0].protesto")
    refused(changed(documento__assinatura=None), "EXEC-E014", "cdas[0].documento.assinatura")
    other = samples.cda(signer[0], samples.inscricao_pgfn(999), samples.cnpj(999), "3106200", "MG")
    tampered = changed(documento__pdf=other["documento"]["pdf"])
    refused(tampered, "EXEC-E014", "cdas[0].documento.assinatura")
    refused(changed(devedor__endereco__municipioIbge="3100104"), "EXEC-E016",
            "cdas[0].devedor.endereco.municipioIbge")
    two = copy.deepcopy(good)
    two["referencia"] = "R-two"
    two["cdas"].append(other)
    refused(two, "EXEC-E005", "cdas[1].devedor")
    example = (FIXTURES / "ListaCDA_outroParametro_payload.xml").read_bytes()
    problem = refused(None, "EXEC-E002", "referencia", xml=example)
    fields = {e["campo"] for e in problem["erros"]}
    for i in (0, 1):
        for member in ("devedor", "dataInscricao", "valorPrincipal", "documento", "fundamentoLegal"):
            assert f"cdas[{i}].{member}" in fields, (member, fields)
    listing = httpx.get(gateway.url + "/api/v1/execucoes-fiscais", headers={"Authorization": f"Bearer {tok}"},
                        timeout=30).json()
    assert listing["itens"] == []
    assert courts.filings("4.06") == []
    r = post(gateway, tok, good)
    assert r.status_code == 202
    number = settled(gateway, tok, r.json()["id"], "protocolada")["numeroProcesso"]
    again = copy.deepcopy(good)
    again["referencia"] = "R-again"
    conflict = post(gateway, tok, again)
    assert conflict.status_code == 409 and conflict.json()["codigo"] == "EXEC-E020"
    assert number in conflict.json()["mensagem"]


def test_court_down_is_retried_then_protocolled_once(
        gateway: GatewayProcess, courts: FederalCourts, signer: tuple[Signatario, Path, Path]) -> None:
    """With TRF5 refusing connections the filing stays ``recebida`` (nothing was sent) and is retried; once the court
    is back it is protocolled, and the court holds exactly one petition."""
    tok = token(gateway)
    courts_url = courts.url("4.05")
    httpx.post(courts_url + "/_mock/faults", json={"error_rate": 1.0, "status": 503}, timeout=10).raise_for_status()
    r = post(gateway, tok, samples.request(signer[0], "R-down", n=21, jtr="4.05"))
    assert r.status_code == 202
    ident = r.json()["id"]
    wait_until(lambda: get(gateway, tok, ident)["tentativas"] >= 2, timeout=40, interval=0.2,
               what="novas tentativas com o tribunal fora")
    assert get(gateway, tok, ident)["situacao"] in ("recebida", "enviada")
    httpx.post(courts_url + "/_mock/faults", json={}, timeout=10).raise_for_status()
    done = settled(gateway, tok, ident, "protocolada", timeout=60)
    created = [f for f in courts.filings("4.05") if f.get("numeroProcessoCriado")]
    assert [f["numeroProcessoCriado"] for f in created] == [done["numeroProcesso"]]


def test_answer_lost_is_indeterminada_and_resolved_without_a_second_filing(
        gateway: GatewayProcess, courts: FederalCourts, signer: tuple[Signatario, Path, Path]) -> None:
    """The court files the petition but answers after the gateway's timeout: the filing is ``indeterminada`` and is
    never sent again. One is resolved by a person (the process number found, audited with On-Behalf-Of); another by
    the court's intimation on the process it created (class 1116, the debtor in the polo passivo, the same value).
    Each court holds exactly one process per filing."""
    tok = token(gateway)
    url = courts.url("4.02")
    httpx.post(url + "/_mock/config", json={"delay_after_ms": {"entregarManifestacaoProcessual": 3500}},
               timeout=10).raise_for_status()
    a = post(gateway, tok, samples.request(signer[0], "R-lost-a", n=31, jtr="4.02")).json()["id"]
    settled(gateway, tok, a, "indeterminada")
    by_a = [f["numeroProcessoCriado"] for f in courts.filings("4.02") if f.get("numeroProcessoCriado")]
    assert len(by_a) == 1  # the court did file it
    b = post(gateway, tok, samples.request(signer[0], "R-lost-b", n=32, jtr="4.02", valor="17000.00")).json()["id"]
    for ident in (a, b):
        lost = settled(gateway, tok, ident, "indeterminada")
        assert lost["numeroProcesso"] is None and lost["tentativas"] == 1
    httpx.post(url + "/_mock/config", json={"delay_after_ms": {}}, timeout=10).raise_for_status()
    created = {f["numeroProcessoCriado"] for f in courts.filings("4.02") if f.get("numeroProcessoCriado")}
    assert len(created) == 2
    # a person resolves the first with the number found at the court
    r = httpx.post(f"{gateway.url}/api/v1/execucoes-fiscais/{a}/resolucao",
                   json={"numeroProcesso": by_a[0],
                         "justificativa": "Processo localizado na consulta pública do TRF2."},
                   headers={"Authorization": f"Bearer {tok}", "On-Behalf-Of": PROCURADOR}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["situacao"] == "protocolada" and r.json()["resolucao"]["por"] == PROCURADOR
    # the court intimates the procuradoria on the other process: the gateway proves the second filing protocolled
    other = next(n for n in created if n != by_a[0])
    httpx.post(url + "/_mock/intimacoes", json={"numeroProcesso": other}, timeout=10).raise_for_status()
    done = settled(gateway, tok, b, "protocolada", timeout=30)
    assert done["numeroProcesso"] == other and done["resolucao"]["por"] == "gateway"
    assert len(courts.filings("4.02")) == 2  # never a second filing
    twice = httpx.post(f"{gateway.url}/api/v1/execucoes-fiscais/{a}/resolucao",
                       json={"decisao": "reenviar", "justificativa": "tentativa de reenvio indevido"},
                       headers={"Authorization": f"Bearer {tok}", "On-Behalf-Of": PROCURADOR}, timeout=30)
    assert twice.status_code == 409 and twice.json()["codigo"] == "EXEC-E031"


def test_decision_to_resend_is_explicit_and_audited(
        gateway: GatewayProcess, courts: FederalCourts, signer: tuple[Signatario, Path, Path]) -> None:
    """An indeterminada filing whose petition never reached the court (it stalled and failed without acting) is sent
    again only on a person's explicit decision, then protocolled: one process at the court."""
    tok = token(gateway)
    url = courts.url("4.03")
    httpx.post(url + "/_mock/config", json={"stall_without_acting_ms": {"entregarManifestacaoProcessual": 3500}},
               timeout=10).raise_for_status()
    ident = post(gateway, tok, samples.request(signer[0], "R-stall", n=41, jtr="4.03")).json()["id"]
    settled(gateway, tok, ident, "indeterminada")
    httpx.post(url + "/_mock/config", json={"stall_without_acting_ms": {}}, timeout=10).raise_for_status()
    r = httpx.post(f"{gateway.url}/api/v1/execucoes-fiscais/{ident}/resolucao",
                   json={"decisao": "reenviar", "justificativa": "Consulta ao TRF3: nenhum processo com estas CDAs."},
                   headers={"Authorization": f"Bearer {tok}", "On-Behalf-Of": PROCURADOR}, timeout=30)
    assert r.status_code == 200, r.text
    done = settled(gateway, tok, ident, "protocolada")
    assert done["resolucao"]["como"] == "reenvio decidido"
    assert [f["numeroProcessoCriado"] for f in courts.filings("4.03") if f.get("numeroProcessoCriado")] == [
        done["numeroProcesso"]]


def test_status_callbacks_are_signed_and_follow_each_change(
        gateway: GatewayProcess, courts: FederalCourts, signer: tuple[Signatario, Path, Path]) -> None:
    """A filing with ``callbackUrl`` answers its ``segredoCallback`` once; its receiver gets ``recebida`` then
    ``protocolada`` (with the process number), each signed with that secret (HMAC of "timestamp.body") and with its
    own ``X-Gateway-Evento-Id``."""
    import hashlib
    import hmac
    import json

    from tests.e2e.test_intimacoes_flow import Receiver

    receiver = Receiver()
    try:
        tok = token(gateway)
        body = samples.request(signer[0], "R-callback", n=51, jtr="4.01")
        body["callbackUrl"] = receiver.url
        r = post(gateway, tok, body)
        assert r.status_code == 202
        secret = r.json()["segredoCallback"]
        assert secret and post(gateway, tok, body).json()["segredoCallback"] is None
        done = settled(gateway, tok, r.json()["id"], "protocolada")
        wait_until(lambda: len(receiver.calls) >= 2, timeout=30, interval=0.1, what="two callbacks")
        events = []
        for headers, raw in receiver.calls:
            mac = hmac.new(secret.encode(), f"{headers['X-Gateway-Timestamp']}.".encode() + raw, hashlib.sha256)
            assert headers["X-Gateway-Assinatura"] == "sha256=" + mac.hexdigest()
            events.append(json.loads(raw))
        assert [e["situacao"] for e in events] == ["recebida", "protocolada"]
        assert events[1]["numeroProcesso"] == done["numeroProcesso"]
        assert len({h["X-Gateway-Evento-Id"] for h, _ in receiver.calls}) == 2
    finally:
        receiver.stop()


def test_sigkill_during_filing_leaves_at_most_one_process_per_cda(
        gateway: GatewayProcess, courts: FederalCourts, signer: tuple[Signatario, Path, Path]) -> None:
    """The gateway is killed (SIGKILL) while petitions are at the court (it acts, then answers late). After restart
    every filing ends ``protocolada`` or ``indeterminada`` — none is sent twice: the court holds at most one process
    per CDA, and each protocolled filing's number is the one the court created for its debtor."""
    tok = token(gateway)
    url = courts.url("4.05")
    # the court acts, then answers after 3 s: past the gateway's 2 s timeout, so whatever the machine's load delays,
    # the petitions in flight when the gateway dies have no answer recorded
    httpx.post(url + "/_mock/faults", json={"latency_after_ms": 3000}, timeout=10).raise_for_status()
    ids = {}
    for n in range(60, 70):
        body = samples.request(signer[0], f"R-kill-{n}", n=n, jtr="4.05")
        r = post(gateway, tok, body)
        assert r.status_code == 202
        ids[r.json()["id"]] = body["cdas"][0]["devedor"]["cpfCnpj"]
    wait_until(lambda: len(courts.filings("4.05")) >= 3, timeout=30, interval=0.05, what="petitions at the court")
    gateway.kill()
    httpx.post(url + "/_mock/faults", json={}, timeout=10).raise_for_status()
    gateway.start()
    tok = token(gateway)
    final = {}
    for ident in ids:
        wait_until(lambda i=ident: get(gateway, tok, i)["situacao"] in ("protocolada", "indeterminada"),  # type: ignore[misc]
                   timeout=60, interval=0.2, what=f"{ident} settled")
        final[ident] = get(gateway, tok, ident)
    filings = courts.filings("4.05")
    per_debtor: dict[str, list[str]] = {}
    for f in filings:
        debtor = next((d for d in ids.values() if d in f["body"]), None)
        assert debtor is not None, f["body"][:300]
        per_debtor.setdefault(debtor, []).append(f.get("numeroProcessoCriado") or "")
    assert all(len(v) == 1 for v in per_debtor.values()), per_debtor
    for ident, view in final.items():
        if view["situacao"] == "protocolada":
            assert per_debtor[ids[ident]] == [view["numeroProcesso"]]
    assert any(v["situacao"] == "indeterminada" for v in final.values())


def test_follow_up_petitions_on_a_filed_execucao(
        gateway: GatewayProcess, courts: FederalCourts, signer: tuple[Signatario, Path, Path]) -> None:
    """Issue 12 point 6: on a protocolled execução, a suspension for a parcelamento and the substitution of a CDA
    (LEF art. 2º §8º, the new CDA checked and signed) are filed as incidental manifestações on its process and
    tracked the same way; a petition on an execução not yet protocolled is refused (409 EXEC-E031), and a
    substitution naming a CDA that is not the execução's is refused (422 EXEC-E033)."""
    tok = token(gateway)
    headers = {"Authorization": f"Bearer {tok}"}
    body = samples.request(signer[0], "R-inicial-6", n=71, jtr="4.06")
    parent = post(gateway, tok, body).json()["id"]
    early = httpx.post(f"{gateway.url}/api/v1/execucoes-fiscais/{parent}/peticoes", headers=headers, timeout=30,
                       json={"referencia": "R-cedo", "tipo": "extincao_pagamento"})
    assert early.status_code in (202, 409), early.text
    number = settled(gateway, tok, parent, "protocolada")["numeroProcesso"]
    r = httpx.post(f"{gateway.url}/api/v1/execucoes-fiscais/{parent}/peticoes", headers=headers, timeout=30,
                   json={"referencia": "R-suspensao", "tipo": "suspensao_parcelamento"})
    assert r.status_code == 202, r.text
    assert r.json()["tipo"] == "suspensao_parcelamento" and r.json()["execucaoOriginal"] == parent
    done = settled(gateway, tok, r.json()["id"], "protocolada")
    assert done["numeroProcesso"] == number
    old = body["cdas"][0]["numeroInscricao"]
    new_cda = samples.cda(signer[0], samples.inscricao_pgfn(7199), body["cdas"][0]["devedor"]["cpfCnpj"],
                          "3106200", "MG")
    wrong = httpx.post(f"{gateway.url}/api/v1/execucoes-fiscais/{parent}/peticoes", headers=headers, timeout=30,
                       json={"referencia": "R-sub-x", "tipo": "substituicao_cda", "numeroInscricao": "1",
                             "cda": new_cda})
    assert wrong.status_code == 422 and wrong.json()["codigo"] == "EXEC-E033"
    sub = httpx.post(f"{gateway.url}/api/v1/execucoes-fiscais/{parent}/peticoes", headers=headers, timeout=30,
                     json={"referencia": "R-sub", "tipo": "substituicao_cda", "numeroInscricao": old,
                           "cda": new_cda})
    assert sub.status_code == 202, sub.text
    assert settled(gateway, tok, sub.json()["id"], "protocolada")["numeroProcesso"] == number
    incidental = [f for f in courts.filings("4.06") if f["numeroProcesso"] == number]
    assert len(incidental) >= 2  # the suspension and the substitution, on the process


def test_filed_by_gateway_relay_when_serve_does_not_deliver(
        db_url: str, courts: FederalCourts, signer: tuple[Signatario, Path, Path], tmp_path: Path) -> None:
    """Issue 12 point 3, "delivered by the relay", in the split deployment: ``gateway serve`` with
    ``GATEWAY_RELAY_ENABLED=false`` stores a filing and never sends it; ``gateway relay``, a separate process on the
    same database with the same settings (no TSE/CNJ partner, only the hub), sends it and it is protocolled at the
    TRF with its status callback; SIGTERM stops that process cleanly within its bound."""
    import signal
    import time

    from gateway.hub.demo import configure, describe
    from tests.e2e.test_intimacoes_flow import Receiver
    from tests.saf_support import RelayProcess

    courts.reset()
    with console(Settings.from_env({}, database_url=db_url, password_kdf_n=KDF_N)) as con:
        con.admin.grant("PGFN", ["execucao-fiscal:ajuizar", "intimacoes:ler"])
    registry = tmp_path / "mni-registry.json"
    settings = test_settings(db_url, tmp_path, execucao_chave_path=str(signer[1]),
                             execucao_certificado_path=str(signer[2]))
    with console(settings) as con:
        configure(con.admin, describe([courts.url(j) for j in TRFS]), registry)
    settings = settings.with_(mni_registry_path=str(registry))
    env = {**FAST, "GATEWAY_RELAY_ENABLED": "false", "GATEWAY_EXECUCAO_CHAVE_PATH": str(signer[1]),
           "GATEWAY_EXECUCAO_CERTIFICADO_PATH": str(signer[2])}
    serve = GatewayProcess(settings, tmp_path / "gateway.log", env).start()
    relay = RelayProcess(settings, tmp_path / "relay.log", env)
    receiver = Receiver()
    try:
        tok = token(serve)
        body = samples.request(signer[0], "R-relay", n=81, jtr="4.04")
        body["callbackUrl"] = receiver.url
        r = post(serve, tok, body)
        assert r.status_code == 202, r.text
        ident = r.json()["id"]
        time.sleep(3)  # several of the sender's polls (1 s): serve alone does not deliver
        assert get(serve, tok, ident)["situacao"] == "recebida"
        assert courts.filings("4.04") == [] and receiver.calls == []
        relay.start()
        done = settled(serve, tok, ident, "protocolada", timeout=60)
        assert done["numeroProcesso"][13:16] == "404" and done["tentativas"] == 1
        created = [f["numeroProcessoCriado"] for f in courts.filings("4.04") if f.get("numeroProcessoCriado")]
        assert created == [done["numeroProcesso"]]
        wait_until(lambda: len(receiver.calls) >= 2, timeout=30, interval=0.1, what="callbacks from gateway relay")
        import json
        assert [json.loads(raw)["situacao"] for _, raw in receiver.calls] == ["recebida", "protocolada"]
        proc = relay.proc
        assert proc is not None
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, (tmp_path / "relay.log").read_text()[-3000:]
        assert time.monotonic() - began < 20
        relay.proc = None
    finally:
        receiver.stop()
        relay.stop()
        serve.stop()
        courts.reset()


def test_extinction_on_payment_is_filed_on_the_process_and_tracked(
        gateway: GatewayProcess, courts: FederalCourts, signer: tuple[Signatario, Path, Path]) -> None:
    """Issue 12 point 6, extinction on payment (CPC art. 924 II): asked on an execução whose initial petition has
    not reached the court it is refused (409 EXEC-E031) and nothing is stored; once the execução is protocolled it
    answers 202 (a resend with the same reference: 200, the same id), is filed as an incidental manifestação on the
    execução's process (the petition document, CPC art. 924 II), exactly once, and tracked to ``protocolada``
    with that process number. Refusals: an execução that does not exist (404 EXEC-E030), an unknown petition type
    (422 EXEC-E033), an extinction asked on the extinction petition itself rather than on the execução (409
    EXEC-E031)."""
    tok = token(gateway)
    headers = {"Authorization": f"Bearer {tok}"}
    url = courts.url("4.01")

    def peticao(parent: str, referencia: str, tipo: str = "extincao_pagamento") -> httpx.Response:
        return httpx.post(f"{gateway.url}/api/v1/execucoes-fiscais/{parent}/peticoes", headers=headers, timeout=30,
                          json={"referencia": referencia, "tipo": tipo})

    # the court is down: the execução stays recebida/enviada, and an extinction cannot be asked yet
    httpx.post(url + "/_mock/faults", json={"error_rate": 1.0, "status": 503}, timeout=10).raise_for_status()
    parent = post(gateway, tok, samples.request(signer[0], "R-inicial-ext", n=91, jtr="4.01")).json()["id"]
    early = peticao(parent, "R-ext-cedo")
    assert early.status_code == 409 and early.json()["codigo"] == "EXEC-E031", early.text
    assert get(gateway, tok, parent)["situacao"] in ("recebida", "enviada")
    httpx.post(url + "/_mock/faults", json={}, timeout=10).raise_for_status()
    number = settled(gateway, tok, parent, "protocolada", timeout=60)["numeroProcesso"]
    assert courts.filings("4.01") and all(f["numeroProcesso"] != number for f in courts.filings("4.01"))

    missing = peticao("00000000-0000-0000-0000-000000000000", "R-ext-nada")
    assert missing.status_code == 404 and missing.json()["codigo"] == "EXEC-E030", missing.text
    wrong = peticao(parent, "R-ext-tipo", tipo="extincao_prescricao")
    assert wrong.status_code == 422 and wrong.json()["codigo"] == "EXEC-E033", wrong.text

    r = peticao(parent, "R-extincao")
    assert r.status_code == 202, r.text
    assert r.json()["tipo"] == "extincao_pagamento" and r.json()["execucaoOriginal"] == parent
    assert r.json()["tribunal"] == "4.01"
    again = peticao(parent, "R-extincao")
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    done = settled(gateway, tok, r.json()["id"], "protocolada")
    assert done["numeroProcesso"] == number and done["protocolo"] and done["tentativas"] == 1
    on_process = [f for f in courts.filings("4.01") if f["numeroProcesso"] == number]
    assert len(on_process) == 1, on_process
    assert "CPC art. 924 II" in on_process[0]["body"]  # the petition document's description (the log keeps 2 KiB)
    assert not on_process[0].get("numeroProcessoCriado")  # incidental: no new process

    nested = peticao(r.json()["id"], "R-ext-da-ext")
    assert nested.status_code == 409 and nested.json()["codigo"] == "EXEC-E031", nested.text
    listing = httpx.get(gateway.url + "/api/v1/execucoes-fiscais", headers=headers, timeout=30).json()["itens"]
    assert sorted(e["referencia"] for e in listing) == ["R-extincao", "R-inicial-ext"]  # no refusal stored
