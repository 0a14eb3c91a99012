"""The tolerant MNI 2.2.2 reader against the real messages of tests/fixtures/mni and synthetic edge cases."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from lxml import etree

from gateway.errors import CATALOGUE, GatewayError, MalformedRequest, VersionMismatch
from gateway.mni.errors import TribunalResponseUnreadable
from gateway.mni.names import INTER_NS, MISSPELLED_NS, OPERATIONS, SERVICO_NS, SOAP11_NS, TIPOS_NS
from gateway.mni.reader import MniMessage, read_request, read_response
from gateway.mni.responses import canonical_response, error_response
from gateway.mni.schema import operation_schema
from gateway.settings import XmlLimits

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mni"
LIMITS = XmlLimits(max_body_bytes=100 * 1024 * 1024, max_depth=64, max_text_bytes=256 * 1024)
OUT_OF_SCOPE = {
    "ListaCDA_outroParametro_payload.xml",
    "entregarManifestacaoProcessual_resp_erro_controleExterno_MNI2.1.xml",
}
REQUESTS = sorted(
    p for p in FIXTURES.glob("*/*.xml")
    if "_req" in p.name and p.parent.name != "mni3-eproc-tjsp" and p.name not in OUT_OF_SCOPE
)
RESPONSES = sorted(
    p for p in FIXTURES.glob("*/*.xml")
    if ("_resp" in p.name or "Resposta" in p.name) and p.parent.name != "mni3-eproc-tjsp"
    and p.name not in OUT_OF_SCOPE and "_excerpt" not in p.name
)
MISSPELLED_FILES = (
    "entregarManifestacaoProcessual_req_identEncerraPrazos.xml",
    "entregarManifestacaoProcessual_req_incidental_assinaturaP7S.xml",
    "entregarManifestacaoProcessual_req_incidental_signatarioLogin.xml",
)


def fixture(name: str) -> bytes:
    """The bytes of the fixture called *name* (searched in every folder)."""
    return next(FIXTURES.glob(f"*/{name}")).read_bytes()


def codes(msg: MniMessage) -> set[str]:
    """The deviation codes of *msg*."""
    return {d.code for d in msg.deviations}


def envelope(body: str, header: str = "", decl: str = "") -> bytes:
    """A SOAP 1.1 request with *body* in the Body (and *header* in a Header)."""
    return (
        f'{decl}<s:Envelope xmlns:s="{SOAP11_NS}" xmlns:ser="{SERVICO_NS}" xmlns:tip="{TIPOS_NS}" '
        f'xmlns:int="{INTER_NS}">' + (f"<s:Header>{header}</s:Header>" if header else "")
        + f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def test_fixture_sets_are_complete() -> None:
    """The in-scope sets hold every request and response the fixture README names."""
    assert len(REQUESTS) == 14
    assert len(RESPONSES) == 14


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: p.name)
def test_every_request_fixture_is_read(path: Path) -> None:
    """Each real request is read without raising: operation, credentials and the operation element are known."""
    msg = read_request(path.read_bytes(), "text/xml; charset=utf-8", LIMITS)
    assert msg.operation in OPERATIONS
    assert etree.QName(msg.body).namespace == SERVICO_NS
    assert msg.credentials is not None and msg.credentials.source in {"consultante", "manifestante"}
    assert msg.sucesso is None
    for el in msg.root.iter():
        ns = etree.QName(el).namespace
        assert ns not in MISSPELLED_NS


@pytest.mark.parametrize("name", MISSPELLED_FILES)
def test_misspelled_namespace_files(name: str) -> None:
    """The three eproc examples with the manual's namespace typo are normalised and say so."""
    msg = read_request(fixture(name), None, LIMITS)
    assert msg.operation == "entregarManifestacaoProcessual"
    assert "namespace-grafado-errado" in codes(msg)
    assert {"dataEnvio-ausente", "any-other-ausente", "conteudo-nao-base64"} <= codes(msg)
    assert msg.credentials is not None and msg.credentials.source == "manifestante"
    assert msg.parameters and msg.numero_processo and len(msg.numero_processo) == 20
    assert b"servicointercomunicacao" not in etree.tostring(msg.root)


