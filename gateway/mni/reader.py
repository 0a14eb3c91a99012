"""The tolerant MNI 2.2.2 reader: requests from clients and answers from tribunals, as real traffic sends them.

Reading never refuses what it can understand (DOMAIN.md §4): every departure from the official contract is
normalised where possible and recorded as a :class:`Deviation` with a stable name, and the hub decides (strict
mode lists the names in ``mensagem``, MNI-E031). Only what cannot be read at all raises
:class:`~gateway.errors.MalformedRequest` (or :class:`~gateway.errors.VersionMismatch`) with an MNI-E0xx code;
:func:`read_response` turns those into :class:`~gateway.mni.errors.TribunalResponseUnreadable` (MNI-E047).

``MniMessage.root`` is the envelope after normalisation: misspelled namespaces replaced by the official ones,
children in schema order and in their schema namespace, qualified attributes unqualified. ``xop:Include``
elements are **not** inlined (a 50 MB attachment would cost 67 MB more as base64): they stay in the tree and the
bytes are in ``attachments``; :func:`gateway.mni.mtom.inline_xop` or
:func:`gateway.mni.responses.canonical_response` inline them when one XML document is needed.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from dataclasses import dataclass, field

from lxml import etree

from gateway.errors import AuthenticationFailed, GatewayError, MalformedRequest, VersionMismatch
from gateway.identifiers import is_valid_processo_cnj
from gateway.limits import XmlLimits
from gateway.mni import mtom
from gateway.mni.deviations import CHOICES, classify
from gateway.mni.errors import TribunalResponseUnreadable, malformed, with_detail
from gateway.mni.names import (
    INTER_NS,
    MNI_NAMESPACES,
    OPERATIONS,
    RESPONSES,
    SERVICO_NS,
    SOAP11_NS,
    TIPOS_NS,
)
from gateway.mni.normalise import (
    fix_misspelled_namespaces,
    may_have_misspelled_namespaces,
    normalise_operation,
    path_of,
)
from gateway.mni.schema import content_model, operation_schema
from gateway.xml.reader import XmlPolicy, mni_answer_policy, mni_policy, read_xml
from gateway.xml.soap import FOREIGN_TOKEN, SoapRequest, read_envelope

_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=\s]")
_CREDENTIAL_FIELDS = (
    ("idConsultante", "senhaConsultante", "consultante"),
    ("idManifestante", "senhaManifestante", "manifestante"),
    ("idRecebedor", "senhaRecebedor", "recebedor"),
)


@dataclass(frozen=True)
class Deviation:
    """One departure from the official contract: a stable kebab-case ``code`` and a human ``detail``."""

    code: str
    detail: str


@dataclass(frozen=True)
class Credentials:
    """The caller's credentials and where they came from: ``consultante``, ``manifestante``, ``recebedor``, ``wsse``."""

    user: str
    password: str
    source: str


@dataclass(frozen=True)
class DocumentInfo:
    """One ``tipoDocumento`` (nested ``documentoVinculado`` included), in document order.

    ``digest`` is the sha256 (hex) of the decoded content: the base64 decoded, or the XOP attachment's bytes; a
    document without content (or with placeholder text, recorded as ``conteudo-nao-base64``) has the digest of
    its raw text (of ``b""`` when empty).
    """

    index: int
    id_documento: str | None
    mimetype: str | None
    digest: str
    size: int
    xop: bool


@dataclass
class MniMessage:
    """A request or an answer, normalised (see the module docstring)."""

    operation: str
    root: etree._Element
    body: etree._Element
    numero_processo: str | None = None
    identificador_aviso: str | None = None
    parameters: list[tuple[str, str]] = field(default_factory=list)
    dados_basicos_digest: str | None = None
    codigo_localidade: str | None = None
    documents: list[DocumentInfo] = field(default_factory=list)
    deviations: list[Deviation] = field(default_factory=list)
    sucesso: bool | None = None
    mensagem: str | None = None
    attachments: dict[str, bytes] = field(default_factory=dict)
    #: the envelope's soap:Header (None when absent), found by the one pass over the envelope
    header: etree._Element | None = None
    #: read on the light path: already in the official namespaces, not re-ordered nor checked against the XSD
    #: (deviations then cover only what the light path sees; strict mode reads the message again in full)
    light: bool = False
    #: why the credentials found cannot be used (raised by :attr:`credentials`): two identities (MNI-E025), or a
    #: UsernameToken addressed to another node and nothing else (MNI-E020 saying so)
    credential_error: GatewayError | None = None
    _credentials: Credentials | None = field(default=None, repr=False)

    @property
    def credentials(self) -> Credentials | None:
        """The caller's one identity: MNI's own fields (``idConsultante``/``senhaConsultante``,
        ``idManifestante``/…, ``idRecebedor``/…) or a UsernameToken addressed to the gateway, which must all agree
        (None when there is none). Raises :attr:`credential_error` when they cannot be used."""
        if self.credential_error is not None:
            raise self.credential_error
        return self._credentials



