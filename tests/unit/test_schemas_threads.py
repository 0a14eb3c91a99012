"""Compiled XSDs used from many threads at once (the anyio worker threads, the relay, the e2e suite's concurrent
answer checks): each validation reports its own verdict and its own errors. One shared lxml ``XMLSchema`` loses
them — its error log is cleared by whichever thread validates next — and once crashed the interpreter in CI."""

from __future__ import annotations

import threading

import pytest
from lxml import etree

from gateway.errors import ValidationFailed
from gateway.infodip import contract
from gateway.infodip.domain import Kind
from gateway.mni.schema import operation_schema
from gateway.xml.soap import SOAP11_NS
from tests.support import sample

THREADS = 8
ROUNDS = 300


def operation(body: bytes) -> etree._Element:
    envelope = etree.fromstring(body)
    found = envelope.find(f"{{{SOAP11_NS}}}Body")
    assert found is not None
    return found[0]


def test_concurrent_validations_each_report_their_own_errors() -> None:
    good = sample(Kind.IV)
    bad = good.replace(b"<inf:causaInelegibilidade>true</", b"<inf:causaInelegibilidade>talvez</")
    assert bad != good
    problems: list[str] = []
    start = threading.Barrier(THREADS, timeout=30)

    def run(invalid: bool) -> None:
        start.wait()
        for _ in range(ROUNDS):
            element = operation(bad if invalid else good)  # each call its own tree, as each request has
            try:
                contract.validate_operation(element)
            except ValidationFailed as exc:
                if not invalid or exc.code != "INFODIP-E011" or not (exc.field or "").endswith(
                        "causaInelegibilidade"):
                    problems.append(f"{invalid}: {exc.code} {exc.field} {exc}")
            except Exception as exc:  # e.g. IndexError on an error log another thread cleared
                problems.append(f"{invalid}: {exc!r}")
            else:
                if invalid:
                    problems.append("an invalid message passed")

    threads = [threading.Thread(target=run, args=(i % 2 == 0,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert problems == [], f"{len(problems)} of {THREADS * ROUNDS}: {problems[:5]}"


def test_each_thread_has_its_own_compiled_copy_and_keeps_it() -> None:
    mine = contract.schema(), operation_schema()
    assert contract.schema() is mine[0] and operation_schema() is mine[1]
    theirs: list[object] = []
    t = threading.Thread(target=lambda: theirs.extend((contract.schema(), operation_schema())))
    t.start()
    t.join(timeout=30)
    assert len(theirs) == 2 and theirs[0] is not mine[0] and theirs[1] is not mine[1]


@pytest.mark.parametrize("invalid", [False, True])
def test_a_copy_validates_like_the_contract(invalid: bool) -> None:
    body = sample(Kind.IV)
    if invalid:
        body = body.replace(b"<inf:causaInelegibilidade>true</", b"<inf:causaInelegibilidade>talvez</")
    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(contract.schema().validate(operation(body))))
    t.start()
    t.join(timeout=30)
    assert result == [not invalid]
