"""A scripted partner for tests, beside the real ones and behind the same :class:`adapters.base.Adapter` protocol.

Each call of :meth:`FakeAdapter.deliver` records the batch it received and plays the next step of its script: an
exception instance is raised (a :class:`gateway.errors.PartnerError` as a real adapter would, or any other
exception to play an adapter bug); a function of the batch returns its results (it may be ``async``, to act while
the call is in flight). When the script is empty every message is accepted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from adapters.base import DeliveryResult, OutboundMessage

Answer = Callable[[Sequence[OutboundMessage]], list[DeliveryResult] | Awaitable[list[DeliveryResult]]]
Step = BaseException | Answer


def accept(batch: Sequence[OutboundMessage]) -> list[DeliveryResult]:
    """Every message registered, each with receipt ``recibo-<message id>``."""
    return [DeliveryResult(m.message_id, True, receipt=f"recibo-{m.message_id}") for m in batch]


def reject(reason: str) -> Answer:
    """A step refusing every message of the batch (not retryable) with *reason*."""
    def answer(batch: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        return [DeliveryResult(m.message_id, False, error=reason, retryable=False) for m in batch]
    return answer


class FakeAdapter:
    """An in-memory partner that plays a script of results and failures and records every batch it received."""

    def __init__(self, name: str = "FAKE", *steps: Step, max_batch: int = 100) -> None:
        self.name = name
        self.max_batch = max_batch
        self.steps: deque[Step] = deque(steps)
        self.calls: list[list[OutboundMessage]] = []
        self.closed = False

    def then(self, *steps: Step) -> FakeAdapter:
        """Append *steps* to the script; returns the adapter."""
        self.steps.extend(steps)
        return self

    @property
    def received(self) -> list[str]:
        """Message ids of every call, in the order received (a resend appears again)."""
        return [m.message_id for batch in self.calls for m in batch]

    async def deliver(self, batch: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        """Record *batch* and play the next step."""
        self.calls.append(list(batch))
        step = self.steps.popleft() if self.steps else accept
        if isinstance(step, BaseException):
            raise step
        answer = step(batch)
        return answer if isinstance(answer, list) else await answer

    async def aclose(self) -> None:
        """Mark the adapter closed."""
        self.closed = True
