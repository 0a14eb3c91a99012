"""What goes into both SOAP endpoints, end to end: one ``gateway serve`` process with the MNI hub in front of the
simulated tribunals and a small budget of large bodies, spoken to over HTTP on 127.0.0.1.

The INFODIP endpoint's own cases (codes, fields) are in test_infodip_bad_input.py; here is what the two endpoints
share: compressed and UTF-16 bodies, floods refused while parsing whoever asks, two identities, and the budget
of large bodies (503 + Retry-After when it is spent, room again once it is released).
"""

from __future__ import annotations

import gzip
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from gateway.errors import CATALOGUE
from gateway.infodip.domain import Kind
from gateway.xml.soap import SOAP11_NS, WSSE_NS
from tests.support import GatewayProcess, Tribunals, configure_hub, password_of, sample, seed, test_settings, wait_until

pytestmark = pytest.mark.e2e
SERVICO = "http://www.cnj.jus.br/servico-intercomunicacao-2.2.2/"
TIPOS = "http://www.cnj.jus.br/tipos-servico-intercomunicacao-2.2.2"
PJE_PROCESS = "08123459320198190001"
MB = 1024 * 1024
HOLD = 3_900_000  # bytes a slow client's declared body holds of the 4 MB budget
XML = {"Content-Type": "text/xml; charset=utf-8"}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, tribunals: Tribunals) -> Iterator[GatewayProcess]:
    """A gateway (SQLite) with the hub configured, MNI bodies up to 4 MB and a 4 MB budget: bodies of 256 KB or
    more count, and wait 0.3 s for room."""
    tmp = tmp_path_factory.mktemp("soap-input")
    url = f"sqlite:///{tmp / 'gateway.db'}"
    seed(url)
    limits = {"mni_max_body_bytes": 4 * MB, "body_budget_bytes": 4 * MB, "body_budget_min_bytes": 256 * 1024,
              "body_budget_wait_s": 0.3}
    settings = test_settings(url, tmp, **limits)
    tribunals.reset()
    proc = GatewayProcess(configure_hub(url, settings, tribunals, tmp), tmp / "gateway.log",
                          extra_env={f"GATEWAY_{k.upper()}": str(v) for k, v in limits.items()}).start()
    yield proc
    proc.stop()


def mni_request(inner: str, header: str = "") -> str:
    """An MNI consultarProcesso with *inner* before the process number (credentials, floods) and *header*."""
    head = f"<soap:Header>{header}</soap:Header>" if header else ""
    return (f'<soap:Envelope xmlns:soap="{SOAP11_NS}" xmlns:ser="{SERVICO}" xmlns:tip="{TIPOS}">{head}<soap:Body>'
            f"<ser:consultarProcesso>{inner}<tip:numeroProcesso>{PJE_PROCESS}</tip:numeroProcesso>"
            "</ser:consultarProcesso></soap:Body></soap:Envelope>")


def pgfn(password: str | None = None) -> str:
    """The PGFN client's MNI credential fields."""
    return (f"<tip:idConsultante>pgfn-mni</tip:idConsultante><tip:senhaConsultante>"
            f"{password or password_of('pgfn-mni')}</tip:senhaConsultante>")


def token(user: str, password: str) -> str:
    """A WS-Security header block with a UsernameToken."""
    return (f'<w:Security xmlns:w="{WSSE_NS}"><w:UsernameToken><w:Username>{user}</w:Username>'
            f"<w:Password>{password}</w:Password></w:UsernameToken></w:Security>")


