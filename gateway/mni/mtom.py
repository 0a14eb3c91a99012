"""MTOM/XOP (``multipart/related; type="application/xop+xml"``): splitting the MIME parts and resolving
``xop:Include``.

The parts are cut out of the body with ``bytes.find`` and one slice each, so a 50 MB attachment costs one copy
(the body itself being the other); the stdlib ``email`` parser would decode the whole body into strings first.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import unquote

from lxml import etree

from gateway.mni.errors import malformed
from gateway.mni.names import XOP_NS

XOP_INCLUDE = f"{{{XOP_NS}}}Include"
_PARAM = re.compile(r""";\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)""")
_MAX_PARTS = 1000


@dataclass(frozen=True)
class MultipartBody:
    """The root XML part of an MTOM message and its attachments by Content-ID (without ``<>``)."""

    root: bytes
    root_charset: str | None
    attachments: dict[str, bytes]


def content_type_params(content_type: str | None) -> tuple[str, dict[str, str]]:
    """The media type (lower-case) and the parameters (names lower-case, quotes removed) of a Content-Type."""
    if not content_type:
        return "", {}
    media = content_type.split(";", 1)[0].strip().lower()
    params = {}
    for name, value in _PARAM.findall(content_type):
        if value.startswith('"'):
            value = value[1:-1].replace('\\"', '"')
        params[name.lower()] = value
    return media, params


def is_multipart(body: bytes, content_type: str | None) -> bool:
    """True when *body* is a MIME multipart (declared, or sniffed from a leading ``--boundary`` line)."""
    media, _ = content_type_params(content_type)
    if media.startswith("multipart/"):
        return True
    return not media.endswith("xml") and body[:2] == b"--" and b"\n" in body[:200]


def _cid(value: str) -> str:
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return value


def split_multipart(body: bytes, content_type: str | None) -> MultipartBody:
    """Split an MTOM body into its root part and attachments. Raises MNI-E011 when the parts cannot be found."""
    _, params = content_type_params(content_type)
    boundary = params.get("boundary")
    if not boundary:  # sniff it from the first line
        first = body[: body.find(b"\n")].strip() if b"\n" in body else b""
        if not first.startswith(b"--"):
            raise malformed("MNI-E011", "boundary ausente.", field="Content-Type")
        boundary = first[2:].decode("latin-1")
    delimiter = b"--" + boundary.encode("latin-1")
    start_cid = _cid(params["start"]) if params.get("start") else None
    pos = body.find(delimiter)
    if pos < 0:
        raise malformed("MNI-E011", "delimitador multipart não encontrado.", field="body")
    parts: list[tuple[dict[str, str], bytes]] = []
    while len(parts) < _MAX_PARTS:
        pos += len(delimiter)
        if body[pos : pos + 2] == b"--":
            break
        header_end = body.find(b"\r\n\r\n", pos)
        sep = 4
        if header_end < 0:
            header_end, sep = body.find(b"\n\n", pos), 2
        if header_end < 0:
            raise malformed("MNI-E011", "parte multipart sem cabeçalhos.", field="body")
        headers = _headers(body[pos:header_end])
        content_start = header_end + sep
        nxt = body.find(b"\r\n" + delimiter, content_start)
        end = nxt
        if nxt < 0:
            nxt = body.find(b"\n" + delimiter, content_start)
            end = nxt
            if nxt < 0:
                raise malformed("MNI-E011", "parte multipart sem delimitador final.", field="body")
            nxt += 1
        else:
            nxt += 2
        parts.append((headers, _decode(body[content_start:end], headers)))
        pos = nxt
    if not parts:
        raise malformed("MNI-E011", "nenhuma parte multipart.", field="body")
    root_index = 0
    if start_cid:
        for i, (headers, _) in enumerate(parts):
            if _cid(headers.get("content-id", "")) == start_cid:
                root_index = i
                break
    root_headers, root = parts[root_index]
    _, root_params = content_type_params(root_headers.get("content-type"))
    attachments = {
        _cid(h.get("content-id", f"part-{i}")): data for i, (h, data) in enumerate(parts) if i != root_index
    }
    return MultipartBody(root, root_params.get("charset"), attachments)


def _headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    name = ""
    for line in raw.decode("latin-1").splitlines():
        if not line.strip():
            continue
        if line[0] in " \t" and name:
            headers[name] += " " + line.strip()
            continue
        name, _, value = line.partition(":")
        name = name.strip().lower()
        headers[name] = value.strip()
    return headers


def _decode(data: bytes, headers: dict[str, str]) -> bytes:
    encoding = headers.get("content-transfer-encoding", "binary").strip().lower()
    if encoding == "base64":
        try:
            return base64.b64decode(data)
        except binascii.Error as exc:
            raise malformed("MNI-E011", f"parte base64 inválida: {exc}", field="body") from None
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    return data


def include_cid(include: etree._Element) -> str:
    """The Content-ID an ``xop:Include`` points at (``cid:`` removed, %-escapes decoded as RFC 2392 says)."""
    href = (include.get("href") or "").strip()
    if href.lower().startswith("cid:"):
        href = href[4:]
    return unquote(href)


def inline_xop(root: etree._Element, attachments: dict[str, bytes]) -> int:
    """Replace every ``xop:Include`` under *root* by the base64 of its attachment; return how many were replaced.

    An Include whose attachment is missing is left in place (the caller records or refuses it).
    """
    count = 0
    for include in list(root.iter(XOP_INCLUDE)):
        data = attachments.get(include_cid(include))
        parent = include.getparent()
        if data is None or parent is None:
            continue
        parent.remove(include)
        parent.text = base64.b64encode(data).decode("ascii")
        count += 1
    return count
