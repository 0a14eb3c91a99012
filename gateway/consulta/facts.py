"""Stored payloads read into what consultations need: the timeline's :class:`~gateway.consulta.timeline.Fact` and
the person's lookup keys (no I/O: the bytes come from the store).

The payload of a version is the exclusive C14N of its ``comunicacao`` element, written by the gateway itself after
XSD validation; it is still parsed with a parser that resolves no entity and reaches no network.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from lxml import etree

from gateway.consulta.timeline import Fact
from gateway.infodip import contract
from gateway.infodip.domain import Person

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


def fact_of(protocol: str, status: str, payload: bytes) -> Fact:
    """The timeline's fact for the communication *protocol* whose current version's payload is *payload*."""
    element = parse(payload)
    comm = contract.read_communication(element)
    term = comm.suspension
    block = element.find("i:cabecalho", contract.N)
    basis = None
    if block is not None:
        nxt = block.getnext()
        basis = nxt.findtext("i:fundamentoLegal", namespaces=contract.N) if nxt is not None else None
    return Fact(protocol=protocol, kind=comm.kind.value, fact_date=comm.fact_date, status=status,
                process_number=comm.process_number, linked_protocol=comm.linked_protocol,
                term=(term.years, term.months, term.days) if term else None,
                causes_inelegibility=comm.causes_inelegibility,
                alinea=comm.inelegibility.alinea if comm.inelegibility else None, nature=comm.nature,
                basis=basis.strip() if basis else None)


def keys_of(payload: bytes) -> PersonKeys:
    """The person keys of a stored payload."""
    return PersonKeys.of(contract.read_communication(parse(payload)).person)
