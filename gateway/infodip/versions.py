"""Versions of the INFODIP contract and their deprecation (Res. Conjunta CNJ/TSE 6/2020 art. 4º §2º: changes of
the technical interface are announced 30 days ahead).

A version is retired by configuration: the date its deprecation was announced and its sunset date
(``GATEWAY_INFODIP_1_0_DEPRECATION`` / ``GATEWAY_INFODIP_1_0_SUNSET``). Between the two, every answer of the version
carries ``Deprecation`` (RFC 9745: ``@`` + Unix seconds of the announcement), ``Sunset`` (RFC 8594: an HTTP-date)
and ``Link: <successor WSDL>; rel="successor-version"``, and its WSDL's documentation states the dates; from the
sunset on, its calls are refused with INFODIP-E089. A sunset less than 30 days after the announcement is refused at
start with INFODIP-E093 (no version can be retired with less notice). Pure: the caller gives today's date.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from email.utils import formatdate

from gateway.errors import OperatorError

MIN_NOTICE = timedelta(days=30)


@dataclass(frozen=True)
class Deprecation:
    """The announced retirement of one contract *version* (dates in the gateway's calendar)."""

    version: str
    announced: date
    sunset: date
    successor: str

    def headers(self) -> dict[str, str]:
        """The HTTP headers every answer of the deprecated version carries."""
        announced = calendar.timegm(self.announced.timetuple())
        sunset = calendar.timegm(self.sunset.timetuple())
        return {"Deprecation": f"@{announced}", "Sunset": formatdate(sunset, usegmt=True),
                "Link": f'<{self.successor}>; rel="successor-version"'}

    def retired(self, today: date) -> bool:
        """Whether the version is no longer served on *today*."""
        return today >= self.sunset

    def notice(self) -> str:
        """The sentence the WSDL's documentation carries (Portuguese)."""
        return (f" DESCONTINUADA: a versão {self.version} deste contrato foi declarada obsoleta em "
                f"{self.announced.isoformat()} e deixa de ser servida em {self.sunset.isoformat()} (Resolução "
                f"Conjunta CNJ/TSE nº 6/2020, art. 4º, § 2º); migre para {self.successor}.")


def deprecation_of(version: str, announced: str, sunset: str, successor: str) -> Deprecation | None:
    """The configured deprecation of *version*, or None when neither date is set. Errors: OperatorError
    INFODIP-E093 when the sunset comes less than 30 days after the announcement; GATEWAY-E001 for a date that is not
    ISO or only one of the two dates."""
    if not announced and not sunset:
        return None
    if not (announced and sunset):
        raise OperatorError(f"Contrato INFODIP {version}: informe a data do anúncio e a de desativação (ambas)",
                            code="GATEWAY-E001", field="infodip_deprecation")
    try:
        start, end = date.fromisoformat(announced), date.fromisoformat(sunset)
    except ValueError:
        raise OperatorError(f"Contrato INFODIP {version}: datas de descontinuação devem ser AAAA-MM-DD",
                            code="GATEWAY-E001", field="infodip_deprecation") from None
    if end - start < MIN_NOTICE:
        raise OperatorError(f"A desativação da versão {version} em {end} viria {(end - start).days} dias após o "
                            f"anúncio de {start}: o mínimo é {MIN_NOTICE.days} dias (Res. Conjunta 6/2020, art. 4º, "
                            "§ 2º).", code="INFODIP-E093", field="infodip_sunset")
    return Deprecation(version, start, end, successor)
