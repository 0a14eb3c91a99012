"""Documents of real size through the MNI hub: a 50 MB PDF in (inline base64 and MTOM) and out, with the gateway
process's memory growth bounded (at most 2× the document, issue 17's bound — issue 6 asked for 8×; measured, not
assumed: the documents are spilled to disk on the way, gateway/mni/spill.py)."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from tests.support import GatewayProcess, Tribunals, configure_hub, password_of, test_settings

pytestmark = pytest.mark.e2e
SERVICO = "http://www.cnj.jus.br/servico-intercomunicacao-2.2.2/"
TIPOS = "http://www.cnj.jus.br/tipos-servico-intercomunicacao-2.2.2"
INTER = "http://www.cnj.jus.br/intercomunicacao-2.2.2"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
MB = 1024 * 1024
DOC_SIZE = 50 * MB


def rss_kb(pid: int, field: str) -> int:
    """VmRSS / VmHWM of *pid* in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@pytest.fixture
def big_hub(sqlite_url: str, tribunals: Tribunals, tmp_path: Path) -> Iterator[GatewayProcess]:
    """A fresh hub process (so its peak RSS is this test's)."""
    tribunals.reset()
    settings = configure_hub(sqlite_url, test_settings(sqlite_url, tmp_path, mni_timeout_s=120.0), tribunals,
                             tmp_path)
    proc = GatewayProcess(settings, tmp_path / "gw.log").start()
    yield proc
    proc.stop()


def pdf_of(size: int) -> bytes:
    """A deterministic *size*-byte PDF-looking document."""
    block = hashlib.sha256(b"gateway").digest() * 2048  # 64 KB
    body = (block * (size // len(block) + 1))[: size - 16]
    return b"%PDF-1.4\n" + body + b"\n%%EOF\n"[: 16 - 9]


def filing(process: str, content_xml: str) -> bytes:
    """An incidental entregarManifestacaoProcessual with one document whose conteudo is *content_xml*."""
    return (f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:ser="{SERVICO}" xmlns:tip="{TIPOS}" xmlns:int="{INTER}">'
            "<soap:Body><ser:entregarManifestacaoProcessual>"
            f"<tip:idManifestante>pgfn-mni</tip:idManifestante>"
            f"<tip:senhaManifestante>{password_of('pgfn-mni')}</tip:senhaManifestante>"
            f"<tip:numeroProcesso>{process}</tip:numeroProcesso>"
            f'<tip:documento mimetype="application/pdf" tipoDocumento="58"><int:conteudo>{content_xml}</int:conteudo>'
            "</tip:documento><tip:dataEnvio>20261121120000</tip:dataEnvio>"
            "</ser:entregarManifestacaoProcessual></soap:Body></soap:Envelope>").encode()


def test_fifty_megabytes_in_and_out_within_twice(big_hub: GatewayProcess, tribunals: Tribunals) -> None:
    """A 50 MB PDF goes to the tribunal inline and as MTOM, and a 50 MB document comes back from
    consultarProcesso intact, while the gateway's peak RSS grows by at most 2× the document size."""
    assert big_hub.proc is not None
    pid = big_hub.proc.pid
    demo = tribunals.demo("8.19")
    big = demo["big_document"]
    process = str(big["numeroProcesso"])  # type: ignore[index]
    warm = httpx.post(big_hub.url + "/soap/mni", timeout=60,
                      content=filing(process, base64.b64encode(b"%PDF").decode()))
    assert "<" in warm.text
    baseline = rss_kb(pid, "VmRSS")

    document = pdf_of(DOC_SIZE)
    inline = filing(process, base64.b64encode(document).decode())
    r = httpx.post(big_hub.url + "/soap/mni", content=inline, timeout=300,
                   headers={"Content-Type": "text/xml; charset=utf-8"})
    assert r.status_code == 200 and ">true<" in r.text, r.text[:500]
    del inline

    document2 = document[:-20] + uuid.uuid4().hex.encode()[:13] + document[-7:]
    boundary = "MIMEBoundary_" + uuid.uuid4().hex
    root_part = filing(process, '<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" '
                                'href="cid:doc1@gateway"/>')
    mtom = (f"--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"text/xml\"\r\n"
            f"Content-ID: <root@gateway>\r\n\r\n").encode() + root_part + (
        f"\r\n--{boundary}\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: binary\r\n"
        f"Content-ID: <doc1@gateway>\r\n\r\n").encode() + document2 + f"\r\n--{boundary}--\r\n".encode()
    r = httpx.post(big_hub.url + "/soap/mni", content=mtom, timeout=300, headers={
        "Content-Type": f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
                        f'start="<root@gateway>"; start-info="text/xml"'})
    assert r.status_code == 200 and ">true<" in r.text, r.text[:500]
    sent = {hashlib.sha256(document).hexdigest(), hashlib.sha256(document2).hexdigest()}
    del mtom, document, document2

    query = (f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:ser="{SERVICO}" xmlns:tip="{TIPOS}"><soap:Body>'
             "<ser:consultarProcesso><tip:idConsultante>pgfn-mni</tip:idConsultante>"
             f"<tip:senhaConsultante>{password_of('pgfn-mni')}</tip:senhaConsultante>"
             f"<tip:numeroProcesso>{process}</tip:numeroProcesso><tip:incluirDocumentos>true</tip:incluirDocumentos>"
             f"<tip:documento>{big['idDocumento']}</tip:documento>"  # type: ignore[index]
             "</ser:consultarProcesso></soap:Body></soap:Envelope>").encode()
    r = httpx.post(big_hub.url + "/soap/mni", content=query, timeout=300)
    assert r.status_code == 200
    root = etree.fromstring(r.content, etree.XMLParser(huge_tree=True))
    contents = [el.text or "" for el in root.iter(f"{{{INTER}}}conteudo")]
    digests = {hashlib.sha256(base64.b64decode(c)).hexdigest() for c in contents if len(c) > MB}
    assert big["sha256"] in digests  # type: ignore[index]
    received = {el.get("hash") for el in root.iter(f"{{{INTER}}}documento")}  # the tribunal's sha256 of each
    assert sent <= received, "the tribunal did not receive both documents intact"
    assert not re.search(rb"xop:Include", r.content)  # one well-formed document, no dangling references
    peak = rss_kb(pid, "VmHWM")
    growth = (peak - baseline) * 1024
    print(f"gateway RSS: baseline {baseline / 1024:.0f} MB, peak {peak / 1024:.0f} MB, "
          f"growth {growth / DOC_SIZE:.1f}× the document")
    assert growth <= 2 * DOC_SIZE, f"peak RSS grew by {growth / MB:.0f} MB (> 2 × 50 MB)"
