"""The MNI hub's rules, pure (no I/O): who may reach which tribunal, where a call goes, when a filing is sent,
replayed or reconciled, and how the avisos of several installations become one answer.

Routing (DOMAIN.md §4): a process number routes by its ``J.TR`` (read by :func:`gateway.identifiers.processo_jtr`)
to the installation remembered for it, else the installations are probed in registry order — a filing only once
the installation is known; an initial petition goes to the tribunal it names, else the client's default. Access is
deny by default: a client reaches only the tribunals its registry entry lists (X-Road's access rights).

Filings are idempotent: one key per client, subject (process number or ``dadosBasicos``) and documents. A filing is
``sending`` while the tribunal has it, then ``done`` (its answer replayed to identical resends) or
``indeterminate`` when the tribunal may have acted without answering; each expires after the TTL (24 h by default).
An indeterminate filing is never resent blindly: it is reconciled by the process's documents hash
(``consultarAlteracao``) taken before sending and again on the resend.

Errors are the one tree's, with ``MNI-E…`` codes (:func:`gateway.mni.errors.hub_error`), answered ``sucesso=false``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum, StrEnum

from lxml import etree

from gateway.errors import GatewayError, PartnerError, PartnerTimeout, PartnerUnreachable, PartnerUnreadable
from gateway.hub.registry import ClientConfig, Installation, Registry
from gateway.mni.errors import hub_error
from gateway.mni.names import TIPOS_NS
from gateway.mni.reader import Deviation, MniMessage
from gateway.mni.responses import envelope_for

_T = "{%s}" % TIPOS_NS

# -- reading the request ----------------------------------------------------------------------------------------


def param(msg: MniMessage, name: str) -> str | None:
    """The value of the request's ``outroParametro``/``parametros`` named *name* (the first), or None."""
    return next((v for n, v in msg.parameters if n == name), None)


def process_number(raw: str | None) -> str:
    """The 20-digit process number of a request (surrounding blanks removed).

    Wrong check digits are accepted (real clients send them; the hub routes by ``J.TR`` anyway). Raises
    ``MNI-E030`` (:class:`~gateway.errors.ValidationFailed`) when it is not 20 ASCII digits."""
    number = (raw or "").strip()
    if len(number) != 20 or not number.isascii() or not number.isdigit():
        raise hub_error("MNI-E030", f"numeroProcesso {number!r} não tem 20 dígitos.")
    return number


def is_incidental(msg: MniMessage) -> bool:
    """A filing in an existing process (a non-zero ``numeroProcesso``), not an initial petition."""
    return bool(msg.numero_processo and msg.numero_processo.strip().strip("0"))


def is_strict(client: ClientConfig | None, msg: MniMessage) -> bool:
    """Strict mode: the client's registry entry (``modoEstrito``) or the request's ``outroParametro modoEstrito``."""
    return (client.strict if client else False) or param(msg, "modoEstrito") == "true"


def strict_refusal(deviations: Sequence[Deviation]) -> GatewayError | None:
    """In strict mode, the refusal naming every deviation (``MNI-E031``), or None when there is none."""
    if not deviations:
        return None
    return hub_error("MNI-E031", "; ".join(f"{d.code}: {d.detail}" for d in deviations))


# -- who may reach what -----------------------------------------------------------------------------------------


def tribunal_installations(registry: Registry, organ_code: str, jtr: str) -> tuple[Installation, ...]:
    """The installations of tribunal *jtr* that client *organ_code* may reach, in registry order.

    Deny by default: an unknown tribunal, an unknown client or a tribunal its entry does not list raise
    ``MNI-E040`` (:class:`~gateway.errors.NotAllowed`)."""
    tribunal = registry.tribunals.get(jtr)
    client = registry.clients.get(organ_code)
    if tribunal is None or client is None or jtr not in client.tribunals:
        raise hub_error("MNI-E040", f"J.TR {jtr} não está disponível para {organ_code}.")
    return tribunal.installations


