"""Reading a request body for the XML reader: size limit, ``Content-Encoding``, and the budget of large bodies.

:func:`read_body` takes the body as it arrives (an async iterator of chunks) and returns its bytes, decompressed:

- ``Content-Encoding`` ``gzip``/``x-gzip`` (RFC 1952) and ``deflate`` (RFC 9110 §8.4.1.2: zlib, RFC 1950; the raw
  RFC 1951 stream some clients send is accepted too), alone or stacked, and ``identity``, are inflated as the
  bytes arrive, one megabyte at a time, never producing more than the limit plus one byte nor, past the first
  megabyte, more than :data:`MAX_INFLATE_RATIO` times the compressed bytes: a zip bomb is refused (``E004``)
  after inflating about a megabyte, not the limit. Any other encoding, or a compressed stream that is corrupt or
  cut short, is ``<FAMILY>-E013`` naming it;
- the body (compressed and inflated) is at most the endpoint's limit (``<FAMILY>-E004``), checked on the declared
  ``Content-Length`` before reading and on every chunk;
- a body of at least :attr:`BodyBudget.min_bytes` holds part of a process-wide :class:`BodyBudget` from the
  moment its size is known until its request is answered (the declared length up front, or growing as the
  bytes arrive); when the budget is spent the request waits up to :attr:`BodyBudget.wait_s` and is then refused
  with ``<FAMILY>-E092`` (:class:`~gateway.errors.Overloaded`: ``soap:Server``, HTTP 503 with ``Retry-After``; nothing
  was done, sending again is safe). When the last large request ends, freed memory is given back to the system
  (a garbage collection, then glibc ``malloc_trim``), so a burst of large bodies does not leave the process at its
  peak size;
- a caller may pass a *filter* factory (``spill_filter``, called with the body's first 200 bytes) that takes over
  the body once it passes ``spill_above`` bytes: the pieces so far and every later one are fed to the filter, and
  the body returned is what it finishes with (the MNI hub spills long base64 runs to disk this way:
  :mod:`gateway.mni.spill`). Smaller bodies are joined as they are.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import math
import re
import zlib
from collections.abc import AsyncIterator, Callable
from functools import lru_cache
from typing import Protocol

from gateway.errors import Overloaded
from gateway.xml.reader import malformed

_GZIP, _ZLIB, _RAW = 16 + zlib.MAX_WBITS, zlib.MAX_WBITS, -zlib.MAX_WBITS
_WBITS = {"gzip": _GZIP, "x-gzip": _GZIP, "deflate": _ZLIB}


#: Inflated bytes allowed per compressed byte once a body has inflated past :data:`RATIO_AFTER` (Apache httpd's
#: ``DeflateInflateRatioLimit`` default): XML compresses 5–20×, base64 documents barely; a bomb 1000×.
MAX_INFLATE_RATIO = 200
RATIO_AFTER = 1 << 20
#: The most bytes one call to zlib may produce (the ratio is checked between calls).
_PIECE = 1 << 20


class _TooLarge(Exception):
    """The inflated bytes crossed the limit (or the inflation ratio)."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail


class _Inflater:
    """One ``Content-Encoding`` layer, inflated with a bound on its output."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.wbits = _WBITS[name]
        self.z: zlib._Decompress | None = None
        self.pending = b""  # deflate: the first bytes, until the zlib header can be told from a raw stream
        self.taken = 0  # compressed bytes this layer consumed
        self.produced = 0  # bytes it inflated

    def feed(self, data: bytes, room: int) -> list[bytes]:
        """Inflate *data*; raise :class:`_TooLarge` as soon as the output would exceed *room* bytes, or inflate
        more than :data:`MAX_INFLATE_RATIO` times what was taken (past :data:`RATIO_AFTER`)."""
        if self.z is None:
            if self.wbits == _ZLIB:
                data = self.pending + data
                if len(data) < 2:
                    self.pending = data
                    return []
                self.pending = b""
                zlib_header = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
                self.z = zlib.decompressobj(_ZLIB if zlib_header else _RAW)
            else:
                self.z = zlib.decompressobj(self.wbits)
        out: list[bytes] = []
        while data:
            if self.z.eof:  # a gzip file may hold several members, one after another (RFC 1952 §2.2)
                if self.wbits != _GZIP:
                    raise zlib.error("dados após o fim do fluxo comprimido")
                self.z = zlib.decompressobj(self.wbits)
            piece = self.z.decompress(data, min(room + 1, _PIECE))
            rest = self.z.unconsumed_tail or self.z.unused_data
            self.taken += len(data) - len(rest)
            room -= len(piece)
            self.produced += len(piece)
            if room < 0:
                raise _TooLarge
            if self.produced > RATIO_AFTER and self.produced > MAX_INFLATE_RATIO * self.taken:
                raise _TooLarge(f"Taxa de compressão acima de {MAX_INFLATE_RATIO}:1 ({self.name}).")
            if piece:
                out.append(piece)
            data = rest
        return out

    def finish(self) -> None:
        """Check the stream ended where the body did (a stream cut short is corrupt)."""
        if self.pending or self.z is None or not self.z.eof:
            raise zlib.error("fluxo comprimido incompleto")


def _inflaters(content_encoding: str | None, family: str) -> list[_Inflater]:
    """The layers to undo, outermost first (the header lists them in the order they were applied)."""
    if not content_encoding:
        return []
    names = [n.strip().lower() for n in content_encoding.split(",") if n.strip()]
    layers = []
    for name in reversed(names):
        if name == "identity":
            continue
        if name not in _WBITS:
            raise malformed(f"{family}-E013", f"Recebido Content-Encoding: {name[:40]}.", field="Content-Encoding")
        layers.append(_Inflater(name))
    return layers


class BodyBudget:
    """The bytes of large request bodies the process holds at once, shared by every endpoint.

    ``total_bytes`` is the budget; bodies under ``min_bytes`` are not counted (the server's connection cap bounds
    them); a request that finds no room waits up to ``wait_s`` seconds, first come first served, then is refused
    (E092). Lives on the event loop of the server (not thread-safe)."""

    def __init__(self, total_bytes: int, min_bytes: int, wait_s: float,
                 give_back: Callable[[], object] | None = None) -> None:
        self.total_bytes = total_bytes
        self.min_bytes = min_bytes
        self.wait_s = wait_s
        self.in_use = 0
        self.holders = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._give_back = give_back if give_back is not None else _collect_and_trim

    def lease(self, family: str) -> Lease:
        """What one request holds (nothing until :meth:`Lease.reserve`); release it when the request is done."""
        return Lease(self, family)

    def _try_acquire(self, n: int) -> bool:
        if self._waiters or self.in_use + n > self.total_bytes:
            return False
        self.in_use += n
        return True

    async def _acquire(self, n: int, family: str) -> None:
        if self._try_acquire(n):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((n, future))
        try:
            await asyncio.wait_for(future, self.wait_s)
        except TimeoutError:
            raise Overloaded(f"{family}-E092", retry_after_s=max(1, math.ceil(self.wait_s))) from None
        finally:
            self._waiters = [(m, f) for m, f in self._waiters if f is not future]
            self._wake()

    def _release(self, n: int) -> None:
        self.in_use -= n
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            n, future = self._waiters[0]
            if future.done():
                self._waiters.pop(0)
                continue
            if self.in_use + n > self.total_bytes:
                return
            self.in_use += n
            future.set_result(None)
            self._waiters.pop(0)

    def _ended(self) -> None:
        """One large request ended; the last one gives memory back (in a worker thread, after this request's
        objects are gone: scheduled, not run here)."""
        self.holders -= 1
        if self.holders == 0:
            asyncio.get_running_loop().call_soon(self._give_back_in_thread)

    def _give_back_in_thread(self) -> None:
        if self.holders == 0:
            asyncio.get_running_loop().run_in_executor(None, self._give_back)


def _collect_and_trim() -> bool:
    """What the budget runs when the last large request ends: collect reference cycles first (an exception
    carried through a worker thread's future keeps its frames, and so the body, in one), then trim."""
    gc.collect()
    return release_memory()


class Lease:
    """The part of a :class:`BodyBudget` one request holds."""

    def __init__(self, budget: BodyBudget, family: str) -> None:
        self.budget = budget
        self.family = family
        self.held = 0

    async def reserve(self, size: int, ahead: int = 0) -> None:
        """Hold *size* bytes in all (only once *size* reaches the budget's ``min_bytes``), or *ahead* bytes when
        that much is free right now (so a growing body does not ask again for every chunk); may wait, then raise
        :class:`~gateway.errors.Overloaded` (``<FAMILY>-E092``)."""
        if size < self.budget.min_bytes or size <= self.held:
            return
        if ahead > size and self.budget._try_acquire(ahead - self.held):
            size = ahead
        else:
            await self.budget._acquire(size - self.held, self.family)
        if self.held == 0:
            self.budget.holders += 1
        self.held = size

    def release(self) -> None:
        """Give the bytes back (idempotent)."""
        if self.held:
            self.budget._release(self.held)
            self.held = 0
            self.budget._ended()


class BodyFilter(Protocol):
    """What a large body is fed to (see the module docstring)."""

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes of the (decompressed) body."""

    def finish(self) -> bytes:
        """The body to use, once every byte was fed."""
        ...


_CHARSET = re.compile(r""";\s*charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)