def read_request(body: bytes, content_type: str | None, limits: XmlLimits, *, light: bool = False) -> MniMessage:
    """Read a client's MNI request (plain SOAP 1.1 or MTOM). Raises MNI-E0xx only for what cannot be read.

    The XML is read by :func:`gateway.xml.reader.read_xml` under :func:`~gateway.xml.reader.mni_policy` of
    *limits* (MNI-E001…E006), the envelope by :func:`gateway.xml.soap.read_envelope` in its tolerant mode
    (MNI-E007/E008). *light*: when the message is already plain (official namespaces, children in their schema
    namespace, no MTOM, not a filing), skip the normalisation and the XSD check — the hub's hot path;
    ``msg.light`` tells."""
    return _read(body, content_type, mni_policy(limits), request=True, light=light)


def read_response(body: bytes, content_type: str | None, limits: XmlLimits, *, light: bool = False) -> MniMessage:
    """Read a tribunal's answer with the same tolerance; unreadable answers raise MNI-E047 (with the cause).

    *light* as in :func:`read_request`: a plain answer with ``sucesso`` and ``mensagem`` can then be passed on
    byte for byte."""
    try:
        return _read(body, content_type, mni_answer_policy(limits), request=False, light=light)
    except (MalformedRequest, VersionMismatch) as exc:
        raise TribunalResponseUnreadable(exc.code, exc.message) from exc


def _plain(children: _Children, request: bool, operation: str, op: etree._Element) -> bool:
    """True when *op* needs no normalisation: the servico namespace, children in tipos (parameters may be in
    intercomunicacao), and not a filing (whose documents the full path digests)."""
    if not op.tag.startswith(_SERVICO) or (request and operation == "entregarManifestacaoProcessual"):
        return False
    return all(tag.startswith(_TIPOS) or (tag.startswith(_INTER) and local in _PARAMETER_NAMES)
               for tag, local, _ in children.items)


_PARAMETER_NAMES = frozenset({"outroParametro", "parametros", "parametro"})
_SERVICO, _TIPOS, _INTER = f"{{{SERVICO_NS}}}", f"{{{TIPOS_NS}}}", f"{{{INTER_NS}}}"


@dataclass
class _Children:
    """The operation element's children, looked at once: (tag, local name, element) of each element child in
    order, and the first child of each tag."""

    items: list[tuple[str, str, etree._Element]]
    first: dict[str, etree._Element]

    @classmethod
    def of(cls, op: etree._Element) -> _Children:
        items: list[tuple[str, str, etree._Element]] = []
        first: dict[str, etree._Element] = {}
        for child in op:
            tag = child.tag
            if isinstance(tag, str):
                items.append((tag, tag.rpartition("}")[2], child))
                first.setdefault(tag, child)
        return cls(items, first)

    def text(self, name: str) -> str | None:
        """The stripped text of the first tipos child *name* ("" when empty, None when absent)."""
        el = self.first.get(_TIPOS + name)
        return None if el is None else (el.text or "").strip()

    def texts(self, name: str) -> list[str]:
        """The stripped, non-empty texts of every tipos child *name*, in order."""
        tag = _TIPOS + name
        if tag not in self.first:
            return []
        return [text for t, _, el in self.items if t == tag and (text := (el.text or "").strip())]


