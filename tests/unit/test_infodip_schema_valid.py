"""Schema-valid INFODIP requests never crash intake: a property-based test whose requests are generated from the
XSD itself (schemas/infodip/1.0), and the example-based cases of issue 8 (five-digit and negative years, a
5,000-digit count) with the ``campo`` every layer gives the same bad field.

Every generated request is valid according to the XSD (checked, not assumed); intake's checks
(:class:`~gateway.infodip.intake.IntakeChecks`, the pipeline of ``/soap/infodip`` and ``gateway validate``)
must then accept it or refuse it with a catalogued client error — never raise anything else, which the edge
would answer INFODIP-E090 (``soap:Server``, "retry") with a traceback.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import xmlschema
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway import identifiers as ids
from gateway.auth import Caller
from gateway.clock import SystemClock
from gateway.errors import CATALOGUE, ClientError
from gateway.infodip import contract
from gateway.infodip.domain import BLOCK_OF_KIND, FACT_DATE_OF_KIND, Kind, competent_kinds
from gateway.infodip.intake import IntakeChecks
from gateway.organs import OrganType
from gateway.schemas import INFODIP_XSD
from gateway.settings import Settings
from gateway.xml.soap import SOAP11_NS
from tests.support import recent_day, sample

NS = contract.NS
XSD = xmlschema.XMLSchema(str(INFODIP_XSD))
CHECKS = IntakeChecks(Settings.from_env({}), SystemClock())
TRIBUNAL = Caller("u", 1, "TJRJ", OrganType.TRIBUNAL, competent_kinds(OrganType.TRIBUNAL) | {Kind.VI})
MAX_REPEAT = 3

# -- values of the XSD's simple types, boundaries first -------------------------------------------------------

_TEXT = st.characters(blacklist_categories=("Cs", "Cc", "Cn"))
_ZONE = st.one_of(st.just(""), st.just("Z"), st.builds(
    lambda sign, h, m: f"{sign}{h:02d}:{m:02d}", st.sampled_from("+-"), st.integers(0, 13), st.sampled_from([0, 30])))


def _date_text(day: date) -> str:
    return day.isoformat()


XS_DATE = st.builds(lambda text, zone: text + zone, st.one_of(
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(_date_text),
    st.integers(0, 40).map(lambda n: _date_text(recent_day(n))),  # recent: rules and deadlines get exercised
    st.builds(lambda y, m, d: f"{y}-{m:02d}-{d:02d}", st.integers(10_000, 10**9), st.integers(1, 12),
              st.integers(1, 28)),  # five or more digits
    st.builds(lambda y, m, d: f"-{y:04d}-{m:02d}-{d:02d}", st.integers(1, 10**6), st.integers(1, 12),
              st.integers(1, 28)),  # negative years
), _ZONE)
XS_COUNT = st.one_of(  # xs:nonNegativeInteger: unbounded, leading zeros and a plus sign allowed
    st.integers(0, 60).map(str),
    st.integers(0, 10**12).map(str),
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.builds(lambda zeros, n: "+" + "0" * zeros + str(n), st.integers(0, 5000), st.integers(0, 99)),
)
XS_DECIMAL = st.from_regex(r"\+?[0-9]{1,40}(\.[0-9]{1,2})?", fullmatch=True)
XS_BOOLEAN = st.sampled_from(["true", "false", "1", "0"])


def simple(xsd_type: Any) -> st.SearchStrategy[str]:
    """Lexical values of the simple type *xsd_type* (enumerations, patterns, lengths, primitives)."""
    if xsd_type.enumeration:
        return st.sampled_from([str(v) for v in xsd_type.enumeration])
    primitive = xsd_type.primitive_type.local_name
    if _is_integer(xsd_type):
        return XS_COUNT
    if primitive == "date":
        return XS_DATE
    if primitive == "boolean":
        return XS_BOOLEAN
    if primitive == "decimal":
        return XS_DECIMAL
    low, high = xsd_type.min_length or 0, min(xsd_type.max_length or 40, 40)
    if xsd_type.patterns:
        pattern = xsd_type.patterns.regexps[0]
        return st.from_regex(pattern, fullmatch=True).filter(lambda v: low <= len(v) <= (xsd_type.max_length or 10**6))
    return st.text(_TEXT, min_size=max(low, 0), max_size=max(high, low))


def _is_integer(xsd_type: Any) -> bool:
    return any(t.local_name in ("integer", "nonNegativeInteger", "positiveInteger")
               for t in _ancestry(xsd_type))


def _ancestry(xsd_type: Any) -> list[Any]:
    chain = []
    while xsd_type is not None:
        chain.append(xsd_type)
        xsd_type = getattr(xsd_type, "base_type", None)
    return chain


@st.composite
def instance(draw: st.DrawFn, el: Any) -> etree._Element:
    """An element of the XSD's element declaration *el*, with its attributes and content drawn from its type."""
    node = etree.Element(el.name)
    xsd_type = el.type
    if xsd_type.is_simple():
        node.text = draw(simple(xsd_type))
        return node
    for name, attr in xsd_type.attributes.items():
        if attr.use == "required" or draw(st.booleans()):
            node.set(name, draw(simple(attr.type)))
    _fill(draw, node, xsd_type.content)
    return node


