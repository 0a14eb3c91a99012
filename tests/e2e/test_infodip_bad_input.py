"""Every bad input to ``/soap/infodip``, sent with httpx to a real ``gateway serve`` process on 127.0.0.1.

For each one: HTTP 500, a SOAP 1.1 Fault with the exact ``faultcode`` and the stable ``INFODIP-E…`` code in
``detail/erros/erro/codigo``, a Portuguese faultstring, an answer in well under a second, nothing stored, and the
server still accepting a valid submission right after. Also the inputs that look odd but must be accepted: a late
communication and the same fact sent by another organ.
"""

from __future__ import annotations

import gzip
import random
import re
import time
import unicodedata
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from lxml import etree
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from gateway import identifiers as ids
from gateway.errors import CATALOGUE
from gateway.infodip.domain import Kind
from gateway.infodip.samples import SAMPLE_USERNAME
from gateway.xml.soap import SOAP11_NS, SOAP12_NS, WSSE_NS
from tests.support import (
    GatewayProcess,
    comunicacao_of,
    infodip_request,
    password_of,
    recent_day,
    sample,
    unique_ref,
)

pytestmark = pytest.mark.e2e

NS = "urn:gateway-interop:infodip:1.0"
N = {"i": NS, "soap": SOAP11_NS, "wsse": WSSE_NS}
XINCLUDE_NS = "http://www.w3.org/2001/XInclude"
PASSWORD_DIGEST = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
)
HEADERS = {"Content-Type": "text/xml; charset=utf-8",
           "SOAPAction": '"urn:gateway-interop:infodip:1.0/enviarComunicacao"'}
MAX_SECONDS = 2.0  # "well under a second", with room for a noisy machine


# -- helpers -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def db(server: GatewayProcess) -> Iterator[Engine]:
    """A read connection to the server's own database."""
    engine = create_engine(server.settings.database_url)
    yield engine
    engine.dispose()


def stored_messages(db: Engine) -> int:
    """Rows in ``messages`` (one per accepted version)."""
    with db.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM messages")).scalar_one())


def tree(kind: Kind = Kind.I, **kwargs: Any) -> etree._Element:
    """*kind*'s sample request as an lxml tree (fresh reference, recent date, test credential)."""
    return etree.fromstring(sample(kind, **kwargs))


def dump(root: etree._Element) -> bytes:
    """Serialise a request."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def find(root: etree._Element, path: str) -> etree._Element:
    """The one element at *path* (prefixes of :data:`N`)."""
    el = root.find(path, N)
    assert el is not None, path
    return el


def body_of(kind: Kind = Kind.I, edit: Callable[[etree._Element], object] | None = None, **kwargs: Any) -> bytes:
    """*kind*'s sample with *edit* applied to its tree."""
    root = tree(kind, **kwargs)
    if edit is not None:
        edit(root)
    return dump(root)


def after_declaration(raw: bytes) -> bytes:
    """*raw* without its XML declaration (to put a DOCTYPE or another declaration in front)."""
    return re.sub(rb"^<\?xml[^>]*\?>\s*", b"", raw)


def post(server: GatewayProcess, content: Any, headers: dict[str, str] | None = None) -> tuple[httpx.Response, float]:
    """POST *content* to ``/soap/infodip``; the response and how long it took."""
    started = time.perf_counter()
    r = httpx.post(server.url + "/soap/infodip", content=content, headers=headers or HEADERS, timeout=10)
    return r, time.perf_counter() - started


def still_accepts(server: GatewayProcess) -> None:
    """The server accepts a valid submission."""
    r, _ = post(server, sample(Kind.I))
    assert r.status_code == 200, r.text
    assert etree.fromstring(r.content).find(".//i:recibo/i:protocolo", N) is not None


@dataclass
class FaultAnswer:
    """A parsed SOAP 1.1 Fault answer."""

    response: httpx.Response
    faultcode: str
    faultstring: str
    code: str
    field: str | None


def assert_fault(server: GatewayProcess, db: Engine, content: Any, code: str | tuple[str, ...],
                 faultcode: str = "soap:Client", headers: dict[str, str] | None = None) -> FaultAnswer:
    """Send *content* and check everything a refused request must show; return the parsed Fault."""
    before = stored_messages(db)
    r, elapsed = post(server, content, headers)
    after = stored_messages(db)

    assert r.status_code == 500, (r.status_code, r.text[:2000])
    assert r.headers["content-type"].startswith("text/xml")
    root = etree.fromstring(r.content)
    assert root.tag == f"{{{SOAP11_NS}}}Envelope"
    fault = find(root, "soap:Body/soap:Fault")
    got_faultcode = fault.findtext("faultcode")
    faultstring_el = fault.find("faultstring")
    assert faultstring_el is not None
    faultstring = (faultstring_el.text or "").strip()
    got_code = fault.findtext("detail/i:erros/i:erro/i:codigo", namespaces=N)
    field = fault.findtext("detail/i:erros/i:erro/i:campo", namespaces=N)
    expected = code if isinstance(code, tuple) else (code,)
    assert got_code in expected, (got_code, faultstring, field)
    assert got_faultcode == faultcode, got_faultcode
    assert faultstring and faultstring != got_code
    assert faultstring_el.get("{http://www.w3.org/XML/1998/namespace}lang") == "pt-BR"
    assert fault.findtext("detail/i:erros/i:erro/i:mensagem", namespaces=N)
    assert got_code in CATALOGUE
    assert elapsed < MAX_SECONDS, f"answered in {elapsed:.2f} s"
    assert after == before, "a refused request stored something"
    still_accepts(server)
    return FaultAnswer(r, got_faultcode or "", faultstring, got_code or "", field)


