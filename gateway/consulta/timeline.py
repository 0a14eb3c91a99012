"""The political-rights timeline of one person, computed from the communications about them (pure: no I/O).

Intervals are half-open, ``[inicio, fim)``: ``fim`` is the first day the effect no longer applies, None while it
is open (its end not yet communicated). Each interval names its legal basis, the communications it comes from, and
whether the rule that produced it is inferred in the :class:`~gateway.consulta.rules.RuleVersion` used.

Rules (DOMAIN.md §2 and §2a; the counting choices are the rule version's):

- **Improbity** (kinds I, III, VII with ``natureza=improbidade``; grouped by process — the same facts): the
  suspension of political rights (CF art. 15 V; Lei 8.429/1992 art. 12) takes effect at the trânsito em julgado
  (art. 20) and lasts the term the judgment sets (counted from the trânsito, or from the collegiate decision under
  art. 12 §10 when the version says so); a kind III (cumprimento) ends it earlier. The inelegibility of LC 64/1990
  art. 1º I "l" (when a communication says the fact causes it) runs from the collegiate decision (else the trânsito)
  until 8 years after the sentence is served (``apos_cumprimento``: open while no kind III came), or, since
  LC 219/2025, for 8 years from the collegiate decision (``desde_colegiada``).
- **Criminal** (kinds IV, V, VII with ``natureza=criminal``; by process): the suspension (CF art. 15 III) runs from
  the trânsito until the punishment is extinguished — the kind V communication (Súmula TSE 9); open until then.
  The inelegibility of art. 1º I "e" (when communicated as causing it) runs from the collegiate decision (else the
  trânsito) until 8 years after the extinction.
- **Dismissal** (kind VIII): inelegibility for 8 years from the publication (art. 1º I "o").
- **Other cases** (kind IX): a suspension for the term communicated, an inelegibility with no end communicated
  (open) — as stated in the communication (inferred).
- **Death** (kind VI): the electoral registration is cancelled from the date of death (inferred: ASE 019).
- **Cap** (LC 219/2025): an inelegibility of the capped alíneas ends at most ``teto_anos`` after it started.
- Cancelled communications count for nothing; an ANPC (kind II) only registers.

"Situation at a date" applies these rules — the version in force on that date — to everything known now.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from gateway.consulta.rules import RuleVersion

SUSPENSAO, INELEGIBILIDADE, INSCRICAO_CANCELADA = "suspensao_direitos_politicos", "inelegibilidade", \
    "inscricao_cancelada"


@dataclass(frozen=True)
class Fact:
    """What the timeline needs of one communication (its current version). ``term`` is (years, months, days) of a
    suspension; ``causes_inelegibility`` and ``alinea`` come from the ``inelegibilidade`` block; ``nature`` is
    VII's ``natureza``; ``basis`` IX's ``fundamentoLegal``; ``status`` ``ativa`` or ``cancelada``."""

    protocol: str
    kind: str
    fact_date: date
    status: str = "ativa"
    process_number: str | None = None
    linked_protocol: str | None = None
    term: tuple[int, int, int] | None = None
    causes_inelegibility: bool = False
    alinea: str | None = None
    nature: str | None = None
    basis: str | None = None


@dataclass(frozen=True)
class Interval:
    """One interval of the timeline (see the module docstring)."""

    kind: str  # suspensao_direitos_politicos | inelegibilidade | inscricao_cancelada
    start: date
    end: date | None
    basis: str
    protocols: tuple[str, ...]
    inferred: bool
    alinea: str | None = None
    notes: tuple[str, ...] = ()

    def covers(self, on: date) -> bool:
        """Whether the interval is in effect on *on*."""
        return self.start <= on and (self.end is None or on < self.end)


@dataclass(frozen=True)
class Timeline:
    """The intervals, the rule version used, and the situation on the date asked about."""

    rule_version: str
    on: date
    intervals: tuple[Interval, ...] = field(default=())

    @property
    def suspended(self) -> bool:
        """Political rights suspended on :attr:`on`."""
        return any(i.kind == SUSPENSAO and i.covers(self.on) for i in self.intervals)

    @property
    def ineligible(self) -> bool:
        """Ineligible on :attr:`on`: an inelegibility in effect, or suspended rights (CF art. 14 §3º II)."""
        return self.suspended or any(i.kind == INELEGIBILIDADE and i.covers(self.on) for i in self.intervals)

    @property
    def registration_cancelled(self) -> bool:
        """The electoral registration cancelled (death) on :attr:`on`."""
        return any(i.kind == INSCRICAO_CANCELADA and i.covers(self.on) for i in self.intervals)


def add_term(start: date, years: int = 0, months: int = 0, days: int = 0) -> date:
    """*start* plus a term in calendar years, months and days (a day past the month's end clamps to its last day:
    29 Feb + 1 year = 28 Feb)."""
    month_index = start.month - 1 + months + 12 * years
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date.fromordinal(date(year, month, day).toordinal() + days)


def compute(facts: Iterable[Fact], rules: RuleVersion, on: date) -> Timeline:
    """The timeline of the person the *facts* are about, under *rules*, with the situation on *on*."""
    active = [f for f in facts if f.status == "ativa"]
    intervals: list[Interval] = []
    intervals += _improbity(active, rules)
    intervals += _criminal(active, rules)
    intervals += _others(active, rules)
    intervals = [_capped(i, rules) for i in intervals]
    intervals.sort(key=lambda i: (i.start, i.kind, i.protocols))
    return Timeline(rules.id, on, tuple(intervals))


def _groups(facts: Sequence[Fact], kinds: dict[str, str | None]) -> list[list[Fact]]:
    """Facts of *kinds* (kind → VII nature or None) grouped by the facts they concern: the same process, or a
    kind III/V linked by protocol to a conviction of the group."""
    chosen = [f for f in facts if f.kind in kinds and (kinds[f.kind] is None or f.nature == kinds[f.kind])]
    by_protocol = {f.protocol: f for f in chosen}
    groups: dict[str, list[Fact]] = {}
    for fact in sorted(chosen, key=lambda f: (f.fact_date, f.protocol)):
        linked = by_protocol.get(fact.linked_protocol or "")
        key = (linked.process_number or linked.protocol) if linked else (fact.process_number or fact.protocol)
        groups.setdefault(key, []).append(fact)
    return list(groups.values())


def _improbity(facts: Sequence[Fact], rules: RuleVersion) -> list[Interval]:
    out: list[Interval] = []
    for group in _groups(facts, {"I": None, "III": None, "VII": "improbidade"}):
        convictions = [f for f in group if f.kind == "I"]
        collegiate = next((f for f in group if f.kind == "VII"), None)
        served = next((f for f in group if f.kind == "III"), None)
        final = convictions[-1] if convictions else None  # several trânsitos: the last one (DOMAIN.md §2)
        if final is not None and final.term and any(final.term):
            counted_from = final.fact_date
            notes: tuple[str, ...] = ()
            if rules.improbidade_suspensao_contada_de == "colegiada" and collegiate is not None:
                counted_from = collegiate.fact_date
                notes = ("prazo contado desde a decisão colegiada (Lei 8.429/1992 art. 12 §10)",)
            end = add_term(counted_from, *final.term)
            sources = [final.protocol]
            if served is not None and served.fact_date < end:
                end = max(served.fact_date, final.fact_date)
                sources.append(served.protocol)
            if end > final.fact_date:
                out.append(Interval(SUSPENSAO, final.fact_date, end,
                                    "CF art. 15, V; Lei 8.429/1992 art. 12 e art. 20", tuple(sources),
                                    rules.inferred("suspensao_improbidade"), notes=notes))
        if any(f.causes_inelegibility for f in group):
            start_fact = collegiate or final or served
            assert start_fact is not None
            start = start_fact.fact_date
            sources = [f.protocol for f in group]
            if rules.improbidade_inelegibilidade == "desde_colegiada":
                end_l: date | None = add_term(start, rules.inelegibilidade_anos)
                note = f"{rules.inelegibilidade_anos} anos desde a decisão colegiada (ou o trânsito em julgado)"
            elif served is not None:
                end_l = add_term(served.fact_date, rules.inelegibilidade_anos)
                note = f"até {rules.inelegibilidade_anos} anos após o cumprimento da pena (espécie III)"
            else:
                end_l = None
                note = f"aberta: corre até {rules.inelegibilidade_anos} anos após o cumprimento da pena, ainda não " \
                       "comunicado (espécie III)"
            out.append(Interval(INELEGIBILIDADE, start, end_l, 'LC 64/1990 art. 1º, I, "l"', tuple(sources),
                                rules.inferred("inelegibilidade_l"), alinea="l", notes=(note,)))
    return out


def _criminal(facts: Sequence[Fact], rules: RuleVersion) -> list[Interval]:
    out: list[Interval] = []
    for group in _groups(facts, {"IV": None, "V": None, "VII": "criminal"}):
        convictions = [f for f in group if f.kind == "IV"]
        collegiate = next((f for f in group if f.kind == "VII"), None)
        extinction = next((f for f in group if f.kind == "V"), None)
        final = convictions[-1] if convictions else None
        if final is not None:
            end = extinction.fact_date if extinction is not None and extinction.fact_date >= final.fact_date else None
            sources = [final.protocol] + ([extinction.protocol] if end is not None and extinction else [])
            out.append(Interval(SUSPENSAO, final.fact_date, end, "CF art. 15, III; Súmula TSE 9", tuple(sources),
                                rules.inferred("suspensao_criminal"),
                                notes=() if end else ("aberta: até a extinção da punibilidade (espécie V)",)))
        if any(f.causes_inelegibility for f in group if f.kind in ("IV", "VII")):
            start_fact = collegiate or final
            assert start_fact is not None
            if rules.criminal_inelegibilidade == "desde_colegiada":
                end_e: date | None = add_term(start_fact.fact_date, rules.inelegibilidade_anos)
                note = f"{rules.inelegibilidade_anos} anos desde a decisão colegiada (ou o trânsito em julgado)"
            elif extinction is not None:
                end_e = add_term(extinction.fact_date, rules.inelegibilidade_anos)
                note = f"até {rules.inelegibilidade_anos} anos após a extinção da pena (espécie V)"
            else:
                end_e = None
                note = f"aberta: corre até {rules.inelegibilidade_anos} anos após a extinção da pena, ainda não " \
                       "comunicada (espécie V)"
            out.append(Interval(INELEGIBILIDADE, start_fact.fact_date, end_e, 'LC 64/1990 art. 1º, I, "e"',
                                tuple(f.protocol for f in group), rules.inferred("inelegibilidade_e"), alinea="e",
                                notes=(note,)))
    return out


def _others(facts: Sequence[Fact], rules: RuleVersion) -> list[Interval]:
    out: list[Interval] = []
    for fact in facts:
        if fact.kind == "VIII":
            out.append(Interval(INELEGIBILIDADE, fact.fact_date, add_term(fact.fact_date, rules.demissao_anos),
                                'LC 64/1990 art. 1º, I, "o"', (fact.protocol,), rules.inferred("inelegibilidade_o"),
                                alinea="o"))
        elif fact.kind == "IX":
            basis = fact.basis or "comunicação da espécie IX"
            if fact.term and any(fact.term):
                out.append(Interval(SUSPENSAO, fact.fact_date, add_term(fact.fact_date, *fact.term), basis,
                                    (fact.protocol,), rules.inferred("outra_hipotese")))
            if fact.causes_inelegibility:
                out.append(Interval(INELEGIBILIDADE, fact.fact_date, None, basis, (fact.protocol,),
                                    rules.inferred("outra_hipotese"), alinea=fact.alinea,
                                    notes=("prazo não comunicado",)))
        elif fact.kind == "VI":
            out.append(Interval(INSCRICAO_CANCELADA, fact.fact_date, None,
                                "óbito: cancelamento da inscrição eleitoral (Código Eleitoral art. 71, IV; ASE 019)",
                                (fact.protocol,), rules.inferred("obito")))
    return out


def _capped(interval: Interval, rules: RuleVersion) -> Interval:
    if interval.kind != INELEGIBILIDADE or not rules.teto_anos or interval.alinea not in rules.teto_alineas:
        return interval
    cap = add_term(interval.start, rules.teto_anos)
    if interval.end is not None and interval.end <= cap:
        return interval
    return Interval(interval.kind, interval.start, cap, interval.basis + f"; teto de {rules.teto_anos} anos "
                    "(LC 219/2025)", interval.protocols, interval.inferred or rules.inferred("teto"), interval.alinea,
                    (*interval.notes, f"limitada ao teto de {rules.teto_anos} anos"))
