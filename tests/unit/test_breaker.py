"""The circuit breaker's state machine on a fake clock: closed → open after N consecutive failures → half-open
after the cooldown (one probe) → closed on success, open again on failure."""

from __future__ import annotations

import pytest

from gateway.clock import FakeClock
from gateway.relay import CircuitBreaker


@pytest.fixture
def clock() -> FakeClock:
    """A clock the tests move."""
    return FakeClock()


def opened(clock: FakeClock, threshold: int = 3, cooldown: float = 10.0) -> CircuitBreaker:
    """A breaker just opened by *threshold* failures."""
    breaker = CircuitBreaker(threshold, cooldown, clock)
    for _ in range(threshold):
        breaker.failure()
    return breaker


def test_opens_after_threshold_consecutive_failures_only(clock: FakeClock) -> None:
    """N−1 failures keep it closed and calling; a success resets the count; the N-th consecutive failure opens it
    and calls stop."""
    breaker = CircuitBreaker(3, 10.0, clock)
    breaker.failure()
    breaker.failure()
    breaker.success()
    breaker.failure()
    breaker.failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.failure()
    assert breaker.state == "open"
    assert not breaker.allow()


def test_half_open_after_the_cooldown_lets_exactly_one_probe(clock: FakeClock) -> None:
    """Open until the cooldown has passed on the monotonic reading; then half-open, and only the first caller
    gets through."""
    breaker = opened(clock)
    clock.advance(9.999)
    assert breaker.state == "open" and not breaker.allow()
    clock.advance(0.001)
    assert breaker.state == "half-open"
    assert breaker.allow()
    assert not breaker.allow()
    assert breaker.state == "half-open"


def test_probe_success_closes(clock: FakeClock) -> None:
    """A successful probe closes the breaker and clears the failure count: N more failures are needed to open."""
    breaker = opened(clock)
    clock.advance(10)
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()
    breaker.failure()
    breaker.failure()
    assert breaker.state == "closed"


def test_probe_failure_opens_for_another_full_cooldown(clock: FakeClock) -> None:
    """A failed probe opens the breaker again, counted from the probe's failure, not from the first opening."""
    breaker = opened(clock)
    clock.advance(15)
    assert breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.advance(9.5)
    assert breaker.state == "open"
    clock.advance(0.5)
    assert breaker.state == "half-open" and breaker.allow()


def test_a_cancelled_probe_lets_the_next_caller_probe(clock: FakeClock) -> None:
    """A probe that never reached the partner (nothing to send, a bug of ours) is given back: the next caller
    probes instead of the breaker staying half-open forever."""
    breaker = opened(clock)
    clock.advance(10)
    assert breaker.allow()
    breaker.cancel_probe()
    assert breaker.allow()
    assert not breaker.allow()


def test_wall_clock_changes_do_not_move_the_cooldown(clock: FakeClock) -> None:
    """The cooldown is measured on the monotonic reading only: a wall-clock jump (NTP, DST) does not close it."""
    breaker = opened(clock)
    clock.at = clock.at.replace(year=clock.at.year + 1)
    assert breaker.state == "open"
