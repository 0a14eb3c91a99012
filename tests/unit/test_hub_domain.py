"""The MNI hub's pure rules (gateway/hub/domain.py): access, routing, the filing state machine, reconciliation and
the avisos merge — no database, no network, no event loop."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from gateway.errors import (
    Conflict,
    NotAllowed,
    NotFound,
    PartnerTimeout,
    PartnerUnreachable,
    PartnerUnreadable,
    StorageUnavailable,
    ValidationFailed,
)
from gateway.hub import domain
from gateway.hub.domain import Filing, FilingState, ProbePlan, Reconciliation, Step
from gateway.hub.registry import Installation, parse_registry
from gateway.mni.errors import hub_error
from gateway.mni.reader import Deviation, read_response
from gateway.settings import Settings

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICO = "http://www.cnj.jus.br/servico-intercomunicacao-2.2.2/"
TIPOS = "http://www.cnj.jus.br/tipos-servico-intercomunicacao-2.2.2"
INTER = "http://www.cnj.jus.br/intercomunicacao-2.2.2"
REGISTRY = parse_registry({
    "tribunais": [
        {"jtr": "8.19", "nome": "TJRJ", "instalacoes": [{"instancia": "1", "url": "http://t/8.19/1"},
                                                         {"instancia": "2", "url": "http://t/8.19/2"}]},
        {"jtr": "4.04", "nome": "TRF4", "instalacoes": [{"instancia": "1", "url": "http://t/4.04/1"}]},
        {"jtr": "8.26", "nome": "TJSP", "instalacoes": [{"instancia": "1", "url": "http://t/8.26/1"}]},
    ],
    "clientes": {"PGFN": {"tribunais": ["8.19", "4.04"], "tribunalPadrao": "8.19", "codigoLocalidadePadrao": "7"},
                 "PGF": {"tribunais": ["8.19"]},
                 "NINGUEM": {"tribunais": []}},
})
TJRJ1, TJRJ2 = REGISTRY.tribunals["8.19"].installations
TRF4 = REGISTRY.tribunals["4.04"].installations[0]
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
LIMITS = Settings.from_env({}).mni_limits


def test_domain_imports_no_io_library() -> None:
    """The domain module pulls in no database, HTTP or async I/O library (checked in a fresh interpreter)."""
    code = ("import sys, gateway.hub.domain; print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'sqlalchemy', 'aiohttp', 'anyio', 'httpx', 'asyncio', 'starlette', 'fastapi', 'psycopg'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_process_number_needs_twenty_ascii_digits_but_not_right_check_digits() -> None:
    """A 20-digit number is routed even with wrong check digits; anything else is MNI-E030 (a client error)."""
    assert domain.process_number(" 08123459320198190001 ") == "08123459320198190001"
    assert domain.process_number("08123450020198190001") == "08123450020198190001"  # wrong check digits
    for bad in (None, "", "0812345-93.2019.8.19.0001", "0812345932019819000", "٠" * 20):
        with pytest.raises(ValidationFailed) as e:
            domain.process_number(bad)
        assert e.value.code == "MNI-E030"


def test_access_is_deny_by_default() -> None:
    """A client reaches only the tribunals its registry entry lists: an unlisted, unknown tribunal or an unknown
    client is MNI-E040 (NotAllowed)."""
    assert domain.tribunal_installations(REGISTRY, "PGFN", "8.19") == (TJRJ1, TJRJ2)
    for organ, jtr in (("PGF", "4.04"), ("PGFN", "8.26"), ("PGFN", "9.99"), ("DESCONHECIDO", "8.19")):
        with pytest.raises(NotAllowed) as e:
            domain.tribunal_installations(REGISTRY, organ, jtr)
        assert e.value.code == "MNI-E040" and jtr in e.value.message


def test_avisos_go_to_every_installation_of_the_clients_tribunals() -> None:
    """consultarAvisosPendentes is fanned out to each installation of each listed tribunal; none is MNI-E040."""
    assert domain.avisos_targets(REGISTRY, "PGFN") == [TJRJ1, TJRJ2, TRF4]
    for organ in ("NINGUEM", "DESCONHECIDO"):
        with pytest.raises(NotAllowed):
            domain.avisos_targets(REGISTRY, organ)


def test_initial_petition_goes_to_the_named_tribunal_else_the_default() -> None:
    """outroParametro 'tribunal' wins; else the client's default tribunal with its default codigoLocalidade;
    neither is MNI-E040."""
    pgfn, pgf = REGISTRY.clients["PGFN"], REGISTRY.clients["PGF"]
    assert domain.initial_petition_target(pgfn, "4.04") == domain.PetitionTarget("4.04", None)
    assert domain.initial_petition_target(pgfn, None) == domain.PetitionTarget("8.19", "7")
    for client in (pgf, None):
        with pytest.raises(NotAllowed) as e:
            domain.initial_petition_target(client, None)
        assert e.value.code == "MNI-E040"


def test_aviso_is_found_where_it_was_listed() -> None:
    """An identificadorAviso goes where it was listed: unknown is MNI-E048, listed by two tribunals MNI-E044
    (naming both), an installation gone from the registry MNI-E040."""
    assert domain.aviso_installation(REGISTRY, {("8.19", "2")}) == TJRJ2
    with pytest.raises(NotFound) as unknown:
        domain.aviso_installation(REGISTRY, set())
    assert unknown.value.code == "MNI-E048"
    with pytest.raises(ValidationFailed) as ambiguous:
        domain.aviso_installation(REGISTRY, {("8.19", "1"), ("4.04", "1")})
    assert ambiguous.value.code == "MNI-E044" and "4.04/1" in ambiguous.value.message
    with pytest.raises(NotAllowed) as gone:
        domain.aviso_installation(REGISTRY, {("8.19", "3")})
    assert gone.value.code == "MNI-E040"


def test_locate_uses_memory_then_the_only_installation_then_probes() -> None:
    """A remembered and still registered instance is used; a filing goes straight to a tribunal's only
    installation; otherwise every installation is probed in registry order."""
    assert domain.locate((TJRJ1, TJRJ2), "2", probe_with_request=True) == TJRJ2
    assert domain.locate((TJRJ1, TJRJ2), "9", probe_with_request=False) == ProbePlan((TJRJ1, TJRJ2))
    assert domain.locate((TJRJ1, TJRJ2), None, probe_with_request=False) == ProbePlan((TJRJ1, TJRJ2))
    assert domain.locate((TRF4,), None, probe_with_request=False) == TRF4
    assert domain.locate((TRF4,), None, probe_with_request=True) == ProbePlan((TRF4,))


def test_not_located_says_unreachable_before_not_found() -> None:
    """When no installation holds the process: MNI-E046 if every one answered; if one could not answer, its
    error (MNI-E041 first), since 'not found' cannot be concluded — each reason named."""
    reasons = ["8.19/1: processo não encontrado", "8.19/2: tempo esgotado"]
    none = domain.not_located(reasons[:1], [])
    assert isinstance(none, NotFound) and none.code == "MNI-E046" and "8.19/1" in none.message
    slow = domain.not_located(reasons, [hub_error("MNI-E042")])
    assert isinstance(slow, PartnerTimeout) and slow.code == "MNI-E042" and "8.19/2" in slow.message
    mixed = domain.not_located(reasons, [hub_error("MNI-E042"), hub_error("MNI-E041")])
    assert isinstance(mixed, PartnerUnreachable) and mixed.code == "MNI-E041"


def test_partner_failures_by_what_is_known_of_the_request() -> None:
    """Nothing sent is MNI-E041 even for a filing (never 'may have been filed'); no answer is MNI-E042, MNI-E043
    for a filing; an answer that broke off is MNI-E047."""
    unreachable = PartnerUnreachable("tribunal inacessível (InvalidUrlClientError: htp:/x)", retryable=True)
    timeout = PartnerTimeout("tempo esgotado", retryable=True)
    broken = PartnerUnreadable("resposta interrompida", retryable=True)
    assert domain.partner_failure("8.19/1", unreachable, filing=True).code == "MNI-E041"
    assert domain.partner_failure("8.19/1", unreachable).code == "MNI-E041"
    assert domain.partner_failure("8.19/1", timeout).code == "MNI-E042"
    filed = domain.partner_failure("8.19/1", timeout, filing=True)
    assert filed.code == "MNI-E043" and "8.19/1: tempo esgotado" in filed.message
    assert domain.partner_failure("8.19/1", broken, filing=True).code == "MNI-E047"


def test_a_filing_whose_outcome_is_unknown_is_kept_indeterminate() -> None:
    """After a failed send the filing is indeterminate only when the request may have reached the tribunal (no
    answer, an unreadable one); unreachable, no credential or storage failures forget it (safe to resend)."""
    for unknown in ("MNI-E042", "MNI-E043", "MNI-E047"):
        assert domain.state_after_failure(hub_error(unknown)) is FilingState.INDETERMINATE
    for nothing_sent in ("MNI-E041", "MNI-E023", "MNI-E091"):
        assert domain.state_after_failure(hub_error(nothing_sent)) is None
    assert domain.state_after_answer(True) is FilingState.DONE
    assert domain.state_after_answer(False) is None and domain.state_after_answer(None) is None


def test_filing_key_is_client_subject_and_documents_in_any_order() -> None:
    """The idempotency key: the same client, subject and set of documents give the same 64-hex key; changing
    any of them changes it."""
    key = domain.filing_key(7, "08123459320198190001", ["b", "a"])
    assert key == domain.filing_key(7, "08123459320198190001", ["a", "b"]) and len(key) == 64
    assert len({key, domain.filing_key(8, "08123459320198190001", ["a", "b"]),
                domain.filing_key(7, "00234564420188190001", ["a", "b"]),
                domain.filing_key(7, "08123459320198190001", ["a"])}) == 4
    assert domain.filing_subject("08123459320198190001", "d") == "08123459320198190001"
    assert domain.filing_subject(None, "d") == "d"
    assert domain.filing_subject(None, None) == "sem-dados-basicos"


def _filing(state: FilingState, expires_at: datetime = NOW, response: bytes | None = b"<r/>") -> Filing:
    return Filing(state, response, expires_at, "h0")


def test_filing_state_machine() -> None:
    """Nothing or an expired filing → send; done → replay its answer (or send when none was stored); sending →
    busy (MNI-E050); indeterminate → reconcile. A filing expiring exactly now is still live."""
    assert domain.next_step(None, NOW) is Step.SEND
    assert domain.next_step(_filing(FilingState.DONE), NOW) is Step.REPLAY
    assert domain.next_step(_filing(FilingState.DONE, response=None), NOW) is Step.SEND
    assert domain.next_step(_filing(FilingState.SENDING), NOW) is Step.BUSY
    assert domain.next_step(_filing(FilingState.INDETERMINATE), NOW) is Step.RECONCILE
    for state in FilingState:
        assert domain.next_step(_filing(state, expires_at=NOW - timedelta(microseconds=1)), NOW) is Step.SEND
    ttl = timedelta(hours=24)
    recorded = _filing(FilingState.SENDING, expires_at=domain.expiry(NOW, ttl))
    assert domain.is_live(recorded, NOW + ttl) and not domain.is_live(recorded, NOW + ttl + timedelta(seconds=1))


def test_reconcile_by_the_documents_hash() -> None:
    """The documents hash changed since the filing was sent → filed; unchanged → not filed (send now); no
    process number or a hash missing → unknown (still indeterminate)."""
    number = "08123459320198190001"
    assert domain.reconcile(number, "h0", "h1") is Reconciliation.FILED
    assert domain.reconcile(number, "h0", "h0") is Reconciliation.NOT_FILED
    for args in ((None, "h0", "h1"), (number, None, "h1"), (number, "h0", None)):
        assert domain.reconcile(*args) is Reconciliation.UNKNOWN


def test_strict_mode_from_the_registry_or_the_request() -> None:
    """Strict mode comes from the client's modoEstrito or the request's outroParametro; its refusal is MNI-E031
    naming every deviation."""
    strict_client = parse_registry({"tribunais": [], "clientes": {"X": {"modoEstrito": True}}}).clients["X"]
    msg = read_response(_avisos_answer([]), "text/xml", LIMITS)
    assert domain.is_strict(strict_client, msg) and not domain.is_strict(REGISTRY.clients["PGFN"], msg)
    msg.parameters.append(("modoEstrito", "true"))
    assert domain.is_strict(None, msg) and domain.param(msg, "modoEstrito") == "true"
    assert domain.strict_refusal([]) is None
    refusal = domain.strict_refusal([Deviation("ordem-dos-elementos", "x"), Deviation("documento-asterisco", "y")])
    assert isinstance(refusal, ValidationFailed) and refusal.code == "MNI-E031"
    assert "ordem-dos-elementos: x; documento-asterisco: y" in refusal.message


def _avisos_answer(ids: list[str], number: str = "08123459320198190001") -> bytes:
    avisos = "".join(f'<tip:aviso idAviso="{i}"><int:processo numero="{number}"/></tip:aviso>' for i in ids)
    return (f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:ser="{SERVICO}" xmlns:tip="{TIPOS}" xmlns:int="{INTER}">'
            "<soap:Body><ser:consultarAvisosPendentesResposta><tip:sucesso>true</tip:sucesso>"
            f"<tip:mensagem>ok</tip:mensagem>{avisos}</ser:consultarAvisosPendentesResposta></soap:Body>"
            "</soap:Envelope>").encode()


def test_avisos_merged_from_several_installations() -> None:
    """The merged answer lists every aviso of every installation once, says how many from how many installations
    and names each failure; the avisos seen carry their installation and process."""
    answers: list[tuple[Installation, object]] = [
        (TJRJ1, read_response(_avisos_answer(["1", "2"]), "text/xml", LIMITS, light=True)),
        (TRF4, read_response(_avisos_answer(["3"], "50123459520234047100"), "text/xml", LIMITS)),
    ]
    merged = domain.merge_avisos(answers, ["8.19/2: tempo esgotado"])  # type: ignore[arg-type]
    root = etree.fromstring(merged.body)
    op = root.find(f"{{{SOAP}}}Body/{{{SERVICO}}}consultarAvisosPendentesResposta")
    assert op is not None
    assert [a.get("idAviso") for a in op.iterfind(f"{{{TIPOS}}}aviso")] == ["1", "2", "3"]
    assert op.findtext(f"{{{TIPOS}}}sucesso") == "true"
    assert op.findtext(f"{{{TIPOS}}}mensagem") == "3 aviso(s) de 2 instalação(ões). Falhas: 8.19/2: tempo esgotado"
    assert [(s.aviso_id, s.jtr, s.instance, s.process_number) for s in merged.seen] == [
        ("1", "8.19", "1", "08123459320198190001"), ("2", "8.19", "1", "08123459320198190001"),
        ("3", "4.04", "1", "50123459520234047100")]


def test_avisos_with_no_installation_answering_is_unreachable() -> None:
    """When no installation answered the avisos, the answer is MNI-E041 naming each failure."""
    with pytest.raises(PartnerUnreachable) as e:
        domain.merge_avisos([], ["8.19/1: a", "4.04/1: b"])
    assert e.value.code == "MNI-E041" and "8.19/1: a | 4.04/1: b" in e.value.message


def test_hub_errors_sit_in_the_one_tree() -> None:
    """Each MNI-E… answered sucesso=false is an error of the one tree with the right class and retryable flag."""
    assert isinstance(hub_error("MNI-E050"), Conflict)
    assert isinstance(hub_error("MNI-E091"), StorageUnavailable) and hub_error("MNI-E091").retryable
    assert hub_error("MNI-E041").retryable and hub_error("MNI-E042").retryable
    assert not hub_error("MNI-E043").retryable and not hub_error("MNI-E047").retryable
    assert not hub_error("MNI-E040").retryable
    e = hub_error("MNI-E030", "numeroProcesso '1' não tem 20 dígitos.")
    assert e.message.startswith("Número de processo inválido") and e.message.endswith("não tem 20 dígitos.")


def test_answer_codes_are_always_mni_codes() -> None:
    """Whatever error reaches the hub's answer, the client reads an MNI code: its own, MNI-E091 for a storage
    failure reported by the group committer, MNI-E090 for anything else."""
    from gateway.errors import ServerError
    from gateway.mni.errors import answer_code, message_of

    assert answer_code(hub_error("MNI-E046", "x")) == ("MNI-E046", message_of("MNI-E046") + " x")
    assert answer_code(ServerError("INFODIP-E091")) == ("MNI-E091", "Armazenamento indisponível; tente novamente.")
    assert answer_code(StorageUnavailable("GATEWAY-E999")) == ("MNI-E091", message_of("MNI-E091"))
    assert answer_code(ServerError("INFODIP-E090")) == ("MNI-E090", message_of("MNI-E090"))


def test_jtr_is_read_in_one_place_whatever_the_check_digits() -> None:
    """The hub reads J.TR with gateway.identifiers.processo_jtr: masked or not, with wrong check digits too, and
    in agreement with a parsed NumeroProcessoCNJ; a number without 20 digits is a ValueError."""
    from gateway.identifiers import parse_processo_cnj, processo_jtr

    assert processo_jtr("08123459320198190001") == processo_jtr("0812345-93.2019.8.19.0001") == "8.19"
    assert processo_jtr("08123450020198190001") == "8.19"  # wrong check digits
    assert parse_processo_cnj("50123459520234047100").jtr == processo_jtr("50123459520234047100") == "4.04"
    with pytest.raises(ValueError):
        processo_jtr("0812345932019819000")
