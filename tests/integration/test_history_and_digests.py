"""Histories whose destinations change, and digests that cover the bytes (issue 9, points 2 and 6), on a real
database (SQLite file and PostgreSQL): the gateway in-process takes the requests, a relay with scripted partners
delivers what it queued."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import select

from adapters.fake import FakeAdapter
from gateway.bootstrap import create_app
from gateway.clock import SystemClock
from gateway.db.engine import is_sqlite, make_engine
from gateway.db.tables import audit_log, messages, outbox
from gateway.infodip.contract import NS
from gateway.infodip.domain import Kind
from gateway.metrics import Metrics
from gateway.relay import Relay
from tests.saf_support import cancellation, conviction_without_inelegibility, retification_with_inelegibility
from tests.support import infodip_request, retification, running_committer, sample, test_settings, unique_ref

N = {"i": NS}


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """The gateway in-process on the test database, no partner configured (rows wait in the outbox)."""
    with TestClient(create_app(test_settings(db_url, tmp_path))) as c:
        yield c


def post(client: TestClient, body: bytes) -> etree._Element:
    """POST a SOAP request; the answer's root (HTTP 200 required)."""
    r = client.post("/soap/infodip", content=body, headers={"Content-Type": "text/xml; charset=utf-8"})
    assert r.status_code == 200, r.text
    return etree.fromstring(r.content)


def receipt(root: etree._Element) -> tuple[str, str, list[str]]:
    """(protocolo, idMensagem, destinos) of a receipt."""
    return (root.findtext(".//i:protocolo", namespaces=N) or "", root.findtext(".//i:idMensagem", namespaces=N) or "",
            [d.text or "" for d in root.iterfind(".//i:destino", N)])


def outbox_of(db_url: str, protocol: str) -> dict[tuple[int, str], str]:
    """(version, destination) → state of *protocol*'s outbox rows."""
    engine = make_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(outbox.c.version, outbox.c.destination, outbox.c.status)
                            .where(outbox.c.protocol == protocol)).all()
    engine.dispose()
    return {(r.version, r.destination): r.status for r in rows}


def deliver_everything(db_url: str, *partners: FakeAdapter) -> None:
    """Run a relay over *partners* on *db_url* until a round sends nothing."""
    with running_committer(db_url, SystemClock()) as committer:
        relay = Relay(committer, {p.name: p for p in partners}, SystemClock(), Metrics(),
                      is_postgres=not is_sqlite(db_url))
        for _ in range(20):
            if asyncio.run(relay.run_once()) == 0:
                return
    raise AssertionError("the relay kept finding work")


def test_a_destination_joining_a_history_receives_it_from_its_first_version_in_order(
    client: TestClient, db_url: str
) -> None:
    """A IV without inelegibility goes to the TSE only; its retificação with inelegibility goes to the TSE and the
    CNJ — and the CNJ, new to the history, is queued v1 (pending) then v2 and the cancelamento (blocked behind
    it). Delivered, the CNJ receives v1, v2, v3 in that order, the TSE its three versions, each once."""
    protocol, v1, dests1 = receipt(post(client, conviction_without_inelegibility()))
    assert dests1 == ["TSE"]
    _, v2, dests2 = receipt(post(client, retification_with_inelegibility(protocol)))
    assert dests2 == ["TSE", "CNJ"]
    assert outbox_of(db_url, protocol) == {(1, "TSE"): "pending", (2, "TSE"): "blocked",
                                           (1, "CNJ"): "pending", (2, "CNJ"): "blocked"}
    _, v3, dests3 = receipt(post(client, cancellation(protocol)))
    assert dests3 == ["TSE", "CNJ"]
    tse, cnj = FakeAdapter("TSE"), FakeAdapter("CNJ")
    deliver_everything(db_url, tse, cnj)
    assert cnj.received == [v1, v2, v3]
    assert tse.received == [v1, v2, v3]
    assert set(outbox_of(db_url, protocol).values()) == {"delivered"}


def test_every_stored_and_audited_digest_is_the_digest_of_the_stored_and_sent_bytes(
    client: TestClient, db_url: str
) -> None:
    """After every operation kind (envio of each kind, retificação, a replayed retificação, cancelamento,
    consultation), every stored ``payload_digest`` is the SHA-256 of the stored bytes, every audit entry of a
    version carries that same digest, and the bytes the partners received are the stored bytes. The protocol a
    retificação corrects stays part of its idempotency key: the same reference and bytes on another protocol is
    INFODIP-E050."""
    protocols = [receipt(post(client, sample(kind)))[0] for kind in Kind]
    first = protocols[0]
    fix_ref = unique_ref("R")
    fix = retification(first, Kind.I, reference=fix_ref)
    post(client, fix)
    again = post(client, fix)
    assert again.findtext(".//i:reenvio", namespaces=N) == "true"
    elsewhere = fix.replace(first.encode(), protocols[1].encode())
    r = client.post("/soap/infodip", content=elsewhere)
    assert r.status_code == 500 and "INFODIP-E050" in r.text
    post(client, cancellation(protocols[3]))
    post(client, infodip_request("consultarComunicacao", f"<i:protocolo>{first}</i:protocolo>"))
    tse, cnj = FakeAdapter("TSE"), FakeAdapter("CNJ")
    deliver_everything(db_url, tse, cnj)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        stored = {r.message_id: (bytes(r.payload), r.payload_digest, r.operation)
                  for r in conn.execute(select(messages.c.message_id, messages.c.payload, messages.c.payload_digest,
                                               messages.c.operation))}
        audited = conn.execute(select(audit_log.c.event, audit_log.c.message_id, audit_log.c.payload_digest)
                               .where(audit_log.c.event.like("infodip.%"))).all()
    engine.dispose()
    assert {op for _, _, op in stored.values()} == {"envio", "retificacao", "cancelamento"}
    for message_id, (payload, digest, _) in stored.items():
        assert digest == hashlib.sha256(payload).hexdigest(), message_id
    assert len(audited) == len(stored)
    for event, message_id, digest in audited:
        assert digest == stored[message_id][1], event
    sent = {m.message_id: m.payload for batch in tse.calls + cnj.calls for m in batch}
    assert set(sent) == set(stored)
    for message_id, payload in sent.items():
        assert payload == stored[message_id][0]
