"""The checks of INFODIP intake short of authenticating and storing: one pipeline for ``/soap/infodip`` and for
``gateway validate``.

The layers, in intake's order: the hardened XML reader with the endpoint's limits (INFODIP-E001…E006); the SOAP 1.1
envelope (E007, E008, E012 — :meth:`IntakeChecks.validate` also takes a bare operation element); the operation
(E009, E010); the XSD (E011); the reading into the domain (E046: a value the XSD accepts that the domain cannot
hold); the sender's competence (E022, when the sender is known); identifiers and legal rules (E030–E045); the
deadline (art. 7º of Res. Conjunta 6/2020 — lateness is
reported, never refused). The SOAP edge reads the envelope and authenticates between the operation and the XSD;
:meth:`IntakeChecks.check` runs the rest, and the service stores what it returns. Every error's ``field`` is
rooted at the operation's payload — the children of the operation element — whichever layer finds it: the same
bad CPF is ``comunicacao/cabecalho/pessoa/cpf`` for the XSD (E011) and for its check digits (E030).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from lxml import etree

from gateway.auth import Caller
from gateway.clock import Clock
from gateway.errors import ClientError
from gateway.infodip import contract
from gateway.infodip.deadlines import Deadline, deadline_for, local_today
from gateway.infodip.domain import check_competence, check_rules
from gateway.settings import Settings
from gateway.xml.reader import infodip_policy, read_xml
from gateway.xml.soap import read_envelope

#: The operation's payload element where a communication sits; rule errors (whose fields the domain gives relative
#: to the communication) are rooted there, as the XSD's are (``contract.field_of``).
PAYLOAD = "comunicacao"


def rooted(exc: ClientError, root: str) -> ClientError:
    """*exc* with its ``field`` under *root* (``cabecalho/pessoa`` → ``comunicacao/cabecalho/pessoa``); a field
    already there, or none, is kept."""
    field = exc.field
    if not field or field == root or field.startswith(root + "/"):
        return exc
    again = type(exc)(exc.code, exc.message, field=f"{root}/{field}")
    again.__cause__ = exc.__cause__
    return again


@dataclass(frozen=True)
class Checked:
    """A request that passed every check, ready to be stored (or read, for a consultation).

    ``received_at`` (UTC) is the instant of the check, stored as the version's reception time; ``deadline`` is
    None for a cancelamento or a consultation."""

    request: contract.Request
    received_at: datetime
    deadline: Deadline | None


@dataclass(frozen=True)
class ValidationReport:
    """What :meth:`IntakeChecks.validate` found: the operation and kind read and the deadline, or the first error
    (its stable code, message and field)."""

    operation: str | None
    kind: str | None
    deadline: Deadline | None
    error: ClientError | None

    @property
    def ok(self) -> bool:
        """True when the request passed every check."""
        return self.error is None


class IntakeChecks:
    """Every check of INFODIP intake that needs neither a database nor a credential store."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.tz = ZoneInfo(settings.timezone)

    def check(self, element: etree._Element, caller: Caller | None, now: datetime) -> Checked:
        """Check the operation *element* (the SOAP body's child) sent by *caller* at *now* (UTC).

        Competence is checked only when *caller* is given. Errors: :class:`ClientError` with INFODIP-E009…E011,
        E022, E030–E046, each ``field`` rooted at the operation's payload (``comunicacao/cabecalho/pessoa/cpf``,
        ``protocolo``) whichever layer finds it."""
        contract.operation_of(element)
        contract.validate_operation(element)
        request = contract.read_request(element)
        comm = request.communication
        if comm is None:
            return Checked(request, now, None)
        try:
            if caller is not None:
                check_competence(comm.kind, caller.organ_type, caller.kinds)
            check_rules(comm, local_today(now, self.tz))
        except ClientError as exc:
            raise rooted(exc, PAYLOAD) from None
        deadline = deadline_for(comm.kind, comm.fact_date, now, self.tz, self.settings.deadline_days,
                                self.settings.death_deadline_day)
        return Checked(request, now, deadline)

    def validate(self, body: bytes, caller: Caller | None = None) -> ValidationReport:
        """Run intake's checks on *body* — a SOAP 1.1 request or a bare operation element — without
        authenticating or storing anything. A refusal is reported, not raised."""
        try:
            root, _info = read_xml(body, infodip_policy(self.settings.infodip_limits))
            element = read_envelope(root).operation if etree.QName(root).localname == "Envelope" else root
            checked = self.check(element, caller, self.clock.now())
        except ClientError as exc:
            return ValidationReport(None, None, None, exc)
        comm = checked.request.communication
        return ValidationReport(checked.request.operation, comm.kind.value if comm else None, checked.deadline, None)
