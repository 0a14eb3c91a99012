"""The one hardened XML reader: every endpoint reads its body with :func:`read_xml` and its :class:`XmlPolicy`.

One set of checks, in this order, for every endpoint; a policy only sets numbers, names and what it accepts
(a compressed body was inflated before, by :mod:`gateway.xml.body`, with the same size limit on the inflated
bytes):

1. **size** — the body is at most ``limits.max_body_bytes`` (E004);
2. **encoding** — UTF-8 (a byte-order mark allowed), UTF-16 (with a byte-order mark, or without one and declared
   in the XML declaration: XML 1.0 §4.3.3 and Appendix F, WS-I Basic Profile R4003) and what else the policy
   accepts (ISO-8859-1 declared, or named by the HTTP ``charset`` where the policy says so). UTF-16 is transcoded
   to UTF-8 here, so every later step looks at the decoded document. UTF-32/UCS-4, a declaration contradicting the
   byte-order mark or the bytes, an encoding the policy does not accept, undecodable bytes and NUL: E006;
3. **DTD** — a document type declaration in the prolog, the only place XML allows one, is refused before the
   parser sees a byte (E002): no entity can be declared, so none can be expanded (billion laughs, XXE). The text
   ``<!DOCTYPE`` inside CDATA, a comment or an attribute value is character data and passes; declaration markup
   anywhere else is a syntax error, answered E002 as well;
4. **parse with limits** — with this thread's hardened lxml parser (no DTD, no entities, no network, never
   ``recover``). A body over 1 MiB, or with more ``<`` than ``limits.max_elements`` (so possibly more elements),
   is read in a streaming pass that counts elements, tracks the depth and bounds every run of text outside the
   binary elements *while parsing*, so a flood of empty elements or a huge text node is refused (E005) after
   reading only as much as the limit, before any tree of that size exists; a smaller body is parsed in one call
   (it cannot hold more elements than the limit). Syntax errors E001, libxml2's own limits E005;
5. **tree** — a DOCTYPE that slipped past (E002); depth over ``limits.max_depth``, or a text node or attribute
   longer than ``limits.max_text_bytes`` characters outside the policy's binary elements (E005; looked for only
   in a body longer than that limit); any XInclude
   element (E003: lxml never processes XInclude unless asked, but its presence is an attack or a mistake worth a
   clear answer).

Codes are ``<FAMILY>-E00n`` with the same numbers in every family (see :data:`gateway.errors.CATALOGUE`), raised
as :class:`~gateway.errors.MalformedRequest` (faultcode ``soap:Client``).
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache

from lxml import etree

from gateway.errors import CATALOGUE, MalformedRequest
from gateway.limits import XmlLimits

XINCLUDE_NS = "http://www.w3.org/2001/XInclude"
UTF8 = "utf-8"
UTF16 = "utf-16"
#: The Latin-1 family: ISO-8859-1 and the names real clients declare for it (windows-1252 included, which
#: libxml2 then decodes as declared).
LATIN1 = "iso-8859-1"

# The numbers of the reader's codes, the same in every family.
E_MALFORMED, E_DOCTYPE, E_XINCLUDE, E_SIZE, E_LIMIT, E_ENCODING = 1, 2, 3, 4, 5, 6

#: Bodies up to this size with at most ``max_elements`` '<' are parsed in one call; others stream.
STREAM_ABOVE = 1 << 20
#: Bytes fed to the streaming parser at a time.
CHUNK = 64 * 1024
# Outside a DTD, "<!" only opens comments, CDATA and the DOCTYPE; the declarations below exist only in a DTD.
_FORBIDDEN_MARKUP = re.compile(rb"<!(?:DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)")
# What may precede the root element or a DOCTYPE (XML 1.0 §2.8: XMLDecl? Misc*, Misc = Comment | PI | S).
_PROLOG_MISC = re.compile(rb"(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.S)
_XML_DECL_ENCODING = re.compile(rb"""\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_XML_DECL_ENCODING_TEXT = re.compile(r"""\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF16_NO_BOM = frozenset({b"<\x00?\x00", b"\x00<\x00?"})  # "<?" of a declaration, little and big endian
_UCS4 = (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00", b"\x00\x00\x00<", b"<\x00\x00\x00", b"\x00\x00<\x00",
         b"\x00<\x00\x00")
_UTF16_NAMES = frozenset({"utf-16", "utf16", "utf-16le", "utf-16be", "utf-16-le", "utf-16-be"})
_ENCODINGS: dict[bytes, str] = {
    b"utf-8": UTF8, b"utf8": UTF8,
    b"iso-8859-1": LATIN1, b"iso8859-1": LATIN1, b"iso_8859-1": LATIN1, b"latin-1": LATIN1, b"latin1": LATIN1,
    b"windows-1252": LATIN1, b"cp1252": LATIN1,
}
# libxml2 error numbers (xmlerror.h): undecodable bytes (2.12+), unknown/unsupported encodings; an invalid
# character (before 2.12 also undecodable UTF-8); resource limits (2.11+), which older versions report as internal
# or memory errors naming the depth or the huge text node.
_ENCODING_ERRORS = frozenset({31, 32, 81})
_INVALID_CHAR = 9
_RESOURCE_LIMIT = 114
_OLD_LIMIT_ERRORS = frozenset({1, 2})
_local = threading.local()


@dataclass(frozen=True)
class XmlPolicy:
    """How one endpoint reads XML: its limits, its code family and what it tolerates.

    ``family`` prefixes the codes (``INFODIP``, ``MNI``, …). ``binary_elements`` are local names whose text is a
    base64 payload, exempt from ``limits.max_text_bytes`` (still bounded by the body limit). ``huge_text`` lifts
    libxml2's own 10 MB text-node cap (needed where a binary element may be larger; the explicit checks above
    replace what it gives up). ``encodings`` are the accepted encodings (:data:`UTF8`, :data:`UTF16`,
    :data:`LATIN1`); ``charset_fallback`` lets the HTTP ``charset`` name the encoding of a body without an XML
    declaration. Build one per endpoint with the factories below (:func:`infodip_policy`, :func:`mni_policy`,
    :func:`mni_answer_policy`); a new endpoint adds a factory, not checks.
    """

    family: str
    limits: XmlLimits
    binary_elements: frozenset[str] = frozenset()
    huge_text: bool = False
    encodings: frozenset[str] = frozenset({UTF8, UTF16})
    charset_fallback: bool = False

    def code(self, number: int) -> str:
        """The stable code ``<FAMILY>-E00n`` of reader check *number*."""
        return f"{self.family}-E{number:03d}"

    def refuse(self, number: int, detail: str | None = None, field: str | None = "body") -> MalformedRequest:
        """A :class:`MalformedRequest` for check *number*: the catalogue's message, then *detail*."""
        return malformed(self.code(number), detail, field)

    @cached_property
    def tree_check(self) -> Callable[[etree._Element], object]:
        """A compiled XPath, true when a tree is deeper or has a longer text or attribute than allowed.

        Text of the binary elements is filtered out before ``string-length`` is evaluated, so a 60 MB ``conteudo``
        is never copied by the check; where no text can be longer than the body, only the depth is looked at.
        """
        return _compiled_check(self.limits.max_depth, self.limits.max_text_bytes, self.limits.max_body_bytes,
                               self.binary_elements)

    @cached_property
    def depth_check(self) -> Callable[[etree._Element], object]:
        """The depth part of :attr:`tree_check` alone: for a body no longer than the text limit, whose texts and
        attributes cannot be longer (a tenth of the cost on a 5 KB request)."""
        return _compiled_check(self.limits.max_depth, 1, 0, frozenset())


