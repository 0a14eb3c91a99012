"""The spool directory's sweep (issue 13 §2): spooled batches older than GATEWAY_OBITOS_SPOOL_MAX_AGE_H go with their
sidecars, leftovers without a sidecar go after an hour, recent ones stay; and the envelope's head is read as it
arrives, so the sender is known before the body is spooled."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from gateway.auth import Caller
from gateway.errors import GatewayError
from gateway.infodip.domain import Kind
from gateway.obitos.contract import EnvelopeHead
from gateway.obitos.sidecar import database_key, write_sidecar
from gateway.obitos.spooled import sweep
from gateway.organs import OrganType

HOUR = 3600.0


def spooled(directory: Path, name: str, age_s: float, sidecar: bool) -> Path:
    path = directory / f"lote-{name}.part"
    path.write_bytes(b"<x/>")
    if sidecar:
        write_sidecar(path, Caller("crc", 1, "CRC", OrganType.CRC, frozenset({Kind.VI})), "soap", name, "sqlite://")
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_sweep_removes_old_batches_and_leftovers_only(tmp_path: Path) -> None:
    """72 h max age: a 73 h batch goes with its sidecar, a 2 h one without a sidecar goes (a leftover), a 2 h one
    with its sidecar and a fresh leftover stay; another program's file is never touched."""
    old = spooled(tmp_path, "old", 73 * HOUR, True)
    leftover = spooled(tmp_path, "leftover", 2 * HOUR, False)
    alive = spooled(tmp_path, "alive", 2 * HOUR, True)
    fresh = spooled(tmp_path, "fresh", 60, False)
    other = tmp_path / "outro.part"
    other.write_bytes(b"x")
    os.utime(other, (0, 0))
    assert sweep(tmp_path, 72 * HOUR) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [alive.name, alive.name + ".json", fresh.name, "outro.part"])
    assert not old.exists() and not leftover.exists()


def test_sidecar_names_the_database_by_digest(tmp_path: Path) -> None:
    """The sidecar carries a digest of the database URL, never the URL (it may hold a password), and is 0600."""
    path = spooled(tmp_path, "a", 0, True)
    side = path.with_name(path.name + ".json")
    text = side.read_text()
    assert database_key("sqlite://") in text and "sqlite://" not in text
    assert side.stat().st_mode & 0o777 == 0o600


def envelope(password: str) -> bytes:
    return ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header>'
            '<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0'
            f'.xsd"><wsse:UsernameToken><wsse:Username>crc</wsse:Username><wsse:Password>{password}</wsse:Password>'
            "</wsse:UsernameToken></wsse:Security></soap:Header><soap:Body><x:op xmlns:x='urn:x'>").encode()


def test_envelope_head_has_the_tokens_once_the_body_starts() -> None:
    """Fed a byte at a time past the first 64 KB, the head is done as soon as <Body> starts, tokens read."""
    head = EnvelopeHead()
    data = b"<!-- " + b"x" * (70 * 1024) + b" -->" + envelope("s3nha")
    done = False
    for i in range(0, len(data), 997):
        done = head.feed(data[i:i + 997])
        if done:
            break
    assert done and [(t.username, t.password) for t in head.tokens] == [("crc", "s3nha")]


def test_envelope_head_short_body_and_refusals() -> None:
    """A body shorter than 64 KB is read at its end; a DOCTYPE is E002, another root E007, 1 MB without a Body
    E005."""
    head = EnvelopeHead()
    assert head.feed(envelope("a")) is False and head.end() is True and head.tokens[0].password == "a"
    with pytest.raises(GatewayError) as err:
        EnvelopeHead().feed(b'<!DOCTYPE x [<!ENTITY a "b">]>' + b" " * 70_000)
    assert err.value.code == "INFODIP-E002"
    with pytest.raises(GatewayError) as err:
        EnvelopeHead().feed(b"<outro>" + b" " * 70_000)
    assert err.value.code == "INFODIP-E007"
    head = EnvelopeHead()
    with pytest.raises(GatewayError) as err:
        head.feed(b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header>')
        for _ in range(20):
            head.feed(b"<!--" + b"y" * 100_000 + b"-->")
    assert err.value.code == "INFODIP-E005"
