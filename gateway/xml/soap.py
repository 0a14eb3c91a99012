"""SOAP 1.1 envelopes: reading a request envelope, building responses and Faults.

Faults follow DESIGN.md: HTTP 500, ``faultcode`` Client / Server / VersionMismatch / MustUnderstand, a Portuguese
``faultstring``, and a ``detail`` whose element (given by the endpoint) carries the stable code and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

from lxml import etree

from gateway.errors import GatewayError, MustUnderstand, VersionMismatch
from gateway.xml.reader import malformed

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
)
_ENVELOPE = "{%s}Envelope" % SOAP11_NS
_HEADER = "{%s}Header" % SOAP11_NS
_BODY = "{%s}Body" % SOAP11_NS
_MUST_UNDERSTAND = "{%s}mustUnderstand" % SOAP11_NS
_SECURITY = "{%s}Security" % WSSE_NS


@dataclass(frozen=True)
class UsernameToken:
    """Credentials read from a WS-Security UsernameToken."""

    username: str
    password: str
    password_type: str


@dataclass(frozen=True)
class SoapRequest:
    """A SOAP 1.1 request reduced to what an endpoint needs, read in one pass over the envelope.

    ``username_token`` is the WS-Security UsernameToken of the header (None when absent); ``ignored_headers`` the
    tags of the mustUnderstand header blocks a tolerant reader did not process (a strict one refuses them).
    """

    header: etree._Element | None
    operation: etree._Element
    username_token: UsernameToken | None = None
    ignored_headers: tuple[str, ...] = ()

    @property
    def qname(self) -> tuple[str, str]:
        """(namespace, local name) of the body's element."""
        q = etree.QName(self.operation)
        return (q.namespace or "", q.localname)


def read_envelope(root: etree._Element, family: str = "INFODIP", *, tolerant: bool = False) -> SoapRequest:
    """Read the SOAP 1.1 envelope *root* once: header, body element, UsernameToken and mustUnderstand headers.

    Both modes: an ``Envelope`` in another namespace is ``<family>-E008`` (:class:`VersionMismatch`, SOAP 1.1
    §4.4.1), another root element ``E007``; the Body holds exactly one element (``E007``). Strict (INFODIP): the
    Envelope holds an optional Header first, then one Body, nothing else (``E007``), and a mustUnderstand header
    block other than WS-Security's is ``E012`` (:class:`MustUnderstand`, SOAP 1.1 §4.2.3). *tolerant* (MNI, which
    reads what real clients send, DOMAIN.md §4): the first Header and the first Body are read wherever they are,
    other children are ignored, and unprocessed mustUnderstand headers are listed in ``ignored_headers``.
    """
    if not isinstance(root.tag, str):
        raise malformed(f"{family}-E007", field="Envelope")
    if root.tag != _ENVELOPE:
        if etree.QName(root).localname == "Envelope":
            raise VersionMismatch(f"{family}-E008", field="Envelope")
        raise malformed(f"{family}-E007", "O elemento raiz deve ser soap:Envelope (SOAP 1.1).", field="Envelope")
    header = None
    body = None
    for child in root:
        if child.tag == _HEADER and header is None and (body is None or tolerant):
            header = child
        elif child.tag == _BODY and body is None:
            body = child
        elif not tolerant:
            raise malformed(f"{family}-E007", "Filho inesperado em soap:Envelope.", field="Envelope")
    if body is None:
        raise malformed(f"{family}-E007", "soap:Body ausente.", field="Body")
    elements = [c for c in body if isinstance(c.tag, str)]
    if len(elements) != 1:
        raise malformed(f"{family}-E007", "soap:Body deve conter exatamente um elemento.", field="Body")
    token = None
    ignored: list[str] = []
    if header is not None:
        security = None
        for h in header:
            if h.tag == _SECURITY:  # understood: the first one carries the UsernameToken
                security = h if security is None else security
            elif isinstance(h.tag, str) and h.get(_MUST_UNDERSTAND) in ("1", "true"):
                if not tolerant:
                    raise MustUnderstand(f"{family}-E012", f"Cabeçalho obrigatório não compreendido: {h.tag}")
                ignored.append(h.tag)
        token = _username_token(security)
    return SoapRequest(header, elements[0], token, tuple(ignored))


def _username_token(security: etree._Element | None) -> UsernameToken | None:
    """The UsernameToken of a WS-Security header block, or None when there is none."""
    if security is None:
        return None
    token = security.find("{%s}UsernameToken" % WSSE_NS)
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
