"""The tribunal MNI simulator (``mocks.tribunal``) as a real process on 127.0.0.1, driven by zeep and raw SOAP.

Covers both profiles (``pje-tjrj`` and ``eproc-trf4``): the six operations through zeep built from the mock's own
WSDL, ciência, initial petitions, eproc's duplicate refusal and date-salted password, consultarAlteracao hashes,
MTOM both ways, every real request fixture, canned replay, the 50 MB document and XSD validity of what it builds.
"""

from __future__ import annotations

import base64
import copy
import email
import email.policy
import hashlib
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zeep
import zeep.exceptions
import zeep.xsd
from lxml import etree

from mocks.tribunal import eproc_password
from mocks.tribunal_data import cnj_number
from tests.support import wait_until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MNI = ROOT / "schemas" / "mni" / "2.2.2"
FIX = ROOT / "tests" / "fixtures" / "mni"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
SERV = "http://www.cnj.jus.br/servico-intercomunicacao-2.2.2/"
TIPOS = "http://www.cnj.jus.br/tipos-servico-intercomunicacao-2.2.2"
INTER = "http://www.cnj.jus.br/intercomunicacao-2.2.2"
XS = "http://www.w3.org/2001/XMLSchema"
HUGE = etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True)


class Mock:
    """One ``python -m mocks.tribunal`` process and helpers to talk to it."""

    def __init__(self, profile: str) -> None:
        self.profile = profile
        self.proc = subprocess.Popen([sys.executable, "-m", "mocks.tribunal", "--host", "127.0.0.1", "--port", "0",
                                      "--profile", profile], stdout=subprocess.PIPE, cwd=ROOT)
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()),  # type: ignore[union-attr]
                                  daemon=True)
        reader.start()
        reader.join(20)
        if not line or not line[0].strip():
            self.proc.kill()
            raise RuntimeError(f"simulador {profile} não iniciou")
        self.url = json.loads(line[0])["url"]
        self.http = httpx.Client(timeout=60)
        self.demo: dict[str, Any] = self.http.get(self.url + "/_mock/demo").json()

    def inst(self, n: str = "1") -> str:
        """URL of installation *n*."""
        return next(x["url"] for x in self.demo["installations"] if x["instance"] == n)

    def password(self, user: str) -> str:
        """What a client sends as password for *user* (eproc: date-salted sha256)."""
        senha = self.demo["credentials"].get(user, "senha-desconhecida")
        return eproc_password(senha) if self.profile == "eproc-trf4" else senha

    @property
    def user(self) -> str:
        """The PGFN consultant of this profile."""
        return "pgfn-tjrj" if self.profile == "pje-tjrj" else "pgfn-trf4"

    def process(self, **where: Any) -> dict[str, Any]:
        """The first demo process matching *where*."""
        return next(p for p in self.demo["processes"] if all(p[k] == v for k, v in where.items()))

    def call(self, op: str, inner: str, inst: str = "1", user: str | None = None, *, headers: dict[str, str] | None
             = None, creds: str = "Consultante") -> tuple[int, etree._Element]:
        """POST *op* with *inner* children (credentials added unless *creds* is empty); return (status, wrapper)."""
        user = user or self.user
        auth = (f"<tip:id{creds}>{user}</tip:id{creds}><tip:senha{creds}>{self.password(user)}</tip:senha{creds}>"
                if creds else "")
        r = self.http.post(self.inst(inst), content=envelope(op, auth + inner), headers=headers or {})
        return r.status_code, body_child(r.content)

    def stop(self) -> None:
        """Terminate the process."""
        self.http.close()
        self.proc.terminate()
        self.proc.wait(10)


def envelope(op: str, inner: str) -> bytes:
    """A SOAP 1.1 request in the official namespaces."""
    return (f'<soapenv:Envelope xmlns:soapenv="{SOAP}" xmlns:ser="{SERV}" xmlns:tip="{TIPOS}" xmlns:int="{INTER}">'
            f"<soapenv:Header/><soapenv:Body><ser:{op}>{inner}</ser:{op}></soapenv:Body></soapenv:Envelope>").encode()


def body_child(xml: bytes) -> etree._Element:
    """The first element of the SOAP Body."""
    root = etree.fromstring(xml, HUGE)
    return next(iter(root.find(f"{{{SOAP}}}Body")))  # type: ignore[arg-type]


def val(el: etree._Element, name: str) -> str | None:
    """Text of the first descendant named *name* (any namespace)."""
    found = el.xpath(f".//*[local-name()='{name}']")
    return found[0].text if found else None  # type: ignore[index,union-attr]


