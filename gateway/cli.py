"""The ``gateway`` command: serve, relay, sandbox, migrate, validate a file, import history, verify the audit log,
replay dead letters, manage organs and credentials.

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
import os
import re
import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from gateway import admin_cli, client_certs, logs, pki
from gateway.bootstrap import Console, console, create_app, create_ops_app
from gateway.errors import GatewayError, OperatorError
from gateway.organs import OrganType
from gateway.settings import SECRET_FIELDS, Settings, SettingsError, redact_url


def cmd_serve(args: argparse.Namespace, con: Console) -> int:
    """Production server (settings from GATEWAY_* variables): the public listener and, with GATEWAY_OPS_LISTEN,
    the operations one (:mod:`gateway.server`: header/body/idle timeouts and connection caps)."""
    from gateway import server

    settings = con.settings
    con.database()
    limits = server.ServerLimits.of(settings)
    ops_address = settings.ops_address
    server.ensure_descriptors(limits.max_connections + limits.healthz_reserve
                              + (limits.ops().max_connections if ops_address else 0) + 256)
    sock = server.bind(args.host or settings.host, args.port if args.port is not None else settings.port)
    ops_sock = server.bind(*ops_address, what="GATEWAY_OPS_LISTEN") if ops_address else None
    con.check_keys()  # a key that cannot read the stored MNI credentials: one line GATEWAY-E060, before serving
    app = create_app(settings)
    gw = app.state.gateway
    server.run(server.serve_async(
        app, limits, sock, ops_app=create_ops_app(app) if ops_sock else None, ops_sock=ops_sock,
        trusted=gw.forwarding.is_trusted, on_event=lambda reason: gw.metrics.connection_events.labels(reason).inc(),
        log_level=settings.log_level.lower()), switch_interval_ms=settings.gil_switch_interval_ms)
    return 0


def cmd_relay(_args: argparse.Namespace, con: Console) -> int:
    """The delivery worker alone (no HTTP server), until SIGINT or SIGTERM: the INFODIP relay with the change feed's
    webhook pusher and the TSE outcome poller (when TSE/CNJ are configured) — exactly what ``gateway serve`` starts
    with its relay — and the execuções fiscais' sender and status callbacks (when the MNI hub is), each stopped
    within its bound (execuções 10 s, then the relay and its side tasks 30 s, then the connections closed)."""
    gw = con.gateway(relay=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        gw.start_execucoes()  # issue 12 point 3 (h12c): filings are delivered wherever the relay runs
        gw.start_relay()  # the relay, the feed's webhooks and the TSE outcomes: a split deployment loses none
        try:
            await stop.wait()
        finally:
            # the sender first (it sends through the hub, which stop_relay closes); the relay has returned already
            await gw.stop_execucoes()
            await gw.stop_relay()

    asyncio.run(main())
    return 0


def cmd_replay(args: argparse.Namespace, con: Console) -> int:
    """Put dead letters back in the queue."""
    if not (args.all or args.destination or args.message_id):
        raise OperatorError("informe --all, --destination ou --message-id", field="replay")
    done = con.gateway().delivery.replay_sync(destination=args.destination, message_id=args.message_id,
                                               actor=f"cli:{admin_cli.actor(args).name}")
    for r in done:
        print(f"reprocessada: {r.message_id} → {r.destination}")
    print(f"{len(done)} entrega(s) recolocada(s) na fila")
    return 0


def cmd_feed_list(_args: argparse.Namespace, con: Console) -> int:
    """Every webhook subscription of the change feed, one line each."""
    webhooks = con.gateway().webhooks
    assert webhooks is not None
    subs = webhooks.list()
    for s in subs:
        print(f"{s.id}  {s.organ_code:<6} {s.destination:<4} {s.state:<8} posição {s.position:<8} "
              f"tentativas {s.attempts:<3} {s.url}" + (f"  ({s.paused_reason})" if s.paused_reason else ""))
    print(f"{len(subs)} assinatura(s)")
    return 0


def cmd_feed_pause(args: argparse.Namespace, con: Console) -> int:
    """Pause a webhook subscription (its position stays)."""
    webhooks = con.gateway().webhooks
    assert webhooks is not None
    s = webhooks.pause_sync(args.id, actor=f"cli:{admin_cli.actor(args).name}")
    print(f"assinatura {s.id}: {s.state} (posição {s.position})")
    return 0


def cmd_feed_resume(args: argparse.Namespace, con: Console) -> int:
    """Resume a paused webhook subscription from its position (attempts reset)."""
    webhooks = con.gateway().webhooks
    assert webhooks is not None
    s = webhooks.resume_sync(args.id, actor=f"cli:{admin_cli.actor(args).name}")
    print(f"assinatura {s.id}: {s.state} (posição {s.position})")
    return 0


def cmd_sandbox(args: argparse.Namespace, _con: Console) -> int:
    """One-command sandbox on SQLite; it reads the GATEWAY_* settings that make sense for it itself
    (:mod:`gateway.sandbox`)."""
    from gateway import sandbox

    return sandbox.run(port=args.port, info_path=Path(args.info), data_dir=Path(args.data_dir), host=args.host,
                       start_timeout=args.start_timeout, config_file=args.config_file)


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


def cmd_obitos_gerar(args: argparse.Namespace, con: Console) -> int:
    """Write a synthetic monthly death batch of ``--registros`` records (valid CPF, matrícula, título) as the REST
    JSON body or the SOAP request, streamed to ``--saida`` (constant memory, any size). Touches no database."""
    from gateway.obitos import synthetic
    from gateway.obitos.domain import competencia_of

    if competencia_of(args.competencia) is None:
        raise OperatorError(f"competência inválida: {args.competencia!r} (AAAA-MM)", field="competencia")
    cns = [c.strip() for c in args.cns.split(",") if c.strip()]
    if not cns or any(not (len(c) == 6 and c.isdigit()) for c in cns):
        raise OperatorError(f"CNS inválido em {args.cns!r} (6 dígitos, separados por vírgula)", field="cns")
    if args.registros < 0:
        raise OperatorError("--registros deve ser 0 ou mais", field="registros")
    lote = args.lote or f"LOTE-{args.competencia}-{args.registros}"
    recs = synthetic.records(args.registros, cns, args.competencia, args.semente)
    try:
        with open(args.saida, "w", encoding="utf-8") as out:
            if args.formato == "json":
                n = synthetic.write_json(out, lote, args.competencia, recs)
            else:
                n = synthetic.write_soap(out, lote, args.competencia, recs, args.usuario, args.senha)
    except OSError as exc:
        raise OperatorError(f"não foi possível escrever {args.saida} ({exc.strerror})", field="saida") from None
    print(f"{args.saida}: lote {lote}, competência {args.competencia}, {n} registros ({args.formato})")
    return 0


def cmd_obitos_cartorio(args: argparse.Namespace, con: Console) -> int:
    """Configure a cartório (by CNS) under a CRC: the CRC may then send its deaths."""
    made = con.admin.link_crc_cartorio(args.crc, args.cns, args.nome)
    print(f"cartório {args.cns} {'configurado' if made else 'já estava configurado'} sob {args.crc}")
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


def cmd_config_show(_args: argparse.Namespace, con: Console) -> int:
    """Print the effective configuration: one ``GATEWAY_NAME=value  # origem`` line per setting, secrets ``***``,
    each value's source (``padrão``, ``arquivo PATH``, ``ambiente``, ``fixado``). Touches no database."""
    print("# configuração efetiva (segredos mascarados); origem: padrão | arquivo | ambiente")
    for line in con.settings.show():
        print(line)
    return 0


