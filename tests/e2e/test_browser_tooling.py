"""The browser tooling itself (tests/browser.py): Debian's Chromium renders a page served on loopback, a screenshot
is kept, and axe-core tells an accessible page from one with a serious violation — so a page test that passes
really was checked."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.browser import accessibility_violations, assert_accessible, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

GOOD = """<!doctype html><html lang="pt-BR"><head><meta charset="utf-8"><title>Página acessível</title></head>
<body><main><h1>Estatísticas</h1><form><label for="uf">UF</label><input id="uf" name="uf">
<button type="submit">Filtrar</button></form><img src="data:," alt="gráfico"></main></body></html>"""
BAD = """<!doctype html><html lang="pt-BR"><head><meta charset="utf-8"><title>Página ruim</title></head>
<body><main><h1>Formulário</h1><form><input id="cpf" name="cpf"><button type="submit"></button></form>
<img src="data:,"></main></body></html>"""


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = (GOOD if self.path == "/boa" else BAD).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def pages() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    thread.join(timeout=5)


def test_accessible_page_passes_and_is_kept_as_screenshot(browser_page: Any, pages: str) -> None:
    browser_page.goto(f"{pages}/boa")
    assert browser_page.locator("h1").inner_text() == "Estatísticas"
    shot = screenshot(browser_page, "ferramenta-pagina-boa")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert_accessible(browser_page)


def test_serious_violations_are_found(browser_page: Any, pages: str) -> None:
    browser_page.goto(f"{pages}/ruim")
    found = {v["id"] for v in accessibility_violations(browser_page) if v["impact"] in {"serious", "critical"}}
    assert {"label", "button-name", "image-alt"} <= found
    with pytest.raises(pytest.fail.Exception, match="button-name"):
        assert_accessible(browser_page)
