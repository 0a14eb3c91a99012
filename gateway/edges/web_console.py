"""The operators' console (issue 16 point 3): ``/console/``, role ``operador`` only (a ``remetente`` gets 403
WEB-E004).

What it shows comes from the services that already own it: deliveries by destination and state
(:meth:`DeliveryService.outbox_counts`), dead letters with their reasons and their replay
(:meth:`DeliveryService.dead_letters`, :meth:`DeliveryService.replay` — the same audited job as ``gateway replay``,
the actor ``web:<CPF>``), lateness by sender (:meth:`ConsultaService.lateness` with ``relatorios:ler``), the MNI
installations and their health (the hub's monitor, as ``/readyz``), versions received per day and deliveries by
state as charts (pygal SVG beside tables of the same numbers). People are managed here too (create, disable, reset
a password: :class:`~gateway.web.people.People`, audited ``web.pessoa.*``). A replay asks for confirmation: the
list links to a page that names what will be replayed, and only its POST (with the CSRF token) acts.

Routes: ``GET /console/`` · ``GET /console/mortas`` · ``GET /console/mortas/confirmar`` ·
``POST /console/mortas/reprocessar`` · ``GET /console/atrasos`` · ``GET /console/mni`` · ``GET|POST
/console/pessoas`` · ``GET /console/graficos/{nome}.svg``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.admin import Actor
from gateway.clock import Clock, utc
from gateway.consulta.service import REPORTS_SCOPE, ConsultaService
from gateway.db.tables import messages
from gateway.delivery import DeliveryService
from gateway.edges.web_session import Pages, text
from gateway.errors import ClientError, GatewayError
from gateway.hub.service import Hub
from gateway.infodip.contract import STATUS_PT
from gateway.web import charts
from gateway.web.people import ROLES, Session

#: days shown by the chart of versions received
DAYS = 30


class Console:
    """The ``/console/`` pages."""

    def __init__(self, pages: Pages, delivery: DeliveryService, consulta: ConsultaService, reader: Engine,
                 clock: Clock, tz: ZoneInfo, hub: Callable[[], Hub | None]) -> None:
        self.pages = pages
        self.people = pages.people
        self.delivery = delivery
        self.consulta = consulta
        self.reader = reader
        self.clock = clock
        self.tz = tz
        self.hub = hub

    def routes(self) -> list[Route]:
        """Every route of the console."""
        return [
            Route("/console/", self.overview, methods=["GET"]),
            Route("/console", lambda _r: RedirectResponse("/console/", 308), methods=["GET"]),
            Route("/console/mortas", self.dead, methods=["GET"]),
            Route("/console/mortas/confirmar", self.confirm, methods=["GET"]),
            Route("/console/mortas/reprocessar", self.replay, methods=["POST"]),
            Route("/console/atrasos", self.lateness, methods=["GET"]),
            Route("/console/mni", self.mni, methods=["GET"]),
            Route("/console/pessoas", self.people_page, methods=["GET"]),
            Route("/console/pessoas", self.people_change, methods=["POST"]),
            Route("/console/graficos/{nome}.svg", self.chart, methods=["GET"]),
        ]

    async def _operator(self, request: Request) -> Session | Response:
        return await self.pages.require(request, "operador")

    # -- overview --------------------------------------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        """Deliveries by destination and state, the dead letters' count, versions received per day (charts)."""
        got = await self._operator(request)
        if isinstance(got, Response):
            return got
        counts = await anyio.to_thread.run_sync(self.delivery.outbox_counts)
        states = list(dict.fromkeys(STATUS_PT.values()))
        rows = [[dest] + [sum(n for s, n in by.items() if STATUS_PT.get(s) == st) for st in states]
                for dest, by in sorted(counts.items())]
        days, received = await anyio.to_thread.run_sync(self._received)
        return self.pages.page("console_inicio.html", {
            "estados": states, "linhas": rows, "mortas": sum(by.get("dead", 0) for by in counts.values()),
            "dias": list(zip(days, received, strict=True))}, got)

    def _received(self) -> tuple[list[str], list[int]]:
        """Versions received per local day over the last :data:`DAYS` days."""
        today = self.clock.now().astimezone(self.tz).date()
        first = today - timedelta(days=DAYS - 1)
        since = datetime.combine(first, datetime.min.time(), self.tz)
        with self.reader.connect() as conn:
            stamps = [utc(r[0]) for r in conn.execute(select(messages.c.received_at).where(
                messages.c.received_at >= since))]
        per: dict[str, int] = {}
        for at in stamps:
            day = at.astimezone(self.tz).date().isoformat()
            per[day] = per.get(day, 0) + 1
        days = [(first + timedelta(days=i)).isoformat() for i in range(DAYS)]
        return days, [per.get(d, 0) for d in days]

    async def chart(self, request: Request) -> Response:
        """``entregas.svg`` (deliveries by destination and state) or ``recebidas.svg`` (versions per day)."""
        got = await self._operator(request)
        if isinstance(got, Response):
            return got
        name = request.path_params["nome"]
        if name == "entregas":
            counts = await anyio.to_thread.run_sync(self.delivery.outbox_counts)
            dests = sorted(counts)
            states = list(dict.fromkeys(STATUS_PT.values()))
            series = {st: [float(sum(n for s, n in counts[d].items() if STATUS_PT.get(s) == st)) for d in dests]
                      for st in states}
            return charts.svg_response(charts.bar_svg("Entregas por destino e situação", dests, series, stacked=True))
        if name == "recebidas":
            days, received = await anyio.to_thread.run_sync(self._received)
            title = f"Versões recebidas por dia (últimos {DAYS} dias)"
            return charts.svg_response(charts.line_svg(title, [d[5:] for d in days],
                                                       {"versões": [float(n) for n in received]}))
        if name == "atrasos":
            lines = await self.consulta.lateness(None, frozenset({REPORTS_SCOPE}))
            senders = sorted({line.sender for line in lines})
            return charts.svg_response(charts.bar_svg("Comunicações no prazo e em atraso por remetente", senders, {
                "no prazo": [float(sum(x.on_time for x in lines if x.sender == s)) for s in senders],
                "em atraso": [float(sum(x.late for x in lines if x.sender == s)) for s in senders]}, stacked=True))
        return Response("gráfico inexistente\n", status_code=404, media_type="text/plain")

    # -- dead letters ----------------------------------------------------------------------------------------------

    async def dead(self, request: Request) -> Response:
        """Every dead letter with its reason, attempts and since when; each with a replay link."""
        got = await self._operator(request)
        if isinstance(got, Response):
            return got
        destination = request.query_params.get("destino") or None
        letters = await anyio.to_thread.run_sync(lambda: self.delivery.dead_letters(destination))
        return self.pages.page("console_mortas.html", {
            "mortas": letters, "destino": destination or "",
            "reprocessadas": request.query_params.get("reprocessadas")}, got)

    async def confirm(self, request: Request) -> Response:
        """The confirmation step: what will be replayed (one message towards one destination, or every dead letter
        of a destination), and the POST button."""
        got = await self._operator(request)
        if isinstance(got, Response):
            return got
        message_id = request.query_params.get("mensagem") or ""
        destination = request.query_params.get("destino") or ""
        letters = await anyio.to_thread.run_sync(lambda: self.delivery.dead_letters(destination or None))
        chosen = [d for d in letters if not message_id or d.message_id == message_id]
        return self.pages.page("console_confirmar.html", {"mortas": chosen, "mensagem": message_id,
                                                          "destino": destination}, got,
                               status=200 if chosen else 404)

    async def replay(self, request: Request) -> Response:
        """Replay what the confirmation named (audited ``entrega.reprocessamento`` with ``por: web:<CPF>``)."""
        got = await self._operator(request)
        if isinstance(got, Response):
            return got
        try:
            form = await self.pages.form(request, got)
        except ClientError as exc:
            return self.pages.csrf_refused(got, exc)
        message_id, destination = text(form, "mensagem") or None, text(form, "destino") or None
        if text(form, "confirmar") != "sim" or not (message_id or destination):
            return RedirectResponse("/console/mortas", 303)
        try:
            done = await self.delivery.replay(destination=destination, message_id=message_id,
                                              actor=got.person.actor)
        except GatewayError as exc:
            return self.pages.page("web_erro.html", {"codigo": exc.code, "mensagem": exc.message}, got, status=503)
        return RedirectResponse(f"/console/mortas?reprocessadas={len(done)}", 303)

    # -- lateness, MNI ---------------------------------------------------------------------------------------------

    async def lateness(self, request: Request) -> Response:
        """On time and late per sender, kind and month (the last 12 months), with a chart per sender."""
        got = await self._operator(request)
        if isinstance(got, Response):
            return got
        lines = await self.consulta.lateness(None, frozenset({REPORTS_SCOPE}))
        rows = [[f"{x.sender} · {x.kind} · {x.month}", x.on_time, x.late, f"{x.median_delay_days:.1f}",
                 x.worst_delay_days] for x in lines]
        return self.pages.page("console_atrasos.html", {"linhas": rows}, got)

    async def mni(self, request: Request) -> Response:
        """The MNI hub's installations and their health (the probe's and the last call's results)."""
        got = await self._operator(request)
        if isinstance(got, Response):
            return got
        hub = self.hub()
        rows: list[dict[str, Any]] = []
        if hub is not None:
            installations = list(hub.registry.all_installations())
            report = hub.monitor.report(installations)
            for inst in installations:
                entry = report.get(inst.key, {})
                rows.append({"chave": inst.key, "url": getattr(inst, "url", ""), "situacao": entry.get("situacao"),
                             "sonda": entry.get("sonda"), "chamada": entry.get("ultimaChamada")})
        return self.pages.page("console_mni.html", {"hub": hub is not None, "instalacoes": rows}, got)

    # -- people ----------------------------------------------------------------------------------------------------

    async def _people_admin(self, request: Request) -> Session | Response:
        """An operador (every organ), or an organ's administrator (a remetente with ``admin``: their own organ's
        remetentes only); anyone else 403 WEB-E004."""
        session = await self.pages.session(request)
        if session is not None and session.person.role == "remetente" and session.person.admin:
            return session
        return await self._operator(request)

    async def people_page(self, request: Request) -> Response:
        """Every person (an organ's administrator: their organ's), and the form that creates one."""
        got = await self._people_admin(request)
        if isinstance(got, Response):
            return got
        return await self._people(got, None, None)

    async def _people(self, session: Session, message: str | None, error: str | None,
                      status: int = 200) -> Response:
        organ = None if session.person.role == "operador" else session.person.organ_code
        people = await anyio.to_thread.run_sync(self.people.people, organ)
        return self.pages.page("console_pessoas.html", {
            "pessoas": people, "papeis": ROLES if organ is None else ("remetente",), "orgao_fixo": organ,
            "mensagem": message, "erro": error}, session, status=status)

    async def people_change(self, request: Request) -> Response:
        """``acao`` = ``criar`` (cpf, nome, email, orgao, papel, administrador), ``desativar``, ``reativar`` or
        ``senha`` (cpf): each audited under the acting person's name; a generated password is shown once. An
        organ's administrator acts only on their own organ, and creates only remetentes."""
        got = await self._people_admin(request)
        if isinstance(got, Response):
            return got
        try:
            form = await self.pages.form(request, got)
        except ClientError as exc:
            return self.pages.csrf_refused(got, exc)
        action, cpf = text(form, "acao"), text(form, "cpf")
        actor = Actor(got.person.actor, "web")
        own = None if got.person.role == "operador" else got.person.organ_id
        organ = text(form, "orgao") if own is None else got.person.organ_code
        role = text(form, "papel") if own is None else "remetente"
        try:
            if action == "criar":
                password = await anyio.to_thread.run_sync(lambda: self.people.create(
                    cpf, text(form, "nome"), text(form, "email"), organ, role,
                    admin=text(form, "administrador") == "sim", actor=actor))
                message = f"Pessoa {cpf} criada. Senha inicial (mostrada uma vez): {password}"
            elif action in ("desativar", "reativar"):
                await anyio.to_thread.run_sync(lambda: self.people.set_active(
                    cpf, action == "reativar", actor=actor, organ_id=own))
                message = f"Pessoa {cpf} {'reativada' if action == 'reativar' else 'desativada'}."
            elif action == "senha":
                password = await anyio.to_thread.run_sync(lambda: self.people.reset(cpf, actor=actor, organ_id=own))
                message = f"Senha de {cpf} trocada (mostrada uma vez): {password}"
            else:
                return await self._people(got, None, "Ação desconhecida.", 422)
        except GatewayError as exc:
            return await self._people(got, None, f"{exc.code}: {exc.message}", 422)
        return await self._people(got, message, None)


def install(app: Starlette, console: Console) -> None:
    """Add the console's routes to *app*."""
    app.router.routes.extend(console.routes())
