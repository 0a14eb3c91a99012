"""The INFODIP 1.1 contract (``schemas/infodip/1.1``): its new operations, and the bridge from its 1.0 operations to
the 1.0 use cases.

1.1 keeps the 1.0 operations (in its own namespace) and adds ``consultarSituacaoDireitosPoliticos`` and
``listarComunicacoes``, the death record's ``nomePai``, ``municipioIBGE`` and ``dataRegistro``, the optional
``resultadoProcessamento`` of a delivery, and a ``duplicidade`` notice that says the fact is already on record
without naming the earlier protocol (which may be another organ's). A 1.0 operation sent to 1.1 is validated
against the 1.1 XSD, then read as its 1.0 form (:func:`as_v10`) — the stored payload stays a 1.0 ``comunicacao``,
what the stores receive — and its 1.0 answer is given back in the 1.1 namespace (:func:`answer_as_v11`).
"""

from __future__ import annotations

from datetime import date
from xml.sax.saxutils import escape

from lxml import etree

from gateway.consulta.facts import parse
from gateway.consulta.service import Page, PersonQuery, Situation
from gateway.consulta.store import Outcome
from gateway.errors import MalformedRequest, ValidationFailed
from gateway.infodip import contract as v10
from gateway.infodip.contract import communication_situacao, delivery_situacao
from gateway.schemas import INFODIP_11_XSD, xml_schema

NS = "urn:gateway-interop:infodip:1.1"
N = {"i": NS}
SITUACAO, LISTAR = "consultarSituacaoDireitosPoliticos", "listarComunicacoes"
OPERATIONS = (*v10.OPERATIONS, SITUACAO, LISTAR)
#: 1.1-only children of ``obito`` (1.0 has no place for them; ``nomePai`` moves to ``pessoa``, where 1.0 has it)
DEATH_FIELDS_11 = ("nomePai", "municipioIBGE", "dataRegistro")
DUPLICATE_NOTICE = ("Este fato já consta do registro (mesma pessoa, processo, tipo e data do fato); a comunicação foi "
                    "registrada e vinculada à anterior.")


def operation_of(element: etree._Element) -> str:
    """The 1.1 operation *element* asks for. Errors: INFODIP-E010 (another namespace), E009 (unknown name)."""
    qname = etree.QName(element)
    if qname.namespace != NS:
        raise MalformedRequest("INFODIP-E010", f"Namespace {qname.namespace or '(vazio)'} desconhecido; use {NS}.",
                               field=qname.localname)
    if qname.localname not in OPERATIONS:
        raise MalformedRequest("INFODIP-E009", f"Operação {qname.localname} desconhecida.", field=qname.localname)
    return qname.localname


def validate(element: etree._Element) -> None:
    """Validate *element* against the 1.1 XSD (INFODIP-E011 naming the field, as in 1.0)."""
    xsd = xml_schema(INFODIP_11_XSD)
    if xsd.validate(element):
        return
    err = xsd.error_log[0]  # type: ignore[index]
    message = err.message.split("': ", 1)[-1] if err.message.startswith("Element '") else err.message
    raise ValidationFailed("INFODIP-E011", f"Mensagem inválida segundo o XSD: {message}",
                           field=v10.field_of(err.path, err.message, etree.QName(element).localname))


def as_v10(element: etree._Element) -> etree._Element:
    """A copy of the 1.1 operation *element* (one of the 1.0 operations) in the 1.0 namespace, without the fields
    1.0 lacks (``obito/nomePai`` becomes ``pessoa/nomePai`` when the person has none)."""
    copy = parse(etree.tostring(element))
    for el in copy.iter():
        if isinstance(el.tag, str) and etree.QName(el).namespace == NS:
            el.tag = f"{{{v10.NS}}}{etree.QName(el).localname}"
    obito = copy.find(".//{%s}obito" % v10.NS)
    if obito is not None:
        father = obito.find("{%s}nomePai" % v10.NS)
        pessoa = copy.find(".//{%s}pessoa" % v10.NS)
        if father is not None and pessoa is not None and pessoa.find("{%s}nomePai" % v10.NS) is None:
            new = etree.Element(f"{{{v10.NS}}}nomePai")
            new.text = father.text
            sexo = pessoa.find("{%s}sexo" % v10.NS)
            if sexo is not None:
                sexo.addprevious(new)
            else:
                pessoa.append(new)
        for name in DEATH_FIELDS_11:
            for extra in obito.findall("{%s}%s" % (v10.NS, name)):
                obito.remove(extra)
    etree.cleanup_namespaces(copy, top_nsmap={"i": v10.NS})
    return copy


