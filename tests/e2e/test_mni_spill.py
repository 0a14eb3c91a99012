"""Large documents through a real MNI hub process and the simulated tribunals, spilled to disk on the way (issue
17): a few MB with the spill threshold lowered to 64 KB, in both directions, inline and MTOM. The documents arrive
intact, the bytes the hub passes on are the bytes it received, and no spill file outlives its call — not even
when the client leaves halfway through its body."""

from __future__ import annotations

import base64
import hashlib
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from tests.support import FIXTURES, GatewayProcess, Tribunals, configure_hub, password_of, test_settings, wait_until

pytestmark = pytest.mark.e2e
SERVICO = "http://www.cnj.jus.br/servico-intercomunicacao-2.2.2/"
TIPOS = "http://www.cnj.jus.br/tipos-servico-intercomunicacao-2.2.2"
INTER = "http://www.cnj.jus.br/intercomunicacao-2.2.2"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
XOP = "http://www.w3.org/2004/08/xop/include"
PJE_PROCESS = "08123459320198190001"  # 8.19, installation 1
THRESHOLD = 64 * 1024
DOC_SIZE = 3 * 1024 * 1024 + 7
ANSWER = FIXTURES / "mni/eproc-tjsc/consultarProcesso_resp_anexoA_cabecalho_movimentos.xml"