def test_request_details() -> None:
    """Specific fixtures carry the deviations and values they are known for."""
    m = read_request(fixture("consultarProcesso_req_todos_documentos_asterisco.xml"), None, LIMITS)
    assert {"documento-asterisco", "varias-opcoes-choice"} <= codes(m)
    assert m.credentials is not None and m.credentials.user == "ID_CONSULTANTE"
    assert m.numero_processo == "50000813720188210044"
    m = read_request(fixture("consultarAvisosPendentes_req_outroParametro.xml"), None, LIMITS)
    assert m.parameters == [("todosPrazos", "true"), ("informacoesDetalhadas", "true"), ("inibirPartes", "true")]
    assert {"outroParametro-namespace", "ordem-dos-elementos"} <= codes(m)
    names = [etree.QName(c).localname for c in m.body]
    assert names.index("idRepresentado") < names.index("idConsultante")  # schema order restored
    assert names[-1] == "outroParametro"  # the extensions stay in the message
    m = read_request(fixture("entregarManifestacaoProcessual_req_incidental_assinaturaP7S.xml"), None, LIMITS)
    assert "parametros-namespace" in codes(m)
    assert m.parameters == [("identificadorComunicacao", "201611183000011"), ("abrirPrazoAutomaticamente", "true")]
    m = read_request(fixture("entregarManifestacaoProcessual_req_incidental_signatarioLogin.xml"), None, LIMITS)
    assert "namespace-do-elemento" in codes(m)
    assert m.body.find(f"{{{TIPOS_NS}}}documento/{{{INTER_NS}}}assinatura") is not None
    m = read_request(fixture("consultarTeorComunicacao_req.xml"), None, LIMITS)
    assert m.identificador_aviso == "201805110000003" and not m.deviations
    m = read_request(fixture("consultarProcesso_req_PGMBH.xml"), None, LIMITS)
    assert m.deviations == []
    m = read_request(fixture("consultarAlteracao_req.xml"), None, LIMITS)
    assert "numeroProcesso-invalido" in codes(m)


@pytest.mark.parametrize("path", RESPONSES, ids=lambda p: p.name)
def test_every_response_fixture_is_read_and_canonicalised(path: Path) -> None:
    """Each real answer is read, and its canonical form is one XML document in the official namespaces."""
    msg = read_response(path.read_bytes(), "text/xml", LIMITS)
    assert msg.operation.endswith("Resposta")
    if "informacoesDetalhadas" in path.name or "inibirPartes" in path.name:
        assert msg.sucesso is None and msg.mensagem is None
        assert {"sucesso-ausente", "mensagem-ausente"} <= codes(msg)
    else:
        assert msg.sucesso is not None and msg.mensagem is not None
    out = etree.fromstring(canonical_response(msg))
    op = out.find(f"{{{SOAP11_NS}}}Body/{{{SERVICO_NS}}}{msg.operation}")
    assert op is not None
    assert op[0].tag == f"{{{TIPOS_NS}}}sucesso" and op[1].tag == f"{{{TIPOS_NS}}}mensagem"
    namespaces = {etree.QName(el).namespace for el in out.iter()}
    assert namespaces <= {SOAP11_NS, SERVICO_NS, TIPOS_NS, INTER_NS, "http://www.w3.org/2004/08/xop/include"}


def test_response_details() -> None:
    """PJe TJCE's short idAviso and instancia ORI, eproc's text parametro and MNI 2.1 answers."""
    m = read_response(fixture("consultarAvisosPendentesResposta_TJCE_wrapped.xml"), None, LIMITS)
    assert {"idAviso-curto", "instancia-ORI", "atributo-obrigatorio-ausente"} <= codes(m)
    m = read_response(fixture("consultarTeorComunicacaoResposta_TJCE_wrapped.xml"), None, LIMITS)
    assert "idAviso-curto" in codes(m)
    m = read_response(fixture("entregarManifestacaoProcessual_resp_sucesso_mtom.xml"), None, LIMITS)
    assert m.parameters == [("numeroProcesso", "50349435820164047100")]
    assert {"parametro-com-texto", "xop-sem-anexo"} <= codes(m)
    m = read_response(fixture("consultarProcesso_resp_anexoA_cabecalho_movimentos.xml"), None, LIMITS)
    assert "texto-solto" in codes(m) and m.codigo_localidade == "07" and len(m.documents) == 6
    canonical = canonical_response(read_response(fixture("consultarAvisosPendentes_resp_inibirPartes.xml"), None,
                                                 LIMITS), "[hub]")
    assert b"<ns1:sucesso>true</ns1:sucesso><ns1:mensagem>[hub]</ns1:mensagem>" in canonical
    with pytest.raises(TribunalResponseUnreadable) as e:
        read_response(fixture("entregarManifestacaoProcessual_resp_erro_controleExterno_MNI2.1.xml"), None, LIMITS)
    assert e.value.code == "MNI-E047" and e.value.cause == "MNI-E010"