def _read(body: bytes, content_type: str | None, policy: XmlPolicy, *, request: bool,
          light: bool = False) -> MniMessage:
    if len(body) > policy.limits.max_body_bytes:
        raise malformed("MNI-E004", field="body")
    found: list[tuple[str, str]] = []
    attachments: dict[str, bytes] = {}
    xml, charset = body, mtom.content_type_params(content_type)[1].get("charset")
    if mtom.is_multipart(body, content_type):
        parts = mtom.split_multipart(body, content_type)
        xml, charset, attachments = parts.root, parts.root_charset or charset, parts.attachments
        found.append(("mtom-xop", f"multipart/related com {len(attachments)} anexo(s)"))
    root, info = read_xml(xml, policy, charset)
    misspelled = info.utf16 or may_have_misspelled_namespaces(xml)  # the byte scan knows only 8-bit bodies
    del xml
    if info.latin1:
        found.append(("codificacao-iso-8859-1", "corpo em ISO-8859-1"))
    envelope = read_envelope(root, "MNI", tolerant=True)
    op = envelope.operation
    if misspelled:
        found.extend(fix_misspelled_namespaces(root))
    if op.tag == f"{{{SOAP11_NS}}}Fault" and not request:
        return _fault(root, envelope, found, attachments)
    operation = _operation(op, found, request=request)
    if light and not attachments and not found:
        children = _Children.of(op)
        if _plain(children, request, operation, op):
            msg = MniMessage(operation=operation, root=root, body=op, header=envelope.header, light=True)
            _extract(msg, envelope, children, found)
            msg.deviations = [Deviation(c, d) for c, d in dict.fromkeys(found)]
            return msg
    model = content_model()
    norm = normalise_operation(op, model.elements[(SERVICO_NS, operation)], model, request=request)
    found.extend(norm.deviations)
    msg = MniMessage(operation=operation, root=root, body=op, attachments=attachments, header=envelope.header)
    _validate(msg, norm.extensions, norm.documents, found, policy.binary_elements, request=request)
    _extract(msg, envelope, _Children.of(op), found)
    etree.cleanup_namespaces(root, top_nsmap={"ns1": TIPOS_NS, "ns2": INTER_NS, "ns3": SERVICO_NS})
    msg.deviations = [Deviation(c, d) for c, d in dict.fromkeys(found)]
    return msg


def _operation(op: etree._Element, found: list[tuple[str, str]], *, request: bool) -> str:
    q = etree.QName(op)
    names = OPERATIONS if request else RESPONSES
    if q.namespace != SERVICO_NS:
        if q.localname in names and (q.namespace in MNI_NAMESPACES or not q.namespace):
            found.append(("namespace-da-operacao", f"{q.localname} em {q.namespace or 'sem namespace'}"))
            op.tag = f"{{{SERVICO_NS}}}{q.localname}"
        else:
            raise malformed("MNI-E010", f"{{{q.namespace}}}{q.localname}", field="Body")
    if q.localname not in names:
        raise malformed("MNI-E009", q.localname, field="Body")
    return q.localname


def _fault(root: etree._Element, envelope: SoapRequest, found: list[tuple[str, str]],
           attachments: dict[str, bytes]) -> MniMessage:
    op = envelope.operation
    text = (op.findtext("faultstring") or "").strip()
    found.append(("soap-fault", f"{op.findtext('faultcode') or ''}: {text}"))
    return MniMessage(operation="Fault", root=root, body=op, sucesso=False, mensagem=text, attachments=attachments,
                      header=envelope.header, deviations=[Deviation(c, d) for c, d in dict.fromkeys(found)])


