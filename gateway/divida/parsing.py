"""Reading the partners' values into the normalised model, pure (no I/O): money, dates, situations, roles.

- Money: PGFN (SERPRO) writes pt-BR strings — ``"13.676,34"``, ``"1.000.000,00"``, ``"0,00"`` (DOMAIN.md §5,
  ``valorTotalConsolidadoMoeda``); PGF (our own contract, ``mocks/README_pgf.md``) integer cents. Both become a
  :class:`~decimal.Decimal` with exactly two places; the REST edge renders it as a decimal string with a dot
  (``"13676.34"``, DESIGN.md "REST conventions"). Negative amounts, missing or extra decimals, misplaced thousands
  separators, floats or booleans given as cents: :class:`DadoIlegivel` ``DIVIDA-E020``.
- Dates: ``DD/MM/AAAA`` (PGFN) and ISO ``AAAA-MM-DD`` (PGF); anything else, impossible days included:
  ``DIVIDA-E021``.
- Situations: one table per partner, from the partner's own text (PGFN: ``situacaoDescricao``, the wording of its
  open data's ``SITUACAO_INSCRICAO``; PGF: ``situacao.codigo``) to the gateway's vocabulary (:class:`Situacao`);
  an unknown text is ``outra`` — never an error: the partner's text is kept as ``situacaoOriginal``.
- Roles: ``PRINCIPAL``/``CORRESPONSAVEL``/``SOLIDARIO`` (PGFN open data's ``TIPO_DEVEDOR``; PGF in lower case);
  anything else is ``DIVIDA-E022`` — a role cannot be guessed, since totals depend on it.

Errors here are :class:`DadoIlegivel` (a ``ValueError`` with a ``DIVIDA-E…`` code); the adapters turn them into
``PartnerUnreadable`` with that code, naming the partner.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from types import MappingProxyType

from gateway.divida.domain import CENTAVO, Papel, Situacao


class DadoIlegivel(ValueError):
    """A partner's value that cannot be read into the model; ``code`` is its ``DIVIDA-E…`` code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- money ------------------------------------------------------------------------------------------------------

#: pt-BR money: digits grouped by dots in threes (or not grouped at all), a comma, exactly two decimals.
_MOEDA_BR = re.compile(r"(?:[0-9]{1,3}(?:\.[0-9]{3})+|[0-9]+),[0-9]{2}")


def moeda_br(texto: object) -> Decimal:
    """``"13.676,34"`` → ``Decimal("13676.34")``; ``"1.000.000,00"`` and ``"1000000,00"`` both → ``1000000.00``.

    Raises :class:`DadoIlegivel` ``DIVIDA-E020`` for anything else: a negative sign, no or three decimals, dots in
    the wrong places, a dot as decimal separator, blanks inside, a non-string."""
    if not isinstance(texto, str) or _MOEDA_BR.fullmatch(texto.strip()) is None:
        raise DadoIlegivel("DIVIDA-E020", f"valor monetário ilegível: {texto!r}")
    inteiro, _, decimais = texto.strip().partition(",")
    return Decimal(f"{inteiro.replace('.', '')}.{decimais}")


def formatar_moeda_br(valor: Decimal) -> str:
    """``Decimal("13676.34")`` → ``"13.676,34"``: the inverse of :func:`moeda_br` for non-negative amounts of two
    places (used by tests and fixtures). Raises ``ValueError`` for a negative amount."""
    if valor < 0:
        raise ValueError("valor negativo")
    inteiro, _, decimais = f"{valor.quantize(CENTAVO):f}".partition(".")
    return f"{int(inteiro):,}".replace(",", ".") + "," + decimais


def centavos(valor: object) -> Decimal:
    """Integer cents (PGF) → reais with two places: ``1367634`` → ``Decimal("13676.34")``.

    Raises :class:`DadoIlegivel` ``DIVIDA-E020`` for a negative number, a float, a boolean or anything not an
    integer."""
    if isinstance(valor, bool) or not isinstance(valor, int) or valor < 0:
        raise DadoIlegivel("DIVIDA-E020", f"valor em centavos ilegível: {valor!r}")
    return (Decimal(valor) / 100).quantize(CENTAVO)


# -- dates -------------------------------------------------------------------------------------------------------

_DATA_BR = re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{4})")
_DATA_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def data_br(texto: object) -> date:
    """``"21/11/2008"`` → ``date(2008, 11, 21)``. Raises :class:`DadoIlegivel` ``DIVIDA-E021`` otherwise (another
    layout, an impossible day such as ``31/02/2020``, a non-string)."""
    m = _DATA_BR.fullmatch(texto.strip()) if isinstance(texto, str) else None
    return _date(texto, (m[3], m[2], m[1]) if m else None)


def data_iso(texto: object) -> date:
    """``"2008-11-21"`` → ``date(2008, 11, 21)``. Raises :class:`DadoIlegivel` ``DIVIDA-E021`` otherwise."""
    m = _DATA_ISO.fullmatch(texto.strip()) if isinstance(texto, str) else None
    return _date(texto, (m[1], m[2], m[3]) if m else None)


def _date(texto: object, parts: tuple[str, str, str] | None) -> date:
    try:
        if parts:
            return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        pass
    raise DadoIlegivel("DIVIDA-E021", f"data ilegível: {texto!r}")


