"""The one small interface of a debt partner, implemented by ``adapters.pgfn`` (SERPRO's *Consulta Dívida Ativa*),
``adapters.pgf`` (our own PGF contract) and ``adapters.divida_fake`` (scripted, for unit tests).

A partner answers in the normalised model of :mod:`gateway.divida.domain`: reading the partner's shape is the
adapter's work. A failure raises one of the partner errors of :mod:`gateway.errors` (through the adapters' one
boundary, ``adapters.base.translating``), with a ``DIVIDA-E…`` code where the bridge says more than the tree
(``DIVIDA-E030`` our credential refused, ``E031`` a 429 with its ``Retry-After``, ``E035`` a connection closed
without an answer, ``E020``–``E022`` values outside the contract). Programming errors are never translated.
"""

from __future__ import annotations

from typing import Protocol

from gateway.divida.domain import Credor, InscricaoDetalhada, RespostaDevedor


class DebtPartner(Protocol):
    """A creditor's attorney office answering about inscriptions in dívida ativa."""

    credor: Credor

    async def devedor(self, documento: str) -> RespostaDevedor:
        """Every inscription where *documento* (an unmasked, valid CPF or CNPJ) answers, as principal,
        co-responsible or solidary, each with that role; a document owing nothing is an empty answer, never an
        error. Raises a :class:`~gateway.errors.PartnerError` when the partner fails."""
        ...

    async def inscricao(self, numero: str) -> InscricaoDetalhada | None:
        """Inscription *numero* (unmasked, valid for this creditor) in detail with every party, or None when the
        partner does not know it. Raises a :class:`~gateway.errors.PartnerError` when the partner fails."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
