"""SOAP plumbing of the tribunal MNI simulator: a tolerant, streaming request reader and a streaming response writer.

Reading: the body is fed to lxml in chunks; each ``conteudo`` is base64-decoded and hashed as it arrives (only its
size and sha256 are kept when it is big); MTOM/XOP requests (``multipart/related`` with ``xop:Include``) are resolved
against their attachments, also hashed while read. Elements are found by local name, whatever the namespace.

Writing: responses are built with lxml in the official namespaces; a document's content is left as a placeholder
and streamed afterwards, inline as base64 or as an MTOM attachment, so a 50 MB document is never whole in memory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote
from xml.sax.saxutils import escape

from aiohttp import BodyPartReader, web
from lxml import etree

from mocks.common import before_streaming

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SERV = "http://www.cnj.jus.br/servico-intercomunicacao-2.2.2/"
TIPOS = "http://www.cnj.jus.br/tipos-servico-intercomunicacao-2.2.2"
INTER = "http://www.cnj.jus.br/intercomunicacao-2.2.2"
XOP = "http://www.w3.org/2004/08/xop/include"
XMIME = "http://www.w3.org/2005/05/xmlmime"
MOCK = "urn:mock-tribunal"  # internal marker attributes on parsed requests; never sent
OPERATIONS = ("consultarAvisosPendentes", "consultarTeorComunicacao", "consultarProcesso",
              "entregarManifestacaoProcessual", "consultarAlteracao", "confirmarRecebimento")
KEEP_LIMIT = 1024 * 1024
HEAD_LIMIT = 2048
_B64_OK = re.compile(r"[A-Za-z0-9+/=]*")
_PLACEHOLDER = re.compile(rb"@@BLOB(\d+)@@")


class Malformed(Exception):
    """The request cannot be read at all (answered with a SOAP Fault)."""

    def __init__(self, message: str, code: str = "soap:Client") -> None:
        super().__init__(message)
        self.code = code


class Blob(Protocol):
    """Something with bytes to send: a document or a receipt."""

    size: int

    def chunks(self) -> Iterator[bytes]:
        """The bytes, in pieces whose sizes are multiples of 3 except the last."""
        ...


@dataclass
class Received:
    """Content of one ``conteudo`` read from a request: size, sha256 and, when small, the bytes."""

    size: int = 0
    sha256: str = ""
    content: bytes | None = None
    valid: bool = True
    href: str | None = None  # the xop:Include it pointed to, if any


class _Sink:
    """Hashes bytes as they arrive, keeping them only while below :data:`KEEP_LIMIT`."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.size = 0
        self.kept: bytearray | None = bytearray()

    def add(self, data: bytes) -> None:
        """Hash (and maybe keep) *data*."""
        self.h.update(data)
        self.size += len(data)
        if self.kept is not None:
            if self.size > KEEP_LIMIT:
                self.kept = None
            else:
                self.kept += data

    def result(self) -> Received:
        """What was received."""
        return Received(self.size, self.h.hexdigest(), bytes(self.kept) if self.kept is not None else None)


class _Base64Sink(_Sink):
    """Decodes base64 text that arrives in arbitrary pieces; remembers when the text was not base64."""

    def __init__(self) -> None:
        super().__init__()
        self.pending = ""
        self.raw: list[str] = []
        self.raw_len = 0
        self.valid = True

    def text(self, piece: str) -> None:
        """Feed a piece of the element's text."""
        if self.raw_len < 65536:  # enough to echo placeholder text; base64 is never kept as text
            self.raw.append(piece[:65536])
            self.raw_len += len(piece)
        if not self.valid:
            return
        piece = "".join(piece.split())
        if not _B64_OK.fullmatch(piece):
            self.valid = False
            return
        self.pending += piece
        n = len(self.pending) // 4 * 4
        if n:
            try:
                self.add(base64.b64decode(self.pending[:n], validate=True))
            except (binascii.Error, ValueError):
                self.valid = False
                return
            self.pending = self.pending[n:]

    def finish(self) -> Received:
        """The decoded content, or the raw text when not base64."""
        if self.pending:
            self.valid = False
        if not self.valid:  # placeholder text where base64 belongs: keep what was written
            raw = "".join(self.raw).strip().encode()
            return Received(len(raw), hashlib.sha256(raw).hexdigest(), raw, valid=False)
        return self.result()


