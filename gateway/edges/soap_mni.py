"""The MNI 2.2.2 edge: ``/soap/mni`` (POST), the official WSDL (``?wsdl``, only ``soap:address`` rewritten) and its
XSDs at ``/xsd/NAME`` (the WSDL imports ``../xsd/NAME``). Thin: read the body, hand it to the hub, answer."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from gateway.edges.forwarded import BadHost, Forwarding
from gateway.edges.soap_infodip import XML, bad_host, overloaded_headers, public_url, request_body, served_wsdl
from gateway.errors import GatewayError, ServerError
from gateway.hub.service import Hub
from gateway.metrics import Metrics
from gateway.mni.names import WSDL_PATH
from gateway.mni.responses import fault_for
from gateway.xml.body import BodyBudget

log = logging.getLogger("gateway.mni")


class MniEndpoint:
    """ASGI-level handler of ``/soap/mni``."""

    def __init__(self, hub: Hub | None, max_body_bytes: int, metrics: Metrics,
                 budget: BodyBudget | None = None, forwarding: Forwarding | None = None) -> None:
        self.forwarding = forwarding or Forwarding()
        self.hub = hub
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.budget = budget

    async def get(self, request: Request) -> Response:
        """``?wsdl``: the official WSDL pointing at this gateway."""
        if "wsdl" in request.query_params or "WSDL" in request.query_params:
            try:
                address = public_url(request, "/soap/mni", self.forwarding)
            except BadHost as exc:
                return bad_host(exc)
            return Response(served_wsdl(str(WSDL_PATH), address), media_type=XML)
        return Response("Use POST (SOAP 1.1) ou ?wsdl.\n", status_code=404, media_type="text/plain")

    async def post(self, request: Request) -> Response:
        """One MNI call: HTTP 200 for everything readable (``sucesso`` says how it went), a Fault otherwise."""
        if self.hub is None:
            err = ServerError("MNI-E090", "Hub MNI não configurado (GATEWAY_MNI_REGISTRY_PATH).")
            return Response(fault_for(err), status_code=500, media_type=XML)
        lease = self.budget.lease("MNI") if self.budget is not None else None
        try:
            answer = await self.hub.handle([await request_body(request, self.max_body_bytes, "MNI", lease)],
                                           request.headers.get("content-type"))
        except GatewayError as exc:
            self.metrics.rejected.labels("mni", exc.code).inc()
            return Response(fault_for(exc), status_code=500,
                            headers=overloaded_headers(exc), media_type=XML)
        except Exception:
            log.exception("unexpected error in /soap/mni")
            err = ServerError("MNI-E090", "Erro interno do gateway.")
            return Response(fault_for(err), status_code=500, media_type=XML)
        finally:
            if lease is not None:
                lease.release()
        return Response(answer.body, media_type=answer.content_type)