def cmd_import(args: argparse.Namespace, con: Console) -> int:
    """Import a history file (CSV or XML, docs/importacao.md) as one batch of ``--origem``: each refused record is
    one stdout line ``linha N (id X): CODE mensagem (campo: …)``; progress on stderr every few seconds; the summary
    last. Exit 1 when some record was refused, 0 otherwise (already imported records are not refusals)."""
    from gateway.history.domain import Refusal
    from gateway.history.service import BatchReport

    def refused(r: Refusal) -> None:
        err = r.error
        code = getattr(err, "code", "GATEWAY-E111")
        where = getattr(err, "field", None)
        print(f"linha {r.line} (id {r.origin_id or '?'}): {code} {getattr(err, 'message', err)}"
              + (f" (campo: {where})" if where else ""), flush=True)

    def progress(report: BatchReport) -> None:
        print(f"progresso: {report.lines} registro(s) lido(s), {report.accepted} importado(s), {report.skipped} já "
              f"importado(s), {report.refused} recusado(s)", file=sys.stderr, flush=True)

    report = con.history.import_file(Path(args.file), args.origem, args.formato, admin_cli.actor(args).name,
                                     on_refusal=refused, on_progress=progress)
    print(report.summary())
    return 1 if report.refused else 0


def cmd_generate(args: argparse.Namespace, con: Console) -> int:
    """Write ``--scale`` generated communications straight into the store (gateway/datagen.py), migrating first;
    progress on stderr."""
    from datetime import date

    from gateway import datagen

    try:
        since = date.fromisoformat(args.desde)
    except ValueError:
        raise OperatorError(f"--desde inválida: {args.desde!r} (use AAAA-MM-DD)", field="desde") from None
    if args.scale < 1:
        raise OperatorError("--scale deve ser ao menos 1", field="scale")
    con.migrate()

    def progress(r: datagen.GenerationReport) -> None:
        if r.communications % 50_000 < datagen.BATCH or r.communications == args.scale:
            print(f"progresso: {r.communications}/{args.scale} comunicações ({r.seconds:.0f} s)", file=sys.stderr,
                  flush=True)

    report = datagen.generate(con.writer, con.clock, args.scale, seed=args.seed, since=since,
                              timezone=con.settings.timezone, deliveries=not args.sem_entregas, progress=progress)
    print(f"{report.communications} comunicações, {report.versions} versões, {report.deliveries} entregas, "
          f"{report.persons} pessoas em {report.seconds:.1f} s")
    return 0


