"""What the hub writes to tribunals and reads back from them, on top of MNI 2.2.2 (pure: lxml trees and bytes).

A client's request is forwarded with only its credential fields rewritten (:func:`with_credentials`); the hub's
own calls — the probe ``consultarProcesso`` that finds where a process lives and the ``consultarAlteracao`` that
reconciles a filing — are small envelopes built here (:func:`own_request`). From answers the hub reads
``hashDocumentos``, ``protocoloRecebimento`` and an initial petition's new ``numeroProcesso``.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from lxml import etree

from gateway.hub.credentials import TribunalCredential
from gateway.mni.mtom import inline_xop
from gateway.mni.names import SERVICO_NS, SOAP11_NS, TIPOS_NS
from gateway.mni.reader import MniMessage
from gateway.xml.soap import WSSE_NS

_T = "{%s}" % TIPOS_NS


def credential_fields(operation: str) -> tuple[str, str]:
    """The MNI user and password fields of *operation*: ``idManifestante``/``senhaManifestante`` for a filing,
    ``idConsultante``/``senhaConsultante`` otherwise."""
    if operation == "entregarManifestacaoProcessual":
        return "idManifestante", "senhaManifestante"
    return "idConsultante", "senhaConsultante"


def with_credentials(msg: MniMessage, cred: TribunalCredential) -> bytes:
    """The request with only its credential fields rewritten (WS-Security header removed, MNI fields set), as one
    UTF-8 document.

    MTOM/XOP attachments travel inline (base64): one well-formed document any MNI server reads; each attachment is
    moved into the tree once and released from the message."""
    root = msg.root
    if msg.attachments:
        inline_xop(root, msg.attachments)
        msg.attachments.clear()
    header = root.find(f"{{{SOAP11_NS}}}Header")
    if header is not None:
        for sec in header.findall(f"{{{WSSE_NS}}}Security"):
            header.remove(sec)
    user_field, pass_field = credential_fields(msg.operation)
    op = msg.body
    user = op.find(_T + user_field)
    password = op.find(_T + pass_field)
    if user is None:
        user = etree.Element(_T + user_field)
        op.insert(0, user)
    if password is None:
        password = etree.Element(_T + pass_field)
        user.addnext(password)
    user.text = cred.username
    password.text = cred.password
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def own_request(operation: str, cred: TribunalCredential, inner: str) -> bytes:
    """A request of the hub's own: *operation* with *cred* in its credential fields followed by *inner* (XML of the
    tipos namespace with the ``tip`` prefix, e.g. :func:`probe_inner`)."""
    user_field, pass_field = credential_fields(operation)
    return (f'<soap:Envelope xmlns:soap="{SOAP11_NS}" xmlns:ser="{SERVICO_NS}" xmlns:tip="{TIPOS_NS}"><soap:Body>'
            f"<ser:{operation}><tip:{user_field}>{escape(cred.username)}</tip:{user_field}>"
            f"<tip:{pass_field}>{escape(cred.password)}</tip:{pass_field}>{inner}"
            f"</ser:{operation}></soap:Body></soap:Envelope>").encode()


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
