"""The relay's backoff, property-based: full jitter between zero and a capped exponential ceiling."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.relay import RelayPolicy, backoff

attempts = st.integers(min_value=0, max_value=100_000)
unit = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
bases = st.floats(min_value=0.001, max_value=100.0)
caps = st.floats(min_value=0.001, max_value=86_400.0)


@given(attempts, bases, caps, unit)
def test_never_negative_and_never_above_the_cap(attempt: int, base: float, cap: float, r: float) -> None:
    """Whatever the attempt number (even far beyond where 2^n overflows a float) and the jitter drawn, the delay
    is within [0, max_backoff_s]."""
    delay = backoff(attempt, RelayPolicy(base_backoff_s=base, max_backoff_s=cap), lambda: r)
    assert 0.0 <= delay <= cap


@given(st.integers(min_value=0, max_value=40), bases, caps, unit)
def test_full_jitter_spans_zero_to_the_exponential_ceiling(attempt: int, base: float, cap: float, r: float) -> None:
    """The delay is the jitter draw times min(cap, base·2^(attempt−1)): a draw of 0 gives 0, draws towards 1
    approach the ceiling, so the whole range is used."""
    policy = RelayPolicy(base_backoff_s=base, max_backoff_s=cap)
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    assert backoff(attempt, policy, lambda: r) == ceiling * r
    assert backoff(attempt, policy, lambda: 0.0) == 0.0
    assert backoff(attempt, policy, lambda: 0.999999) <= ceiling


def test_the_ceiling_doubles_per_attempt_until_the_cap() -> None:
    """With base 1 s and cap 300 s the ceilings are 1, 1, 2, 4 … 256, 300, 300 (attempt 0 and 1 share the base)."""
    policy = RelayPolicy(base_backoff_s=1.0, max_backoff_s=300.0)
    ceilings = [backoff(n, policy, lambda: 1.0) for n in range(12)]
    assert ceilings == [1, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]


def test_jitter_uses_the_random_source_by_default() -> None:
    """Without an injected source, delays vary between calls (full jitter spreads retries of many rows)."""
    policy = RelayPolicy(base_backoff_s=1.0, max_backoff_s=300.0)
    assert len({backoff(8, policy) for _ in range(20)}) > 1