def avisos_targets(registry: Registry, organ_code: str) -> list[Installation]:
    """Every installation of every tribunal of the client (``consultarAvisosPendentes`` is fanned out to them).

    Raises ``MNI-E040`` when the client has none."""
    client = registry.clients.get(organ_code)
    if client is None or not client.tribunals:
        raise hub_error("MNI-E040", f"Nenhum tribunal configurado para {organ_code}.")
    return [i for jtr in client.tribunals for i in tribunal_installations(registry, organ_code, jtr)]


@dataclass(frozen=True)
class PetitionTarget:
    """Where an initial petition goes: its tribunal and, when the client's default tribunal was used, the
    ``codigoLocalidade`` to set if the request has none (a tribunal's own code, from the registry)."""

    jtr: str
    default_codigo_localidade: str | None = None


def initial_petition_target(client: ClientConfig | None, named: str | None) -> PetitionTarget:
    """The tribunal of an initial petition: the one named in ``outroParametro nome="tribunal"`` (*named*), else the
    client's default tribunal (with its default ``codigoLocalidade``). Raises ``MNI-E040`` when neither is given.
    Whether the client may reach it is :func:`tribunal_installations`'s question."""
    if named:
        return PetitionTarget(named)
    if client is not None and client.default_tribunal:
        return PetitionTarget(client.default_tribunal, client.default_codigo_localidade)
    raise hub_error("MNI-E040", "Petição inicial sem tribunal: informe outroParametro 'tribunal'.")


def aviso_installation(registry: Registry, places: set[tuple[str, str]]) -> Installation:
    """The installation an ``identificadorAviso`` was listed by, from the ``(jtr, instance)`` *places* the hub
    remembers for the client: ``MNI-E048`` when none (list avisos first), ``MNI-E044`` when several (the id alone
    does not say the tribunal), ``MNI-E040`` when that installation left the registry."""
    if len(places) > 1:
        raise hub_error("MNI-E044", "Tribunais: " + ", ".join(sorted(f"{j}/{i}" for j, i in places)))
    if not places:
        raise hub_error("MNI-E048")
    jtr, instance = next(iter(places))
    inst = registry.installation(jtr, instance)
    if inst is None:
        raise hub_error("MNI-E040", f"{jtr}/{instance} não está mais cadastrado.")
    return inst


# -- where a process lives --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbePlan:
    """The installations to ask, in order, whether they hold the process (the first that answers
    ``sucesso=true`` holds it and is remembered)."""

    installations: tuple[Installation, ...]


def locate(installations: Sequence[Installation], remembered: str | None,
           probe_with_request: bool) -> Installation | ProbePlan:
    """Where to send a call about a process of this tribunal: the *remembered* instance when it is still
    registered; else the only installation when the call is not itself the probe (a filing, which is sent only
    to a known place); else a :class:`ProbePlan` over every installation (a read-only consultation probes with
    the client's own request, whose successful answer is then the answer)."""
    if remembered is not None:
        known = next((i for i in installations if i.instance == remembered), None)
        if known is not None:
            return known
    if len(installations) == 1 and not probe_with_request:
        return installations[0]
    return ProbePlan(tuple(installations))


def not_located(reasons: Sequence[str], errors: Sequence[GatewayError]) -> GatewayError:
    """The refusal when no installation said it holds the process. *reasons* name each installation's answer;
    *errors* are those that could not answer: if any, "not found" cannot be concluded and the answer is theirs
    (``MNI-E041`` first); otherwise ``MNI-E046``."""
    detail = " | ".join(reasons)
    if errors:
        codes = [e.code for e in errors]
        return hub_error("MNI-E041" if "MNI-E041" in codes else codes[0], detail)
    return hub_error("MNI-E046", detail)


