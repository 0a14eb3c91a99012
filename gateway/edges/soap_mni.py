"""The MNI 2.2.2 edge: ``/soap/mni`` (POST), the official WSDL (``?wsdl``, only ``soap:address`` rewritten) and its
XSDs at ``/xsd/NAME`` (the WSDL imports ``../xsd/NAME``). Thin: read the body, hand it to the hub, answer.

A body past the spill threshold goes through :mod:`gateway.mni.spill` as it arrives (long base64 runs and large
MTOM parts to disk, placeholders in their place); an answer holding placeholders is streamed with each one spliced
back (``Content-Length`` set). The call's spill files are removed when the answer has been sent, or the call
failed or was cancelled."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from functools import partial

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from gateway.edges.forwarded import BadHost, Forwarding
from gateway.edges.soap_infodip import XML, bad_host, overloaded_headers, public_url, request_body, served_wsdl
from gateway.errors import GatewayError, ServerError
from gateway.hub.service import Hub
from gateway.metrics import Metrics
from gateway.mni.names import WSDL_PATH
from gateway.mni.responses import fault_for
from gateway.mni.spill import DEFAULT_THRESHOLD, Spill
from gateway.xml.body import BodyBudget, BodyFilter

log = logging.getLogger("gateway.mni")


class SplicedResponse(StreamingResponse):
    """An answer streamed from a :class:`~gateway.mni.spill.Spill` (``Content-Length`` known), whose files are
    removed once it has been sent or the client has gone."""

    def __init__(self, chunks: AsyncIterator[bytes], length: int, media_type: str, spill: Spill) -> None:
        super().__init__(chunks, media_type=media_type, headers={"Content-Length": str(length)})
        self.spill = spill

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.spill.close()


class MniEndpoint:
    """ASGI-level handler of ``/soap/mni``. *spill_threshold*: bodies and answers past this many bytes have their
    base64 runs and MTOM parts longer than it spilled to files in *spill_dir* (0: never)."""

    def __init__(self, hub: Hub | None, max_body_bytes: int, metrics: Metrics,
                 budget: BodyBudget | None = None, forwarding: Forwarding | None = None,
                 spill_dir: str = "", spill_threshold: int = DEFAULT_THRESHOLD) -> None:
        self.forwarding = forwarding or Forwarding()
        self.hub = hub
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.budget = budget
        self.spill_dir = spill_dir
        self.spill_threshold = spill_threshold

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
        content_type = request.headers.get("content-type")
        spill: Spill | None = None
        spilling: Callable[[bytes], BodyFilter] | None = None
        if self.spill_threshold > 0:
            spill = Spill(self.spill_dir, self.spill_threshold, self.metrics.mni_spilled.inc, self.max_body_bytes)
            spilling = partial(spill.filter_for, content_type)
        streamed = False
        try:
            try:
                body = await request_body(request, self.max_body_bytes, "MNI", lease, spilling, self.spill_threshold)
                answer = await self.hub.handle([body], content_type, spill)
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
            if spill is not None and spill.references(answer.body):
                length, chunks = spill.splice(answer.body)
                streamed = True
                return SplicedResponse(chunks, length, answer.content_type, spill)
            return Response(answer.body, media_type=answer.content_type)
        finally:
            if spill is not None and not streamed:
                spill.close()
