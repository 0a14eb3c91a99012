"""The web form for organs without integration (Res. Conjunta CNJ/TSE 6/2020 art. 6; issue 16 point 2): ``/web/``.

Thin, like every edge: the pages turn the typed fields into the INFODIP operation element
(:mod:`gateway.web.forms`) and call the same :class:`~gateway.infodip.service.InfodipService` as ``/soap/infodip`` —
the same checks and codes (INFODIP-E011, E022, E030…E053), each error shown next to its field. The list is the
consultation context's sender listing (:meth:`ConsultaService.listing`), the receipt its audited consultation
(channel ``web``). Every page works without JavaScript; ``/static/web-form.js`` only checks identifiers as the
person types (``POST /web/identificador``, the CPF in the body, never in a URL) and wires the print button.

Routes: ``GET|POST /web/entrar`` · ``POST /web/sair`` · ``GET /web/`` · ``GET|POST /web/nova/{tipo}`` ·
``GET /web/rascunhos/{id}`` · ``GET /web/comunicacoes`` · ``GET /web/comunicacoes/{protocolo}`` ·
``GET|POST /web/comunicacoes/{protocolo}/retificar`` · ``GET|POST /web/comunicacoes/{protocolo}/cancelar`` ·
``POST /web/identificador``. Codes: WEB-E001…E007 (README "Errors").
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import date
from typing import Any

from lxml import etree
from sqlalchemy import select
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from gateway import identifiers as ids
from gateway.consulta.service import ConsultaService
from gateway.db.tables import messages
from gateway.edges.web_session import COOKIE, LOGIN, PRE_COOKIE, Pages, client_of, new_pre_value, text
from gateway.errors import ClientError, GatewayError, TooManyRequests
from gateway.infodip.contract import CANCELAR, ENVIAR, NS, RETIFICAR, communication_situacao, delivery_situacao
from gateway.infodip.domain import Kind
from gateway.infodip.records import Receipt
from gateway.infodip.service import InfodipService
from gateway.metrics import Metrics
from gateway.web import forms
from gateway.web.people import PersonAuthenticator, Session

_CHECKS = {"cpf": (ids.IdentifierKind.CPF, "CPF"), "titulo": (ids.IdentifierKind.TITULO_ELEITOR, "Título de eleitor"),
           "processo": (ids.IdentifierKind.PROCESSO_CNJ, "Número de processo"),
           "matricula": (ids.IdentifierKind.MATRICULA_CERTIDAO, "Matrícula")}
KIND_PAGE = "web_formulario.html"


def new_reference() -> str:
    """A sender reference for one form (the idempotency key: submitting the same page twice stores it once)."""
    return "WEB-" + secrets.token_hex(8).upper()


class WebForm:
    """The ``/web/`` pages."""

    def __init__(self, pages: Pages, auth: PersonAuthenticator, infodip: InfodipService, consulta: ConsultaService,
                 reader: Engine, metrics: Metrics | None = None) -> None:
        self.metrics = metrics
        self.pages = pages
        self.people = pages.people
        self.auth = auth
        self.infodip = infodip
        self.consulta = consulta
        self.reader = reader

    def routes(self) -> list[Route]:
        """Every route of the form."""
        return [
            Route("/web/entrar", self.login_page, methods=["GET"]),
            Route("/web/entrar", self.login, methods=["POST"]),
            Route("/web/sair", self.logout, methods=["POST"]),
            Route("/web/", self.home, methods=["GET"]),
            Route("/web", lambda _r: RedirectResponse("/web/", 308), methods=["GET"]),
            Route("/web/nova/{tipo}", self.new_page, methods=["GET"]),
            Route("/web/nova/{tipo}", self.submit, methods=["POST"]),
            Route("/web/rascunhos/{rascunho}", self.draft_page, methods=["GET"]),
            Route("/web/comunicacoes", self.listing, methods=["GET"]),
            Route("/web/comunicacoes/{protocolo}", self.receipt, methods=["GET"]),
            Route("/web/comunicacoes/{protocolo}/retificar", self.retify_page, methods=["GET"]),
            Route("/web/comunicacoes/{protocolo}/retificar", self.retify, methods=["POST"]),
            Route("/web/comunicacoes/{protocolo}/cancelar", self.cancel_page, methods=["GET"]),
            Route("/web/comunicacoes/{protocolo}/cancelar", self.cancel, methods=["POST"]),
            Route("/web/identificador", self.check_identifier, methods=["POST"]),
        ]

    # -- signing in and out ----------------------------------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        """The login form (a pre-session cookie binds its CSRF token)."""
        return self._login(request, None, status=200)

    def _login(self, request: Request, error: str | None, *, status: int, cpf: str = "",
               headers: Mapping[str, str] | None = None) -> Response:
        pre = request.cookies.get(PRE_COOKIE) or new_pre_value()
        notice = "Sua sessão terminou (saída ou inatividade). Entre novamente." if request.query_params.get(
            "expirada") else None
        response = self.pages.page("web_entrar.html", {
            "csrf": self.people.csrf_token(pre), "erro": error, "cpf": cpf, "aviso": notice,
            "volta": _local(request.query_params.get("volta", ""))}, None, status=status, headers=headers)
        self.pages.set_cookie(response, request, PRE_COOKIE, pre)
        return response

    async def login(self, request: Request) -> Response:
        """Check the CSRF token and the person's CPF and password; open a session; go to the form or the console."""
        try:
            form = await self.pages.form(request, None)
        except ClientError as exc:
            return self._login(request, f"{exc.code}: {exc.message}", status=403)
        fields = {"cpf": text(form, "cpf"), "senha": text(form, "senha")}
        try:
            person = await self.auth.authenticate(fields, client_of(request))
        except TooManyRequests as exc:
            return self._login(request, f"{exc.code}: {exc.message}", status=429, cpf=fields["cpf"],
                               headers={"Retry-After": str(int(exc.retry_after))})
        except ClientError as exc:
            return self._login(request, f"{exc.code}: {exc.message}", status=401, cpf=fields["cpf"])
        token = await self.people.open_session(person, client_of(request))
        target = _local(text(form, "volta")) or ("/console/" if person.role == "operador" else "/web/")
        response = RedirectResponse(target, 303)
        self.pages.set_cookie(response, request, COOKIE, token)
        self.pages.clear_cookie(response, request, PRE_COOKIE)
        return response

    async def logout(self, request: Request) -> Response:
        """End the session (a POST with the CSRF token: a link elsewhere cannot sign anyone out)."""
        session = await self.pages.session(request)
        if session is not None:
            try:
                await self.pages.form(request, session)
            except ClientError as exc:
                return self.pages.csrf_refused(session, exc)
            await self.people.close_session(session)
        response = RedirectResponse(LOGIN, 303)
        self.pages.clear_cookie(response, request, COOKIE)
        return response

    # -- home, drafts ----------------------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        """The kinds the organ may send, the person's drafts, a link to the list."""
        got = await self.pages.require(request, "remetente")
        if isinstance(got, Response):
            return got
        kinds = got.person.caller().kinds
        return self.pages.page("web_inicio.html", {
            "tipos": [(k.value, forms.KIND_TITLES[k]) for k in Kind if k in kinds],
            "rascunhos": await self.people.drafts(got.person), "titulos": forms.KIND_TITLES,
            "salvo": request.query_params.get("salvo")}, got)

    async def new_page(self, request: Request) -> Response:
        """An empty form of one kind."""
        got = await self.pages.require(request, "remetente")
        if isinstance(got, Response):
            return got
        kind = _kind(request.path_params["tipo"])
        refused = self._refuse_kind(got, kind)
        if refused is not None:
            return refused
        assert kind is not None
        return self._form(got, kind, {}, {}, reference=new_reference(), action=f"/web/nova/{kind.value}")

    async def draft_page(self, request: Request) -> Response:
        """A saved draft, back in its form."""
        got = await self.pages.require(request, "remetente")
        if isinstance(got, Response):
            return got
        try:
            draft = await self.people.draft(got.person, request.path_params["rascunho"])
        except ClientError as exc:
            return self.pages.page("web_erro.html", {"codigo": exc.code, "mensagem": exc.message}, got, status=404)
        kind = Kind(draft.kind)
        values = dict(draft.fields)
        reference = values.pop("_referencia", "") or new_reference()
        action = (f"/web/comunicacoes/{draft.protocol}/retificar" if draft.protocol else f"/web/nova/{kind.value}")
        return self._form(got, kind, values, {}, reference=reference, action=action, draft_id=draft.id,
                          protocol=draft.protocol)

    def _refuse_kind(self, session: Session, kind: Kind | None) -> Response | None:
        if kind is None or kind not in session.person.caller().kinds:
            exc = ClientError("WEB-E006")
            return self.pages.page("web_erro.html", {"codigo": exc.code, "mensagem": exc.message}, session,
                                   status=403 if kind else 404)
        return None

    def _form(self, session: Session, kind: Kind, values: Mapping[str, str], errors: Mapping[str, str], *,
              reference: str, action: str, draft_id: str = "", protocol: str | None = None,
              general: list[str] | None = None, status: int = 200, saved: bool = False) -> Response:
        return self.pages.page(KIND_PAGE, {
            "tipo": kind.value, "titulo": forms.KIND_TITLES[kind], "secoes": _sections(kind), "valores": values,
            "erros": errors, "gerais": general or [], "referencia": reference, "acao": action, "rascunho": draft_id,
            "protocolo": protocol, "salvo": saved}, session, status=status)

    # -- submitting ------------------------------------------------------------------------------------------------

    async def submit(self, request: Request) -> Response:
        """Save a draft (``acao=rascunho``) or submit a new communication (``acao=enviar``)."""
        got = await self.pages.require(request, "remetente")
        if isinstance(got, Response):
            return got
        kind = _kind(request.path_params["tipo"])
        refused = self._refuse_kind(got, kind)
        if refused is not None:
            return refused
        assert kind is not None
        return await self._handle(request, got, kind, ENVIAR, None, f"/web/nova/{kind.value}")

    async def _handle(self, request: Request, session: Session, kind: Kind, operation: str, protocol: str | None,
                      action: str) -> Response:
        try:
            form = await self.pages.form(request, session)
        except ClientError as exc:
            return self.pages.csrf_refused(session, exc)
        values = {f.name: text(form, f.name) for f in forms.fields_for(kind)}
        reference = text(form, "referencia") or new_reference()
        draft_id = text(form, "rascunho")
        if text(form, "acao") == "rascunho":
            draft_id = await self.people.save_draft(session.person, kind.value, {**values, "_referencia": reference},
                                                    draft_id=draft_id or None, protocol=protocol)
            return self._form(session, kind, values, {}, reference=reference, action=action, draft_id=draft_id,
                              protocol=protocol, saved=True)
        element = forms.build_operation(operation, kind=kind, values=values, reference=reference, protocol=protocol)
        try:
            receipt = await self.infodip.handle(session.person.caller(), element)
        except ClientError as exc:
            self._count(None, exc.code)
            return self._refused(session, kind, values, exc, reference=reference, action=action,
                                 draft_id=draft_id, protocol=protocol)
        except GatewayError as exc:  # ours (storage, overload): nothing was stored; the page keeps what was typed
            return self._form(session, kind, values, {}, reference=reference, action=action, draft_id=draft_id,
                              protocol=protocol, general=[f"{exc.code}: {exc.message} Nada foi gravado; tente de "
                                                          "novo em instantes."], status=503)
        assert isinstance(receipt, Receipt)
        self._count(receipt, None)
        if draft_id:
            await self.people.drop_draft(session.person, draft_id)
        return RedirectResponse(f"/web/comunicacoes/{receipt.protocol}?recibo={receipt.version}", 303)

    def _count(self, receipt: Receipt | None, code: str | None) -> None:
        """The webservice's counters, channel ``web``: accepted (by kind and operation), late, refused (by code)."""
        if self.metrics is None:
            return
        if code is not None:
            self.metrics.rejected.labels("web", code).inc()
        elif receipt is not None and not receipt.replay:
            self.metrics.accepted.labels("web", receipt.kind, receipt.operation).inc()
            if receipt.late:
                self.metrics.late.labels(receipt.kind).inc()

    def _refused(self, session: Session, kind: Kind, values: Mapping[str, str], exc: ClientError, *, reference: str,
                 action: str, draft_id: str, protocol: str | None) -> Response:
        name = forms.field_for_error(kind, exc.field, exc.message)
        errors = {name: f"{exc.message} ({exc.code})"} if name else {}
        general = [] if name else [f"{exc.code}: {exc.message}" + (f" (campo {exc.field})" if exc.field else "")]
        if exc.code == "INFODIP-E050":  # the reference was used with other content: a new one for the next try
            reference = new_reference()
        return self._form(session, kind, values, errors, reference=reference, action=action, draft_id=draft_id,
                          protocol=protocol, general=general, status=422)

    # -- list and receipt ------------------------------------------------------------------------------------------

    async def listing(self, request: Request) -> Response:
        """The organ's communications with their delivery state, filtered (kind, state, delivery, process,
        reference, dates), 50 a page."""
        got = await self.pages.require(request, "remetente")
        if isinstance(got, Response):
            return got
        q = request.query_params
        filters = {k: q.get(k) or None for k in ("tipo", "situacao", "entrega", "processo", "referencia")}
        error = None
        try:
            page = await self.consulta.listing(got.person.caller(), desde=_date(q.get("desde")),
                                               ate=_date(q.get("ate")), cursor=q.get("cursor") or None, limite=50,
                                               **filters)  # type: ignore[arg-type]
            rows, more = list(page.items), page.next_cursor
        except (ClientError, ValueError) as exc:
            rows, more = [], None
            error = f"{exc.code}: {exc.message}" if isinstance(exc, ClientError) else "Data inválida (use AAAA-MM-DD)."
        return self.pages.page("web_lista.html", {
            "itens": [_listed(r) for r in rows], "proximo": more, "filtros": {k: v or "" for k, v in filters.items()},
            "desde": q.get("desde", ""), "ate": q.get("ate", ""), "erro": error, "titulos": forms.KIND_TITLES},
            got, status=422 if error else 200)

    async def receipt(self, request: Request) -> Response:
        """The printable receipt: protocol, kind, state, each version with its deadline, each delivery."""
        got = await self.pages.require(request, "remetente")
        if isinstance(got, Response):
            return got
        protocol = request.path_params["protocolo"]
        try:
            view = await self.infodip.consultation(got.person.caller(), protocol, channel="web")
        except ClientError as exc:
            return self.pages.page("web_erro.html", {"codigo": exc.code, "mensagem": exc.message}, got, status=404)
        deadlines = self._deadlines(protocol)
        versions = [{"numero": v.version, "operacao": v.operation, "recebida": v.received_at, "atraso": v.late,
                     "referencia": v.reference, "motivo": v.cancel_reason,
                     "prazo": deadlines.get(v.version)} for v in view.versions]
        deliveries = [{"versao": d.version, "destino": d.destination, "situacao": delivery_situacao(d.status),
                       "tentativas": d.attempts, "recibo": d.receipt, "atualizada": d.updated_at}
                      for d in view.deliveries]
        return self.pages.page("web_recibo.html", {
            "protocolo": protocol, "tipo": view.kind, "titulo": forms.KIND_TITLES[Kind(view.kind)],
            "situacao": communication_situacao(view.status), "versao_atual": view.current_version,
            "versoes": versions, "entregas": deliveries, "novo": request.query_params.get("recibo")}, got)

    def _deadlines(self, protocol: str) -> dict[int, dict[str, Any]]:
        with self.reader.connect() as conn:
            rows = conn.execute(select(messages.c.version, messages.c.due_date, messages.c.late,
                                       messages.c.days_late).where(messages.c.protocol == protocol)).all()
        return {r.version: {"limite": r.due_date, "atraso": r.late, "dias": r.days_late}
                for r in rows if r.due_date is not None}

    # -- retificação and cancelamento ------------------------------------------------------------------------------

    async def _current(self, session: Session, protocol: str) -> tuple[Kind, dict[str, str]] | Response:
        try:
            view = await self.infodip.consultation(session.person.caller(), protocol, channel="web")
        except ClientError as exc:
            return self.pages.page("web_erro.html", {"codigo": exc.code, "mensagem": exc.message}, session,
                                   status=404)
        if view.status == "cancelada":
            cancelled = ClientError("INFODIP-E052")
            return self.pages.page("web_erro.html", {"codigo": cancelled.code, "mensagem": cancelled.message},
                                   session, status=409)
        kind = Kind(view.kind)
        element: etree._Element | None = etree.fromstring(view.current_payload)
        if element is not None and etree.QName(element).localname != "comunicacao":
            element = element.find(f"{{{NS}}}comunicacao")
        return kind, forms.fields_of(kind, element) if element is not None else {}

    async def retify_page(self, request: Request) -> Response:
        """The current version in its form, to be corrected."""
        got = await self.pages.require(request, "remetente")
        if isinstance(got, Response):
            return got
        protocol = request.path_params["protocolo"]
        current = await self._current(got, protocol)
        if isinstance(current, Response):
            return current
        kind, values = current
        return self._form(got, kind, values, {}, reference=new_reference(),
                          action=f"/web/comunicacoes/{protocol}/retificar", protocol=protocol)

    async def retify(self, request: Request) -> Response:
        """Store the corrected communication as the protocol's next version (or save a draft of it)."""
        got = await self.pages.require(request, "remetente")
        if isinstance(got, Response):
            return got
        protocol = request.path_params["protocolo"]
        current = await self._current(got, protocol)
        if isinstance(current, Response):
            return current
        return await self._handle(request, got, current[0], RETIFICAR, protocol,
                                  f"/web/comunicacoes/{protocol}/retificar")

    async def cancel_page(self, request: Request) -> Response:
        """Ask for the reason and a confirmation."""
        got = await self.pages.require(request, "remetente")
        if isinstance(got, Response):
            return got
        protocol = request.path_params["protocolo"]
        current = await self._current(got, protocol)
        if isinstance(current, Response):
            return current
        return self.pages.page("web_cancelar.html", {"protocolo": protocol, "referencia": new_reference(),
                                                      "motivo": "", "erro": None}, got)

    async def cancel(self, request: Request) -> Response:
        """Withdraw the communication (a new version recording it; the history is kept)."""
        got = await self.pages.require(request, "remetente")
        if isinstance(got, Response):
            return got
        protocol = request.path_params["protocolo"]
        try:
            form = await self.pages.form(request, got)
        except ClientError as exc:
            return self.pages.csrf_refused(got, exc)
        reference, reason = text(form, "referencia") or new_reference(), text(form, "motivo")
        element = forms.build_operation(CANCELAR, reference=reference, protocol=protocol, reason=reason)
        try:
            receipt = await self.infodip.handle(got.person.caller(), element)
        except ClientError as exc:
            return self.pages.page("web_cancelar.html", {
                "protocolo": protocol, "referencia": reference, "motivo": reason,
                "erro": f"{exc.message} ({exc.code})"}, got, status=422)
        assert isinstance(receipt, Receipt)
        self._count(receipt, None)
        return RedirectResponse(f"/web/comunicacoes/{protocol}?recibo={receipt.version}", 303)

    # -- progressive enhancement -----------------------------------------------------------------------------------

    async def check_identifier(self, request: Request) -> Response:
        """``{"tipo": "cpf"|"titulo"|"processo"|"matricula"|"protocolo", "valor": "…"}`` (JSON, header
        ``X-CSRF-Token``) → ``{"valido": bool, "mensagem": "…"}``; 403 without a session or a valid token."""
        session = await self.pages.session(request)
        try:
            if session is None:
                raise ClientError("WEB-E002")
            self.people.check_csrf(request.headers.get("x-csrf-token"), session.id)
            body = await request.json()
            kind, value = str(body.get("tipo", "")), str(body.get("valor", ""))[:64]
        except (ClientError, ValueError, AttributeError) as exc:
            code = exc.code if isinstance(exc, ClientError) else "WEB-E003"
            return JSONResponse({"codigo": code}, status_code=403)
        return JSONResponse(identifier_verdict(kind, value))


