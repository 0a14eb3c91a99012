"""The execuções fiscais built from settings (for :mod:`gateway.bootstrap`): the localidades table, the rules per
creditor, the procuradoria's signing key, the CDA signatures' trusted roots."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography import x509
from sqlalchemy.engine import Engine

from gateway.clock import Clock
from gateway.db.committer import GroupCommitter
from gateway.divida.execucao.documents import Signatario, Verificador, load_signatario
from gateway.divida.execucao.domain import Localidade, parse_localidades, parse_regras
from gateway.divida.execucao.service import ExecucaoService, Sender
from gateway.errors import OperatorError
from gateway.hub.service import Hub
from gateway.settings import Settings

#: The packaged table (the sandbox's demo municipalities); ``GATEWAY_EXECUCAO_LOCALIDADES_PATH`` replaces it.
DEFAULT_LOCALIDADES = Path(__file__).with_name("localidades.json")


def load_localidades(path: str) -> dict[str, Localidade]:
    """The localidades table at *path* (empty: the packaged one). Errors: OperatorError GATEWAY-E001."""
    source = Path(path) if path else DEFAULT_LOCALIDADES
    try:
        return parse_localidades(json.loads(source.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise OperatorError(f"GATEWAY_EXECUCAO_LOCALIDADES_PATH: {source}: {exc}", code="GATEWAY-E001") from exc


def _signatario(settings: Settings) -> Signatario | None:
    if not settings.execucao_chave_path:
        return None
    try:
        return load_signatario(settings.execucao_chave_path, settings.execucao_certificado_path)
    except (OSError, ValueError, TypeError) as exc:
        raise OperatorError(f"GATEWAY_EXECUCAO_CHAVE_PATH/CERTIFICADO_PATH: {exc}", code="GATEWAY-E001") from exc


def _roots(path: str) -> list[x509.Certificate]:
    if not path:
        return []
    try:
        return x509.load_pem_x509_certificates(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise OperatorError(f"GATEWAY_EXECUCAO_CDA_RAIZES: {exc}", code="GATEWAY-E001") from exc


def build_execucao(settings: Settings, hub: Hub, committer: GroupCommitter, reader: Engine,
                   clock: Clock) -> tuple[ExecucaoService, Sender]:
    """The service and its sender. Errors: OperatorError GATEWAY-E001 for a table, key or bundle that cannot be
    read."""
    service = ExecucaoService(hub, committer, reader, clock, Verificador(_roots(settings.execucao_cda_raizes)),
                              _signatario(settings), load_localidades(settings.execucao_localidades_path),
                              parse_regras(settings.execucao_regras), settings.execucao_timeout_s)
    sender = Sender(service, batch=settings.execucao_lote, concurrency=settings.execucao_concorrencia,
                    timeout_s=settings.execucao_timeout_s)
    return service, sender
