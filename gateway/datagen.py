"""The dataset generator (issue 14, point 7): ``gateway gerar-dados --scale N`` writes N communications straight into
the store — not through intake — for the consultation, listing, feed and statistics benchmarks.

What it writes, per communication: the ``communications`` row, one ``messages`` row per version (the envio; for
some a retificação and a cancelamento after it), and one ``outbox`` row per version and destination in state
``delivered`` (TSE always; CNJ as ``gateway/infodip/routing.py`` would route the kind), so the data looks like a
store that has been running since ``--desde``. Payloads are INFODIP 1.0 ``comunicacao`` elements in exclusive C14N,
valid against the XSD, with valid identifiers (CPF, título, CNJ process number, death-certificate matrícula).

The distribution (deterministic for a ``--seed``):

- kinds: óbitos (VI) 40 %, criminal convictions (IV) 22 %, extinção (V) 14 %, IX 7 %, I 5 %, VII 4 %, II 3 %,
  III 3 %, VIII 2 % — a V usually ends an earlier IV of the same person;
- senders: the 27 state courts (``TJAC`` … ``TJTO``, type tribunal; the larger ones send more), their presidencies
  (``TJxx-PRES``: VII, VIII) and 60 civil registries (``RCPN-9xxxxx``: VI); organs missing are created, existing
  ones (same code) are used;
- months: from ``--desde`` (default 2020-09-01, the sharing of art. 12 of Res. Conjunta 6/2020) to today, the volume
  growing linearly; 80 % received within the deadline of art. 7º, the rest up to 120 days late;
- persons: ``0.7 × N`` of them; three quarters of the communications are about anyone, a quarter about the first
  5 % (so those have about seven each); the CPF of person *i* is :func:`person_cpf` (the bench asks for those).

Cost: bulk inserts of :data:`BATCH` communications per transaction; 1,000,000 took 582 s on SQLite and 486–605 s
on PostgreSQL on a shared 2-core machine (≈ 1.5 GB on disk; ``make bench`` reports it each run). Only for
benchmarks and demonstrations: the generated references start with ``GER-``.
"""

from __future__ import annotations

import hashlib
import math
import random
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from gateway import identifiers as ids
from gateway.clock import Clock, new_protocol
from gateway.consulta.facts import PersonKeys, encode_payload, name_key
from gateway.consulta.store import record_people
from gateway.db.tables import communications, feed_entries, messages, organs, outbox
from gateway.estatisticas.store import count_new
from gateway.infodip.contract import NS
from gateway.infodip.deadlines import due_date
from gateway.infodip.domain import Kind

#: Communications per transaction.
BATCH = 2000
KIND_WEIGHTS: tuple[tuple[Kind, float], ...] = (
    (Kind.VI, 40), (Kind.IV, 22), (Kind.V, 14), (Kind.IX, 7), (Kind.I, 5), (Kind.VII, 4), (Kind.II, 3),
    (Kind.III, 3), (Kind.VIII, 2))
#: (UF, tribunal code J.TR's TR, título UF code, relative size)
STATES: tuple[tuple[str, str, str, float], ...] = (
    ("AC", "01", "24", 1), ("AL", "02", "17", 2), ("AP", "03", "25", 1), ("AM", "04", "22", 2),
    ("BA", "05", "05", 6), ("CE", "06", "07", 4), ("DF", "07", "20", 3), ("ES", "08", "14", 2),
    ("GO", "09", "10", 3), ("MA", "10", "11", 3), ("MT", "11", "18", 2), ("MS", "12", "19", 2),
    ("MG", "13", "02", 10), ("PA", "14", "13", 4), ("PB", "15", "12", 2), ("PR", "16", "06", 5),
    ("PE", "17", "08", 4), ("PI", "18", "15", 2), ("RJ", "19", "03", 8), ("RN", "20", "16", 2),
    ("RS", "21", "04", 6), ("RO", "22", "23", 1), ("RR", "23", "26", 1), ("SC", "24", "09", 3),
    ("SP", "26", "01", 20), ("SE", "25", "21", 1), ("TO", "27", "27", 1))
REGISTRIES = 60
FIRST = ("Ana", "Bruno", "Carla", "Daniel", "Eduarda", "Felipe", "Gabriela", "Henrique", "Isabel", "João",
         "Karina", "Lucas", "Mariana", "Nelson", "Olívia", "Paulo", "Queila", "Rafael", "Sandra", "Tiago",
         "Úrsula", "Vítor", "Wagner", "Yara", "Zélia")