class Hub:
    """A gateway process whose spill files go to ``spool``."""

    def __init__(self, proc: GatewayProcess, spool: Path) -> None:
        self.proc = proc
        self.spool = spool
        self.url = proc.url + "/soap/mni"

    def spill_files(self) -> list[Path]:
        return sorted(self.spool.glob("mni-*.spill"))

    def spilled_bytes(self) -> float:
        for line in httpx.get(self.proc.url + "/metrics", timeout=10).text.splitlines():
            if line.startswith("gateway_mni_spilled_bytes_total "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


@pytest.fixture
def hub(sqlite_url: str, tribunals: Tribunals, tmp_path: Path) -> Iterator[Hub]:
    """A hub spilling runs and parts over 64 KB to its own spool directory."""
    tribunals.reset()
    spool = tmp_path / "spool"
    settings = configure_hub(sqlite_url, test_settings(sqlite_url, tmp_path), tribunals, tmp_path)
    proc = GatewayProcess(settings, tmp_path / "gw.log", extra_env={
        "GATEWAY_MNI_SPILL_THRESHOLD_BYTES": str(THRESHOLD), "GATEWAY_OBITOS_SPOOL_DIR": str(spool)}).start()
    yield Hub(proc, spool)
    proc.stop()
    tribunals.reset()


def document(seed: str) -> bytes:
    """A DOC_SIZE-byte PDF-looking document, different for each *seed* (so filings are not duplicates)."""
    block = hashlib.sha256(seed.encode()).digest() * 2048
    body = (block * (DOC_SIZE // len(block) + 1))[:DOC_SIZE - 14]
    return b"%PDF-1.4\n" + body + b"%%EOF"


def filing(content_xml: bytes) -> bytes:
    """An incidental entregarManifestacaoProcessual of PGFN with one document whose conteudo is *content_xml*."""
    head = (f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:ser="{SERVICO}" xmlns:tip="{TIPOS}" xmlns:int="{INTER}">'
            "<soap:Body><ser:entregarManifestacaoProcessual>"
            "<tip:idManifestante>pgfn-mni</tip:idManifestante>"
            f"<tip:senhaManifestante>{password_of('pgfn-mni')}</tip:senhaManifestante>"
            f"<tip:numeroProcesso>{PJE_PROCESS}</tip:numeroProcesso>"
            '<tip:documento mimetype="application/pdf" tipoDocumento="58"><int:conteudo>').encode()
    tail = (b"</int:conteudo></tip:documento><tip:dataEnvio>20261121120000</tip:dataEnvio>"
            b"</ser:entregarManifestacaoProcessual></soap:Body></soap:Envelope>")
    return head + content_xml + tail


def consultar(extra: str = "") -> bytes:
    return (f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:ser="{SERVICO}" xmlns:tip="{TIPOS}"><soap:Body>'
            "<ser:consultarProcesso><tip:idConsultante>pgfn-mni</tip:idConsultante>"
            f"<tip:senhaConsultante>{password_of('pgfn-mni')}</tip:senhaConsultante>"
            f"<tip:numeroProcesso>{PJE_PROCESS}</tip:numeroProcesso>{extra}"
            "</ser:consultarProcesso></soap:Body></soap:Envelope>").encode()


def tribunal_hashes(hub: Hub) -> set[str]:
    """The ``hash`` (sha256 of the content, as the simulator received it) of every document of the process."""
    r = httpx.post(hub.url, content=consultar("<tip:incluirDocumentos>true</tip:incluirDocumentos>"), timeout=60)
    assert r.status_code == 200 and ">true<" in r.text, r.text[:500]
    root = etree.fromstring(r.content)
    return {el.get("hash") or "" for el in root.iter(f"{{{INTER}}}documento", f"{{{TIPOS}}}documento")}


def assert_succeeded(r: httpx.Response) -> None:
    assert r.status_code == 200, r.text[:500]
    assert "<ns1:sucesso>true</ns1:sucesso>" in r.text or ">true<" in r.text, r.text[:800]


def test_an_inline_document_reaches_the_tribunal_intact(hub: Hub) -> None:
    """A 3 MB PDF inline (base64 in 76-character lines) is filed through the hub: the tribunal holds a document
    with its sha256, the hub kept it on disk meanwhile, and no spill file is left."""
    doc = document("inline-" + uuid.uuid4().hex)
    r = httpx.post(hub.url, content=filing(base64.encodebytes(doc)), timeout=120,
                   headers={"Content-Type": "text/xml; charset=utf-8"})
    assert_succeeded(r)
    assert hashlib.sha256(doc).hexdigest() in tribunal_hashes(hub)
    assert hub.spilled_bytes() >= len(doc)
    assert hub.spill_files() == []


def test_an_mtom_document_reaches_the_tribunal_intact(hub: Hub) -> None:
    """The same as MTOM/XOP (a binary part): the tribunal holds the document with its sha256; no spill file left."""
    doc = document("mtom-" + uuid.uuid4().hex)
    boundary = "MIMEBoundary_" + uuid.uuid4().hex
    root = filing(f'<xop:Include xmlns:xop="{XOP}" href="cid:doc1%40gateway"/>'.encode())
    body = (f'--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type="text/xml"\r\n'
            "Content-ID: <root@gateway>\r\n\r\n").encode() + root + (
        f"\r\n--{boundary}\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: binary\r\n"
        "Content-ID: <doc1@gateway>\r\n\r\n").encode() + doc + f"\r\n--{boundary}--\r\n".encode()
    r = httpx.post(hub.url, content=body, timeout=120, headers={
        "Content-Type": f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
                        'start="<root@gateway>"; start-info="text/xml"'})
    assert_succeeded(r)
    assert hashlib.sha256(doc).hexdigest() in tribunal_hashes(hub)
    assert hub.spilled_bytes() >= len(doc)
    assert hub.spill_files() == []


def answer_with(conteudo: bytes) -> bytes:
    """The eproc example answer with *conteudo* as the content of its last document."""
    answer = ANSWER.read_bytes()
    marker = b'<ns2:outroParametro nome="tamanho" valor="696693"/>'
    assert answer.count(marker) == 1
    return answer.replace(marker, b"<ns2:conteudo>" + conteudo + b"</ns2:conteudo>" + marker)


def can(tribunals: Tribunals, body: bytes, content_type: str) -> None:
    httpx.post(tribunals.url("8.19") + "/_mock/canned", timeout=60, json={
        "operation": "consultarProcesso", "status": 200, "content_type": content_type,
        "body_base64": base64.b64encode(body).decode()}).raise_for_status()


def conteudos(answer: bytes) -> list[bytes]:
    root = etree.fromstring(answer, etree.XMLParser(huge_tree=True))
    return [(el.text or "").encode() for el in root.iter(f"{{{INTER}}}conteudo")]


def test_an_inline_document_in_the_answer_comes_back_byte_identical(hub: Hub, tribunals: Tribunals) -> None:
    """A tribunal answer carrying a 3 MB document (base64 in lines) is spilled as it arrives and spliced back:
    the client gets the document's base64 text exactly as the tribunal wrote it, with the right Content-Length."""
    doc = document("answer-" + uuid.uuid4().hex)
    text = base64.encodebytes(doc)
    can(tribunals, answer_with(text), "text/xml; charset=utf-8")
    r = httpx.post(hub.url, content=consultar(), timeout=120)
    assert_succeeded(r)
    assert int(r.headers["content-length"]) == len(r.content)
    assert text in conteudos(r.content)
    assert hub.spilled_bytes() >= len(text)
    assert hub.spill_files() == []


def test_an_mtom_answer_comes_back_inline_intact(hub: Hub, tribunals: Tribunals) -> None:
    """A tribunal answering MTOM with a 3 MB binary part: the hub answers one XML document whose conteudo is the
    part's base64 (spliced from disk), and keeps no file."""
    doc = document("mtom-answer-" + uuid.uuid4().hex)
    boundary = "b-" + uuid.uuid4().hex
    root = answer_with(f'<xop:Include xmlns:xop="{XOP}" href="cid:big%40tribunal"/>'.encode())
    body = (f"--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8\r\nContent-ID: <root>\r\n\r\n"
            ).encode() + root + (f"\r\n--{boundary}\r\nContent-Type: application/pdf\r\n"
                                 "Content-ID: <big@tribunal>\r\n\r\n").encode() + doc + f"\r\n--{boundary}--".encode()
    can(tribunals, body, f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; start="<root>"')
    r = httpx.post(hub.url, content=consultar(), timeout=120)
    assert_succeeded(r)
    assert base64.b64encode(doc) in conteudos(r.content)
    assert b"xop:Include" not in r.content
    assert hub.spill_files() == []


def test_a_client_leaving_mid_body_leaves_no_spill_file(hub: Hub) -> None:
    """A client that sends half of a 3 MB filing and closes the connection: the run it had started was being
    spilled (a file appears), and once the hub sees the body cut short the file is gone; the hub still answers."""
    body = filing(base64.b64encode(document("gone-" + uuid.uuid4().hex)))
    half = len(body) // 2
    port = int(hub.proc.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"POST /soap/mni HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml; charset=utf-8\r\n"
                  + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:half])
        wait_until(lambda: hub.spill_files() != [], timeout=30)
    wait_until(lambda: hub.spill_files() == [], timeout=30)
    r = httpx.post(hub.url, content=consultar(), timeout=60)
    assert r.status_code == 200
