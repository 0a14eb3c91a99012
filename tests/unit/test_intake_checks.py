"""INFODIP intake's checks short of authenticating and storing (``IntakeChecks``), the one pipeline that
``/soap/infodip`` and ``gateway validate`` share, and the contract's rendering of what the service returns."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree

from gateway.auth import Caller
from gateway.clock import SystemClock
from gateway.infodip import contract
from gateway.infodip.domain import Kind, competent_kinds
from gateway.infodip.intake import IntakeChecks
from gateway.infodip.records import CommunicationView, DeliveryView, VersionView
from gateway.infodip.samples import SAMPLE_USERNAME
from gateway.organs import OrganType
from gateway.settings import Settings
from gateway.xml.soap import SOAP11_NS, SOAP12_NS
from tests.support import infodip_request, sample

CHECKS = IntakeChecks(Settings.from_env({}), SystemClock())


def caller(organ_type: OrganType) -> Caller:
    """An authenticated sender of *organ_type* with its type's default competence."""
    return Caller("u", 1, "ORG", organ_type, competent_kinds(organ_type))


def operation_of(body: bytes) -> bytes:
    """The bare operation element of a SOAP request."""
    el = etree.fromstring(body).find(f"{{{SOAP11_NS}}}Body/*")
    assert el is not None
    return etree.tostring(el)


def edited(body: bytes, old: bytes, new: bytes) -> bytes:
    """*body* with *old* replaced by *new* (which must occur)."""
    assert old in body
    return body.replace(old, new)


@pytest.mark.parametrize("kind", list(Kind))
def test_every_sample_passes_as_envelope_and_as_bare_operation(kind: Kind) -> None:
    """Each kind's sample passes every check, as a SOAP request and as its bare operation element, and the report
    names the operation, the kind and the deadline (art. 7º of Res. Conjunta 6/2020: not late two days after)."""
    body = sample(kind)
    for candidate in (body, operation_of(body)):
        report = CHECKS.validate(candidate)
        assert report.ok, report.error
        assert (report.operation, report.kind) == ("enviarComunicacao", kind.value)
        assert report.deadline is not None and not report.deadline.late


@pytest.mark.parametrize(("make", "code"), [
    (lambda: b"<nao-fecha>", "INFODIP-E001"),
    (lambda: b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "INFODIP-E002"),
    (lambda: sample(Kind.I).replace(SOAP11_NS.encode(), SOAP12_NS.encode()), "INFODIP-E008"),
    (lambda: edited(sample(Kind.I), b"enviarComunicacao", b"apagarComunicacao"), "INFODIP-E009"),
    (lambda: edited(sample(Kind.I), contract.NS.encode(), b"urn:outro"), "INFODIP-E010"),
    (lambda: edited(sample(Kind.IV), b"<inf:cpf>18273645053</inf:cpf>", b"<inf:cpf>1827364505X</inf:cpf>"),
     "INFODIP-E011"),
    (lambda: edited(sample(Kind.IV), b"<inf:cpf>18273645053</inf:cpf>", b"<inf:cpf>18273645054</inf:cpf>"),
     "INFODIP-E030"),
])
def test_refusals_carry_intakes_codes(make: object, code: str) -> None:
    """Malformed XML, a DOCTYPE, SOAP 1.2, an unknown operation, another namespace, an XSD violation and a CPF with
    wrong check digits are reported (not raised) with the code intake answers for them."""
    assert callable(make)
    report = CHECKS.validate(make())
    assert not report.ok and report.error is not None
    assert report.error.code == code, report.error


def test_competence_is_checked_only_when_the_sender_is_known() -> None:
    """A criminal conviction (IV) from a cartório passes without a sender and is INFODIP-E022 with one; the
    competent sender of the sample passes."""
    body = sample(Kind.IV)
    assert CHECKS.validate(body).ok
    refused = CHECKS.validate(body, caller(OrganType.CARTORIO))
    assert refused.error is not None and refused.error.code == "INFODIP-E022"
    assert SAMPLE_USERNAME[Kind.IV] == "tjrj-sistema" and CHECKS.validate(body, caller(OrganType.TRIBUNAL)).ok


def test_check_reads_the_request_each_use_case_needs() -> None:
    """``check`` returns the request read into the domain: an envio keyed by its communication's C14N, a
    consultation with its protocol and no deadline, a cancelamento with its reference, reason and payload."""
    now = datetime.now(UTC)
    envio = etree.fromstring(operation_of(sample(Kind.I, reference="REF-1")))
    checked = CHECKS.check(envio, caller(OrganType.TRIBUNAL), now)
    assert checked.request.operation == contract.ENVIAR and checked.request.reference == "REF-1"
    assert checked.received_at == now and checked.deadline is not None and checked.request.digest
    consulta = etree.fromstring(operation_of(infodip_request("consultarComunicacao",
                                                             "<i:protocolo>20240101-ABCDEFGHJKMN</i:protocolo>")))
    read = CHECKS.check(consulta, None, now)
    assert (read.request.operation, read.request.protocol, read.deadline) == (
        contract.CONSULTAR, "20240101-ABCDEFGHJKMN", None)
    cancel = etree.fromstring(operation_of(infodip_request(
        "cancelarComunicacao", "<i:protocolo>20240101-ABCDEFGHJKMN</i:protocolo>"
        "<i:referenciaRemetente>C-1</i:referenciaRemetente><i:motivo>Enviada por engano</i:motivo>")))
    req = CHECKS.check(cancel, None, now).request
    assert (req.reference, req.reason, req.communication) == ("C-1", "Enviada por engano", None)
    assert req.payload == contract.c14n(cancel)


def test_every_delivery_state_renders_as_a_contract_value() -> None:
    """A consultation whose deliveries are in every outbox state (``sending`` included, a row under a relay's
    lease) renders into an XSD-valid ``consultarComunicacaoResposta``: each state maps to a ``tipoSituacaoEntrega``
    value."""
    comm = etree.fromstring(sample(Kind.I)).find(f".//{{{contract.NS}}}comunicacao")
    assert comm is not None
    payload = contract.c14n(comm)
    at = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
    states = ("pending", "sending", "blocked", "delivered", "failed", "dead")
    view = CommunicationView("20240502-ABCDEFGHJKMN", "I", "ativa", 1, payload,
                             (VersionView(1, "envio", "m-1", "REF-1", at, False, None, payload),),
                             tuple(DeliveryView(1, f"D{i}", s, i, None, None, at) for i, s in enumerate(states)))
    answer = etree.fromstring(contract.operation_response("consultarComunicacao", contract.consultation_xml(view)))
    assert contract.schema().validate(answer), contract.schema().error_log
    shown = [el.text for el in answer.iter(f"{{{contract.NS}}}situacao")][1:]
    assert shown == ["pendente", "pendente", "bloqueada", "entregue", "falha", "morta"]
