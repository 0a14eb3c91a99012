"""The MNI hub's storage: where processes live (``mni_process_locations``), the avisos seen (``mni_avisos``),
filings and their answers (``mni_filings``), the clients' credentials (read through
:class:`~gateway.hub.credentials.CredentialStore`) and one audit entry per call.

Reads use the reader engine (short, blocking: call them from a worker thread where a wait matters); writes are
*jobs* of the group committer, run by :func:`write`. Every database failure becomes
:class:`~gateway.errors.StorageUnavailable` with ``MNI-E091``; a job's business refusal (a live filing under the same
key: :class:`~gateway.errors.Conflict`, ``MNI-E050``) passes unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.clock import utc
from gateway.db.committer import GroupCommitter, Job, WriteContext
from gateway.db.tables import mni_avisos, mni_filings, mni_process_locations
from gateway.errors import ClientError, GatewayError
from gateway.hub.credentials import CredentialStore, TribunalCredential
from gateway.hub.domain import Filing, FilingState, SeenAviso, expiry
from gateway.hub.registry import Installation
from gateway.mni.errors import hub_error

T = TypeVar("T")


@contextmanager
def _reading(reader: Engine) -> Iterator[Connection]:
    try:
        with reader.connect() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise hub_error("MNI-E091", f"({type(exc).__name__})") from exc


async def write(committer: GroupCommitter, job: Job[T]) -> T:
    """Run *job* in the next group commit and return its result once durable.

    Raises the job's :class:`~gateway.errors.ClientError` (a business refusal) as is; a failure of the storage
    (the committer's ``ServerError`` ``…-E091``) as ``MNI-E091`` (:class:`~gateway.errors.StorageUnavailable`),
    and a job that failed otherwise (the committer's ``…-E090``, a bug) as ``MNI-E090``."""
    try:
        return await committer.run(job)
    except ClientError:
        raise
    except GatewayError as exc:
        raise hub_error("MNI-E090" if exc.code.endswith("-E090") else "MNI-E091", f"({exc.code})") from exc


# -- reads ------------------------------------------------------------------------------------------------------


def located_instance(reader: Engine, jtr: str, number: str) -> str | None:
    """The instance of tribunal *jtr* remembered to hold process *number*, or None."""
    with _reading(reader) as conn:
        return conn.execute(select(mni_process_locations.c.instance).where(
            mni_process_locations.c.jtr == jtr,
            mni_process_locations.c.process_number == number)).scalar_one_or_none()


def aviso_places(reader: Engine, organ_id: int, aviso_id: str) -> set[tuple[str, str]]:
    """Every ``(J.TR, instance)`` that listed aviso *aviso_id* to client *organ_id*."""
    with _reading(reader) as conn:
        rows = conn.execute(select(mni_avisos.c.jtr, mni_avisos.c.instance).where(
            mni_avisos.c.organ_id == organ_id, mni_avisos.c.aviso_id == aviso_id)).all()
    return {(r.jtr, r.instance) for r in rows}


def filing(reader: Engine, key: str) -> Filing | None:
    """The filing remembered under *key* (expired or not: :func:`gateway.hub.domain.next_step` decides)."""
    with _reading(reader) as conn:
        row = conn.execute(select(mni_filings.c.state, mni_filings.c.response, mni_filings.c.expires_at,
                                  mni_filings.c.document_digests)
                           .where(mni_filings.c.filing_key == key)).first()
    if row is None:
        return None
    documents_hash = json.loads(row.document_digests or "{}").get("hashDocumentos")
    return Filing(FilingState(row.state), row.response, utc(row.expires_at), documents_hash)


def credential(reader: Engine, credentials: CredentialStore, organ_id: int, jtr: str,
               instance: str) -> TribunalCredential | None:
    """The decrypted credential of client *organ_id* towards ``jtr/instance``, or None when none is configured."""
    with _reading(reader) as conn:
        return credentials.get(conn, organ_id, jtr, instance)


# -- jobs of the group committer --------------------------------------------------------------------------------


def remember_location(jtr: str, number: str, instance: str) -> Job[None]:
    """A job remembering that process *number* lives in ``jtr/instance`` (insert or update)."""

    def job(ctx: WriteContext) -> None:
        now = ctx.clock.now()
        done = ctx.conn.execute(update(mni_process_locations).where(
            mni_process_locations.c.jtr == jtr, mni_process_locations.c.process_number == number).values(
            instance=instance, updated_at=now)).rowcount
        if not done:
            ctx.conn.execute(insert(mni_process_locations).values(jtr=jtr, process_number=number,
                                                                  instance=instance, updated_at=now))
    return job


def remember_avisos(organ_id: int, seen: Sequence[SeenAviso], now: datetime) -> Job[None]:
    """A job remembering the avisos *seen* by client *organ_id* (those already remembered are kept as they are)."""

    def job(ctx: WriteContext) -> None:
        for item in seen:
            exists = ctx.conn.execute(select(mni_avisos.c.aviso_id).where(
                mni_avisos.c.organ_id == organ_id, mni_avisos.c.aviso_id == item.aviso_id,
                mni_avisos.c.jtr == item.jtr, mni_avisos.c.instance == item.instance)).first()
            if exists is None:
                ctx.conn.execute(insert(mni_avisos).values(
                    organ_id=organ_id, aviso_id=item.aviso_id, jtr=item.jtr, instance=item.instance,
                    process_number=item.process_number, seen_at=now))
    return job


def start_filing(key: str, organ_id: int, inst: Installation, number: str | None, document_digests: Sequence[str],
                 documents_hash: str | None, now: datetime, ttl: timedelta) -> Job[None]:
    """A job recording a filing as ``sending`` under *key* until ``now + ttl``, with the documents' digests and
    the process's *documents_hash* read before sending (what a reconciliation compares).

    Raises ``MNI-E050`` (:class:`~gateway.errors.Conflict`, before writing) when a live filing holds the key —
    another request of the same filing got there first (in this process, or in another one: its insert then
    fails on the key and the committer runs the job again, which sees the row). An expired one is forgotten."""

    def job(ctx: WriteContext) -> None:
        conn = ctx.conn
        live = conn.execute(select(mni_filings.c.state).where(
            mni_filings.c.filing_key == key, mni_filings.c.expires_at >= now)).first()
        if live is not None:
            raise hub_error("MNI-E050", "A mesma manifestação está sendo entregue.")
        conn.execute(delete(mni_filings).where(mni_filings.c.filing_key == key))
        conn.execute(insert(mni_filings).values(
            filing_key=key, organ_id=organ_id, jtr=inst.jtr, instance=inst.instance, process_number=number,
            state=FilingState.SENDING.value,
            document_digests=json.dumps({"documentos": list(document_digests), "hashDocumentos": documents_hash}),
            created_at=now, updated_at=now, expires_at=expiry(now, ttl)))
    return job


def settle_filing(key: str, state: FilingState | None, protocol: str | None = None,
                  response: bytes | None = None) -> Job[None]:
    """A job moving the filing under *key* to *state* with the tribunal's *protocol* and the *response* given to
    the client; *state* None forgets it (nothing was filed: the client may send it again)."""

    def job(ctx: WriteContext) -> None:
        if state is None:
            ctx.conn.execute(delete(mni_filings).where(mni_filings.c.filing_key == key))
            return
        ctx.conn.execute(update(mni_filings).where(mni_filings.c.filing_key == key).values(
            state=state.value, protocol=protocol, response=response, updated_at=ctx.clock.now()))
    return job


def audit_call(operation: str, at: datetime, organ_id: int | None, request_digest: str,
               detail: Mapping[str, Any]) -> Job[None]:
    """A job appending the audit entry ``mni.<operation>`` of one call (ids and digests, never a password)."""

    def job(ctx: WriteContext) -> None:
        ctx.audit.append(ctx.conn, f"mni.{operation}", at, organ_id=organ_id, payload_digest=request_digest,
                         detail=detail)
    return job