# -- request builders -------------------------------------------------------------------------------------------


def with_doctype(doctype: str, entity_ref: str | None = None) -> bytes:
    """A valid sample preceded by *doctype*, with *entity_ref* in the person's name when given."""
    root = tree()
    if entity_ref is not None:
        find(root, ".//i:pessoa/i:nome").text = "NOME_PLACEHOLDER"
    raw = after_declaration(dump(root))
    if entity_ref is not None:
        raw = raw.replace(b"NOME_PLACEHOLDER", entity_ref.encode())
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + doctype.encode() + b"\n" + raw


def billion_laughs() -> bytes:
    """The classic exponential entity expansion."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return with_doctype(f"<!DOCTYPE soap:Envelope [{''.join(entities)}]>", "&lol9;")


def nested_in_operation(levels: int) -> bytes:
    """A sample with *levels* nested elements inside the operation element."""
    raw = sample(Kind.I)
    deep = b"<x>" * levels + b"</x>" * levels
    return raw.replace(b"<inf:enviarComunicacao>", b"<inf:enviarComunicacao>" + deep, 1)


def with_xinclude() -> bytes:
    """An XInclude element inside the communication."""
    def edit(root: etree._Element) -> None:
        obs = find(root, ".//i:cabecalho/i:observacao")
        obs.text = None
        inc = etree.SubElement(obs, f"{{{XINCLUDE_NS}}}include", nsmap={"xi": XINCLUDE_NS})
        inc.set("href", "file:///etc/passwd")
        inc.set("parse", "text")
    return body_of(Kind.I, edit)


def soap12() -> bytes:
    """The sample in a SOAP 1.2 envelope."""
    root = tree()
    for el in root.iter(f"{{{SOAP11_NS}}}*"):
        el.tag = f"{{{SOAP12_NS}}}{etree.QName(el).localname}"
    etree.cleanup_namespaces(root)
    return dump(root)


def renamed_operation(namespace: str, name: str) -> bytes:
    """The sample with its operation element renamed."""
    def edit(root: etree._Element) -> None:
        find(root, "soap:Body/i:enviarComunicacao").tag = f"{{{namespace}}}{name}"
    return body_of(Kind.I, edit)


def remove(path: str, kind: Kind = Kind.I) -> bytes:
    """The sample without the element at *path*."""
    def edit(root: etree._Element) -> None:
        el = find(root, path)
        parent = el.getparent()
        assert parent is not None
        parent.remove(el)
    return body_of(kind, edit)


def set_text(path: str, value: str, kind: Kind = Kind.I, **kwargs: Any) -> bytes:
    """The sample with the text at *path* replaced."""
    def edit(root: etree._Element) -> None:
        find(root, path).text = value
    return body_of(kind, edit, **kwargs)


def wrong_last_digit(value: str, valid: Callable[[str], bool]) -> str:
    """*value* with its last check digit changed so that *valid* rejects it."""
    assert valid(value), value
    for d in "0123456789":
        candidate = value[:-1] + d
        if candidate != value and not valid(candidate):
            return candidate
    raise AssertionError(f"no invalid variant of {value}")


def random_cpf() -> str:
    """A valid CPF nobody else in this test session uses."""
    base = f"{random.randrange(10**8, 10**9):09d}"
    return base + ids.cpf_check_digits(base)


SAMPLE_CPF = "31846295700"
SAMPLE_PROCESS = "00452180920248190001"
SAMPLE_TITULO = "318045620310"
SAMPLE_MATRICULA = "09754301552026400215118008934294"


# -- unreadable input ---------------------------------------------------------------------------------------------


def _malformed() -> bytes:
    return sample(Kind.I)[:-40]


def _mismatched() -> bytes:
    return sample(Kind.I).replace(b"</inf:nome>", b"</inf:nomeX>", 1)


def _not_xml() -> bytes:
    return b"isto nao e XML"


@pytest.mark.parametrize("build", [_malformed, _mismatched, _not_xml], ids=["truncated", "mismatched-tag", "text"])
def test_malformed_xml(server: GatewayProcess, db: Engine, build: Callable[[], bytes]) -> None:
    """XML that does not parse is a Client fault INFODIP-E001."""
    assert_fault(server, db, build(), "INFODIP-E001")


@pytest.mark.parametrize("build", [
    pytest.param(lambda: with_doctype('<!DOCTYPE soap:Envelope [<!ENTITY nome "Fulano">]>', "&nome;"),
                 id="internal-entity"),
    pytest.param(lambda: with_doctype('<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
                                      "&xxe;"), id="external-entity"),
    pytest.param(lambda: with_doctype('<!DOCTYPE soap:Envelope [<!ENTITY % pe SYSTEM '
                                      '"http://127.0.0.1:9/evil.dtd"> %pe;]>'), id="parameter-entity"),
    pytest.param(billion_laughs, id="billion-laughs"),
    pytest.param(lambda: with_doctype("<!DOCTYPE soap:Envelope>"), id="bare-doctype"),
])
def test_doctype_and_entities_are_refused(server: GatewayProcess, db: Engine, build: Callable[[], bytes]) -> None:
    """Any DOCTYPE — internal, external (XXE), parameter entities, billion laughs, even a bare one — is refused
    before expansion with INFODIP-E002, quickly, and /etc/passwd never appears in the answer."""
    answer = assert_fault(server, db, build(), "INFODIP-E002")
    assert b"root:" not in answer.response.content


def test_xinclude_is_refused(server: GatewayProcess, db: Engine) -> None:
    """An XInclude element inside the body is refused with INFODIP-E003 (and never processed)."""
    answer = assert_fault(server, db, with_xinclude(), "INFODIP-E003")
    assert b"root:" not in answer.response.content


def test_body_over_the_limit_is_refused(server: GatewayProcess, db: Engine) -> None:
    """A body of limit + 1 bytes (a valid request padded with trailing whitespace) is refused with INFODIP-E004."""
    limit = server.settings.infodip_max_body_bytes
    raw = sample(Kind.I)
    body = raw + b" " * (limit + 1 - len(raw))
    assert len(body) == limit + 1
    answer = assert_fault(server, db, body, "INFODIP-E004")
    assert answer.field == "body"


def test_body_exactly_at_the_limit_is_accepted(server: GatewayProcess) -> None:
    """The limit is inclusive: the same padded request of exactly limit bytes is accepted."""
    limit = server.settings.infodip_max_body_bytes
    raw = sample(Kind.I)
    r, _ = post(server, raw + b" " * (limit - len(raw)))
    assert r.status_code == 200, r.text[:1000]


def test_chunked_body_over_the_limit_is_refused(server: GatewayProcess, db: Engine) -> None:
    """A chunked body without Content-Length is counted as it streams and refused with INFODIP-E004 once past the
    limit."""
    limit = server.settings.infodip_max_body_bytes
    raw = sample(Kind.I)
    sent_headers: dict[str, str] = {}

    def chunks() -> Iterator[bytes]:
        yield raw
        remaining = limit + 1 - len(raw)
        while remaining > 0:
            n = min(8192, remaining)
            remaining -= n
            yield b" " * n

    class Recorder(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            sent_headers.update(request.headers)
            return super().handle_request(request)

    before = stored_messages(db)
    started = time.perf_counter()
    with httpx.Client(transport=Recorder(), timeout=10) as client:
        r = client.post(server.url + "/soap/infodip", content=chunks(), headers=HEADERS)
    elapsed = time.perf_counter() - started
    assert "content-length" not in {k.lower() for k in sent_headers}
    assert sent_headers.get("transfer-encoding") == "chunked"
    assert r.status_code == 500
    fault = find(etree.fromstring(r.content), "soap:Body/soap:Fault")
    assert fault.findtext("faultcode") == "soap:Client"
    assert fault.findtext("detail/i:erros/i:erro/i:codigo", namespaces=N) == "INFODIP-E004"
    assert (fault.findtext("faultstring") or "").strip()
    assert elapsed < MAX_SECONDS
    assert stored_messages(db) == before
    still_accepts(server)


def _invalid_utf8() -> bytes:
    raw = sample(Kind.I)
    assert "Falcão".encode() in raw
    return raw.replace("Falcão".encode(), b"Falc\xe3o\xff\xfe", 1)


def _latin1_declared() -> bytes:
    text_ = after_declaration(sample(Kind.I)).decode()
    return ('<?xml version="1.0" encoding="ISO-8859-1"?>\n' + text_).encode("latin-1")


def _utf32_with_bom() -> bytes:
    text_ = after_declaration(sample(Kind.I)).decode()
    return ('<?xml version="1.0" encoding="UTF-32"?>\n' + text_).encode("utf-32")


def _utf16_declaring_utf8() -> bytes:
    return sample(Kind.I).decode().encode("utf-16")  # a BOM, then a declaration saying UTF-8


@pytest.mark.parametrize("build", [_invalid_utf8, _latin1_declared, _utf32_with_bom, _utf16_declaring_utf8],
                         ids=["invalid-utf8", "latin1", "utf32", "utf16-declaring-utf8"])
def test_encoding_other_than_utf8_or_utf16_is_refused(server: GatewayProcess, db: Engine,
                                                      build: Callable[[], bytes]) -> None:
    """Bytes that are not valid UTF-8, a declared ISO-8859-1 document, UTF-32 and a UTF-16 body whose declaration
    says UTF-8 are refused with INFODIP-E006."""
    assert_fault(server, db, build(), "INFODIP-E006")


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_is_accepted_like_utf8(server: GatewayProcess, db: Engine, codec: str) -> None:
    """A UTF-16 request (with a byte-order mark, or without one and declared — XML 1.0 §4.3.3, WS-I BP R4003)
    is accepted and stores the same communication as its UTF-8 twin (accents included)."""
    raw = sample(Kind.I)
    text_ = '<?xml version="1.0" encoding="UTF-16"?>\n' + after_declaration(raw).decode()
    before = stored_messages(db)
    r, _ = post(server, text_.encode(codec), {**HEADERS, "Content-Type": "text/xml; charset=utf-16"})
    recibo = receipt_of(r)
    assert recibo.findtext("i:reenvio", namespaces=N) == "false"
    assert stored_messages(db) == before + 1
    replay, _ = post(server, raw)  # the same reference in UTF-8: the same payload, so the stored receipt again
    assert receipt_of(replay).findtext("i:reenvio", namespaces=N) == "true"


def _ascii_only(raw: bytes) -> str:
    """The request made pure ASCII (so its UTF-16 form is also valid UTF-8 byte for byte)."""
    return unicodedata.normalize("NFKD", raw.decode()).encode("ascii", "ignore").decode()


def test_utf16_without_bom_billion_laughs_is_refused_before_parsing(server: GatewayProcess, db: Engine) -> None:
    """A billion-laughs DOCTYPE in a BOM-less UTF-16 body (whose bytes are also valid UTF-8: the byte scans must
    look at the decoded text) is refused as a DOCTYPE (E002) before libxml2 ever reads the DTD; so is one with a
    byte-order mark."""
    text_ = _ascii_only(after_declaration(billion_laughs()))
    body = ('<?xml version="1.0" encoding="UTF-16"?>\n' + text_).encode("utf-16-le")
    body.decode("utf-8")  # the trap: this is valid UTF-8
    assert_fault(server, db, body, "INFODIP-E002")
    assert_fault(server, db, after_declaration(billion_laughs()).decode().encode("utf-16"), "INFODIP-E002")


def _long_text() -> bytes:
    return set_text(".//i:cabecalho/i:observacao", "a" * (64 * 1024 + 1))


@pytest.mark.parametrize("build", [
    pytest.param(lambda: nested_in_operation(200), id="200-levels"),
    pytest.param(lambda: nested_in_operation(10_000), id="10000-levels"),
    pytest.param(_long_text, id="text-over-64KiB"),
])
def test_depth_and_text_limits(server: GatewayProcess, db: Engine, build: Callable[[], bytes]) -> None:
    """200 nested elements inside the operation (over the gateway's depth limit), 10 000 nested levels (over
    libxml2's own limit) and a text node longer than the text limit are refused with INFODIP-E005."""
    assert_fault(server, db, build(), "INFODIP-E005")


# -- envelope and operation ----------------------------------------------------------------------------------------


def test_soap12_envelope_is_a_version_mismatch(server: GatewayProcess, db: Engine) -> None:
    """A SOAP 1.2 envelope is answered with a SOAP 1.1 Fault whose faultcode is soap:VersionMismatch
    (INFODIP-E008)."""
    headers = {"Content-Type": 'application/soap+xml; charset=utf-8; action="enviarComunicacao"'}
    assert_fault(server, db, soap12(), "INFODIP-E008", faultcode="soap:VersionMismatch", headers=headers)


def _two_body_elements() -> bytes:
    def edit(root: etree._Element) -> None:
        body = find(root, "soap:Body")
        etree.SubElement(body, f"{{{NS}}}consultarComunicacao")
    return body_of(Kind.I, edit)


@pytest.mark.parametrize("build", [
    pytest.param(lambda: b'<?xml version="1.0"?><raiz xmlns="urn:x"/>', id="not-an-envelope"),
    pytest.param(lambda: remove("soap:Body"), id="no-body"),
    pytest.param(_two_body_elements, id="two-body-elements"),
])
def test_invalid_soap11_envelope(server: GatewayProcess, db: Engine, build: Callable[[], bytes]) -> None:
    """A root that is not soap:Envelope, an envelope without Body, or a Body with two elements: INFODIP-E007."""
    assert_fault(server, db, build(), "INFODIP-E007")


def test_wrong_namespace_for_the_operation(server: GatewayProcess, db: Engine) -> None:
    """The operation element in another namespace is refused with INFODIP-E010."""
    assert_fault(server, db, renamed_operation("urn:gateway-interop:infodip:2.0", "enviarComunicacao"),
                 "INFODIP-E010")


def test_unknown_operation(server: GatewayProcess, db: Engine) -> None:
    """An operation the contract does not define, in the right namespace, is refused with INFODIP-E009."""
    assert_fault(server, db, renamed_operation(NS, "apagarComunicacao"), "INFODIP-E009")


def test_must_understand_header_is_refused(server: GatewayProcess, db: Engine) -> None:
    """A header marked soap:mustUnderstand="1" that the gateway does not process is refused (SOAP 1.1 §4.2.3:
    faultcode soap:MustUnderstand, INFODIP-E012)."""
    def edit(root: etree._Element) -> None:
        header = find(root, "soap:Header")
        extra = etree.SubElement(header, "{urn:x-other}Transacao")
        extra.set(f"{{{SOAP11_NS}}}mustUnderstand", "1")
        extra.text = "123"
    assert_fault(server, db, body_of(Kind.I, edit), "INFODIP-E012", faultcode="soap:MustUnderstand")


# -- contract (XSD) and identifiers -----------------------------------------------------------------------------


@pytest.mark.parametrize(("build", "field"), [
    # a missing element is reported where libxml2 found another one instead
    pytest.param(lambda: remove(".//i:pessoa/i:nome"), "comunicacao/cabecalho/pessoa/cpf", id="missing-nome"),
    pytest.param(lambda: remove(".//i:comunicacao/i:cabecalho"), "comunicacao/condenacaoImprobidade",
                 id="missing-cabecalho"),
    pytest.param(lambda: remove(".//i:cabecalho/i:pessoa"), "comunicacao/cabecalho/processo", id="missing-pessoa"),
    pytest.param(lambda: remove(".//i:enviarComunicacao/i:comunicacao"), "comunicacao", id="missing-comunicacao"),
    pytest.param(lambda: set_text(".//i:pessoa/i:cpf", "3184629570X"), "comunicacao/cabecalho/pessoa/cpf",
                 id="letter-in-cpf"),
    pytest.param(lambda: set_text(".//i:cabecalho/i:dataFato", "ontem"), "comunicacao/cabecalho/dataFato",
                 id="not-a-date"),
])
def test_xsd_invalid(server: GatewayProcess, db: Engine, build: Callable[[], bytes], field: str) -> None:
    """A request the XSD rejects (missing required element, a letter in the CPF, a date that is not a date) is
    refused with INFODIP-E011 naming the field, rooted at the operation's payload (``comunicacao/…``)."""
    answer = assert_fault(server, db, build(), "INFODIP-E011")
    assert answer.field == field


def _matricula_invalid() -> bytes:
    return set_text(".//i:obito/i:matriculaCertidao",
                    wrong_last_digit(SAMPLE_MATRICULA, ids.is_valid_matricula_certidao), Kind.VI)


@pytest.mark.parametrize(("build", "code", "field"), [
    pytest.param(lambda: set_text(".//i:pessoa/i:cpf", wrong_last_digit(SAMPLE_CPF, ids.is_valid_cpf)),
                 "INFODIP-E030", "comunicacao/cabecalho/pessoa/cpf", id="cpf"),
    pytest.param(lambda: set_text(".//i:pessoa/i:cpf", "11111111111"),
                 "INFODIP-E030", "comunicacao/cabecalho/pessoa/cpf", id="cpf-repeated-digits"),
    pytest.param(lambda: set_text(".//i:processo/i:numero",
                                  wrong_last_digit(SAMPLE_PROCESS, ids.is_valid_processo_cnj)),
                 "INFODIP-E032", "comunicacao/cabecalho/processo/numero", id="processo"),
    pytest.param(lambda: set_text(".//i:pessoa/i:tituloEleitor",
                                  wrong_last_digit(SAMPLE_TITULO, ids.is_valid_titulo_eleitor)),
                 "INFODIP-E033", "comunicacao/cabecalho/pessoa/tituloEleitor", id="titulo"),
    pytest.param(_matricula_invalid, "INFODIP-E034", "comunicacao/obito/matriculaCertidao", id="matricula-VI"),
])
def test_invalid_identifier_check_digits(server: GatewayProcess, db: Engine, build: Callable[[], bytes],
                                         code: str, field: str) -> None:
    """XSD-valid identifiers with wrong check digits are refused with their own code and field: CPF E030, CNJ
    process number E032, título de eleitor E033, certificate matrícula (VI) E034."""
    answer = assert_fault(server, db, build(), code)
    assert answer.field == field


# -- authentication and competence -------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "username"), [
    pytest.param(Kind.VI, "tjrj-sistema", id="VI-by-tribunal"),
    pytest.param(Kind.VII, "tjrj-1vfp", id="VII-by-orgao-julgador"),
    pytest.param(Kind.I, "rcpn-rj-capital-01", id="I-by-cartorio"),
    pytest.param(Kind.VIII, "crc-nacional", id="VIII-by-crc"),
    pytest.param(Kind.I, "tjrj-presidencia", id="I-by-presidencia"),
    *[pytest.param(k, "pgfn-mni", id=f"{k.value}-by-pgfn") for k in Kind],
])
def test_organ_not_competent_for_the_kind(server: GatewayProcess, db: Engine, kind: Kind, username: str) -> None:
    """An authenticated organ sending a kind outside its competence is refused with INFODIP-E022 (soap:Client);
    an MNI client (PGFN) may send no kind at all."""
    answer = assert_fault(server, db, sample(kind, username=username), "INFODIP-E022")
    assert answer.field == "comunicacao/@tipo"