def doc_xml(content: bytes, tipo: str = "13", signed: bool = False) -> str:
    """A ``documento`` of a manifestação (*signed*: with an ``assinatura``, as a class-1116 petition needs)."""
    b64 = base64.b64encode(content).decode()
    sig = f'<int:assinatura assinatura="{base64.b64encode(b"p7s").decode()}"/>' if signed else ""
    return f'<tip:documento tipoDocumento="{tipo}" mimetype="application/pdf"><int:conteudo>{b64}</int:conteudo>' \
           f"{sig}</tip:documento>"


@pytest.fixture(scope="module")
def pje() -> Iterator[Mock]:
    """The pje-tjrj profile."""
    m = Mock("pje-tjrj")
    yield m
    m.stop()


@pytest.fixture(scope="module")
def eproc() -> Iterator[Mock]:
    """The eproc-trf4 profile."""
    m = Mock("eproc-trf4")
    yield m
    m.stop()


@pytest.fixture(params=["pje", "eproc"])
def mock(request: pytest.FixtureRequest) -> Mock:
    """Each profile in turn, reset."""
    m: Mock = request.getfixturevalue(request.param)
    m.http.post(m.url + "/_mock/reset").raise_for_status()
    return m


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    """The WSDL's types (wrapper elements) importing the official XSDs, compiled with lxml."""
    wsdl = etree.parse(str(MNI / "wsdl" / "servico-intercomunicacao-2.2.2.wsdl"))
    xs = copy.deepcopy(wsdl.find(f".//{{{XS}}}schema"))
    assert xs is not None
    for imp in xs.iter(f"{{{XS}}}import"):
        imp.set("schemaLocation", (MNI / "xsd" / Path(imp.get("schemaLocation", "")).name).as_uri())
    return etree.XMLSchema(xs)


def xsd_errors(schema: etree.XMLSchema, wrapper: etree._Element) -> list[str]:
    """Validation errors of *wrapper*, except the documented one: the omitted ``##other`` element."""
    schema.validate(etree.ElementTree(copy.deepcopy(wrapper)))
    return [e.message for e in schema.error_log if "##other" not in e.message]


def test_mock_numbers_have_valid_check_digits(pje: Mock, eproc: Mock) -> None:
    """Every demo process number is a valid CNJ number of its profile's J.TR."""
    for m, jtr in ((pje, "819"), (eproc, "404")):
        for p in m.demo["processes"]:
            n = p["numeroProcesso"]
            assert len(n) == 20 and n[13:16] == jtr
            assert int(n[:7] + n[9:] + n[7:9]) % 97 == 1
    assert cnj_number(1, 2024, 8, 19, 1)[13:16] == "819"
    assert any(p["installation"] == "2" for p in pje.demo["processes"]), "one PJe process lives in the 2nd degree"


def test_zeep_calls_all_six_operations(mock: Mock) -> None:
    """zeep built from the installation's own ?wsdl calls every operation and reads the answers."""
    client = zeep.Client(mock.inst() + "?wsdl")
    svc, user, pw = client.service, mock.user, mock.password(mock.user)
    if mock.profile == "pje-tjrj":
        avisos = svc.consultarAvisosPendentes(idConsultante=user, senhaConsultante=pw)
        assert avisos.sucesso is True
    else:  # eproc quirk: avisos answers carry no sucesso/mensagem, which strict zeep refuses
        with pytest.raises(zeep.exceptions.XMLParseError):
            svc.consultarAvisosPendentes(idConsultante=user, senhaConsultante=pw)
        lax = zeep.Client(mock.inst() + "?wsdl", settings=zeep.Settings(strict=False))
        avisos = lax.service.consultarAvisosPendentes(idConsultante=user, senhaConsultante=pw)
        assert avisos.sucesso is None
    ids = [a.idAviso for a in avisos.aviso]
    assert ids and all(len(x) == 15 for x in ids)
    teor = svc.consultarTeorComunicacao(idConsultante=user, senhaConsultante=pw, identificadorAviso=ids[0])
    assert teor.sucesso and teor.comunicacao[0].teor
    numero = teor.comunicacao[0].processo
    proc = svc.consultarProcesso(idConsultante=user, senhaConsultante=pw, numeroProcesso=numero, movimentos=True,
                                 incluirCabecalho=True)
    assert proc.sucesso and proc.processo.dadosBasicos.numero == numero and proc.processo.movimento
    doc_id = mock.process(numeroProcesso=numero)["documentos"][0]
    proc = svc.consultarProcesso(idConsultante=user, senhaConsultante=pw, numeroProcesso=numero, documento=[doc_id])
    assert proc.processo.documento[0].conteudo.startswith(b"%PDF")
    before = svc.consultarAlteracao(idConsultante=user, senhaConsultante=pw, numeroProcesso=numero)
    assert before.sucesso and len(before.hashMovimentacoes) == 40
    pdf = b"%PDF-1.4 manifestacao via zeep " + uuid.uuid4().bytes
    sent = svc.entregarManifestacaoProcessual(
        idManifestante=user, senhaManifestante=pw, numeroProcesso=numero, dataEnvio="20250701120000",
        documento=[{"conteudo": pdf, "tipoDocumento": "13", "mimetype": "application/pdf",
                    "_value_1": zeep.xsd.SkipValue}])
    assert sent.sucesso and len(sent.protocoloRecebimento) == 30 and sent.recibo.startswith(b"%PDF")
    after = svc.consultarAlteracao(idConsultante=user, senhaConsultante=pw, numeroProcesso=numero)
    assert after.hashMovimentacoes != before.hashMovimentacoes and after.hashDocumentos != before.hashDocumentos
    assert svc.confirmarRecebimento(idRecebedor=user, senhaRecebedor=pw, protocolo=sent.protocoloRecebimento).sucesso