def answer_as_v11(answer_v10: str) -> str:
    """A 1.0 answer element (``…Resposta``, as :func:`gateway.infodip.contract.operation_response` builds it) in the
    1.1 namespace, its ``duplicidade`` naming no protocol."""
    root = parse(answer_v10.encode())
    for el in root.iter():
        if isinstance(el.tag, str) and etree.QName(el).namespace == v10.NS:
            el.tag = f"{{{NS}}}{etree.QName(el).localname}"
    for dup in root.iter(f"{{{NS}}}duplicidade"):
        for child in list(dup):
            dup.remove(child)
        flag = etree.SubElement(dup, f"{{{NS}}}jaRegistrado")
        flag.text = "true"
        message = etree.SubElement(dup, f"{{{NS}}}mensagem")
        message.text = DUPLICATE_NOTICE
    etree.cleanup_namespaces(root, top_nsmap={"i": NS})
    return etree.tostring(root, encoding="unicode")


# -- consultarSituacaoDireitosPoliticos ------------------------------------------------------------------------

def _text(el: etree._Element, path: str) -> str | None:
    found = el.findtext(path, namespaces=N)
    return found.strip() if found else None


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def read_situation(element: etree._Element) -> tuple[PersonQuery, date | None, str | None, str | None]:
    """The key, date, purpose and acting person's CPF of an XSD-valid ``consultarSituacaoDireitosPoliticos``."""
    query = PersonQuery(cpf=_text(element, "i:cpf"), titulo=_text(element, "i:tituloEleitor"),
                        nome=_text(element, "i:filiacao/i:nome"),
                        data_nascimento=_date(_text(element, "i:filiacao/i:dataNascimento")),
                        nome_mae=_text(element, "i:filiacao/i:nomeMae"))
    return query, _date(_text(element, "i:data")), _text(element, "i:finalidade"), _text(element, "i:cpfSolicitante")


def _e(value: object) -> str:
    return escape(str(value))


def situation_xml(s: Situation) -> str:
    """The body of ``consultarSituacaoDireitosPoliticosResposta`` (prefix ``i`` for the 1.1 namespace; each
    version's ``comunicacao`` as stored, renamed to 1.1)."""
    t = s.timeline
    parts = [f"<i:data>{s.on.isoformat()}</i:data><i:chave>{s.key_kind}</i:chave>",
             f"<i:regras><i:versao>{_e(s.rules.id)}</i:versao><i:vigencia>{s.rules.vigencia.isoformat()}</i:vigencia>"
             f"<i:descricao>{_e(s.rules.descricao)}</i:descricao>",
             *(f"<i:fonte>{_e(f)}</i:fonte>" for f in s.rules.fontes), "</i:regras>",
             f"<i:situacao><i:direitosPoliticosSuspensos>{_b(t.suspended)}</i:direitosPoliticosSuspensos>"
             f"<i:inelegivel>{_b(t.ineligible)}</i:inelegivel>"
             f"<i:inscricaoCancelada>{_b(t.registration_cancelled)}</i:inscricaoCancelada></i:situacao>"]
    for i in t.intervals:
        parts.append(f"<i:intervalo><i:tipo>{i.kind}</i:tipo><i:inicio>{i.start.isoformat()}</i:inicio>"
                     + (f"<i:fim>{i.end.isoformat()}</i:fim>" if i.end else "")
                     + f"<i:fundamento>{_e(i.basis)}</i:fundamento>"
                     + (f"<i:alinea>{_e(i.alinea)}</i:alinea>" if i.alinea else "")
                     + "".join(f"<i:protocolo>{p}</i:protocolo>" for p in i.protocols)
                     + f"<i:inferida>{_b(i.inferred)}</i:inferida>"
                     + "".join(f"<i:observacao>{_e(n)}</i:observacao>" for n in i.notes) + "</i:intervalo>")
    for c in s.communications:
        parts.append(f"<i:comunicacaoPessoa><i:protocolo>{c.protocol}</i:protocolo><i:tipo>{c.kind}</i:tipo>"
                     f"<i:situacao>{communication_situacao(c.status)}</i:situacao>"
                     f"<i:remetente>{_e(c.sender)}</i:remetente>"
                     + (f"<i:processo>{c.process_number}</i:processo>" if c.process_number else "")
                     + f"<i:dataFato>{c.fact_date.isoformat()}</i:dataFato>"
                     f"<i:versaoAtual>{c.current_version}</i:versaoAtual>")
        for v in c.versions:
            reference = _reference(v.payload) if v.operation != "cancelamento" else None
            parts.append(f"<i:versao><i:numero>{v.version}</i:numero><i:operacao>{v.operation}</i:operacao>"
                         f"<i:idMensagem>{v.message_id}</i:idMensagem>"
                         f"<i:referenciaRemetente>{_e(reference or 'cancelamento')}</i:referenciaRemetente>"
                         f"<i:dataRecebimento>{_dt(v.received_at)}</i:dataRecebimento>"
                         f"<i:emAtraso>{_b(v.late)}</i:emAtraso>"
                         + (f"<i:motivoCancelamento>{_e(v.cancel_reason)}</i:motivoCancelamento>"
                            if v.cancel_reason else "")
                         + (_payload_v11(v.payload) if v.operation != "cancelamento" else "") + "</i:versao>")
        parts.append("</i:comunicacaoPessoa>")
    cover = s.coverage
    parts.append("<i:cobertura>" + (f"<i:desde>{_dt(cover.since)}</i:desde>" if cover.since else "")
                 + "".join(f"<i:historicoImportado><i:origem>{_e(h.origin)}</i:origem><i:lote>{_e(h.batch)}</i:lote>"
                           + (f"<i:importadoEm>{_dt(h.imported_at)}</i:importadoEm>" if h.imported_at else "")
                           + f"<i:comunicacoes>{h.communications}</i:comunicacoes></i:historicoImportado>"
                           for h in cover.imported) + "</i:cobertura>")
    return "".join(parts)


