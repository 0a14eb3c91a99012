"""Helpers for the stable ``MNI-E…`` codes of the MNI hub (listed in :data:`gateway.errors.CATALOGUE`).

MNI answers everything it can read with HTTP 200, ``sucesso=false`` and ``"MNI-E0xx: mensagem"`` in ``mensagem``
(DESIGN.md, "SOAP authentication and faults"); only what cannot be read at all (E001–E010) becomes a SOAP Fault.
The codes never change meaning; new ones are added, old ones are never reused.
"""

from __future__ import annotations

from gateway.errors import CATALOGUE, MalformedRequest, ServerError, VersionMismatch


def message_of(code: str) -> str:
    """The catalogue's Portuguese message for *code* (the code itself when unknown)."""
    return CATALOGUE.get(code, code)


def malformed(code: str, detail: str | None = None, field: str | None = None) -> MalformedRequest:
    """A :class:`MalformedRequest` with an ``MNI-E…`` code and the catalogue message (plus *detail*)."""
    text = message_of(code) + (f" {detail}" if detail else "")
    return MalformedRequest(code, text, field=field)


def version_mismatch() -> VersionMismatch:
    """The SOAP 1.2 error (MNI-E008), a ``soap:VersionMismatch`` Fault."""
    return VersionMismatch("MNI-E008", message_of("MNI-E008"), field="Envelope")


class TribunalResponseUnreadable(ServerError):
    """A tribunal answered something :func:`gateway.mni.reader.read_response` cannot read (MNI-E047).

    ``cause`` keeps the reader's own code (E001, E007, E010…). Not retryable: the call may have had its effect
    (a filing) even though its answer is unreadable.
    """

    retryable = False

    def __init__(self, cause: str, detail: str) -> None:
        super().__init__("MNI-E047", f"{message_of('MNI-E047')} ({cause}: {detail})", field="resposta")
        self.cause = cause
