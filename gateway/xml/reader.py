"""The one hardened XML reader: every endpoint reads its body with :func:`read_xml` and its :class:`XmlPolicy`.

One set of checks, in this order, for every endpoint; a policy only sets numbers, names and what it accepts:

1. **size** — the body is at most ``limits.max_body_bytes`` (E004);
2. **encoding** — no NUL byte and no UTF-16/UTF-32 byte-order mark (E006); a UTF-8 BOM is allowed; the encoding
   (the BOM, else the XML declaration, else the HTTP ``charset`` where the policy says so, else UTF-8) must be one
   the policy accepts, and a declaration contradicting the BOM is refused (E006, XML 1.0 §4.3.3 and Appendix F);
3. **DTD markup** — ``<!DOCTYPE``, ``<!ENTITY``, ``<!ELEMENT``, ``<!ATTLIST``, ``<!NOTATION`` are refused before
   the parser sees a byte (E002): no entity can be declared, so none can be expanded (billion laughs, XXE);
4. **parse** with this thread's hardened lxml parser (no DTD, no entities, no network, never ``recover``):
   syntax errors E001, libxml2's resource limits E005, undecodable bytes E006 (libxml2 decodes and checks every
   byte, so the body is never copied to be checked);
5. **tree** — a DOCTYPE that slipped past (E002); depth over ``limits.max_depth``, or a text node or attribute
   longer than ``limits.max_text_bytes`` outside the policy's binary elements (E005); any XInclude element (E003:
   lxml never processes XInclude unless asked, but its presence is an attack or a mistake worth a clear answer).

Codes are ``<FAMILY>-E00n`` with the same numbers in every family (see :data:`gateway.errors.CATALOGUE`), raised
as :class:`~gateway.errors.MalformedRequest` (faultcode ``soap:Client``).

Where the next steps go (issue 8), so each lands in one place for every endpoint: compressed bodies
(``Content-Encoding: gzip``/``deflate``) are inflated before step 1 with a policy limit on the inflated bytes;
UTF-16 becomes an accepted encoding in step 2, transcoded to UTF-8 so steps 3–5 run on the decoded document; step
3 looks only at the prolog, where a declaration can be (so ``<!DOCTYPE`` inside CDATA passes); steps 4 and 5
become one streaming pass that counts elements and enforces depth and text limits while parsing, so a flood of
empty elements is refused before a tree is built. :class:`XmlInfo` grows with what those steps learn.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache

from lxml import etree

from gateway.errors import CATALOGUE, MalformedRequest
from gateway.settings import XmlLimits

XINCLUDE_NS = "http://www.w3.org/2001/XInclude"
UTF8 = "utf-8"
#: The Latin-1 family: ISO-8859-1 and the names real clients declare for it (windows-1252 included, which
#: libxml2 then decodes as declared).
LATIN1 = "iso-8859-1"

# The numbers of the reader's codes, the same in every family.
E_MALFORMED, E_DOCTYPE, E_XINCLUDE, E_SIZE, E_LIMIT, E_ENCODING = 1, 2, 3, 4, 5, 6

# Outside a DTD, "<!" only opens comments, CDATA and the DOCTYPE; the declarations below exist only in a DTD.
_FORBIDDEN_MARKUP = re.compile(rb"<!(?:DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)")
_XML_DECL_ENCODING = re.compile(rb"""\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_UTF8_BOM = b"\xef\xbb\xbf"
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
    replace what it gives up). ``encodings`` are the accepted encodings (:data:`UTF8`, :data:`LATIN1`);
    ``charset_fallback`` lets the HTTP ``charset`` name the encoding of a body without an XML declaration.
    Build one per endpoint with the factories below (:func:`infodip_policy`, :func:`mni_policy`).
    """

    family: str
    limits: XmlLimits
    binary_elements: frozenset[str] = frozenset()
    huge_text: bool = False
    encodings: frozenset[str] = frozenset({UTF8})
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


@lru_cache(maxsize=16)
def infodip_policy(limits: XmlLimits) -> XmlPolicy:
    """``/soap/infodip``: UTF-8 only (the INFODIP contract), no binary element, libxml2's own caps kept."""
    return XmlPolicy("INFODIP", limits)


@lru_cache(maxsize=16)
def mni_policy(limits: XmlLimits) -> XmlPolicy:
    """``/soap/mni`` and the tribunals' answers (MNI 2.2.2): documents of real size as base64 in ``conteudo`` and
    ``recibo`` (a 50 MB PDF is ~67 MB of text), and ISO-8859-1 declared or named by the HTTP ``charset``, as real
    PJe/eproc traffic sends (DOMAIN.md §4)."""
    return XmlPolicy("MNI", limits, binary_elements=frozenset({"conteudo", "recibo"}), huge_text=True,
                     encodings=frozenset({UTF8, LATIN1}), charset_fallback=True)


