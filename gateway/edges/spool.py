"""Spooling a large request body to a temporary file: a death batch is never held in memory (issue 13 §3)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from starlette.requests import ClientDisconnect, Request

from gateway.errors import MalformedRequest


async def spool(request: Request, limit: int, directory: str = "", family: str = "INFODIP") -> Path:
    """Write *request*'s body to a new temporary file (mode 0600, in *directory* or the system's) and return its
    path; the caller removes it (:func:`discard`). Errors: ``<family>-E004`` over *limit* bytes (by
    Content-Length at once, else as soon as the limit is passed), ``E001`` when the client leaves before the body
    is complete. A compressed body (Content-Encoding) is ``E013``: batches are sent as they are."""
    if request.headers.get("content-encoding", "identity").lower() not in ("identity", ""):
        raise MalformedRequest(f"{family}-E013", field="Content-Encoding")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise MalformedRequest(f"{family}-E004", f"O limite é {limit} bytes.", field="corpo")
    fd, name = tempfile.mkstemp(prefix="lote-", suffix=".part", dir=directory or None)
    path = Path(name)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for piece in request.stream():
                size += len(piece)
                if size > limit:
                    raise MalformedRequest(f"{family}-E004", f"O limite é {limit} bytes.", field="corpo")
                out.write(piece)
    except ClientDisconnect:
        discard(path)
        raise MalformedRequest(f"{family}-E001", "Corpo incompleto: o cliente encerrou a conexão.") from None
    except BaseException:
        discard(path)
        raise
    return path


def discard(path: Path) -> None:
    """Remove a spooled file (already gone: nothing to do)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
