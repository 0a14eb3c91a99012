"""A scripted debt partner for tests, beside the real ones (``adapters.pgfn``, ``adapters.pgf``) and behind the same
:class:`gateway.divida.partners.DebtPartner` protocol.

Each lookup is recorded (``calls``: ``("devedor", documento)`` or ``("inscricao", numero)``) and plays the next step
of the script: an exception instance is raised (a :class:`gateway.errors.PartnerError` as a real adapter would, or
any other exception to play an adapter's bug); an answer is returned; a function of the argument is awaited (it
may wait forever, :func:`hang`, to play a partner that never answers). When the script is empty the fake answers
from its data: ``devedores`` by document (an empty answer for an unknown one) and ``detalhes`` by number (None for
an unknown one).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping

from gateway.divida.domain import Credor, InscricaoDetalhada, RespostaDevedor

Answer = RespostaDevedor | InscricaoDetalhada | None
Step = BaseException | RespostaDevedor | InscricaoDetalhada | Callable[[str], Awaitable[Answer]]


async def hang(_argument: str) -> Answer:
    """A step that never answers (the caller's timeout must end it)."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


class FakeDebtPartner:
    """An in-memory debt partner playing a script and recording every lookup (see the module docstring)."""

    def __init__(self, credor: Credor, devedores: Mapping[str, RespostaDevedor] | None = None,
                 detalhes: Mapping[str, InscricaoDetalhada] | None = None, *steps: Step) -> None:
        self.credor = credor
        self.devedores = dict(devedores or {})
        self.detalhes = dict(detalhes or {})
        self.steps: deque[Step] = deque(steps)
        self.calls: list[tuple[str, str]] = []
        self.closed = False

    def then(self, *steps: Step) -> FakeDebtPartner:
        """Append *steps* to the script; returns the fake."""
        self.steps.extend(steps)
        return self

    async def _play(self, argument: str) -> Answer | type[_Data]:
        if not self.steps:
            return _Data
        step = self.steps.popleft()
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, RespostaDevedor | InscricaoDetalhada):
            return step
        return await step(argument)

    async def devedor(self, documento: str) -> RespostaDevedor:
        """Record the lookup and play the next step, else answer from ``devedores``."""
        self.calls.append(("devedor", documento))
        answer = await self._play(documento)
        if answer is _Data:
            return self.devedores.get(documento, RespostaDevedor(None))
        if not isinstance(answer, RespostaDevedor):
            raise TypeError(f"passo do roteiro não é RespostaDevedor: {answer!r}")
        return answer

    async def inscricao(self, numero: str) -> InscricaoDetalhada | None:
        """Record the lookup and play the next step, else answer from ``detalhes``."""
        self.calls.append(("inscricao", numero))
        answer = await self._play(numero)
        if answer is _Data:
            return self.detalhes.get(numero)
        if answer is not None and not isinstance(answer, InscricaoDetalhada):
            raise TypeError(f"passo do roteiro não é InscricaoDetalhada: {answer!r}")
        return answer

    async def aclose(self) -> None:
        """Mark the fake closed."""
        self.closed = True


class _Data:
    """Marker: the script is empty, answer from the fake's data."""
