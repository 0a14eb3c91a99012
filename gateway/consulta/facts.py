"""Stored payloads read into what consultations need: the timeline's :class:`~gateway.consulta.timeline.Fact` and
the person's lookup keys (no I/O: the bytes come from the store); and the facts each version stores beside its
payload (:func:`encode` / :func:`decode`), so that a consultation parses no payload.

The payload of a version is the exclusive C14N of its ``comunicacao`` element, written by the gateway itself after
XSD validation; it is still parsed with a parser that resolves no entity and reaches no network.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from lxml import etree

from gateway.consulta.timeline import Fact
from gateway.infodip import contract
from gateway.infodip.domain import Communication, Person

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def name_key(name: str | None) -> str:
    """A name as lookups compare it: accents and case dropped, spaces collapsed (``"José  da Silva"`` →
    ``"jose da silva"``)."""
    if not name:
        return ""
    plain = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", plain.casefold()).strip()


@dataclass(frozen=True)
class PersonKeys:
    """The indexed keys of the person a communication is about (CPF, título, name + birth + mother's name)."""

    cpf: str | None
    titulo: str | None
    nome: str
    data_nascimento: date | None
    nome_mae: str

    @classmethod
    def of(cls, person: Person) -> PersonKeys:
        """The keys of a domain :class:`~gateway.infodip.domain.Person`."""
        return cls(person.cpf or None, person.titulo_eleitor or None, name_key(person.nome), person.data_nascimento,
                   name_key(person.nome_mae))


def parse(payload: bytes) -> etree._Element:
    """The ``comunicacao`` element of a stored payload."""
    return etree.fromstring(payload, _PARSER)


def fact_from(protocol: str, status: str, comm: Communication) -> Fact:
    """The timeline's fact for the communication *protocol* (*status* ``ativa`` or ``cancelada``) whose current
    version reads as the domain object *comm* (:func:`gateway.infodip.contract.read_communication`)."""
    term = comm.suspension
    return Fact(protocol=protocol, kind=comm.kind.value, fact_date=comm.fact_date, status=status,
                process_number=comm.process_number, linked_protocol=comm.linked_protocol,
                term=(term.years, term.months, term.days) if term else None,
                causes_inelegibility=comm.causes_inelegibility,
                alinea=comm.inelegibility.alinea if comm.inelegibility else None, nature=comm.nature,
                basis=comm.legal_basis)


def fact_of(protocol: str, status: str, payload: bytes) -> Fact:
    """The timeline's fact for the communication *protocol* whose current version's payload is *payload* (parsed:
    the fallback for versions stored without their facts, :func:`decode`)."""
    return fact_from(protocol, status, contract.read_communication(parse(payload)))


# -- the facts stored with each version (messages.facts, migration 0016) ---------------------------------------------
#
# A compact JSON array, written when a version carrying a communication is stored (intake, history import, death
# batches, the generator) so that a consultation does not parse every payload again:
#     [kind, fact_date (ISO), process_number, linked_protocol, [years, months, days] | null, causes_inelegibility,
#      alinea, nature, basis]
# The protocol and the status are not in it: they are the communication's (the status changes with a cancelamento,
# which stores no facts). NULL for a cancelamento and for versions written before the migration.

def encode(comm: Communication) -> str:
    """The stored facts (``messages.facts``) of a version whose communication reads as *comm*: what
    :func:`fact_from` takes from it, as compact JSON (about 60–120 bytes)."""
    term = comm.suspension
    return _dumps([comm.kind.value, comm.fact_date.isoformat(), comm.process_number, comm.linked_protocol,
                   [term.years, term.months, term.days] if term else None, comm.causes_inelegibility,
                   comm.inelegibility.alinea if comm.inelegibility else None, comm.nature, comm.legal_basis])


def encode_death(fact_date: date) -> str:
    """:func:`encode` of a kind VI communication as a death batch writes it (``gateway/obitos/contract.py``
    ``communication_payload``: no process, no link, no term, no inelegibility, no legal basis), without building
    the domain object."""
    return _dumps(["VI", fact_date.isoformat(), None, None, None, False, None, None, None])


def _dumps(values: list[object]) -> str:
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def decode(protocol: str, status: str, stored: str) -> Fact:
    """The fact of :func:`encode`'s JSON *stored*, for the communication *protocol* with *status*: equal to
    :func:`fact_of` on the same version's payload. Errors: ValueError (not what :func:`encode` writes)."""
    kind, fact_date, process, linked, term, causes, alinea, nature, basis = json.loads(stored)
    return Fact(protocol=protocol, kind=kind, fact_date=date.fromisoformat(fact_date), status=status,
                process_number=process, linked_protocol=linked, term=tuple(term) if term is not None else None,
                causes_inelegibility=causes, alinea=alinea, nature=nature, basis=basis)


def encode_payload(payload: bytes) -> str:
    """:func:`encode` of a stored payload (parsed once): for writers that hold bytes, not a domain object."""
    return encode(contract.read_communication(parse(payload)))


def keys_of(payload: bytes) -> PersonKeys:
    """The person keys of a stored payload."""
    return PersonKeys.of(contract.read_communication(parse(payload)).person)
