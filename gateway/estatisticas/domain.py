"""The statistics' fixed grid (Res. Conjunta 6/2020 art. 9 I) — pure, no I/O.

The store keeps *atomic counts*: distinct people by kind × sending organ × month of reception (local time: the
protocol's day) × situation (``ativa``: with a communication in force there | ``cancelada``: with one withdrawn —
a person may be in both). From them, for one kind and one year, :func:`build` lays out the only tables ever
published, every figure the sum of its atomic cells (so a person communicated in two months, or by two organs,
counts in each — the additivity suppression relies on):

- ``porOrgao``: people by sending organ × month, with the year as the row total (sender organ × year);
- ``porUf``: people by the sending organ's UF × month, with the year (kind × UF × month, and by year for the
  months too small to publish) — each UF row is the sum of its organs' rows;
- ``total``: the kind's months and year (the sum of the UF rows);
- ``porSituacao``: people with communications in force (``ativa``, equal to the year's total above), withdrawn by
  the sender (``cancelada``) and the sum of both.

All four are one :class:`~gateway.estatisticas.suppression.Publication` (their additive relations included), so
complementary suppression protects every cell against differencing any of them with any other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway.estatisticas.suppression import Publication, published, suppress
from gateway.infodip.domain import Kind

#: the 27 UFs; ``ND`` is an organ without a configured UF
UFS = ("AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA", "PB", "PE", "PI", "PR",
       "RJ", "RN", "RO", "RR", "RS", "SC", "SE", "SP", "TO")
NO_UF = "ND"
SITUATIONS = ("ativa", "cancelada")
MONTHS = tuple(range(1, 13))
#: what each kind counts, in the communications' own words (DOMAIN.md §2)
KIND_NAMES: Mapping[str, str] = {
    "I": "Condenação por improbidade administrativa transitada em julgado",
    "II": "Acordo de não persecução cível",
    "III": "Cumprimento de sanções / termo de acordo de improbidade",
    "IV": "Condenação criminal transitada em julgado",
    "V": "Extinção da punibilidade",
    "VI": "Óbito",
    "VII": "Condenação por órgão colegiado",
    "VIII": "Demissão do serviço público",
    "IX": "Outras hipóteses de suspensão de direitos políticos",
}
KINDS = tuple(k.value for k in Kind)


@dataclass(frozen=True)
class Count:
    """One atomic count: *people* (distinct) communicated of *kind* by organ *organ_id* in month *month*
    (``AAAAMM``) with at least one communication there now in *situation*."""

    kind: str
    organ_id: int
    month: int
    situation: str
    people: int


@dataclass(frozen=True)
class OrganInfo:
    """A sending organ as the tables show it: code, name, UF (``ND`` when not configured)."""

    code: str
    name: str
    uf: str


@dataclass(frozen=True)
class Row:
    """One row of a published table: its label(s), the twelve months (``None``: suppressed) and the year."""

    key: str
    months: tuple[int | None, ...]
    year: int | None
    name: str = ""
    uf: str = ""


@dataclass(frozen=True)
class KindTable:
    """The published tables of one kind and one year (every number already suppressed where needed)."""

    kind: str
    year: int
    by_organ: tuple[Row, ...]
    by_uf: tuple[Row, ...]
    total: Row
    by_situation: Mapping[str, int | None]
    withheld: int


@dataclass
class Layout:
    """The unsuppressed publication of one kind and year, with the organs' order (what :func:`build` protects;
    tests read its equations: everything an attacker may difference)."""

    publication: Publication
    organs_of: Mapping[str, list[str]]
    names: Mapping[str, str]
    organ_uf: Mapping[str, str]


def layout(kind: str, year: int, counts: Iterable[Count], organs: Mapping[int, OrganInfo]) -> Layout:
    """The cells and equations of *kind* in *year* from the atomic *counts* (other kinds and years ignored)."""
    active: dict[tuple[str, int], int] = defaultdict(int)  # (organ code, month) → people in force
    situation: dict[str, int] = defaultdict(int)
    organ_uf: dict[str, str] = {}
    names: dict[str, str] = {}
    for c in counts:
        if c.kind != kind or c.month // 100 != year or c.people == 0:
            continue
        info = organs.get(c.organ_id) or OrganInfo(f"#{c.organ_id}", "", NO_UF)
        organ_uf[info.code], names[info.code] = info.uf, info.name
        situation[c.situation] += c.people
        if c.situation == "ativa":
            active[(info.code, c.month % 100)] += c.people
    pub = Publication()
    organs_of: dict[str, list[str]] = defaultdict(list)
    for code in sorted(organ_uf):
        organs_of[organ_uf[code]].append(code)
        _row(pub, ("o", code), [active.get((code, m), 0) for m in MONTHS])
    ufs = sorted(organs_of)
    for uf in ufs:
        _row(pub, ("u", uf), [sum(active.get((o, m), 0) for o in organs_of[uf]) for m in MONTHS])
        for m in (*MONTHS, 0):
            pub.add_sum([("o", o, m) for o in organs_of[uf]], ("u", uf, m))
    _row(pub, ("t", ""), [sum(v for (_o, mm), v in active.items() if mm == m) for m in MONTHS])
    for m in (*MONTHS, 0):
        pub.add_sum([("u", uf, m) for uf in ufs], ("t", "", m))
    for s in SITUATIONS:
        pub.cells[("s", s)] = situation.get(s, 0)
    pub.cells[("s", "total")] = sum(situation.values())
    pub.add_sum([("s", s) for s in SITUATIONS], ("s", "total"))
    pub.add_equal(("s", "ativa"), ("t", "", 0))
    return Layout(pub, dict(organs_of), names, organ_uf)


def build(kind: str, year: int, counts: Iterable[Count], organs: Mapping[int, OrganInfo],
          threshold: int) -> KindTable:
    """The tables of *kind* in *year* from the atomic *counts*, with primary and complementary suppression at
    *threshold* people (:mod:`gateway.estatisticas.suppression`)."""
    lay = layout(kind, year, counts, organs)
    withheld = suppress(lay.publication, threshold)
    shown = published(lay.publication, withheld)

    def row(prefix: str, key: str, name: str = "", uf: str = "") -> Row:
        return Row(key, tuple(shown[(prefix, key, m)] for m in MONTHS), shown[(prefix, key, 0)], name, uf)

    ufs = sorted(lay.organs_of)
    return KindTable(
        kind, year,
        by_organ=tuple(row("o", code, lay.names[code], lay.organ_uf[code]) for uf in ufs
                       for code in lay.organs_of[uf]),
        by_uf=tuple(row("u", uf, uf=uf) for uf in ufs),
        total=row("t", ""),
        by_situation={s: shown[("s", s)] for s in (*SITUATIONS, "total")},
        withheld=len(withheld),
    )


def _row(pub: Publication, prefix: tuple[str, str], months: list[int]) -> None:
    for m, v in zip(MONTHS, months, strict=True):
        pub.cells[(*prefix, m)] = v
    pub.cells[(*prefix, 0)] = sum(months)
    pub.add_sum([(*prefix, m) for m in MONTHS], (*prefix, 0))
