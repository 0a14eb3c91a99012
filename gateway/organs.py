"""Organs: who talks to the gateway. Shared by every context (INFODIP senders, MNI clients, procuradorias).

The types come from DOMAIN.md §1–2 ("Who may send what"); which kinds or scopes each type has is decided by the
contexts (the INFODIP competence matrix, the REST grants), never here.
"""

from __future__ import annotations

from enum import StrEnum


class OrganType(StrEnum):
    """Types of organs; the values are stable in the database, the CLI and the sandbox info file."""

    TRIBUNAL = "tribunal"  # a tribunal's own system, integrated by webservice
    ORGAO_JULGADOR = "orgao_julgador"  # a court unit using the web form
    PRESIDENCIA = "presidencia"  # the Presidency of a tribunal
    CARTORIO = "cartorio"  # a Cartório de Registro Civil (RCPN), identified by its CNS
    CRC = "crc"  # the central of the civil registries
    MNI_CLIENTE = "mni_cliente"  # a user of the MNI hub (PGFN, PGF, an integrator)
    OPERADOR = "operador"  # the gateway's operations team or a monitoring system: REST grants only, no INFODIP kind
