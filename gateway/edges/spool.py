"""Spooling a large request body to a temporary file: a death batch is never held in memory (issue 13 §3).

A *gate* sees the body's first pieces as they arrive and may refuse before the rest is read: the CRC SOAP edge
authenticates the UsernameToken of the envelope's Header this way, so a bad credential is answered without the
gateway reading (or storing) a 100 MB body. A spooled batch still being stored keeps a *sidecar*
(``<file>.json``: who sent it, through which channel, to which database) so that a restart resumes it
(:mod:`gateway.obitos.spooled`); both are removed together (:func:`gateway.obitos.sidecar.discard`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import ClientDisconnect, Request

from gateway.errors import MalformedRequest
from gateway.obitos.sidecar import PREFIX, SUFFIX, discard

#: called with each piece of the body (None at its end) until it returns True; raises to refuse the request
Gate = Callable[[bytes | None], Awaitable[bool]]


async def spool(request: Request, limit: int, directory: str = "", family: str = "INFODIP",
                gate: Gate | None = None) -> Path:
    """Write *request*'s body to a new temporary file (mode 0600, in *directory* or the system's) and return its
    path; the caller removes it (:func:`discard`). *gate*, when given, is awaited with each piece as it arrives
    (and None at the end) until it returns True; an error it raises refuses the request at once, the rest of the
    body unread and the file removed. Errors: ``<family>-E004`` over *limit* bytes (by Content-Length at once,
    else as soon as the limit is passed), ``E001`` when the client leaves before the body is complete, the gate's.
    A compressed body (Content-Encoding) is ``E013``: batches are sent as they are."""
    if request.headers.get("content-encoding", "identity").lower() not in ("identity", ""):
        # the code's default text ("use gzip, x-gzip ou deflate") is INFODIP intake's; a batch is never compressed
        raise MalformedRequest(f"{family}-E013", "Lotes não aceitam Content-Encoding: envie o corpo sem compressão.",
                               field="Content-Encoding")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise MalformedRequest(f"{family}-E004", f"O limite é {limit} bytes.", field="corpo")
    fd, name = tempfile.mkstemp(prefix=PREFIX, suffix=SUFFIX, dir=directory or None)
    path = Path(name)
    size = 0
    passed = gate is None
    try:
        with os.fdopen(fd, "wb") as out:
            async for piece in request.stream():
                size += len(piece)
                if size > limit:
                    raise MalformedRequest(f"{family}-E004", f"O limite é {limit} bytes.", field="corpo")
                out.write(piece)
                if not passed and piece:
                    assert gate is not None
                    passed = await gate(piece)
            if not passed:
                assert gate is not None
                await gate(None)
    except ClientDisconnect:
        discard(path)
        raise MalformedRequest(f"{family}-E001", "Corpo incompleto: o cliente encerrou a conexão.") from None
    except BaseException:
        discard(path)
        raise
    return path


__all__ = ["Gate", "discard", "spool"]