LAST = ("Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes",
        "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira", "Barbosa")


def person_cpf(index: int) -> str:
    """The CPF of generated person *index* (0-based): 11 digits with valid check digits, distinct per index below
    10⁸."""
    base = f"{(index * 7_919 + 10_000_019) % 1_000_000_000:09d}"
    return base + ids.cpf_check_digits(base)


def _titulo(index: int, uf_code: str) -> str:
    seq = f"{(index * 104_729 + 1_234_567) % 100_000_000:08d}"
    return seq + uf_code + ids.titulo_eleitor_check_digits(seq, uf_code)


def _process(rng: random.Random, year: int, tr: str) -> str:
    seq = f"{rng.randrange(10_000_000):07d}"
    origin = f"{rng.randrange(1, 9999):04d}"
    return seq + ids.processo_cnj_check_digits(seq, str(year), "8", tr, origin) + str(year) + "8" + tr + origin


def _matricula(rng: random.Random, cns: str, year: int) -> str:
    from validate_docbr import Certidao

    base = cns + "01" + "55" + str(year) + "4" + f"{rng.randrange(100000):05d}" + f"{rng.randrange(1000):03d}" + \
        f"{rng.randrange(10_000_000):07d}"
    return base + "".join(Certidao()._generate_check_digits(list(base)))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class GeneratedOrgan:
    """An organ the generated communications come from."""

    id: int
    code: str
    type: str
    uf_index: int
    cns: str | None = None


@dataclass
class GenerationReport:
    """What :func:`generate` wrote: communications, versions, delivered outbox rows, persons, seconds taken."""

    communications: int = 0
    versions: int = 0
    deliveries: int = 0
    persons: int = 0
    seconds: float = 0.0


def ensure_organs(engine: Engine, now: datetime) -> list[GeneratedOrgan]:
    """The generator's organs (created when missing): 27 courts, their presidencies, 60 civil registries."""
    wanted: list[tuple[str, str, str, int, str | None]] = []
    for i, (uf, _tr, _t, _size) in enumerate(STATES):
        wanted.append((f"TJ{uf}", f"Tribunal de Justiça ({uf})", "tribunal", i, None))
        wanted.append((f"TJ{uf}-PRES", f"Presidência do Tribunal de Justiça ({uf})", "presidencia", i, None))
    for r in range(REGISTRIES):
        cns = f"{900_000 + r * 37:06d}"
        wanted.append((f"RCPN-{cns}", f"Cartório de Registro Civil {cns}", "cartorio", r % len(STATES), cns))
    with engine.begin() as conn:
        have = {row.code: row.id for row in conn.execute(select(organs.c.code, organs.c.id))}
        missing = [{"code": c, "name": n, "organ_type": t, "kinds": None, "cns": cns, "active": True, "created_at": now,
                    "uf": STATES[i][0]} for c, n, t, i, cns in wanted if c not in have]
        if missing:
            conn.execute(insert(organs), missing)
            have = {row.code: row.id for row in conn.execute(select(organs.c.code, organs.c.id))}
    return [GeneratedOrgan(have[c], c, t, i, cns) for c, _n, t, i, cns in wanted]


def _c14n_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _el(name: str, value: str) -> str:
    return f"<inf:{name}>{_c14n_text(value)}</inf:{name}>"


@dataclass(frozen=True)
class _Person:
    index: int
    cpf: str
    name: str
    mother: str
    birth: date
    titulo: str | None


def _person(index: int) -> _Person:
    r = random.Random(index)
    name = f"{r.choice(FIRST)} {r.choice(LAST)} {r.choice(LAST)}"
    mother = f"{r.choice(FIRST[::2])} {r.choice(LAST)} {name.rsplit(' ', 1)[1]}"
    birth = date(1940, 1, 1) + timedelta(days=r.randrange(365 * 62))
    titulo = _titulo(index, STATES[index % len(STATES)][2]) if r.random() < 0.6 else None
    return _Person(index, person_cpf(index), name, mother, birth, titulo)


