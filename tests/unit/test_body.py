"""Reading request bodies (gateway.xml.body): Content-Encoding inflated with the limit on the inflated bytes, and
the process-wide budget of large bodies, without a server (the e2e tests send the same through HTTP)."""

from __future__ import annotations

import asyncio
import gzip
import threading
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable

import pytest

from gateway.errors import CATALOGUE, MalformedRequest, Overloaded
from gateway.xml.body import BodyBudget, read_body, release_memory

DOC = b'<?xml version="1.0"?><a>' + "texto com acentuação ".encode() * 2000 + b"</a>"


async def chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    """*data* in slices of *size* bytes, as a server hands a body over."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


def read(data: bytes, *, limit: int = 1 << 20, encoding: str | None = None, size: int = 4096,
         length: str | None = None) -> bytes:
    """:func:`read_body` run to the end on *data* sent in *size*-byte chunks."""
    return asyncio.run(read_body(chunks_of(data, size), limit=limit, family="MNI", content_encoding=encoding,
                                 content_length=length))


def raw_deflate(data: bytes) -> bytes:
    """*data* as a raw RFC 1951 stream (what .NET's DeflateStream sends as ``deflate``)."""
    z = zlib.compressobj(wbits=-15)
    return z.compress(data) + z.flush()


ENCODED: list[tuple[str, Callable[[bytes], bytes]]] = [
    ("gzip", gzip.compress),
    ("x-gzip", gzip.compress),
    ("GZIP", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", raw_deflate),
    ("identity", lambda d: d),
    ("identity, gzip", gzip.compress),
    ("deflate, gzip", lambda d: gzip.compress(zlib.compress(d))),
    ("gzip", lambda d: gzip.compress(d[:1000]) + gzip.compress(d[1000:])),  # two gzip members
]


@pytest.mark.parametrize(("encoding", "encode"), ENCODED,
                         ids=["gzip", "x-gzip", "upper", "zlib", "raw", "identity", "stacked-identity", "stacked",
                              "two-members"])
@pytest.mark.parametrize("size", [1, 7, 65536])
def test_encodings_are_inflated(encoding: str, encode: Callable[[bytes], bytes], size: int) -> None:
    """Every accepted Content-Encoding (alone, stacked, upper case, a raw or a zlib deflate stream, a gzip of two
    members) gives back the exact bytes, however the compressed body is cut into chunks (one byte at a time
    included, so the zlib header is told from a raw stream across chunks)."""
    assert read(encode(DOC), encoding=encoding, size=size) == DOC


def test_the_limit_applies_to_the_inflated_bytes_and_a_bomb_is_never_inflated() -> None:
    """A gzip bomb (64 MB of zeros in ~64 KB) is refused with E004 once its output passes the 1 MB limit: the
    memory traced while reading stays near the limit, never near the bomb; the limit is exact (limit bytes pass,
    one more does not), for the raw bytes as for the inflated ones."""
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    tracemalloc.start()
    try:
        with pytest.raises(MalformedRequest) as e:
            read(bomb, encoding="gzip", size=65536)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert e.value.code == "MNI-E004"
    assert peak < 4 * 1024 * 1024, f"{peak / 2**20:.1f} MB traced while refusing the bomb"
    exact = b"x" * 1000
    assert read(gzip.compress(exact), limit=1000, encoding="gzip") == exact
    for data, encoding in ((gzip.compress(exact + b"y"), "gzip"), (exact + b"y", None)):
        with pytest.raises(MalformedRequest) as e:
            read(data, limit=1000, encoding=encoding)
        assert e.value.code == "MNI-E004"


def test_a_bomb_is_refused_by_its_ratio_long_before_the_limit() -> None:
    """Under a 100 MB limit, a gzip bomb is refused with E004 naming the compression ratio after about a megabyte
    of output (Apache's DeflateInflateRatioLimit: 200:1), while a large ordinary document inflates in full."""
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    tracemalloc.start()
    try:
        with pytest.raises(MalformedRequest) as e:
            read(bomb, limit=100 * 1024 * 1024, encoding="gzip", size=65536)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert e.value.code == "MNI-E004" and "200:1" in e.value.message
    assert peak < 4 * 1024 * 1024, f"{peak / 2**20:.1f} MB traced while refusing the bomb"
    varied = b"".join(b"<movimento id='%d'>%s</movimento>" % (i, str(i * 7919).encode() * 3) for i in range(60_000))
    assert len(varied) > 2 * 1024 * 1024
    assert read(gzip.compress(varied), limit=100 * 1024 * 1024, encoding="gzip", size=65536) == varied


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    """A Content-Length over the limit is E004 without a byte of the body being read."""
    async def never() -> AsyncIterator[bytes]:
        raise AssertionError("the body was read")
        yield b""  # pragma: no cover

    with pytest.raises(MalformedRequest) as e:
        asyncio.run(read_body(never(), limit=100, family="INFODIP", content_length="101"))
    assert e.value.code == "INFODIP-E004"


@pytest.mark.parametrize(("encoding", "data", "named"), [
    ("br", DOC, "br"),
    ("compress", DOC, "compress"),
    ("gzip, zstd", DOC, "zstd"),
    ("gzip", gzip.compress(DOC)[:-12], "gzip"),  # cut short
    ("gzip", gzip.compress(DOC) + b"lixo", "gzip"),  # garbage after the member
    ("deflate", zlib.compress(DOC)[:5] + b"\xff" * 40, "deflate"),
    ("gzip", DOC, "gzip"),  # not compressed at all
])
def test_unknown_or_broken_encodings_are_e013_naming_them(encoding: str, data: bytes, named: str) -> None:
    """An encoding the gateway does not inflate, and a compressed body that is corrupt, cut short or followed by
    garbage, are refused with E013 (a catalogued Client fault) whose message names the encoding."""
    with pytest.raises(MalformedRequest) as e:
        read(data, encoding=encoding)
    assert e.value.code == "MNI-E013" and e.value.code in CATALOGUE and e.value.faultcode == "soap:Client"
    assert named in e.value.message and e.value.field == "Content-Encoding"


# -- the budget ------------------------------------------------------------------------------------------------


def budget(total: int = 1000, wait_s: float = 5.0, min_bytes: int = 100,
           give_back: Callable[[], object] | None = None) -> BodyBudget:
    """A budget of *total* bytes; bodies under *min_bytes* are not counted."""
    return BodyBudget(total, min_bytes, wait_s, give_back=give_back or (lambda: None))


def test_small_bodies_are_not_counted_and_large_ones_are() -> None:
    """A body under min_bytes holds nothing; a larger one holds its size (declared up front, or as it arrives and
    grows) until released, and releasing twice gives back once."""
    async def scenario() -> None:
        b = budget()
        small, large, chunked = b.lease("MNI"), b.lease("MNI"), b.lease("MNI")
        await read_body(chunks_of(b"x" * 99, 10), limit=1000, family="MNI", lease=small, content_length="99")
        assert (small.held, b.in_use) == (0, 0)
        await read_body(chunks_of(b"x" * 300, 50), limit=1000, family="MNI", lease=large, content_length="300")
        assert (large.held, b.in_use) == (300, 300)
        await read_body(chunks_of(b"x" * 500, 50), limit=1000, family="MNI", lease=chunked)  # no length: grows
        assert 500 <= chunked.held <= 1000 - 300 and b.in_use == 300 + chunked.held
        large.release()
        large.release()
        chunked.release()
        assert b.in_use == 0

    asyncio.run(scenario())


def test_the_next_large_body_waits_for_room_then_is_refused_with_e092() -> None:
    """With the budget spent, the next large body waits (first come, first served) and gets the room released
    within the wait; when none comes in time it is refused with Overloaded E092 (soap:Server, retry-safe, with a
    Retry-After in whole seconds) and holds nothing."""
    async def scenario() -> None:
        b = budget(total=1000, wait_s=0.2)
        first, second, third = b.lease("INFODIP"), b.lease("INFODIP"), b.lease("INFODIP")
        await first.reserve(800)
        waiting = asyncio.ensure_future(second.reserve(600))
        await asyncio.sleep(0)
        assert not waiting.done() and b.in_use == 800
        first.release()
        await asyncio.wait_for(waiting, 5)
        assert second.held == 600 and b.in_use == 600
        with pytest.raises(Overloaded) as e:
            await third.reserve(600)
        assert e.value.code == "INFODIP-E092" and e.value.retry_after_s == 1 and e.value.retryable
        assert e.value.faultcode == "soap:Server" and e.value.code in CATALOGUE
        assert third.held == 0 and b.in_use == 600
        second.release()
        await third.reserve(600)
        assert b.in_use == 600

    asyncio.run(scenario())


def test_memory_is_given_back_when_the_last_large_request_ends() -> None:
    """The allocator's free memory is returned (in a worker thread) once no large body is held any more — not
    while another one still is."""
    calls = threading.Event()
    count: list[int] = []

    def give_back() -> None:
        count.append(1)
        calls.set()

    async def scenario() -> None:
        b = budget(give_back=give_back)
        one, two = b.lease("MNI"), b.lease("MNI")
        await one.reserve(200)
        await two.reserve(200)
        one.release()
        for _ in range(5):
            await asyncio.sleep(0)
        assert not count
        two.release()
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, calls.wait, 10)
        assert count == [1]

    asyncio.run(scenario())
    assert isinstance(release_memory(), bool)


def test_a_body_holds_the_budget_while_it_arrives() -> None:
    """A chunked body (no length) grows its reservation as its bytes arrive; when the budget cannot grow in time
    the read is refused with E092 and the lease gives everything back on release."""
    async def scenario() -> None:
        b = budget(total=1000, wait_s=0.05)
        other, lease = b.lease("MNI"), b.lease("MNI")
        await other.reserve(700)
        with pytest.raises(Overloaded):
            await read_body(chunks_of(b"x" * 900, 100), limit=1000, family="MNI", lease=lease)
        lease.release()
        other.release()
        assert b.in_use == 0

    asyncio.run(scenario())

