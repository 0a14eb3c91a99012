"""What the hub writes to tribunals and reads back from them, on top of MNI 2.2.2 (pure: lxml trees and bytes).

A client's request is forwarded with only its credential fields rewritten (:func:`with_credentials`: every
credential the client sent — each MNI pair, every WS-Security header — is removed before the tribunal's is set);
its audit digest (:func:`request_digest`) covers the request with every credential value blanked. The hub's
own calls — the probe ``consultarProcesso`` that finds where a process lives and the ``consultarAlteracao`` that
reconciles a filing — are small envelopes built here (:func:`own_request`). From answers the hub reads
``hashDocumentos``, ``protocoloRecebimento`` and an initial petition's new ``numeroProcesso``.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from xml.sax.saxutils import escape

from lxml import etree

from gateway.hub.credentials import TribunalCredential
from gateway.mni.mtom import inline_xop
from gateway.mni.names import SERVICO_NS, SOAP11_NS, TIPOS_NS
from gateway.mni.reader import MniMessage

_T = "{%s}" % TIPOS_NS
#: Every credential pair of MNI 2.2.2 (user field, password field): a client may authenticate with any of them.
CREDENTIAL_PAIRS = (("idConsultante", "senhaConsultante"), ("idManifestante", "senhaManifestante"),
                    ("idRecebedor", "senhaRecebedor"))
CREDENTIAL_FIELDS = frozenset(name for pair in CREDENTIAL_PAIRS for name in pair)
#: The WS-Security header block's local name (OASIS 1.0/1.1 and the older drafts' namespaces alike).
_SECURITY = "Security"
#: What :func:`request_digest` blanks: the content of every MNI credential element and of every WS-Security
#: ``Password`` (any prefix, attributes kept; CDATA and entity references inside are part of the content).
_CREDENTIAL_CONTENT = re.compile(
    rb"(<(?:[A-Za-z_][\w.-]*:)?(" + b"|".join(n.encode() for n in sorted(CREDENTIAL_FIELDS)) + rb"|Password)"
    rb"(?:\s[^>]*)?(?<!/)>)(.*?)(</(?:[A-Za-z_][\w.-]*:)?\2\s*>)", re.DOTALL)

def credential_fields(operation: str) -> tuple[str, str]:
    """The MNI user and password fields of *operation*: ``idManifestante``/``senhaManifestante`` for a filing,
    ``idConsultante``/``senhaConsultante`` otherwise."""
    if operation == "entregarManifestacaoProcessual":
        return "idManifestante", "senhaManifestante"
    return "idConsultante", "senhaConsultante"


def strip_credentials(msg: MniMessage) -> int:
    """Remove every credential the client sent from *msg*'s tree: each field of every MNI pair
    (:data:`CREDENTIAL_PAIRS`, in any namespace, however many times) among the operation's children, and every
    WS-Security header block (local name ``Security``, any namespace, in every ``Header`` of the envelope — a
    tolerant reader reads only the first). Returns the position of the first credential field removed (where the
    tribunal's goes), else the schema's place for it: first, after a leading ``idRepresentado``."""
    for header in [h for h in msg.root if isinstance(h.tag, str) and etree.QName(h).localname == "Header"]:
        for block in [b for b in header if isinstance(b.tag, str) and etree.QName(b).localname == _SECURITY]:
            header.remove(block)
    op = msg.body
    position: int | None = None
    for index, child in reversed(list(enumerate(op))):
        if isinstance(child.tag, str) and etree.QName(child).localname in CREDENTIAL_FIELDS:
            op.remove(child)
            position = index
    if position is not None:
        return position
    first = next((c for c in op if isinstance(c.tag, str)), None)
    return 1 if first is not None and etree.QName(first).localname == "idRepresentado" else 0


def with_credentials(msg: MniMessage, cred: TribunalCredential) -> bytes:
    """The request with only its credentials replaced, as one UTF-8 document: every credential of the client removed
    (:func:`strip_credentials`), then the operation's own pair (:func:`credential_fields`) set to *cred*.

    MTOM/XOP attachments travel inline (base64): one well-formed document any MNI server reads; each attachment is
    moved into the tree once and released from the message."""
    root = msg.root
    if msg.attachments:
        inline_xop(root, msg.attachments)
        msg.attachments.clear()
    position = strip_credentials(msg)
    user_field, pass_field = credential_fields(msg.operation)
    user = etree.Element(_T + user_field)
    password = etree.Element(_T + pass_field)
    user.text = cred.username
    password.text = cred.password
    msg.body.insert(position, user)
    user.addnext(password)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _utf8(body: bytes) -> bytes:
    """*body* itself, or its UTF-8 re-encoding when it is UTF-16 (a BOM, or ``<`` encoded on two bytes)."""
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return body.decode("utf-16", errors="replace").encode("utf-8")
    if body[:2] in (b"<\0", b"\0<"):
        return body.decode("utf-16-le" if body[0] == 0x3C else "utf-16-be", errors="replace").encode("utf-8")
    return body


def blank_credentials(body: bytes) -> bytes:
    """*body* (a request as received) with the content of every credential element emptied: each field of every MNI
    pair (:data:`CREDENTIAL_PAIRS`) and every WS-Security ``Password``, whatever their prefix, attributes or
    position (MTOM's root part included: the parts are scanned as bytes). Everything else is kept byte for byte.

    A body in UTF-16 (a BOM, or the ``<`` of the first character encoded on two bytes) is decoded, blanked and
    returned in UTF-8; any other body is scanned as bytes (UTF-8, ISO-8859-1 and ASCII keep ``<``, names and
    ``>`` as single bytes)."""
    return _CREDENTIAL_CONTENT.sub(rb"\1\4", _utf8(body))


def request_digest(body: bytes) -> str:
    """The audit digest of a client's request: SHA-256 (hex) of :func:`blank_credentials` of the bytes received,
    computed without copying them (a 50 MB filing is not held twice).

    It identifies the request (every byte but the credential values) and never lets a password guess be tested
    against the audit log: two requests that differ only in their passwords (or user fields) have the same digest.
    A request whose large documents were spilled (:mod:`gateway.mni.spill`) is digested as the hub holds it: each
    document's bytes replaced by its placeholder, which names their SHA-256 — so the digest still identifies them."""
    data = _utf8(body)
    view = memoryview(data)
    digest = hashlib.sha256()
    position = 0
    for match in _CREDENTIAL_CONTENT.finditer(data):
        digest.update(view[position:match.start(3)])
        position = match.end(3)
    digest.update(view[position:])
    return digest.hexdigest()


def own_request(operation: str, cred: TribunalCredential, inner: str) -> bytes:
    """A request of the hub's own: *operation* with *cred* in its credential fields followed by *inner* (XML of the
    tipos namespace with the ``tip`` prefix, e.g. :func:`probe_inner`)."""
    user_field, pass_field = credential_fields(operation)
    return (f'<soap:Envelope xmlns:soap="{SOAP11_NS}" xmlns:ser="{SERVICO_NS}" xmlns:tip="{TIPOS_NS}"><soap:Body>'
            f"<ser:{operation}><tip:{user_field}>{escape(cred.username)}</tip:{user_field}>"
            f"<tip:{pass_field}>{escape(cred.password)}</tip:{pass_field}>{inner}"
            f"</ser:{operation}></soap:Body></soap:Envelope>").encode()


def own_filing(cred: TribunalCredential, inner: bytes) -> bytes:
    """An ``entregarManifestacaoProcessual`` of the gateway's own (the execuções fiscais): *cred* in its credential
    fields followed by the stored bytes *inner* (elements of the tipos namespace, declaring their own prefixes)."""
    head = own_request("entregarManifestacaoProcessual", cred, "\x00").split(b"\x00")
    return head[0] + inner + head[1]


def probe_inner(number: str) -> str:
    """The smallest ``consultarProcesso`` about *number* (no movements, header nor documents): "do you hold it?"."""
    return (f"<tip:numeroProcesso>{number}</tip:numeroProcesso><tip:movimentos>false</tip:movimentos>"
            "<tip:incluirCabecalho>false</tip:incluirCabecalho><tip:incluirDocumentos>false</tip:incluirDocumentos>")


def alteracao_inner(number: str) -> str:
    """A ``consultarAlteracao`` about *number* (answers the process's ``hashDocumentos``)."""
    return f"<tip:numeroProcesso>{number}</tip:numeroProcesso>"


def set_default_localidade(msg: MniMessage, codigo: str) -> None:
    """Give an initial petition's ``dadosBasicos`` the ``codigoLocalidade`` *codigo* when it has none."""
    dados = msg.body.find(f"{_T}dadosBasicos")
    if dados is not None and not dados.get("codigoLocalidade"):
        dados.set("codigoLocalidade", codigo)


def _child_text(parsed: MniMessage, localname: str, anywhere: bool) -> str | None:
    elements = parsed.body.iter() if anywhere else iter(parsed.body)
    el = next((e for e in elements if isinstance(e.tag, str) and etree.QName(e).localname == localname), None)
    return el.text.strip() if el is not None and el.text else None


def hash_documentos(parsed: MniMessage) -> str | None:
    """The ``hashDocumentos`` of a ``consultarAlteracao`` answer (in any namespace), or None."""
    el = parsed.body.find(f".//{_T}hashDocumentos")
    if el is not None:
        return el.text.strip() if el.text else None
    return _child_text(parsed, "hashDocumentos", anywhere=True)


def protocol_of(parsed: MniMessage) -> str | None:
    """The ``protocoloRecebimento`` of a filing's answer, or None."""
    return _child_text(parsed, "protocoloRecebimento", anywhere=False)


def new_process_number(parsed: MniMessage) -> str | None:
    """The number an initial petition received (the answer's ``parametro numeroProcesso``, 20 digits), or None."""
    number = dict(parsed.parameters).get("numeroProcesso")
    return number if number and len(number) == 20 and number.isascii() and number.isdigit() else None