CONSULTA = (
    "<ser:consultarProcesso><tip:idConsultante>u</tip:idConsultante><tip:senhaConsultante>p</tip:senhaConsultante>"
    "<tip:numeroProcesso>50224418220178130024</tip:numeroProcesso></ser:consultarProcesso>"
)


def test_iso_8859_1_body() -> None:
    """A body declared ISO-8859-1 is read and recorded."""
    body = envelope(CONSULTA.replace(">u<", ">João<"), decl='<?xml version="1.0" encoding="ISO-8859-1"?>')
    msg = read_request(body.decode().encode("latin-1"), "text/xml", LIMITS)
    assert msg.credentials is not None and msg.credentials.user == "João"
    assert "codificacao-iso-8859-1" in codes(msg)


def test_default_namespace_serialisation() -> None:
    """The operation in a default namespace and its children in another default namespace read the same."""
    body = (
        f'<Envelope xmlns="{SOAP11_NS}"><Body><consultarProcesso xmlns="{SERVICO_NS}">'
        f'<idConsultante xmlns="{TIPOS_NS}">u</idConsultante>'
        f'<senhaConsultante xmlns="{TIPOS_NS}">p</senhaConsultante>'
        f'<numeroProcesso xmlns="{TIPOS_NS}">50224418220178130024</numeroProcesso>'
        "</consultarProcesso></Body></Envelope>"
    ).encode()
    msg = read_request(body, None, LIMITS)
    assert msg.operation == "consultarProcesso" and msg.deviations == []
    assert msg.numero_processo == "50224418220178130024"


def test_ws_security_username_token() -> None:
    """Without MNI credential fields, the UsernameToken is the credential."""
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    header = (
        f'<w:Security xmlns:w="{wsse}" s:mustUnderstand="1"><w:UsernameToken><w:Username>pgfn-mni</w:Username>'
        "<w:Password>segredo</w:Password></w:UsernameToken></w:Security>"
    )
    body = (
        "<ser:consultarAlteracao><tip:numeroProcesso>50224418220178130024</tip:numeroProcesso>"
        "</ser:consultarAlteracao>"
    )
    msg = read_request(envelope(body, header), None, LIMITS)
    assert msg.credentials is not None
    assert (msg.credentials.user, msg.credentials.password, msg.credentials.source) == ("pgfn-mni", "segredo", "wsse")
    assert "ws-security" in codes(msg)


def test_header_read_once_and_foreign_security_is_not_understood() -> None:
    """The envelope's Header is on the message (the hub needs no second look); a mustUnderstand Security block
    outside the OASIS WS-Security namespace is not processed, so it is recorded like any ignored header. (The
    token repeats the MNI fields' identity: different ones are MNI-E025, tested apart.)"""
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    header = (
        f'<w:Security xmlns:w="{wsse}" s:mustUnderstand="1"><w:UsernameToken><w:Username>u</w:Username>'
        '<w:Password>p</w:Password></w:UsernameToken></w:Security>'
        '<o:Security xmlns:o="urn:outra-seguranca" s:mustUnderstand="1"/>'
    )
    for light in (True, False):
        msg = read_request(envelope(CONSULTA, header), None, LIMITS, light=light)
        assert msg.header is not None and msg.header.tag == f"{{{SOAP11_NS}}}Header"
        assert msg.credentials is not None and msg.credentials.source == "consultante"
        assert [d.code for d in msg.deviations] == ["ws-security", "cabecalho-ignorado"]
        assert "urn:outra-seguranca" in msg.deviations[1].detail
    assert read_request(envelope(CONSULTA), None, LIMITS).header is None


