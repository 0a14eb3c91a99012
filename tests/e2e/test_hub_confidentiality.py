"""Through real processes: no hub client's credential reaches a tribunal (the simulators' ``/_mock/received`` logs
show what reached them), and the audit entry's request digest is that of the request with its credentials blanked
(issue 8, points 4 and 7)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree
from sqlalchemy import select

from gateway.db.engine import make_engine
from gateway.db.tables import audit_log
from tests.support import GatewayProcess, Tribunals, configure_hub, password_of, test_settings, wait_until

pytestmark = pytest.mark.e2e
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICO = "http://www.cnj.jus.br/servico-intercomunicacao-2.2.2/"
TIPOS = "http://www.cnj.jus.br/tipos-servico-intercomunicacao-2.2.2"
INTER = "http://www.cnj.jus.br/intercomunicacao-2.2.2"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PJE = "08123459320198190001"
USER = "pgfn-mni"
CREDENTIAL_PAIRS = (("idConsultante", "senhaConsultante"), ("idManifestante", "senhaManifestante"),
                    ("idRecebedor", "senhaRecebedor"))


def children(operation: str, seed: int) -> str:
    """The non-credential children of a small request of *operation* (a filing's document differs by *seed*)."""
    if operation == "consultarAvisosPendentes":
        return ""
    if operation == "entregarManifestacaoProcessual":
        return (f"<tip:numeroProcesso>{PJE}</tip:numeroProcesso>"
                '<tip:documento mimetype="application/pdf" tipoDocumento="58">'
                f"<int:conteudo>{'JVBERi0xLjQK' + 'QUFB' * seed}</int:conteudo></tip:documento>"
                "<tip:dataEnvio>20261121120000</tip:dataEnvio>")
    return f"<tip:numeroProcesso>{PJE}</tip:numeroProcesso>"


def request(operation: str, pair: tuple[str, str], seed: int, user: str, password: str, token: str) -> bytes:
    """*operation* authenticated with *pair*, a UsernameToken in the Header and another in a second Header."""
    security = (f'<wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken><wsse:Username>{USER}</wsse:Username>'
                f"<wsse:Password>{token}</wsse:Password></wsse:UsernameToken></wsse:Security>")
    return (f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:ser="{SERVICO}" xmlns:tip="{TIPOS}" xmlns:int="{INTER}">'
            f"<soap:Header>{security}</soap:Header><soap:Header>{security}</soap:Header>"
            f"<soap:Body><ser:{operation}><tip:{pair[0]}>{user}</tip:{pair[0]}><tip:{pair[1]}>{password}</tip:{pair[1]}>"
            f"{children(operation, seed)}</ser:{operation}></soap:Body></soap:Envelope>").encode()


@pytest.fixture
def hub(sqlite_url: str, tribunals: Tribunals, tmp_path: Path) -> Iterator[GatewayProcess]:
    """A gateway whose hub routes to the two simulated tribunals."""
    tribunals.reset()
    settings = configure_hub(sqlite_url, test_settings(sqlite_url, tmp_path), tribunals, tmp_path)
    proc = GatewayProcess(settings, tmp_path / "gw.log").start()
    yield proc
    proc.stop()
    tribunals.reset()


OPERATIONS = ("consultarProcesso", "consultarAlteracao", "consultarAvisosPendentes", "consultarTeorComunicacao",
              "entregarManifestacaoProcessual", "confirmarRecebimento")


def test_every_pair_on_every_operation_reaches_no_tribunal_and_is_audited_blanked(
    hub: GatewayProcess, tribunals: Tribunals, sqlite_url: str,
) -> None:
    """For each MNI credential pair on each operation (plus UsernameTokens in two Headers): what reached the
    tribunals holds neither the client's password nor its token nor a Security header; every audit entry's
    request digest is SHA-256 of the request as sent with every credential value emptied — never of the raw
    bytes."""
    password = password_of(USER)
    expected: dict[str, str] = {}
    seed = 0
    for operation in OPERATIONS:
        for pair in CREDENTIAL_PAIRS:
            seed += 1
            body = request(operation, pair, seed, USER, password, password)
            r = httpx.post(hub.url + "/soap/mni", content=body, headers={"Content-Type": "text/xml"}, timeout=60)
            assert r.status_code == 200, r.text
            sucesso = etree.fromstring(r.content).findtext(f".//{{{TIPOS}}}sucesso")
            assert (sucesso == "true") == (operation != "confirmarRecebimento"), (operation, pair, r.text)
            expected[hashlib.sha256(request(operation, pair, seed, "", "", "")).hexdigest()] = operation
            assert hashlib.sha256(body).hexdigest() not in expected
    received = [e for jtr in ("8.19", "4.04") for e in tribunals.received(jtr)]
    assert {e["operation"] for e in received} >= set(OPERATIONS) - {"confirmarRecebimento"}
    for entry in received:
        text = str(entry["body"])
        assert password not in text and "Security" not in text and "UsernameToken" not in text, entry
        assert f">{USER}<" not in text, entry

    engine = make_engine(sqlite_url)

    def digests() -> dict[str, str]:
        with engine.connect() as conn:
            rows = conn.execute(select(audit_log.c.payload_digest, audit_log.c.detail).where(
                audit_log.c.event.like("mni.%"))).all()
        return {r.payload_digest: json.loads(r.detail)["requisicao"] for r in rows}

    try:
        stored = wait_until(lambda: (d := digests()) and len(d) >= len(expected) and d, what="audit entries")
    finally:
        engine.dispose()
    assert set(stored) == set(expected)
    assert all(k == v for k, v in stored.items())
