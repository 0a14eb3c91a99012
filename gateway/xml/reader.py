"""The hardened XML reader every SOAP edge uses.

No DTD, no entity expansion, no network access, no ``recover``; DOCTYPE and ENTITY declarations are refused before
parsing, XInclude elements are refused after it (lxml never processes them unless asked, but their presence is an
attack or a mistake worth a clear answer). Body size, depth and text size are limited per endpoint.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

from lxml import etree

from gateway.errors import MalformedRequest
from gateway.settings import XmlLimits

XINCLUDE_NS = "http://www.w3.org/2001/XInclude"
# Outside a DTD, "<!" only opens comments, CDATA and the DOCTYPE; the declarations below exist only in a DTD.
_FORBIDDEN_MARKUP = re.compile(rb"<!(?:DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)")
_XML_DECL_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_UTF8_NAMES = {b"utf-8", b"utf8"}
_LATIN1_NAMES = {b"iso-8859-1", b"latin-1", b"latin1", b"iso8859-1", b"windows-1252", b"cp1252"}
_local = threading.local()


def hardened_parser(*, huge_tree: bool = False, encoding: str | None = None) -> etree.XMLParser:
    """This thread's hardened parser (no DTD, no entities, no network; parsers are not thread-safe). *huge_tree*
    lifts libxml2's 10 MB text-node limit, for endpoints that carry documents of real size."""
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


def _parser() -> etree.XMLParser:
    return hardened_parser()


_limit_checks: dict[tuple[int, int], Callable[[etree._Element], object]] = {}


def _limit_check(limits: XmlLimits) -> Callable[[etree._Element], object]:
    """A compiled XPath that is true when the tree is deeper or has longer text than *limits* allow."""
    key = (limits.max_depth, limits.max_text_bytes)
    check = _limit_checks.get(key)
    if check is None:
        deeper = "/*" * (limits.max_depth + 1)
        n = limits.max_text_bytes
        check = etree.XPath(
            f"boolean({deeper}) or boolean(//text()[string-length(.) > {n}]) "
            f"or boolean(//@*[string-length(.) > {n}])"
        )
        _limit_checks[key] = check
    return check


def read_xml(
    data: bytes,
    limits: XmlLimits,
    *,
    code_prefix: str = "INFODIP",
    allow_latin1: bool = False,
) -> etree._Element:
    """Parse *data* safely and return its root element, or raise :class:`MalformedRequest` with a stable code."""
    if len(data) > limits.max_body_bytes:
        raise MalformedRequest(f"{code_prefix}-E004", field="body")
    # NUL never occurs in XML 1.0: its presence means UTF-16/UTF-32 (with or without a byte-order mark), whose
    # bytes would also slip past the byte-level checks below.
    if b"\x00" in data or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise MalformedRequest(f"{code_prefix}-E006", "Codificação UTF-16/UTF-32 não aceita: envie UTF-8.")
    declared = _XML_DECL_ENCODING.match(data)
    encoding = declared.group(1).lower() if declared else b"utf-8"
    if encoding in _UTF8_NAMES:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedRequest(
                f"{code_prefix}-E006", f"Sequência UTF-8 inválida na posição {exc.start}.", field="body"
            ) from None
    elif not (allow_latin1 and encoding in _LATIN1_NAMES):
        raise MalformedRequest(
            f"{code_prefix}-E006", f"Codificação {encoding.decode('ascii', 'replace')} não aceita: envie UTF-8."
        )
    if _FORBIDDEN_MARKUP.search(data):
        raise MalformedRequest(f"{code_prefix}-E002", field="body")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        text = str(exc)
        if "depth" in text.lower() or "huge" in text.lower():
            raise MalformedRequest(f"{code_prefix}-E005", field="body") from None
        raise MalformedRequest(f"{code_prefix}-E001", f"XML malformado: {text}", field="body") from None
    if root.getroottree().docinfo.doctype:  # type: ignore[union-attr]
        raise MalformedRequest(f"{code_prefix}-E002", field="body")
    if _limit_check(limits)(root):
        raise MalformedRequest(f"{code_prefix}-E005", field="body")
    if b"XInclude" in data and any(True for _ in root.iter(f"{{{XINCLUDE_NS}}}*")):
        raise MalformedRequest(f"{code_prefix}-E003", field="body")
    return root