def test_envelope_in_another_namespace_is_a_version_mismatch() -> None:
    """An Envelope outside SOAP 1.1's namespace (not only SOAP 1.2's) is MNI-E008, as SOAP 1.1 §4.4.1 says."""
    other = envelope(CONSULTA).replace(f'xmlns:s="{SOAP11_NS}"'.encode(), b'xmlns:s="urn:outro-envelope"')
    bare = f'<Envelope><Body><x:consultarProcesso xmlns:x="{SERVICO_NS}"/></Body></Envelope>'.encode()
    for body in (other, bare):
        with pytest.raises(VersionMismatch) as e:
            read_request(body, None, LIMITS)
        assert e.value.code == "MNI-E008"


@pytest.mark.parametrize("quote", ['"', "'"])
def test_misspelled_namespace_found_with_either_quote(quote: str) -> None:
    """A misspelled namespace is normalised whichever quote declares it, and a CNJ URL in an ordinary attribute
    value is not mistaken for one."""
    wrong = "http://www.cnj.jus.br/servicointercomunicacao-2.2.2/"
    body = envelope(CONSULTA).replace(f'xmlns:ser="{SERVICO_NS}"'.encode(),
                                      f"xmlns:ser={quote}{wrong}{quote}".encode())
    msg = read_request(body, None, LIMITS)
    assert "namespace-grafado-errado" in codes(msg) and msg.operation == "consultarProcesso"
    plain = envelope(CONSULTA.replace("<tip:numeroProcesso>", f'<tip:numeroProcesso x="{wrong}">'))
    assert "namespace-grafado-errado" not in codes(read_request(plain, None, LIMITS))