@lru_cache(maxsize=16)
def infodip_policy(limits: XmlLimits) -> XmlPolicy:
    """``/soap/infodip``: UTF-8 or UTF-16 (XML 1.0, WS-I BP), no binary element, libxml2's own caps kept."""
    return XmlPolicy("INFODIP", limits)


_MNI_BINARY = frozenset({"conteudo", "recibo"})
_MNI_ENCODINGS = frozenset({UTF8, UTF16, LATIN1})


@lru_cache(maxsize=16)
def mni_policy(limits: XmlLimits) -> XmlPolicy:
    """``/soap/mni`` requests (MNI 2.2.2): documents of real size as base64 in ``conteudo`` and ``recibo`` (a
    50 MB PDF is ~67 MB of text), exempt from the text limit; ISO-8859-1 declared or named by the HTTP
    ``charset``, as real PJe/eproc traffic sends (DOMAIN.md §4), and UTF-16."""
    return XmlPolicy("MNI", limits, binary_elements=_MNI_BINARY, huge_text=True, encodings=_MNI_ENCODINGS,
                     charset_fallback=True)


@lru_cache(maxsize=16)
def mni_answer_policy(limits: XmlLimits) -> XmlPolicy:
    """Tribunals' MNI answers: the request policy with text and element counts bounded only by the body (a
    process of many movimentos has many elements; the installation is one the hub chose, not a caller)."""
    relaxed = dataclasses.replace(limits, max_text_bytes=limits.max_body_bytes, max_elements=limits.max_body_bytes)
    return dataclasses.replace(mni_policy(limits), limits=relaxed)


