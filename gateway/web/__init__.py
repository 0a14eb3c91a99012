"""Pages people read: server-rendered HTML in Portuguese, shared by the public services (statistics, certificate
verification), the web form for organs without integration and the operators' console.

- :mod:`gateway.web.render` — the one Jinja2 environment (autoescaped), the page response with its security
  headers (a strict Content-Security-Policy: no inline script, nothing from another origin) and the bundled
  static assets under ``/static/`` (no CDN: the pages must work on a court's intranet);
- :mod:`gateway.web.charts` — charts rendered on the server as SVG images (pygal), always shown beside a table
  with the same numbers, so a chart is never the only way to read them;
- :mod:`gateway.web.people` — the people who sign in to the form and the console (issue 16), their server-side
  sessions, CSRF tokens and drafts; :mod:`gateway.web.forms` — each INFODIP kind's fields and their mapping to the
  contract's operation element (the form's pages are ``gateway/edges/web_form.py`` and ``web_console.py``);
- ``templates/base.html`` — the layout every page extends (skip link, landmarks, ``lang="pt-BR"``);
  ``templates/_macros.html`` — form fields with their error next to them, data tables.

Pages are edges: they parse, call one service method and render; rules stay in the contexts.
"""
