"""OAuth2 client credentials for the REST API (RFC 6749 §4.4; DESIGN.md "REST conventions").

``POST /oauth/token`` takes an organ's credential — form fields ``client_id``/``client_secret`` or HTTP Basic
(RFC 6749 §2.3.1: each form-urlencoded first), never both — with ``grant_type=client_credentials`` and an optional
``scope`` (space-separated, a subset of the organ's grants; omitted: all of them), and answers
``{"access_token", "token_type": "Bearer", "expires_in": 900, "scope"}`` with ``Cache-Control: no-store``. Its errors
follow RFC 6749 §5.2 (``{"error", "error_description"}``), not problem details: ``invalid_request`` (400),
``invalid_client`` (401 with ``WWW-Authenticate: Basic``; 429 with ``Retry-After`` when the login throttle of that
username and client address refuses — the same throttle as SOAP and HTTP Basic), ``unsupported_grant_type`` (400),
``invalid_scope`` (400).

Every route declares what it needs with ``Depends(require_scopes("scope", …))``, which returns the
:class:`Principal` — caller, scopes, how it authenticated and, with ``on_behalf_of=True``, the CPF of the natural
person acting (``On-Behalf-Of``). Missing or bad token: 401 (``WWW-Authenticate: Bearer``, ``GATEWAY-E062``); a
scope missing: 403 (``GATEWAY-E063``); ``On-Behalf-Of`` missing: 400 (``GATEWAY-E064``), not a valid CPF: 422
(``GATEWAY-E065``); all as problem details (:mod:`gateway.edges.problems`). The operations token
(``GATEWAY_ADMIN_TOKEN``) is accepted as a bearer holding the scope ``operador`` only; routes that took HTTP Basic
before tokens existed keep taking it (``basic=True``: the organ's grants are its scopes).
"""

# No "from __future__ import annotations": FastAPI must see the dependencies' annotations.

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter, Depends, FastAPI, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials, OAuth2
from pydantic import BaseModel, Field
from starlette.responses import Response

from gateway.auth import Authenticator, Caller
from gateway.auth_state import CredentialState, Snapshot
from gateway.edges import problems
from gateway.edges.problems import HTTPProblem
from gateway.errors import AuthenticationFailed, TooManyRequests
from gateway.grants import SCOPES
from gateway.identifiers import is_valid_cpf, only_digits
from gateway.tokens import InvalidToken, TokenIssuer
from gateway.xml.soap import PASSWORD_TEXT, UsernameToken

TOKEN_PATH = "/oauth/token"
MAX_FORM_BYTES = 16 * 1024
OPERATIONS_TOKEN = "token-de-operacao"

SCHEME = OAuth2(flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl=TOKEN_PATH, scopes=SCOPES)),
                scheme_name="OAuth2", auto_error=False,
                description="Client credentials (RFC 6749 §4.4): POST /oauth/token com a credencial do órgão.")
BASIC = HTTPBasic(auto_error=False, scheme_name="HTTPBasic")


@dataclass(frozen=True)
class Principal:
    """Who calls a REST route: the organ's credential (None for the operations token), the scopes it holds now,
    how it authenticated (``bearer``, ``basic``, ``token-de-operacao``) and, when the route asks, the CPF of the
    natural person acting (``On-Behalf-Of``, digits only)."""

    caller: Caller | None
    scopes: frozenset[str]
    via: str
    on_behalf_of: str | None = None

    @property
    def actor(self) -> str:
        """The name the audit log records: the credential's username, or ``token-de-operacao``."""
        return self.caller.username if self.caller is not None else OPERATIONS_TOKEN


class TokenAnswer(BaseModel):
    """The token endpoint's success (RFC 6749 §5.1)."""

    access_token: str
    token_type: str = Field(examples=["Bearer"])
    expires_in: int = Field(examples=[900])
    scope: str = Field(examples=["intimacoes:ler"])


class TokenError(BaseModel):
    """The token endpoint's errors (RFC 6749 §5.2)."""

    error: str = Field(examples=["invalid_client", "invalid_request", "unsupported_grant_type", "invalid_scope"])
    error_description: str


def oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An RFC 6749 §5.2 error answer (never cached)."""
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})})


def _caller(state: CredentialState) -> Caller:
    return Caller(state.username, state.organ_id, state.organ_code, state.organ_type, state.kinds,
                  state.credential_id, state.version)


async def _state(auth: Authenticator, credential_id: int, version: int) -> tuple[Snapshot, CredentialState | None]:
    snapshot = await auth.state.fresh()
    if credential_id not in snapshot.credentials:  # issued after this snapshot: look again, once
        snapshot = await auth.state.fresh(force=True)
    return snapshot, snapshot.current(credential_id, version)


class OAuthEdge:
    """The token endpoint and the resolution of a request's :class:`Principal`."""

    def __init__(self, auth: Authenticator, issuer: TokenIssuer, admin_token: str) -> None:
        self.auth = auth
        self.issuer = issuer
        self.admin_token = admin_token

    # -- POST /oauth/token -----------------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        """Issue a bearer token for the organ credential of the request (see the module docstring)."""
        form = await _form(request)
        if isinstance(form, Response):
            return form
        grant_type = form.get("grant_type")
        if not grant_type:
            return oauth_error(400, "invalid_request", "grant_type ausente: use grant_type=client_credentials.")
        if grant_type != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", "Só grant_type=client_credentials é aceito.")
        header = request.headers.get("authorization", "")
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if header[:6].lower() == "basic ":
            if client_secret is not None:
                return oauth_error(400, "invalid_request", "Use um só método de autenticação do cliente: HTTP "
                                   "Basic ou client_id/client_secret no corpo.")
            try:
                user, _, secret = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return _invalid_client("Cabeçalho Authorization Basic ilegível.")
            client_id, client_secret = unquote_plus(user), unquote_plus(secret)
        if not client_id or client_secret is None:
            return _invalid_client("Autenticação do cliente ausente: client_id e client_secret, ou HTTP Basic.")
        try:
            caller = await self.auth.authenticate(UsernameToken(client_id, client_secret, PASSWORD_TEXT),
                                                  channel="oauth")
        except TooManyRequests as exc:
            wait = max(1, int(exc.retry_after + 0.999))
            return oauth_error(429, "invalid_client", exc.message, {"Retry-After": str(wait)})
        except AuthenticationFailed:
            return _invalid_client("Credencial do cliente inválida.")
        _snapshot, state = await _state(self.auth, caller.credential_id, caller.version)
        grants = state.grants if state is not None else frozenset()
        asked = form.get("scope")
        wanted = asked.split() if asked is not None else [s for s in SCOPES if s in grants]
        refused = [s for s in wanted if s not in grants]
        if refused or not wanted:
            return oauth_error(400, "invalid_scope", (
                f"Escopo(s) não concedido(s) a {caller.organ_code}: {' '.join(refused)}." if refused else
                f"O órgão {caller.organ_code} não tem escopo algum concedido (gateway organ grant)."))
        issued = self.issuer.issue(caller, [s for s in SCOPES if s in wanted])
        return JSONResponse({"access_token": issued.token, "token_type": "Bearer", "expires_in": issued.expires_in,
                             "scope": " ".join(issued.scopes)},
                            headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    # -- the principal of a route ----------------------------------------------------------------------------

    async def principal(self, request: Request, required: tuple[str, ...], basic: HTTPBasicCredentials | None, *,
                        basic_allowed: bool, on_behalf_of: bool) -> Principal:
        """Authenticate the request (bearer token, the operations token, or HTTP Basic where allowed), check the
        *required* scopes and read ``On-Behalf-Of``. Errors: HTTPProblem 401/403/400/422 (module docstring); the
        Basic path raises the authenticator's own errors (401 INFODIP-E021, 429 INFODIP-E029) as before."""
        challenge = 'Bearer realm="gateway"' + (', Basic realm="gateway"' if basic_allowed else "")
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            principal = await self._bearer(value.strip(), challenge)
        elif basic_allowed and basic is not None:
            try:
                caller = await self.auth.authenticate(UsernameToken(basic.username, basic.password, PASSWORD_TEXT),
                                                      channel="rest")
            except TooManyRequests as exc:  # the same codes, located where a REST client put its credential
                raise TooManyRequests(exc.code, exc.message, "Authorization", exc.retry_after) from None
            except AuthenticationFailed as exc:
                raise AuthenticationFailed(exc.code, exc.message, "Authorization") from None
            _snapshot, state = await _state(self.auth, caller.credential_id, caller.version)
            principal = Principal(caller, state.grants if state is not None else frozenset(), "basic")
        else:
            raise HTTPProblem(401, "GATEWAY-E062", "Autenticação ausente: envie Authorization: Bearer <token> (obtido "
                              "em POST /oauth/token)" + (" ou HTTP Basic." if basic_allowed else "."),
                              campo="Authorization", headers={"WWW-Authenticate": challenge})
        missing = [s for s in required if s not in principal.scopes]
        if missing:
            raise HTTPProblem(403, "GATEWAY-E063", f"Escopo insuficiente: esta operação exige {' '.join(missing)}.",
                              campo="Authorization", headers={
                                  "WWW-Authenticate": f'Bearer realm="gateway", error="insufficient_scope", '
                                                      f'scope="{" ".join(required)}"'})
        if on_behalf_of:
            principal = Principal(principal.caller, principal.scopes, principal.via, _on_behalf_of(request))
        return principal

    async def _bearer(self, token: str, challenge: str) -> Principal:
        if self.admin_token and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return Principal(None, frozenset({"operador"}), OPERATIONS_TOKEN)
        try:
            claims = self.issuer.verify(token)
        except InvalidToken as exc:
            raise _invalid_token(exc.message, challenge) from None
        _snapshot, state = await _state(self.auth, claims.credential_id, claims.version)
        if state is None or (state.username, state.organ_code) != (claims.username, claims.organ_code):
            raise _invalid_token("Token revogado: a credencial foi revogada ou trocada, ou o órgão desativado.",
                                 challenge)
        return Principal(_caller(state), claims.scopes & state.grants, "bearer")


def _invalid_client(description: str) -> JSONResponse:
    return oauth_error(401, "invalid_client", description, {"WWW-Authenticate": 'Basic realm="gateway"'})


def _invalid_token(message: str, challenge: str) -> HTTPProblem:
    return HTTPProblem(401, "GATEWAY-E062", message, campo="Authorization",
                       headers={"WWW-Authenticate": challenge + ', error="invalid_token"'})


def _on_behalf_of(request: Request) -> str:
    raw = request.headers.get("on-behalf-of", "").strip()
    if not raw:
        raise HTTPProblem(400, "GATEWAY-E064", "Informe no cabeçalho On-Behalf-Of o CPF da pessoa que consulta.",
                          campo="On-Behalf-Of")
    cpf = only_digits(raw) if set(raw) <= set("0123456789.-") else raw
    if not is_valid_cpf(cpf):
        raise HTTPProblem(422, "GATEWAY-E065", "On-Behalf-Of não é um CPF válido.", campo="On-Behalf-Of")
    return cpf


async def _form(request: Request) -> dict[str, str] | Response:
    """The token request's form fields, each at most once (RFC 6749 §3.2), or the error answer."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return oauth_error(400, "invalid_request", "Envie os parâmetros como application/x-www-form-urlencoded.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return oauth_error(400, "invalid_request", f"Corpo acima de {MAX_FORM_BYTES} bytes.")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        return oauth_error(400, "invalid_request", "Corpo ilegível (application/x-www-form-urlencoded, UTF-8).")
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            return oauth_error(400, "invalid_request", f"Parâmetro repetido: {name}.")
        form[name] = value
    return form


def require_scopes(*scopes: str, on_behalf_of: bool = False,
                   basic: bool = False) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency admitting callers that hold every one of *scopes* (none: any authenticated caller) and
    returning their :class:`Principal`; *on_behalf_of* requires the ``On-Behalf-Of`` CPF, *basic* also accepts HTTP
    Basic (the routes that had it before tokens). Errors: module docstring."""
    for scope in scopes:
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}")

    if basic:
        async def with_basic(request: Request, _token: Annotated[str | None, Security(SCHEME, scopes=list(scopes))],
                             credentials: Annotated[HTTPBasicCredentials | None, Depends(BASIC)]) -> Principal:
            return await _edge(request).principal(request, scopes, credentials, basic_allowed=True,
                                                  on_behalf_of=on_behalf_of)
        return with_basic

    async def bearer_only(request: Request,
                          _token: Annotated[str | None, Security(SCHEME, scopes=list(scopes))]) -> Principal:
        return await _edge(request).principal(request, scopes, None, basic_allowed=False, on_behalf_of=on_behalf_of)
    return bearer_only


