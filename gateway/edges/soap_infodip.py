"""The INFODIP SOAP 1.1 edge: ``/soap/infodip`` (POST), its WSDL (``?wsdl``) and XSDs (``?xsd=NAME``).

Thin: read the envelope, authenticate, validate against the XSD, call the service, answer — and map every error of
the gateway's tree to a Fault as DESIGN.md prescribes. No business rule lives here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date
from xml.sax.saxutils import escape

from lxml import etree
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from gateway.auth import Authenticator, Caller
from gateway.edges.forwarded import BadHost, Forwarding
from gateway.errors import ClientError, GatewayError, Overloaded, ServerError
from gateway.infodip import contract
from gateway.infodip.records import CommunicationView, Receipt
from gateway.infodip.service import InfodipService
from gateway.infodip.versions import Deprecation
from gateway.metrics import Metrics
from gateway.schemas import INFODIP_WSDL, SERVED_XSD
from gateway.settings import XmlLimits
from gateway.xml.body import BodyBudget, BodyFilter, Lease, charset_of, read_body
from gateway.xml.reader import infodip_policy, malformed, read_xml
from gateway.xml.soap import envelope, fault, read_envelope

log = logging.getLogger("gateway.infodip")
XML = "text/xml; charset=utf-8"
ENDPOINT = "/soap/infodip"


def served_wsdl(wsdl_path: str, address: str, notice: str | None = None) -> bytes:
    """The WSDL at *wsdl_path* with only ``soap:address/@location`` pointing at *address* (escaped for an XML
    attribute: whatever the address holds, it stays one attribute value) and, for a deprecated version, *notice*
    appended to its first ``wsdl:documentation``."""
    text = open(wsdl_path, encoding="utf-8").read()
    if notice:
        at = text.index("</wsdl:documentation>")
        text = text[:at] + escape(notice) + text[at:]
    start = text.index("<soap:address")
    loc = text.index('location="', start) + len('location="')
    end = text.index('"', loc)
    return (text[:loc] + escape(address, {'"': "&quot;", "'": "&apos;"}) + text[end:]).encode()


def public_url(request: Request, path: str, forwarding: Forwarding | None = None) -> str:
    """The URL of *path* as clients reach the gateway: ``GATEWAY_PUBLIC_URL`` when set, else the validated Host
    (X-Forwarded-Host/-Proto only from a trusted proxy; :class:`~gateway.edges.forwarded.Forwarding`). Errors:
    BadHost (GATEWAY-E040)."""
    return (forwarding or Forwarding()).base_url(request) + path


def bad_host(exc: BadHost) -> Response:
    """HTTP 400 for a Host the gateway will not put in a WSDL."""
    return Response(f"{exc.code}: {exc.message} ({exc.field})\n", status_code=400, media_type="text/plain")


async def request_body(request: Request, limit: int, family: str, lease: Lease | None,
                       spill_filter: Callable[[bytes], BodyFilter] | None = None, spill_above: int = 0) -> bytes:
    """The body of *request*, decompressed and within *limit* (:func:`gateway.xml.body.read_body`: E004, E013,
    E092); a large one holds part of a budget through *lease*, which the caller releases once it has answered.
    A client that leaves before its body is complete is E001 (a body cut short; nobody reads the answer).
    Past *spill_above* bytes the body goes through *spill_filter* (:func:`~gateway.xml.body.read_body`)."""
    try:
        return await read_body(request.stream(), limit=limit, family=family, lease=lease,
                               content_encoding=request.headers.get("content-encoding"),
                               content_length=request.headers.get("content-length"),
                               spill_filter=spill_filter, spill_above=spill_above)
    except ClientDisconnect:
        raise malformed(f"{family}-E001", "Corpo incompleto: o cliente encerrou a conexão.") from None


def overloaded_headers(exc: GatewayError) -> dict[str, str] | None:
    """``Retry-After`` for an :class:`~gateway.errors.Overloaded` refusal (answered 503), None otherwise."""
    return {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, Overloaded) else None


class InfodipEndpoint:
    """ASGI-level handler of ``/soap/infodip`` (INFODIP 1.0). With a :class:`~gateway.infodip.versions.Deprecation`
    (``deprecation``, and ``today`` giving the local date), every answer carries its headers, the WSDL its notice,
    and from the sunset on every call is refused with INFODIP-E089."""

    endpoint = ENDPOINT
    wsdl_path = str(INFODIP_WSDL)
    deprecation: Deprecation | None = None
    today: Callable[[], date] = date.today

    def __init__(self, service: InfodipService, auth: Authenticator, limits: XmlLimits, metrics: Metrics,
                 budget: BodyBudget | None = None, forwarding: Forwarding | None = None) -> None:
        self.forwarding = forwarding or Forwarding()
        self.service = service
        self.budget = budget
        self.auth = auth
        self.limits = limits
        self.xml_policy = infodip_policy(limits)
        self.metrics = metrics

    async def get(self, request: Request) -> Response:
        """``?wsdl`` and ``?xsd=NAME``."""
        params = request.query_params
        if "wsdl" in params or "WSDL" in params:
            try:
                address = public_url(request, self.endpoint, self.forwarding)
            except BadHost as exc:
                return bad_host(exc)
            notice = self.deprecation.notice() if self.deprecation else None
            return Response(served_wsdl(self.wsdl_path, address, notice), media_type=XML,
                            headers=self.deprecation.headers() if self.deprecation else None)
        name = params.get("xsd")
        if name and name in SERVED_XSD:
            return Response(SERVED_XSD[name].read_bytes(), media_type=XML)
        return Response("Use POST (SOAP 1.1), ?wsdl ou ?xsd=NOME.\n", status_code=404, media_type="text/plain")

    async def post(self, request: Request) -> Response:
        """One SOAP call."""
        started = time.perf_counter()
        lease = self.budget.lease("INFODIP") if self.budget is not None else None
        try:
            body = await request_body(request, self.limits.max_body_bytes, "INFODIP", lease)
            root, _info = read_xml(body, self.xml_policy, charset_of(request.headers.get("content-type")))
            req = read_envelope(root, endpoint=self.endpoint)
            name = self.operation_of(req.operation)  # an unknown operation is refused before authenticating
            if self.deprecation is not None and self.deprecation.retired(self.today()):
                raise ClientError("INFODIP-E089", f"A versão {self.deprecation.version} do contrato foi desativada "
                                  f"em {self.deprecation.sunset}: use {self.deprecation.successor}.")
            caller = await self.auth.authenticate(req.identity())
            response = Response(envelope(await self.dispatch(caller, name, req.operation)), media_type=XML)
        except GatewayError as exc:
            self.metrics.rejected.labels("soap", exc.code).inc()
            if isinstance(exc, ServerError) and not isinstance(exc, Overloaded):
                log.error("infodip server error %s", exc, exc_info=exc.__cause__ is not None)
            response = Response(fault(exc, self.errors_detail(exc)), media_type=XML, status_code=500,
                                headers=overloaded_headers(exc))
        except Exception:
            log.exception("unexpected error in %s", self.endpoint)
            exc2 = ServerError("INFODIP-E090")
            self.metrics.rejected.labels("soap", exc2.code).inc()
            response = Response(fault(exc2, self.errors_detail(exc2)), status_code=500, media_type=XML)
        finally:
            if lease is not None:
                lease.release()
        if self.deprecation is not None:
            response.headers.update(self.deprecation.headers())
        self.metrics.latency.labels("soap_infodip").observe(time.perf_counter() - started)
        return response

    def operation_of(self, element: etree._Element) -> str:
        """The operation *element* asks for (errors: INFODIP-E009, E010)."""
        return contract.operation_of(element)

    async def dispatch(self, caller: Caller, name: str, element: etree._Element) -> str:
        """The answer element (``…Resposta``) of the operation *name* that *caller* sent."""
        result = await self.service.handle(caller, element)
        return contract.operation_response(name, self._answer(result))

    def errors_detail(self, exc: GatewayError) -> str:
        """The Fault's ``detail`` content for *exc*."""
        return contract.errors_detail(exc)

    def _answer(self, result: Receipt | CommunicationView) -> str:
        if isinstance(result, CommunicationView):
            return contract.consultation_xml(result)
        if result.replay:
            self.metrics.replayed.labels("soap").inc()
        else:
            self.metrics.accepted.labels("soap", result.kind, result.operation).inc()
            if result.late:
                self.metrics.late.labels(result.kind).inc()
        return contract.receipt_xml(result)
