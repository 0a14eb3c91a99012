"""Answers the hub builds: its own ``sucesso=false`` errors, tribunal answers re-serialised canonically, and the
SOAP Fault for what cannot be read at all.

Both are one SOAP 1.1 envelope, UTF-8, the operation's ``…Resposta`` element in the servico namespace and its
children in the tipos namespace (DOMAIN.md §4), so they validate against the official XSD wherever the data is
ours to shape.
"""

from __future__ import annotations

from datetime import datetime
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from lxml import etree

from gateway.errors import CATALOGUE, GatewayError
from gateway.mni.mtom import inline_xop
from gateway.mni.names import INTER_NS, SERVICO_NS, SOAP11_NS, TIPOS_NS
from gateway.mni.reader import MniMessage
from gateway.xml.soap import fault

BRASILIA = ZoneInfo("America/Sao_Paulo")
NSMAP = {"soap": SOAP11_NS, "ns1": TIPOS_NS, "ns2": INTER_NS, "ns3": SERVICO_NS}


def response_name(operation: str) -> str:
    """``consultarProcesso`` → ``consultarProcessoResposta`` (names already ending in Resposta are kept)."""
    return operation if operation.endswith("Resposta") else operation + "Resposta"


def data_hora(moment: datetime | None = None) -> str:
    """*moment* (now by default) as MNI's ``AAAAMMDDHHMMSS`` in Brasília local time, no zone."""
    moment = moment or datetime.now(BRASILIA)
    if moment.tzinfo is not None:
        moment = moment.astimezone(BRASILIA)
    return moment.strftime("%Y%m%d%H%M%S")


def envelope_for(body_element: etree._Element) -> bytes:
    """A SOAP 1.1 envelope (UTF-8, with XML declaration) around *body_element*."""
    env = etree.Element(f"{{{SOAP11_NS}}}Envelope", nsmap=NSMAP)
    etree.SubElement(env, f"{{{SOAP11_NS}}}Body").append(body_element)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def error_response(
    operation: str, code: str, message: str, *, sucesso: bool = False, moment: datetime | None = None
) -> bytes:
    """The hub's own answer with a code: ``sucesso=false`` (or *sucesso*) and ``mensagem = "MNI-E0xx: message"``.

    ``sucesso=True`` serves informational codes such as MNI-E050 (a replayed filing whose outcome is known).

    For ``entregarManifestacaoProcessual`` the XSD also requires ``protocoloRecebimento`` (empty: nothing was
    filed through the hub) and ``dataOperacao`` (now, Brasília time).
    """
    name = response_name(operation)
    op = etree.Element(f"{{{SERVICO_NS}}}{name}", nsmap=NSMAP)
    etree.SubElement(op, f"{{{TIPOS_NS}}}sucesso").text = "true" if sucesso else "false"
    etree.SubElement(op, f"{{{TIPOS_NS}}}mensagem").text = f"{code}: {message}"
    if name == "entregarManifestacaoProcessualResposta":
        etree.SubElement(op, f"{{{TIPOS_NS}}}protocoloRecebimento").text = ""
        etree.SubElement(op, f"{{{TIPOS_NS}}}dataOperacao").text = data_hora(moment)
    return envelope_for(op)


def canonical_response(msg: MniMessage, extra_message: str | None = None) -> bytes:
    """Re-serialise a tribunal answer read by :func:`~gateway.mni.reader.read_response` as one XML document.

    Official namespaces (the reader normalised them), ``sucesso`` and ``mensagem`` always present (added when
    the tribunal omitted them: ``sucesso`` is then ``true`` — eproc omits both on successful avisos answers —
    and ``mensagem`` empty), *extra_message* appended to ``mensagem``, XOP attachments inlined as base64.
    Works on ``msg.body`` **in place** (a copy of a 50 MB answer would double the memory); the message should not
    be used for anything else afterwards.
    """
    op = msg.body
    sucesso = op.find(f"{{{TIPOS_NS}}}sucesso")
    if sucesso is None:
        sucesso = etree.Element(f"{{{TIPOS_NS}}}sucesso")
        sucesso.text = "true" if msg.sucesso is None else str(msg.sucesso).lower()
        op.insert(0, sucesso)
    mensagem = op.find(f"{{{TIPOS_NS}}}mensagem")
    if mensagem is None:
        mensagem = etree.Element(f"{{{TIPOS_NS}}}mensagem")
        mensagem.text = ""
        sucesso.addnext(mensagem)
    if extra_message:
        current = (mensagem.text or "").strip()
        mensagem.text = f"{current} {extra_message}" if current else extra_message
    if msg.attachments:
        inline_xop(op, msg.attachments)
    parent = op.getparent()
    try:
        return envelope_for(op)  # moves op into a fresh envelope (no tribunal headers)…
    finally:
        if parent is not None:
            parent.append(op)  # …and back, so msg.root stays whole


def fault_for(exc: GatewayError) -> bytes:
    """A SOAP 1.1 Fault for what the hub could not read at all (MNI-E001…E011, or E090 when the hub is missing):
    the code and its Portuguese message in ``detail`` as ``<mensagem>MNI-E0xx: …</mensagem>``."""
    if exc.message == exc.code and exc.code in CATALOGUE:
        exc.message = CATALOGUE[exc.code]
    return fault(exc, f'<mensagem xmlns="{TIPOS_NS}">{escape(exc.code + ": " + exc.message)}</mensagem>')