def _b(value: bool) -> str:
    return "true" if value else "false"


def _dt(value: object) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")  # type: ignore[attr-defined]


def _reference(payload: bytes) -> str | None:
    return parse(payload).findtext(".//{%s}referenciaRemetente" % v10.NS)


def _payload_v11(payload: bytes) -> str:
    root = parse(payload)
    for el in root.iter():
        if isinstance(el.tag, str) and etree.QName(el).namespace == v10.NS:
            el.tag = f"{{{NS}}}{etree.QName(el).localname}"
    etree.cleanup_namespaces(root, top_nsmap={"i": NS})
    return etree.tostring(root, encoding="unicode")


# -- listarComunicacoes ------------------------------------------------------------------------------------------

def read_listing(element: etree._Element) -> dict[str, object]:
    """The filters of an XSD-valid ``listarComunicacoes`` as :meth:`ConsultaService.listing`'s keywords."""
    limit = _text(element, "i:limite")
    return {"desde": _date(_text(element, "i:desde")), "ate": _date(_text(element, "i:ate")),
            "tipo": _text(element, "i:tipo"), "situacao": _text(element, "i:situacao"),
            "entrega": _text(element, "i:entrega"), "referencia": _text(element, "i:referenciaRemetente"),
            "processo": _text(element, "i:processo"), "cursor": _text(element, "i:cursor"),
            "limite": int(limit) if limit and len(limit) < 10 else (10**9 if limit else 50)}


def listing_xml(page: Page) -> str:
    """The body of ``listarComunicacoesResposta``."""
    parts = []
    for i in page.items:
        parts.append(f"<i:item><i:protocolo>{i.protocol}</i:protocolo><i:tipo>{i.kind}</i:tipo>"
                     f"<i:situacao>{communication_situacao(i.status)}</i:situacao>"
                     f"<i:versaoAtual>{i.current_version}</i:versaoAtual>"
                     + (f"<i:processo>{i.process_number}</i:processo>" if i.process_number else "")
                     + f"<i:dataFato>{i.fact_date.isoformat()}</i:dataFato>"
                     f"<i:recebidaEm>{_dt(i.created_at)}</i:recebidaEm>"
                     f"<i:atualizadaEm>{_dt(i.updated_at)}</i:atualizadaEm>"
                     f"<i:referenciaRemetente>{_e(i.reference)}</i:referenciaRemetente>"
                     f"<i:emAtraso>{_b(i.late)}</i:emAtraso><i:diasAtraso>{i.days_late}</i:diasAtraso>"
                     + "".join(f"<i:entrega><i:destino>{_e(d.destination)}</i:destino>"
                               f"<i:situacao>{delivery_situacao(d.status)}</i:situacao>{_outcome(d.outcome)}"
                               "</i:entrega>" for d in i.deliveries) + "</i:item>")
    if page.next_cursor:
        parts.append(f"<i:proximo>{page.next_cursor}</i:proximo>")
    return "".join(parts)


def _outcome(outcome: Outcome | None) -> str:
    if outcome is None:
        return ""
    return ("<i:resultadoProcessamento>" f"<i:situacao>{_e(outcome.situation)}</i:situacao>"
            + (f"<i:informadoEm>{_dt(outcome.reported_at)}</i:informadoEm>" if outcome.reported_at else "")
            + (f"<i:detalhe>{_e(outcome.detail[:4000])}</i:detalhe>" if outcome.detail else "")
            + "</i:resultadoProcessamento>")


def operation_response(operation: str, inner: str) -> str:
    """``<operationResposta>`` in the 1.1 namespace wrapping *inner*."""
    return f'<i:{operation}Resposta xmlns:i="{NS}">{inner}</i:{operation}Resposta>'
