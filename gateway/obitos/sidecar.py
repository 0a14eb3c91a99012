"""The files of a spooled death batch: the body (``lote-<random>.part``) and, while the batch is being stored, its
sidecar (``<file>.json``: the sender's organ and user, the channel, the batch id, a digest of the database URL) —
what :mod:`gateway.obitos.spooled` needs to resume it after a restart. Both are removed together (:func:`discard`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

from gateway.auth import Caller

#: the spooled files' names: ``lote-<random>.part`` (and the sidecar ``lote-<random>.part.json``)
PREFIX, SUFFIX, SIDECAR = "lote-", ".part", ".json"


def spool_dir(directory: str) -> Path:
    """Where batches are spooled: *directory* (``GATEWAY_OBITOS_SPOOL_DIR``) or the system's temporary directory."""
    return Path(directory or tempfile.gettempdir())


def sidecar_of(path: Path) -> Path:
    """The sidecar of the spooled file *path*."""
    return path.with_name(path.name + SIDECAR)


def discard(path: Path) -> None:
    """Remove a spooled file and its sidecar (already gone: nothing to do)."""
    for file in (sidecar_of(path), path):
        with contextlib.suppress(FileNotFoundError):
            file.unlink()


def database_key(url: str) -> str:
    """A digest naming the database of *url* (the URL itself, with its password, is never written)."""
    return hashlib.sha256(url.encode()).hexdigest()[:24]


def write_sidecar(path: Path, caller: Caller, channel: str, lote_id: str, database_url: str) -> None:
    """Write the sidecar of the spooled batch *path* (mode 0600, written then renamed: never half a file)."""
    side = sidecar_of(path)
    tmp = side.with_name(side.name + ".tmp")
    data = json.dumps({"organ_id": caller.organ_id, "username": caller.username, "channel": channel,
                       "lote_id": lote_id, "db": database_key(database_url)}).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, side)