def partner_failure(where: str, exc: PartnerError, *, filing: bool = False) -> GatewayError:
    """The hub's answer when the tribunal client failed towards installation *where* (``J.TR/instance``).

    Nothing sent (:class:`~gateway.errors.PartnerUnreachable`) → ``MNI-E041``; the answer broke off
    (:class:`~gateway.errors.PartnerUnreadable`) → ``MNI-E047``; no answer → ``MNI-E042``, or ``MNI-E043``
    ("resultado indeterminado") for a filing."""
    detail = f"{where}: {exc.message}"
    if isinstance(exc, PartnerUnreachable):
        return hub_error("MNI-E041", detail)
    if isinstance(exc, PartnerUnreadable):
        return hub_error("MNI-E047", detail)
    return hub_error("MNI-E043" if filing else "MNI-E042", detail)


def outcome_unknown(exc: GatewayError) -> bool:
    """True when a request may have reached the tribunal without its answer reaching us (no answer in time, the
    connection dropped after sending, an answer that broke off or cannot be read): a filing is then
    ``indeterminate``, never dropped nor resent blindly."""
    return isinstance(exc, PartnerTimeout | PartnerUnreadable)


# -- filings ----------------------------------------------------------------------------------------------------


class FilingState(StrEnum):
    """A remembered filing's state (stored in ``mni_filings.state``)."""

    SENDING = "sending"
    DONE = "done"
    INDETERMINATE = "indeterminate"


@dataclass(frozen=True)
class Filing:
    """A filing the hub remembers: its state, the answer given (``done``), when it is forgotten, and the
    process's ``hashDocumentos`` read just before it was sent (None when unknown)."""

    state: FilingState
    response: bytes | None
    expires_at: datetime
    documents_hash: str | None


class Step(Enum):
    """What to do with a filing request, given what is remembered under its key."""

    SEND = "send"  # nothing live: send it (recording it ``sending`` first)
    REPLAY = "replay"  # done: answer the stored answer, the tribunal is not called
    BUSY = "busy"  # the same filing is on its way: MNI-E050
    RECONCILE = "reconcile"  # outcome unknown: ask the tribunal what happened before anything else


def filing_key(organ_id: int, subject: str, document_digests: Sequence[str]) -> str:
    """The idempotency key of a filing: sha256 (hex, 64 characters) of the client, the *subject* (the process
    number, or the digest of an initial petition's ``dadosBasicos``) and the documents' digests in any order."""
    return hashlib.sha256(json.dumps([organ_id, subject, sorted(document_digests)]).encode()).hexdigest()


def filing_subject(number: str | None, dados_basicos_digest: str | None) -> str:
    """What a filing is about: its process *number*, else its ``dadosBasicos`` digest (initial petition)."""
    return number or dados_basicos_digest or "sem-dados-basicos"


def expiry(now: datetime, ttl: timedelta) -> datetime:
    """When a filing recorded at *now* is forgotten (*ttl*: ``GATEWAY_MNI_FILING_TTL_HOURS``, 24 h by default)."""
    return now + ttl


def is_live(filing: Filing | None, now: datetime) -> bool:
    """True when *filing* exists and has not expired at *now* (an expired filing is as good as none)."""
    return filing is not None and filing.expires_at >= now


def next_step(filing: Filing | None, now: datetime) -> Step:
    """The filing state machine's decision for a request whose key holds *filing* at *now* (see :class:`Step`).
    A ``done`` filing without a stored answer is sent again (it cannot be replayed)."""
    if filing is None or not is_live(filing, now):
        return Step.SEND
    if filing.state is FilingState.DONE:
        return Step.REPLAY if filing.response is not None else Step.SEND
    if filing.state is FilingState.SENDING:
        return Step.BUSY
    return Step.RECONCILE


def state_after_answer(sucesso: bool | None) -> FilingState | None:
    """The filing's state once the tribunal answered: ``done`` when it accepted (``sucesso`` true), else None —
    forgotten, since a refusal filed nothing and the client may correct and resend."""
    return FilingState.DONE if sucesso else None