def _fill(draw: st.DrawFn, node: etree._Element, group: Any) -> None:
    particles = list(group)
    if group.model == "choice":
        particles = [draw(st.sampled_from(particles))]
    for particle in particles:
        top = MAX_REPEAT if particle.max_occurs is None else min(particle.max_occurs, MAX_REPEAT)
        for _ in range(draw(st.integers(particle.min_occurs, max(particle.min_occurs, top)))):
            if hasattr(particle, "model"):
                _fill(draw, node, particle)
            else:
                node.append(draw(instance(particle)))


VALID_CPF = ["31846295700", "52998224725"]
VALID_PROCESS = ["00452180920248190001"]


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    """A SOAP request with a schema-valid INFODIP operation drawn from the XSD; half of the communications are made
    coherent (tipo of their block, dataFato equal to the block's date, valid check digits) so the legal rules and
    the deadline run on the drawn dates too."""
    name = draw(st.sampled_from([contract.ENVIAR, contract.ENVIAR, contract.RETIFICAR, contract.CANCELAR,
                                 contract.CONSULTAR]))
    op = draw(instance(XSD.elements[name]))
    comm = op.find(f"{{{NS}}}comunicacao")
    if comm is not None and draw(st.booleans()):
        _make_coherent(draw, comm)
    assume(contract.schema().validate(op))  # generated from the XSD: valid but for rare pattern corner cases
    envelope = etree.Element(f"{{{SOAP11_NS}}}Envelope", nsmap={"soap": SOAP11_NS})
    etree.SubElement(envelope, f"{{{SOAP11_NS}}}Body").append(op)
    return etree.tostring(envelope)


def _make_coherent(draw: st.DrawFn, comm: etree._Element) -> None:
    head = comm.find(f"{{{NS}}}cabecalho")
    assert head is not None
    block = head.getnext()
    assert block is not None
    kind = next(k for k, b in BLOCK_OF_KIND.items() if b == etree.QName(block).localname)
    comm.set("tipo", kind.value)
    fact = block.find(f"{{{NS}}}{FACT_DATE_OF_KIND[kind]}")
    head_fact = head.find(f"{{{NS}}}dataFato")
    if fact is not None and head_fact is not None:
        head_fact.text = fact.text
    for el in head.iter(f"{{{NS}}}cpf"):
        el.text = draw(st.sampled_from(VALID_CPF))
    for el in head.iter(f"{{{NS}}}tituloEleitor"):
        el.getparent().remove(el)  # type: ignore[union-attr]
    for el in head.iter(f"{{{NS}}}numero"):
        el.text = VALID_PROCESS[0]
    for el in block.iter(f"{{{NS}}}matriculaCertidao"):
        el.getparent().remove(el)  # type: ignore[union-attr]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                                    HealthCheck.data_too_large])
