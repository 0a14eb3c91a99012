"""The dataset generator (gateway/datagen.py, ``gateway gerar-dados``) at small scale: what it writes passes the
INFODIP 1.0 XSD and the domain's rules as intake would check them, with the documented shape of the data."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from lxml import etree
from sqlalchemy import func, select

from gateway.clock import FakeClock, utc
from gateway.consulta.store import find_person
from gateway.datagen import generate, person_cpf
from gateway.db.engine import make_engine
from gateway.db.tables import communications, consulta_pessoas, feed_entries, messages, organs, outbox
from gateway.infodip import contract
from gateway.infodip.deadlines import local_today
from gateway.infodip.domain import check_competence, check_rules, competent_kinds
from gateway.organs import OrganType
from tests.support import assert_stored_facts


def test_generated_store_is_valid_and_realistic(db_url: str) -> None:
    """800 communications: every version's payload is XSD-valid and passes the rules and the sender's competence;
    kinds, senders, months and persons are spread as documented; every version is delivered to TSE (never pending:
    the relay has nothing to do); the CPFs are :func:`person_cpf`'s."""
    clock = FakeClock(datetime(2026, 11, 30, 15, 0, tzinfo=UTC))
    engine = make_engine(db_url, writer=True)
    try:
        report = generate(engine, clock, 800, seed=3)
        assert report.communications == 800 and report.versions >= 800
        with engine.connect() as conn:
            comms = conn.execute(select(communications)).mappings().all()
            organ_type = {r.id: (OrganType(r.organ_type), r.kinds) for r in conn.execute(select(organs))}
            msgs = conn.execute(select(messages.c.protocol, messages.c.operation, messages.c.payload,
                                       messages.c.received_at, messages.c.organ_id)).all()
            tse = conn.execute(select(func.count()).select_from(outbox).where(
                outbox.c.destination == "TSE", outbox.c.status == "delivered")).scalar_one()
            pending = conn.execute(select(func.count()).select_from(outbox).where(
                outbox.c.status != "delivered")).scalar_one()
            boxes = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
            fed = conn.execute(select(feed_entries.c.seq).order_by(feed_entries.c.seq)).scalars().all()
            indexed = conn.execute(select(func.count()).select_from(consulta_pessoas)).scalar_one()
            found = find_person(conn, cpf=person_cpf(0))
            with_facts = assert_stored_facts(conn)  # each version's timeline facts, as parsing its payload gives
    finally:
        engine.dispose()
    assert len(comms) == 800 and tse == len(msgs) and pending == 0
    # as intake would have left them: every delivery numbered in the change feed, every person indexed
    assert fed == list(range(1, boxes + 1)) and indexed == 800 and found.protocols
    assert with_facts == sum(1 for m in msgs if m.operation != "cancelamento")
    kinds = Counter(c["kind"] for c in comms)
    assert set(kinds) == {"I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX"}
    assert kinds.most_common(1)[0][0] == "VI"
    assert len({c["organ_id"] for c in comms}) >= 20
    months = {(c["fact_date"].year, c["fact_date"].month) for c in comms}
    assert len(months) >= 24 and min(months) >= (2020, 9)
    per_person = Counter(c["person_key"] for c in comms)
    assert max(per_person.values()) >= 3
    assert "cpf:" + person_cpf(0) in per_person
    assert {c["status"] for c in comms} == {"ativa", "cancelada"}

    for protocol, operation, payload, received_at, organ_id in msgs:
        element = etree.fromstring(payload)
        if operation == "cancelamento":
            contract.validate_operation(element)
            assert element.findtext(f"{{{contract.NS}}}protocolo") == protocol
            continue
        op = etree.Element(f"{{{contract.NS}}}enviarComunicacao", nsmap={"inf": contract.NS})
        op.append(element)
        contract.validate_operation(op)
        comm = contract.read_request(op).communication
        assert comm is not None
        assert contract.c14n(op[0]) == payload  # stored as intake stores: exclusive C14N
        kind_type, override = organ_type[organ_id]
        check_competence(comm.kind, kind_type, competent_kinds(kind_type, override.split(",") if override else None))
        check_rules(comm, local_today(utc(received_at), ZoneInfo("America/Sao_Paulo")))