# -- situations --------------------------------------------------------------------------------------------------

def _chave(texto: str) -> str:
    """Upper case, no accents, blanks collapsed: the key the tables are looked up by."""
    sem_acento = unicodedata.normalize("NFKD", texto).encode("ascii", "ignore").decode()
    return " ".join(sem_acento.upper().split())


#: PGFN: ``situacaoDescricao`` (open data's SITUACAO_INSCRICAO wording) → vocabulary. The ajuizada variants of a
#: parcelamento, a suspension or a guarantee keep the more specific state (the process number still travels);
#: "a ser ajuizada" is still em cobrança; a transação (Lei 13.988/2020) is a negotiated settlement paid in
#: instalments, grouped with parcelamentos as PGFN groups them ("Em negociação"); a benefício fiscal has no
#: equivalent in the vocabulary.
SITUACOES_PGFN: Mapping[str, Situacao] = MappingProxyType({
    "ATIVA EM COBRANCA": Situacao.EM_COBRANCA,
    "ATIVA A SER AJUIZADA": Situacao.EM_COBRANCA,
    "ATIVA AJUIZADA": Situacao.AJUIZADA,
    "ATIVA EM COBRANCA - PARCELAMENTO": Situacao.PARCELADA,
    "ATIVA AJUIZADA - PARCELAMENTO": Situacao.PARCELADA,
    "ATIVA EM COBRANCA - TRANSACAO": Situacao.PARCELADA,
    "ATIVA - BENEFICIO FISCAL": Situacao.OUTRA,
    "ATIVA - SUSPENSA POR DECISAO JUDICIAL": Situacao.SUSPENSA,
    "ATIVA AJUIZADA - SUSPENSA POR DECISAO JUDICIAL": Situacao.SUSPENSA,
    "ATIVA AJUIZADA - GARANTIA - PENHORA": Situacao.GARANTIDA,
    "ATIVA AJUIZADA - GARANTIA - SEGURO GARANTIA": Situacao.GARANTIDA,
    "ATIVA AJUIZADA - GARANTIA - DEPOSITO JUDICIAL": Situacao.GARANTIDA,
    "EXTINTA POR PAGAMENTO": Situacao.EXTINTA,
    "EXTINTA - CANCELAMENTO": Situacao.EXTINTA,
    "EXTINTA - PRESCRICAO": Situacao.EXTINTA,
    "EXTINTA POR PAGAMENTO - AJUIZADA": Situacao.EXTINTA,
})

#: PGF: ``situacao.codigo`` (``mocks/README_pgf.md``, "Situations") → vocabulary, by the same choices as PGFN's.
SITUACOES_PGF: Mapping[str, Situacao] = MappingProxyType({
    "EM_COBRANCA": Situacao.EM_COBRANCA,
    "A_SER_AJUIZADA": Situacao.EM_COBRANCA,
    "AJUIZADA": Situacao.AJUIZADA,
    "PARCELADA": Situacao.PARCELADA,
    "PARCELADA_AJUIZADA": Situacao.PARCELADA,
    "TRANSACAO": Situacao.PARCELADA,
    "BENEFICIO_FISCAL": Situacao.OUTRA,
    "SUSPENSA_DECISAO_JUDICIAL": Situacao.SUSPENSA,
    "SUSPENSA_DECISAO_JUDICIAL_AJUIZADA": Situacao.SUSPENSA,
    "GARANTIDA_PENHORA": Situacao.GARANTIDA,
    "GARANTIDA_SEGURO": Situacao.GARANTIDA,
    "GARANTIDA_DEPOSITO": Situacao.GARANTIDA,
    "EXTINTA_PAGAMENTO": Situacao.EXTINTA,
    "EXTINTA_CANCELAMENTO": Situacao.EXTINTA,
    "EXTINTA_PRESCRICAO": Situacao.EXTINTA,
    "EXTINTA_AJUIZADA": Situacao.EXTINTA,
})


def situacao_pgfn(descricao: str) -> Situacao:
    """The vocabulary's situation for PGFN's ``situacaoDescricao`` (case, accents and blanks ignored); unknown →
    :attr:`Situacao.OUTRA`."""
    return SITUACOES_PGFN.get(_chave(descricao), Situacao.OUTRA)


def situacao_pgf(codigo: str) -> Situacao:
    """The vocabulary's situation for PGF's ``situacao.codigo`` (case ignored); unknown → :attr:`Situacao.OUTRA`."""
    return SITUACOES_PGF.get(_chave(codigo), Situacao.OUTRA)


# -- roles -------------------------------------------------------------------------------------------------------

_PAPEIS = MappingProxyType({"PRINCIPAL": Papel.PRINCIPAL, "CORRESPONSAVEL": Papel.CORRESPONSAVEL,
                            "SOLIDARIO": Papel.SOLIDARIO})


def papel(texto: object) -> Papel:
    """``PRINCIPAL``/``CORRESPONSAVEL``/``SOLIDARIO`` in any case (accents ignored) → :class:`Papel`. Raises
    :class:`DadoIlegivel` ``DIVIDA-E022`` for anything else."""
    found = _PAPEIS.get(_chave(texto)) if isinstance(texto, str) else None
    if found is None:
        raise DadoIlegivel("DIVIDA-E022", f"papel do devedor desconhecido: {texto!r}")
    return found