def test_ciencia_removes_the_aviso_and_listing_is_read_only(mock: Mock) -> None:
    """consultarAvisosPendentes does not change anything; consultarTeorComunicacao takes the aviso off the list."""
    ids = lambda w: [a.get("idAviso") for a in w.xpath(".//*[local-name()='aviso']")]  # noqa: E731
    _, first = mock.call("consultarAvisosPendentes", "")
    _, again = mock.call("consultarAvisosPendentes", "")
    assert ids(first) == ids(again) and len(ids(first)) >= 2
    status, teor = mock.call("consultarTeorComunicacao", f"<tip:identificadorAviso>{ids(first)[0]}"
                                                         "</tip:identificadorAviso>")
    assert status == 200 and val(teor, "sucesso") == "true" and val(teor, "teor")
    _, after = mock.call("consultarAvisosPendentes", "")
    assert ids(after) == ids(first)[1:]
    demo = mock.http.get(mock.url + "/_mock/demo").json()
    assert [a["pending"] for a in demo["avisos"] if a["idAviso"] == ids(first)[0]] == [False]
    # by process number: every aviso of the caller in that process
    numero = after.xpath(".//*[local-name()='processo']")[0].get("numero")
    _, teor = mock.call("consultarTeorComunicacao", f"<tip:numeroProcesso>{numero}</tip:numeroProcesso>")
    assert val(teor, "sucesso") == "true"


def test_initial_petition_gets_a_new_number_that_consultarProcesso_finds(mock: Mock) -> None:
    """dadosBasicos with 20 zeros → a new valid number in a parametro; the process then exists in installation 1."""
    dados = ('<tip:dadosBasicos numero="00000000000000000000" classeProcessual="1116" codigoLocalidade="9" '
             'nivelSigilo="0"><int:polo polo="AT"><int:parte><int:pessoa nome="UNIÃO - FAZENDA NACIONAL" '
             'tipoPessoa="juridica" numeroDocumentoPrincipal="00394460005887"/></int:parte></int:polo>'
             '<int:polo polo="PA"><int:parte><int:pessoa nome="DEVEDOR NOVO LTDA" tipoPessoa="juridica"/></int:parte>'
             '</int:polo><int:assunto><int:codigoNacional>6017</int:codigoNacional></int:assunto>'
             '<int:valorCausa>12345.67</int:valorCausa></tip:dadosBasicos>')
    status, resp = mock.call("entregarManifestacaoProcessual", dados + doc_xml(b"%PDF inicial " + uuid.uuid4().bytes,
                                                                               signed=True)
                             + "<tip:dataEnvio>20250701120000</tip:dataEnvio>", creds="Manifestante")
    assert status == 200 and val(resp, "sucesso") == "true", etree.tostring(resp)
    new = next(p.get("valor") for p in resp.xpath(".//*[local-name()='parametro']") if p.get("nome") ==
               "numeroProcesso")
    assert new and len(new) == 20 and int(new[:7] + new[9:] + new[7:9]) % 97 == 1
    assert new[13:16] == mock.demo["jtr"].replace(".", "")
    _, found = mock.call("consultarProcesso", f"<tip:numeroProcesso>{new}</tip:numeroProcesso>"
                                              "<tip:incluirDocumentos>true</tip:incluirDocumentos>")
    assert val(found, "sucesso") == "true"
    assert found.xpath(".//*[local-name()='dadosBasicos']")[0].get("classeProcessual") == "1116"
    assert len(found.xpath(".//*[local-name()='documento']")) == 1


