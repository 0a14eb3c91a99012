"""SOAP 1.1 envelopes: reading a request envelope, building responses and Faults.

Faults follow DESIGN.md: HTTP 500, ``faultcode`` Client / Server / VersionMismatch / MustUnderstand, a Portuguese
``faultstring``, and a ``detail`` whose element (given by the endpoint) carries the stable code and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

from lxml import etree

from gateway.errors import GatewayError, MalformedRequest, MustUnderstand, VersionMismatch

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PASSWORD_TEXT = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
)
_ENVELOPE = "{%s}Envelope" % SOAP11_NS
_HEADER = "{%s}Header" % SOAP11_NS
_BODY = "{%s}Body" % SOAP11_NS
_MUST_UNDERSTAND = "{%s}mustUnderstand" % SOAP11_NS
_SECURITY = "{%s}Security" % WSSE_NS


@dataclass(frozen=True)
class SoapRequest:
    """A SOAP 1.1 request reduced to what an endpoint needs."""

    header: etree._Element | None
    operation: etree._Element

    @property
    def qname(self) -> tuple[str, str]:
        """(namespace, local name) of the body's element."""
        q = etree.QName(self.operation)
        return (q.namespace or "", q.localname)


@dataclass(frozen=True)
class UsernameToken:
    """Credentials read from a WS-Security UsernameToken."""

    username: str
    password: str
    password_type: str


def read_envelope(root: etree._Element, code_prefix: str = "INFODIP") -> SoapRequest:
    """Check that *root* is a SOAP 1.1 envelope with one body element and return it."""
    if not isinstance(root.tag, str):
        raise MalformedRequest(f"{code_prefix}-E007")
    q = etree.QName(root)
    if q.localname == "Envelope" and q.namespace != SOAP11_NS:
        raise VersionMismatch(f"{code_prefix}-E008", field="Envelope")
    if root.tag != _ENVELOPE:
        raise MalformedRequest(f"{code_prefix}-E007", "O elemento raiz deve ser soap:Envelope.", field="Envelope")
    header = None
    body = None
    for child in root:
        if child.tag == _HEADER and header is None and body is None:
            header = child
        elif child.tag == _BODY and body is None:
            body = child
        else:
            raise MalformedRequest(f"{code_prefix}-E007", "Filho inesperado em soap:Envelope.", field="Envelope")
    if body is None:
        raise MalformedRequest(f"{code_prefix}-E007", "soap:Body ausente.", field="Body")
    elements = [c for c in body if isinstance(c.tag, str)]
    if len(elements) != 1:
        raise MalformedRequest(f"{code_prefix}-E007", "soap:Body deve conter exatamente um elemento.", field="Body")
    if header is not None:
        for h in header:
            if h.get(_MUST_UNDERSTAND) in ("1", "true") and h.tag != _SECURITY:
                raise MustUnderstand(f"{code_prefix}-E012", f"Cabeçalho obrigatório não compreendido: {h.tag}")
    return SoapRequest(header=header, operation=elements[0])


def read_username_token(header: etree._Element | None) -> UsernameToken | None:
    """The UsernameToken of the WS-Security header, or None when there is none."""
    if header is None:
        return None
    sec = header.find(_SECURITY)
    if sec is None:
        return None
    token = sec.find("{%s}UsernameToken" % WSSE_NS)
    if token is None:
        return None
    user = token.findtext("{%s}Username" % WSSE_NS)
    pw = token.find("{%s}Password" % WSSE_NS)
    if user is None or pw is None:
        return None
    return UsernameToken(user.strip(), pw.text or "", pw.get("Type") or PASSWORD_TEXT)


def envelope(body_xml: str) -> bytes:
    """Wrap *body_xml* (serialised XML of the body's child) in a SOAP 1.1 envelope."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP11_NS}"><soap:Body>{body_xml}</soap:Body></soap:Envelope>'
    ).encode()


def fault(error: GatewayError, detail_xml: str) -> bytes:
    """A SOAP 1.1 Fault for *error* with *detail_xml* inside ``detail``."""
    return envelope(
        "<soap:Fault>"
        f"<faultcode>{error.faultcode}</faultcode>"
        f"<faultstring xml:lang=\"pt-BR\">{escape(error.message)}</faultstring>"
        f"<detail>{detail_xml}</detail>"
        "</soap:Fault>"
    )