@dataclass(frozen=True)
class XmlInfo:
    """What reading learnt besides the tree: the ``encoding`` the body was read in (:data:`UTF8` or
    :data:`LATIN1`)."""

    encoding: str

    @property
    def latin1(self) -> bool:
        """True when the body was read as ISO-8859-1 (declared, or by the HTTP charset)."""
        return self.encoding == LATIN1


def malformed(code: str, detail: str | None = None, field: str | None = None) -> MalformedRequest:
    """A :class:`MalformedRequest` with *code*, the catalogue's Portuguese message and, after it, *detail*."""
    message = CATALOGUE.get(code, code)
    return MalformedRequest(code, f"{message} {detail}" if detail else message, field=field)


def hardened_parser(*, huge_tree: bool = False, encoding: str | None = None) -> etree.XMLParser:
    """This thread's hardened parser (no DTD, no entities, no network, comments and PIs dropped; lxml parsers are
    not thread-safe). *huge_tree* lifts libxml2's 10 MB text-node limit; *encoding* overrides the document's."""
    cache: dict[tuple[bool, str | None], etree.XMLParser] | None = getattr(_local, "parsers", None)
    if cache is None:
        cache = _local.parsers = {}
    key = (huge_tree, encoding)
    parser = cache.get(key)
    if parser is None:
        parser = cache[key] = etree.XMLParser(
            encoding=encoding,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=huge_tree,
            collect_ids=False,
            remove_comments=True,
            remove_pis=True,
        )
    return parser


def read_xml(data: bytes, policy: XmlPolicy, charset: str | None = None) -> tuple[etree._Element, XmlInfo]:
    """Parse *data* under *policy* and return its root element and what was learnt (:class:`XmlInfo`).

    *charset* is the ``charset`` parameter of the HTTP Content-Type, used only where ``policy.charset_fallback``
    and the body has neither BOM nor XML declaration. Raises :class:`MalformedRequest` with ``<FAMILY>-E001`` …
    ``E006`` (module docstring). Never copies *data*.
    """
    if len(data) > policy.limits.max_body_bytes:
        raise policy.refuse(E_SIZE)
    encoding, override = _encoding(data, policy, charset)
    if _FORBIDDEN_MARKUP.search(data):
        raise policy.refuse(E_DOCTYPE)
    try:
        root = etree.fromstring(data, hardened_parser(huge_tree=policy.huge_text, encoding=override))
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, data, encoding, policy) from None
    if root.getroottree().docinfo.doctype:  # type: ignore[union-attr]
        raise policy.refuse(E_DOCTYPE)
    if policy.tree_check(root):
        raise policy.refuse(E_LIMIT)
    if b"XInclude" in data and any(True for _ in root.iter(f"{{{XINCLUDE_NS}}}*")):
        raise policy.refuse(E_XINCLUDE)
    return root, XmlInfo(encoding)


def _encoding(data: bytes, policy: XmlPolicy, charset: str | None) -> tuple[str, str | None]:
    """The encoding *data* is in, and the override the parser needs (only for the HTTP charset fallback)."""
    # NUL never occurs in XML 1.0: its presence means UTF-16/UTF-32 (with or without a byte-order mark), whose
    # bytes would also slip past the byte-level checks.
    if b"\x00" in data or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise policy.refuse(E_ENCODING, "UTF-16/UTF-32 não aceito.")
    bom = data.startswith(_UTF8_BOM)
    declared = _XML_DECL_ENCODING.match(data, len(_UTF8_BOM) if bom else 0)
    if declared is not None:
        name = declared.group(1).lower()
        encoding = _ENCODINGS.get(name)
        if encoding is None or encoding not in policy.encodings:
            raise policy.refuse(E_ENCODING, f"Codificação {name.decode('ascii')} não aceita.")
        if bom and encoding != UTF8:
            raise policy.refuse(E_ENCODING, f"A marca UTF-8 (BOM) contradiz a declaração {name.decode('ascii')}.")
        return encoding, None
    if not bom and charset and policy.charset_fallback:
        encoding = _ENCODINGS.get(charset.strip().lower().encode("ascii", "replace"))
        if encoding == LATIN1 and LATIN1 in policy.encodings:
            return LATIN1, "ISO-8859-1"
    return UTF8, None


def _syntax_error(exc: etree.XMLSyntaxError, data: bytes, encoding: str, policy: XmlPolicy) -> MalformedRequest:
    """The reader's error for libxml2's *exc*, chosen by libxml2's error number (never by the message alone, which
    may quote the caller's own tag names)."""
    text = str(exc)
    code = exc.code  # type: ignore[attr-defined]  # libxml2's error number; lxml-stubs omit it
    if code in _ENCODING_ERRORS or (code == _INVALID_CHAR and encoding == UTF8 and not _is_utf8(data)):
        return policy.refuse(E_ENCODING, text)
    lowered = text.lower()
    if code == _RESOURCE_LIMIT or (code in _OLD_LIMIT_ERRORS and ("depth" in lowered or "huge" in lowered)):
        return policy.refuse(E_LIMIT)
    return policy.refuse(E_MALFORMED, text)


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
