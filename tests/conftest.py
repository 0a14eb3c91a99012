"""Fixtures: a database per test on SQLite and (when GATEWAY_TEST_PG_URL is set) PostgreSQL, gateways in-process
and as real processes on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import GatewayProcess, Mocks, Tribunals, postgres_schema, seed, test_settings

PG_URL = os.environ.get("GATEWAY_TEST_PG_URL")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated and seeded database: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'gateway.db'}"
        seed(url)
        yield url
        return
    if not PG_URL:
        pytest.skip("GATEWAY_TEST_PG_URL não definido: testes em PostgreSQL não executados")
    with postgres_schema(PG_URL) as url:
        seed(url)
        yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, migrated and seeded PostgreSQL schema, for tests about PostgreSQL only (several writers)."""
    if not PG_URL:
        pytest.skip("GATEWAY_TEST_PG_URL não definido: testes em PostgreSQL não executados")
    with postgres_schema(PG_URL) as url:
        seed(url)
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh, migrated and seeded SQLite database."""
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    seed(url)
    return url


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """One real ``gateway serve`` process on SQLite for the session."""
    tmp = tmp_path_factory.mktemp("server")
    url = f"sqlite:///{tmp / 'gateway.db'}"
    seed(url)
    proc = GatewayProcess(test_settings(url, tmp), tmp / "gateway.log").start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def mocks() -> Iterator[Mocks]:
    """The TSE and CNJ simulators as processes for the session (reset by each test that uses them)."""
    m = Mocks()
    yield m
    m.stop()


@pytest.fixture(scope="session")
def tribunals() -> Iterator[Tribunals]:
    """The two simulated tribunals as processes for the session (reset by each test that uses them)."""
    t = Tribunals()
    yield t
    t.stop()


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[object]:
    """Debian's headless Chromium driven by Playwright, one per test module (tests/browser.py).

    Module scope, not session: while Playwright's sync API is open it leaves its event loop set as the thread's
    running loop, so every later ``asyncio.run`` in the same process would fail ("cannot be called from a running
    event loop"). Closing it at the end of each browser module gives the next modules a clean thread."""
    from tests.browser import browser_session

    yield from browser_session()


@pytest.fixture
def browser_page(chromium_browser: object) -> Iterator[object]:
    """A fresh browser context and page per test (no shared cookies), closed after the test."""
    from tests.browser import new_page

    page = new_page(chromium_browser)
    yield page
    page.context.close()
