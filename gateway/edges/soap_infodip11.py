"""The INFODIP 1.1 SOAP edge: ``/soap/infodip-1.1`` (POST), its WSDL (``?wsdl``; XSD at ``/xsd/infodip-1.1.xsd``).

The same pipeline as 1.0 (:class:`~gateway.edges.soap_infodip.InfodipEndpoint`: body limits, the hardened reader,
the envelope, authentication, Faults), with 1.1's operations: the four of 1.0 (validated against the 1.1 XSD, then
handled as 1.0 — :mod:`gateway.consulta.contract`) and ``consultarSituacaoDireitosPoliticos`` and
``listarComunicacoes`` (the consultation service). Thin: no rule lives here.
"""

from __future__ import annotations

from lxml import etree

from gateway.auth import Caller
from gateway.consulta import contract as v11
from gateway.consulta.service import ConsultaService
from gateway.edges.soap_infodip import InfodipEndpoint
from gateway.errors import GatewayError
from gateway.infodip import contract as v10
from gateway.schemas import INFODIP_11_WSDL

ENDPOINT_11 = "/soap/infodip-1.1"


class Infodip11Endpoint(InfodipEndpoint):
    """ASGI-level handler of ``/soap/infodip-1.1``."""

    endpoint = ENDPOINT_11
    wsdl_path = str(INFODIP_11_WSDL)
    consulta: ConsultaService

    def operation_of(self, element: etree._Element) -> str:
        """The 1.1 operation *element* asks for (errors: INFODIP-E009, E010)."""
        return v11.operation_of(element)

    async def dispatch(self, caller: Caller, name: str, element: etree._Element) -> str:
        """The 1.1 answer of operation *name*. Errors: the services' codes (the consultation's INFODIP-E080…E087)."""
        v11.validate(element)
        if name == v11.SITUACAO:
            query, on, purpose, acting = v11.read_situation(element)
            snapshot = await self.auth.state.fresh()
            state = snapshot.current(caller.credential_id, caller.version)
            scopes = state.grants if state is not None else frozenset()
            found = await self.consulta.situation(caller, scopes, acting, purpose, query, on, channel="soap-1.1")
            return v11.operation_response(name, v11.situation_xml(found))
        if name == v11.LISTAR:
            page = await self.consulta.listing(caller, **v11.read_listing(element))  # type: ignore[arg-type]
            return v11.operation_response(name, v11.listing_xml(page))
        result = await self.service.handle(caller, v11.as_v10(element))
        return v11.answer_as_v11(v10.operation_response(name, self._answer(result)))

    def errors_detail(self, exc: GatewayError) -> str:
        """The ``erros`` element in the 1.1 namespace."""
        return v11.answer_as_v11(v10.errors_detail(exc))