def oauth_edge(request: Request) -> OAuthEdge:
    """The :class:`OAuthEdge` :func:`install` gave the request's application: for a route that resolves its
    :class:`Principal` itself (one call of :meth:`OAuthEdge.principal`) instead of through :func:`require_scopes`."""
    edge: OAuthEdge = request.app.state.oauth
    return edge


_edge = oauth_edge


_TOKEN_FORM: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/x-www-form-urlencoded": {"schema": {"type": "object", "required": ["grant_type"], "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        "scope": {"type": "string", "description": "escopos separados por espaço (padrão: todos os concedidos)"},
        "client_id": {"type": "string", "description": "ou HTTP Basic"},
        "client_secret": {"type": "string", "description": "ou HTTP Basic"}}}}}}}


def install(app: FastAPI, edge: OAuthEdge) -> None:
    """Add ``POST /oauth/token`` and the problem handler to *app*, and make *edge* what :func:`require_scopes`
    uses."""
    app.state.oauth = edge
    problems.install(app)
    router = APIRouter()
    router.add_api_route(TOKEN_PATH, edge.token, methods=["POST"], response_model=TokenAnswer,
                         summary="Token de acesso (OAuth2 client credentials, RFC 6749 §4.4)", tags=["autenticação"],
                         responses={400: {"model": TokenError}, 401: {"model": TokenError},
                                    429: {"model": TokenError}}, openapi_extra=_TOKEN_FORM)
    app.include_router(router)