class _Target(etree.TreeBuilder):
    """Builds the tree, except the text of ``conteudo`` elements, which goes through a :class:`_Base64Sink`."""

    def __init__(self) -> None:
        super().__init__()
        self.blobs: list[Received] = []
        self.sink: _Base64Sink | None = None
        self.depth = 0
        self.in_content = 0

    def start(self, tag: Any, attrib: Any, nsmap: Any = None) -> Any:
        """Open an element (``conteudo`` starts a sink)."""
        self.depth += 1
        if self.depth > 200:
            raise Malformed("XML aninhado demais")
        nsmap = {(k or None): v for k, v in (nsmap or {}).items()}
        local = etree.QName(tag).localname
        if self.in_content:
            self.in_content += 1
            if local == "Include" and self.blobs:
                self.blobs[-1].href = attrib.get("href")
            return None
        el: Any = super().start(tag, attrib, nsmap)  # type: ignore[call-arg]
        if local == "conteudo":
            self.in_content = 1
            self.sink = _Base64Sink()
            self.blobs.append(Received())
            el.set(f"{{{MOCK}}}blob", str(len(self.blobs) - 1))
        return el

    def doctype(self, *_args: Any) -> None:
        """SOAP 1.1 forbids a DOCTYPE (and with it any entity trick)."""
        raise Malformed("DOCTYPE não é permitido em mensagens SOAP")

    def end(self, tag: Any) -> Any:
        """Close an element (``conteudo`` closes its sink)."""
        self.depth -= 1
        if self.in_content > 1:
            self.in_content -= 1
            return None
        if self.in_content == 1 and self.sink is not None:
            href = self.blobs[-1].href
            self.blobs[-1] = self.sink.finish()
            self.blobs[-1].href = href
            self.sink = None
            self.in_content = 0
        return super().end(tag)

    def data(self, data: Any) -> None:
        """Text: to the sink inside ``conteudo``, to the tree elsewhere."""
        if self.in_content:
            if self.sink is not None and self.in_content == 1:
                self.sink.text(data)
            return
        super().data(data)


@dataclass
class Request:
    """A request as read: envelope tree (``conteudo`` text replaced by :attr:`blobs`), operation, the first 2 KB."""

    envelope: etree._Element
    operation: str
    payload: etree._Element
    blobs: list[Received]
    head: bytes
    mtom: bool = False


def _new_parser(charset: str | None, first: bytes) -> tuple[etree.XMLParser, _Target]:
    target = _Target()
    declared = first.lstrip()[:100].startswith(b"<?xml") and b"encoding" in first.lstrip()[:100]
    encoding = charset if charset and not declared and charset.lower() not in ("utf-8", "utf8") else None
    parser = etree.XMLParser(target=target, resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=True, encoding=encoding)
    return parser, target


def _finish(parser: etree.XMLParser, target: _Target, head: bytes, mtom: bool) -> Request:
    try:
        env = parser.close()
    except (etree.LxmlError, ValueError) as exc:
        raise Malformed(f"XML malformado: {exc}") from exc
    if not isinstance(env, etree._Element):
        raise Malformed("XML malformado")
    q = etree.QName(env)
    if q.localname != "Envelope":
        raise Malformed("o corpo não é um envelope SOAP")
    if q.namespace == SOAP12:
        raise Malformed("SOAP 1.2 não suportado: use SOAP 1.1", "soap:VersionMismatch")
    body = next((c for c in env if isinstance(c.tag, str) and etree.QName(c).localname == "Body"), None)
    payload = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
    if payload is None:
        raise Malformed("envelope sem Body ou Body vazio")
    op = etree.QName(payload).localname
    if op not in OPERATIONS:
        raise Malformed(f"operação desconhecida: {op}")
    return Request(env, op, payload, target.blobs, head, mtom)


def _feed(parser: etree.XMLParser, data: bytes) -> None:
    try:
        parser.feed(data)
    except (etree.LxmlError, ValueError) as exc:
        raise Malformed(f"XML malformado: {exc}") from exc


