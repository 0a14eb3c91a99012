"""The INFODIP 1.0 contract: operation names, reading a validated request into the domain, building answers.

The XSD in ``schemas/infodip/1.0`` is the contract; this module only maps its elements to domain objects and back.
It imports the domain and the records the use cases return, never the service (the service imports it).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime
from xml.sax.saxutils import escape

from lxml import etree

from gateway import identifiers as ids
from gateway.errors import CATALOGUE, GatewayError, MalformedRequest, ValidationFailed
from gateway.infodip.domain import (
    FACT_DATE_OF_KIND,
    KIND_OF_BLOCK,
    Communication,
    Inelegibility,
    Kind,
    Person,
    Term,
)
from gateway.infodip.records import CommunicationView, Receipt
from gateway.schemas import INFODIP_XSD, xml_schema

NS = "urn:gateway-interop:infodip:1.0"
N = {"i": NS}
ENVIAR, RETIFICAR, CANCELAR, CONSULTAR = (
    "enviarComunicacao", "retificarComunicacao", "cancelarComunicacao", "consultarComunicacao")
OPERATIONS = (ENVIAR, RETIFICAR, CANCELAR, CONSULTAR)
#: Outbox states (``gateway.db.tables.OUTBOX_STATES``) as the contract (and the REST API) names them
#: (``tipoSituacaoEntrega``); a row under a relay's lease is still waiting for the destination's answer — while
#: it is sent, and up to the lease after a crash — so "sending" is "pendente" on the wire.
STATUS_PT = {"pending": "pendente", "sending": "pendente", "blocked": "bloqueada", "delivered": "entregue",
             "failed": "falha", "dead": "morta"}
#: Communication states (``gateway.db.tables.COMMUNICATION_STATES``) as the contract names them
#: (``tipoSituacaoComunicacao``).
COMMUNICATION_STATUS_PT = {"ativa": "ativa", "cancelada": "cancelada"}


def delivery_situacao(status: str) -> str:
    """The contract's word (``tipoSituacaoEntrega``) for the outbox state *status*. Errors: KeyError for a state
    the contract has no word for — a bug, answered INFODIP-E090 rather than a value the XSD does not allow."""
    return STATUS_PT[status]


def communication_situacao(status: str) -> str:
    """The contract's word (``tipoSituacaoComunicacao``) for the communication state *status*. Errors: KeyError
    for a state the contract has no word for (a bug)."""
    return COMMUNICATION_STATUS_PT[status]


@dataclass(frozen=True)
class Request:
    """An XSD-valid INFODIP operation read into the domain: what the service needs, nothing of the XML.

    ``payload`` holds the bytes stored for the version — the exclusive C14N of ``comunicacao`` (envio,
    retificação) or of the whole operation (cancelamento); empty for a consultation. ``digest`` is the idempotency
    digest (SHA-256 hex) of the C14N of ``comunicacao`` for an envio and of the whole operation for a retificação
    or a cancelamento, so that the protocol corrected is part of the key's payload (ARCHITECTURE.md)."""

    operation: str
    communication: Communication | None
    protocol: str | None
    reference: str
    reason: str | None
    payload: bytes
    digest: str


def operation_of(element: etree._Element) -> str:
    """The INFODIP operation *element* asks for. Errors: INFODIP-E010 (another namespace), INFODIP-E009 (a name
    the contract does not define)."""
    qname = etree.QName(element)
    if qname.namespace != NS:
        raise MalformedRequest("INFODIP-E010", f"Namespace {qname.namespace or '(vazio)'} desconhecido; use {NS}.",
                               field=qname.localname)
    if qname.localname not in OPERATIONS:
        raise MalformedRequest("INFODIP-E009", f"Operação {qname.localname} desconhecida.", field=qname.localname)
    return qname.localname


def read_request(element: etree._Element) -> Request:
    """The domain view of an XSD-valid operation element (see :func:`validate_operation`)."""
    name = etree.QName(element).localname
    protocol = (element.findtext("i:protocolo", namespaces=N) or "").strip()
    if name in (ENVIAR, RETIFICAR):
        comm_el = element.find("i:comunicacao", N)
        assert comm_el is not None  # the XSD requires it
        comm = read_communication(comm_el)
        payload = c14n(comm_el)
        keyed = payload if name == ENVIAR else c14n(element)
        return Request(name, comm, protocol if name == RETIFICAR else None, comm.reference, None, payload,
                       hashlib.sha256(keyed).hexdigest())
    if name == CANCELAR:
        payload = c14n(element)
        return Request(name, None, protocol, (element.findtext("i:referenciaRemetente", namespaces=N) or "").strip(),
                       (element.findtext("i:motivo", namespaces=N) or "").strip(), payload,
                       hashlib.sha256(payload).hexdigest())
    return Request(name, None, protocol, "", None, b"", "")


