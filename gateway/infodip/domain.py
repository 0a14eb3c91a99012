"""INFODIP communications: the nine kinds, who may send them, and the rules a communication must satisfy.

Pure domain: dataclasses and functions, no I/O. The legal sources are in ``DOMAIN.md`` §2 (Resolução Conjunta
CNJ/TSE nº 6/2020; Lei 8.429/1992 as amended by Lei 14.230/2021; LC 64/1990; CF art. 15).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from gateway import identifiers as ids
from gateway.errors import NotAllowed, ValidationFailed
from gateway.organs import OrganType


class Kind(StrEnum):
    """The nine kinds of art. 1º, parágrafo único; the codes are stable on every wire and in the database."""

    I = "I"  # condenação por improbidade transitada em julgado
    II = "II"  # acordo de não persecução cível
    III = "III"  # cumprimento de sanções / termo de acordo
    IV = "IV"  # condenação criminal transitada em julgado
    V = "V"  # extinção da punibilidade
    VI = "VI"  # óbito
    VII = "VII"  # condenação por órgão colegiado
    VIII = "VIII"  # demissão do serviço público
    IX = "IX"  # outras hipóteses


#: Element name of each kind's block in the INFODIP 1.0 contract.
BLOCK_OF_KIND: Mapping[Kind, str] = {
    Kind.I: "condenacaoImprobidade",
    Kind.II: "acordoNaoPersecucaoCivel",
    Kind.III: "cumprimentoSancoes",
    Kind.IV: "condenacaoCriminal",
    Kind.V: "extincaoPunibilidade",
    Kind.VI: "obito",
    Kind.VII: "condenacaoColegiada",
    Kind.VIII: "demissao",
    Kind.IX: "outraHipotese",
}
KIND_OF_BLOCK: Mapping[str, Kind] = {v: k for k, v in BLOCK_OF_KIND.items()}

#: The element of each block that holds the date of the fact (art. 7º, DOMAIN.md §2 "The fact date per kind").
FACT_DATE_OF_KIND: Mapping[Kind, str] = {
    Kind.I: "dataTransitoJulgado",
    Kind.II: "dataHomologacao",
    Kind.III: "dataDecisao",
    Kind.IV: "dataTransitoJulgado",
    Kind.V: "dataDecisao",
    Kind.VI: "dataObito",
    Kind.VII: "dataPublicacao",
    Kind.VIII: "dataPublicacao",
    Kind.IX: "dataDecisao",
}

_ALL_JUDICIAL = frozenset({Kind.I, Kind.II, Kind.III, Kind.IV, Kind.V, Kind.VII, Kind.VIII, Kind.IX})
#: Default competence matrix (inferred from arts. 5º–6º; each organ may override it in its configuration).
DEFAULT_COMPETENCE: Mapping[OrganType, frozenset[Kind]] = {
    OrganType.TRIBUNAL: _ALL_JUDICIAL,
    OrganType.ORGAO_JULGADOR: frozenset({Kind.I, Kind.II, Kind.III, Kind.IV, Kind.V, Kind.IX}),
    OrganType.PRESIDENCIA: frozenset({Kind.VII, Kind.VIII}),
    OrganType.CARTORIO: frozenset({Kind.VI}),
    OrganType.CRC: frozenset({Kind.VI}),
    OrganType.MNI_CLIENTE: frozenset(),
}

#: Kinds that concern a judicial process and therefore must name its CNJ number.
KINDS_WITH_PROCESS = frozenset({Kind.I, Kind.II, Kind.III, Kind.IV, Kind.V, Kind.VII, Kind.IX})

#: Lei 8.429/1992 art. 12 (Lei 14.230/2021): maximum suspension of political rights, in months, per article.
MAX_SUSPENSION_MONTHS: Mapping[str, int] = {"9": 14 * 12, "10": 12 * 12, "11": 0}


@dataclass(frozen=True)
class Term:
    """A term in years, months and days (sentences, suspensions)."""

    years: int = 0
    months: int = 0
    days: int = 0

    @property
    def total_months(self) -> float:
        """The term in months (days count as fractions of 30)."""
        return self.years * 12 + self.months + self.days / 30


@dataclass(frozen=True)
class Person:
    """The person a communication is about."""

    nome: str
    cpf: str | None = None
    titulo_eleitor: str | None = None
    data_nascimento: date | None = None
    nome_mae: str | None = None

    @property
    def key(self) -> str:
        """Stable key identifying the person for duplicate detection (CPF, else título, else name+birth+mother)."""
        if self.cpf:
            return "cpf:" + self.cpf
        if self.titulo_eleitor:
            return "titulo:" + self.titulo_eleitor
        return f"nome:{self.nome.casefold()}|{self.data_nascimento}|{(self.nome_mae or '').casefold()}"


@dataclass(frozen=True)
class Inelegibility:
    """LC 64/1990 art. 1º I: whether the fact causes inelegibility, and under which alínea/item."""

    causes: bool
    alinea: str | None = None
    item: str | None = None


@dataclass(frozen=True)
class Communication:
    """One INFODIP communication as the domain sees it (already XSD-valid)."""

    kind: Kind
    declared_kind: str
    reference: str
    person: Person
    process_number: str | None
    fact_date: date
    block_fact_date: date
    inelegibility: Inelegibility | None = None
    nature: str | None = None  # VII: "improbidade" | "criminal"
    linked_protocol: str | None = None  # III and V: the conviction they end
    improbity_articles: tuple[str, ...] = ()
    suspension: Term | None = None
    death_registration: str | None = None
    identifiers: tuple[tuple[ids.IdentifierKind, str, str], ...] = field(default=())
    #: the kind block's ``fundamentoLegal`` (stripped; VIII and IX have one), None when absent or empty
    legal_basis: str | None = None

    @property
    def causes_inelegibility(self) -> bool:
        """True when the communication says the fact causes inelegibility."""
        return bool(self.inelegibility and self.inelegibility.causes)


_IDENTIFIER_CODES: Mapping[ids.IdentifierKind, str] = {
    ids.IdentifierKind.CPF: "INFODIP-E030",
    ids.IdentifierKind.CNPJ: "INFODIP-E031",
    ids.IdentifierKind.PROCESSO_CNJ: "INFODIP-E032",
    ids.IdentifierKind.TITULO_ELEITOR: "INFODIP-E033",
    ids.IdentifierKind.MATRICULA_CERTIDAO: "INFODIP-E034",
}


def competent_kinds(organ_type: OrganType, override: Iterable[str] | None = None) -> frozenset[Kind]:
    """Kinds an organ may send: its configured override, else the default of its type."""
    if override is not None:
        return frozenset(Kind(k) for k in override)
    return DEFAULT_COMPETENCE.get(organ_type, frozenset())


def check_competence(kind: Kind, organ_type: OrganType, allowed: frozenset[Kind]) -> None:
    """Refuse a kind the sending organ is not competent for (INFODIP-E022)."""
    if kind not in allowed:
        raise NotAllowed(
            "INFODIP-E022",
            f"Órgão do tipo {organ_type.value} não é competente para comunicações do tipo {kind.value}.",
            field="comunicacao/@tipo",
        )


def check_identifiers(comm: Communication) -> None:
    """Check every identifier's check digits (INFODIP-E030…E034)."""
    for kind, value, where in comm.identifiers:
        if not ids.validate(kind, value):
            raise ValidationFailed(_IDENTIFIER_CODES[kind], field=where)