@dataclass(frozen=True)
class XmlInfo:
    """What reading learnt besides the tree: the ``encoding`` the body was read in (:data:`UTF8`,
    :data:`UTF16` or :data:`LATIN1`)."""

    encoding: str

    @property
    def latin1(self) -> bool:
        """True when the body was read as ISO-8859-1 (declared, or by the HTTP charset)."""
        return self.encoding == LATIN1

    @property
    def utf16(self) -> bool:
        """True when the body came in UTF-16 (and was transcoded to UTF-8 before parsing)."""
        return self.encoding == UTF16


def malformed(code: str, detail: str | None = None, field: str | None = None) -> MalformedRequest:
    """A :class:`MalformedRequest` with *code*, the catalogue's Portuguese message and, after it, *detail*."""
    message = CATALOGUE.get(code, code)
    return MalformedRequest(code, f"{message} {detail}" if detail else message, field=field)


_PARSER_OPTIONS = {"resolve_entities": False, "no_network": True, "load_dtd": False, "dtd_validation": False,
                   "collect_ids": False, "remove_comments": True, "remove_pis": True}


def hardened_parser(*, huge_tree: bool = False, encoding: str | None = None) -> etree.XMLParser:
    """This thread's hardened parser (no DTD, no entities, no network, comments and PIs dropped; lxml parsers are
    not thread-safe). *huge_tree* lifts libxml2's 10 MB text-node limit; *encoding* overrides the document's."""
    cache: dict[tuple[bool, str | None], etree.XMLParser] | None = getattr(_local, "parsers", None)
    if cache is None:
        cache = _local.parsers = {}
    key = (huge_tree, encoding)
    parser = cache.get(key)
    if parser is None:
        parser = cache[key] = etree.XMLParser(encoding=encoding, huge_tree=huge_tree,
                                              **_PARSER_OPTIONS)  # type: ignore[arg-type]
    return parser


def read_xml(data: bytes, policy: XmlPolicy, charset: str | None = None) -> tuple[etree._Element, XmlInfo]:
    """Parse *data* under *policy* and return its root element and what was learnt (:class:`XmlInfo`).

    *charset* is the ``charset`` parameter of the HTTP Content-Type: it names UTF-16 for a body without
    byte-order mark (XML 1.0 Appendix F), and, where ``policy.charset_fallback``, ISO-8859-1 for a body with
    neither BOM nor XML declaration. Raises :class:`MalformedRequest` with ``<FAMILY>-E001`` …
    ``E006`` (module docstring). Copies *data* only when it is UTF-16 (transcoded), and then once.
    """
    limits = policy.limits
    if len(data) > limits.max_body_bytes:
        raise policy.refuse(E_SIZE)
    data, encoding, override = _decode(data, policy, charset)
    if _doctype_in_prolog(data):
        raise policy.refuse(E_DOCTYPE)
    try:
        if len(data) <= STREAM_ABOVE and data.count(b"<") <= limits.max_elements:
            root = etree.fromstring(data, hardened_parser(huge_tree=policy.huge_text, encoding=override))
        else:
            root = _stream(data, policy, override)
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, data, encoding, policy) from None
    if root.getroottree().docinfo.doctype:  # type: ignore[union-attr]
        raise policy.refuse(E_DOCTYPE)
    if (policy.depth_check if len(data) <= limits.max_text_bytes else policy.tree_check)(root):
        raise policy.refuse(E_LIMIT)
    if b"XInclude" in data and any(True for _ in root.iter(f"{{{XINCLUDE_NS}}}*")):
        raise policy.refuse(E_XINCLUDE)
    return root, XmlInfo(encoding)