def test_identical_manifestacao_within_600s(pje: Mock, eproc: Mock) -> None:
    """eproc refuses an identical resend with sucesso=false and an empty protocol (flagged duplicate); PJe accepts."""
    for m in (pje, eproc):
        m.http.post(m.url + "/_mock/reset")
        numero = m.process(installation="1")["numeroProcesso"]
        inner = (f"<tip:numeroProcesso>{numero}</tip:numeroProcesso>" + doc_xml(b"%PDF mesma peticao")
                 + "<tip:dataEnvio>20250701120000</tip:dataEnvio>")
        _, first = m.call("entregarManifestacaoProcessual", inner, creds="Manifestante")
        _, second = m.call("entregarManifestacaoProcessual", inner, creds="Manifestante")
        assert val(first, "sucesso") == "true" and len(val(first, "protocoloRecebimento") or "") == 30
        received = m.http.get(m.url + "/_mock/received").json()
        if m is eproc:
            assert val(second, "sucesso") == "false" and not val(second, "protocoloRecebimento")
            assert "600 segundos" in (val(second, "mensagem") or "")
            assert [r["duplicate"] for r in received] == [False, True]
        else:
            assert val(second, "sucesso") == "true"
            assert val(second, "protocoloRecebimento") != val(first, "protocoloRecebimento")
            assert [r["duplicate"] for r in received] == [False, False]


def test_alteracao_hashes_change_after_a_manifestacao(mock: Mock) -> None:
    """Header hash stays; movement and document hashes change when a petition is filed."""
    numero = mock.process(installation="1")["numeroProcesso"]
    q = f"<tip:numeroProcesso>{numero}</tip:numeroProcesso>"
    _, before = mock.call("consultarAlteracao", q)
    _, again = mock.call("consultarAlteracao", q)
    assert etree.tostring(before) == etree.tostring(again)
    mock.call("entregarManifestacaoProcessual", q + doc_xml(b"%PDF nova") + "<tip:dataEnvio>20250701120000"
              "</tip:dataEnvio>", creds="Manifestante")
    _, after = mock.call("consultarAlteracao", q)
    assert val(after, "hashCabecalho") == val(before, "hashCabecalho")
    assert val(after, "hashMovimentacoes") != val(before, "hashMovimentacoes")
    assert val(after, "hashDocumentos") != val(before, "hashDocumentos")


def test_wrong_credentials_and_eproc_date_salted_password(pje: Mock, eproc: Mock) -> None:
    """Wrong password → HTTP 200 sucesso=false; eproc wants sha256_hex(DD-MM-AAAA + senha), not the plain one."""
    for m in (pje, eproc):
        r = m.http.post(m.inst(), content=envelope("consultarAvisosPendentes",
                                                   f"<tip:idConsultante>{m.user}</tip:idConsultante>"
                                                   "<tip:senhaConsultante>errada</tip:senhaConsultante>"))
        w = body_child(r.content)
        assert r.status_code == 200 and val(w, "sucesso") == "false" and val(w, "mensagem")
    plain = eproc.demo["credentials"]["pgfn-trf4"]
    for pw, ok in ((plain, "false"), (eproc_password(plain), "true"),
                   (hashlib.sha256(("01-01-2000" + plain).encode()).hexdigest(), "false")):
        r = eproc.http.post(eproc.inst(), content=envelope(
            "consultarAlteracao", f"<tip:idConsultante>pgfn-trf4</tip:idConsultante><tip:senhaConsultante>{pw}"
            f"</tip:senhaConsultante><tip:numeroProcesso>{eproc.process()['numeroProcesso']}</tip:numeroProcesso>"))
        assert val(body_child(r.content), "sucesso") == ok
    _, w = pje.call("consultarAvisosPendentes", "", user="pgf-tjrj", inst="2")
    assert val(w, "sucesso") == "true" and w.xpath(".//*[local-name()='aviso']")


def test_process_lives_in_one_installation(pje: Mock) -> None:
    """The 2nd-degree process is found only at pje2grau; asking pje1grau answers sucesso=false, not found."""
    numero = pje.process(installation="2")["numeroProcesso"]
    q = f"<tip:numeroProcesso>{numero}</tip:numeroProcesso>"
    _, first = pje.call("consultarProcesso", q, inst="1")
    assert val(first, "sucesso") == "false" and "processo não encontrado" in (val(first, "mensagem") or "")
    _, second = pje.call("consultarProcesso", q, inst="2")
    assert val(second, "sucesso") == "true"
    assert second.xpath(".//*[local-name()='orgaoJulgador']")[0].get("instancia") == "REV"


