"""Helpers for the stable ``MNI-E…`` codes of the MNI hub (listed in :data:`gateway.errors.CATALOGUE`).

MNI answers everything it can read with HTTP 200, ``sucesso=false`` and ``"MNI-E0xx: mensagem"`` in ``mensagem``
(DESIGN.md, "SOAP authentication and faults"); only what cannot be read at all (E001–E010) becomes a SOAP Fault.
The codes never change meaning; new ones are added, old ones are never reused.
"""

from __future__ import annotations

from gateway.errors import (
    CATALOGUE,
    AuthenticationFailed,
    Conflict,
    GatewayError,
    MalformedRequest,
    NotAllowed,
    NotFound,
    PartnerError,
    PartnerTimeout,
    PartnerUnreachable,
    PartnerUnreadable,
    ServerError,
    StorageUnavailable,
    ValidationFailed,
    VersionMismatch,
)

#: Where each ``MNI-E…`` answered as ``sucesso=false`` sits in the one tree (hence its ``retryable``).
_CLASS_OF: dict[str, type[GatewayError]] = {
    "MNI-E020": AuthenticationFailed, "MNI-E021": AuthenticationFailed,
    "MNI-E022": NotAllowed, "MNI-E023": NotAllowed, "MNI-E040": NotAllowed, "MNI-E045": NotAllowed,
    "MNI-E030": ValidationFailed, "MNI-E031": ValidationFailed, "MNI-E044": ValidationFailed,
    "MNI-E046": NotFound, "MNI-E048": NotFound,
    "MNI-E050": Conflict,
    "MNI-E041": PartnerUnreachable, "MNI-E042": PartnerTimeout, "MNI-E043": PartnerTimeout,
    "MNI-E047": PartnerUnreadable,
    "MNI-E090": ServerError, "MNI-E091": StorageUnavailable,
}
#: Partner errors after which asking again may succeed (an unknown outcome is reconciled, never resent blindly).
_RETRYABLE_PARTNER = frozenset({"MNI-E041", "MNI-E042"})


def message_of(code: str) -> str:
    """The catalogue's Portuguese message for *code* (the code itself when unknown)."""
    return CATALOGUE.get(code, code)


def with_detail(code: str, detail: str | None = None) -> str:
    """The catalogue's message for *code* followed by *detail* (what ``mensagem`` says after ``"MNI-E0xx: "``)."""
    base = message_of(code)
    return f"{base} {detail}" if detail else base


def detail_of(exc: GatewayError) -> str:
    """What *exc*'s message says after its catalogue text (:func:`with_detail`'s *detail*), or the whole message
    when it does not start with it: what to quote of one failure inside another answer without repeating the
    catalogue's sentence."""
    base = message_of(exc.code)
    message = exc.message
    return message[len(base):].lstrip() if base and message.startswith(base) else message


def hub_error(code: str, detail: str | None = None) -> GatewayError:
    """The error of the one tree for a hub answer ``sucesso=false`` with *code* (``MNI-E020``…``MNI-E091``).

    Client faults are :class:`~gateway.errors.ClientError` subclasses, a tribunal's failures
    :class:`~gateway.errors.PartnerError` ones (E041 unreachable, E042/E043 no answer, E047 unreadable), ours
    :class:`~gateway.errors.ServerError` (E090, E091 storage). ``message`` is :func:`with_detail`."""
    cls = _CLASS_OF.get(code, ServerError)
    message = with_detail(code, detail)
    if issubclass(cls, PartnerError):
        return cls(message, retryable=code in _RETRYABLE_PARTNER, code=code)
    return cls(code, message)


def answer_code(exc: GatewayError) -> tuple[str, str]:
    """``(code, message)`` of the ``sucesso=false`` answer for *exc*: its own when an ``MNI-E…``, else MNI-E091 for
    a storage failure (the group committer's ``…-E091``) and MNI-E090 for anything else."""
    if exc.code.startswith("MNI-E"):
        return exc.code, exc.message
    if isinstance(exc, StorageUnavailable) or exc.code.endswith("-E091"):
        return "MNI-E091", message_of("MNI-E091")
    return "MNI-E090", message_of("MNI-E090")


def malformed(code: str, detail: str | None = None, field: str | None = None) -> MalformedRequest:
    """A :class:`MalformedRequest` with an ``MNI-E…`` code and the catalogue message (plus *detail*)."""
    text = message_of(code) + (f" {detail}" if detail else "")
    return MalformedRequest(code, text, field=field)


def version_mismatch() -> VersionMismatch:
    """The SOAP 1.2 error (MNI-E008), a ``soap:VersionMismatch`` Fault."""
    return VersionMismatch("MNI-E008", message_of("MNI-E008"), field="Envelope")


class TribunalResponseUnreadable(PartnerUnreadable):
    """A tribunal answered something :func:`gateway.mni.reader.read_response` cannot read (MNI-E047).

    ``cause`` keeps the reader's own code (E001, E007, E010…). Not retryable: the call may have had its effect
    (a filing) even though its answer is unreadable.
    """

    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(f"{message_of('MNI-E047')} ({cause}: {detail})", retryable=False, code="MNI-E047",
                         field="resposta")
        self.cause = cause
