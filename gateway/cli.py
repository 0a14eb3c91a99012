"""The ``gateway`` command: serve, sandbox, migrate, validate a file, verify the audit log, manage organs."""

from __future__ import annotations

import argparse
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway import logs
from gateway.settings import Settings, SettingsError


def _settings() -> Settings:
    return Settings.from_env()


def cmd_serve(args: argparse.Namespace) -> int:
    """Production server (settings from GATEWAY_* variables)."""
    import uvicorn

    from gateway.bootstrap import create_app

    settings = _settings()
    app = create_app(settings)
    uvicorn.run(app, host=args.host or settings.host, port=args.port or settings.port, workers=1,
                log_level=settings.log_level.lower(), access_log=False, lifespan="on",
                loop="auto", http="auto", timeout_graceful_shutdown=10)
    return 0


def cmd_relay(_args: argparse.Namespace) -> int:
    """The delivery worker alone (no HTTP server)."""
    import asyncio
    import signal

    from gateway.bootstrap import build

    settings = _settings()
    gw = build(settings, relay_wanted=True)
    if gw.relay is None:
        print("nenhum parceiro configurado (GATEWAY_TSE_URL, GATEWAY_CNJ_URL)", file=sys.stderr)
        return 2

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        assert gw.relay is not None
        try:
            await gw.relay.run_forever(stop)
        finally:
            await gw.stop_relay()

    gw.start()
    try:
        asyncio.run(main())
    finally:
        gw.stop()
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Put dead letters back in the queue."""
    from gateway.bootstrap import build
    from gateway.relay import replay_dead

    if not (args.all or args.destination or args.message_id):
        print("informe --all, --destination ou --message-id", file=sys.stderr)
        return 2
    gw = build(_settings(), relay_wanted=False)
    gw.start()
    try:
        done = gw.committer.run_sync(lambda ctx: replay_dead(ctx, destination=args.destination,
                                                             message_id=args.message_id, actor="cli"))
    finally:
        gw.stop()
    for message_id, destination in done:
        print(f"reprocessada: {message_id} → {destination}")
    print(f"{len(done)} entrega(s) recolocada(s) na fila")
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    """One-command sandbox on SQLite."""
    from gateway import sandbox

    return sandbox.run(port=args.port, info_path=Path(args.info), data_dir=Path(args.data_dir), host=args.host)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Bring the database to the newest schema."""
    from gateway.db import migrate
    from gateway.db.engine import make_engine

    engine = make_engine(_settings().database_url, writer=True)
    migrate.upgrade(engine, args.revision)
    print(f"banco de dados na revisão {migrate.current_revision(engine)}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a request file (SOAP envelope or bare operation element) without sending it."""
    from gateway.errors import GatewayError
    from gateway.infodip import contract
    from gateway.infodip.domain import check_rules
    from gateway.xml.reader import infodip_policy, read_xml
    from gateway.xml.soap import SOAP11_NS, read_envelope

    settings = _settings()
    data = Path(args.file).read_bytes()
    try:
        root, _info = read_xml(data, infodip_policy(settings.infodip_limits))
        op = read_envelope(root).operation if root.tag == f"{{{SOAP11_NS}}}Envelope" else root
        contract.validate_operation(op)
        comm_el = op.find("i:comunicacao", contract.N)
        if comm_el is not None:
            comm = contract.read_communication(comm_el)
            check_rules(comm, datetime.now(UTC).astimezone(ZoneInfo(settings.timezone)).date())
    except GatewayError as exc:
        print(f"{args.file}: {exc.code} {exc.message}" + (f" (campo: {exc.field})" if exc.field else ""))
        return 1
    print(f"{args.file}: válido")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Walk every audit chain and check hashes and checkpoint signatures."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from gateway import audit
    from gateway.db.engine import make_engine

    settings = _settings()
    public_key: Ed25519PublicKey | None = None
    if args.public_key:
        loaded = serialization.load_pem_public_key(Path(args.public_key).read_bytes())
        assert isinstance(loaded, Ed25519PublicKey)
        public_key = loaded
    elif settings.signing_key_path:
        public_key = audit.load_signing_key(settings.signing_key_path).public_key
    engine = make_engine(settings.database_url)
    with engine.connect() as conn:
        report = audit.verify(conn, public_key)
    print(f"cadeias: {report.chains}  entradas: {report.entries}  checkpoints: {report.checkpoints}"
          + ("" if public_key else "  (assinaturas não verificadas: sem chave)"))
    for problem in report.broken:
        print("QUEBRA: " + problem)
    print("íntegro" if report.ok else "ADULTERADO")
    return 0 if report.ok else 2


def cmd_organ_add(args: argparse.Namespace) -> int:
    """Register an organ."""
    from gateway import admin
    from gateway.db.engine import make_engine
    from gateway.organs import OrganType

    engine = make_engine(_settings().database_url, writer=True)
    kinds = args.kinds.split(",") if args.kinds else None
    admin.add_organ(engine, args.code, args.name, OrganType(args.type), kinds=kinds, cns=args.cns)
    print(f"órgão {args.code} cadastrado")
    return 0


def cmd_credential_set(args: argparse.Namespace) -> int:
    """Create a credential or replace its password (a generated one is printed once)."""
    from gateway import admin
    from gateway.db.engine import make_engine

    settings = _settings()
    engine = make_engine(settings.database_url, writer=True)
    password = args.password or secrets.token_urlsafe(18)
    admin.set_credential(engine, args.username, args.organ, password, kdf_n=settings.password_kdf_n)
    print(f"credencial {args.username} do órgão {args.organ}" + ("" if args.password else f"; senha: {password}"))
    return 0


def cmd_mni_credential(args: argparse.Namespace) -> int:
    """Store (encrypted) the credential of a hub client towards one tribunal installation."""
    import getpass

    from sqlalchemy import select

    from gateway.clock import SystemClock
    from gateway.db.engine import make_engine
    from gateway.db.tables import organs
    from gateway.hub.credentials import CredentialStore, TribunalCredential, fernet_key

    settings = _settings()
    if not (settings.mni_credentials_key or settings.secret_key):
        print("defina GATEWAY_MNI_CREDENTIALS_KEY ou GATEWAY_SECRET_KEY", file=sys.stderr)
        return 2
    password = args.password or getpass.getpass("senha no tribunal: ")
    engine = make_engine(settings.database_url, writer=True)
    store = CredentialStore(fernet_key(settings.mni_credentials_key, settings.secret_key))
    with engine.begin() as conn:
        organ = conn.execute(select(organs.c.id).where(organs.c.code == args.organ)).first()
        if organ is None:
            print(f"órgão {args.organ} não existe", file=sys.stderr)
            return 2
        store.put(conn, organ.id, args.tribunal, args.instance, TribunalCredential(args.username, password),
                  SystemClock().now())
    print(f"credencial de {args.organ} para {args.tribunal}/{args.instance} guardada (cifrada)")
    return 0


def parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    p = argparse.ArgumentParser(prog="gateway", description="Gateway de interoperabilidade do Judiciário")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="servidor de produção (configuração por variáveis GATEWAY_*)")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.set_defaults(func=cmd_serve)
    s = sub.add_parser("relay", help="apenas o entregador (outbox → TSE/CNJ)")
    s.set_defaults(func=cmd_relay)
    s = sub.add_parser("replay", help="recoloca entregas mortas (dead letters) na fila")
    s.add_argument("--all", action="store_true", help="todas")
    s.add_argument("--destination", help="só deste destino (TSE, CNJ)")
    s.add_argument("--message-id", help="só desta mensagem")
    s.set_defaults(func=cmd_replay)
    s = sub.add_parser("sandbox", help="sandbox em SQLite com órgãos, credenciais e exemplos")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--info", default="sandbox-info.json")
    s.add_argument("--data-dir", default="sandbox-data")
    s.set_defaults(func=cmd_sandbox)
    s = sub.add_parser("migrate", help="aplica as migrações do banco de dados")
    s.add_argument("--revision", default="head")
    s.set_defaults(func=cmd_migrate)
    s = sub.add_parser("validate", help="valida um arquivo de requisição INFODIP sem enviá-lo")
    s.add_argument("file")
    s.set_defaults(func=cmd_validate)
    s = sub.add_parser("audit", help="log de auditoria")
    asub = s.add_subparsers(dest="audit_command", required=True)
    v = asub.add_parser("verify", help="verifica a cadeia de hashes e as assinaturas dos checkpoints")
    v.add_argument("--public-key", help="chave pública Ed25519 (PEM); padrão: a da chave de assinatura")
    v.set_defaults(func=cmd_audit_verify)
    s = sub.add_parser("organ", help="órgãos remetentes")
    osub = s.add_subparsers(dest="organ_command", required=True)
    a = osub.add_parser("add", help="cadastra um órgão")
    a.add_argument("--code", required=True)
    a.add_argument("--name", required=True)
    a.add_argument("--type", required=True,
                   choices=["tribunal", "orgao_julgador", "presidencia", "cartorio", "crc", "mni_cliente"])
    a.add_argument("--kinds", help="tipos permitidos, separados por vírgula (substitui o padrão do tipo)")
    a.add_argument("--cns", help="CNS do cartório")
    a.set_defaults(func=cmd_organ_add)
    s = sub.add_parser("mni", help="hub MNI")
    msub = s.add_subparsers(dest="mni_command", required=True)
    m = msub.add_parser("credential", help="credencial de um cliente do hub junto a uma instalação de tribunal")
    m.add_argument("--organ", required=True, help="órgão cliente (tipo mni_cliente), p.ex. PGFN")
    m.add_argument("--tribunal", required=True, help="J.TR, p.ex. 8.19")
    m.add_argument("--instance", required=True, help="instalação (grau), p.ex. 1")
    m.add_argument("--username", required=True)
    m.add_argument("--password", help="se omitida, é pedida no terminal")
    m.set_defaults(func=cmd_mni_credential)
    s = sub.add_parser("credential", help="credenciais")
    csub = s.add_subparsers(dest="credential_command", required=True)
    c = csub.add_parser("set", help="cria uma credencial ou troca sua senha")
    c.add_argument("--username", required=True)
    c.add_argument("--organ", required=True)
    c.add_argument("--password")
    c.set_defaults(func=cmd_credential_set)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gateway`` console script."""
    args = parser().parse_args(argv)
    try:
        base = Settings.from_env()
        logs.configure(base.log_level, base.log_format if args.command != "sandbox" else "text")
    except SettingsError:
        logs.configure("INFO", "text")
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"configuração inválida: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
