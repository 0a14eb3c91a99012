"""Charts for the pages, rendered on the server as SVG images by pygal (a maintained charting library; no
JavaScript charting bundle to ship or fetch).

A chart is served as its own ``image/svg+xml`` response and shown with ``<img alt="…">`` beside a table with the
same numbers (``_macros.html``'s ``data_table``): as an image the SVG's own style applies and its script never runs,
so the page keeps its strict Content-Security-Policy, and the table is what screen readers and people who copy the
numbers use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pygal
from pygal.style import Style
from starlette.responses import Response

#: a palette with at least 3:1 contrast against white for every series (WCAG 2.1 1.4.11, non-text contrast)
STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1b1b1b",
    foreground_strong="#1b1b1b",
    foreground_subtle="#555555",
    colors=("#1351b4", "#b35900", "#168821", "#8c1d40", "#5c3d99", "#00677f"),
    font_family="sans-serif",
)
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)


def bar_svg(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], *,
            width: int = 720, height: int = 360, stacked: bool = False) -> bytes:
    """A bar chart as SVG bytes (UTF-8): *labels* on the x axis, one bar series per entry of *series* (values in
    the same order as *labels*; ``None`` for a suppressed or missing cell, drawn as no bar)."""
    kind = pygal.StackedBar if stacked else pygal.Bar
    chart = kind(style=STYLE, js=[], disable_xml_declaration=True, title=title, width=width, height=height,
                 explicit_size=True, x_label_rotation=30 if len(labels) > 8 else 0, print_values=False)
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, list(values))
    return _without_script(chart.render(is_unicode=True)).encode()


def line_svg(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], *,
             width: int = 720, height: int = 360) -> bytes:
    """A line chart over time as SVG bytes: same shapes as :func:`bar_svg`."""
    chart = pygal.Line(style=STYLE, js=[], disable_xml_declaration=True, title=title, width=width, height=height,
                       explicit_size=True, x_label_rotation=30 if len(labels) > 8 else 0)
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, list(values))
    return _without_script(chart.render(is_unicode=True)).encode()


def svg_response(svg: bytes) -> Response:
    """*svg* as an ``image/svg+xml`` response that may not run script even when opened directly."""
    return Response(svg, media_type="image/svg+xml", headers={
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})


def _without_script(svg: str) -> str:
    """pygal writes its tooltip configuration as an inline script even with ``js=[]``; an image never runs it."""
    return _SCRIPT.sub("", svg)
