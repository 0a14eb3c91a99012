"""Synthetic, deterministic debts of the PGFN and PGF simulators: the same seed gives the same data, byte for byte
(on a given Python minor version: only ``random.random()``'s sequence is promised stable across versions).

:func:`generate` builds a :class:`Base`: a few thousand principal debtors (CPFs, numeric CNPJs and alphanumeric
CNPJs — IN RFB 2.229/2024), the partners of companies as co-responsible (``CORRESPONSAVEL``) and group companies as
``SOLIDARIO``, and their inscriptions in dívida ativa at PGFN (União, SIDA numbers) and at PGF (federal autarchies
and foundations, numbers of our own format, ``mocks/README_pgf.md``), in every situation the real systems show (em
cobrança, ajuizada, parcelada, transação, suspensa por decisão judicial, garantida, extinta…). Some debtors owe to
both. Ajuizadas carry the CNJ number of their execução fiscal in the Justiça Federal (J=4, the TRF of the debtor's
State — MG in TRF6 from 2022 — and a unit of the debtor's municipality).

Values are integer cents, consolidated at the fixed :data:`DATA_BASE` (never today: the data must not change with
the clock). Co-debtors owe the full value of an inscription, as in PGFN's open data (sum only ``PRINCIPAL`` rows).
Administrative process numbers are NUP-shaped but random (no check digits: do not validate them).

:func:`demo_documents` gives the sandbox its ``demo.devedores`` lists.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from typing import Any

from mocks.divida_ids import new_cnpj, new_cpf, pgf_number, sida_number
from mocks.divida_tables import (
    BUSINESS_WORDS,
    CREDORES,
    GIVEN_NAMES,
    LEGAL_FORMS,
    PRFN_DA_UF,
    RECEITAS_PGFN,
    SEDE_PRFN,
    SITUACOES,
    SURNAMES,
    UF_WEIGHTS,
    UFS,
    Receita,
    Situacao,
)
from mocks.tribunal_data import cnj_number

DATA_BASE = date(2026, 10, 31)  # values are consolidated at this date
ALPHANUMERIC_FROM = date(2026, 7, 1)  # alphanumeric CNPJs exist from July 2026 (IN RFB 2.229/2024)
PROTESTO_FROM = date(2013, 1, 1)  # CDAs may be protested since Lei 12.767/2012
DEFAULT_SEED = 20260701
DEFAULT_DEVEDORES = 3000
PGFN, PGF = "PGFN", "PGF"


@dataclass(frozen=True)
class Pessoa:
    """A debtor: document (CPF 11 digits or CNPJ 14 characters, unmasked), name, kind, domicile."""

    documento: str
    nome: str
    tipo: str  # FISICA | JURIDICA
    uf: str
    municipio: str


@dataclass(frozen=True)
class Responsavel:
    """Who answers for an inscription and how: ``PRINCIPAL``, ``CORRESPONSAVEL`` or ``SOLIDARIO``."""

    documento: str
    tipo: str


@dataclass(frozen=True)
class Unidade:
    """The attorney's office unit in charge: name, State, and the simulator's unit codes."""

    nome: str
    uf: str
    uorg: str
    comprot: str


@dataclass(frozen=True)
class Inscricao:
    """One inscription in dívida ativa. Values in cents; ``credor`` is the PGF creditor code (None for PGFN)."""

    procuradoria: str  # PGFN | PGF
    numero: str
    credor: int | None
    receita: Receita
    situacao: Situacao
    responsaveis: tuple[Responsavel, ...]  # the principal first
    data_vencimento: date  # the oldest debt's due date (interest runs from it)
    data_inscricao: date
    valor_originario: int
    valor_inscrito: int
    valor_consolidado: int  # at DATA_BASE; 0 when extinct
    processo_administrativo: str
    processo_judicial: str | None  # 20-digit CNJ number, J=4
    data_ajuizamento: date | None
    data_protesto: date | None
    unidade: Unidade

    @property
    def principal(self) -> Responsavel:
        """The principal debtor."""
        return self.responsaveis[0]


@dataclass
class Base:
    """Everyone and every inscription of one seed, with indexes by document."""

    seed: int
    pessoas: dict[str, Pessoa] = field(default_factory=dict)
    inscricoes: dict[str, dict[str, Inscricao]] = field(default_factory=lambda: {PGFN: {}, PGF: {}})
    por_documento: dict[str, dict[str, list[str]]] = field(default_factory=lambda: {PGFN: {}, PGF: {}})
    sem_divida: list[str] = field(default_factory=list)  # valid documents owing nothing

    def inscricoes_de(self, procuradoria: str, documento: str) -> list[tuple[Inscricao, Responsavel]]:
        """The inscriptions of *procuradoria* where *documento* answers, each with its role, oldest first."""
        out = []
        for numero in self.por_documento[procuradoria].get(documento, []):
            i = self.inscricoes[procuradoria][numero]
            out.append((i, next(r for r in i.responsaveis if r.documento == documento)))
        return sorted(out, key=lambda pair: (pair[0].data_inscricao, pair[0].numero))

    def demo_documents(self) -> dict[str, list[str]]:
        """``{"pgfn": [...], "pgf": [...], "ambos": [...], "nenhum": [...]}``: documents for demos and tests.

        ``pgfn``: a CPF, a numeric CNPJ with an ajuizada, an alphanumeric CNPJ, a co-responsible only;
        ``pgf``: a CPF, a CNPJ, one with more inscriptions than a page; ``ambos``: a CNPJ with many inscriptions at
        both, a CPF; ``nenhum``: a CPF, a numeric and an alphanumeric CNPJ owing nothing. A small base (a few
        hundred debtors) may lack some of them; the default base has them all.
        """
        in_pgfn, in_pgf = self.por_documento[PGFN], self.por_documento[PGF]

        def first(pred: Any, pool: dict[str, list[str]], other: dict[str, list[str]], both: bool = False) -> list[str]:
            for doc, numeros in pool.items():
                if (doc in other) == both and pred(self.pessoas[doc], numeros):
                    return [doc]
            return []  # a small base may have no such debtor

        def principal(p: Pessoa, numeros: list[str], where: str = PGFN) -> bool:
            return any(self.inscricoes[where][n].principal.documento == p.documento for n in numeros)

        def ajuizada(numeros: list[str]) -> bool:
            return any(self.inscricoes[PGFN][n].situacao.ajuizada for n in numeros)

        return {
            "pgfn": [
                *first(lambda p, ns: len(p.documento) == 11 and principal(p, ns), in_pgfn, in_pgf),
                *first(lambda p, ns: len(p.documento) == 14 and p.documento.isdigit() and ajuizada(ns), in_pgfn,
                       in_pgf),
                *first(lambda p, ns: not p.documento.isdigit(), in_pgfn, in_pgf),
                *first(lambda p, ns: not principal(p, ns), in_pgfn, in_pgf),
            ],
            "pgf": [
                *first(lambda p, ns: len(p.documento) == 11 and principal(p, ns, PGF), in_pgf, in_pgfn),
                *first(lambda p, ns: len(p.documento) == 14 and len(ns) <= 20, in_pgf, in_pgfn),
                *first(lambda p, ns: len(ns) > 20, in_pgf, in_pgfn),
            ],
            "ambos": [
                *first(lambda p, ns: len(p.documento) == 14 and len(ns) > 20, in_pgfn, in_pgf, both=True),
                *first(lambda p, ns: len(p.documento) == 11 and principal(p, ns), in_pgfn, in_pgf, both=True),
            ],
            "nenhum": list(self.sem_divida),
        }

    def fingerprint(self) -> str:
        """SHA-256 of the whole base, in order (the same seed gives the same fingerprint; the ``repr`` of frozen
        dataclasses of strings, integers and dates is stable between processes)."""
        h = hashlib.sha256()
        for p in self.pessoas.values():
            h.update(repr(p).encode())
        for where in (PGFN, PGF):
            for i in self.inscricoes[where].values():
                h.update(repr(i).encode())
        h.update(repr(self.sem_divida).encode())
        return h.hexdigest()


def _day(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, max(0, (end - start).days)))


def _cents(rng: random.Random, low: float, high: float) -> int:
    """A log-uniform amount between *low* and *high* reais, in cents."""
    return round(low * (high / low) ** rng.random() * 100)


def _interest(cents: int, start: date, end: date, monthly: float = 0.009) -> int:
    """Simple interest (about the SELIC of recent years) from *start* to *end*."""
    months = max(0, (end - start).days) / 30.4
    return round(cents * monthly * months)


def _nup(rng: random.Random, year: int) -> str:
    return f"{rng.randint(10000, 19999):05d}.{rng.randint(1, 999999):06d}/{year:04d}-{rng.randint(0, 99):02d}"


class _Generator:
    """One generation run: the random stream, counters and the base being filled."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.base = Base(seed)
        self.used: dict[str, None] = {}  # documents taken (a dict: sets' order would vary between processes)
        self.sequence: dict[tuple[int, int], int] = {}
        self.ufs = list(UF_WEIGHTS)
        self.uf_weights = list(UF_WEIGHTS.values())

    def new_document(self, kind: str) -> str:
        while True:
            doc = (new_cpf(self.rng) if kind == "cpf" else new_cnpj(self.rng, alphanumeric=kind == "alnum"))
            if doc not in self.used:
                self.used[doc] = None
                return doc

    def person(self, kind: str, uf: str | None = None) -> Pessoa:
        rng = self.rng
        uf = uf or rng.choices(self.ufs, self.uf_weights)[0]
        municipio = rng.choice(UFS[uf][0])
        if kind == "cpf":
            nome = f"{rng.choice(GIVEN_NAMES)} {rng.choice(SURNAMES)} {rng.choice(SURNAMES)}"
        else:
            nome = f"{rng.choice(SURNAMES)} {rng.choice(BUSINESS_WORDS)} {rng.choice(LEGAL_FORMS)}"
        p = Pessoa(self.new_document(kind), nome, "FISICA" if kind == "cpf" else "JURIDICA", uf, municipio)
        self.base.pessoas[p.documento] = p
        return p

    def unidade(self, procuradoria: str, uf: str) -> Unidade:
        region = PRFN_DA_UF[uf]
        capital = UFS[uf][0][0]
        if procuradoria == PGFN:
            nome = (f"PROCURADORIA-REGIONAL DA FAZENDA NACIONAL DA {region}A REGIAO" if SEDE_PRFN[region] == uf
                    else f"PROCURADORIA DA FAZENDA NACIONAL EM {capital}")
        else:
            nome = (f"PROCURADORIA-REGIONAL FEDERAL DA {region}A REGIAO" if SEDE_PRFN[region] == uf
                    else f"PROCURADORIA FEDERAL NO ESTADO - {uf}")
        index = list(UFS).index(uf)
        return Unidade(nome, uf, f"{region}{index:02d}{0 if procuradoria == PGFN else 5}00", f"{10100 + index * 37}")

    def number(self, procuradoria: str, receita: Receita, credor: int, year: int) -> str:
        if procuradoria == PGF:
            key = (credor, year)
            self.sequence[key] = self.sequence.get(key, 0) + self.rng.randint(1, 40)
            return pgf_number(credor, year, self.sequence[key])
        roll = self.rng.random()
        prefix = 80 if roll < 0.85 else self.rng.choice((1, 2, 4, 7)) if roll < 0.93 else self.rng.choice((10, 22, 70))
        key = (prefix * 10 + receita.sida_tipo, year)
        self.sequence[key] = self.sequence.get(key, 0) + self.rng.randint(1, 40)
        return sida_number(prefix, receita.sida_tipo, year, self.sequence[key])

    def inscricao(self, procuradoria: str, principal: Pessoa, socios: list[Pessoa], grupo: list[Pessoa]) -> Inscricao:
        rng = self.rng
        pf = principal.tipo == "FISICA"
        credor = 0
        if procuradoria == PGFN:
            receitas = [r for r in RECEITAS_PGFN if ("PF" if pf else "PJ") in r.pessoas]
        else:
            cred = rng.choice([c for c in CREDORES if any(("PF" if pf else "PJ") in r.pessoas for r in c.receitas)])
            credor = cred.codigo
            receitas = [r for r in cred.receitas if ("PF" if pf else "PJ") in r.pessoas]
        receita = rng.choice(receitas)
        situacao = rng.choices(SITUACOES, [s.peso for s in SITUACOES])[0]
        alphanumeric = not principal.documento.isdigit()
        earliest = ALPHANUMERIC_FROM + timedelta(days=30) if alphanumeric else date(2004, 1, 1)
        inscricao = _day(rng, earliest, DATA_BASE - timedelta(days=40 if situacao.ajuizada else 20))
        vencimento = inscricao - timedelta(days=rng.randint(90, 1500))
        if alphanumeric:
            vencimento = max(ALPHANUMERIC_FROM, vencimento)
        originario = _cents(rng, 300, 300_000) if pf else _cents(rng, 1_000, 20_000_000)
        multa = originario * (75 if rng.random() < 0.3 and receita.natureza == "TRIBUTARIA" else 20) // 100
        inscrito = originario + multa + _interest(originario, vencimento, inscricao)
        consolidado = inscrito + _interest(inscrito, inscricao, DATA_BASE)
        if procuradoria == PGFN:
            consolidado += consolidado // 5  # encargo legal of 20% (Decreto-Lei 1.025/1969)
        if situacao.chave.startswith("parcelada") or situacao.chave == "transacao":
            consolidado = consolidado * rng.randint(30, 95) // 100  # the balance still owed
        if not situacao.ativa:
            consolidado = 0
        processo = ajuizamento = protesto = None
        if situacao.ajuizada:
            ajuizamento = _day(rng, inscricao + timedelta(days=15), min(DATA_BASE, inscricao + timedelta(days=700)))
            _, before_2022, from_2022, origins = UFS[principal.uf]
            region = from_2022 if ajuizamento.year >= 2022 else before_2022
            origin = origins[min(UFS[principal.uf][0].index(principal.municipio), len(origins) - 1)]
            processo = cnj_number(rng.randint(1, 9_999_999), ajuizamento.year, 4, region, origin)
        # CDAs are protested since Lei 12.767/2012; Res. CNJ 547/2024 asks for a protest before filing
        window = (max(inscricao + timedelta(days=5), PROTESTO_FROM), (ajuizamento or DATA_BASE) - timedelta(days=1))
        if window[0] <= window[1] and rng.random() < (0.9 if ajuizamento and ajuizamento.year >= 2024 else 0.35):
            protesto = _day(rng, *window)
        responsaveis = [Responsavel(principal.documento, "PRINCIPAL")]
        if socios and rng.random() < 0.4:
            for s in rng.sample(socios, rng.randint(1, len(socios))):
                responsaveis.append(Responsavel(s.documento, "CORRESPONSAVEL"))
        if grupo and rng.random() < 0.08:
            responsaveis.append(Responsavel(rng.choice(grupo).documento, "SOLIDARIO"))
        return Inscricao(
            procuradoria, self.number(procuradoria, receita, credor, inscricao.year), credor or None, receita,
            situacao, tuple(responsaveis), vencimento, inscricao, originario, inscrito, consolidado,
            _nup(rng, vencimento.year), processo, ajuizamento, protesto, self.unidade(procuradoria, principal.uf))

    def add(self, i: Inscricao) -> None:
        self.base.inscricoes[i.procuradoria][i.numero] = i
        index = self.base.por_documento[i.procuradoria]
        for r in i.responsaveis:
            numeros = index.setdefault(r.documento, [])
            if i.numero not in numeros:
                numeros.append(i.numero)

    def run(self, devedores: int) -> Base:
        rng = self.rng
        companies: list[Pessoa] = []
        for n in range(devedores):
            # the first two are big companies: more inscriptions than a page, at both (0) and at PGF only (1)
            roll = rng.random()
            kind = "cnpj" if n < 2 else "cpf" if roll < 0.6 else "alnum" if roll < 0.64 else "cnpj"
            principal = self.person(kind)
            where = rng.random()
            places = ([PGFN, PGF] if n == 0 else [PGF] if n == 1 else
                      [PGFN] if where < 0.65 else [PGF] if where < 0.87 else [PGFN, PGF])
            socios: list[Pessoa] = []
            if principal.tipo == "JURIDICA":
                socios = [self.person("cpf", principal.uf) for _ in range(rng.randint(1, 2))]
                companies.append(principal)
            grupo = [c for c in companies[-6:-1] if c.uf == principal.uf]
            for place in places:
                count = 45 if n < 2 else min(12, 1 + int(rng.expovariate(0.8)))
                items = sorted((self.inscricao(place, principal, socios, grupo) for _ in range(count)),
                               key=lambda i: (i.data_inscricao, i.numero))
                for item in items:
                    self.add(item)
        for kind in ("cpf", "cnpj", "alnum"):
            self.base.sem_divida.append(self.new_document(kind))
        return self.base


def generate(seed: int = DEFAULT_SEED, devedores: int = DEFAULT_DEVEDORES) -> Base:
    """The synthetic base of *seed* with *devedores* principal debtors (plus their co-responsible partners)."""
    return _Generator(seed).run(devedores)


@cache
def default_base(seed: int = DEFAULT_SEED, devedores: int = DEFAULT_DEVEDORES) -> Base:
    """:func:`generate`, built once per process."""
    return generate(seed, devedores)


def demo_documents(seed: int = DEFAULT_SEED, devedores: int = DEFAULT_DEVEDORES) -> dict[str, list[str]]:
    """The sandbox's ``demo.devedores``: ``{"pgfn": [...], "pgf": [...], "ambos": [...], "nenhum": [...]}``."""
    return default_base(seed, devedores).demo_documents()
