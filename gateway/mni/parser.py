"""A hardened XML parser for MNI bodies, which may carry a 50 MB document as one base64 text node.

:func:`gateway.xml.reader.read_xml` parses with ``huge_tree=False``, and libxml2 then refuses any text node over
10 MB: a legitimate ``conteudo`` (a 50 MB PDF is ~67 MB of base64) would be "malformed". ``huge_tree=True`` lifts
that cap, libxml2's own depth cap (256 → 2048) and its entity-amplification guards. The guards are not needed
because the same pre-checks as ``read_xml`` run first: DOCTYPE/ENTITY declarations are refused before parsing (so
no entity can be declared), no DTD is loaded, no network access, no ``recover``. What huge_tree gives up is
replaced by explicit checks after parsing: the depth is limited by ``limits.max_depth``, and every text node and
attribute except the base64 payloads (``conteudo``, ``recibo``) is limited by ``limits.max_text_bytes``; the body
as a whole by ``limits.max_body_bytes``.

The UTF-8 check of ``read_xml`` (``data.decode()``) would copy the body once more; here libxml2's own decoding
error is mapped to MNI-E006 instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lxml import etree

from gateway.mni.errors import malformed
from gateway.settings import XmlLimits
from gateway.xml.reader import hardened_parser

XINCLUDE_NS = "http://www.w3.org/2001/XInclude"
_FORBIDDEN_MARKUP = re.compile(rb"<!(?:DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)")
_XML_DECL_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_UTF8_NAMES = {b"utf-8", b"utf8"}
_LATIN1_NAMES = {b"iso-8859-1", b"latin-1", b"latin1", b"iso8859-1", b"windows-1252", b"cp1252", b"iso_8859-1"}
#: Elements whose text is base64 and may be as large as the body allows.
BINARY_ELEMENTS = ("conteudo", "recibo")


def _parser(encoding: str | None) -> etree.XMLParser:
    return hardened_parser(huge_tree=True, encoding=encoding)


_limit_checks: dict[tuple[int, int, int], Callable[[etree._Element], object]] = {}


def _limit_check(limits: XmlLimits) -> Callable[[etree._Element], object]:
    """An XPath true when the tree is too deep or a non-binary text/attribute is too long.

    The binary elements are filtered out before ``string-length`` is evaluated, so a 60 MB ``conteudo`` is never
    copied by the check.
    """
    key = (limits.max_depth, limits.max_text_bytes, limits.max_body_bytes)
    check = _limit_checks.get(key)
    if check is None:
        deeper = "/*" * (limits.max_depth + 1)
        binary = " or ".join(f"local-name(..)='{name}'" for name in BINARY_ELEMENTS)
        n = limits.max_text_bytes
        if n >= limits.max_body_bytes:  # no text can be longer than the body: only the depth needs a look
            check = etree.XPath(f"boolean({deeper})")
        else:
            check = etree.XPath(
                f"boolean({deeper}) or boolean(//text()[not({binary})][string-length(.) > {n}]) "
                f"or boolean(//@*[string-length(.) > {n}])"
            )
        _limit_checks[key] = check
    return check


def parse_mni_xml(data: bytes, limits: XmlLimits, *, charset: str | None = None) -> tuple[etree._Element, bool]:
    """Parse *data* safely; return the root and whether it was read as ISO-8859-1.

    *charset* is the ``charset`` of the HTTP Content-Type, used only when the body has no XML declaration.
    Raises :class:`~gateway.errors.MalformedRequest` with MNI-E001/E002/E003/E004/E005/E006.
    """
    if len(data) > limits.max_body_bytes:
        raise malformed("MNI-E004", field="body")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data:
        raise malformed("MNI-E006", "UTF-16/UTF-32 não aceito.", field="body")
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]  # a UTF-8 byte-order mark (a copy, but only of bodies that carry one)
    declared = _XML_DECL_ENCODING.match(data)
    encoding = declared.group(1).lower() if declared else None
    override: str | None = None
    if encoding is None and charset and charset.lower().encode() in _LATIN1_NAMES:
        override = "ISO-8859-1"
    elif encoding is not None and encoding not in _UTF8_NAMES and encoding not in _LATIN1_NAMES:
        raise malformed("MNI-E006", f"Codificação {encoding.decode('ascii', 'replace')}.", field="body")
    latin1 = override is not None or (encoding is not None and encoding in _LATIN1_NAMES)
    if _FORBIDDEN_MARKUP.search(data):
        raise malformed("MNI-E002", field="body")
    try:
        root = etree.fromstring(data, _parser(override))
    except etree.XMLSyntaxError as exc:
        text = str(exc)
        lowered = text.lower()
        if "encoding" in lowered or "utf-8" in lowered or "char 0x" in lowered:
            raise malformed("MNI-E006", text, field="body") from None
        if "depth" in lowered or "huge" in lowered:
            raise malformed("MNI-E005", field="body") from None
        raise malformed("MNI-E001", text, field="body") from None
    if root.getroottree().docinfo.doctype:  # type: ignore[union-attr]
        raise malformed("MNI-E002", field="body")
    if _limit_check(limits)(root):
        raise malformed("MNI-E005", field="body")
    if b"XInclude" in data and any(True for _ in root.iter(f"{{{XINCLUDE_NS}}}*")):
        raise malformed("MNI-E003", field="body")
    return root, latin1