def charset_of(content_type: str | None) -> str | None:
    """The ``charset`` parameter of an HTTP Content-Type (``text/xml; charset=utf-16`` → ``utf-16``), or None."""
    match = _CHARSET.search(content_type or "")
    return match.group(1) if match else None


async def read_body(chunks: AsyncIterator[bytes], *, limit: int, family: str, content_encoding: str | None = None,
                    content_length: str | None = None, lease: Lease | None = None,
                    spill_filter: Callable[[bytes], BodyFilter] | None = None, spill_above: int = 0) -> bytes:
    """The body arriving in *chunks*, decompressed, at most *limit* bytes (see the module docstring); past
    *spill_above* bytes, what *spill_filter* makes of it.

    Raises :class:`~gateway.errors.MalformedRequest` ``<family>-E004`` (too large, compressed or inflated) or
    ``E013`` (an encoding other than gzip/x-gzip/deflate/identity, or a corrupt stream), and
    :class:`~gateway.errors.Overloaded` ``E092`` when *lease* finds no room in its budget in time."""
    layers = _inflaters(content_encoding, family)
    declared = int(content_length) if content_length and content_length.strip().isdigit() else None
    if declared is not None and declared > limit:
        raise malformed(f"{family}-E004", field="body")
    if lease is not None and declared is not None and not layers:
        await lease.reserve(declared)
    parts: list[bytes] = []
    raw = size = 0
    flt: BodyFilter | None = None
    try:
        async for chunk in chunks:
            raw += len(chunk)
            if raw > limit:
                raise _TooLarge
            pieces = [chunk]
            for layer in layers:
                pieces = [out for piece in pieces for out in layer.feed(piece, limit - size)]
            for piece in pieces:
                size += len(piece)
                if size > limit:
                    raise _TooLarge
                if flt is not None:
                    flt.feed(piece)
                    continue
                parts.append(piece)
                if spill_filter is not None and size > spill_above:
                    flt = spill_filter(head_of(parts))
                    for part in parts:
                        flt.feed(part)
                    parts.clear()
            if lease is not None and size > lease.held:
                await lease.reserve(size, ahead=min(limit, 2 * size))
        for layer in layers:
            layer.finish()
    except _TooLarge as exc:
        raise malformed(f"{family}-E004", exc.detail, field="body") from None
    except zlib.error as exc:
        names = ", ".join(layer.name for layer in reversed(layers))
        raise malformed(f"{family}-E013", f"Corpo {names} inválido: {exc}.", field="Content-Encoding") from None
    if flt is not None:
        return flt.finish()
    return parts[0] if len(parts) == 1 else b"".join(parts)


def head_of(parts: list[bytes], size: int = 200) -> bytes:
    """The first *size* bytes of the body cut in *parts* (what a body filter looks at to choose itself)."""
    head = b""
    for part in parts:
        head += part[:size - len(head)]
        if len(head) >= size:
            break
    return head


@lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (None elsewhere: musl, macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def release_memory() -> bool:
    """Return the allocator's free memory to the system (glibc ``malloc_trim(0)``: the top of the heap and the
    free pages inside it). True when something was returned; False where there is no such call."""
    trim = _malloc_trim()
    if trim is None:
        return False
    return bool(trim(0))