async def read_request(request: web.Request) -> Request:
    """Read a SOAP 1.1 request (plain or MTOM/XOP), hashing document contents while reading."""
    ctype = request.content_type.lower()
    if ctype.startswith("multipart/"):
        return await _read_mtom(request)
    stream = request.content
    first = await stream.read(65536)
    head = first[:HEAD_LIMIT]
    parser, target = _new_parser(request.charset, first)
    if not first.strip():
        raise Malformed("corpo vazio")
    _feed(parser, first)
    async for chunk in stream.iter_chunked(65536):
        _feed(parser, chunk)
    return _finish(parser, target, head, mtom=False)


async def _read_mtom(request: web.Request) -> Request:
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError, KeyError) as exc:
        raise Malformed(f"multipart inválido: {exc}") from exc
    start = unquote(_param(request.headers.get("Content-Type", ""), "start").strip("<>"))
    parsed: Request | None = None
    attachments: dict[str, Received] = {}
    head = b""
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):  # nested multipart: not MTOM
            raise Malformed("multipart aninhado não suportado")
        cid = unquote((part.headers.get("Content-ID") or "").strip().strip("<>"))
        is_root = parsed is None and (cid == start or not start)
        if is_root:
            first = await part.read_chunk(65536)
            head = first[:HEAD_LIMIT]
            parser, target = _new_parser(_param(part.headers.get("Content-Type", ""), "charset") or None, first)
            _feed(parser, first)
            while chunk := await part.read_chunk(65536):
                _feed(parser, chunk)
            parsed = _finish(parser, target, head, mtom=True)
        else:
            sink = _Sink()
            while chunk := await part.read_chunk(65536):
                sink.add(chunk)
            attachments[cid] = sink.result()
    if parsed is None:
        raise Malformed("MTOM sem a parte raiz (start)")
    for i, blob in enumerate(parsed.blobs):
        if blob.href:
            ref = unquote(blob.href[4:] if blob.href.startswith("cid:") else blob.href)
            if ref not in attachments:
                raise Malformed(f"xop:Include aponta para anexo ausente: {blob.href}")
            att = attachments[ref]
            parsed.blobs[i] = Received(att.size, att.sha256, att.content, True, blob.href)
    return parsed


def _param(header: str, name: str) -> str:
    m = re.search(rf'(?i);\s*{name}\s*=\s*("([^"]*)"|[^;]*)', header)
    if not m:
        return ""
    return m.group(2) if m.group(2) is not None else m.group(1).strip()


# --- reading helpers (by local name) -------------------------------------------------------------------------------

def kids(el: etree._Element, name: str) -> list[etree._Element]:
    """Direct children of *el* with local name *name*, in any namespace."""
    return [c for c in el if isinstance(c.tag, str) and etree.QName(c).localname == name]


def kid(el: etree._Element, name: str) -> etree._Element | None:
    """The first direct child of *el* named *name* (any namespace)."""
    found = kids(el, name)
    return found[0] if found else None


def text(el: etree._Element, name: str) -> str | None:
    """Stripped text of the first child named *name*, or None when absent."""
    c = kid(el, name)
    return None if c is None else (c.text or "").strip()


def flag(el: etree._Element, name: str) -> bool | None:
    """A boolean child (``true``/``1``), or None when absent."""
    v = text(el, name)
    return None if v is None else v.lower() in ("true", "1")


# --- writing ---------------------------------------------------------------------------------------------------------

class Style:
    """How a tribunal serialises: PJe (default namespace tipos, ``ns2``/``ns4``) or eproc (``ns1``/``ns2``/``ns3``)."""

    def __init__(self, system: str) -> None:
        self.system = system
        if system == "eproc":
            self.env_prefix = "SOAP-ENV"
            self.nsmap: dict[str | None, str] = {"ns1": TIPOS, "ns2": INTER, "ns3": SERV}
        else:
            self.env_prefix, self.nsmap = "soap", {None: TIPOS, "ns2": INTER, "ns4": SERV}


def t(name: str) -> str:
    """Clark name in the tipos-servico namespace."""
    return f"{{{TIPOS}}}{name}"


def i(name: str) -> str:
    """Clark name in the intercomunicacao namespace."""
    return f"{{{INTER}}}{name}"


def sub(parent: etree._Element, tag: str, text_: str | None = None, **attrs: Any) -> etree._Element:
    """Append a child with optional text and attributes (None values skipped)."""
    el = etree.SubElement(parent, tag, {k: str(v) for k, v in attrs.items() if v is not None})
    if text_ is not None:
        el.text = text_
    return el