def test_consultarProcesso_options(mock: Mock) -> None:
    """movimentos / incluirCabecalho / incluirDocumentos / documento: content only for the documents asked."""
    p = mock.process(installation="1")
    q = f"<tip:numeroProcesso>{p['numeroProcesso']}</tip:numeroProcesso>"
    _, bare = mock.call("consultarProcesso", q)
    assert bare.xpath(".//*[local-name()='polo']") and not bare.xpath(".//*[local-name()='movimento']")
    assert not bare.xpath(".//*[local-name()='documento']")
    _, listed = mock.call("consultarProcesso", q + "<tip:movimentos>true</tip:movimentos><tip:incluirCabecalho>false"
                          "</tip:incluirCabecalho><tip:incluirDocumentos>true</tip:incluirDocumentos>"
                          f"<tip:documento>{p['documentos'][0]}</tip:documento>")
    docs = listed.xpath(".//*[local-name()='documento']")
    assert [d.get("idDocumento") for d in docs] == p["documentos"]
    with_content = [d.get("idDocumento") for d in docs if d.xpath("./*[local-name()='conteudo']")]
    assert with_content == [p["documentos"][0]]
    assert listed.xpath(".//*[local-name()='movimento']")
    assert not listed.xpath(".//*[local-name()='polo']"), "incluirCabecalho=false → empty dadosBasicos"
    small = [x for x in mock.demo["processes"] if x["numeroProcesso"] != mock.demo["big_document"]["numeroProcesso"]]
    _, everything = mock.call("consultarProcesso", f"<tip:numeroProcesso>{small[0]['numeroProcesso']}"
                              "</tip:numeroProcesso><tip:documento>*</tip:documento>")
    contents = everything.xpath(".//*[local-name()='conteudo']")
    assert len(contents) == len(small[0]["documentos"])
    for c in contents:
        data = base64.b64decode(c.text or "")
        assert hashlib.sha256(data).hexdigest() == c.getparent().get("hash")
    _, missing = mock.call("consultarProcesso", "<tip:numeroProcesso>00000011120248190001</tip:numeroProcesso>")
    assert val(missing, "sucesso") == "false"


def _parts(resp: httpx.Response) -> tuple[etree._Element, dict[str, bytes]]:
    """Split an MTOM answer: (body child of the root part, attachments by Content-ID)."""
    raw = f"Content-Type: {resp.headers['content-type']}\r\n\r\n".encode() + resp.content
    msg = email.message_from_bytes(raw, policy=email.policy.HTTP)
    assert msg.is_multipart()
    parts = list(msg.iter_parts())
    root = parts[0].get_payload(decode=True)
    attachments = {str(p["Content-ID"]).strip("<>"): p.get_payload(decode=True) for p in parts[1:]}
    return body_child(root), attachments  # type: ignore[arg-type]


def test_mtom_answers_on_request(mock: Mock) -> None:
    """With /_mock/config mtom (or X-Mock-Mtom), contents and receipts travel as XOP attachments."""
    p = mock.process(installation="1")
    mock.http.post(mock.url + "/_mock/config", json={"mtom": True}).raise_for_status()
    r = mock.http.post(mock.inst(), content=envelope("consultarProcesso", (
        f"<tip:idConsultante>{mock.user}</tip:idConsultante><tip:senhaConsultante>{mock.password(mock.user)}"
        f"</tip:senhaConsultante><tip:numeroProcesso>{p['numeroProcesso']}</tip:numeroProcesso>"
        f"<tip:documento>{p['documentos'][0]}</tip:documento>")))
    assert r.headers["content-type"].startswith("multipart/related")
    assert int(r.headers["content-length"]) == len(r.content)
    w, atts = _parts(r)
    inc = w.xpath(".//*[local-name()='conteudo']/*[local-name()='Include']")[0]
    data = atts[inc.get("href")[4:]]
    assert hashlib.sha256(data).hexdigest() == inc.getparent().getparent().get("hash")
    mock.http.post(mock.url + "/_mock/config", json={"mtom": False})
    r = mock.http.post(mock.inst(), headers={"X-Mock-Mtom": "true"}, content=envelope(
        "entregarManifestacaoProcessual",
        f"<tip:idManifestante>{mock.user}</tip:idManifestante><tip:senhaManifestante>{mock.password(mock.user)}"
        f"</tip:senhaManifestante><tip:numeroProcesso>{p['numeroProcesso']}</tip:numeroProcesso>"
        + doc_xml(b"%PDF mtom") + "<tip:dataEnvio>20250701120000</tip:dataEnvio>"))
    w, atts = _parts(r)
    href = w.xpath(".//*[local-name()='recibo']/*[local-name()='Include']")[0].get("href")
    assert atts[href[4:]].startswith(b"%PDF")