def _without_security() -> bytes:
    return remove("soap:Header/wsse:Security")


def _without_header() -> bytes:
    return remove("soap:Header")


def _empty_username() -> bytes:
    return set_text(".//wsse:Username", "")


@pytest.mark.parametrize("build", [_without_security, _without_header, _empty_username],
                         ids=["no-security", "no-header", "empty-username"])
def test_missing_credentials(server: GatewayProcess, db: Engine, build: Callable[[], bytes]) -> None:
    """No WS-Security header (or no SOAP header at all, or no user name) is refused with INFODIP-E020."""
    assert_fault(server, db, build(), "INFODIP-E020")


def test_wrong_password_and_unknown_user_look_the_same(server: GatewayProcess, db: Engine) -> None:
    """A wrong password and an unknown user are both INFODIP-E021, and their Fault bodies are byte for byte
    identical (nothing tells a caller which user names exist)."""
    wrong_password = assert_fault(server, db, sample(Kind.I, username="tjrj-sistema", password="senha-errada"),
                                  "INFODIP-E021")
    unknown_user = assert_fault(server, db, sample(Kind.I, username="ninguem-" + unique_ref(),
                                                   password=password_of("ninguem")), "INFODIP-E021")
    assert wrong_password.response.content == unknown_user.response.content


