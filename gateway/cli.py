"""The ``gateway`` command: serve, relay, sandbox, migrate, validate a file, verify the audit log, replay dead
letters, manage organs and credentials.

Thin: each command parses its arguments, takes what it needs from one :class:`gateway.bootstrap.Console` and calls
one service. Commands are rows of :data:`COMMANDS`; one handler (:func:`main`) prints every
:class:`~gateway.errors.OperatorError` as one Portuguese line ``GATEWAY-E…: mensagem`` on stderr and exits 2 (any
other error of the gateway's tree: 1), never with a traceback.

``gateway serve`` and ``gateway relay`` run in production unless ``GATEWAY_ENVIRONMENT`` says otherwise (the other
commands default to development). Every file the process creates is private to its user: the umask is 077 from
the first line of :func:`main` (databases and their WAL/SHM, keys, the sandbox's files: 0600; directories 0700).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway import client_certs, logs, pki
from gateway.bootstrap import Console, console, create_app, create_ops_app
from gateway.errors import GatewayError, OperatorError
from gateway.organs import OrganType
from gateway.settings import Settings


def cmd_serve(args: argparse.Namespace, con: Console) -> int:
    """Production server (settings from GATEWAY_* variables): the public listener and, with GATEWAY_OPS_LISTEN,
    the operations one (:mod:`gateway.server`: header/body/idle timeouts and connection caps)."""
    from gateway import server

    settings = con.settings
    limits = server.ServerLimits.of(settings)
    ops_address = settings.ops_address
    server.ensure_descriptors(limits.max_connections + limits.healthz_reserve
                              + (limits.ops().max_connections if ops_address else 0) + 256)
    sock = server.bind(args.host or settings.host, args.port if args.port is not None else settings.port)
    ops_sock = server.bind(*ops_address, what="GATEWAY_OPS_LISTEN") if ops_address else None
    app = create_app(settings)
    gw = app.state.gateway
    server.run(server.serve_async(
        app, limits, sock, ops_app=create_ops_app(app) if ops_sock else None, ops_sock=ops_sock,
        trusted=gw.forwarding.is_trusted, on_event=lambda reason: gw.metrics.connection_events.labels(reason).inc(),
        log_level=settings.log_level.lower()))
    return 0


def cmd_relay(_args: argparse.Namespace, con: Console) -> int:
    """The delivery worker alone (no HTTP server), until SIGINT or SIGTERM."""
    gw = con.gateway(relay=True)
    relay = gw.relay
    assert relay is not None  # Console.gateway(relay=True) refuses a gateway without partners

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await relay.run_forever(stop)
        finally:
            await gw.stop_relay()

    asyncio.run(main())
    return 0


def cmd_replay(args: argparse.Namespace, con: Console) -> int:
    """Put dead letters back in the queue."""
    if not (args.all or args.destination or args.message_id):
        raise OperatorError("informe --all, --destination ou --message-id", field="replay")
    done = con.gateway().delivery.replay_sync(destination=args.destination, message_id=args.message_id,
                                               actor="cli")
    for r in done:
        print(f"reprocessada: {r.message_id} → {r.destination}")
    print(f"{len(done)} entrega(s) recolocada(s) na fila")
    return 0


def cmd_sandbox(args: argparse.Namespace, _con: Console) -> int:
    """One-command sandbox on SQLite."""
    from gateway import sandbox

    return sandbox.run(port=args.port, info_path=Path(args.info), data_dir=Path(args.data_dir), host=args.host)


def cmd_migrate(args: argparse.Namespace, con: Console) -> int:
    """Bring the database to the newest schema (or to ``--revision``)."""
    print(f"banco de dados na revisão {con.migrate(args.revision)}")
    return 0


def cmd_validate(args: argparse.Namespace, con: Console) -> int:
    """Run intake's checks on a request file (SOAP envelope or bare operation element) without sending it; exit 1
    when it would be refused."""
    try:
        body = Path(args.file).read_bytes()
    except FileNotFoundError:
        raise OperatorError(f"arquivo não encontrado: {args.file}", field="file") from None
    except OSError as exc:
        raise OperatorError(f"arquivo ilegível: {args.file} ({exc.strerror})", field="file") from None
    report = con.intake.validate(body)
    if report.error is not None:
        err = report.error
        print(f"{args.file}: {err.code} {err.message}" + (f" (campo: {err.field})" if err.field else ""))
        return 1
    detail = [report.operation or ""]
    if report.kind:
        detail.append(f"tipo {report.kind}")
    if report.deadline:
        detail.append(f"prazo {report.deadline.due.isoformat()}" + (" (em atraso)" if report.deadline.late else ""))
    print(f"{args.file}: válido ({', '.join(detail)}; autenticação e competência não verificadas)")
    return 0


def cmd_audit_verify(args: argparse.Namespace, con: Console) -> int:
    """Walk every audit chain and check hashes and checkpoint signatures; exit 2 when tampered with."""
    report, signed = con.verify_audit(args.public_key)
    print(f"cadeias: {report.chains}  entradas: {report.entries}  checkpoints: {report.checkpoints}"
          + ("" if signed else "  (assinaturas não verificadas: sem chave)"))
    for problem in report.broken:
        print("QUEBRA: " + problem)
    print("íntegro" if report.ok else "ADULTERADO")
    return 0 if report.ok else 2


def cmd_organ_add(args: argparse.Namespace, con: Console) -> int:
    """Register an organ."""
    kinds = args.kinds.split(",") if args.kinds is not None else None
    con.admin.add_organ(args.code, args.name, OrganType(args.type), kinds=kinds, cns=args.cns)
    print(f"órgão {args.code} cadastrado")
    return 0


def cmd_credential_set(args: argparse.Namespace, con: Console) -> int:
    """Create a credential or replace its password (a generated one is printed once)."""
    password = con.admin.set_credential(args.username, args.organ, args.password)
    print(f"credencial {args.username} do órgão {args.organ}" + ("" if args.password else f"; senha: {password}"))
    return 0


def cmd_mni_credential(args: argparse.Namespace, con: Console) -> int:
    """Store (encrypted) the credential of a hub client towards one tribunal installation."""
    password = args.password or getpass.getpass("senha no tribunal: ")
    con.admin.set_tribunal_credential(args.organ, args.tribunal, args.instance, args.username, password)
    print(f"credencial de {args.organ} para {args.tribunal}/{args.instance} guardada (cifrada)")
    return 0


def arg(*flags: str, **options: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    """One ``add_argument`` call of a command, as data."""
    return flags, options


@dataclass(frozen=True)
class Command:
    """A row of :data:`COMMANDS`: what runs, its help line, its arguments."""

    run: Callable[[argparse.Namespace, Console], int]
    help: str
    arguments: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = field(default=())
    #: False for a command that builds its own settings (the sandbox): GATEWAY_* variables are then not read
    reads_environment: bool = True
    #: GATEWAY_ENVIRONMENT when the variable is not set (the long-running processes: production)
    default_environment: str = "development"


#: Help lines of the command groups (``gateway organ …``).
GROUPS = {"audit": "log de auditoria", "organ": "órgãos remetentes", "credential": "credenciais",
          "mni": "hub MNI", "pki": "CA de sandbox: certificados de servidor e de cliente"}

#: Every command: "name" or "group name" → its row.
COMMANDS: dict[str, Command] = {
    "serve": Command(cmd_serve, "servidor de produção (configuração por variáveis GATEWAY_*)",
                     (arg("--host"), arg("--port", type=int)), default_environment="production"),
    "relay": Command(cmd_relay, "apenas o entregador (outbox → TSE/CNJ)", default_environment="production"),
    "replay": Command(cmd_replay, "recoloca entregas mortas (dead letters) na fila", (
        arg("--all", action="store_true", help="todas"),
        arg("--destination", help="só deste destino (TSE, CNJ)"),
        arg("--message-id", help="só desta mensagem"))),
    "sandbox": Command(cmd_sandbox, "sandbox em SQLite com órgãos, credenciais e exemplos", (
        arg("--port", type=int, default=8080), arg("--host", default="127.0.0.1"),
        arg("--info", default="sandbox-info.json"), arg("--data-dir", default="sandbox-data")),
        reads_environment=False),
    "migrate": Command(cmd_migrate, "aplica as migrações do banco de dados", (arg("--revision", default="head"),)),
    "validate": Command(cmd_validate, "valida um arquivo de requisição INFODIP sem enviá-lo", (arg("file"),)),
    "audit verify": Command(cmd_audit_verify, "verifica a cadeia de hashes e as assinaturas dos checkpoints", (
        arg("--public-key", help="chave pública Ed25519 (PEM); padrão: a da chave de assinatura"),)),
    "organ add": Command(cmd_organ_add, "cadastra um órgão", (
        arg("--code", required=True), arg("--name", required=True),
        arg("--type", required=True, choices=[t.value for t in OrganType]),
        arg("--kinds", help="tipos permitidos, separados por vírgula (substitui o padrão do tipo)"),
        arg("--cns", help="CNS do cartório"))),
    "credential set": Command(cmd_credential_set, "cria uma credencial ou troca sua senha", (
        arg("--username", required=True), arg("--organ", required=True), arg("--password"))),
    "mni credential": Command(cmd_mni_credential,
                              "credencial de um cliente do hub junto a uma instalação de tribunal", (
        arg("--organ", required=True, help="órgão cliente (tipo mni_cliente), p.ex. PGFN"),
        arg("--tribunal", required=True, help="J.TR, p.ex. 8.19"),
        arg("--instance", required=True, help="instalação (grau), p.ex. 1"),
        arg("--username", required=True),
        arg("--password", help="se omitida, é pedida no terminal"))),
    # issue 10C: client certificates (gateway/client_certs.py) and the sandbox CA (gateway/pki.py)
    "organ certificate": Command(client_certs.cmd_organ_certificate,
                                 "certificados de cliente que autenticam um órgão sem senha (atrás do proxy TLS)", (
        arg("action", choices=["add", "remove", "list"], help="cadastrar, remover ou listar"),
        arg("organ", nargs="?", help="código do órgão, p.ex. PGFN (list: opcional)"),
        arg("certificate", nargs="?", help="certificado PEM (remove: ou a impressão SHA-256)"))),
    "pki init": Command(pki.cmd_pki_init, "cria uma CA de sandbox, o certificado do servidor e os de clientes", (
        arg("--dir", required=True, help="diretório (criado 0700; arquivos 0600)"),
        arg("--host", action="append", help="nome ou IP a mais no certificado do servidor (repetível)"),
        arg("--client", action="append", help="emite um certificado de cliente com este nome (repetível)"),
        arg("--days", type=int, default=825, help="validade em dias (padrão 825)"))),
    "pki client": Command(pki.cmd_pki_client, "emite mais um certificado de cliente da CA de sandbox", (
        arg("--dir", required=True, help="diretório da CA (gateway pki init)"),
        arg("name", help="nome do cliente (CN)"),
        arg("--days", type=int, default=825, help="validade em dias (padrão 825)"))),
}


def parser() -> argparse.ArgumentParser:
    """The command-line grammar, built from :data:`COMMANDS`."""
    p = argparse.ArgumentParser(prog="gateway", description="Gateway de interoperabilidade do Judiciário")
    sub = p.add_subparsers(dest="command", required=True)
    groups: dict[str, Any] = {}
    for name, command in COMMANDS.items():
        group, _, leaf = name.partition(" ")
        if leaf:
            if group not in groups:
                groups[group] = sub.add_parser(group, help=GROUPS[group]).add_subparsers(
                    dest=f"{group}_command", required=True)
            s = groups[group].add_parser(leaf, help=command.help)
        else:
            s = sub.add_parser(name, help=command.help)
        for flags, options in command.arguments:
            s.add_argument(*flags, **options)
        s.set_defaults(command=name)
    return p


def fail(exc: GatewayError) -> int:
    """Print *exc* as one line ``CODE: mensagem`` on stderr; the exit status (2 for an operator's error, else 1)."""
    print(f"{exc.code}: {' '.join(exc.message.split())}", file=sys.stderr)
    return 2 if isinstance(exc, OperatorError) else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gateway`` console script."""
    os.umask(0o077)  # every file and directory the gateway creates is its user's alone (issue 8, point 6)
    args = parser().parse_args(argv)
    command = COMMANDS[args.command]
    logs.configure("INFO", "text")
    try:
        settings = (Settings.from_env(defaults={"environment": command.default_environment})
                    if command.reads_environment else Settings())
        logs.configure(settings.log_level, settings.log_format if command.reads_environment else "text")
        with console(settings) as con:
            return command.run(args, con)
    except GatewayError as exc:
        return fail(exc)


if __name__ == "__main__":
    sys.exit(main())