def test_mtom_iso8859_and_misspelled_namespace_requests(eproc: Mock) -> None:
    """An MTOM/XOP request is resolved against its attachment; ISO-8859-1 and the manual's namespace typo are read."""
    eproc.http.post(eproc.url + "/_mock/reset")
    numero = eproc.process(installation="1")["numeroProcesso"]
    pdf = b"%PDF-1.4 anexo via MTOM " + uuid.uuid4().bytes
    root = (f'<s:Envelope xmlns:s="{SOAP}" xmlns:ns1="http://www.cnj.jus.br/servicointercomunicacao-2.2.2/" '
            'xmlns:ns3="http://www.cnj.jus.br/tipos-servicointercomunicacao-2.2.2" '
            f'xmlns:ns2="{INTER}" xmlns:xop="http://www.w3.org/2004/08/xop/include"><s:Body>'
            f"<ns1:entregarManifestacaoProcessual><ns3:numeroProcesso>{numero}</ns3:numeroProcesso>"
            '<ns3:documento tipoDocumento="13" mimetype="application/pdf"><ns2:conteudo>'
            '<xop:Include href="cid:anexo1%40cliente"/></ns2:conteudo></ns3:documento>'
            f"<ns3:idManifestante>pgfn-trf4</ns3:idManifestante>"
            f"<ns3:senhaManifestante>{eproc.password('pgfn-trf4')}</ns3:senhaManifestante>"
            "</ns1:entregarManifestacaoProcessual></s:Body></s:Envelope>").encode()
    body = (b"--B\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"text/xml\"\r\nContent-ID: <root>\r\n\r\n"
            + root + b"\r\n--B\r\nContent-Type: application/pdf\r\nContent-ID: <anexo1@cliente>\r\n\r\n" + pdf
            + b"\r\n--B--\r\n")
    r = eproc.http.post(eproc.inst(), content=body, headers={
        "Content-Type": 'multipart/related; type="application/xop+xml"; boundary=B; start="<root>"'})
    assert r.status_code == 200 and val(body_child(r.content), "sucesso") == "true", r.text
    _, found = eproc.call("consultarProcesso", f"<tip:numeroProcesso>{numero}</tip:numeroProcesso>"
                                               "<tip:incluirDocumentos>true</tip:incluirDocumentos>")
    assert hashlib.sha256(pdf).hexdigest() in [d.get("hash") for d in found.xpath(".//*[local-name()='documento']")]
    latin = envelope("consultarAlteracao", f"<tip:idConsultante>pgfn-trf4</tip:idConsultante><tip:senhaConsultante>"
                     f"{eproc.password('pgfn-trf4')}</tip:senhaConsultante><tip:numeroProcesso>{numero}"
                     "</tip:numeroProcesso><!-- observação: ação -->").decode()
    r = eproc.http.post(eproc.inst(), content=b'<?xml version="1.0" encoding="ISO-8859-1"?>' + latin.encode("latin-1"))
    assert val(body_child(r.content), "sucesso") == "true"
    r = eproc.http.post(eproc.inst(), content=latin.encode("latin-1"),
                        headers={"Content-Type": "text/xml; charset=ISO-8859-1"})
    assert val(body_child(r.content), "sucesso") == "true"