def schema() -> etree.XMLSchema:
    """The compiled INFODIP 1.0 XSD."""
    return xml_schema(INFODIP_XSD)


def validate_operation(element: etree._Element) -> None:
    """Validate the body element against the XSD; raise INFODIP-E011 naming the first field at fault, rooted at
    the operation's payload like every other error's (:func:`field_of`)."""
    xsd = schema()
    if xsd.validate(element):
        return
    err = xsd.error_log[0]  # type: ignore[index]
    message = err.message
    field = field_of(err.path, message, etree.QName(element).localname)
    if message.startswith("Element '"):
        message = message.split("': ", 1)[-1]
    raise ValidationFailed("INFODIP-E011", f"Mensagem inválida segundo o XSD: {message}", field=field)


_ATTRIBUTE_ERROR = re.compile(r"^Element '[^']*', attribute '(?:\{[^}]*\})?([^']+)'")
_EXPECTED_ONE = re.compile(r"Expected is \( (?:\{[^}]*\})?([A-Za-z0-9_.-]+) \)")


def field_of(path: str | None, message: str, operation: str) -> str | None:
    """The ``campo`` of a schema error at libxml2's *path* (``/inf:enviarComunicacao/inf:comunicacao/…``):
    rooted at the operation's payload — its children, ``comunicacao``, ``protocolo``, ``motivo``… — as every
    rule error is (``comunicacao/cabecalho/pessoa/cpf``), prefixes dropped, ``/@name`` for an attribute; for an
    error on the operation element itself, the one child it expected (None when the schema names several)."""
    steps = [step.rpartition(":")[2] for step in (path or "").strip("/").split("/") if step]
    names = [step.partition("[")[0] for step in steps]
    if operation in names:
        steps = steps[names.index(operation) + 1:]
    attribute = _ATTRIBUTE_ERROR.match(message)
    if attribute:
        steps.append("@" + attribute.group(1))
    elif not steps:
        expected = _EXPECTED_ONE.search(message)
        return expected.group(1) if expected else None
    return "/".join(steps)


def c14n(element: etree._Element) -> bytes:
    """Exclusive C14N of *element*: the bytes compared for idempotency and stored as the payload."""
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


@functools.lru_cache(maxsize=256)
def _steps(path: str) -> tuple[str, ...]:
    """``"i:processo/i:numero"`` as Clark names (``{urn:…}processo``, ``{urn:…}numero``)."""
    return tuple(f"{{{N[prefix]}}}{name}" for prefix, _, name in (step.partition(":") for step in path.split("/")))


def _text(el: etree._Element, path: str) -> str | None:
    """The stripped text of the first element at *path* (child steps with the ``i:`` prefix), None when absent or
    empty. Walks the children directly: ``find(path, namespaces)`` cost twice as much, twenty times per request."""
    node = el
    for tag in _steps(path):
        child = next(node.iterchildren(tag), None)
        if child is None:
            return None
        node = child
    return None if node.text is None else node.text.strip()


#: xs:date's lexical form (XSD 1.0 §3.2.9): an optional minus, a year of four or more digits, month, day, zone.
_XS_DATE = re.compile(r"(-?)(\d{4,})-(\d{2})-(\d{2})(?:Z|[+-]\d{2}:\d{2})?")
#: The most digits a count (years, months, days of a term) may have: the XSD's xs:nonNegativeInteger is unbounded.
MAX_COUNT_DIGITS = 9


def out_of_range(field: str, value: str, why: str) -> ValidationFailed:
    """INFODIP-E046 for a value the XSD accepts but the domain cannot use (soap:Client: resending fails too)."""
    shown = value if len(value) <= 40 else value[:20] + "…" + value[-10:]
    return ValidationFailed("INFODIP-E046", f"{CATALOGUE['INFODIP-E046']} {why}: {shown!r}.", field=field)


def _date(el: etree._Element, path: str, field: str) -> date | None:
    """The xs:date at *path* as a :class:`date` (its zone dropped); INFODIP-E046 for a year the calendar of the
    domain does not have (negative, 0000, five or more digits)."""
    value = _text(el, path)
    if not value:
        return None
    match = _XS_DATE.fullmatch(value)
    if match is None or match.group(1) or len(match.group(2)) > 4:
        raise out_of_range(field, value, "Ano fora de 0001–9999")
    try:
        return date(int(match.group(2)), int(match.group(3)), int(match.group(4)))
    except ValueError:
        raise out_of_range(field, value, "Data fora do calendário") from None


