"""A crash hook for tests: SIGKILL the process the N-th time it passes a named point.

Enabled only by ``GATEWAY_CRASH_AT=point:N`` together with ``GATEWAY_ENVIRONMENT=test`` (settings refuse it
otherwise). Points: ``before_commit``, ``after_commit`` (group committer), ``after_claim``,
``after_partner_answer`` (relay), ``obitos_chunk`` (after each committed chunk of a death batch).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from gateway.settings import Settings


def crash_hook(settings: Settings) -> Callable[[str], None] | None:
    """The hook configured by *settings*, or None."""
    if settings.environment != "test" or not settings.crash_at:
        return None
    point, _, count = settings.crash_at.partition(":")
    remaining = {"n": int(count or 1)}

    def hook(where: str) -> None:
        if where != point:
            return
        remaining["n"] -= 1
        if remaining["n"] <= 0:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook
