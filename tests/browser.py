"""Pages tested in a real browser: Debian's Chromium driven by Playwright, axe-core for accessibility.

The browser is Debian's ``chromium`` (installed by :func:`tests.system_packages.ensure`, never a browser downloaded
by a test tool — DESIGN.md "System packages"); Playwright's Python package only drives it, through
``executable_path``. Accessibility is checked with axe-core, bundled in the ``axe-playwright-python`` package, so no
asset is fetched at run time. Screenshots are kept under ``test-artifacts/screenshots/`` (git-ignored; CI keeps the
folder) so a person can see what the test saw.

Use from a test module::

    from tests.browser import assert_accessible, screenshot
    pytestmark = pytest.mark.browser

    def test_page(browser_page, ...):
        browser_page.goto(url)
        screenshot(browser_page, "estatisticas")
        assert_accessible(browser_page)

The fixtures ``chromium_browser`` (one per test module, so Playwright's event loop never outlives it) and
``browser_page`` (a fresh context and page per test, with a Portuguese locale) are registered in
``tests/conftest.py``. Every wait is bounded: Playwright's default timeout is set
to :data:`TIMEOUT_MS` for every page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.system_packages import ensure

#: where screenshots go; the folder is created on demand
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
#: Playwright's timeout for every action and navigation, in milliseconds
TIMEOUT_MS = 15_000
#: axe-core impacts that fail a test (WCAG 2.1 A/AA rules); "minor" and "moderate" are reported, not failed
FAILING_IMPACTS = frozenset({"serious", "critical"})
#: Chromium's flags: headless, as root, with no background connections (this machine's network is closed)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def chromium_path() -> str:
    """Debian's Chromium, installed with apt-get when missing (the project's own setup)."""
    return ensure("chromium")


def launch(playwright: Any) -> Any:
    """A headless Debian Chromium under *playwright* (a ``sync_playwright()`` instance)."""
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS,
                                      timeout=TIMEOUT_MS)


def browser_session() -> Iterator[Any]:
    """Generator behind the ``chromium_browser`` fixture: Playwright started, Chromium launched, both closed after."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Any) -> Any:
    """A page in a fresh context (no cookies shared between tests), pt-BR, 1280×900, bounded timeouts."""
    context = browser.new_context(locale="pt-BR", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page PNG of *page* as ``test-artifacts/screenshots/<name>.png`` and return its path."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "pagina"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{safe}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def accessibility_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on *page* as it is now (WCAG 2.0/2.1 A and AA rules), each a dict with ``id``,
    ``impact``, ``help`` and ``nodes``."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a",
                                                                              "wcag21aa"]}})
    violations: list[dict[str, Any]] = results.response.get("violations", [])
    return violations


def assert_accessible(page: Any) -> None:
    """Fail when axe-core finds a serious or critical violation on *page*, listing each rule and the elements."""
    serious = [v for v in accessibility_violations(page) if v.get("impact") in FAILING_IMPACTS]
    if serious:
        lines = [f"{v['id']} ({v['impact']}): {v['help']} — "
                 + "; ".join(n.get("html", "")[:120] for n in v.get("nodes", [])[:3]) for v in serious]
        pytest.fail("violações de acessibilidade graves:\n" + "\n".join(lines))