@given(requests())
def test_no_schema_valid_request_crashes_intake(body: bytes) -> None:
    """Any request the XSD accepts is either accepted by intake's checks or refused with a catalogued soap:Client
    code — never an exception outside the gateway's tree (answered INFODIP-E090)."""
    report = CHECKS.validate(body, TRIBUNAL)
    if report.error is not None:
        assert isinstance(report.error, ClientError) and report.error.code in CATALOGUE
        assert report.error.faultcode == "soap:Client"
        assert report.error.code != "INFODIP-E011", report.error  # the XSD accepted it


def _sample_with(path: str, value: str, kind: Kind = Kind.I) -> bytes:
    root = etree.fromstring(sample(kind))
    el = root.find(path, {"i": NS})
    assert el is not None, path
    el.text = value
    return etree.tostring(root)


FACT = "comunicacao/cabecalho/dataFato"
BIRTH = "comunicacao/cabecalho/pessoa/dataNascimento"
YEARS = "comunicacao/condenacaoImprobidade/sancoes/suspensaoDireitosPoliticos/anos"


@pytest.mark.parametrize(("path", "value", "field"), [
    (".//i:cabecalho/i:dataFato", "10000-01-01", FACT),
    (".//i:cabecalho/i:dataFato", "-2020-01-01", FACT),
    (".//i:cabecalho/i:dataFato", "-0001-12-31Z", FACT),
    (".//i:pessoa/i:dataNascimento", "10000-01-01", BIRTH),
    (".//i:pessoa/i:dataNascimento", "-2020-01-01", BIRTH),
    (".//i:suspensaoDireitosPoliticos/i:anos", "1" * 5000, YEARS),
    (".//i:suspensaoDireitosPoliticos/i:anos", "1234567890", YEARS),
])
def test_values_the_domain_cannot_hold_are_e046(path: str, value: str, field: str) -> None:
    """Five-digit and negative years (fact, birth) and counts of ten or more digits pass the XSD but are
    INFODIP-E046 (soap:Client) naming the field — before issue 8 they ended as E090 with a traceback."""
    body = _sample_with(path, value)
    op = etree.fromstring(body).find(f"{{{SOAP11_NS}}}Body/*")
    assert op is not None and contract.schema().validate(op), "the XSD accepts the value"
    report = CHECKS.validate(body, TRIBUNAL)
    assert report.error is not None and report.error.code == "INFODIP-E046", report.error
    assert report.error.faultcode == "soap:Client" and report.error.field == field


@pytest.mark.parametrize(("path", "value"), [
    (".//i:suspensaoDireitosPoliticos/i:anos", "+" + "0" * 5000 + "8"),  # 8 years, written long
    (".//i:suspensaoDireitosPoliticos/i:anos", "999999999"),  # nine digits: read, then over the legal limit
    (".//i:pessoa/i:dataNascimento", "0001-01-01Z"),
])
def test_long_writings_of_usable_values_are_read(path: str, value: str) -> None:
    """What the domain can hold is read however it is written: leading zeros and a sign do not count as digits
    (8 years is accepted), nine digits are read (and then refused by the legal limit, E043), year 0001 is a
    date."""
    report = CHECKS.validate(_sample_with(path, value), TRIBUNAL)
    if value == "999999999":
        assert report.error is not None and report.error.code == "INFODIP-E043"
    else:
        assert report.ok, report.error


