"""The pages' shared rendering (gateway/web): autoescaping, security headers, bundled assets, charts without
script, tables that show suppressed cells."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from jinja2 import StrictUndefined

from gateway.web import charts, render


def test_templates_autoescape_and_refuse_missing_variables() -> None:
    html = render.environment.from_string("{% from '_macros.html' import field %}{{ field('cpf', 'CPF', value=v, "
                                          "error=e) }}").render(v='"><script>x</script>', e="CPF inválido.")
    assert "<script>" not in html and "&#34;&gt;&lt;script&gt;" in html
    assert 'aria-invalid="true"' in html and 'id="cpf-erro"' in html and 'aria-describedby=" cpf-erro"' in html
    assert render.environment.undefined is StrictUndefined


def test_page_has_security_headers_and_layout() -> None:
    response = render.page("base.html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    body = bytes(response.body).decode()
    assert '<html lang="pt-BR">' in body and 'href="#conteudo"' in body and '/static/gateway.css' in body


def test_static_assets_are_served_from_the_package() -> None:
    app = FastAPI()
    render.install(app)
    render.install(app)  # idempotent
    with TestClient(app) as client:
        css = client.get("/static/gateway.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.content == (Path(render.STATIC) / "gateway.css").read_bytes()


def test_data_table_marks_suppressed_cells() -> None:
    html = render.environment.from_string("{% from '_macros.html' import data_table %}"
                                          "{{ data_table('Por UF', ['UF', 'Pessoas'], rows) }}").render(
        rows=[["SP", 12], ["AC", None]])
    assert "<caption>Por UF</caption>" in html and '<th scope="row">AC</th><td>—</td>' in html
    assert "<td>12</td>" in html


def test_charts_are_svg_without_script() -> None:
    svg = charts.bar_svg("Comunicações por mês", ["2026-01", "2026-02"], {"Tipo I": [3, None]})
    assert svg.startswith(b"<svg") and b"<script" not in svg and "Comunicações por mês".encode() in svg
    line = charts.line_svg("Entregas", ["a", "b"], {"TSE": [1, 2]})
    assert b"<script" not in line
    response = charts.svg_response(svg)
    assert response.media_type == "image/svg+xml" and "default-src 'none'" in response.headers[
        "content-security-policy"]