@dataclass
class Outgoing:
    """A response being built: the wrapper element and the blobs its ``conteudo``/``recibo`` placeholders name."""

    style: Style
    operation: str
    wrapper: etree._Element = field(init=False)
    blobs: list[Blob] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.wrapper = etree.Element(f"{{{SERV}}}{self.operation}Resposta",
                                     nsmap=self.style.nsmap)  # type: ignore[arg-type]  # None = default namespace

    def blob(self, parent: etree._Element, tag: str, blob: Blob) -> etree._Element:
        """Append *tag* carrying *blob* (as base64 text or, in MTOM, an ``xop:Include``)."""
        el = sub(parent, tag)
        el.text = f"@@BLOB{len(self.blobs)}@@"
        self.blobs.append(blob)
        return el

    def envelope(self) -> bytes:
        """The serialised envelope, placeholders still in."""
        env = etree.Element(f"{{{SOAP11}}}Envelope", nsmap={self.style.env_prefix: SOAP11})
        body = etree.SubElement(env, f"{{{SOAP11}}}Body")
        body.append(self.wrapper)
        return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def _b64_len(size: int) -> int:
    return 4 * ((size + 2) // 3)


async def send(request: web.Request, out: Outgoing, mtom: bool) -> web.StreamResponse:
    """Write *out* to the client, streaming blobs inline (base64) or as MTOM attachments."""
    xml = out.envelope()
    if not out.blobs:
        return web.Response(body=xml, content_type="text/xml", charset="utf-8")
    await before_streaming(request)  # the answer is written from here, before the handler returns
    pieces = _PLACEHOLDER.split(xml)  # text, index, text, index, …, text
    if not mtom:
        length = sum(len(p) for p in pieces[0::2]) + sum(_b64_len(out.blobs[int(n)].size) for n in pieces[1::2])
        resp = web.StreamResponse(headers={"Content-Type": "text/xml; charset=utf-8"})
        resp.content_length = length
        await resp.prepare(request)
        for k, piece in enumerate(pieces):
            if k % 2 == 0:
                await resp.write(piece)
            else:
                for chunk in out.blobs[int(piece)].chunks():
                    await resp.write(base64.b64encode(chunk))
        await resp.write_eof()
        return resp
    boundary = f"uuid:{uuid.uuid4()}"
    root_id = "root.message@tribunal.mock"
    cids = [f"{uuid.uuid4()}-{k}@tribunal.mock" for k in range(len(out.blobs))]
    xop_ns = f'xmlns:xop="{XOP}"'
    root = b"".join(p if k % 2 == 0 else f'<xop:Include {xop_ns} href="cid:{cids[int(p)]}"/>'.encode()
                    for k, p in enumerate(pieces))
    parts: list[bytes | Blob] = [
        (f"--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"text/xml\"\r\n"
         f"Content-Transfer-Encoding: binary\r\nContent-ID: <{root_id}>\r\n\r\n").encode() + root]
    for cid, blob in zip(cids, out.blobs, strict=True):
        parts.append((f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n"
                      f"Content-Transfer-Encoding: binary\r\nContent-ID: <{cid}>\r\n\r\n").encode())
        parts.append(blob)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    ctype = (f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; start="<{root_id}>"; '
             'start-info="text/xml"')
    resp = web.StreamResponse(headers={"Content-Type": ctype, "MIME-Version": "1.0"})
    resp.content_length = sum(len(p) if isinstance(p, bytes) else p.size for p in parts)
    await resp.prepare(request)
    for p in parts:
        if isinstance(p, bytes):
            await resp.write(p)
        else:
            for chunk in p.chunks():
                await resp.write(chunk)
    await resp.write_eof()
    return resp


def fault(code: str, message: str) -> web.Response:
    """A SOAP 1.1 Fault, HTTP 500."""
    body = (f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP11}"><soap:Body><soap:Fault>'
            f"<faultcode>{code}</faultcode><faultstring>{escape(message)}</faultstring></soap:Fault></soap:Body>"
            "</soap:Envelope>")
    return web.Response(status=500, body=body.encode(), content_type="text/xml", charset="utf-8")