def test_password_digest_is_refused(server: GatewayProcess, db: Engine) -> None:
    """A UsernameToken whose Password is of type PasswordDigest is refused with INFODIP-E024 (only PasswordText
    is supported)."""
    def edit(root: etree._Element) -> None:
        find(root, ".//wsse:Password").set("Type", PASSWORD_DIGEST)
    assert_fault(server, db, body_of(Kind.I, edit), "INFODIP-E024")


# -- legal rules ---------------------------------------------------------------------------------------------------


def test_future_fact_date_is_refused(server: GatewayProcess, db: Engine) -> None:
    """A fact dated after today (in America/Sao_Paulo) is refused with INFODIP-E040."""
    answer = assert_fault(server, db, sample(Kind.I, fact_date=recent_day(-2)), "INFODIP-E040")
    assert answer.field == "comunicacao/cabecalho/dataFato"


def test_tipo_attribute_disagreeing_with_block(server: GatewayProcess, db: Engine) -> None:
    """``tipo="II"`` on a communication whose block is condenacaoImprobidade (kind I) is refused with
    INFODIP-E041."""
    def edit(root: etree._Element) -> None:
        find(root, ".//i:comunicacao").set("tipo", "II")
    answer = assert_fault(server, db, body_of(Kind.I, edit), "INFODIP-E041")
    assert answer.field == "comunicacao/@tipo"