def _count(el: etree._Element, path: str, field: str) -> int:
    """The xs:nonNegativeInteger at *path* (0 when absent); INFODIP-E046 beyond :data:`MAX_COUNT_DIGITS` digits
    (leading zeros and a sign do not count)."""
    value = _text(el, path)
    if not value:
        return 0
    digits = value.lstrip("+-").lstrip("0") or "0"
    if len(digits) > MAX_COUNT_DIGITS or not digits.isdigit():
        raise out_of_range(field, value, f"Número com mais de {MAX_COUNT_DIGITS} dígitos")
    return int(digits)


def _term(el: etree._Element | None, field: str) -> Term | None:
    if el is None:
        return None
    return Term(_count(el, "i:anos", f"{field}/anos"), _count(el, "i:meses", f"{field}/meses"),
                _count(el, "i:dias", f"{field}/dias"))


def read_communication(comm_el: etree._Element, where: str = "comunicacao") -> Communication:
    """The domain view of an XSD-valid ``comunicacao`` element."""
    head = comm_el.find("i:cabecalho", N)
    assert head is not None  # the XSD requires it
    block = head.getnext()
    while block is not None and not isinstance(block.tag, str):
        block = block.getnext()
    assert block is not None
    kind = KIND_OF_BLOCK[etree.QName(block).localname]
    pessoa = head.find("i:pessoa", N)
    assert pessoa is not None
    block_name = etree.QName(block).localname
    person = Person(
        nome=_text(pessoa, "i:nome") or "",
        cpf=_text(pessoa, "i:cpf"),
        titulo_eleitor=_text(pessoa, "i:tituloEleitor"),
        data_nascimento=_date(pessoa, "i:dataNascimento", f"{where}/cabecalho/pessoa/dataNascimento"),
        nome_mae=_text(pessoa, "i:nomeMae"),
    )
    process = _text(head, "i:processo/i:numero")
    identifiers: list[tuple[ids.IdentifierKind, str, str]] = []
    if person.cpf:
        identifiers.append((ids.IdentifierKind.CPF, person.cpf, f"{where}/cabecalho/pessoa/cpf"))
    if person.titulo_eleitor:
        identifiers.append((ids.IdentifierKind.TITULO_ELEITOR, person.titulo_eleitor,
                            f"{where}/cabecalho/pessoa/tituloEleitor"))
    if process:
        identifiers.append((ids.IdentifierKind.PROCESSO_CNJ, process, f"{where}/cabecalho/processo/numero"))
    death_registration = _text(block, "i:matriculaCertidao")
    if death_registration:
        identifiers.append((ids.IdentifierKind.MATRICULA_CERTIDAO, death_registration,
                            f"{where}/obito/matriculaCertidao"))
    inel_el = block.find("i:inelegibilidade", N)
    inelegibility = None
    if inel_el is not None:
        inelegibility = Inelegibility(
            causes=_text(inel_el, "i:causaInelegibilidade") in ("true", "1"),
            alinea=_text(inel_el, "i:alinea"),
            item=_text(inel_el, "i:item"),
        )
    block_date = _date(block, "i:" + FACT_DATE_OF_KIND[kind], f"{where}/{block_name}/{FACT_DATE_OF_KIND[kind]}")
    fact_date = _date(head, "i:dataFato", f"{where}/cabecalho/dataFato")
    assert block_date is not None and fact_date is not None
    return Communication(
        kind=kind,
        declared_kind=comm_el.get("tipo", ""),
        reference=_text(head, "i:referenciaRemetente") or "",
        person=person,
        process_number=process,
        fact_date=fact_date,
        block_fact_date=block_date,
        inelegibility=inelegibility,
        nature=_text(block, "i:natureza"),
        linked_protocol=_text(block, "i:protocoloCondenacao"),
        improbity_articles=tuple(a.text.strip() for a in block.findall("i:artigo", N) if a.text),
        suspension=_term(block.find("i:sancoes/i:suspensaoDireitosPoliticos", N),
                         f"{where}/{block_name}/sancoes/suspensaoDireitosPoliticos")
        if kind is Kind.I else _term(block.find("i:suspensaoDireitosPoliticos", N),
                                     f"{where}/{block_name}/suspensaoDireitosPoliticos"),
        death_registration=death_registration,
        identifiers=tuple(identifiers),
        legal_basis=_text(block, "i:fundamentoLegal"),
    )