def payload_of(kind: Kind, reference: str, person: _Person, process: str | None, fact: date, extra: dict[str, Any],
               ) -> bytes:
    """The exclusive C14N bytes of the ``comunicacao`` of *kind* (valid against the INFODIP 1.0 XSD)."""
    p = [_el("nome", person.name), _el("cpf", person.cpf)]
    if person.titulo:
        p.append(_el("tituloEleitor", person.titulo))
    p += [_el("dataNascimento", person.birth.isoformat()), _el("nomeMae", person.mother)]
    head = [_el("referenciaRemetente", reference), "<inf:pessoa>" + "".join(p) + "</inf:pessoa>"]
    if process:
        head.append(f"<inf:processo>{_el('numero', process)}</inf:processo>")
    d = fact.isoformat()
    head.append(_el("dataFato", d))
    inel = ("<inf:inelegibilidade>" + _el("causaInelegibilidade", "true" if extra.get("inelegivel") else "false")
            + (_el("alinea", extra["alinea"]) if extra.get("inelegivel") else "") + "</inf:inelegibilidade>")
    if kind is Kind.I:
        block = (_el("dataTransitoJulgado", d) + _el("artigo", extra["artigo"])
                 + f"<inf:sancoes><inf:suspensaoDireitosPoliticos>{_el('anos', str(extra['anos']))}"
                 "</inf:suspensaoDireitosPoliticos></inf:sancoes>")
    elif kind is Kind.II:
        block = _el("dataHomologacao", d) + _el("obrigacoes", "Ressarcimento integral do dano e multa civil.")
    elif kind is Kind.III:
        block = _el("dataDecisao", d) + _el("motivo", "cumprimentoSancoes")
    elif kind is Kind.IV:
        block = (_el("dataTransitoJulgado", d) + _el("dispositivoPenal", extra["dispositivo"])
                 + f"<inf:pena>{_el('anos', str(extra['anos']))}{_el('meses', str(extra['meses']))}</inf:pena>"
                 + inel)
    elif kind is Kind.V:
        block = _el("dataDecisao", d) + _el("motivo", extra["motivo"])
    elif kind is Kind.VI:
        block = _el("dataObito", d) + _el("matriculaCertidao", extra["matricula"])
    elif kind is Kind.VII:
        block = (_el("natureza", extra["natureza"]) + _el("dataPublicacao", d)
                 + _el("orgaoColegiado", "Câmara Criminal") + inel)
    elif kind is Kind.VIII:
        block = (_el("dataPublicacao", d) + _el("cargo", "Analista") + _el("orgaoPublico", "Secretaria de Estado")
                 + _el("atoDemissao", f"Portaria {extra['ato']}/{fact.year}"))
    else:
        block = (_el("dataDecisao", d) + _el("descricao", "Suspensão por decisão judicial.")
                 + _el("fundamentoLegal", "CF, art. 15") + inel)
    from gateway.infodip.domain import BLOCK_OF_KIND

    name = BLOCK_OF_KIND[kind]
    return (f'<inf:comunicacao xmlns:inf="{NS}" tipo="{kind.value}"><inf:cabecalho>{"".join(head)}</inf:cabecalho>'
            f"<inf:{name}>{block}</inf:{name}></inf:comunicacao>").encode()


_CNJ_ALWAYS = {Kind.I, Kind.II, Kind.III, Kind.VIII}


def _destinations(kind: Kind, extra: dict[str, Any]) -> tuple[str, ...]:
    if kind in _CNJ_ALWAYS or (kind in (Kind.IV, Kind.IX, Kind.VII) and extra.get("inelegivel")) or (
            kind is Kind.VII and extra.get("natureza") == "improbidade") or (kind is Kind.V and extra.get("cnj")):
        return ("TSE", "CNJ")
    return ("TSE",)