def check_rules(comm: Communication, today: date) -> None:
    """The legal rules of a communication that do not depend on stored state."""
    if comm.declared_kind != comm.kind.value:
        raise ValidationFailed(
            "INFODIP-E041",
            f"tipo={comm.declared_kind} mas o bloco enviado é {BLOCK_OF_KIND[comm.kind]} (tipo {comm.kind.value}).",
            field="comunicacao/@tipo",
        )
    check_identifiers(comm)
    if not (comm.person.cpf or comm.person.titulo_eleitor or (comm.person.data_nascimento and comm.person.nome_mae)):
        raise ValidationFailed(
            "INFODIP-E045",
            "Informe CPF, título de eleitor, ou data de nascimento e nome da mãe.",
            field="cabecalho/pessoa",
        )
    if comm.kind in KINDS_WITH_PROCESS and not comm.process_number:
        raise ValidationFailed(
            "INFODIP-E042",
            f"Comunicações do tipo {comm.kind.value} devem informar o processo.",
            field="cabecalho/processo",
        )
    if comm.fact_date != comm.block_fact_date:
        raise ValidationFailed(
            "INFODIP-E044",
            f"dataFato ({comm.fact_date}) difere de {FACT_DATE_OF_KIND[comm.kind]} ({comm.block_fact_date}).",
            field="cabecalho/dataFato",
        )
    if comm.fact_date > today:
        raise ValidationFailed("INFODIP-E040", f"A data do fato ({comm.fact_date}) é posterior a hoje ({today}).",
                               field="cabecalho/dataFato")
    if comm.kind is Kind.I and comm.suspension is not None:
        limit = max(MAX_SUSPENSION_MONTHS[a] for a in comm.improbity_articles)
        if comm.suspension.total_months > limit:
            raise ValidationFailed(
                "INFODIP-E043",
                "Suspensão dos direitos políticos acima do máximo da Lei 8.429/1992, art. 12 "
                f"({limit // 12} anos para art. {', '.join(comm.improbity_articles)}).",
                field="condenacaoImprobidade/sancoes/suspensaoDireitosPoliticos",
            )
