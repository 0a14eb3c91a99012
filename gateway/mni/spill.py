"""Large documents through the MNI hub without holding them in memory: spilled to disk at the byte level, a short
placeholder in their place, spliced back on output (issue 17, "50 MB document through the hub").

A :class:`Spill` belongs to one MNI call (the client's request and every tribunal answer it brings). Bodies larger
than its ``threshold`` pass through a *filter* while they arrive:

- :class:`Base64Filter` (XML): a text run right after a ``>`` made only of base64 characters and XML whitespace
  (``A–Z a–z 0–9 + / =``, space, tab, CR, LF), ending at a ``<``, longer than ``threshold`` bytes, goes to a
  temporary file; in its place the body gets the run's *placeholder*, itself valid base64Binary. A run that turns
  out to end otherwise (another character, the body's end) is put back verbatim.
- :class:`MultipartFilter` (MTOM/XOP): a part other than the root, sent ``binary``/``8bit``/``7bit`` (or without a
  ``Content-Transfer-Encoding``), longer than ``threshold`` bytes, goes to a file; in its place the part gets the
  placeholder's *decoded* bytes (44), so that inlining the attachment as base64
  (:func:`gateway.mni.mtom.inline_xop`) writes the placeholder text. Everything else is kept byte for byte.

A placeholder is ``base64(MAGIC + sha256(content))``: 60 ASCII characters, content-addressed (the same document
gives the same placeholder, so a filing's idempotency key and the audit digests stay functions of the whole
content), and different for a base64 run (spliced back as the bytes received) and a binary part (spliced back as
its base64 encoding, no line breaks). Everything downstream — parse, XSD validation, routing, audit, credential
rewriting, canonical answers — sees the small body. :meth:`Spill.splice` gives the bytes to send (the small body
with every placeholder of this call replaced, read from disk in chunks) and their length;
:meth:`Spill.documents` gives back the true digest and size of documents read from a body with placeholders.

Files are ``mni-<random>.spill`` (mode 0600) in the spool directory (``GATEWAY_OBITOS_SPOOL_DIR``, else the
system's temporary directory); :meth:`Spill.close` removes them all, and the caller closes the spill when the call
ends, answered, failed or cancelled (a leftover of a crash is removed by :func:`gateway.obitos.spooled.sweep`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from gateway.mni.mtom import _headers, content_type_params
from gateway.mni.reader import DocumentInfo
from gateway.xml.body import head_of
from gateway.xml.reader import E_LIMIT, XmlPolicy

#: the spill files' names (swept by :func:`gateway.obitos.spooled.sweep` when a crash left one)
PREFIX, SUFFIX = "mni-", ".spill"
#: bodies up to this many bytes are never filtered; runs and parts longer than this are spilled
DEFAULT_THRESHOLD = 256 * 1024
_MAGIC_RAW = b"\x00gwspill-raw"  # 12 bytes each (a multiple of 3): the placeholders share a base64 prefix
_MAGIC_BIN = b"\x00gwspill-bin"
#: what every placeholder starts with: the base64 of the magics' common first 9 bytes
MARK = base64.b64encode(_MAGIC_RAW[:9])
PLACEHOLDER_LEN = 60
_NOT_B64 = re.compile(rb"[^A-Za-z0-9+/= \t\r\n]")
_WHITESPACE = b" \t\r\n"
_READ = 256 * 1024  # bytes read from a spill file at a time
_READ_BIN = 3 * 64 * 1024  # a multiple of 3: consecutive base64 pieces concatenate


@dataclass(frozen=True)
class Entry:
    """One spilled content: its file, how many bytes it holds, and how it goes back: ``binary`` (an MTOM part,
    written back as base64) or not (a base64 run, written back as received). ``digest``/``decoded_size``: sha256
    (hex) and size of the bytes the content stands for (the part itself, or the base64 run decoded; None when the
    run does not decode)."""

    path: Path
    size: int
    binary: bool
    digest: str | None
    decoded_size: int | None

    @property
    def output_size(self) -> int:
        """Bytes spliced back in place of the placeholder."""
        return 4 * ((self.size + 2) // 3) if self.binary else self.size


class Spill:
    """The spilled contents of one MNI call (see the module docstring). Not thread-safe: fed on the event loop."""

    def __init__(self, directory: str | Path = "", threshold: int = DEFAULT_THRESHOLD,
                 on_close: Callable[[int], object] | None = None, limit: int | None = None) -> None:
        self.directory = Path(directory) if directory else Path(tempfile.gettempdir())
        self.threshold = threshold
        #: the most bytes :func:`filtered` reads of one body (None: no bound); past it, :class:`TooLarge`
        self.limit = limit
        #: bytes written to spill files so far (placeholders registered: not the runs given back)
        self.spilled_bytes = 0
        self._on_close = on_close
        self.entries: dict[bytes, Entry] = {}
        self._files: set[Path] = set()
        self._open: set[BinaryIO] = set()
        self._by_placeholder_digest: dict[str, Entry] = {}

    # -- filters ------------------------------------------------------------------------------------------------

    def filter_for(self, content_type: str | None, head: bytes = b"") -> Base64Filter | MultipartFilter:
        """The filter for a body of *content_type* whose first bytes are *head*: :class:`MultipartFilter` for a
        declared ``multipart/…`` with a boundary, :class:`Base64Filter` otherwise — one that keeps every byte when
        the body looks like an undeclared multipart (as :func:`gateway.mni.mtom.is_multipart` sniffs it: its parts
        are not XML text, a placeholder there would be inlined as data)."""
        media, params = content_type_params(content_type)
        if media.startswith("multipart/") and params.get("boundary"):
            return MultipartFilter(self, params["boundary"], params.get("start"))
        verbatim = not media.endswith("xml") and head[:2] == b"--" and b"\n" in head[:200]
        return Base64Filter(self, verbatim=verbatim)

    def _new_file(self) -> tuple[Path, BinaryIO]:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=PREFIX, suffix=SUFFIX, dir=self.directory)
        path = Path(name)
        self._files.add(path)
        out = os.fdopen(fd, "wb")
        self._open.add(out)
        return path, out

    def _close_file(self, out: BinaryIO) -> None:
        self._open.discard(out)
        out.close()

    def _forget(self, path: Path) -> None:
        self._files.discard(path)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def _register(self, path: Path, size: int, binary: bool, content_sha: bytes, digest: str | None,
                  decoded_size: int | None) -> bytes:
        """Record a spilled content; return its placeholder text (a duplicate's file is dropped)."""
        magic = _MAGIC_BIN if binary else _MAGIC_RAW
        decoded = magic + content_sha
        placeholder = base64.b64encode(decoded)
        if placeholder in self.entries:
            self._forget(path)
            return placeholder
        entry = Entry(path, size, binary, digest, decoded_size)
        self.spilled_bytes += size
        self.entries[placeholder] = entry
        self._by_placeholder_digest[hashlib.sha256(decoded).hexdigest()] = entry
        return placeholder

    # -- output -------------------------------------------------------------------------------------------------

    def references(self, body: bytes) -> bool:
        """True when *body* holds a placeholder of this call (only then does it need :meth:`splice`)."""
        return bool(self.entries) and MARK in body

    def _segments(self, body: bytes) -> list[bytes | Entry]:
        segments: list[bytes | Entry] = []
        start = pos = 0
        while (found := body.find(MARK, pos)) >= 0:
            entry = self.entries.get(body[found:found + PLACEHOLDER_LEN])
            if entry is None:
                pos = found + 1
                continue
            if found > start:
                segments.append(body[start:found])
            segments.append(entry)
            start = pos = found + PLACEHOLDER_LEN
        if start < len(body):
            segments.append(body[start:])
        return segments

    def splice(self, body: bytes) -> tuple[int, AsyncIterator[bytes]]:
        """The bytes *body* stands for — each placeholder of this call replaced by its content — as their length
        and an async iterator of chunks (at most 256 KB each, read from disk as they are asked for)."""
        segments = self._segments(body)
        length = sum(len(s) if isinstance(s, bytes) else s.output_size for s in segments)

        async def chunks() -> AsyncIterator[bytes]:
            for piece in _pieces(segments):
                yield piece

        return length, chunks()

    def joined(self, body: bytes) -> bytes:
        """:meth:`splice` in memory, as one bytes object (for what must be kept whole: a stored answer, a fake)."""
        return b"".join(_pieces(self._segments(body))) if self.references(body) else body

    def documents(self, documents: list[DocumentInfo]) -> list[DocumentInfo]:
        """*documents* (read from a body with placeholders) with the digest and size of each spilled content in
        place of its placeholder's (a base64 run that does not decode keeps its placeholder's: still a function of
        its content)."""
        if not self._by_placeholder_digest:
            return documents
        out = []
        for doc in documents:
            entry = self._by_placeholder_digest.get(doc.digest)
            if entry is not None and entry.digest is not None and entry.decoded_size is not None:
                doc = replace(doc, digest=entry.digest, size=entry.decoded_size)
            out.append(doc)
        return out

    def check_texts(self, root: etree._Element, policy: XmlPolicy) -> None:
        """Refuse (``<family>-E005``, as :func:`gateway.xml.reader.read_xml` would have) a tree read from a body
        with placeholders where a text holding them would be longer than ``policy.limits.max_text_bytes`` once
        spliced back, outside the policy's binary elements: spilling must not let through a text the reader bounds.
        """
        if not self.entries:
            return
        limit, binary = policy.limits.max_text_bytes, policy.binary_elements
        for el in root.iter():
            for text, owner in ((el.text, el), (el.tail, el.getparent())):
                if not text or MARK.decode() not in text or owner is None:
                    continue
                if isinstance(owner.tag, str) and etree.QName(owner).localname in binary:
                    continue
                if self._spliced_length(text.encode("ascii", "replace")) > limit:
                    raise policy.refuse(E_LIMIT, f"Texto acima de {limit} caracteres.")

    def _spliced_length(self, text: bytes) -> int:
        return sum(len(s) if isinstance(s, bytes) else s.output_size for s in self._segments(text))

    def close(self) -> None:
        """Remove every file of this call (idempotent); the first call reports :attr:`spilled_bytes` to
        *on_close* (when any)."""
        if self._on_close is not None:
            report, self._on_close = self._on_close, None
            if self.spilled_bytes:
                report(self.spilled_bytes)
        for out in list(self._open):
            with contextlib.suppress(OSError):
                out.close()
        self._open.clear()
        for path in list(self._files):
            self._forget(path)
        self.entries.clear()
        self._by_placeholder_digest.clear()


def _pieces(segments: list[bytes | Entry]) -> Iterator[bytes]:
    for segment in segments:
        if isinstance(segment, bytes):
            yield segment
            continue
        with open(segment.path, "rb") as f:
            if segment.binary:
                while block := f.read(_READ_BIN):
                    yield base64.b64encode(block)
            else:
                while block := f.read(_READ):
                    yield block


class _Run:
    """A content being written to a spill file: its hash and, for a base64 run, its decoding as it goes."""

    def __init__(self, spill: Spill, decode: bool) -> None:
        self.spill = spill
        self.path, self.out = spill._new_file()
        self.sha = hashlib.sha256()
        self.size = 0
        self.decode = decode
        self.decoded = hashlib.sha256()
        self.decoded_size = 0
        self.carry = b""
        self.decodable = True
        self.has_data = False

    def write(self, data: bytes | memoryview) -> None:
        self.out.write(data)
        self.sha.update(data)
        self.size += len(data)
        if not self.decode:
            return
        clean = bytes(data).translate(None, _WHITESPACE)
        if clean:
            self.has_data = True
        if not self.decodable:
            return
        clean = self.carry + clean
        cut = len(clean) - len(clean) % 4
        self.carry = clean[cut:]
        try:
            piece = binascii.a2b_base64(clean[:cut]) if cut else b""
        except binascii.Error:
            self.decodable = False
            return
        self.decoded.update(piece)
        self.decoded_size += len(piece)

    def register(self) -> bytes:
        """Close the file and record it; the placeholder text."""
        self.spill._close_file(self.out)
        decoded = self.decode and self.decodable and not self.carry
        digest = (self.decoded.hexdigest() if decoded else None) if self.decode else self.sha.hexdigest()
        size = (self.decoded_size if decoded else None) if self.decode else self.size
        return self.spill._register(self.path, self.size, not self.decode, self.sha.digest(), digest, size)

    def give_back(self) -> bytes:
        """Close and remove the file; the bytes it held (a run that was not one to spill)."""
        self.spill._close_file(self.out)
        data = self.path.read_bytes()
        self.spill._forget(self.path)
        return data


class _Holding:
    """What both filters share: a content's bytes are held in memory while they are under the threshold, then
    written to a spill file (a :class:`_Run`) from the first byte on."""

    spill: Spill
    out: list[bytes]

    def __init__(self) -> None:
        self.held: list[bytes] = []  # the content so far, while it is under the threshold
        self.held_size = 0
        self.run: _Run | None = None

    def _hold(self, data: bytes | memoryview, decode: bool) -> None:
        """Take the next bytes of the content (a base64 run to *decode*, or a binary part)."""
        if self.run is not None:
            self.run.write(data)
            return
        self.held.append(data if isinstance(data, bytes) else bytes(data))
        self.held_size += len(data)
        if self.held_size > self.spill.threshold:
            self.run = _Run(self.spill, decode=decode)
            for held in self.held:
                self.run.write(held)
            self.held.clear()
            self.held_size = 0

    def _take(self) -> _Run | None:
        """The content ends: its run if it was spilled (for the caller to register or give back), else None with
        the held bytes put in the output as they were."""
        run, self.run = self.run, None
        if run is None:
            self.out.extend(self.held)
        self.held.clear()
        self.held_size = 0
        return run


class Base64Filter(_Holding):
    """Copies an XML body, spilling its long base64 text runs (see the module docstring). :meth:`feed` the body's
    bytes in order, then :meth:`finish` for the small body."""

    def __init__(self, spill: Spill, verbatim: bool = False) -> None:
        super().__init__()
        self.spill = spill
        self.verbatim = verbatim  # keep every byte (see Spill.filter_for)
        self.out = []
        self.in_run = False  # after a '>' and only base64 characters since

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes of the body."""
        if self.verbatim:
            self.out.append(chunk)
            return
        pos, n = 0, len(chunk)
        while pos < n:
            if not self.in_run:
                gt = chunk.find(b">", pos)
                if gt < 0:
                    self.out.append(chunk[pos:] if pos else chunk)
                    return
                self.out.append(chunk[pos:gt + 1])
                pos, self.in_run = gt + 1, True
                continue
            match = _NOT_B64.search(chunk, pos)
            end = n if match is None else match.start()
            if end > pos:
                self._hold(memoryview(chunk)[pos:end] if pos or end < n else chunk, decode=True)
            if match is None:
                return
            self._end_run(chunk[end] == 0x3C)  # '<': the text ends where an element (or comment…) starts
            pos = end  # the character that ended the run is looked at again ('>' starts a new candidate)

    def _end_run(self, closed: bool) -> None:
        self.in_run = False
        run = self._take()
        if run is not None:
            self.out.append(run.register() if closed and run.has_data else run.give_back())

    def finish(self) -> bytes:
        """The small body (a run still open at the end is put back as it was)."""
        if self.in_run:
            self._end_run(False)
        return b"".join(self.out)


class MultipartFilter(_Holding):
    """Copies an MTOM body, spilling its large non-root parts (see the module docstring): the framing, headers and
    the root part are kept byte for byte. :meth:`feed` the body's bytes in order, then :meth:`finish`.

    The parts are found as :func:`gateway.mni.mtom.split_multipart` finds them (headers end at the first blank
    line, CRLF or LF; a part ends at the next ``CRLF--boundary`` or ``LF--boundary``), so the small body splits
    into the same parts."""

    def __init__(self, spill: Spill, boundary: str, start: str | None) -> None:
        super().__init__()
        self.spill = spill
        self.delimiter = b"--" + boundary.encode("latin-1")
        self.start = start.strip().strip("<>") if start else None
        self.out = []
        self.buf = bytearray()
        self.state = "preamble"  # preamble → headers → content → headers … → epilogue
        self.parts = 0
        self.spillable = False

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes of the body."""
        self.buf += chunk
        while self._step(final=False):
            pass

    def finish(self) -> bytes:
        """The small body."""
        while self._step(final=True):
            pass
        if self.state == "content":  # no closing delimiter: kept as it was (the reader refuses it)
            self._content(bytes(self.buf))
            self._end_part()
        else:
            self.out.append(bytes(self.buf))
        self.buf.clear()
        return b"".join(self.out)

    def _emit(self, n: int) -> None:
        self.out.append(bytes(self.buf[:n]))
        del self.buf[:n]

    def _step(self, final: bool) -> bool:
        buf, d = self.buf, self.delimiter
        if self.state == "preamble":
            at = buf.find(d)
            if at < 0:
                return False
            self._emit(at + len(d))
            self.state = "after-delimiter"
            return True
        if self.state == "after-delimiter":
            if len(buf) < 2:
                return False
            if buf[:2] == b"--":
                self.state = "epilogue"
                return False
            self.state = "headers"
            return True
        if self.state == "headers":
            crlf, lf = buf.find(b"\r\n\r\n"), buf.find(b"\n\n")
            ends = [(at, sep) for at, sep in ((crlf, 4), (lf, 2)) if at >= 0]
            if not ends:
                return False
            at, sep = min(ends)
            headers = _headers(bytes(buf[:at]))
            self._emit(at + sep)
            self.spillable = self._spillable(headers)
            self.parts += 1
            self.state = "content"
            return True
        if self.state == "content":
            at = buf.find(b"\n" + d)
            if at < 0:
                keep = len(d) + 2  # the start of a delimiter may be at the end
                if len(buf) > keep:
                    self._content(bytes(buf[:-keep]))
                    del buf[:-keep]
                return False
            end = at - 1 if at > 0 and buf[at - 1] == 0x0D else at
            self._content(bytes(buf[:end]))
            del buf[:end]
            self._end_part()
            at = buf.find(d)
            self._emit(at + len(d))
            self.state = "after-delimiter"
            return True
        return False  # epilogue: kept as it is, at the end

    def _spillable(self, headers: dict[str, str]) -> bool:
        cid = headers.get("content-id", "").strip().strip("<>")
        root = cid == self.start if self.start else self.parts == 0
        encoding = headers.get("content-transfer-encoding", "binary").strip().lower()
        return not root and encoding in ("binary", "8bit", "7bit")

    def _content(self, data: bytes) -> None:
        if not data:
            return
        if not self.spillable:
            self.out.append(data)
            return
        self._hold(data, decode=False)

    def _end_part(self) -> None:
        run = self._take()
        if run is not None:
            self.out.append(base64.b64decode(run.register()))


class TooLarge(Exception):
    """A body read by :func:`filtered` passed its spill's ``limit``."""


async def filtered(chunks: AsyncIterable[bytes], spill: Spill, content_type: str | None) -> bytes:
    """The body arriving in *chunks*: as it is when it stays within ``spill.threshold`` bytes (the pieces joined,
    nothing else done), else filtered (:meth:`Spill.filter_for`) from the moment it passes the threshold. Raises
    :class:`TooLarge` as soon as it passes ``spill.limit`` bytes (the rest unread)."""
    parts: list[bytes] = []
    size = 0
    limit = spill.limit
    flt: Base64Filter | MultipartFilter | None = None
    async for chunk in chunks:
        size += len(chunk)
        if limit is not None and size > limit:
            raise TooLarge(f"resposta acima de {limit} bytes")
        if flt is not None:
            flt.feed(chunk)
            continue
        parts.append(chunk)
        if size > spill.threshold:
            flt = spill.filter_for(content_type, head_of(parts))
            for part in parts:
                flt.feed(part)
            parts.clear()
    if flt is not None:
        return flt.finish()
    return parts[0] if len(parts) == 1 else b"".join(parts)


__all__ = ["DEFAULT_THRESHOLD", "MARK", "PREFIX", "SUFFIX", "Base64Filter", "Entry", "MultipartFilter", "Spill",
           "TooLarge", "filtered"]
