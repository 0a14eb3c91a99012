"""The INFODIP application service: accept, correct, withdraw and read communications.

Every acceptance is one transaction (run by the group committer) writing the version, its outbox rows (one per
destination) and its audit entry — or nothing. The sender's own reference is the idempotency key: the same key with
the same payload (exclusive C14N of the communication) returns the stored receipt, the same key with another payload
is refused (INFODIP-E050).

Render once, store the bytes, send those bytes, hash those bytes: a version's ``payload_digest`` — stored and
audited — is the SHA-256 of exactly the bytes stored (and sent by the relay); for a retificação the protocol it
corrects is compared beside it, so that it stays part of the idempotency key.

A destination that joins a history (a retificação now routed where the earlier versions were not) receives the
history from its first version, in order: the earlier versions get outbox rows towards it too, the first pending,
the others and the new version blocked behind it (``gateway/infodip/routing.py``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

import anyio.to_thread
from lxml import etree
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection, Engine

from gateway.auth import Caller
from gateway.clock import Clock, new_message_id, new_protocol, utc
from gateway.consulta import facts as consulta_facts
from gateway.db.committer import GroupCommitter, WriteContext
from gateway.db.tables import communications, messages, outbox
from gateway.errors import Conflict, NotFound, ValidationFailed
from gateway.infodip import contract, feed
from gateway.infodip.deadlines import Deadline, local_today
from gateway.infodip.domain import Communication, Kind
from gateway.infodip.intake import Checked, IntakeChecks
from gateway.infodip.records import CommunicationView, DeliveryView, Receipt, VersionView, store_outcomes
from gateway.infodip.routing import DESTINATIONS, destinations_for

ENVIO, RETIFICACAO, CANCELAMENTO = "envio", "retificacao", "cancelamento"
log = logging.getLogger("gateway.infodip")


class InfodipService:
    """Use cases of the INFODIP webservice (and later of the web form and registry batches)."""

    def __init__(self, checks: IntakeChecks, committer: GroupCommitter, reader: Engine, clock: Clock) -> None:
        self.checks = checks
        self.committer = committer
        self.reader = reader
        self.clock = clock
        self.tz = checks.tz
        #: called after each new version is durably stored (bootstrap adds the relay's wake-up)
        self.listeners: list[Callable[[], None]] = []
        #: called inside the transaction of each envio and retificação with (connection, protocol, communication,
        #: version — 1 for an envio): what other contexts keep of the current version in the same commit (bootstrap
        #: adds the consultation's person index, gateway/consulta/store.py)
        self.stored_hooks: list[Callable[[Connection, str, Communication, int], None]] = []
        #: called inside the transaction of each new communication (an envio) with (write context, its
        #: ``communications`` row), and of each cancelamento with (write context, protocol, kind, organ id): the
        #: public statistics' counts (bootstrap adds gateway/estatisticas/store.py's, which defer their writes to the
        #: end of the group transaction through the context)
        self.accepted_hooks: list[Callable[[WriteContext, dict[str, Any]], None]] = []
        self.withdrawn_hooks: list[Callable[[WriteContext, str, str, int], None]] = []
        #: a retificação changed the communication's person: (write context, protocol, kind, organ id, old key, new
        #: key), in the storing transaction (issue 15: the statistics move the communication to the other person)
        self.rekeyed_hooks: list[Callable[[WriteContext, str, str, int, str, str], None]] = []

    def _notify(self, receipt: Receipt) -> Receipt:
        log.info("versão aceita", extra={"message_id": receipt.message_id, "protocol": receipt.protocol,
                                         "version": receipt.version, "operation": receipt.operation,
                                         "replay": receipt.replay, "late": receipt.late,
                                         "destinations": list(receipt.destinations)})
        if not receipt.replay:
            for listener in self.listeners:
                listener()
        return receipt

    # -- use cases -------------------------------------------------------------------------------------------

    async def handle(self, caller: Caller, element: etree._Element) -> Receipt | CommunicationView:
        """One INFODIP operation (the SOAP body's element) from the authenticated *caller*: the intake checks
        (:meth:`IntakeChecks.check`), then the use case the operation names. Returns the receipt of the stored
        version, or the communication for a consultation. Errors: the checks' and the use cases' ClientError codes
        (INFODIP-E009…E053); StorageUnavailable (INFODIP-E091) when nothing could be stored."""
        checked = self.checks.check(element, caller, self.clock.now())
        operation = checked.request.operation
        if operation == contract.CONSULTAR:
            return await self.consultation(caller, checked.request.protocol or "", channel="soap")
        if operation == contract.CANCELAR:
            return await self.cancel(caller, checked)
        if operation == contract.RETIFICAR:
            return await self.retify(caller, checked)
        return await self.submit(caller, checked)

    async def submit(self, caller: Caller, checked: Checked) -> Receipt:
        """Accept a new communication (or return the receipt of the identical one already accepted)."""
        req, now, deadline = checked.request, checked.received_at, checked.deadline
        comm = req.communication
        assert comm is not None  # an envio carries its communication
        digest = _digest(req)

        def job(ctx: WriteContext) -> Receipt:
            replay = _replay(ctx.conn, caller, req.reference, digest)
            if replay is not None:
                return replay
            protocol = new_protocol(local_today(now, self.tz))
            duplicate_of = _earlier_same_fact(ctx.conn, comm)
            ended = _ended_conviction_destinations(ctx.conn, comm) if comm.kind is Kind.V else None
            dests = destinations_for(comm, ended)
            row = {
                "protocol": protocol, "kind": comm.kind.value, "organ_id": caller.organ_id,
                "person_key": comm.person.key, "process_number": comm.process_number, "fact_date": comm.fact_date,
                "status": "ativa", "current_version": 1, "duplicate_of": duplicate_of, "created_at": now,
                "updated_at": now}
            ctx.conn.execute(_INSERT_COMMUNICATION, row)
            for hook in self.stored_hooks:
                hook(ctx.conn, protocol, comm, 1)
            for accepted in self.accepted_hooks:
                accepted(ctx, row)
            return _store_version(ctx, caller, protocol, 1, ENVIO, digest, comm.kind.value, req, now, deadline,
                                  dests, duplicate_of, previous=None)

        return self._notify(await self.committer.run(job))

    async def retify(self, caller: Caller, checked: Checked) -> Receipt:
        """Store a correction of the request's protocol as its next version."""
        req, now, deadline = checked.request, checked.received_at, checked.deadline
        comm, protocol = req.communication, req.protocol or ""
        assert comm is not None  # a retificação carries the corrected communication
        digest = _digest(req)

        def job(ctx: WriteContext) -> Receipt:
            replay = _replay(ctx.conn, caller, req.reference, digest, protocol)
            if replay is not None:
                return replay
            current = _load_for_change(ctx.conn, caller, protocol)
            if comm.kind.value != current["kind"]:
                raise ValidationFailed("INFODIP-E053", field="comunicacao/@tipo")
            version = current["current_version"] + 1
            ended = _ended_conviction_destinations(ctx.conn, comm) if comm.kind is Kind.V else None
            earlier = _destinations_of(ctx.conn, protocol)
            wanted = destinations_for(comm, ended)
            dests = tuple(d for d in DESTINATIONS if d in earlier or d in wanted)
            joining = tuple(d for d in dests if d not in earlier)
            ctx.conn.execute(update(communications).where(communications.c.protocol == protocol).values(
                current_version=version, person_key=comm.person.key, process_number=comm.process_number,
                fact_date=comm.fact_date, updated_at=now))
            if comm.person.key != current["person_key"]:
                for rekeyed in self.rekeyed_hooks:
                    rekeyed(ctx, protocol, current["kind"], current["organ_id"], current["person_key"],
                            comm.person.key)
            if joining:
                _send_history(ctx, protocol, version, joining, now)
            for hook in self.stored_hooks:
                hook(ctx.conn, protocol, comm, version)
            return _store_version(ctx, caller, protocol, version, RETIFICACAO, digest, comm.kind.value, req, now,
                                  deadline, dests, current["duplicate_of"], previous=version - 1, joining=joining)

        return self._notify(await self.committer.run(job))

    async def cancel(self, caller: Caller, checked: Checked) -> Receipt:
        """Withdraw the request's protocol: a new version recording the cancellation; the history is kept."""
        req, now, protocol = checked.request, checked.received_at, checked.request.protocol or ""
        digest = _digest(req)

        def job(ctx: WriteContext) -> Receipt:
            replay = _replay(ctx.conn, caller, req.reference, digest, protocol)
            if replay is not None:
                return replay
            current = _load_for_change(ctx.conn, caller, protocol)
            version = current["current_version"] + 1
            dests = _destinations_of(ctx.conn, protocol)
            ctx.conn.execute(update(communications).where(communications.c.protocol == protocol).values(
                current_version=version, status="cancelada", updated_at=now))
            for withdrawn in self.withdrawn_hooks:
                withdrawn(ctx, protocol, current["kind"], current["organ_id"])
            return _store_version(ctx, caller, protocol, version, CANCELAMENTO, digest, current["kind"], req, now,
                                  None, dests, current["duplicate_of"], previous=version - 1,
                                  cancel_reason=req.reason)

        return self._notify(await self.committer.run(job))

    async def consultation(self, caller: Caller, protocol: str, *, channel: str) -> CommunicationView:
        """:meth:`consult` off the event loop, then its audit entry ``consulta.comunicacao`` (who — the credential —,
        which protocol, through which *channel*), durable before the answer: a consultation returns personal data
        (LGPD art. 37, accountability). Errors: as :meth:`consult`; StorageUnavailable (INFODIP-E091) when the
        entry cannot be written (nothing is answered then)."""
        view = await anyio.to_thread.run_sync(self.consult, caller, protocol)
        at = self.clock.now()

        def job(ctx: WriteContext) -> None:
            ctx.audit.append(ctx.conn, "consulta.comunicacao", at, organ_id=caller.organ_id, protocol=protocol,
                             detail={"usuario": caller.username, "canal": channel})

        await self.committer.run(job)
        return view

    def consult(self, caller: Caller, protocol: str) -> CommunicationView:
        """The communication *protocol* with every version, delivery and the stores' processing outcome of each
        version (only for its sending organ; another organ's protocol is INFODIP-E051, as an unknown one)."""
        with self.reader.connect() as conn:
            comm = conn.execute(select(communications).where(communications.c.protocol == protocol)).mappings().first()
            if comm is None or comm["organ_id"] != caller.organ_id:
                raise NotFound("INFODIP-E051", field="protocolo")
            rows = conn.execute(select(messages).where(messages.c.protocol == protocol)
                                .order_by(messages.c.version)).mappings().all()
            deliveries = conn.execute(select(outbox).where(outbox.c.protocol == protocol)
                                      .order_by(outbox.c.version, outbox.c.destination)).mappings().all()
            reported = store_outcomes(conn, (r["message_id"] for r in rows))
        versions = tuple(VersionView(r["version"], r["operation"], r["message_id"], r["sender_reference"],
                                     utc(r["received_at"]), r["late"], r["cancel_reason"], r["payload"],
                                     reported.get(r["message_id"], ())) for r in rows)
        current_payload = next(v.payload for v in reversed(versions) if v.operation != CANCELAMENTO)
        return CommunicationView(
            protocol=protocol, kind=comm["kind"], status=comm["status"], current_version=comm["current_version"],
            current_payload=current_payload, versions=versions,
            deliveries=tuple(DeliveryView(d["version"], d["destination"], d["status"], d["attempts"], d["receipt"],
                                          d["last_error"], utc(d["updated_at"])) for d in deliveries),
        )


# -- transaction helpers (run inside the writer's transaction) --------------------------------------------------
# Hot-path statements are built once: executing a constant statement with a parameter dict reuses SQLAlchemy's
# compiled form, where building ``.values(...)``/``.where(...)`` per request would recompile it.

_Q_BY_REFERENCE = select(messages).where(messages.c.organ_id == bindparam("organ_id"),
                                         messages.c.sender_reference == bindparam("reference"))
_Q_SAME_FACT = select(communications.c.protocol).where(
    communications.c.person_key == bindparam("person_key"),
    communications.c.process_number == bindparam("process_number"),
    communications.c.kind == bindparam("kind"),
    communications.c.fact_date == bindparam("fact_date"),
    communications.c.status == "ativa",
).order_by(communications.c.created_at).limit(1)
_Q_SAME_FACT_NO_PROCESS = select(communications.c.protocol).where(
    communications.c.person_key == bindparam("person_key"),
    communications.c.process_number.is_(None),
    communications.c.kind == bindparam("kind"),
    communications.c.fact_date == bindparam("fact_date"),
    communications.c.status == "ativa",
).order_by(communications.c.created_at).limit(1)
_Q_DESTINATIONS_OF_MESSAGE = select(outbox.c.destination).where(outbox.c.message_id == bindparam("message_id"))
_INSERT_COMMUNICATION = insert(communications)
_INSERT_MESSAGE = insert(messages)
_INSERT_OUTBOX = insert(outbox)


def _digest(req: contract.Request) -> str:
    """SHA-256 (hex) of the bytes stored for the version: what is stored, audited and sent is what is hashed."""
    return hashlib.sha256(req.payload).hexdigest()


def _replay(conn: Connection, caller: Caller, reference: str, digest: str,
            protocol: str | None = None) -> Receipt | None:
    """The stored receipt when *reference* was used already by the caller's organ with the same bytes (and, for a
    retificação or a cancelamento, on the same *protocol*); None when unused. Errors: Conflict INFODIP-E050."""
    row = conn.execute(_Q_BY_REFERENCE, {"organ_id": caller.organ_id, "reference": reference}).mappings().first()
    if row is None:
        return None
    if row["payload_digest"] != digest or (protocol is not None and row["protocol"] != protocol):
        raise Conflict("INFODIP-E050", f"A referência {reference} já foi usada com outro conteúdo "
                                       f"(protocolo {row['protocol']}).", field="referenciaRemetente")
    comm = conn.execute(select(communications.c.duplicate_of, communications.c.kind).where(
        communications.c.protocol == row["protocol"])).one()
    stored = {r.destination for r in conn.execute(_Q_DESTINATIONS_OF_MESSAGE, {"message_id": row["message_id"]})}
    dests = tuple(d for d in DESTINATIONS if d in stored)
    return Receipt(
        protocol=row["protocol"], version=row["version"], message_id=row["message_id"], operation=row["operation"],
        kind=comm.kind, received_at=utc(row["received_at"]), replay=True, due_date=row["due_date"], late=row["late"],
        days_late=row["days_late"], duplicate_of=comm.duplicate_of, destinations=dests)


def _load_for_change(conn: Connection, caller: Caller, protocol: str) -> Any:
    current = conn.execute(select(communications).where(communications.c.protocol == protocol)).mappings().first()
    if current is None or current["organ_id"] != caller.organ_id:
        raise NotFound("INFODIP-E051", f"Protocolo {protocol} não encontrado para este órgão.", field="protocolo")
    if current["status"] == "cancelada":
        raise Conflict("INFODIP-E052", field="protocolo")
    return current


def _earlier_same_fact(conn: Connection, comm: Communication) -> str | None:
    return earlier_same_fact(conn, comm.person.key, comm.kind.value, comm.fact_date, comm.process_number)


def earlier_same_fact(conn: Connection, person_key: str, kind: str, fact_date: date,
                      process_number: str | None) -> str | None:
    """The protocol of the earliest active communication stating the same fact (person key, kind, fact date and
    process — or no process), which a repeated fact is linked to (``duplicate_of``); None when there is none. For
    every writer of communications: intake, the history import."""
    params = {"person_key": person_key, "kind": kind, "fact_date": fact_date}
    if process_number:
        row = conn.execute(_Q_SAME_FACT, {**params, "process_number": process_number}).first()
    else:
        row = conn.execute(_Q_SAME_FACT_NO_PROCESS, params).first()
    return row.protocol if row else None


def _destinations_of(conn: Connection, protocol: str) -> tuple[str, ...]:
    stored = {r.destination for r in conn.execute(select(outbox.c.destination).where(outbox.c.protocol == protocol))}
    return tuple(d for d in DESTINATIONS if d in stored)


def _ended_conviction_destinations(conn: Connection, comm: Communication) -> tuple[str, ...]:
    """Destinations of the criminal conviction (IV) that an extinção (V) ends."""
    protocol = comm.linked_protocol
    if protocol is None and comm.process_number:
        row = conn.execute(select(communications.c.protocol).where(
            communications.c.person_key == comm.person.key, communications.c.process_number == comm.process_number,
            communications.c.kind == Kind.IV.value).order_by(communications.c.created_at.desc()).limit(1)).first()
        protocol = row.protocol if row else None
    return _destinations_of(conn, protocol) if protocol else ()


def _send_history(ctx: WriteContext, protocol: str, version: int, joining: Iterable[str], now: datetime) -> None:
    """Queue the versions before *version* of *protocol* towards each destination of *joining* (new to the
    history): the first pending, the later ones blocked behind it, so the destination receives the history from its
    first version, in order (the new version itself is queued blocked by :func:`_store_version`); the change feed
    gives them to that destination too, in the same order."""
    conn = ctx.conn
    earlier = conn.execute(select(messages.c.message_id, messages.c.version).where(
        messages.c.protocol == protocol, messages.c.version < version).order_by(messages.c.version)).all()
    rows = [{"message_id": m.message_id, "protocol": protocol, "version": m.version, "destination": d,
             "status": "pending" if i == 0 else "blocked", "attempts": 0, "next_attempt_at": now,
             "created_at": now, "updated_at": now}
            for d in joining for i, m in enumerate(earlier)]
    if rows:
        conn.execute(_INSERT_OUTBOX, rows)
        feed.record(ctx, ((r["message_id"], protocol, r["version"], r["destination"]) for r in rows))


def _store_version(ctx: WriteContext, caller: Caller, protocol: str, version: int, operation: str, digest: str,
                   kind: str, req: contract.Request, now: datetime, deadline: Deadline | None,
                   destinations: Iterable[str], duplicate_of: str | None, previous: int | None,
                   cancel_reason: str | None = None, joining: tuple[str, ...] = ()) -> Receipt:
    message_id = new_message_id()
    conn = ctx.conn
    # an envio's new protocol is read by no other job of the transaction (nobody knows it yet): its message and
    # outbox rows go into the group's multi-row inserts before the commit; a retificação's or cancelamento's are
    # read by a later change of the same protocol in the same transaction (versions waiting, history), so they are
    # inserted now. A reference reused within one group breaks uq_messages_sender_reference at the commit: the
    # committer then runs the jobs one by one and the second finds the first (an idempotent replay).
    deferred = previous is None
    message = {
        "message_id": message_id, "protocol": protocol, "version": version, "operation": operation,
        "organ_id": caller.organ_id, "sender_reference": req.reference, "payload_digest": digest,
        "payload": req.payload, "received_at": now, "due_date": deadline.due if deadline else None,
        "late": deadline.late if deadline else False, "days_late": deadline.days_late if deadline else 0,
        "cancel_reason": cancel_reason,
        # the consultation's timeline facts, from the communication already read (no second parse; a cancelamento
        # has none): a consultation then decodes them instead of parsing the payload (gateway/consulta/facts.py)
        "facts": consulta_facts.encode(req.communication) if req.communication is not None else None}
    if deferred:
        ctx.insert_later(messages, (message,))
    else:
        conn.execute(_INSERT_MESSAGE, message)
    dests = tuple(destinations)
    waiting: set[str] = set()
    if previous is not None:
        waiting = {r.destination for r in conn.execute(
            select(outbox.c.destination).where(outbox.c.protocol == protocol, outbox.c.version < version,
                                               outbox.c.status != "delivered"))}
    rows = [
        {"message_id": message_id, "protocol": protocol, "version": version, "destination": d,
         # a later version waits ("blocked") while an earlier one has not reached that destination (order within
         # a history); the relay releases it (gateway.db.outbox.release_blocked)
         "status": "blocked" if d in waiting else "pending",
         "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now}
        for d in dests
    ]
    if rows:
        if deferred:
            ctx.insert_later(outbox, rows)
        else:
            conn.execute(_INSERT_OUTBOX, rows)
        feed.record(ctx, ((message_id, protocol, version, d) for d in dests))
    ctx.audit_append(f"infodip.{operation}", now, organ_id=caller.organ_id, message_id=message_id,
                     protocol=protocol, payload_digest=digest,
                     detail={"versao": version, "destinos": list(dests), "usuario": caller.username,
                             "emAtraso": bool(deadline and deadline.late), "duplicidade": duplicate_of,
                             **({"destinosComHistorico": list(joining)} if joining else {})})
    return Receipt(protocol=protocol, version=version, message_id=message_id, operation=operation, kind=kind,
                   received_at=now, replay=False, due_date=deadline.due if deadline else None,
                   late=bool(deadline and deadline.late), days_late=deadline.days_late if deadline else 0,
                   duplicate_of=duplicate_of, destinations=dests)