def post(gw: GatewayProcess, path: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST *body* to *path*."""
    return httpx.post(gw.url + path, content=body, headers={**XML, **(headers or {})}, timeout=60)


def mni_answer(r: httpx.Response) -> tuple[bool | None, str]:
    """(sucesso, mensagem) of an MNI answer (HTTP 200)."""
    assert r.status_code == 200, r.text[:1000]
    root = etree.fromstring(r.content)
    sucesso = root.findtext(f".//{{{TIPOS}}}sucesso")
    return (None if sucesso is None else sucesso == "true"), root.findtext(f".//{{{TIPOS}}}mensagem") or ""


def fault_code(r: httpx.Response) -> tuple[str | None, str]:
    """(faultcode, stable code) of a SOAP Fault of either endpoint."""
    root = etree.fromstring(r.content)
    fault = root.find(f"{{{SOAP11_NS}}}Body/{{{SOAP11_NS}}}Fault")
    assert fault is not None, r.text[:1000]
    detail = "".join(fault.find("detail").itertext())  # type: ignore[union-attr]
    code = re.search(r"(?:INFODIP|MNI)-E\d{3}", detail)
    assert code is not None, detail
    return fault.findtext("faultcode"), code.group(0)


def test_mni_reads_utf16_and_compressed_requests(gw: GatewayProcess) -> None:
    """A consultarProcesso in UTF-16 (BOM, or declared), gzip- or deflate-compressed, goes through the hub like
    the plain one; an encoding the gateway does not inflate is a Fault MNI-E013 naming it."""
    text = mni_request(pgfn())
    for body, headers in ((text.encode("utf-16"), {}),
                          (('<?xml version="1.0" encoding="UTF-16"?>' + text).encode("utf-16-be"), {}),
                          (gzip.compress(text.encode()), {"Content-Encoding": "gzip"}),
                          (gzip.compress(text.encode("utf-16")), {"Content-Encoding": "x-gzip"})):
        sucesso, mensagem = mni_answer(post(gw, "/soap/mni", body, headers))
        assert sucesso is True, mensagem
    r = post(gw, "/soap/mni", text.encode(), {"Content-Encoding": "br"})
    assert r.status_code == 500 and fault_code(r) == ("soap:Client", "MNI-E013")
    assert "br" in r.text


@pytest.mark.parametrize("password", ["senha-errada", None], ids=["wrong-password", "valid-password"])
def test_mni_flood_is_refused_while_parsing_whoever_asks(gw: GatewayProcess, password: str | None) -> None:
    """3 MB of empty elements before the credential are refused as MNI-E005 (a Fault: the request cannot be
    read) with a wrong and with a valid password alike — the element limit does not depend on who asks, and
    the wrong password is never even looked at (no E021)."""
    body = mni_request("<tip:x/>" * (3 * MB // 8 - 200) + pgfn(password)).encode()
    assert len(body) < 4 * MB
    r = post(gw, "/soap/mni", body)
    assert r.status_code == 500 and fault_code(r) == ("soap:Client", "MNI-E005")
    assert "elementos" in r.text


def test_mni_two_identities_are_e025(gw: GatewayProcess) -> None:
    """MNI's fields and a UsernameToken naming different identities are answered sucesso=false MNI-E025 (MNI
    answers what it can read with HTTP 200); the same identity in both is accepted."""
    sucesso, mensagem = mni_answer(post(gw, "/soap/mni", mni_request(pgfn(), token("pgf-mni", "x")).encode()))
    assert sucesso is False and mensagem.startswith("MNI-E025")
    same = mni_request(pgfn(), token("pgfn-mni", password_of("pgfn-mni"))).encode()
    sucesso, mensagem = mni_answer(post(gw, "/soap/mni", same))
    assert sucesso is True, mensagem


class SlowClient:
    """A client that declared a large body and sends it slowly: the gateway holds the budget for it meanwhile."""

    def __init__(self, gw: GatewayProcess, length: int) -> None:
        host, port = gw.url.rsplit("/", 1)[1].split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.sock.sendall(f"POST /soap/mni HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml\r\n"
                          f"Content-Length: {length}\r\n\r\n<soap:Envelope".encode())

    def close(self) -> None:
        self.sock.close()


def test_the_budget_of_large_bodies_refuses_then_frees(gw: GatewayProcess) -> None:
    """While a slow client holds most of the budget, a large body on either endpoint waits 0.3 s and is refused:
    HTTP 500 (every SOAP Fault, DESIGN.md), Retry-After, a soap:Server Fault with INFODIP-E092 / MNI-E092
    (retry-safe, nothing done); small
    bodies are not held back; once the slow client is gone the large body goes through."""
    padding = "".join(f"<!-- {i:06d} {'x' * 1000} -->" for i in range(300))  # ~300 KB of comments
    infodip_big = sample(Kind.I).replace(b"<soap:Header>", b"<soap:Header>" + padding.encode(), 1)
    mni_big = mni_request(padding + pgfn()).encode()
    assert len(infodip_big) > 256 * 1024 and len(mni_big) > 256 * 1024
    slow = SlowClient(gw, HOLD)
    try:
        refused = wait_until(lambda: (r := post(gw, "/soap/mni", mni_big)).status_code == 500 and r, timeout=20)
        assert refused and refused.headers["retry-after"] == "1"
        assert fault_code(refused) == ("soap:Server", "MNI-E092") and "MNI-E092" in CATALOGUE
        r = post(gw, "/soap/infodip", infodip_big)
        assert r.status_code == 500 and r.headers["retry-after"] == "1"
        assert fault_code(r) == ("soap:Server", "INFODIP-E092")
        assert post(gw, "/soap/infodip", sample(Kind.I)).status_code == 200  # small: not counted
    finally:
        slow.close()
    wait_until(lambda: post(gw, "/soap/mni", mni_big).status_code == 200, timeout=20)
    assert post(gw, "/soap/infodip", infodip_big).status_code == 200
    log = Path(gw.log_path).read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
