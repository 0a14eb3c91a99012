"""What the hub writes to tribunals and reads back (gateway/hub/contract.py), on in-memory messages."""

from __future__ import annotations

from lxml import etree

from gateway.hub import contract
from gateway.hub.credentials import TribunalCredential
from gateway.mni.reader import read_request, read_response
from gateway.settings import Settings
from gateway.xml.soap import WSSE_NS

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICO = "http://www.cnj.jus.br/servico-intercomunicacao-2.2.2/"
TIPOS = "http://www.cnj.jus.br/tipos-servico-intercomunicacao-2.2.2"
INTER = "http://www.cnj.jus.br/intercomunicacao-2.2.2"
LIMITS = Settings.from_env({}).mni_limits
CRED = TribunalCredential("pgfn<tribunal>", "s&nha")


def envelope(operation: str, inner: str, header: str = "") -> bytes:
    """An MNI envelope of *operation* with *inner* children (``tip``/``int`` prefixes)."""
    return (f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:ser="{SERVICO}" xmlns:tip="{TIPOS}" xmlns:int="{INTER}">'
            f"{header}<soap:Body><ser:{operation}>{inner}</ser:{operation}></soap:Body></soap:Envelope>").encode()


def test_only_the_credential_fields_are_rewritten() -> None:
    """Forwarding replaces the client's MNI credential by the hub's towards the tribunal and keeps every other
    element as the client sent it."""
    msg = read_request(envelope("consultarProcesso", (
        "<tip:idConsultante>pgfn-mni</tip:idConsultante><tip:senhaConsultante>cliente</tip:senhaConsultante>"
        "<tip:numeroProcesso>08123459320198190001</tip:numeroProcesso><tip:movimentos>true</tip:movimentos>")),
        "text/xml", LIMITS)
    op = etree.fromstring(contract.with_credentials(msg, CRED)).find(f"{{{SOAP}}}Body/{{{SERVICO}}}consultarProcesso")
    assert op is not None
    assert [(etree.QName(c).localname, c.text) for c in op] == [
        ("idConsultante", "pgfn<tribunal>"), ("senhaConsultante", "s&nha"),
        ("numeroProcesso", "08123459320198190001"), ("movimentos", "true")]


def test_ws_security_is_removed_and_mni_fields_added() -> None:
    """A client authenticated by UsernameToken: the header goes, and a filing gets idManifestante and
    senhaManifestante first."""
    header = (f'<soap:Header><wsse:Security xmlns:wsse="{WSSE_NS}"><wsse:UsernameToken>'
              "<wsse:Username>pgfn-mni</wsse:Username><wsse:Password>cliente</wsse:Password>"
              "</wsse:UsernameToken></wsse:Security></soap:Header>")
    msg = read_request(envelope("entregarManifestacaoProcessual", (
        "<tip:numeroProcesso>08123459320198190001</tip:numeroProcesso>"
        '<tip:documento mimetype="application/pdf"><int:conteudo>JVBERi0=</int:conteudo></tip:documento>'), header),
        "text/xml", LIMITS)
    out = contract.with_credentials(msg, CRED)
    assert b"cliente" not in out and WSSE_NS.encode() not in out.split(b"<soap:Body")[0]
    op = etree.fromstring(out).find(f".//{{{SERVICO}}}entregarManifestacaoProcessual")
    assert op is not None
    assert [etree.QName(c).localname for c in op][:3] == ["idManifestante", "senhaManifestante", "numeroProcesso"]


def test_own_requests_escape_the_credential_and_read_as_mni() -> None:
    """The hub's own probe and consultarAlteracao are MNI requests the tolerant reader reads back, with the
    credential escaped."""
    probe = read_request(contract.own_request("consultarProcesso", CRED,
                                              contract.probe_inner("08123459320198190001")), "text/xml", LIMITS)
    assert probe.operation == "consultarProcesso" and probe.numero_processo == "08123459320198190001"
    assert probe.credentials is not None and (probe.credentials.user, probe.credentials.password) == (
        "pgfn<tribunal>", "s&nha")
    alteracao = read_request(contract.own_request("consultarAlteracao", CRED,
                                                  contract.alteracao_inner("08123459320198190001")), "text/xml", LIMITS)
    assert alteracao.operation == "consultarAlteracao" and alteracao.numero_processo == "08123459320198190001"


def test_what_is_read_from_answers() -> None:
    """hashDocumentos (in any namespace), protocoloRecebimento and an initial petition's new number are read from
    tribunals' answers; absent or malformed they are None."""
    def answer(operation: str, inner: str) -> bytes:
        return envelope(operation + "Resposta", "<tip:sucesso>true</tip:sucesso><tip:mensagem/>" + inner)

    alteracao = read_response(answer("consultarAlteracao", "<tip:hashDocumentos> abc </tip:hashDocumentos>"),
                              "text/xml", LIMITS)
    assert contract.hash_documentos(alteracao) == "abc"
    other_ns = read_response(answer("consultarAlteracao", '<x:hashDocumentos xmlns:x="urn:x">d</x:hashDocumentos>'),
                             "text/xml", LIMITS, light=True)
    assert contract.hash_documentos(other_ns) == "d"
    filed = read_response(answer("entregarManifestacaoProcessual", (
        "<tip:protocoloRecebimento>P-1</tip:protocoloRecebimento><tip:dataOperacao>20261121120000</tip:dataOperacao>"
        '<tip:parametro nome="numeroProcesso" valor="00012345620268190001"/>')), "text/xml", LIMITS)
    assert contract.protocol_of(filed) == "P-1" and contract.new_process_number(filed) == "00012345620268190001"
    bare = read_response(answer("entregarManifestacaoProcessual", (
        '<tip:protocoloRecebimento/><tip:parametro nome="numeroProcesso" valor="0001-2345"/>')), "text/xml", LIMITS)
    assert contract.protocol_of(bare) is None and contract.new_process_number(bare) is None
    assert contract.hash_documentos(bare) is None