def test_fact_date_differing_from_the_blocks_date(server: GatewayProcess, db: Engine) -> None:
    """``dataFato`` differing from the block's own date (dataTransitoJulgado for I) is refused with
    INFODIP-E044."""
    answer = assert_fault(server, db, set_text(".//i:cabecalho/i:dataFato", recent_day(3).isoformat()),
                          "INFODIP-E044")
    assert answer.field == "comunicacao/cabecalho/dataFato"


# -- odd but accepted ---------------------------------------------------------------------------------------------


def receipt_of(r: httpx.Response) -> etree._Element:
    """The ``recibo`` of an accepted request."""
    assert r.status_code == 200, r.text[:2000]
    return find(etree.fromstring(r.content), "soap:Body/i:enviarComunicacaoResposta/i:recibo")


@pytest.mark.parametrize(("days_ago", "late", "days_late"), [(10, "false", "0"), (11, "true", "1"),
                                                             (30, "true", "20")])
def test_late_communication_is_accepted_and_flagged(server: GatewayProcess, db: Engine, days_ago: int,
                                                    late: str, days_late: str) -> None:
    """A communication past the 10-day deadline is accepted (never refused) and flagged: a fact 30 days old is
    20 days late; on the 10th day it is still on time."""
    fact = recent_day(days_ago)
    before = stored_messages(db)
    r, _ = post(server, sample(Kind.I, fact_date=fact))
    recibo = receipt_of(r)
    assert stored_messages(db) == before + 1
    assert recibo.findtext("i:operacao", namespaces=N) == "envio"
    assert recibo.findtext("i:prazo/i:dataLimite", namespaces=N) == recent_day(days_ago - 10).isoformat()
    assert recibo.findtext("i:prazo/i:emAtraso", namespaces=N) == late
    assert recibo.findtext("i:prazo/i:diasAtraso", namespaces=N) == days_late


