"""The INFODIP 1.0 contract: operation names, reading a validated request into the domain, building answers.

The XSD in ``schemas/infodip/1.0`` is the contract; this module only maps its elements to domain objects and back.
It imports the domain and the records the use cases return, never the service (the service imports it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from xml.sax.saxutils import escape

from lxml import etree

from gateway import identifiers as ids
from gateway.errors import GatewayError, MalformedRequest, ValidationFailed
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
    """Validate the body element against the XSD; raise INFODIP-E011 naming the first field at fault."""
    xsd = schema()
    if xsd.validate(element):
        return
    err = xsd.error_log[0]  # type: ignore[index]
    path = (err.path or "").replace("inf:", "").replace("ns0:", "")
    field = "/".join(p.split(":")[-1] for p in path.strip("/").split("/")) if path else None
    message = err.message
    if message.startswith("Element '"):
        message = message.split("': ", 1)[-1]
    raise ValidationFailed("INFODIP-E011", f"Mensagem inválida segundo o XSD: {message}", field=field)


def c14n(element: etree._Element) -> bytes:
    """Exclusive C14N of *element*: the bytes compared for idempotency and stored as the payload."""
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def _text(el: etree._Element, path: str) -> str | None:
    found = el.find(path, N)
    if found is None or found.text is None:
        return None
    return found.text.strip()


def _date(el: etree._Element, path: str) -> date | None:
    value = _text(el, path)
    return date.fromisoformat(value[:10]) if value else None


def _term(el: etree._Element | None) -> Term | None:
    if el is None:
        return None
    return Term(int(_text(el, "i:anos") or 0), int(_text(el, "i:meses") or 0), int(_text(el, "i:dias") or 0))


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
    person = Person(
        nome=_text(pessoa, "i:nome") or "",
        cpf=_text(pessoa, "i:cpf"),
        titulo_eleitor=_text(pessoa, "i:tituloEleitor"),
        data_nascimento=_date(pessoa, "i:dataNascimento"),
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
    block_date = _date(block, "i:" + FACT_DATE_OF_KIND[kind])
    fact_date = _date(head, "i:dataFato")
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
        suspension=_term(block.find("i:sancoes/i:suspensaoDireitosPoliticos", N))
        if kind is Kind.I else _term(block.find("i:suspensaoDireitosPoliticos", N)),
        death_registration=death_registration,
        identifiers=tuple(identifiers),
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

