"""What the form's and the console's pages share: the session cookie, the role check, CSRF on every POST, and the
page response with the person, the CSRF token and the security headers (issue 16).

The cookie ``gw_sessao`` is HttpOnly, SameSite=Strict, Path=/ and Secure (``GATEWAY_WEB_COOKIE_SECURE``; unset:
when the request came over HTTPS). It carries only a random token (:mod:`gateway.web.people`). Before signing in,
the login form's CSRF token is bound to a ``gw_pre`` cookie of the same attributes.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.edges.forwarded import BadHost, Forwarding
from gateway.errors import ClientError
from gateway.throttle import CLIENT_ADDRESS
from gateway.web import render
from gateway.web.people import People, Session

COOKIE = "gw_sessao"
PRE_COOKIE = "gw_pre"
LOGIN = "/web/entrar"
#: most bytes a page's form may carry (the largest INFODIP free text is 4000 characters per field)
MAX_FORM_BYTES = 256 * 1024


class Pages:
    """Session, CSRF and rendering for one family of pages (``/web/`` or ``/console/``)."""

    def __init__(self, people: People, secure: bool | None, forwarding: Forwarding | None = None) -> None:
        self.people = people
        self.secure = secure
        self.forwarding = forwarding or Forwarding()

    # -- cookies ---------------------------------------------------------------------------------------------------

    def is_secure(self, request: Request) -> bool:
        """Whether cookies get the Secure attribute on this request."""
        if self.secure is not None:
            return self.secure
        try:
            return self.forwarding.base_url(request).startswith("https:")
        except BadHost:  # a Host the gateway would not put in a URL: judge by the socket's scheme
            return request.url.scheme == "https"

    def set_cookie(self, response: Response, request: Request, name: str, value: str) -> None:
        """*name*=*value*: HttpOnly, SameSite=Strict, Path=/, Secure as :meth:`is_secure` says; a session cookie
        (no Max-Age: the server ends idle sessions)."""
        response.set_cookie(name, value, httponly=True, samesite="strict", path="/", secure=self.is_secure(request))

    def clear_cookie(self, response: Response, request: Request, name: str) -> None:
        """Delete *name* in the browser."""
        response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=self.is_secure(request))

    # -- sessions --------------------------------------------------------------------------------------------------

    async def session(self, request: Request) -> Session | None:
        """The live session of this request's cookie, or None."""
        return await self.people.session(request.cookies.get(COOKIE))

    async def require(self, request: Request, role: str) -> Session | Response:
        """The session when its person has *role*; else the login page (303, WEB-E002 shown) or a 403 page
        (WEB-E004)."""
        session = await self.session(request)
        if session is None:
            target = request.url.path if request.method == "GET" else ""
            response = RedirectResponse(f"{LOGIN}?expirada=1" + (f"&volta={target}" if target else ""), 303)
            if COOKIE in request.cookies:
                self.clear_cookie(response, request, COOKIE)
            return response
        if session.person.role != role:
            return self.page("web_erro.html", {"codigo": "WEB-E004", "mensagem": ClientError("WEB-E004").message},
                             session, status=403)
        return session

    async def form(self, request: Request, session: Session | None) -> FormData:
        """The POSTed form once its CSRF token (``csrf``) matched the session (or, with no session, the login
        page's pre-session cookie). Errors: ClientError WEB-E003 (the caller answers 403)."""
        length = int(request.headers.get("content-length") or 0)
        if length > MAX_FORM_BYTES:
            raise ClientError("WEB-E003", "Formulário grande demais.", field="csrf")
        form = await request.form(max_files=0, max_fields=400)
        binding = session.id if session is not None else request.cookies.get(PRE_COOKIE)
        token = form.get("csrf")
        self.people.check_csrf(token if isinstance(token, str) else None, binding)
        return form

    # -- pages -----------------------------------------------------------------------------------------------------

    def page(self, template: str, context: Mapping[str, Any], session: Session | None, *, status: int = 200,
             headers: Mapping[str, str] | None = None) -> Response:
        """*template* with the person and a CSRF token for their session in the context."""
        ctx = {"pessoa": session.person if session else None,
               "csrf": self.people.csrf_token(session.id) if session else "", **context}
        return render.page(template, ctx, status=status, headers=headers)

    def csrf_refused(self, session: Session | None, exc: ClientError) -> Response:
        """The 403 page of a POST without a valid CSRF token (nothing was done)."""
        return self.page("web_erro.html", {"codigo": exc.code, "mensagem": exc.message}, session, status=403)


def client_of(request: Request) -> str:
    """The caller's address (the forwarded-aware one the middleware set, else the socket's)."""
    return CLIENT_ADDRESS.get() or (request.client.host if request.client else "?")


def new_pre_value() -> str:
    """A fresh pre-session value for the login form's CSRF binding."""
    return secrets.token_urlsafe(24)


def text(form: FormData, name: str) -> str:
    """A form field as text ('' when absent or a file)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""