def arg(*flags: str, **options: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    """One ``add_argument`` call of a command, as data (every option has a ``help``: a test checks)."""
    return flags, options


@dataclass(frozen=True)
class Command:
    """A row of :data:`COMMANDS`: what runs, its help line, its arguments."""

    run: Callable[[argparse.Namespace, Console], int]
    help: str
    arguments: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = field(default=())
    #: False for a command that builds its own settings (the sandbox): the CLI then reads no settings for it
    reads_environment: bool = True
    #: GATEWAY_ENVIRONMENT when the variable is not set (the long-running processes: production)
    default_environment: str = "development"
    #: True for the commands that may create a new SQLite database (serve, relay, migrate); the others refuse a
    #: missing file (GATEWAY-E050) instead of answering from an empty database
    creates_database: bool = False


#: ``--operador``: who the audit log records for an administrative command (default: the OS user).
OPERADOR = arg("--operador", help="nome do operador registrado na auditoria (padrão: o usuário do sistema)")

#: Help lines of the command groups (``gateway organ …``).
GROUPS = {"audit": "log de auditoria", "organ": "órgãos remetentes", "credential": "credenciais",
          "mni": "hub MNI", "keys": "chaves das credenciais MNI", "config": "configuração",
          "pki": "CA de sandbox: certificados de servidor e de cliente",
          "feed": "webhooks do feed de alterações (Res. Conjunta 6/2020 art. 12)",
          "obitos": "lotes de óbitos do registro civil",
          "user": "pessoas do formulário web e do console (issue 16)"}

PORT_HELP = "porta TCP (0: uma livre)"

#: Every command: "name" or "group name" → its row.
COMMANDS: dict[str, Command] = {
    "serve": Command(cmd_serve, "servidor de produção (configuração por variáveis GATEWAY_*)", (
        arg("--host", help="endereço de escuta (padrão: GATEWAY_HOST)"),
        arg("--port", type=int, help="porta de escuta (padrão: GATEWAY_PORT)")),
        default_environment="production", creates_database=True),
    "relay": Command(cmd_relay, "apenas o entregador (outbox → TSE/CNJ; execuções fiscais → TRFs)",
                     default_environment="production", creates_database=True),
    "replay": Command(cmd_replay, "recoloca entregas mortas (dead letters) na fila", (
        arg("--all", action="store_true", help="todas"),
        arg("--destination", help="só deste destino (TSE, CNJ)"),
        arg("--message-id", help="só desta mensagem"))),
    "sandbox": Command(cmd_sandbox, "sandbox em SQLite com órgãos, credenciais, exemplos e simuladores", (
        arg("--port", type=int, default=8080, help="porta do gateway (0: uma livre; simuladores nas seguintes)"),
        arg("--host", default="127.0.0.1", help="endereço de escuta do gateway e dos simuladores"),
        arg("--info", default="sandbox-info.json", help="arquivo de informações escrito quando tudo responde"),
        arg("--data-dir", default="sandbox-data", help="diretório dos dados (banco, chaves, exemplos, "
            "gateway.toml para a CLI)"),
        arg("--start-timeout", type=float, default=180.0, help="segundos, no máximo, para cada simulador iniciar "
            "(desiste antes se o simulador parar de progredir por 60 s)")),
        reads_environment=False),
    "feed list": Command(cmd_feed_list, "lista os webhooks do feed de alterações, sua situação e posição"),
    "feed pause": Command(cmd_feed_pause, "pausa um webhook do feed (a posição fica)", (
        arg("id", help="id da assinatura (gateway feed list)"), OPERADOR)),
    "feed resume": Command(cmd_feed_resume, "retoma um webhook pausado, da posição em que parou", (
        arg("id", help="id da assinatura (gateway feed list)"), OPERADOR)),
    "migrate": Command(cmd_migrate, "aplica as migrações do banco de dados", (
        arg("--revision", default="head", help="revisão alvo (padrão: a mais recente)"),), creates_database=True),
    "validate": Command(cmd_validate, "valida um arquivo de requisição INFODIP sem enviá-lo", (
        arg("file", help="envelope SOAP ou elemento da operação"),)),
    "import": Command(cmd_import, "importa o histórico de comunicações de um sistema anterior (CSV ou XML, "
                      "docs/importacao.md); importadas nunca são entregues", (
        arg("file", help="arquivo CSV (;) ou XML do leiaute de importação"),
        arg("--origem", required=True, help="sistema de origem (1 a 16 letras, dígitos, _ . -); o id de cada "
            "registro é único nele"),
        arg("--formato", choices=["csv", "xml"], help="leiaute do arquivo (padrão: pela extensão)"), OPERADOR)),
    "gerar-dados": Command(cmd_generate, "gera N comunicações sintéticas direto no banco, para benchmarks "
                           "(não passa pela recepção; docs/importacao.md)", (
        arg("--scale", type=int, default=10_000, help="quantas comunicações (padrão 10000; o bench usa 1000000)"),
        arg("--seed", type=int, default=14, help="semente do gerador (mesma semente, mesmos dados)"),
        arg("--desde", default="2020-09-01", help="primeira data dos fatos (AAAA-MM-DD)"),
        arg("--sem-entregas", action="store_true", help="não grava as entregas (outbox entregue a TSE/CNJ)")),
        creates_database=True),
    "audit verify": Command(cmd_audit_verify, "verifica a cadeia de hashes e as assinaturas dos checkpoints", (
        arg("--public-key", help="chave pública Ed25519 (PEM); padrão: a da chave de assinatura"),)),
    "obitos gerar": Command(cmd_obitos_gerar, "gera um lote mensal sintético de óbitos (JSON ou SOAP) de qualquer "
                            "tamanho, com CPF, matrícula e título válidos", (
        arg("--registros", type=int, required=True, help="quantos registros"),
        arg("--competencia", required=True, help="mês dos óbitos, AAAA-MM"),
        arg("--saida", required=True, help="arquivo a escrever"),
        arg("--formato", choices=["json", "soap"], default="json", help="corpo REST (json) ou requisição SOAP"),
        arg("--cns", default="097543,123456", help="CNS dos cartórios, separados por vírgula"),
        arg("--lote", help="idLote (padrão: LOTE-<competência>-<registros>)"),
        arg("--semente", type=int, default=13, help="semente dos dados sintéticos (mesma semente, mesmo lote)"),
        arg("--usuario", default="crc-nacional", help="usuário do UsernameToken (SOAP)"),
        arg("--senha", default="SENHA-DO-SANDBOX", help="senha do UsernameToken (SOAP)"))),
    "obitos cartorio": Command(cmd_obitos_cartorio, "configura um cartório (CNS) sob uma CRC", (
        arg("crc", help="código da CRC, p.ex. CRC"), arg("cns", help="CNS do cartório (6 dígitos)"),
        arg("--nome", help="nome do cartório"))),
    "organ add": Command(admin_cli.cmd_organ_add, "cadastra um órgão", (
        arg("--code", required=True, help="código do órgão, p.ex. TJMG"),
        arg("--name", required=True, help="nome por extenso"),
        arg("--type", required=True, choices=[t.value for t in OrganType], help="tipo do órgão"),
        arg("--kinds", help="tipos permitidos, separados por vírgula (substitui o padrão do tipo)"),
        arg("--cns", help="CNS do cartório"), OPERADOR)),
    "organ list": Command(admin_cli.cmd_organ_list, "lista os órgãos, sua situação, credenciais e permissões"),
    "organ disable": Command(admin_cli.cmd_organ_disable,
                             "desativa um órgão: suas credenciais e tokens deixam de valer", (
        arg("code", help="código do órgão, p.ex. TJRJ"), OPERADOR)),
    "organ enable": Command(admin_cli.cmd_organ_enable, "reativa um órgão desativado", (
        arg("code", help="código do órgão"), OPERADOR)),
    "organ grant": Command(admin_cli.cmd_organ_grant, "concede escopos da API REST a um órgão", (
        arg("organ", help="código do órgão"), arg("scopes", nargs="+", metavar="SCOPE", help=admin_cli.scopes_help()),
        OPERADOR)),
    "organ revoke": Command(admin_cli.cmd_organ_revoke, "revoga escopos de um órgão (inclusive dos tokens emitidos)", (
        arg("organ", help="código do órgão"), arg("scopes", nargs="+", metavar="SCOPE", help=admin_cli.scopes_help()),
        OPERADOR)),
    "credential create": Command(admin_cli.cmd_credential_create, "cria uma credencial (senha gerada, se omitida)", (
        arg("--username", required=True, help="usuário (WS-Security, MNI, OAuth2 client_id)"),
        arg("--organ", required=True, help="código do órgão dono da credencial"),
        arg("--password", help="senha (política: README); omitida, é gerada e impressa uma vez"), OPERADOR)),
    "credential rotate": Command(admin_cli.cmd_credential_rotate, "troca a senha de uma credencial (a anterior deixa "
                                 "de valer)", (
        arg("--username", required=True, help="usuário da credencial"),
        arg("--password", help="senha nova; omitida, é gerada e impressa uma vez"), OPERADOR)),
    "credential revoke": Command(admin_cli.cmd_credential_revoke, "revoga uma credencial (senha e tokens)", (
        arg("--username", required=True, help="usuário da credencial"), OPERADOR)),
    "credential list": Command(admin_cli.cmd_credential_list, "lista as credenciais (sem senhas)", (
        arg("--organ", help="só as deste órgão"),)),
    "credential set": Command(admin_cli.cmd_credential_set, "cria uma credencial ou troca sua senha", (
        arg("--username", required=True, help="usuário (WS-Security, MNI, OAuth2 client_id)"),
        arg("--organ", required=True, help="código do órgão dono da credencial"),
        arg("--password", help="senha; omitida, é gerada e impressa uma vez"),
        arg("--mover", action="store_true", help="transfere a credencial de outro órgão para --organ"), OPERADOR)),
    "mni credential": Command(admin_cli.cmd_mni_credential,
                              "credencial de um cliente do hub junto a uma instalação de tribunal", (
        arg("--organ", required=True, help="órgão cliente (tipo mni_cliente), p.ex. PGFN"),
        arg("--tribunal", required=True, help="J.TR, p.ex. 8.19"),
        arg("--instance", required=True, help="instalação (grau), p.ex. 1"),
        arg("--username", required=True, help="usuário no tribunal"),
        arg("--password", help="se omitida, é pedida no terminal"), OPERADOR)),
    "keys rotate": Command(admin_cli.cmd_keys_rotate, "recifra as credenciais MNI com a chave atual "
                           "(as anteriores em GATEWAY_MNI_CREDENTIALS_PREVIOUS_KEYS)", (OPERADOR,)),
    "keys generate": Command(admin_cli.cmd_keys_generate, "imprime uma chave Fernet nova"),
    "config show": Command(cmd_config_show, "mostra a configuração efetiva, com a origem de cada valor e os "
                           "segredos mascarados"),
    # issue 16 (h16): people of the web form (/web/) and the operators' console (/console/)
    "user create": Command(admin_cli.cmd_user_create, "cadastra uma pessoa (remetente do formulário web ou operador "
                           "do console); senha gerada e impressa uma vez, se omitida", (
        arg("--cpf", required=True, help="CPF da pessoa (é o seu login)"),
        arg("--nome", required=True, help="nome completo"),
        arg("--email", required=True, help="e-mail"),
        arg("--orgao", required=True, help="código do órgão pelo qual age, p.ex. TJRJ-1VFP"),
        arg("--papel", required=True, choices=["remetente", "operador"], help="remetente (formulário) ou operador "
            "(console)"),
        arg("--administrador", action="store_true", help="administra as pessoas do seu órgão"),
        arg("--password", help="senha (política: README); omitida, é gerada e impressa uma vez"), OPERADOR)),
    "user disable": Command(admin_cli.cmd_user_disable, "desativa uma pessoa (suas sessões terminam)", (
        arg("cpf", help="CPF da pessoa"), OPERADOR)),
    "user enable": Command(admin_cli.cmd_user_enable, "reativa uma pessoa desativada", (
        arg("cpf", help="CPF da pessoa"), OPERADOR)),
    "user reset": Command(admin_cli.cmd_user_reset, "troca a senha de uma pessoa (suas sessões terminam)", (
        arg("cpf", help="CPF da pessoa"),
        arg("--password", help="senha nova; omitida, é gerada e impressa uma vez"), OPERADOR)),
    "user list": Command(admin_cli.cmd_user_list, "lista as pessoas (sem senhas)", (
        arg("--orgao", help="só as deste órgão"),)),
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

# ---------------------------------------------------------------------------------------------- grammar

#: argparse's English messages, in Portuguese (the start of each).
_ARGPARSE_PT = (("the following arguments are required", "argumentos obrigatórios ausentes"),
                ("unrecognized arguments", "argumentos não reconhecidos"),
                ("invalid choice", "escolha inválida"), ("expected one argument", "falta o valor da opção"),
                ("invalid int value", "número inteiro inválido"), ("invalid float value", "número inválido"),
                ("argument ", "argumento "), ("choose from", "escolha entre"), ("not allowed with", "não combina com"))


class Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one line ``GATEWAY-E002: …`` (exit 2), in Portuguese where it can."""

    def error(self, message: str) -> NoReturn:
        """Print one line and exit 2."""
        for english, portuguese in _ARGPARSE_PT:
            message = message.replace(english, portuguese)
        print(f"GATEWAY-E002: {message} (veja {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def parser() -> argparse.ArgumentParser:
    """The command-line grammar, built from :data:`COMMANDS`; ``--config FILE`` before or after the command."""
    common = Parser(add_help=False)
    common.add_argument("--config", metavar="ARQUIVO", default=argparse.SUPPRESS,
                        help="arquivo de configuração (TOML ou .env) lido antes das variáveis GATEWAY_* (que "
                             "prevalecem); padrão: GATEWAY_CONFIG_FILE")
    p = Parser(prog="gateway", description="Gateway de interoperabilidade do Judiciário", parents=[common])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMANDO", parser_class=Parser)
    groups: dict[str, Any] = {}
    for name, command in COMMANDS.items():
        group, _, leaf = name.partition(" ")
        if leaf:
            if group not in groups:
                groups[group] = sub.add_parser(group, help=GROUPS[group], description=GROUPS[group]).add_subparsers(
                    dest=f"{group}_command", required=True, metavar="SUBCOMANDO", parser_class=Parser)
            s = groups[group].add_parser(leaf, help=command.help, description=command.help, parents=[common])
        else:
            s = sub.add_parser(name, help=command.help, description=command.help, parents=[common])
        for flags, options in command.arguments:
            s.add_argument(*flags, **options)
        s.set_defaults(command=name)
    return p


# ---------------------------------------------------------------------------------------------- errors

def fail(exc: GatewayError) -> int:
    """Print *exc* on stderr, one line ``CODE: mensagem`` per problem (a SettingsError lists each); the exit status
    (2 for an operator's error, else 1)."""
    for problem in exc.problems if isinstance(exc, SettingsError) else (exc.message,):
        print(f"{exc.code}: {' '.join(problem.split())}", file=sys.stderr)
    return 2 if isinstance(exc, OperatorError) else 1


def translate(exc: BaseException, settings: Settings | None) -> GatewayError:
    """What the CLI says about an error that is not of the gateway's tree: the database's (unreachable, not
    migrated), the system's, an interruption, and anything else as an internal error — one line each, the
    database's password and every secret of *settings* masked."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    where = _database(settings)
    if isinstance(exc, DBAPIError):
        first = _first_line(str(exc.orig) if exc.orig is not None else str(exc))
        if _MISSING_TABLE.search(first):
            return OperatorError(f"o banco de dados {where} não tem as tabelas do gateway ({first}): rode "
                                 "gateway migrate ou aponte para o banco certo (GATEWAY_DATABASE_URL, "
                                 "GATEWAY_CONFIG_FILE)", code="GATEWAY-E051")
        return OperatorError(f"banco de dados inacessível: {where} ({first})", code="GATEWAY-E050")
    if isinstance(exc, SQLAlchemyError):
        return OperatorError(f"banco de dados {where}: {_first_line(str(exc))}", code="GATEWAY-E050")
    if isinstance(exc, KeyboardInterrupt):
        return OperatorError("interrompido (Ctrl+C)", code="GATEWAY-E053")
    if isinstance(exc, OSError):
        return OperatorError(f"erro do sistema: {exc.strerror or exc}" + (f": {exc.filename}" if exc.filename
                                                                            else ""), code="GATEWAY-E052")
    return GatewayError("GATEWAY-E059", f"erro interno inesperado ({type(exc).__name__}: {_first_line(str(exc))}); "
                        "GATEWAY_LOG_LEVEL=DEBUG mostra os detalhes")


_MISSING_TABLE = re.compile(r"no such table|relation .* does not exist|UndefinedTable", re.IGNORECASE)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _database(settings: Settings | None) -> str:
    return redact_url(settings.database_url) if settings is not None else "(configuração não lida)"


def _scrub(exc: GatewayError, settings: Settings | None) -> GatewayError:
    """*exc* with every secret of *settings* (and the database's password) masked in its message."""
    if settings is None:
        return exc
    message = exc.message
    for name in SECRET_FIELDS:
        value = getattr(settings, name, "")
        if value and len(value) >= 4:
            message = message.replace(value, "***")
    url = settings.database_url
    message = message.replace(url, redact_url(url)) if url else message
    if message == exc.message:
        return exc
    exc.message = message
    return exc


def _say(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gateway`` console script: every error ends in one line per problem on stderr
    (``GATEWAY-E…: mensagem``) and a non-zero status — 2 for an operator's error, 1 for ours, 130 for Ctrl+C —
    never in a traceback (shown only with ``GATEWAY_LOG_LEVEL=DEBUG`` for an unexpected error)."""
    os.umask(0o077)  # every file and directory the gateway creates is its user's alone (issue 8, point 6)
    args = parser().parse_args(argv)
    command = COMMANDS[args.command]
    logs.configure("INFO", "text")
    settings: Settings | None = None
    try:
        if command.reads_environment:
            settings = Settings.from_env(defaults={"environment": command.default_environment},
                                         config_file=getattr(args, "config", None))
        else:
            args.config_file = getattr(args, "config", None)
            settings = Settings()
        logs.configure(settings.log_level, settings.log_format if command.reads_environment else "text")
        with console(settings, announce=_say if command.reads_environment else None,
                     create_database=command.creates_database) as con:
            return command.run(args, con)
    except GatewayError as exc:
        return fail(_scrub(exc, settings))
    except (Exception, KeyboardInterrupt) as exc:
        if settings is not None and settings.log_level.upper() == "DEBUG":
            traceback.print_exc()
        status = fail(_scrub(translate(exc, settings), settings))
        return 130 if isinstance(exc, KeyboardInterrupt) else status


if __name__ == "__main__":
    sys.exit(main())