def test_mtom_request_with_5mb_attachment() -> None:
    """A multipart/related XOP filing: the document's digest is the attachment's sha256."""
    payload = bytes(range(256)) * (5 * 1024 * 1024 // 256)
    xml = envelope(
        "<ser:entregarManifestacaoProcessual><tip:idManifestante>u</tip:idManifestante>"
        "<tip:senhaManifestante>p</tip:senhaManifestante><tip:numeroProcesso>50224418220178130024</tip:numeroProcesso>"
        '<tip:documento tipoDocumento="13" mimetype="application/pdf" idDocumento="d1"><int:conteudo>'
        '<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:doc1%40hub"/></int:conteudo>'
        "</tip:documento><tip:dataEnvio>20250101120000</tip:dataEnvio></ser:entregarManifestacaoProcessual>"
    )
    body = (
        b"--MIMEBoundary\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"text/xml\"\r\n"
        b"Content-Transfer-Encoding: binary\r\nContent-ID: <root@hub>\r\n\r\n" + xml
        + b"\r\n--MIMEBoundary\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: binary\r\n"
        b"Content-ID: <doc1@hub>\r\n\r\n" + payload + b"\r\n--MIMEBoundary--\r\n"
    )
    ct = 'multipart/related; type="application/xop+xml"; boundary="MIMEBoundary"; start="<root@hub>"'
    msg = read_request(body, ct, LIMITS)
    assert "mtom-xop" in codes(msg)
    assert msg.attachments["doc1@hub"] == payload
    (doc,) = msg.documents
    assert doc.xop and doc.size == len(payload) and doc.id_documento == "d1"
    assert doc.digest == hashlib.sha256(payload).hexdigest()
    conteudo = msg.body.find(f".//{{{INTER_NS}}}conteudo")
    assert conteudo is not None and conteudo[0].tag.endswith("Include")  # kept, not inlined
    missing = body.replace(b"Content-ID: <doc1@hub>", b"Content-ID: <other@hub>")
    with pytest.raises(MalformedRequest) as e:
        read_request(missing, ct, LIMITS)
    assert e.value.code == "MNI-E011"


def test_inline_base64_digest_and_initial_petition() -> None:
    """Inline base64 content is decoded for the digest; an initial petition's dadosBasicos is digested."""
    content = b"%PDF-1.4 conteudo"
    body = envelope(
        "<ser:entregarManifestacaoProcessual><tip:idManifestante>u</tip:idManifestante>"
        '<tip:dadosBasicos numero="00000000000000000000" classeProcessual="1116" codigoLocalidade="0001" '
        'nivelSigilo="0"><int:polo polo="AT"><int:parte><int:pessoa nome="X" tipoPessoa="juridica"/></int:parte>'
        '</int:polo><int:assunto><int:codigoNacional>6017</int:codigoNacional></int:assunto>'
        '<int:orgaoJulgador codigoOrgao="1" nomeOrgao="V" instancia="ORIG" codigoMunicipioIBGE="1"/>'
        '</tip:dadosBasicos><tip:documento tipoDocumento="1"><int:conteudo>'
        + base64.b64encode(content).decode() + "</int:conteudo></tip:documento></ser:entregarManifestacaoProcessual>"
    )
    msg = read_request(body, None, LIMITS)
    assert msg.documents[0].digest == hashlib.sha256(content).hexdigest()
    assert msg.codigo_localidade == "0001" and msg.dados_basicos_digest and len(msg.dados_basicos_digest) == 64
    assert msg.numero_processo == "0" * 20
    assert {"atributo-obrigatorio-ausente", "dataEnvio-ausente", "any-other-ausente"} <= codes(msg)
    assert "numeroProcesso-invalido" not in codes(msg) and "numeroProcesso-dv-invalido" not in codes(msg)


@pytest.mark.parametrize(("body", "code", "kind"), [
    (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
     b"<l>&b;</l>", "MNI-E002", MalformedRequest),
    (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>', "MNI-E008",
     VersionMismatch),
    (b"isto nao e XML", "MNI-E001", MalformedRequest),
    (b"<a><b></a>", "MNI-E001", MalformedRequest),
    (b"<a/>", "MNI-E007", MalformedRequest),
    (envelope("<ser:vender/>"), "MNI-E009", MalformedRequest),
    (envelope('<x:consultarProcesso xmlns:x="urn:outro"/>'), "MNI-E010", MalformedRequest),
    (b'<?xml version="1.0" encoding="UTF-16"?><a/>', "MNI-E006", MalformedRequest),
])
def test_unreadable_requests_raise(body: bytes, code: str, kind: type[GatewayError]) -> None:
    """Only what cannot be read at all raises, with its MNI code from the catalogue."""
    with pytest.raises(kind) as e:
        read_request(body, "text/xml", LIMITS)
    assert e.value.code == code and code in CATALOGUE


def test_limits() -> None:
    """Body size and non-binary text are limited."""
    with pytest.raises(MalformedRequest) as e:
        read_request(envelope(CONSULTA), None, XmlLimits(max_body_bytes=100))
    assert e.value.code == "MNI-E004"
    long = envelope(CONSULTA.replace(">u<", ">" + "u" * 300_000 + "<"))
    with pytest.raises(MalformedRequest) as e:
        read_request(long, None, LIMITS)
    assert e.value.code == "MNI-E005"


@pytest.mark.parametrize("operation", OPERATIONS)
def test_error_response_validates(operation: str) -> None:
    """The hub's own error answer validates against the official XSD for each of the six operations."""
    out = etree.fromstring(error_response(operation, "MNI-E041", CATALOGUE["MNI-E041"]))
    op = out.find(f"{{{SOAP11_NS}}}Body/{{{SERVICO_NS}}}{operation}Resposta")
    assert op is not None
    assert operation_schema().validate(op), operation_schema().error_log
    assert op.findtext(f"{{{TIPOS_NS}}}sucesso") == "false"
    assert op.findtext(f"{{{TIPOS_NS}}}mensagem", "").startswith("MNI-E041: ")


def test_canonical_response_inlines_xop_and_validates() -> None:
    """A multipart answer's recibo comes back inline as base64, and the result validates."""
    recibo = b"%PDF recibo"
    xml = (
        f'<S:Envelope xmlns:S="{SOAP11_NS}"><S:Body><r:entregarManifestacaoProcessualResposta '
        f'xmlns:r="{SERVICO_NS}" xmlns:t="{TIPOS_NS}"><t:sucesso>true</t:sucesso><t:mensagem>ok</t:mensagem>'
        "<t:protocoloRecebimento>1</t:protocoloRecebimento><t:dataOperacao>20250101120000</t:dataOperacao>"
        '<t:recibo><x:Include xmlns:x="http://www.w3.org/2004/08/xop/include" href="cid:r1"/></t:recibo>'
        "</r:entregarManifestacaoProcessualResposta></S:Body></S:Envelope>"
    ).encode()
    body = (b"--b\r\nContent-Type: application/xop+xml\r\nContent-ID: <root>\r\n\r\n" + xml
            + b"\r\n--b\r\nContent-ID: <r1>\r\n\r\n" + recibo + b"\r\n--b--\r\n")
    msg = read_response(body, 'multipart/related; boundary=b; start="<root>"', LIMITS)
    assert msg.sucesso is True and msg.mensagem == "ok"
    out = etree.fromstring(canonical_response(msg))
    op = out[0][0]
    assert operation_schema().validate(op), operation_schema().error_log
    assert base64.b64decode(op.findtext(f"{{{TIPOS_NS}}}recibo", "")) == recibo


def test_60mb_inline_conteudo_memory() -> None:
    """A 60 MB inline base64 conteudo is read (huge text node) with peak RSS growth under 6× the body."""
    script = textwrap.dedent(f"""
        import base64, hashlib, os
        from gateway.mni.reader import read_request
        from gateway.mni.schema import content_model, operation_schema
        from gateway.settings import XmlLimits

        def status(key):
            for line in open("/proc/self/status"):
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
            raise KeyError(key)

        head = ('<s:Envelope xmlns:s="{SOAP11_NS}"><s:Body><ser:entregarManifestacaoProcessual '
                'xmlns:ser="{SERVICO_NS}" xmlns:tip="{TIPOS_NS}" xmlns:int="{INTER_NS}">'
                '<tip:idManifestante>u</tip:idManifestante><tip:senhaManifestante>p</tip:senhaManifestante>'
                '<tip:numeroProcesso>50224418220178130024</tip:numeroProcesso>'
                '<tip:documento tipoDocumento="13"><int:conteudo>').encode()
        tail = (b'</int:conteudo></tip:documento><tip:dataEnvio>20250101120000</tip:dataEnvio>'
                b'</ser:entregarManifestacaoProcessual></s:Body></s:Envelope>')
        sha, body = hashlib.sha256(), bytearray(head)
        for _ in range(45):
            chunk = os.urandom(3 * 350_000)  # a multiple of 3: no padding inside
            sha.update(chunk)
            body += base64.b64encode(chunk)
        body = bytes(body + tail)
        operation_schema(); content_model()
        before = status("VmRSS:")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM (peak RSS) to the current RSS
        msg = read_request(body, None, XmlLimits(max_body_bytes=100 * 1024 * 1024))
        peak = status("VmHWM:")
        assert msg.documents[0].digest == sha.hexdigest(), "digest"
        assert msg.documents[0].size == 45 * 3 * 350_000
        print(len(body), peak - before)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    size, growth = map(int, done.stdout.split())
    assert size > 60_000_000
    print(f"60 MB body: peak RSS grew {growth / size:.2f}× the body")
    assert growth < 6 * size, f"peak RSS grew {growth / size:.1f}× the body"


# -- issue 8 ------------------------------------------------------------------------------------------------------


WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"


def token(user: str, password: str, attrs: str = "") -> str:
    """A wsse:Security block with one UsernameToken."""
    return (f'<w:Security xmlns:w="{WSSE}"{attrs}><w:UsernameToken><w:Username>{user}</w:Username>'
            f"<w:Password>{password}</w:Password></w:UsernameToken></w:Security>")


@pytest.mark.parametrize("light", [True, False])
def test_two_identities_are_mni_e025(light: bool) -> None:
    """MNI's own fields and a UsernameToken (or two pairs of MNI fields) naming different identities make the
    credentials unusable: reading them raises MNI-E025 (answered sucesso=false by the hub), never one silently
    chosen; the same identity in both places is one identity."""
    same = read_request(envelope(CONSULTA, token("u", "p")), None, LIMITS, light=light)
    assert same.credentials is not None and (same.credentials.user, same.credentials.source) == ("u", "consultante")
    conflicts = [
        envelope(CONSULTA, token("outro", "p")),
        envelope(CONSULTA, token("u", "outra")),
        envelope(CONSULTA, token("u", "p") + token("v", "q")),
        envelope(CONSULTA.replace("<tip:numeroProcesso>", "<tip:idManifestante>v</tip:idManifestante>"
                                  "<tip:senhaManifestante>q</tip:senhaManifestante><tip:numeroProcesso>")),
        envelope(CONSULTA.replace("<tip:numeroProcesso>", "<tip:idConsultante>v</tip:idConsultante>"
                                  "<tip:numeroProcesso>")),
    ]
    for body in conflicts:
        msg = read_request(body, None, LIMITS, light=light)
        with pytest.raises(GatewayError) as e:
            _ = msg.credentials
        assert e.value.code == "MNI-E025" and e.value.faultcode == "soap:Client" and "MNI-E025" in CATALOGUE


def test_tokens_are_read_from_the_security_block_addressed_to_the_gateway() -> None:
    """Without MNI fields, the token comes from whichever wsse:Security block addressed to the gateway carries it;
    a block for another actor is not ours: alone, it is MNI-E020 saying so (a present token is never reported as
    plainly absent)."""
    consulta = "<ser:consultarProcesso><tip:numeroProcesso>50224418220178130024</tip:numeroProcesso>" \
               "</ser:consultarProcesso>"
    empty = f'<w:Security xmlns:w="{WSSE}"/>'
    other = ' s:actor="urn:outro"'
    msg = read_request(envelope(consulta, empty + token("u", "p")), None, LIMITS)
    assert msg.credentials is not None and (msg.credentials.user, msg.credentials.source) == ("u", "wsse")
    msg = read_request(envelope(consulta, token("x", "y", other) + token("u", "p")), None, LIMITS)
    assert msg.credentials is not None and msg.credentials.user == "u"
    msg = read_request(envelope(consulta, token("x", "y", other)), None, LIMITS)
    with pytest.raises(GatewayError) as e:
        _ = msg.credentials
    assert e.value.code == "MNI-E020" and "outro nó" in e.value.message


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_requests_are_read_like_utf8(codec: str) -> None:
    """A UTF-16 request (byte-order mark, or declared) is read like its UTF-8 twin, misspelled namespaces and
    ISO-8859-1-only traps included: the namespace scan looks at the decoded document."""
    for name in (REQUESTS[0].name, MISSPELLED_FILES[0]):
        raw = fixture(name)
        text = raw.decode("utf-8")
        text = text.split("?>", 1)[1] if text.lstrip().startswith("<?xml") else text
        utf16 = ('<?xml version="1.0" encoding="UTF-16"?>' + text).encode(codec)
        plain, wide = read_request(raw, "text/xml", LIMITS), read_request(utf16, "text/xml", LIMITS)
        assert wide.operation == plain.operation and codes(wide) == codes(plain), name
        assert etree.tostring(wide.root, method="c14n") == etree.tostring(plain.root, method="c14n")


def test_flood_is_refused_wherever_the_credential_is() -> None:
    """A request of more elements than the limit is MNI-E005 with a wrong or a valid credential, before or after
    the flood (the element limit does not depend on who asks); tribunals' answers have no such limit."""
    limits = XmlLimits(max_body_bytes=8 * 1024 * 1024, max_depth=64, max_text_bytes=256 * 1024, max_elements=500)
    flood = "<tip:x/>" * 600
    for body in (CONSULTA.replace("<tip:idConsultante>", flood + "<tip:idConsultante>"),
                 CONSULTA.replace("</ser:consultarProcesso>", flood + "</ser:consultarProcesso>")):
        with pytest.raises(MalformedRequest) as e:
            read_request(envelope(body), None, limits)
        assert e.value.code == "MNI-E005"
    answer = fixture("consultarProcesso_resp_anexoA_cabecalho_movimentos.xml")  # 118 elements
    assert read_response(answer, "text/xml", dataclasses.replace(limits, max_elements=50)).operation.endswith(
        "Resposta")
