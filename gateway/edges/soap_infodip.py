"""The INFODIP SOAP 1.1 edge: ``/soap/infodip`` (POST), its WSDL (``?wsdl``) and XSDs (``?xsd=NAME``).

Thin: read the envelope, authenticate, validate against the XSD, call the service, answer — and map every error of
the gateway's tree to a Fault as DESIGN.md prescribes. No business rule lives here.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import Response

from gateway.auth import Authenticator
from gateway.errors import GatewayError, MalformedRequest, Overloaded, ServerError
from gateway.infodip import contract
from gateway.infodip.records import CommunicationView, Receipt
from gateway.infodip.service import InfodipService
from gateway.metrics import Metrics
from gateway.schemas import INFODIP_WSDL, SERVED_XSD
from gateway.settings import XmlLimits
from gateway.xml.reader import infodip_policy, read_xml
from gateway.xml.soap import envelope, fault, read_envelope

log = logging.getLogger("gateway.infodip")
XML = "text/xml; charset=utf-8"


def served_wsdl(wsdl_path: str, address: str) -> bytes:
    """The WSDL at *wsdl_path* with only ``soap:address/@location`` pointing at *address*."""
    text = open(wsdl_path, encoding="utf-8").read()
    start = text.index("<soap:address")
    loc = text.index('location="', start) + len('location="')
    end = text.index('"', loc)
    return (text[:loc] + address + text[end:]).encode()


def public_url(request: Request, path: str) -> str:
    """The URL of *path* as the client reached the gateway (honours Host and X-Forwarded-Proto)."""
    proto = request.headers.get("x-forwarded-proto", request.url.scheme)
    host = request.headers.get("x-forwarded-host") or request.headers.get("host") or request.url.netloc
    return f"{proto}://{host}{path}"


async def read_body(request: Request, limit: int, code_prefix: str = "INFODIP") -> bytes:
    """The request body, refused (code E004) as soon as it exceeds *limit* bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise MalformedRequest(f"{code_prefix}-E004", field="body")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise MalformedRequest(f"{code_prefix}-E004", field="body")
        chunks.append(chunk)
    return b"".join(chunks)


class InfodipEndpoint:
    """ASGI-level handler of ``/soap/infodip``."""

    def __init__(self, service: InfodipService, auth: Authenticator, limits: XmlLimits, metrics: Metrics) -> None:
        self.service = service
        self.auth = auth
        self.limits = limits
        self.xml_policy = infodip_policy(limits)
        self.metrics = metrics

    async def get(self, request: Request) -> Response:
        """``?wsdl`` and ``?xsd=NAME``."""
        params = request.query_params
        if "wsdl" in params or "WSDL" in params:
            return Response(served_wsdl(str(INFODIP_WSDL), public_url(request, "/soap/infodip")), media_type=XML)
        name = params.get("xsd")
        if name and name in SERVED_XSD:
            return Response(SERVED_XSD[name].read_bytes(), media_type=XML)
        return Response("Use POST (SOAP 1.1), ?wsdl ou ?xsd=NOME.\n", status_code=404, media_type="text/plain")

    async def post(self, request: Request) -> Response:
        """One SOAP call."""
        started = time.perf_counter()
        try:
            body = await read_body(request, self.limits.max_body_bytes)
            root, _info = read_xml(body, self.xml_policy)
            req = read_envelope(root)
            name = contract.operation_of(req.operation)  # an unknown operation is refused before authenticating
            caller = await self.auth.authenticate(req.username_token)
            result = await self.service.handle(caller, req.operation)
            response = Response(envelope(contract.operation_response(name, self._answer(result))), media_type=XML)
        except GatewayError as exc:
            self.metrics.rejected.labels("soap", exc.code).inc()
            if isinstance(exc, ServerError):
                log.error("infodip server error %s", exc, exc_info=exc.__cause__ is not None)
            retry = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, Overloaded) else None
            response = Response(fault(exc, contract.errors_detail(exc)), status_code=500, media_type=XML,
                                headers=retry)
        except Exception:
            log.exception("unexpected error in /soap/infodip")
            exc2 = ServerError("INFODIP-E090")
            self.metrics.rejected.labels("soap", exc2.code).inc()
            response = Response(fault(exc2, contract.errors_detail(exc2)), status_code=500, media_type=XML)
        self.metrics.latency.labels("soap_infodip").observe(time.perf_counter() - started)
        return response

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