def test_same_fact_from_another_sender_is_accepted_as_duplicate(server: GatewayProcess, db: Engine) -> None:
    """The same fact (person, process, kind, date) sent by tjrj-sistema and then by another tribunal (TJSP) with
    its own reference is accepted, as a new protocol, with ``duplicidade/protocoloAnterior`` naming the first."""
    cpf = random_cpf()
    fact = recent_day(4)

    def with_person(user: str) -> bytes:
        def edit(root: etree._Element) -> None:
            find(root, ".//i:pessoa/i:cpf").text = cpf
        return body_of(Kind.I, edit, username=user, fact_date=fact, reference=unique_ref(user))

    first = receipt_of(post(server, with_person("tjrj-sistema"))[0])
    first_protocol = first.findtext("i:protocolo", namespaces=N)
    assert first.find("i:duplicidade", N) is None

    before = stored_messages(db)
    second = receipt_of(post(server, with_person("tjsp-sistema"))[0])
    assert stored_messages(db) == before + 1
    assert second.findtext("i:reenvio", namespaces=N) == "false"
    assert second.findtext("i:protocolo", namespaces=N) != first_protocol
    assert second.findtext("i:duplicidade/i:protocoloAnterior", namespaces=N) == first_protocol
    assert second.findtext("i:duplicidade/i:mensagem", namespaces=N)
    assert [d.text for d in second.findall("i:destino", N)] == ["TSE", "CNJ"]


def test_sample_usernames_are_competent(server: GatewayProcess) -> None:
    """Sanity of the fixtures used above: every kind's sample, with its own credential, is accepted."""
    for kind in Kind:
        r, _ = post(server, sample(kind, username=SAMPLE_USERNAME[kind]))
        assert r.status_code == 200, (kind, r.text[:1000])


def test_cdata_containing_lt_bang_is_accepted(server: GatewayProcess) -> None:
    """Text inside a CDATA section is character data: a well-formed request without DOCTYPE whose observacao is
    ``<![CDATA[Valor <!> citado no texto]]>`` is accepted like the same text escaped as ``&lt;!&gt;``."""
    raw = sample(Kind.I)
    cdata = re.sub(rb"<inf:observacao>.*?</inf:observacao>",
                   b"<inf:observacao><![CDATA[Valor <!> citado no texto]]></inf:observacao>", raw, flags=re.S)
    assert cdata != raw
    r, _ = post(server, cdata)
    assert r.status_code == 200, r.text[-600:]


# -- issue 8: what real clients send, and what hostile ones do --------------------------------------------------


def _deflate_raw(data: bytes) -> bytes:
    z = zlib.compressobj(wbits=-15)
    return z.compress(data) + z.flush()