def generate(engine: Engine, clock: Clock, scale: int, *, seed: int = 14, since: date = date(2020, 9, 1),
             timezone: str = "America/Sao_Paulo", deliveries: bool = True,
             progress: Callable[[GenerationReport], None] | None = None) -> GenerationReport:
    """Write *scale* communications into the store on *engine* (already migrated), as the module says. Returns the
    counts. Errors: the database's (SQLAlchemyError)."""
    t0 = time.perf_counter()
    now = clock.now()
    tz = ZoneInfo(timezone)
    today = now.astimezone(tz).date()
    rng = random.Random(seed)
    all_organs = ensure_organs(engine, now)
    courts = [o for o in all_organs if o.type == "tribunal"]
    presidencies = [o for o in all_organs if o.type == "presidencia"]
    registries = [o for o in all_organs if o.type == "cartorio"]
    court_weights = [STATES[o.uf_index][3] for o in courts]
    registry_weights = [1 / math.sqrt(i + 1) for i in range(len(registries))]
    kinds, kind_weights = zip(*KIND_WEIGHTS, strict=True)
    persons = max(1, int(scale * 0.7))
    days = max(1, (today - since).days)
    report = GenerationReport(persons=persons)
    convictions: list[tuple[int, str, GeneratedOrgan, bool]] = []  # recent IVs: (person, process, court, CNJ)
    with engine.connect() as conn:
        start = conn.execute(select(func.count()).select_from(communications)).scalar_one()

    def rows() -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], PersonKeys]]:
        for n in range(scale):
            kind = rng.choices(kinds, kind_weights)[0]
            # the volume grows linearly: day = days × sqrt(u) has density ∝ day
            fact = since + timedelta(days=int(days * math.sqrt(rng.random())))
            extra: dict[str, Any] = {}
            process: str | None = None
            if kind is Kind.V and convictions and rng.random() < 0.8:
                person_index, process, organ, cnj = convictions.pop(rng.randrange(len(convictions)))
                extra["cnj"] = cnj
            else:
                # three quarters about anyone; a quarter about the 5 % "recurring" persons (several each)
                person_index = rng.randrange(persons) if rng.random() < 0.75 else rng.randrange(max(1, persons // 20))
                if kind is Kind.VI:
                    organ = rng.choices(registries, registry_weights)[0]
                elif kind in (Kind.VII, Kind.VIII):
                    organ = rng.choices(presidencies, court_weights)[0]
                else:
                    organ = rng.choices(courts, court_weights)[0]
            tr = STATES[organ.uf_index][1]
            if kind is Kind.VI:
                extra["matricula"] = _matricula(rng, organ.cns or "900000", fact.year)
            elif kind is not Kind.VIII and process is None:
                process = _process(rng, max(2000, fact.year - rng.randrange(0, 6)), tr)
            if kind is Kind.IV:
                extra.update(anos=rng.randrange(1, 12), meses=rng.randrange(12), inelegivel=rng.random() < 0.35,
                             alinea="e", dispositivo=rng.choice(("Código Penal, art. 155", "Código Penal, art. 157",
                                                                 "Código Penal, art. 312", "Lei 11.343/2006, art. 33")))
                convictions.append((person_index, process or "", organ, bool(extra["inelegivel"])))
                if len(convictions) > 5000:
                    convictions.pop(0)
            elif kind is Kind.I:
                extra.update(artigo=rng.choice(("9", "10")), anos=rng.randrange(1, 12))
            elif kind is Kind.V:
                extra["motivo"] = rng.choice(("cumprimentoPena", "prescricao", "indulto"))
            elif kind is Kind.VII:
                extra.update(natureza=rng.choice(("criminal", "improbidade")), inelegivel=rng.random() < 0.7,
                             alinea="e")
            elif kind is Kind.VIII:
                extra["ato"] = rng.randrange(1, 999)
            elif kind is Kind.IX:
                extra.update(inelegivel=rng.random() < 0.3, alinea="j")
            delay = rng.randrange(0, 10) if rng.random() < 0.8 else rng.randrange(10, 120)
            if kind is Kind.VI:
                delay = rng.randrange(1, 45)
            received_day = min(today, fact + timedelta(days=delay))
            received = datetime.combine(received_day, datetime.min.time(), tz).astimezone(UTC) + timedelta(
                seconds=rng.randrange(8 * 3600, 19 * 3600))
            received = min(received, now)
            due = due_date(kind, fact)
            person = _person(person_index)
            number = start + n
            protocol = new_protocol(received_day)
            dests = _destinations(kind, extra)
            versions: list[tuple[str, bytes, datetime, str | None]] = []
            ref = f"GER-{number:09d}"
            versions.append(("envio", payload_of(kind, ref, person, process, fact, extra), received, None))
            roll = rng.random()
            if roll < 0.05:  # a retificação some days later
                later = min(now, received + timedelta(days=rng.randrange(1, 30)))
                versions.append(("retificacao", payload_of(kind, ref + "-R", person, process, fact, extra), later,
                                 None))
            if roll < 0.015:  # and a cancelamento
                later = min(now, versions[-1][2] + timedelta(days=rng.randrange(1, 30)))
                body = (f'<inf:cancelarComunicacao xmlns:inf="{NS}">{_el("protocolo", protocol)}'
                        f'{_el("referenciaRemetente", ref + "-C")}{_el("motivo", "Comunicação em duplicidade.")}'
                        "</inf:cancelarComunicacao>").encode()
                versions.append(("cancelamento", body, later, "Comunicação em duplicidade."))
            comm = {"protocol": protocol, "kind": kind.value, "organ_id": organ.id, "person_key": "cpf:" + person.cpf,
                    "process_number": process, "fact_date": fact,
                    "status": "cancelada" if versions[-1][0] == "cancelamento" else "ativa",
                    "current_version": len(versions), "duplicate_of": None, "created_at": received,
                    "updated_at": versions[-1][2]}
            msgs: list[dict[str, Any]] = []
            boxes: list[dict[str, Any]] = []
            # the consultation's timeline facts (messages.facts), read from the envio's payload once: a retificação
            # here differs from its envio only in the sender's reference
            facts = encode_payload(versions[0][1])
            for v, (operation, body, at, reason) in enumerate(versions, start=1):
                local = at.astimezone(tz).date()
                late_by = (local - due).days if operation != "cancelamento" else 0
                message_id = str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))
                msgs.append({"message_id": message_id, "protocol": protocol, "version": v, "operation": operation,
                             "organ_id": organ.id, "sender_reference": ref + ("", "-R", "-C")[
                                 ("envio", "retificacao", "cancelamento").index(operation)],
                             "payload_digest": hashlib.sha256(body).hexdigest(), "payload": body, "received_at": at,
                             "due_date": due if operation != "cancelamento" else None, "late": late_by > 0,
                             "days_late": max(0, late_by), "cancel_reason": reason,
                             "facts": None if operation == "cancelamento" else facts})
                if deliveries:
                    done = min(now, at + timedelta(seconds=rng.randrange(1, 120)))
                    boxes.extend({"message_id": message_id, "protocol": protocol, "version": v, "destination": d,
                                  "status": "delivered", "attempts": 1, "next_attempt_at": done, "last_error": None,
                                  "receipt": f"{d}-{protocol}-{v}", "lease_owner": None, "lease_until": None,
                                  "created_at": at, "updated_at": done} for d in dests)
            yield comm, msgs, boxes, PersonKeys(person.cpf, person.titulo, name_key(person.name), person.birth,
                                                name_key(person.mother))

    batch_c: list[dict[str, Any]] = []
    batch_m: list[dict[str, Any]] = []
    batch_o: list[dict[str, Any]] = []
    batch_p: list[tuple[str, PersonKeys]] = []
    with engine.connect() as conn:  # the change feed goes on after what is already numbered (one writer: this one)
        fed = conn.execute(select(func.coalesce(func.max(feed_entries.c.seq), 0))).scalar_one()

    def flush() -> None:
        nonlocal fed
        if not batch_c:
            return
        with engine.begin() as conn:
            conn.execute(insert(communications), batch_c)
            conn.execute(insert(messages), batch_m)
            if batch_o:
                conn.execute(insert(outbox), batch_o)
                # each delivery is in its destination's change feed, in the order written (gateway.infodip.feed)
                conn.execute(insert(feed_entries), [
                    {"seq": fed + i, "destination": o["destination"], "message_id": o["message_id"],
                     "protocol": o["protocol"], "version": o["version"], "committed_at": o["created_at"]}
                    for i, o in enumerate(batch_o, start=1)])
                fed += len(batch_o)
            record_people(conn, batch_p)  # the consultation's person index
            count_new(conn, batch_c)  # the public statistics' counts
        report.communications += len(batch_c)
        report.versions += len(batch_m)
        report.deliveries += len(batch_o)
        batch_c.clear()
        batch_m.clear()
        batch_o.clear()
        batch_p.clear()
        report.seconds = time.perf_counter() - t0
        if progress is not None:
            progress(report)

    for comm, msgs, boxes, keys in rows():
        batch_c.append(comm)
        batch_p.append((comm["protocol"], keys))
        batch_m.extend(msgs)
        batch_o.extend(boxes)
        if len(batch_c) >= BATCH:
            flush()
    flush()
    report.seconds = time.perf_counter() - t0
    return report