# -- answers ---------------------------------------------------------------------------------------------------


def _dt(value: datetime) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def receipt_xml(receipt: Receipt) -> str:
    """The ``recibo`` element."""
    parts = [
        f"<i:protocolo>{receipt.protocol}</i:protocolo>",
        f"<i:versao>{receipt.version}</i:versao>",
        f"<i:idMensagem>{receipt.message_id}</i:idMensagem>",
        f"<i:operacao>{receipt.operation}</i:operacao>",
        f"<i:dataRecebimento>{_dt(receipt.received_at)}</i:dataRecebimento>",
        f"<i:reenvio>{'true' if receipt.replay else 'false'}</i:reenvio>",
    ]
    if receipt.due_date is not None:
        parts.append(
            f"<i:prazo><i:dataLimite>{receipt.due_date.isoformat()}</i:dataLimite>"
            f"<i:emAtraso>{'true' if receipt.late else 'false'}</i:emAtraso>"
            f"<i:diasAtraso>{receipt.days_late}</i:diasAtraso></i:prazo>"
        )
    if receipt.duplicate_of:
        parts.append(
            f"<i:duplicidade><i:protocoloAnterior>{receipt.duplicate_of}</i:protocoloAnterior>"
            "<i:mensagem>Este fato já foi comunicado (mesma pessoa, processo, tipo e data do fato); a comunicação "
            "foi registrada e vinculada à anterior.</i:mensagem></i:duplicidade>"
        )
    parts.extend(f"<i:destino>{d}</i:destino>" for d in receipt.destinations)
    return "<i:recibo>" + "".join(parts) + "</i:recibo>"


def operation_response(operation: str, inner: str) -> str:
    """``<operationResposta>`` wrapping *inner*, declaring the INFODIP namespace."""
    return f'<i:{operation}Resposta xmlns:i="{NS}">{inner}</i:{operation}Resposta>'


def errors_detail(error: GatewayError) -> str:
    """The ``erros`` element carried in a Fault's ``detail``."""
    field = f"<i:campo>{escape(error.field)}</i:campo>" if error.field else ""
    return (f'<i:erros xmlns:i="{NS}"><i:erro><i:codigo>{error.code}</i:codigo>{field}'
            f"<i:mensagem>{escape(error.message)}</i:mensagem></i:erro></i:erros>")


def consultation_xml(view: CommunicationView) -> str:
    """The body of ``consultarComunicacaoResposta``: current version, every version, every delivery."""
    parts = [
        f"<i:protocolo>{view.protocol}</i:protocolo>",
        f"<i:tipo>{view.kind}</i:tipo>",
        f"<i:situacao>{communication_situacao(view.status)}</i:situacao>",
        f"<i:versaoAtual>{view.current_version}</i:versaoAtual>",
        view.current_payload.decode(),
        "<i:versoes>",
    ]
    for v in view.versions:
        parts.append(
            f"<i:versao><i:numero>{v.version}</i:numero><i:operacao>{v.operation}</i:operacao>"
            f"<i:idMensagem>{v.message_id}</i:idMensagem>"
            f"<i:referenciaRemetente>{escape(v.reference)}</i:referenciaRemetente>"
            f"<i:dataRecebimento>{_dt(v.received_at)}</i:dataRecebimento>"
            f"<i:emAtraso>{'true' if v.late else 'false'}</i:emAtraso>"
        )
        if v.cancel_reason:
            parts.append(f"<i:motivoCancelamento>{escape(v.cancel_reason)}</i:motivoCancelamento>")
        if v.operation != "cancelamento":
            parts.append(v.payload.decode())
        parts.append("</i:versao>")
    parts.append("</i:versoes><i:entregas>")
    for d in view.deliveries:
        parts.append(
            f"<i:entrega><i:versao>{d.version}</i:versao><i:destino>{d.destination}</i:destino>"
            f"<i:situacao>{delivery_situacao(d.status)}</i:situacao><i:tentativas>{d.attempts}</i:tentativas>"
        )
        if d.receipt:
            parts.append(f"<i:reciboDestino>{escape(d.receipt)}</i:reciboDestino>")
        if d.reason:
            parts.append(f"<i:motivo>{escape(d.reason[:4000])}</i:motivo>")
        parts.append(f"<i:atualizadoEm>{_dt(d.updated_at)}</i:atualizadoEm></i:entrega>")
    parts.append("</i:entregas>")
    return "".join(parts)