def _stream(data: bytes, policy: XmlPolicy, override: str | None) -> etree._Element:
    """Parse *data* in :data:`CHUNK`-byte slices, refusing (E005) as soon as the element count, the depth or a run
    of text outside the binary elements crosses its limit — so the work and the memory spent on a hostile body
    stop at the limit, wherever the credential sits in the document.

    A run is the bytes since the last ``<``: text, or an attribute value being read. It is compared with four times
    the text limit (a character is at most four UTF-8 bytes) plus one slice; the exact check is the tree's."""
    limits = policy.limits
    parser = etree.XMLPullParser(events=("start", "end"), encoding=override, huge_tree=policy.huge_text,
                                 **_PARSER_OPTIONS)  # type: ignore[arg-type]
    guard_text = limits.max_text_bytes < limits.max_body_bytes
    max_run = 4 * limits.max_text_bytes + CHUNK
    binary = policy.binary_elements
    open_elements: list[etree._Element] = []
    elements = run = 0
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        chunk = bytes(view[start:start + CHUNK])
        parser.feed(chunk)
        for event, element in parser.read_events():
            if event == "start":
                elements += 1
                if elements > limits.max_elements:
                    raise policy.refuse(E_LIMIT, f"Mais de {limits.max_elements} elementos.")
                open_elements.append(element)  # type: ignore[arg-type]  # "start" events carry an element
                if len(open_elements) > limits.max_depth:
                    raise policy.refuse(E_LIMIT, f"Profundidade acima de {limits.max_depth}.")
            else:
                open_elements.pop()
        if guard_text:
            last = chunk.rfind(b"<")
            run = run + len(chunk) if last < 0 else len(chunk) - last - 1
            if run > max_run and not (open_elements and _local_name(open_elements[-1]) in binary):
                raise policy.refuse(E_LIMIT, f"Texto acima de {limits.max_text_bytes} caracteres.")
    return parser.close()


def _local_name(element: etree._Element) -> str:
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _decode(data: bytes, policy: XmlPolicy, charset: str | None) -> tuple[bytes, str, str | None]:
    """The bytes to parse (UTF-16 transcoded to UTF-8), the encoding the body was in, and the encoding the parser
    must be told (an override: the HTTP charset fallback, or UTF-8 for a transcoded body)."""
    head = data[:4]
    if head in _UCS4:
        raise policy.refuse(E_ENCODING, "UTF-32/UCS-4 não aceito.")
    named = bool(charset) and charset.strip().lower() in _UTF16_NAMES  # type: ignore[union-attr]
    if head[:2] in _UTF16_BOMS or head in _UTF16_NO_BOM or (named and head[:2] in (b"<\x00", b"\x00<")):
        return _from_utf16(data, policy, named), UTF16, "UTF-8"
    bom = data.startswith(_UTF8_BOM)
    declared = _XML_DECL_ENCODING.match(data, len(_UTF8_BOM) if bom else 0)
    if declared is not None:
        name = declared.group(1).lower()
        encoding = _ENCODINGS.get(name)
        if name.decode("ascii") in _UTF16_NAMES:
            raise policy.refuse(E_ENCODING, f"A declaração {name.decode('ascii')} contradiz os bytes do corpo.")
        if encoding is None or encoding not in policy.encodings:
            raise policy.refuse(E_ENCODING, f"Codificação {name.decode('ascii')} não aceita.")
        if bom and encoding != UTF8:
            raise policy.refuse(E_ENCODING, f"A marca UTF-8 (BOM) contradiz a declaração {name.decode('ascii')}.")
        return data, encoding, None
    if not bom and charset and policy.charset_fallback:
        encoding = _ENCODINGS.get(charset.strip().lower().encode("ascii", "replace"))
        if encoding == LATIN1 and LATIN1 in policy.encodings:
            return data, LATIN1, "ISO-8859-1"
    return data, UTF8, None


