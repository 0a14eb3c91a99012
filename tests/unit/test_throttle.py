"""The login throttle (gateway/throttle.py) and the Authenticator's use of it, on a fake clock: per (username,
address), never per username alone; the KDF never runs for a throttled attempt; the audit summary is bounded."""

from __future__ import annotations

import asyncio

import pytest

from gateway import auth as auth_module
from gateway.auth import Authenticator
from gateway.clock import FakeClock
from gateway.db.engine import make_engine
from gateway.edges.forwarded import Forwarding
from gateway.errors import AuthenticationFailed, TooManyRequests
from gateway.metrics import Metrics
from gateway.settings import parse_networks
from gateway.throttle import LoginThrottle
from gateway.xml.soap import PASSWORD_TEXT, UsernameToken
from tests.support import KDF_N, SECRET, password_of


def test_failures_throttle_one_user_from_one_address_only() -> None:
    """After N failures in the window the pair waits until the oldest failure leaves it; the same user from another
    address, and another user from the same address, are not affected; a success clears the pair."""
    clock = FakeClock()
    t = LoginThrottle(clock, max_failures=3, window_s=60)
    for _ in range(3):
        assert t.retry_after("tjrj", "10.0.0.1") is None
        t.failed("tjrj", "10.0.0.1")
        clock.advance(1)
    assert t.retry_after("tjrj", "10.0.0.1") == pytest.approx(57)
    assert t.retry_after("tjrj", "10.0.0.2") is None and t.retry_after("outro", "10.0.0.1") is None
    clock.advance(57)
    assert t.retry_after("tjrj", "10.0.0.1") is None  # the first failure left the window
    t.failed("tjrj", "10.0.0.1")
    assert t.retry_after("tjrj", "10.0.0.1") is not None  # failures 2, 3 and 4 are within 60 s
    t.succeeded("tjrj", "10.0.0.1")
    assert t.retry_after("tjrj", "10.0.0.1") is None


def test_the_audit_summary_is_aggregated_and_bounded() -> None:
    """However many pairs fail, one summary lists at most 100 pairs (the most failing first) with exact totals, keeps
    at most 10,000 pairs in memory, and is emptied once taken."""
    t = LoginThrottle(FakeClock(), max_failures=3, window_s=60)
    for _ in range(7):
        t.failed("alvo", "10.9.9.9")
    t.refused("alvo", "10.9.9.9")
    for i in range(20_000):  # 20,000 distinct pairs: past the 10,000 a summary keeps, counted but not kept
        t.failed(f"u{i % 5000}", f"10.0.{i // 256 % 256}.{i % 256}")
    summary = t.take_summary()
    assert summary is not None
    assert summary["falhas"] == 20_007 and summary["recusadas"] == 1 and 9_000 < summary["omitidos"] <= 10_000 - 100
    assert len(summary["maiores"]) == 100 and summary["maiores"][0] == {
        "usuario": "alvo", "endereco": "10.9.9.9", "falhas": 7, "recusadas": 1}
    assert t.take_summary() is None


@pytest.fixture
def authenticator(sqlite_url: str) -> Authenticator:
    """An Authenticator on the seeded test database with a throttle of 3 failures per minute."""
    return Authenticator(make_engine(sqlite_url), SECRET.encode(), 60, KDF_N,
                         throttle=LoginThrottle(FakeClock(), max_failures=3, window_s=60), metrics=Metrics())


def token(password: str, user: str = "tjrj-sistema") -> UsernameToken:
    """A PasswordText UsernameToken."""
    return UsernameToken(user, password, PASSWORD_TEXT)


def test_the_kdf_never_runs_for_a_throttled_attempt(authenticator: Authenticator,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Three wrong passwords from one address, then even the right one from there is refused E029 without a KDF
    run; from another address the right password is accepted; failures and refusals are counted in metrics."""
    runs: list[str] = []
    real = auth_module.verify_password

    def counting(password: str, stored: str) -> bool:
        runs.append(password)
        return real(password, stored)

    monkeypatch.setattr(auth_module, "verify_password", counting)

    async def scenario() -> None:
        for i in range(3):
            with pytest.raises(AuthenticationFailed):
                await authenticator.authenticate(token(f"errada-{i}"), client="10.0.0.1")
        assert len(runs) == 3
        for password in ("errada-x", password_of("tjrj-sistema")):
            with pytest.raises(TooManyRequests) as refused:
                await authenticator.authenticate(token(password), "MNI", client="10.0.0.1")
            assert refused.value.code == "MNI-E029" and refused.value.retry_after > 0
        assert len(runs) == 3  # no KDF for the throttled attempts
        caller = await authenticator.authenticate(token(password_of("tjrj-sistema")), client="10.0.0.2")
        assert caller.organ_code == "TJRJ" and len(runs) == 4

    asyncio.run(scenario())
    metrics = authenticator.metrics
    assert metrics is not None
    assert metrics.login_failures.labels("infodip")._value.get() == 3
    assert metrics.logins_throttled.labels("mni")._value.get() == 2


def test_client_address_comes_from_a_trusted_proxy_only() -> None:
    """X-Forwarded-For is ignored from an untrusted peer; from a trusted proxy the rightmost address that is not a
    trusted proxy is the client (what a client wrote at the left does not count)."""
    fwd = Forwarding("", parse_networks("10.1.0.0/16, 192.0.2.7"))
    headers = [(b"x-forwarded-for", b"1.1.1.1, 203.0.113.9, 10.1.2.3")]
    assert fwd.client_address("198.51.100.1", headers) == "198.51.100.1"
    assert fwd.client_address("192.0.2.7", headers) == "203.0.113.9"
    assert fwd.client_address("192.0.2.7", []) == "192.0.2.7"
    assert fwd.client_address("192.0.2.7", [(b"x-forwarded-for", b"nonsense")]) == "192.0.2.7"