def state_after_failure(exc: GatewayError) -> FilingState | None:
    """The filing's state when sending failed with *exc*: ``indeterminate`` when the outcome is unknown
    (:func:`outcome_unknown`), else None — forgotten, since nothing reached the tribunal (unreachable, no
    credential, storage) and sending again is safe."""
    return FilingState.INDETERMINATE if outcome_unknown(exc) else None


class Reconciliation(Enum):
    """What ``consultarAlteracao`` says about an indeterminate filing."""

    FILED = "filed"  # the process's documents changed since the filing was sent: it was filed
    NOT_FILED = "not-filed"  # unchanged: it was not; send it now
    UNKNOWN = "unknown"  # no process number (initial petition), or a hash missing: still indeterminate


def reconcile(number: str | None, before: str | None, now: str | None) -> Reconciliation:
    """Decide an indeterminate filing of process *number* from the documents hash read *before* it was sent and
    the one read *now*. An initial petition (no number) or a hash that could not be read cannot be decided."""
    if number is None or before is None or now is None:
        return Reconciliation.UNKNOWN
    return Reconciliation.FILED if now != before else Reconciliation.NOT_FILED


# -- avisos -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeenAviso:
    """An aviso listed by an installation (remembered so ``consultarTeorComunicacao`` by id finds its tribunal)."""

    aviso_id: str
    jtr: str
    instance: str
    process_number: str | None


@dataclass(frozen=True)
class MergedAvisos:
    """The merged ``consultarAvisosPendentesResposta`` (a SOAP envelope, UTF-8) and the avisos it lists."""

    body: bytes
    seen: list[SeenAviso]


def seen_avisos(inst: Installation, parsed: MniMessage) -> list[SeenAviso]:
    """The avisos (id and process number) one installation's ``consultarAvisosPendentes`` answer lists."""
    seen = []
    for av in parsed.body:
        if isinstance(av.tag, str) and etree.QName(av).localname == "aviso" and av.get("idAviso"):
            proc = av.find(".//{*}processo")
            seen.append(SeenAviso(av.get("idAviso") or "", inst.jtr, inst.instance,
                                  proc.get("numero") if proc is not None else None))
    return seen


def merge_avisos(answers: Sequence[tuple[Installation, MniMessage]], failures: Sequence[str]) -> MergedAvisos:
    """One answer from the avisos answers of several installations (read by the tolerant reader, ``sucesso`` and
    ``mensagem`` present): the first answer with every other's ``aviso`` elements appended, and ``mensagem``
    counting the avisos and installations and naming each of *failures* (``"J.TR/inst: why"``).

    Works on the first answer's tree in place. Raises ``MNI-E041`` (naming the failures) when no installation
    answered."""
    if not answers:
        raise hub_error("MNI-E041", " | ".join(failures))
    seen: list[SeenAviso] = []
    merged: etree._Element | None = None
    for inst, parsed in answers:
        avisos = [el for el in parsed.body if isinstance(el.tag, str) and etree.QName(el).localname == "aviso"]
        for av in avisos:
            aviso_id = av.get("idAviso")
            if aviso_id:
                proc = av.find(".//{*}processo")
                seen.append(SeenAviso(aviso_id, inst.jtr, inst.instance,
                                      proc.get("numero") if proc is not None else None))
        if merged is None:
            merged = parsed.body
        else:
            for av in avisos:
                merged.append(copy.deepcopy(av))
    assert merged is not None
    message = f"{sum(1 for _ in merged.iterfind('{*}aviso'))} aviso(s) de {len(answers)} instalação(ões)"
    if failures:
        message += ". Falhas: " + " | ".join(failures)
    mensagem = merged.find(f"{_T}mensagem")
    if mensagem is not None:
        mensagem.text = message
    return MergedAvisos(envelope_for(merged), seen)