def _validate(msg: MniMessage, extensions: list[etree._Element], documents: list[etree._Element],
              found: list[tuple[str, str]], binary: frozenset[str], *, request: bool) -> None:
    """Validate the operation element against the official XSD with extensions, XOP references and base64 text set
    aside (checked here instead: a 60 MB text would be copied by libxml2's validator), then put them back."""
    op = msg.body
    moved: list[tuple[etree._Element, etree._Element, int]] = []
    texts: dict[etree._Element, str] = {}
    try:
        for el in extensions:
            parent = el.getparent()
            if parent is not None:
                moved.append((el, parent, parent.index(el)))
                parent.remove(el)
        for include in list(op.iter(mtom.XOP_INCLUDE)):
            parent = include.getparent()
            if parent is not None:
                moved.append((include, parent, parent.index(include)))
                parent.remove(include)
        for name in sorted(binary):
            for el in op.iter(f"{{{INTER_NS}}}{name}", f"{{{TIPOS_NS}}}{name}"):
                if el.text:
                    texts[el] = el.text
                    el.text = None
        schema = operation_schema()
        if not schema.validate(op):
            present = frozenset(etree.QName(c).localname for c in op if isinstance(c.tag, str))
            for error in list(schema.error_log):  # type: ignore[call-overload]
                found.append(classify(error, msg.operation, present))
        # Keys are the element proxies, kept alive by ``moved`` and ``texts``, so find() returns the same objects.
        xop: dict[etree._Element, etree._Element] = {
            parent: include for include, parent, _ in moved if include.tag == mtom.XOP_INCLUDE
        }
        for index, doc in enumerate(documents):
            conteudo = doc.find(f"{{{INTER_NS}}}conteudo")
            ref = xop.get(conteudo) if conteudo is not None else None
            text = texts.get(conteudo) if conteudo is not None else None
            msg.documents.append(_document(index, doc, ref, text, msg, found, op, request=request))
        for el in op.iter(f"{{{TIPOS_NS}}}recibo"):
            recibo = xop.get(el)
            if recibo is not None and mtom.include_cid(recibo) not in msg.attachments:
                found.append(("xop-sem-anexo", f"{path_of(el, op)} → {recibo.get('href')}"))
    finally:
        for el, text in texts.items():
            el.text = text
        for el, parent, index in reversed(moved):
            parent.insert(index, el)


def _document(index: int, doc: etree._Element, include: etree._Element | None, text: str | None,
              msg: MniMessage, found: list[tuple[str, str]], op: etree._Element, *, request: bool) -> DocumentInfo:
    where = path_of(doc, op)
    data: bytes
    if include is not None:
        cid = mtom.include_cid(include)
        attachment = msg.attachments.get(cid)
        if attachment is None:
            if request:
                raise malformed("MNI-E011", f"xop:Include sem anexo: {include.get('href')}", field=where)
            found.append(("xop-sem-anexo", f"{where} → {include.get('href')}"))
            attachment = b""
        return DocumentInfo(index, doc.get("idDocumento"), doc.get("mimetype"),
                            hashlib.sha256(attachment).hexdigest(), len(attachment), True)
    if not text or not text.strip():
        data = b""
    elif _NOT_BASE64.search(text) is None:
        sliced = _sliced_digest(text)
        if sliced is not None:  # a big document: digest without a second full copy
            return DocumentInfo(index, doc.get("idDocumento"), doc.get("mimetype"), sliced[0], sliced[1], False)
        try:
            data = binascii.a2b_base64(text)
        except binascii.Error:
            data = text.encode()
            found.append(("conteudo-nao-base64", f"{where}/conteudo: base64 incompleto"))
    else:
        data = text.encode()
        found.append(("conteudo-nao-base64", f"{where}/conteudo: {text.strip()[:40]!r}"))
    return DocumentInfo(index, doc.get("idDocumento"), doc.get("mimetype"),
                        hashlib.sha256(data).hexdigest(), len(data), False)


_SLICE = 4 * 1024 * 1024  # a multiple of 4: base64 quanta never straddle two slices
_WHITESPACE = re.compile(r"\s")


def _sliced_digest(text: str) -> tuple[str, int] | None:
    """sha256 and size of the bytes a big base64 *text* encodes, decoded slice by slice; None when the text is
    small, has whitespace (slices could split a quantum) or is not valid base64 — the caller then decodes it whole."""
    if len(text) < 2 * _SLICE or _WHITESPACE.search(text) is not None:
        return None
    h = hashlib.sha256()
    size = 0
    try:
        for start in range(0, len(text), _SLICE):
            chunk = binascii.a2b_base64(text[start:start + _SLICE])
            h.update(chunk)
            size += len(chunk)
    except binascii.Error:
        return None
    return h.hexdigest(), size