def _from_utf16(data: bytes, policy: XmlPolicy, named: bool) -> bytes:
    """*data* (UTF-16: with a byte-order mark, with ``<?xml`` declaring it, or starting with ``<`` where the HTTP
    charset, *named*, says UTF-16) as UTF-8 bytes."""
    if UTF16 not in policy.encodings:
        raise policy.refuse(E_ENCODING, "UTF-16 não aceito.")
    bom = data[:2] in _UTF16_BOMS
    try:
        text = data.decode("utf-16" if bom else "utf-16-le" if data[0] == 0x3C else "utf-16-be")
    except UnicodeDecodeError as exc:
        raise policy.refuse(E_ENCODING, f"UTF-16 inválido: {exc.reason}.") from None
    declared = _XML_DECL_ENCODING_TEXT.match(text)
    if declared is not None and declared.group(1).lower() not in _UTF16_NAMES:
        raise policy.refuse(E_ENCODING, f"O corpo está em UTF-16 mas declara {declared.group(1)}.")
    if declared is None and not bom and not named:
        raise policy.refuse(E_ENCODING, "UTF-16 sem marca de ordem (BOM) deve declarar encoding=\"UTF-16\".")
    return text.encode("utf-8")  # a strict UTF-16 decode leaves no lone surrogate


def _doctype_in_prolog(data: bytes) -> bool:
    """Whether *data* (UTF-8 or Latin-1 bytes) declares a document type: ``<!DOCTYPE`` after only what may come
    before it (the XML declaration, processing instructions, comments, white space)."""
    start = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    end = _PROLOG_MISC.match(data, start)
    return data.startswith(b"<!DOCTYPE", end.end() if end else start)


def _syntax_error(exc: etree.XMLSyntaxError, data: bytes, encoding: str, policy: XmlPolicy) -> MalformedRequest:
    """The reader's error for libxml2's *exc*, chosen by libxml2's error number (never by the message alone, which
    may quote the caller's own tag names); only asked on the failure path, where a scan of *data* does not matter.
    Declaration markup on the line where parsing stopped (a DOCTYPE after the root, an ENTITY inside an element)
    is answered as DTD markup (E002)."""
    text = str(exc)
    code = exc.code  # type: ignore[attr-defined]  # libxml2's error number; lxml-stubs omit it
    if code in _ENCODING_ERRORS or b"\x00" in data or (
            code == _INVALID_CHAR and encoding in (UTF8, UTF16) and not _is_utf8(data)):
        return policy.refuse(E_ENCODING, text)
    lowered = text.lower()
    if code == _RESOURCE_LIMIT or (code in _OLD_LIMIT_ERRORS and ("depth" in lowered or "huge" in lowered)):
        return policy.refuse(E_LIMIT)
    if _markup_on_line(data, exc.lineno):  # type: ignore[attr-defined]
        return policy.refuse(E_DOCTYPE, text)
    return policy.refuse(E_MALFORMED, text)


def _markup_on_line(data: bytes, lineno: int | None) -> bool:
    """Whether DTD declaration markup starts on line *lineno* (1-based) of *data*."""
    line, counted = 1, 0
    for match in _FORBIDDEN_MARKUP.finditer(data):
        if lineno is None:
            return True
        line += data.count(b"\n", counted, match.start())
        counted = match.start()
        if line == lineno:
            return True
        if line > lineno:
            return False
    return False


def _is_utf8(data: bytes) -> bool:
    """Whether *data* is valid UTF-8 (only asked on the failure path, where a copy does not matter)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@lru_cache(maxsize=32)
def _compiled_check(max_depth: int, max_text: int, max_body: int,
                    binary: frozenset[str]) -> Callable[[etree._Element], object]:
    deeper = "boolean(" + "/*" * (max_depth + 1) + ")"
    if max_text >= max_body:
        return etree.XPath(deeper)
    texts = "//text()"
    if binary:
        texts += "[not(" + " or ".join(f"local-name(..)='{name}'" for name in sorted(binary)) + ")]"
    return etree.XPath(
        f"{deeper} or boolean({texts}[string-length(.) > {max_text}]) "
        f"or boolean(//@*[string-length(.) > {max_text}])"
    )


@lru_cache(maxsize=16)
def execucao_policy(limits: XmlLimits) -> XmlPolicy:
    """``POST /api/v1/execucoes-fiscais`` as eproc's ``ListaCDA`` XML (issue 12): the CDA documents travel as base64
    in ``DocumentoPdf``/``AssinaturaP7s``, exempt from the text limit; the reader's refusals keep the MNI family's
    codes (``MNI-E001``…), the request's own checks are ``EXEC-E…``."""
    return XmlPolicy("MNI", limits, binary_elements=frozenset({"DocumentoPdf", "AssinaturaP7s"}), huge_text=True,
                     encodings=_MNI_ENCODINGS)
