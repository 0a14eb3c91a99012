"""Spooled death batches across restarts: resume what a crash interrupted, remove what is too old (issue 13).

A batch being stored keeps its spooled body (``lote-<random>.part`` in ``GATEWAY_OBITOS_SPOOL_DIR``, or the
system's temporary directory) and a **sidecar** beside it (``<file>.json``): the sender's organ and user, the
channel, the batch id and a digest of the database URL — so a gateway never picks up a batch meant for another
database sharing the directory. Both are removed when the batch is stored (or refused).

At start (:func:`resume_all`) every sidecar of this database is read: a batch still ``processando`` is opened again
— the chunks already committed are checked against their digests and skipped, exactly as for a resend — and stored
in the background; a batch concluded meanwhile (a resend finished it) or unknown is discarded. Every hour
(:func:`sweep`) spooled files older than ``GATEWAY_OBITOS_SPOOL_MAX_AGE_H`` are removed with their sidecars, and a
spooled file without a sidecar (a request that never got that far) once it is older than an hour; a batch whose file
is removed stays ``processando`` until its sender resends it (which continues it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from gateway.auth import Caller
from gateway.db.tables import obito_lotes, organs
from gateway.infodip.domain import Kind
from gateway.mni.spill import PREFIX as SPILL_PREFIX
from gateway.mni.spill import SUFFIX as SPILL_SUFFIX
from gateway.obitos import contract
from gateway.obitos.sidecar import PREFIX, SIDECAR, SUFFIX, database_key, discard, sidecar_of, spool_dir
from gateway.organs import OrganType

if TYPE_CHECKING:
    from gateway.obitos.service import ObitosService

log = logging.getLogger("gateway.obitos")
#: how often the spool directory is swept (seconds)
SWEEP_EVERY_S = 3600.0
#: a spooled file without a sidecar older than this is a leftover (seconds)
ORPHAN_AGE_S = 3600.0


def sweep(directory: Path, max_age_s: float, now: float | None = None) -> int:
    """Remove the spooled batches of *directory* older than *max_age_s* seconds (with their sidecars), spooled
    files without a sidecar older than an hour, and the MNI hub's spill files (:mod:`gateway.mni.spill`, removed
    when their call ends) left by a crash, older than an hour; returns how many files were removed."""
    now = time.time() if now is None else now
    removed = 0
    for path in directory.glob(f"{PREFIX}*{SUFFIX}"):
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if age > max_age_s or (age > min(ORPHAN_AGE_S, max_age_s) and not sidecar_of(path).exists()):
            discard(path)
            removed += 1
    for side in directory.glob(f"{PREFIX}*{SUFFIX}{SIDECAR}"):  # a sidecar whose file is gone
        if not side.with_name(side.name[:-len(SIDECAR)]).exists():
            with contextlib.suppress(FileNotFoundError):
                side.unlink()
    for spilled in directory.glob(f"{SPILL_PREFIX}*{SPILL_SUFFIX}"):  # the MNI hub's, left by a crash
        try:
            if now - spilled.stat().st_mtime > min(ORPHAN_AGE_S, max_age_s):
                spilled.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def _pending(service: ObitosService) -> list[tuple[Path, dict[str, Any]]]:
    """The spooled batches of this database with a sidecar, younger than the maximum age (an older one is left to
    the sweep, which removes it: resuming it would race with that)."""
    directory = spool_dir(service.settings.obitos_spool_dir)
    mine = database_key(service.settings.database_url)
    oldest = time.time() - service.settings.obitos_spool_max_age_h * 3600
    found = []
    for side in sorted(directory.glob(f"{PREFIX}*{SUFFIX}{SIDECAR}")):
        path = side.with_name(side.name[:-len(SIDECAR)])
        try:
            meta = json.loads(side.read_bytes())
            young = path.stat().st_mtime >= oldest
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("db") == mine and young:
            found.append((path, meta))
    return found


def _caller(service: ObitosService, meta: dict[str, Any]) -> Caller | None:
    with service.reader.connect() as conn:
        row = conn.execute(select(organs.c.code, organs.c.organ_type).where(
            organs.c.id == meta["organ_id"])).first()
        if row is None:
            return None
        status = conn.execute(select(obito_lotes.c.status).where(
            obito_lotes.c.organ_id == meta["organ_id"], obito_lotes.c.lote_id == meta["lote_id"])).scalar()
    if status != "processando":
        return None
    return Caller(str(meta["username"]), int(meta["organ_id"]), row.code, OrganType(row.organ_type),
                  frozenset({Kind.VI}))


def _reader(path: Path, channel: str) -> contract.BatchReader:
    if channel == "soap":
        return contract.XmlBatch(path, contract.read_call(path))
    return contract.JsonBatch(path)


async def resume_all(service: ObitosService) -> int:
    """Resume in the background every batch of this database interrupted with its spooled file (module
    docstring); returns how many were resumed. A batch that cannot be opened again is logged and discarded."""
    loop = asyncio.get_running_loop()
    resumed = 0
    for path, meta in await loop.run_in_executor(None, _pending, service):
        try:
            caller = await loop.run_in_executor(None, _caller, service, meta)
            if caller is None:  # concluded meanwhile (a resend finished it), or its organ is gone
                discard(path)
                continue
            batch = await loop.run_in_executor(None, _reader, path, str(meta.get("channel", "rest")))
            state, covered = await loop.run_in_executor(None, service.open, caller, batch,
                                                        str(meta.get("channel", "rest")))
        except Exception:
            log.exception("lote de óbitos em spool não pôde ser retomado", extra={"lote": meta.get("lote_id")})
            discard(path)
            continue
        log.info("lote de óbitos retomado após reinício", extra={"lote": meta.get("lote_id"),
                                                                 "blocos": state.chunks_done})
        service.in_background(caller, batch, state, covered, on_done=lambda p=path: discard(p))  # type: ignore[misc]
        resumed += 1
    return resumed


async def run_forever(service: ObitosService, stop: asyncio.Event) -> None:
    """Resume the interrupted batches, then sweep the spool directory at once and every hour until *stop*."""
    try:
        await resume_all(service)
    except Exception:
        log.exception("retomada dos lotes de óbitos em spool falhou")
    directory = spool_dir(service.settings.obitos_spool_dir)
    max_age = service.settings.obitos_spool_max_age_h * 3600
    while not stop.is_set():
        try:
            await asyncio.get_running_loop().run_in_executor(None, sweep, directory, max_age)
        except OSError:
            log.exception("limpeza do spool de lotes falhou")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SWEEP_EVERY_S)