def _extract(msg: MniMessage, envelope: SoapRequest, children: _Children, found: list[tuple[str, str]]) -> None:
    op = msg.body
    for _, local, child in children.items:
        if local in _PARAMETER_NAMES:
            value = child.get("valor")
            msg.parameters.append((child.get("nome") or "", value if value is not None else (child.text or "")))
    _credentials(msg, envelope, children, found)
    for tag in envelope.ignored_headers:
        found.append(("cabecalho-ignorado", f"{tag} com mustUnderstand"))
    dados: etree._Element | None = children.first.get(_TIPOS + "dadosBasicos")
    initial = dados is not None
    if dados is not None:
        msg.dados_basicos_digest = hashlib.sha256(etree.tostring(dados, method="c14n", exclusive=True)).hexdigest()
    else:
        dados = op.find(f"{{{TIPOS_NS}}}processo/{{{INTER_NS}}}dadosBasicos")
    if dados is not None:
        msg.codigo_localidade = dados.get("codigoLocalidade")
    msg.numero_processo = children.text("numeroProcesso") or (dados.get("numero") if dados is not None else None)
    if msg.numero_processo is None:
        msg.numero_processo = next((v for n, v in msg.parameters if n == "numeroProcesso" and v), None)
    msg.identificador_aviso = children.text("identificadorAviso")
    _semantic_checks(msg, children, found, initial=initial)


def _credentials(msg: MniMessage, envelope: SoapRequest, children: _Children, found: list[tuple[str, str]]) -> None:
    """Every identity the request carries — each MNI credential pair present, each UsernameToken addressed to the
    gateway — must be the same user with the same password; the first (MNI's fields, then WS-Security) is the
    caller's. Different ones set ``credential_error`` MNI-E025: which one acts would be a guess."""
    identities: list[Credentials] = []
    for user_field, password_field, source in _CREDENTIAL_FIELDS:
        users = children.texts(user_field)
        passwords = children.texts(password_field) or [""]
        identities.extend(Credentials(user, password, source)
                          for user in dict.fromkeys(users) for password in dict.fromkeys(passwords))
    for token in envelope.tokens:
        found.append(("ws-security", f"UsernameToken de {token.username!r}"))
        identities.append(Credentials(token.username, token.password, "wsse"))
    if not identities:
        if envelope.foreign_tokens:
            msg.credential_error = AuthenticationFailed("MNI-E020", with_detail("MNI-E020", FOREIGN_TOKEN))
        return
    first = identities[0]
    msg._credentials = first
    distinct = {(c.user, c.password) for c in identities}
    if len(distinct) > 1:
        sources = ", ".join(dict.fromkeys(c.source for c in identities))
        msg.credential_error = AuthenticationFailed("MNI-E025", with_detail(
            "MNI-E025", f"{len(distinct)} identidades em {sources}."))


def _semantic_checks(msg: MniMessage, children: _Children, found: list[tuple[str, str]], *, initial: bool) -> None:
    op, operation = msg.body, msg.operation
    numero = msg.numero_processo
    if numero and not (initial and numero == "0" * 20):
        if not (len(numero) == 20 and numero.isdigit()):
            found.append(("numeroProcesso-invalido", f"{numero!r} não tem 20 dígitos"))
        elif not is_valid_processo_cnj(numero):
            found.append(("numeroProcesso-dv-invalido", f"{numero}: dígito verificador não confere"))
    if operation == "consultarProcesso":
        documento = _TIPOS + "documento"
        if any(tag == documento and (el.text or "").strip() == "*" for tag, _, el in children.items):
            found.append(("documento-asterisco", "documento = * (todos os documentos)"))
    for orgao in op.iter(f"{{{INTER_NS}}}orgaoJulgador"):
        if orgao.get("instancia") == "ORI":
            found.append(("instancia-ORI", f"{path_of(orgao, op)}/@instancia = ORI (esperado ORIG)"))
            break
    present = {local for _, local, _ in children.items}
    choice = CHOICES.get(operation, frozenset())
    if len(choice & present) > 1:
        found.append(("varias-opcoes-choice", f"{operation}: {', '.join(sorted(choice & present))}"))
    if operation == "entregarManifestacaoProcessual" and "dataEnvio" not in present:
        found.append(("dataEnvio-ausente", f"{operation}/dataEnvio"))
    if operation.endswith("Resposta"):
        sucesso = children.text("sucesso")
        msg.sucesso = {"true": True, "1": True, "false": False, "0": False}.get(sucesso) if sucesso else None
        msg.mensagem = children.text("mensagem")
        if sucesso is None:
            found.append(("sucesso-ausente", f"{operation}/sucesso"))
        if msg.mensagem is None:
            found.append(("mensagem-ausente", f"{operation}/mensagem"))
