"""No synchronous database call runs on the event loop (issue 9, point 4): every statement on the reader engine
is executed from a worker thread (or the writer's), never from a thread running an event loop — through the MNI
hub (a fresh hub reading where a process lives and its credentials towards the tribunal: the two reads that ran on
the loop before) and through the INFODIP edges, REST, readiness and metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from gateway.bootstrap import create_app
from gateway.infodip.domain import Kind
from tests.integration.test_hub_service import SECOND, Env, Tribunals, consult, env, filing, run
from tests.support import infodip_request, password_of, sample, test_settings

__all__ = ["env"]  # the hub's fixture, shared


@pytest.fixture
def on_loop() -> Iterator[list[str]]:
    """Statements seen on a thread running an event loop (filled by :func:`watch`)."""
    yield []


def watch(engine: Engine, on_loop: list[str], seen: list[str]) -> None:
    """Record each statement *engine* runs in *seen*, and in *on_loop* when its thread runs an event loop."""
    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        on_loop.append(statement)

    event.listen(engine, "before_cursor_execute", before)


def test_the_hub_reads_off_the_event_loop(env: Env, on_loop: list[str]) -> None:
    """A hub locates a process (probing, then remembering it) and files; a fresh hub, with empty memory, reads the
    location and its credentials from the database: every one of those reads ran off the event loop."""
    seen: list[str] = []
    watch(env.reader, on_loop, seen)
    tribunals = Tribunals()
    assert all(a.sucesso for a in run(env.hub(tribunals.client()), consult(SECOND), filing(SECOND)))
    fresh = tribunals.client()
    assert run(env.hub(fresh), consult(SECOND))[0].sucesso and [c.url for c in fresh.calls] == ["http://t/8.19/2"]
    assert any("mni_process_locations" in s for s in seen) and any("mni_credentials" in s for s in seen)
    assert on_loop == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_infodip_edges_read_off_the_event_loop(db_url: str, tmp_path: Path, on_loop: list[str]) -> None:
    """Intake (authentication on a cache miss), a SOAP and a REST consultation, readiness and metrics: the reader
    engine is used, never from the event loop's thread."""
    seen: list[str] = []
    app = create_app(test_settings(db_url, tmp_path, admin_token="t"))
    watch(app.state.gateway.reader_engine, on_loop, seen)
    with TestClient(app) as client:
        r = client.post("/soap/infodip", content=sample(Kind.I))
        assert r.status_code == 200, r.text
        protocol = r.text.split("<i:protocolo>")[1].split("<")[0]
        assert client.post("/soap/infodip", content=infodip_request(
            "consultarComunicacao", f"<i:protocolo>{protocol}</i:protocolo>")).status_code == 200
        assert client.get(f"/api/v1/comunicacoes/{protocol}",
                          auth=("tjrj-sistema", password_of("tjrj-sistema"))).status_code == 200
        assert client.get("/api/v1/dead-letters", headers={"Authorization": "Bearer t"}).status_code == 200
        assert client.get("/readyz").status_code == 200
        assert client.get("/metrics").status_code == 200
    assert len(seen) >= 5
    assert on_loop == []
