"""The bearer tokens' verification cache (issue 17): a token verified once is not decoded again, yet it still expires
at its ``exp`` and a token differing in any byte is verified (and refused) on its own."""

from __future__ import annotations

import pytest

from gateway.auth import Caller
from gateway.clock import FakeClock
from gateway.organs import OrganType
from gateway.tokens import InvalidToken, TokenIssuer

CALLER = Caller("tjrj-sistema", 1, "TJRJ", OrganType.TRIBUNAL, frozenset(), credential_id=7, version=2)


def test_a_cached_token_still_expires_and_a_tampered_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    issuer = TokenIssuer(b"s" * 32, clock, ttl_s=60)
    token = issuer.issue(CALLER, ["direitos-politicos:consultar"]).token
    first = issuer.verify(token)
    assert first.username == "tjrj-sistema" and first.scopes == frozenset({"direitos-politicos:consultar"})

    import gateway.tokens as tokens

    def no_decode(*_a: object, **_k: object) -> object:
        raise AssertionError("a verified token was decoded again")

    monkeypatch.setattr(tokens.jwt, "decode", no_decode)
    assert issuer.verify(token) == first  # from the cache
    monkeypatch.undo()

    head, payload, signature = token.split(".")
    tampered = ".".join((head, payload, ("A" if signature[0] != "A" else "B") + signature[1:]))
    with pytest.raises(InvalidToken):
        issuer.verify(tampered)
    other = TokenIssuer(b"t" * 32, clock, ttl_s=60)  # another secret: its own cache, the token is not its own
    with pytest.raises(InvalidToken):
        other.verify(token)

    clock.advance(61)
    with pytest.raises(InvalidToken, match="expirado"):
        issuer.verify(token)
