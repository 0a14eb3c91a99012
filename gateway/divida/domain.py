"""The dívida ativa bridge's model and rules, pure (no I/O): one vocabulary over PGFN's and PGF's inscriptions.

The agreement between CNJ, PGFN and PGF (seed 000, plan items 2 and 5.1.3) asks for access to "inscribed debts and
debtors"; PGFN answers through SERPRO's *Consulta Dívida Ativa*, PGF through an API of our own design (DOMAIN.md §5,
``mocks/README_pgf.md``). Whatever the partner, an inscription becomes one :class:`Inscricao`: creditor, the
creditor organ, number, situation in one vocabulary (:class:`Situacao`, the partner's own text kept), the role of
the debtor asked about (:class:`Papel`), the consolidated value (``Decimal``, two places), dates, revenue and the
execução fiscal's number when there is one.

Totals (:func:`totalizar`) keep the debtor's roles apart: ``principal`` sums the inscriptions where this debtor is
the principal, ``corresponsavel`` those where it is co-responsible or solidary. They are never added: co-debtors
answer for the full value of the same debt, so a sum over roles counts one debt several times (DOMAIN.md §5: "sum
only PRINCIPAL rows").

Each partner asked is a :class:`Fonte` (``ok``, ``indisponivel``, ``tempo_esgotado``, ``erro``; its age when served
from the cache). A result with any source not ``ok`` is ``parcial``: an empty list then never means "no debts".
When no partner answered at all the outcome is :class:`NenhumParceiroRespondeu` (``DIVIDA-E050``, a 503 at the
REST edge).

Inputs are checked here, each refusal a :class:`~gateway.errors.ValidationFailed` naming the field: documents
(``DIVIDA-E001``/``E002``), creditor (``E003``) and inscription numbers per creditor (``E004`` PGFN's SIDA with two
mod-11 digits; ``E005``/``E006`` PGF's 15 digits with an ISO 7064 MOD 11,10 digit and a known creditor code).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from gateway.errors import GatewayError, PartnerError, PartnerTimeout, PartnerUnreachable, ValidationFailed
from gateway.identifiers import (
    is_valid_cnpj,
    is_valid_cpf,
    is_valid_inscricao_pgf,
    is_valid_inscricao_pgfn,
    is_valid_processo_cnj,
    normalize_inscricao_pgf,
    normalize_inscricao_pgfn,
    only_digits,
)

CENTAVO = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_DOCUMENTOS = 100
#: The creditor organ of every PGFN inscription (the União's credits, Lei 6.830/1980 art. 2º).
ORGAO_PGFN = "União — Fazenda Nacional"
#: PGF's creditor codes (the ``CCC`` of its inscription numbers) → the autarchy or foundation: the table of our own
#: contract (``mocks/README_pgf.md``, "Creditors"), since PGF publishes none.
CREDORES_PGF = MappingProxyType({
    "101": "INSS", "201": "IBAMA", "202": "ICMBIO", "301": "ANTT", "302": "DNIT", "401": "ANATEL", "501": "ANVISA",
    "502": "ANS", "601": "ANP", "602": "ANEEL", "701": "INMETRO", "702": "CADE", "703": "CVM",
})


class Credor(StrEnum):
    """Who inscribed the debt: PGFN (the União's credits) or PGF (federal autarchies and foundations)."""

    PGFN = "PGFN"
    PGF = "PGF"


class Situacao(StrEnum):
    """The one vocabulary of an inscription's situation (the partner's own text travels beside it)."""

    EM_COBRANCA = "em_cobranca"
    AJUIZADA = "ajuizada"
    PARCELADA = "parcelada"
    SUSPENSA = "suspensa"
    GARANTIDA = "garantida"
    EXTINTA = "extinta"
    OUTRA = "outra"


class Papel(StrEnum):
    """How the debtor asked about answers for an inscription (PGFN open data's ``TIPO_DEVEDOR``)."""

    PRINCIPAL = "principal"
    CORRESPONSAVEL = "corresponsavel"
    SOLIDARIO = "solidario"


class TipoPessoa(StrEnum):
    """Natural person (CPF) or legal entity (CNPJ)."""

    FISICA = "fisica"
    JURIDICA = "juridica"


class EstadoFonte(StrEnum):
    """What became of one partner's lookup."""

    OK = "ok"
    INDISPONIVEL = "indisponivel"
    TEMPO_ESGOTADO = "tempo_esgotado"
    ERRO = "erro"


def tipo_pessoa(documento: str) -> TipoPessoa:
    """:attr:`TipoPessoa.FISICA` for an 11-character CPF, :attr:`TipoPessoa.JURIDICA` for a 14-character CNPJ."""
    return TipoPessoa.FISICA if len(documento) == 11 else TipoPessoa.JURIDICA


@dataclass(frozen=True)
class Devedor:
    """A debtor: CPF (11 digits) or CNPJ (14 characters, alphanumeric too), unmasked; the name as a partner gave it
    (None when no partner named it: PGF's list does not, ``mocks/README_pgf.md``)."""

    cpf_cnpj: str
    nome: str | None
    tipo_pessoa: TipoPessoa


@dataclass(frozen=True)
class Inscricao:
    """One inscription in dívida ativa as seen from the debtor asked about (``papel_devedor``; None in the detail
    of an inscription, which lists every party in :class:`InscricaoDetalhada`).

    ``valor_consolidado`` is a non-negative ``Decimal`` of exactly two places (reais); dates are None only where
    the partner's list does not give them (PGFN's summary without its detail)."""

    credor: Credor
    orgao_credor: str
    numero_inscricao: str
    situacao: Situacao
    situacao_original: str
    papel_devedor: Papel | None
    valor_consolidado: Decimal
    data_inscricao: date | None
    data_atualizacao: date | None
    receita: str
    numero_processo_judicial: str | None = None

    def __post_init__(self) -> None:
        """Refuse an amount that is not a non-negative Decimal of two places (the parsers guarantee it)."""
        v = self.valor_consolidado
        if not isinstance(v, Decimal) or v.as_tuple().exponent != -2 or v < 0:
            raise ValueError(f"valor_consolidado deve ser Decimal não negativo com 2 casas: {v!r}")


@dataclass(frozen=True)
class Responsavel:
    """A party of an inscription and its role."""

    devedor: Devedor
    papel: Papel


@dataclass(frozen=True)
class InscricaoDetalhada:
    """One inscription in detail: the normalised inscription and what a CDA states (Lei 6.830/1980 art. 2º §5º)
    that the partners give — every party with its role, the administrative process, the legal basis."""

    inscricao: Inscricao
    responsaveis: tuple[Responsavel, ...]
    processo_administrativo: str | None = None
    fundamento_legal: str | None = None
    data_ajuizamento: date | None = None


@dataclass(frozen=True)
class Totais:
    """Sums of ``valor_consolidado`` by the debtor's role, in reais; never to be added together."""

    principal: Decimal = ZERO
    corresponsavel: Decimal = ZERO


@dataclass(frozen=True)
class TotaisDevedor:
    """Totals per creditor that answered (``por_credor``; a creditor that failed has no entry) and overall."""

    por_credor: dict[Credor, Totais]
    geral: Totais


def totalizar(inscricoes: Iterable[Inscricao], credores: Iterable[Credor]) -> TotaisDevedor:
    """Totals of *inscricoes* for the creditors in *credores* (those whose source answered: each gets an entry,
    zero when it has no inscription). ``principal`` sums where the debtor is principal; ``corresponsavel`` where it
    is co-responsible or solidary; an inscription without a role (a detail) counts in neither."""
    answered = list(dict.fromkeys(credores))
    sums = {c: [ZERO, ZERO] for c in answered}
    for i in inscricoes:
        if i.credor not in sums or i.papel_devedor is None:
            continue
        sums[i.credor][0 if i.papel_devedor is Papel.PRINCIPAL else 1] += i.valor_consolidado
    por_credor = {c: Totais(p, co) for c, (p, co) in sums.items()}
    geral = Totais(sum((t.principal for t in por_credor.values()), ZERO),
                   sum((t.corresponsavel for t in por_credor.values()), ZERO))
    return TotaisDevedor(por_credor, geral)


@dataclass(frozen=True)
class Fonte:
    """One partner's lookup: its state, when it was asked (aware UTC), a Portuguese detail and the code of a
    failure, how old the answer is when served from the cache (seconds), and the partner's ``Retry-After`` (seconds)
    when it asked us to wait."""

    credor: Credor
    estado: EstadoFonte
    consultado_em: datetime
    detalhe: str | None = None
    codigo: str | None = None
    idade_cache_s: float | None = None
    retry_after_s: float | None = None


def fonte_da_falha(credor: Credor, error: GatewayError, consultado_em: datetime) -> Fonte:
    """The :class:`Fonte` of a failed lookup: its state (:func:`estado_da_falha`), message and code, and the
    ``Retry-After`` the partner gave, if any."""
    return Fonte(credor, estado_da_falha(error), consultado_em, error.message, error.code,
                 retry_after_s=getattr(error, "retry_after", None))


#: States decided by the error's code before its class: what the partner told us, or why it was not asked.
_ESTADO_POR_CODIGO = MappingProxyType({
    "DIVIDA-E031": EstadoFonte.INDISPONIVEL,  # 429: come back later
    "DIVIDA-E032": EstadoFonte.INDISPONIVEL,  # circuit open: not asked
    "DIVIDA-E033": EstadoFonte.INDISPONIVEL,  # not configured
    "DIVIDA-E034": EstadoFonte.TEMPO_ESGOTADO,  # the overall deadline ran out
    "DIVIDA-E035": EstadoFonte.INDISPONIVEL,  # the connection was closed without an answer
})


def estado_da_falha(error: GatewayError) -> EstadoFonte:
    """A failure's state: by code first (:data:`_ESTADO_POR_CODIGO`), then unreachable → ``indisponivel``, no
    answer in time → ``tempo_esgotado``, anything else (a refusal, garbage, a 5xx, our own bug) → ``erro``."""
    if error.code in _ESTADO_POR_CODIGO:
        return _ESTADO_POR_CODIGO[error.code]
    if isinstance(error, PartnerUnreachable):
        return EstadoFonte.INDISPONIVEL
    if isinstance(error, PartnerTimeout):
        return EstadoFonte.TEMPO_ESGOTADO
    return EstadoFonte.ERRO


@dataclass(frozen=True)
class ResultadoDevedor:
    """The answer for one document: the debtor, its inscriptions at every creditor that answered, their totals and
    every source asked. ``parcial`` when any source is not ``ok``."""

    devedor: Devedor
    inscricoes: tuple[Inscricao, ...]
    totais: TotaisDevedor
    fontes: tuple[Fonte, ...]

    @property
    def parcial(self) -> bool:
        """True when some source failed: the inscriptions and totals are then incomplete."""
        return any(f.estado is not EstadoFonte.OK for f in self.fontes)

    @property
    def algum_respondeu(self) -> bool:
        """True when at least one source answered."""
        return any(f.estado is EstadoFonte.OK for f in self.fontes)


def resultado(documento: str, nome: str | None, inscricoes: Sequence[Inscricao],
              fontes: Sequence[Fonte]) -> ResultadoDevedor:
    """The :class:`ResultadoDevedor` of *documento*: totals over the creditors whose source is ``ok``."""
    answered = [f.credor for f in fontes if f.estado is EstadoFonte.OK]
    return ResultadoDevedor(Devedor(documento, nome, tipo_pessoa(documento)), tuple(inscricoes),
                            totalizar(inscricoes, answered), tuple(fontes))


@dataclass(frozen=True)
class ResultadoInscricao:
    """One inscription in detail and the source that gave it."""

    inscricao: InscricaoDetalhada
    fonte: Fonte


class ParceiroSobrecarregado(PartnerError):
    """The partner answered 429: retryable, after ``retry_after`` seconds when it said so (``DIVIDA-E031``)."""

    default_code = "DIVIDA-E031"

    def __init__(self, message: str, *, partner: str, retry_after: float | None) -> None:
        super().__init__(message, retryable=True, partner=partner)
        self.retry_after = retry_after


class NenhumParceiroRespondeu(PartnerError):
    """No partner answered any lookup of a request (``DIVIDA-E050``; a 503 at the REST edge). ``fontes`` says
    what became of each; ``retry_after`` is the longest wait a partner asked for, if any."""

    default_code = "DIVIDA-E050"

    def __init__(self, fontes: Sequence[Fonte]) -> None:
        detalhes = "; ".join(f"{f.credor}: {f.estado} ({f.codigo or '-'})" for f in fontes)
        super().__init__(f"Nenhum parceiro respondeu ({detalhes}); tente novamente mais tarde.", retryable=True)
        self.fontes = tuple(fontes)
        waits = [f.retry_after_s for f in fontes if f.retry_after_s is not None]
        self.retry_after = max(waits) if waits else None


# -- the caller's input ------------------------------------------------------------------------------------------

def documentos(valores: object, campo: str = "documentos") -> tuple[str, ...]:
    """The CPFs and CNPJs asked about, unmasked (letters of an alphanumeric CNPJ upper-cased), in order, each once.

    Raises :class:`~gateway.errors.ValidationFailed`: ``DIVIDA-E002`` (field *campo*) unless a list of 1 to
    :data:`MAX_DOCUMENTOS` items; ``DIVIDA-E001`` (field ``documentos[i]``, the first bad one) for an item that is
    not a valid CPF (11 digits) or CNPJ (14 characters, IN RFB 2.229/2024)."""
    if not isinstance(valores, list | tuple) or not 1 <= len(valores) <= MAX_DOCUMENTOS:
        raise ValidationFailed("DIVIDA-E002", field=campo)
    out: dict[str, None] = {}
    for n, valor in enumerate(valores):
        doc = only_digits(valor).upper() if isinstance(valor, str) else ""
        if not ((len(doc) == 11 and is_valid_cpf(doc)) or (len(doc) == 14 and is_valid_cnpj(doc))):
            raise ValidationFailed("DIVIDA-E001", f"CPF ou CNPJ inválido em {campo}[{n}].", f"{campo}[{n}]")
        out[doc] = None
    return tuple(out)


def finalidade(valor: object, campo: str = "finalidade") -> str:
    """The purpose of an access (the issue's point 5: LGPD art. 6º I, the agreement's plan item 6): the number of the
    process it serves, a CNJ unified number (Res. CNJ 65/2008), masked or not; returned as its 20 digits. Raises
    :class:`~gateway.errors.ValidationFailed` ``DIVIDA-E007`` naming *campo*."""
    texto = valor.strip() if isinstance(valor, str) else ""
    if not is_valid_processo_cnj(texto):
        raise ValidationFailed("DIVIDA-E007", field=campo)
    return only_digits(texto)


def credor(valor: object, campo: str = "credor") -> Credor:
    """``PGFN`` or ``PGF`` (case ignored). Raises :class:`~gateway.errors.ValidationFailed` ``DIVIDA-E003``."""
    try:
        return Credor(valor.upper() if isinstance(valor, str) else "")
    except ValueError:
        raise ValidationFailed("DIVIDA-E003", field=campo) from None


def numero_inscricao(de: Credor, valor: object, campo: str = "numero") -> str:
    """The inscription number *valor* of creditor *de*, unmasked: PGFN's SIDA left-padded to 13 digits with two
    mod-11 check digits (DOMAIN.md §3); PGF's 15 digits with an ISO 7064 MOD 11,10 digit and a creditor code of
    :data:`CREDORES_PGF` (``mocks/README_pgf.md``). Raises :class:`~gateway.errors.ValidationFailed` naming
    *campo*: ``DIVIDA-E004`` (PGFN), ``DIVIDA-E005`` (PGF), ``DIVIDA-E006`` (PGF, unknown creditor code)."""
    texto = valor if isinstance(valor, str) else ""
    if de is Credor.PGFN:
        if not is_valid_inscricao_pgfn(texto):
            raise ValidationFailed("DIVIDA-E004", field=campo)
        return normalize_inscricao_pgfn(texto)
    if not is_valid_inscricao_pgf(texto):
        raise ValidationFailed("DIVIDA-E005", field=campo)
    numero = normalize_inscricao_pgf(texto)
    if numero[:3] not in CREDORES_PGF:
        raise ValidationFailed("DIVIDA-E006", f"Código de credor {numero[:3]} desconhecido no número de inscrição "
                               "da PGF.", campo)
    return numero


@dataclass(frozen=True)
class RespostaDevedor:
    """What one partner answered about one document: the name it gave (if any) and the inscriptions, in its order."""

    nome: str | None
    inscricoes: tuple[Inscricao, ...] = field(default_factory=tuple)