def identifier_verdict(kind: str, value: str) -> dict[str, object]:
    """Whether *value* is a valid identifier of *kind* (the same check as intake: :mod:`gateway.identifiers`)."""
    digits = "".join(ch for ch in value if ch.isalnum() or ch == "-").replace("-", "") if kind != "protocolo" else value
    if not value.strip():
        return {"valido": True, "mensagem": ""}
    if kind == "protocolo":
        ok = len(value) == 21 and value[8] == "-" and value[:8].isdigit() and value[9:].isalnum()
        return {"valido": ok, "mensagem": "" if ok else "Protocolo no formato AAAAMMDD-XXXXXXXXXXXX."}
    if kind not in _CHECKS:
        return {"valido": False, "mensagem": "Tipo de identificador desconhecido."}
    which, label = _CHECKS[kind]
    ok = ids.validate(which, digits)
    return {"valido": ok, "mensagem": "" if ok else f"{label} inválido: confira os dígitos verificadores."}


def _kind(value: str) -> Kind | None:
    try:
        return Kind(value)
    except ValueError:
        return None


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _local(target: str) -> str:
    """A redirect target only within the form or the console (never another site)."""
    return target if target.startswith(("/web/", "/console/")) and "//" not in target else ""


def _sections(kind: Kind) -> list[tuple[str, tuple[forms.Field, ...]]]:
    return [("Pessoa", forms.HEADER), ("Processo", forms.PROCESS),
            (forms.KIND_TITLES[kind], forms.BLOCK_FIELDS[kind]), ("Observação", (forms.NOTE,))]


def _listed(row: Any) -> dict[str, Any]:
    return {"protocolo": row.protocol, "tipo": row.kind, "situacao": communication_situacao(row.status),
            "versao": row.current_version, "processo": row.process_number or "", "fato": row.fact_date,
            "recebida": row.created_at, "atraso": row.late,
            "entregas": [(d.destination, delivery_situacao(d.status)) for d in row.deliveries]}


def install(app: Starlette, form: WebForm) -> None:
    """Add the form's routes to *app*."""
    app.router.routes.extend(form.routes())