LAYERS = [  # (field, [(edit path, value, code)])
    ("comunicacao/cabecalho/pessoa/cpf", [(".//i:pessoa/i:cpf", "3184629570X", "INFODIP-E011"),
                                          (".//i:pessoa/i:cpf", "31846295701", "INFODIP-E030")]),
    (FACT, [(".//i:cabecalho/i:dataFato", "ontem", "INFODIP-E011"),
            (".//i:cabecalho/i:dataFato", "10000-01-01", "INFODIP-E046"),
            ("future", "", "INFODIP-E040"),
            (".//i:cabecalho/i:dataFato", recent_day(5).isoformat(), "INFODIP-E044")]),
    (YEARS, [(".//i:suspensaoDireitosPoliticos/i:anos", "dez", "INFODIP-E011"),
             (".//i:suspensaoDireitosPoliticos/i:anos", "1" * 50, "INFODIP-E046")]),
    ("comunicacao/cabecalho/processo/numero", [(".//i:processo/i:numero", "1", "INFODIP-E011"),
                                              (".//i:processo/i:numero", "00452180920248190002", "INFODIP-E032")]),
]


@pytest.mark.parametrize(("field", "layers"), LAYERS, ids=[f for f, _ in LAYERS])
def test_gateway_validate_roots_every_campo_at_the_payload(field: str, layers: list[tuple[str, str, str]]) -> None:
    """``gateway validate``'s pipeline gives the same ``campo`` for the same bad field whichever layer refuses it,
    rooted at the operation's payload; the bare operation element (no envelope) gets the same one."""
    for path, value, code in layers:
        body = sample(Kind.I, fact_date=recent_day(-3)) if path == "future" else _sample_with(path, value)
        op = etree.fromstring(body).find(f"{{{SOAP11_NS}}}Body/*")
        assert op is not None
        for candidate in (body, etree.tostring(op)):
            report = CHECKS.validate(candidate, TRIBUNAL)
            assert report.error is not None and report.error.code == code, (value, report.error)
            assert report.error.field == field, (code, report.error.field)


@pytest.mark.parametrize(("path", "message", "field"), [
    ("/inf:enviarComunicacao/inf:comunicacao/inf:cabecalho/inf:pessoa/inf:cpf", "Element 'x': bad",
     "comunicacao/cabecalho/pessoa/cpf"),
    ("/ns0:retificarComunicacao/ns0:protocolo", "Element 'x': bad", "protocolo"),
    ("/a:cancelarComunicacao/a:motivo", "Element 'x': bad", "motivo"),
    ("/enviarComunicacao/comunicacao", "Element '{urn:x}comunicacao', attribute 'tipo': 'X' is not valid",
     "comunicacao/@tipo"),
    ("/inf:enviarComunicacao/inf:comunicacao/inf:condenacaoImprobidade/inf:artigo[2]", "Element 'x': bad",
     "comunicacao/condenacaoImprobidade/artigo[2]"),
    ("/inf:enviarComunicacao", "Element '{urn:x}enviarComunicacao': Missing child element(s). Expected is "
     "( {urn:gateway-interop:infodip:1.0}comunicacao ).", "comunicacao"),
    ("/inf:enviarComunicacao", "Element 'x': Missing child element(s). Expected is one of ( a, b ).", None),
    ("/soap:Envelope/soap:Body/inf:consultarComunicacao/inf:protocolo", "Element 'x': bad", "protocolo"),
])
def test_field_of_a_schema_error(path: str, message: str, field: str | None) -> None:
    """libxml2's error path becomes a ``campo`` rooted at the operation's payload, whatever the prefixes and
    wherever the validated element sits; attributes get ``/@name``; an error on the operation element itself
    names the one child it expected."""
    operation = path.strip("/").split("/")[-1].rpartition(":")[2].partition("[")[0]
    for step in path.strip("/").split("/"):
        local = step.rpartition(":")[2]
        if local in contract.OPERATIONS:
            operation = local
    assert contract.field_of(path, message, operation) == field


def test_the_sample_reaches_the_deadline() -> None:
    """Sanity of the generator's coherent branch: a sample made coherent the same way passes every check."""
    assert CHECKS.validate(sample(Kind.I), TRIBUNAL).ok
    assert ids.is_valid_cpf(VALID_CPF[1]) and ids.is_valid_processo_cnj(VALID_PROCESS[0])