@pytest.mark.parametrize(("encoding", "compress"), [
    ("gzip", gzip.compress), ("x-gzip", gzip.compress), ("deflate", zlib.compress),
    ("deflate", _deflate_raw), ("gzip, identity", gzip.compress),
    ("deflate, gzip", lambda data: gzip.compress(zlib.compress(data))),
], ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw", "gzip-identity", "deflate-then-gzip"])
def test_compressed_request_is_accepted(server: GatewayProcess, db: Engine, encoding: str,
                                        compress: Callable[[bytes], bytes]) -> None:
    """A body sent with Content-Encoding gzip, x-gzip or deflate (zlib, or the raw stream .NET sends), or stacked,
    is inflated and accepted like the plain request (Apache CXF and Axis2/.NET with compression on)."""
    before = stored_messages(db)
    r, _ = post(server, compress(sample(Kind.I)), {**HEADERS, "Content-Encoding": encoding})
    assert receipt_of(r).findtext("i:protocolo", namespaces=N)
    assert stored_messages(db) == before + 1


def test_compression_bomb_and_unknown_encodings_are_refused(server: GatewayProcess, db: Engine) -> None:
    """A gzip bomb (200 MB of zeros in ~200 KB) is refused with INFODIP-E004 as soon as its inflated bytes pass
    the body limit; an encoding the gateway does not inflate (br, compress) is INFODIP-E013 naming it, and so is
    a corrupt or truncated gzip body."""
    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 512 * 1024
    assert_fault(server, db, bomb, "INFODIP-E004", headers={**HEADERS, "Content-Encoding": "gzip"})
    for name in ("br", "compress"):
        answer = assert_fault(server, db, sample(Kind.I), "INFODIP-E013", headers={**HEADERS, "Content-Encoding": name})
        assert name in answer.faultstring and answer.field == "Content-Encoding"
    packed = gzip.compress(sample(Kind.I))
    for broken in (packed[:-20], packed[:10] + b"\xff" * 20 + packed[30:]):
        assert_fault(server, db, broken, "INFODIP-E013", headers={**HEADERS, "Content-Encoding": "gzip"})


def _with_headers(*blocks: str, kind: Kind = Kind.I) -> bytes:
    """The sample with its soap:Header's content replaced by *blocks*."""
    raw = sample(kind)
    head = re.search(rb"<soap:Header>.*</soap:Header>", raw, re.S)
    assert head is not None
    return raw.replace(head.group(0), ("<soap:Header>" + "".join(blocks) + "</soap:Header>").encode())


def _security(user: str | None, password: str | None = None, attrs: str = "") -> str:
    token = "" if user is None else (f"<wsse:UsernameToken><wsse:Username>{user}</wsse:Username><wsse:Password>"
                                     f"{password if password is not None else password_of(user)}</wsse:Password>"
                                     "</wsse:UsernameToken>")
    timestamp = ('<wsu:Timestamp xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-'
                 'utility-1.0.xsd"><wsu:Created>2026-01-01T00:00:00Z</wsu:Created></wsu:Timestamp>')
    return f'<wsse:Security xmlns:wsse="{WSSE_NS}"{attrs}>{token or timestamp}</wsse:Security>'


def test_several_security_headers(server: GatewayProcess, db: Engine) -> None:
    """The token is read from whichever wsse:Security block addressed to the gateway carries it (a Timestamp-only
    block first no longer makes it "absent"); a block for another actor is skipped; two identities are
    INFODIP-E025; a token only in a block for another node is E020 saying so."""
    other = ' soap:actor="urn:outro-no" soap:mustUnderstand="1"'
    for blocks in ((_security(None), _security("tjrj-sistema")),
                   (_security("tjrj-1vfp", attrs=other), _security("tjrj-sistema")),
                   (_security("tjrj-sistema"), _security("tjrj-sistema"))):
        receipt_of(post(server, _with_headers(*blocks))[0])
    assert_fault(server, db, _with_headers(_security("tjrj-sistema"), _security("tjrj-1vfp")), "INFODIP-E025")
    assert_fault(server, db, _with_headers(_security("tjrj-sistema"), _security("tjrj-sistema", "outra")),
                 "INFODIP-E025")
    answer = assert_fault(server, db, _with_headers(_security("tjrj-sistema", attrs=other)), "INFODIP-E020")
    assert "outro nó" in answer.faultstring


def _edit_text(path: str, value: str, kind: Kind = Kind.I) -> Callable[[], bytes]:
    return lambda: set_text(path, value, kind)


def _set_tipo(value: str) -> Callable[[], bytes]:
    def edit(root: etree._Element) -> None:
        find(root, ".//i:comunicacao").set("tipo", value)
    return lambda: body_of(Kind.I, edit)


def _no_person_ids() -> bytes:
    def edit(root: etree._Element) -> None:
        pessoa = find(root, ".//i:pessoa")
        for name in ("cpf", "tituloEleitor", "nomeMae"):
            pessoa.remove(find(pessoa, f"i:{name}"))
    return body_of(Kind.I, edit)


def _as_retification(build: Callable[[], bytes]) -> Callable[[], bytes]:
    """*build*'s communication sent as a retificação of a protocol (the checks run before the lookup)."""
    return lambda: infodip_request("retificarComunicacao", "<i:protocolo>20260101-AAAAAAAAAAAA</i:protocolo>"
                                   + comunicacao_of(build()))


CPF = "comunicacao/cabecalho/pessoa/cpf"
FACT = "comunicacao/cabecalho/dataFato"
TIPO = "comunicacao/@tipo"
SUSPENSION = "comunicacao/condenacaoImprobidade/sancoes/suspensaoDireitosPoliticos"
FIELD_LAYERS = [  # (field, [(what, build, code)]): the same field refused by each layer that can catch it
    (CPF, [("xsd", _edit_text(".//i:pessoa/i:cpf", "3184629570X"), "INFODIP-E011"),
           ("check-digits", _edit_text(".//i:pessoa/i:cpf", "31846295701"), "INFODIP-E030")]),
    (FACT, [("xsd", _edit_text(".//i:cabecalho/i:dataFato", "ontem"), "INFODIP-E011"),
            ("out-of-range", _edit_text(".//i:cabecalho/i:dataFato", "10000-01-01"), "INFODIP-E046"),
            ("future", lambda: sample(Kind.I, fact_date=recent_day(-2)), "INFODIP-E040"),
            ("differs", _edit_text(".//i:cabecalho/i:dataFato", recent_day(3).isoformat()), "INFODIP-E044")]),
    (TIPO, [("xsd", _set_tipo("X"), "INFODIP-E011"), ("block", _set_tipo("II"), "INFODIP-E041"),
            ("competence", lambda: sample(Kind.I, username="pgfn-mni"), "INFODIP-E022")]),
    ("comunicacao/cabecalho/pessoa", [("rule", _no_person_ids, "INFODIP-E045")]),
    (SUSPENSION + "/anos", [("xsd", _edit_text(".//i:suspensaoDireitosPoliticos/i:anos", "dez"), "INFODIP-E011"),
                            ("out-of-range", _edit_text(".//i:suspensaoDireitosPoliticos/i:anos", "9" * 5000),
                             "INFODIP-E046")]),
    (SUSPENSION, [("legal-limit", _edit_text(".//i:suspensaoDireitosPoliticos/i:anos", "15"), "INFODIP-E043")]),
]


@pytest.mark.parametrize("operation", ["enviar", "retificar"])
@pytest.mark.parametrize(("field", "layers"), FIELD_LAYERS, ids=[f for f, _ in FIELD_LAYERS])
def test_every_layer_roots_campo_at_the_payload(server: GatewayProcess, db: Engine, field: str,
                                                layers: list[tuple[str, Callable[[], bytes], str]],
                                                operation: str) -> None:
    """The same bad field gets the same ``campo``, rooted at the operation's payload as the README shows
    (``comunicacao/cabecalho/pessoa/cpf``), whichever layer refuses it — the XSD (E011), reading into the domain
    (E046), identifiers (E030), the legal rules (E040–E045), competence (E022) — in an envio and a retificação."""
    for what, build, code in layers:
        if operation == "retificar" and code == "INFODIP-E022":
            continue  # the retificação helper sends as the tribunal
        content = build() if operation == "enviar" else _as_retification(build)()
        answer = assert_fault(server, db, content, code)
        assert answer.field == field, (what, answer.field)


def _person_born(day: str) -> Callable[[], bytes]:
    return _edit_text(".//i:pessoa/i:dataNascimento", day)


@pytest.mark.parametrize(("build", "field"), [
    pytest.param(_edit_text(".//i:cabecalho/i:dataFato", "10000-01-01"), FACT, id="fact-year-10000"),
    pytest.param(_edit_text(".//i:cabecalho/i:dataFato", "-2020-01-01"), FACT, id="fact-negative-year"),
    pytest.param(_edit_text(".//i:condenacaoImprobidade/i:dataTransitoJulgado", "12020-01-01"),
                 "comunicacao/condenacaoImprobidade/dataTransitoJulgado", id="block-date-year-12020"),
    pytest.param(_person_born("10000-01-01"), "comunicacao/cabecalho/pessoa/dataNascimento", id="birth-10000"),
    pytest.param(_person_born("-2020-01-01"), "comunicacao/cabecalho/pessoa/dataNascimento", id="birth-negative"),
    pytest.param(_edit_text(".//i:suspensaoDireitosPoliticos/i:anos", "1" * 5000), SUSPENSION + "/anos",
                 id="5000-digit-years"),
    pytest.param(_edit_text(".//i:suspensaoDireitosPoliticos/i:anos", "1" * 10), SUSPENSION + "/anos",
                 id="10-digit-years"),
])
def test_schema_valid_values_the_domain_cannot_use(server: GatewayProcess, db: Engine, build: Callable[[], bytes],
                                                   field: str) -> None:
    """Years of five digits or negative (dates of the fact, of the block, of birth) and a 5,000-digit count pass
    the XSD but not the domain: INFODIP-E046 soap:Client naming the field — never E090 soap:Server, and no
    traceback in the server's log."""
    log_before = server.log_path.stat().st_size
    answer = assert_fault(server, db, build(), "INFODIP-E046")
    assert answer.field == field
    with open(server.log_path, "rb") as log:
        log.seek(log_before)
        assert b"Traceback" not in log.read()


@pytest.mark.parametrize("where", ["comment", "attribute", "processing-instruction"])
def test_doctype_text_in_a_comment_or_attribute_is_accepted(server: GatewayProcess, where: str) -> None:
    """The text ``<!DOCTYPE`` in a comment, a processing instruction or an attribute value declares nothing: the
    request is accepted like any other (only a declaration in the prolog is refused)."""
    raw = sample(Kind.I)
    marker = {"comment": b"<!-- <!DOCTYPE x [<!ENTITY y 'z'>]> -->",
              "attribute": b'<wsse:UsernameToken xmlns:x="urn:x" x:nota="&lt;!DOCTYPE x [&lt;!ENTITY y \'z\'>]>">',
              "processing-instruction": b"<?nota <!DOCTYPE x>?>"}[where]
    if where == "attribute":  # on a header block: the XSD validates only the operation
        changed = raw.replace(b"<wsse:UsernameToken>", marker, 1)
    else:
        changed = raw.replace(b"<inf:cabecalho>", b"<inf:cabecalho>" + marker, 1)
    assert changed != raw
    receipt_of(post(server, changed)[0])


def test_element_flood_is_refused_before_authenticating(server: GatewayProcess, db: Engine) -> None:
    """A body at the size limit made of empty elements, with a wrong password after them, is refused with
    INFODIP-E005 while it is parsed (the element limit), before the credential is looked at."""
    raw = sample(Kind.I, password="senha-errada")
    room = 512 * 1024 - len(raw) - 16
    flood_ = raw.replace(b"<soap:Header>", b"<soap:Header><x>" + b"<a/>" * (room // 4) + b"</x>", 1)
    assert len(flood_) <= 512 * 1024
    answer = assert_fault(server, db, flood_, "INFODIP-E005")
    assert "elementos" in answer.faultstring
