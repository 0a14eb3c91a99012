"""SOAP 1.1 envelopes: reading a request envelope, building responses and Faults.

Faults follow DESIGN.md: HTTP 500, ``faultcode`` Client / Server / VersionMismatch / MustUnderstand, a Portuguese
``faultstring``, and a ``detail`` whose element (given by the endpoint) carries the stable code and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from lxml import etree

from gateway.errors import CATALOGUE, AuthenticationFailed, GatewayError, MustUnderstand, VersionMismatch
from gateway.xml.reader import malformed

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
)
#: Targets that address a header block to whoever receives it first — this endpoint (SOAP 1.1 §4.2.2; the SOAP 1.2
#: roles, which WS-Security allows as ``S12:role``).
RECEIVER_ACTORS = frozenset({
    "", "http://schemas.xmlsoap.org/soap/actor/next",
    "http://www.w3.org/2003/05/soap-envelope/role/next",
    "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver",
})
#: Said after E020 when the only UsernameTokens are in blocks addressed to another node.
FOREIGN_TOKEN = ("O UsernameToken enviado está num cabeçalho wsse:Security endereçado a outro nó (actor/role); "
                 "omita o atributo.")
_ENVELOPE = "{%s}Envelope" % SOAP11_NS
_HEADER = "{%s}Header" % SOAP11_NS
_BODY = "{%s}Body" % SOAP11_NS
_MUST_UNDERSTAND = "{%s}mustUnderstand" % SOAP11_NS
_ACTOR = "{%s}actor" % SOAP11_NS
_ROLE = "{%s}role" % SOAP12_NS
_SECURITY = "{%s}Security" % WSSE_NS
_USERNAME_TOKEN = "{%s}UsernameToken" % WSSE_NS


@dataclass(frozen=True)
class UsernameToken:
    """Credentials read from a WS-Security UsernameToken."""

    username: str
    password: str
    password_type: str


@dataclass(frozen=True)
class SoapRequest:
    """A SOAP 1.1 request reduced to what an endpoint needs, read in one pass over the envelope.

    ``tokens`` are the UsernameTokens of every ``wsse:Security`` header block addressed to this endpoint (no
    ``actor``/``role``, the receiver's, or the endpoint's URL), in document order; ``foreign_tokens`` counts
    those in blocks addressed to another node (not ours to read); ``ignored_headers`` the tags of the
    mustUnderstand header blocks addressed to us that a tolerant reader did not process (a strict one refuses
    them). ``family`` prefixes the codes :meth:`identity` raises.
    """

    header: etree._Element | None
    operation: etree._Element
    tokens: tuple[UsernameToken, ...] = ()
    ignored_headers: tuple[str, ...] = ()
    family: str = "INFODIP"
    foreign_tokens: int = 0

    @property
    def qname(self) -> tuple[str, str]:
        """(namespace, local name) of the body's element."""
        q = etree.QName(self.operation)
        return (q.namespace or "", q.localname)

    @property
    def username_token(self) -> UsernameToken | None:
        """The first UsernameToken addressed to us (None when there is none); :meth:`identity` checks the rest."""
        return self.tokens[0] if self.tokens else None

    def identity(self) -> UsernameToken | None:
        """The caller's one WS-Security identity, or None when no header addressed to us carries a token.

        Several tokens naming the same user with the same password are one identity. Errors:
        :class:`AuthenticationFailed` ``<family>-E025`` when they name different identities (which one acts would be
        a guess), ``<family>-E020`` naming the cause when the only tokens are addressed to another node."""
        if not self.tokens:
            if self.foreign_tokens:
                message = f"{CATALOGUE[self.family + '-E020']} {FOREIGN_TOKEN}"
                raise AuthenticationFailed(f"{self.family}-E020", message, field="Header/Security")
            return None
        first = self.tokens[0]
        for other in self.tokens[1:]:
            if other != first:
                raise AuthenticationFailed(f"{self.family}-E025", field="Header/Security")
        return first


def read_envelope(root: etree._Element, family: str = "INFODIP", *, tolerant: bool = False,
                  endpoint: str | None = None) -> SoapRequest:
    """Read the SOAP 1.1 envelope *root* once: header, body element, UsernameTokens and mustUnderstand headers.

    Both modes: an ``Envelope`` in another namespace is ``<family>-E008`` (:class:`VersionMismatch`, SOAP 1.1
    §4.4.1), another root element ``E007``; the Body holds exactly one element (``E007``). Only header blocks
    addressed to this endpoint are read: without ``actor`` (or ``role``), with the receiver's (``next``), or with a
    URI whose path is *endpoint* (``/soap/infodip``: any scheme and host, as proxies rename them); others are for
    another node and are skipped, their mustUnderstand included (SOAP 1.1 §4.2.2–4.2.3). Every ``wsse:Security``
    block addressed to us is read (a token is never missed because another block came first). Strict (INFODIP): the
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
    tokens: list[UsernameToken] = []
    foreign = 0
    ignored: list[str] = []
    if header is not None:
        for h in header:
            if not isinstance(h.tag, str):
                continue
            ours = _addressed_to_us(_target(h), endpoint)
            if h.tag == _SECURITY:  # understood: each one addressed to us is read
                found = _username_tokens(h)
                if ours:
                    tokens.extend(found)
                else:
                    foreign += len(found)
            elif ours and h.get(_MUST_UNDERSTAND) in ("1", "true"):
                if not tolerant:
                    raise MustUnderstand(f"{family}-E012", f"Cabeçalho obrigatório não compreendido: {h.tag}")
                ignored.append(h.tag)
    return SoapRequest(header, elements[0], tuple(tokens), tuple(ignored), family, foreign)


def _target(block: etree._Element) -> str:
    """The node a header block is addressed to (``""``: the ultimate receiver)."""
    target = block.get(_ACTOR)
    if target is None:
        target = block.get(_ROLE)
    return (target or "").strip()


def _addressed_to_us(target: str, endpoint: str | None) -> bool:
    if target in RECEIVER_ACTORS:
        return True
    return endpoint is not None and urlsplit(target).path.rstrip("/") == endpoint


def _username_tokens(security: etree._Element) -> list[UsernameToken]:
    """The UsernameTokens of a WS-Security header block (each with a Username and a Password)."""
    tokens = []
    for token in security.iterchildren(_USERNAME_TOKEN):
        user = token.findtext("{%s}Username" % WSSE_NS)
        pw = token.find("{%s}Password" % WSSE_NS)
        if user is not None and pw is not None:
            tokens.append(UsernameToken(user.strip(), pw.text or "", pw.get("Type") or PASSWORD_TEXT))
    return tokens


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