def test_large_request_keeps_only_size_and_digest(pje: Mock) -> None:
    """A 12 MB document posted inline is accepted; the mock keeps its sha256 and size, not the bytes."""
    pje.http.post(pje.url + "/_mock/reset")
    numero = pje.process(installation="1")["numeroProcesso"]
    big = hashlib.sha256(b"x").digest() * (12 * 1024 * 1024 // 32)
    status, w = pje.call("entregarManifestacaoProcessual", f"<tip:numeroProcesso>{numero}</tip:numeroProcesso>"
                         + doc_xml(big) + "<tip:dataEnvio>20250701120000</tip:dataEnvio>", creds="Manifestante")
    assert status == 200 and val(w, "sucesso") == "true"
    _, found = pje.call("consultarProcesso", f"<tip:numeroProcesso>{numero}</tip:numeroProcesso>"
                                             "<tip:documento>*</tip:documento>")
    doc = [d for d in found.xpath(".//*[local-name()='documento']") if d.get("hash") == hashlib.sha256(big).hexdigest()]
    assert len(doc) == 1 and not doc[0].xpath("./*[local-name()='conteudo']")
    params = {p.get("nome"): p.get("valor") for p in doc[0].xpath("./*[local-name()='outroParametro']")}
    assert params["tamanho"] == str(len(big)) and "conteudoIndisponivel" in params
    assert len(pje.http.get(pje.url + "/_mock/received").json()[0]["body"]) <= 2048


def _request_fixtures() -> list[Path]:
    return sorted(p for p in FIX.glob("*/*_req*.xml") if p.parent.name != "mni3-eproc-tjsp")


@pytest.mark.parametrize("path", _request_fixtures(), ids=lambda p: p.name)
def test_every_real_request_fixture_is_read(pje: Mock, eproc: Mock, path: Path) -> None:
    """Each real 2.2.2 request, posted raw, gets HTTP 200 and an answer (sucesso false: placeholder credentials)."""
    for m in (pje, eproc):
        r = m.http.post(m.inst(), content=path.read_bytes(), headers={"Content-Type": "text/xml; charset=utf-8"})
        assert r.status_code == 200, r.text
        w = body_child(r.content)
        assert etree.QName(w).localname.endswith("Resposta") and val(w, "sucesso") in ("true", "false")


def _response_fixtures() -> list[Path]:
    out = []
    for p in sorted(FIX.glob("*/*.xml")):
        if p.parent.name == "mni3-eproc-tjsp" or "MNI2.1" in p.name or "payload" in p.name or "excerpt" in p.name:
            continue
        if "_resp" in p.name or "Resposta" in p.name:
            out.append(p)
    return out


@pytest.mark.parametrize("path", _response_fixtures(), ids=lambda p: p.name)
def test_canned_responses_replay_byte_for_byte(pje: Mock, path: Path) -> None:
    """POST /_mock/canned makes the next calls of that operation answer exactly the fixture's bytes."""
    pje.http.post(pje.url + "/_mock/reset")
    raw = path.read_bytes()
    op = etree.QName(body_child(raw)).localname.removesuffix("Resposta")
    pje.http.post(pje.url + "/_mock/canned", json={"operation": op, "status": 200,
                                                   "content_type": "text/xml; charset=utf-8",
                                                   "body_base64": base64.b64encode(raw).decode()}).raise_for_status()
    for _ in range(2):
        r = pje.http.post(pje.inst(), content=envelope(op, "<tip:idConsultante>x</tip:idConsultante>"))
        assert r.status_code == 200 and r.content == raw and r.headers["content-type"] == "text/xml; charset=utf-8"
    pje.http.post(pje.url + "/_mock/reset")
    r = pje.http.post(pje.inst(), content=envelope(op, "<tip:idConsultante>x</tip:idConsultante>"))
    assert r.content != raw


def test_the_50mb_document_comes_back_with_its_digest(eproc: Mock) -> None:
    """consultarProcesso with the big document's id streams 50 MB whose sha256 is the demo's."""
    big = eproc.demo["big_document"]
    assert big["size"] == 50 * 1024 * 1024
    h, size = hashlib.sha256(), 0
    with eproc.http.stream("POST", eproc.inst(big["installation"]), content=envelope("consultarProcesso", (
            f"<tip:idConsultante>pgfn-trf4</tip:idConsultante><tip:senhaConsultante>{eproc.password('pgfn-trf4')}"
            f"</tip:senhaConsultante><tip:numeroProcesso>{big['numeroProcesso']}</tip:numeroProcesso>"
            f"<tip:documento>{big['idDocumento']}</tip:documento>"))) as r:
        assert r.status_code == 200 and int(r.headers["content-length"]) > big["size"]
        parser = etree.XMLPullParser(events=("end",), huge_tree=True)
        for chunk in r.iter_bytes(1 << 20):
            parser.feed(chunk)
            for _, el in parser.read_events():
                if etree.QName(el).localname == "conteudo":
                    data = base64.b64decode(el.text or "")
                    h.update(data)
                    size += len(data)
                    el.text = None
    assert size == big["size"] and h.hexdigest() == big["sha256"]


def test_responses_validate_against_the_official_xsd(mock: Mock, schema: etree.XMLSchema) -> None:
    """Everything the mock builds is valid MNI 2.2.2, except the omitted ##other element (documented)."""
    mock.http.post(mock.url + "/_mock/config", json={"omit_avisos_status": False})
    p = mock.process(installation="1")
    q = f"<tip:numeroProcesso>{p['numeroProcesso']}</tip:numeroProcesso>"
    _, avisos = mock.call("consultarAvisosPendentes", "")
    aviso_id = avisos.xpath(".//*[local-name()='aviso']")[0].get("idAviso")
    answers = [
        avisos,
        mock.call("consultarTeorComunicacao", f"<tip:identificadorAviso>{aviso_id}</tip:identificadorAviso>")[1],
        mock.call("consultarProcesso", q + "<tip:movimentos>true</tip:movimentos><tip:incluirDocumentos>true"
                                           f"</tip:incluirDocumentos><tip:documento>{p['documentos'][0]}"
                                           "</tip:documento>")[1],
        mock.call("consultarProcesso", "<tip:numeroProcesso>00000011120248190001</tip:numeroProcesso>")[1],
        mock.call("consultarAlteracao", q)[1],
        mock.call("entregarManifestacaoProcessual", q + doc_xml(b"%PDF v") + "<tip:dataEnvio>20250701120000"
                  "</tip:dataEnvio>", creds="Manifestante")[1],
        mock.call("entregarManifestacaoProcessual", q + doc_xml(b"%PDF v") + "<tip:dataEnvio>20250701120000"
                  "</tip:dataEnvio>", creds="Manifestante")[1],
        mock.call("confirmarRecebimento", "<tip:protocolo>1</tip:protocolo>", creds="Recebedor")[1],
        mock.call("consultarAvisosPendentes", "", user="ninguem")[1],
    ]
    for w in answers:
        assert xsd_errors(schema, w) == [], etree.tostring(w)[:3000]


def test_mock_endpoints_received_faults_reset(pje: Mock) -> None:
    """/_mock/received lists each call with operation, number, message id, installation; faults and reset work."""
    pje.http.post(pje.url + "/_mock/reset")
    numero = pje.process(installation="2")["numeroProcesso"]
    pje.call("consultarProcesso", f"<tip:numeroProcesso>{numero}</tip:numeroProcesso>", inst="2",
             headers={"X-Gateway-Message-Id": "msg-1"})
    r = pje.http.post(pje.inst(), content=b"<nao-fecha>")
    assert r.status_code == 500 and b"Fault" in r.content
    bad = [b'<!DOCTYPE x [<!ENTITY a "b">]>' + envelope("consultarAvisosPendentes", "&a;"),
           b"<a>" * 300 + b"</a>" * 300,
           envelope("operacaoInventada", ""),
           envelope("consultarAvisosPendentes", "").replace(SOAP.encode(), b"http://www.w3.org/2003/05/soap-envelope")]
    codes = [body_child(pje.http.post(pje.inst(), content=b).content).findtext("faultcode") for b in bad]
    assert codes == ["soap:Client", "soap:Client", "soap:Client", "soap:VersionMismatch"]
    received = pje.http.get(pje.url + "/_mock/received").json()
    assert received[0] | {"body": "", "received_at": ""} == {
        "id": "msg-1", "operation": "consultarProcesso", "numeroProcesso": numero, "installation": "2",
        "duplicate": False, "body": "", "received_at": ""}
    assert received[1]["operation"] is None and len(received) == 6
    pje.http.post(pje.url + "/_mock/faults", json={"error_rate": 1.0, "status": 503})
    assert pje.http.post(pje.inst(), content=envelope("consultarAvisosPendentes", "")).status_code == 503
    pje.http.post(pje.url + "/_mock/reset")
    assert pje.http.get(pje.url + "/_mock/received").json() == []
    assert pje.http.post(pje.inst(), content=envelope("consultarAvisosPendentes", "")).status_code == 200
    wsdl = pje.http.get(pje.inst("2") + "?wsdl").text
    assert f'location="{pje.inst("2")}"' in wsdl
    assert pje.http.get(pje.url + "/xsd/intercomunicacao-2.2.2.xsd").status_code == 200


@pytest.mark.parametrize("mtom", [False, True])
def test_latency_after_holds_every_answer_the_court_has_acted_on(pje: Mock, mtom: bool) -> None:
    """``latency_after_ms``: the court acts at once and answers late — also when its answer is streamed (a receipt
    inline as base64 or as an MTOM attachment), where a wait after the handler would hold only the connection. The
    gateway's crash tests rely on it to have petitions at the court with no answer yet."""
    pje.http.post(pje.url + "/_mock/reset")
    p = pje.process(installation="1")
    pje.http.post(pje.url + "/_mock/faults", json={"latency_after_ms": 1500}).raise_for_status()
    done: list[float] = []

    def deliver() -> None:
        r = httpx.post(pje.inst(), headers={"X-Mock-Mtom": "true"} if mtom else {}, content=envelope(
            "entregarManifestacaoProcessual",
            f"<tip:idManifestante>{pje.user}</tip:idManifestante><tip:senhaManifestante>{pje.password(pje.user)}"
            f"</tip:senhaManifestante><tip:numeroProcesso>{p['numeroProcesso']}</tip:numeroProcesso>"
            + doc_xml(b"%PDF late") + "<tip:dataEnvio>20250701120000</tip:dataEnvio>"), timeout=30)
        assert r.status_code == 200 and b"recibo" in r.content
        done.append(time.monotonic())

    started = time.monotonic()
    caller = threading.Thread(target=deliver)
    caller.start()
    try:
        wait_until(lambda: any(e["operation"] == "entregarManifestacaoProcessual"
                               for e in pje.http.get(pje.url + "/_mock/received").json()),
                   timeout=10, interval=0.02, what="the court acted")
        assert not done, "the answer came before the latency"
        caller.join(timeout=30)
        assert done and done[0] - started >= 1.4, done
    finally:
        pje.http.post(pje.url + "/_mock/faults", json={})
