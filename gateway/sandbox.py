"""``gateway sandbox``: the gateway on SQLite with demo organs, credentials and samples, in one command.

It deletes a stale info file at start, once its port is bound (a second start on a busy port fails first and leaves
the running sandbox's file alone), and writes the new one atomically once every server answers (DESIGN.md).
Passwords are generated once per data directory and kept there, so a restarted sandbox keeps its credentials.
Everything it writes holds secrets or personal data: the data directory and its subdirectories are 0700, every
file in them (samples, credentials, keys, the database and its WAL/SHM, the hub's registry) and the info file 0600.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from gateway import server
from gateway.admin import Actor, AdminService
from gateway.audit import create_signing_key
from gateway.bootstrap import console, create_app
from gateway.clock import SystemClock
from gateway.demo_grants import seed_sandbox
from gateway.hub.demo import configure, describe
from gateway.identifiers import cpf_check_digits
from gateway.infodip.domain import Kind
from gateway.infodip.samples import REFERENCE_XPATH, SAMPLE_USERNAME, render_sample
from gateway.infodip.webhooks import sandbox_subscription
from gateway.obitos import synthetic
from gateway.organs import OrganType
from gateway.settings import Settings
from gateway.simulators import START_TIMEOUT_S, MockProcess, SimulatorError, start_mock
from gateway.web.people import People


@dataclass(frozen=True)
class DemoOrgan:
    """An organ of the sandbox and its one credential."""

    code: str
    name: str
    organ_type: OrganType
    username: str
    cns: str | None = None


DEMO_ORGANS = (
    DemoOrgan("TJRJ", "Tribunal de Justiça do Estado do Rio de Janeiro", OrganType.TRIBUNAL, "tjrj-sistema"),
    DemoOrgan("TJRJ-1VFP", "1ª Vara de Fazenda Pública da Comarca da Capital (TJRJ)", OrganType.ORGAO_JULGADOR,
              "tjrj-1vfp"),
    DemoOrgan("TJRJ-VEP", "Vara de Execuções Penais (TJRJ)", OrganType.ORGAO_JULGADOR, "tjrj-vep"),
    DemoOrgan("TJRJ-PRES", "Presidência do Tribunal de Justiça do Estado do Rio de Janeiro", OrganType.PRESIDENCIA,
              "tjrj-presidencia"),
    DemoOrgan("RCPN-097543", "Cartório do 1º Ofício de Registro Civil das Pessoas Naturais (Capital/RJ)",
              OrganType.CARTORIO, "rcpn-rj-capital-01", cns="097543"),
    DemoOrgan("CRC", "Central de Informações do Registro Civil", OrganType.CRC, "crc-nacional"),
    DemoOrgan("PGFN", "Procuradoria-Geral da Fazenda Nacional", OrganType.MNI_CLIENTE, "pgfn-mni"),
    DemoOrgan("PGF", "Procuradoria-Geral Federal", OrganType.MNI_CLIENTE, "pgf-mni"),
    # the national stores as subscribers of the change feed (Res. Conjunta 6/2020 art. 12): REST grants only
    DemoOrgan("TSE", "Tribunal Superior Eleitoral (repositório INFODIP)", OrganType.OPERADOR, "tse-repositorio"),
    DemoOrgan("CNJ", "Conselho Nacional de Justiça (cadastro de improbidade e inelegibilidade)", OrganType.OPERADOR,
              "cnj-cadastro"),
)


#: The cartórios configured under the sandbox's CRC (CNS, name): the demo cartório and a synthetic one that has no
#: credential of its own (it sends only through the CRC).
CRC_CARTORIOS = (("097543", "Cartório do 1º Ofício de Registro Civil das Pessoas Naturais (Capital/RJ)"),
                 ("123456", "Cartório de Registro Civil sintético do sandbox"))


def seed_organs(admin: AdminService, password_of: Callable[[str], str],
                organs: Iterable[DemoOrgan] = DEMO_ORGANS) -> None:
    """Register the *organs* not yet registered and (re)set each one's credential to ``password_of(username)``."""
    registered = admin.organ_codes()
    for o in organs:
        if o.code not in registered:
            admin.add_organ(o.code, o.name, o.organ_type, cns=o.cns)
        admin.set_credential(o.username, o.code, password_of(o.username))
    if any(o.code == "CRC" for o in organs):  # the CRC sends for the demo cartório and a synthetic one
        for cns, name in CRC_CARTORIOS:
            admin.link_crc_cartorio("CRC", cns, name)


def _obitos_samples(samples_dir: Path, today: date, passwords: dict[str, str]) -> dict[str, str]:
    """The sample death batch of last month (10 synthetic records of the CRC's two cartórios), as the SOAP request
    (with the CRC's credential) and the REST body; ``samples.obitos`` of the info file."""
    first = today.replace(day=1)
    prev = first - timedelta(days=1)
    competencia = f"{prev.year:04d}-{prev.month:02d}"
    user = "crc-nacional"
    lote = f"EXEMPLO-{competencia}"
    soap, rest = io.StringIO(), io.StringIO()
    synthetic.write_soap(soap, lote, competencia, synthetic.records(10, [c for c, _ in CRC_CARTORIOS], competencia),
                         user, passwords[user])
    synthetic.write_json(rest, lote, competencia, synthetic.records(10, [c for c, _ in CRC_CARTORIOS], competencia))
    write_private(samples_dir / "obitos.xml", soap.getvalue().encode())
    write_private(samples_dir / "obitos.json", rest.getvalue().encode())
    return {"soap": "samples/obitos.xml", "json": "samples/obitos.json", "username": user,
            "password": passwords[user]}


def _procuradoria_key(data_dir: Path) -> dict[str, str]:
    """The key and self-signed certificate the sandbox's procuradorias sign petitions (and its sample CDAs) with
    (issue 12; real deployments use the procurador's ICP-Brasil certificate): created once in *data_dir*."""
    from gateway.divida.execucao.documents import create_signatario

    key, cert = data_dir / "procuradoria-key.pem", data_dir / "procuradoria-cert.pem"
    if not (key.exists() and cert.exists()):
        create_signatario(str(key), str(cert), "Procuradoria (sandbox do gateway)")
    return {"execucao_chave_path": str(key), "execucao_certificado_path": str(cert)}


def _execucao_sample(samples_dir: Path, fixed: dict[str, Any], passwords: dict[str, str]) -> dict[str, str]:
    """``samples.execucao_fiscal``: a ready JSON request of PGFN (one CDA of a debtor in Belo Horizonte → TRF6, its
    document signed) with a reference to change for each new filing, and the credential to take a token with."""
    from gateway.divida.execucao import samples as execucao_samples
    from gateway.divida.execucao.documents import load_signatario

    signer = load_signatario(fixed["execucao_chave_path"], fixed["execucao_certificado_path"])
    body = execucao_samples.request(signer, "SANDBOX-EXEMPLO-1", n=1, jtr="4.06")
    write_private(samples_dir / "execucao_fiscal.json", json.dumps(body, indent=2, ensure_ascii=False).encode())
    return {"path": "samples/execucao_fiscal.json", "username": "pgfn-mni", "password": passwords["pgfn-mni"],
            "reference_json_pointer": "/referencia"}


def write_private(path: Path, data: bytes) -> None:
    """Write *data* to *path*, created (or set) 0600 before a byte is written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def private_dir(path: Path) -> None:
    """Create *path* (and its parents) if missing and set it 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def make_private(data_dir: Path) -> None:
    """Set every directory under *data_dir* 0700 and every file 0600 (what other modules wrote there too)."""
    for root, dirs, files in os.walk(data_dir):
        os.chmod(root, 0o700)
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o700)
        for name in files:
            os.chmod(os.path.join(root, name), 0o600)


def _load_or_create(path: Path, make: Any) -> Any:
    if path.exists():
        return json.loads(path.read_text())
    value = make()
    write_private(path, json.dumps(value, indent=2).encode())
    return value


#: Settings the sandbox fixes whatever the environment says: its own database, keys and simulators (and the
#: environment itself, its host and port, from its options). Every other GATEWAY_* setting is honoured.
FIXED = ("environment", "database_url", "host", "port", "secret_key", "signing_key_path", "admin_token",
         "mni_registry_path", "mni_credentials_key", "tse_url", "cnj_url", "pgfn_url", "pgfn_token_url",
         "pgfn_client_id", "pgfn_client_secret", "pgf_url", "pgf_api_key", "crash_at",
         "execucao_chave_path", "execucao_certificado_path")
#: The sandbox's own defaults where they differ from production's: recovery shown within seconds, text logs.
SANDBOX_DEFAULTS = {"relay_max_backoff_s": 10.0, "breaker_cooldown_s": 5.0, "log_format": "text",
                    "intimacoes_intervalo_s": 5.0}  # intimations collected within seconds
CONFIG_FILE = "gateway.toml"


#: the UF of the sandbox's organs, for the public statistics (issue 15; GATEWAY_ESTATISTICAS_UF overrides it)
SANDBOX_UFS = {"TJRJ": "RJ", "TJRJ-1VFP": "RJ", "TJRJ-VEP": "RJ", "TJRJ-PRES": "RJ", "RCPN-097543": "RJ", "TJSP": "SP"}


def _certidoes_defaults(data_dir: Path) -> dict[str, Any]:
    """The certificates' signing key and self-signed certificate, made once in *data_dir* (the key 0600), and the
    organs' UFs: the sandbox's defaults for issue 15 (environment variables still win)."""
    from gateway.certidoes.documents import generate

    key, cert = data_dir / "certidoes-chave.pem", data_dir / "certidoes-certificado.pem"
    if not key.exists() or not cert.exists():
        generate().write(key, cert)
    return {"certidoes_chave_path": str(key), "certidoes_certificado_path": str(cert),
            "estatisticas_uf": json.dumps(SANDBOX_UFS)}


def prepare(data_dir: Path, port: int, host: str = "127.0.0.1", kdf_n: int | None = None,
            partners: dict[str, str] | None = None, debts: dict[str, dict[str, Any]] | None = None,
            environ: dict[str, str] | None = None, config_file: str | None = None,
            ) -> tuple[Settings, dict[str, Any]]:
    """Create (or reuse) the sandbox's database, keys, organs, credentials and samples, and the config file that
    points the CLI at them (``DATA_DIR/gateway.toml``, 0600); return settings + info.

    Settings: the ``GATEWAY_*`` variables of *environ* (default: the process's) and *config_file* (default:
    ``GATEWAY_CONFIG_FILE``, unless it is the sandbox's own file) are honoured, except the :data:`FIXED` ones;
    *partners*: simulator name → URL; *debts*: ``{"pgfn": demo, "pgf": demo}``, the debt simulators'
    ``/_mock/demo``. Errors: SettingsError (GATEWAY-E001) for a malformed or unknown setting."""
    private_dir(data_dir)
    data_dir = data_dir.resolve()
    env = dict(os.environ if environ is None else environ)
    own_config = data_dir / CONFIG_FILE
    config_file = config_file if config_file is not None else env.pop("GATEWAY_CONFIG_FILE", None)
    if config_file and Path(config_file).resolve() == own_config:
        config_file = None  # the file this sandbox writes for the CLI, not a configuration of it
    key_path = data_dir / "audit-signing-key.pem"
    if not key_path.exists():
        create_signing_key(str(key_path))
    secrets_ = _load_or_create(data_dir / "secret.json", lambda: {"secret": secrets.token_urlsafe(48),
                                                                   "admin_token": secrets.token_urlsafe(24)})
    admin_token = secrets_.get("admin_token") or secrets.token_urlsafe(24)
    partners = partners or {}
    debts = debts or {}
    passwords: dict[str, str] = _load_or_create(
        data_dir / "credentials.json", lambda: {o.username: secrets.token_urlsafe(12) for o in DEMO_ORGANS})
    fixed: dict[str, Any] = {
        "environment": "sandbox", "database_url": f"sqlite:///{data_dir / 'gateway.db'}", "host": host,
        "port": port, "secret_key": secrets_["secret"], "signing_key_path": str(key_path),
        "admin_token": admin_token, "mni_credentials_key": "", "crash_at": "",
        **_procuradoria_key(data_dir),
        "tse_url": partners.get("tse", ""), "cnj_url": partners.get("cnj", ""),
        "mni_registry_path": str(data_dir / "mni-registry.json") if any(
            k.startswith("tribunal-") for k in partners) else "",
        **_debt_settings(partners, debts),
    }
    defaults = dict(SANDBOX_DEFAULTS)
    defaults.update(_certidoes_defaults(data_dir))
    if kdf_n is not None:
        defaults["password_kdf_n"] = kdf_n
    settings = Settings.from_env(env, defaults=defaults, config_file=config_file or "", **fixed)
    ignored = sorted(f"GATEWAY_{n.upper()}" for n in FIXED if f"GATEWAY_{n.upper()}" in env)
    for o in DEMO_ORGANS:
        passwords.setdefault(o.username, secrets.token_urlsafe(12))
    tribunal_urls = [url for name, url in partners.items() if name.startswith("tribunal-")]
    demos = describe(tribunal_urls) if tribunal_urls else []
    with console(settings) as con:
        con.migrate()
        seed_organs(con.admin, passwords.__getitem__)
        credentials = seed_sandbox(con.admin, passwords, DEMO_ORGANS)  # + the operations organ, grants per organ
        if demos:
            configure(con.admin, demos, Path(settings.mni_registry_path))
        feed = _cnj_consumes_the_feed(con.admin, partners.get("cnj"))
        web_people = seed_web_people(con.people, data_dir / "web-people.json")  # issue 16: demo persons
    write_private(data_dir / "credentials.json", json.dumps(passwords, indent=2).encode())
    write_private(own_config, cli_config(settings, fixed))

    samples_dir = data_dir / "samples"
    private_dir(samples_dir)
    today = SystemClock().now().astimezone(ZoneInfo(settings.timezone)).date()
    samples: dict[str, Any] = {}
    for kind in Kind:
        user = SAMPLE_USERNAME[kind]
        body = render_sample(kind, username=user, password=passwords[user], fact_date=today - timedelta(days=2))
        write_private(samples_dir / f"{kind.value}.xml", body)
        samples[kind.value] = {"path": f"samples/{kind.value}.xml", "username": user, "password": passwords[user],
                               "operation": "enviarComunicacao", "reference_xpath": REFERENCE_XPATH}
    samples_obitos = _obitos_samples(samples_dir, today, passwords)
    samples_execucao = _execucao_sample(samples_dir, fixed, passwords)
    info: dict[str, Any] = {
        "gateway": f"http://{host}:{port}",
        "data_dir": str(data_dir),
        "config_file": str(own_config),
        "credentials": credentials,
        "samples": {"infodip": samples, "obitos": samples_obitos, "execucao_fiscal": samples_execucao},
        "admin_token": admin_token,
        # issue 16: the web form and the console, and who may sign in to them (CPF + password)
        "web": {"form": f"http://{host}:{port}/web/", "console": f"http://{host}:{port}/console/",
                "people": web_people},
        "settings": {"ignored": ignored, "relay": "ativo" if settings.relay_enabled else "desativado"},
    }
    mocks = _describe_mocks(partners, demos, settings)
    if feed is not None:
        mocks["cnj"]["feed"] = feed
    if mocks:
        info["mocks"] = mocks
    demo: dict[str, Any] = {}
    if demos:
        demo["processes"] = {"mni": [p["numeroProcesso"] for d in demos for p in d["processes"]]}
        demo["mni"] = {"wsdl": f"http://{host}:{port}/soap/mni?wsdl",
                       "clients": {"PGFN": "pgfn-mni", "PGF": "pgf-mni"}}
    devedores = _devedores(debts)
    if devedores:
        demo["devedores"] = devedores
    if demo:
        info["demo"] = demo
    make_private(data_dir)  # the registry, keys and database other modules wrote: 0600 as well
    return settings, info


# -- issue 16 (h16): demo persons of the web form and the console ---------------------------------------------------

#: (organ, name, role): one remetente per demo organ that may send a kind, and one operador (the CNJ's)
DEMO_PEOPLE = (("TJRJ", "Helena Prado Tavares", "remetente"), ("TJRJ-1VFP", "Carlos Menezes Rocha", "remetente"),
               ("TJRJ-VEP", "Juliana Freitas Lobo", "remetente"), ("TJRJ-PRES", "Marcos Aurélio Pinto", "remetente"),
               ("RCPN-097543", "Sônia Regina Dutra", "remetente"), ("CRC", "Paulo Henrique Vaz", "remetente"),
               ("CNJ", "Renata Operadora Campos", "operador"))


def demo_cpf(index: int) -> str:
    """A valid, synthetic CPF for the sandbox's *index*-th demo person (check digits computed)."""
    base = f"{900000000 + index * 1111:09d}"
    return base + cpf_check_digits(base)


def seed_web_people(people: People, path: Path) -> list[dict[str, object]]:
    """Create (or reset to their stored password) the demo persons of :data:`DEMO_PEOPLE`, the first remetente an
    administrator of their organ's people; their passwords kept in *path* (0600) across restarts. Returns the info
    file's ``web.people``."""
    stored: dict[str, str] = _load_or_create(path, dict)
    actor = Actor("sandbox", "cli")
    out: list[dict[str, object]] = []
    for i, (organ, name, role) in enumerate(DEMO_PEOPLE):
        cpf = demo_cpf(i + 1)
        password = stored.setdefault(cpf, "Demo-" + secrets.token_urlsafe(12))
        if people.find(cpf) is None:
            people.create(cpf, name, f"pessoa{i + 1}@sandbox.jus.br", organ, role, admin=i == 1, password=password,
                          actor=actor)
        else:
            people.reset(cpf, password, actor=actor)
        out.append({"cpf": cpf, "nome": name, "orgao": organ, "papel": role, "administrador": i == 1,
                    "senha": password})
    write_private(path, json.dumps(stored, indent=2).encode())
    return out


def _cnj_consumes_the_feed(admin: AdminService, cnj: str | None) -> dict[str, str] | None:
    """The CNJ simulator consumes the change feed by webhook (Res. Conjunta 6/2020 art. 12): a subscription of the
    CNJ organ to ``CNJ/feed/eventos``, from the beginning, its secret given to the simulator. Returns the info file's
    ``mocks.cnj.feed`` (None without the CNJ simulator)."""
    if not cnj:
        return None
    secret = secrets.token_urlsafe(32)
    ident = sandbox_subscription(admin.run, "CNJ", cnj + "/feed/eventos", secret, SystemClock().now())
    httpx.post(cnj + "/_mock/feed", json={"segredo": secret}, timeout=10).raise_for_status()
    return {"assinatura": ident, "recebidos": cnj + "/_mock/feed"}


def _debt_settings(partners: dict[str, str], debts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The dívida block's settings pointing at the PGFN and PGF simulators (empty where one is not running)."""
    pgfn, pgf = partners.get("pgfn", ""), partners.get("pgf", "")
    pgfn_keys = debts.get("pgfn", {}).get("credentials", {})
    return {"pgfn_url": pgfn, "pgfn_token_url": pgfn + "/token" if pgfn else "",
            "pgfn_client_id": pgfn_keys.get("consumer_key", "") if pgfn else "",
            "pgfn_client_secret": pgfn_keys.get("consumer_secret", "") if pgfn else "",
            "pgf_url": pgf, "pgf_api_key": debts.get("pgf", {}).get("credentials", {}).get("api_key", "") if pgf
            else ""}


def _devedores(debts: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """``demo.devedores``: the debt simulators' demo documents, merged (both serve the same seeded base)."""
    merged: dict[str, list[str]] = {}
    for demo in debts.values():
        for group, documents in demo.get("devedores", {}).items():
            merged.setdefault(group, [])
            merged[group] += [d for d in documents if d not in merged[group]]
    return merged


def _describe_mocks(partners: dict[str, str], demos: list[dict[str, Any]], settings: Settings) -> dict[str, Any]:
    """The info file's ``mocks``: each running simulator with its URL and kind."""
    mocks: dict[str, Any] = {}
    if "tse" in partners:
        mocks["tse"] = {"url": partners["tse"], "kind": "soap", "wsdl": partners["tse"] + "/?wsdl"}
    if "cnj" in partners:
        mocks["cnj"] = {"url": partners["cnj"], "kind": "rest", "openapi": partners["cnj"] + "/openapi.json"}
    if "pgfn" in partners:
        mocks["pgfn"] = {"url": partners["pgfn"], "kind": "rest", "token_url": settings.pgfn_token_url}
    if "pgf" in partners:
        mocks["pgf"] = {"url": partners["pgf"], "kind": "rest"}
    for demo in demos:
        url = partners[f"tribunal-{demo['jtr']}"]
        mocks[f"tribunal-{demo['jtr']}"] = {
            "url": url, "kind": "mni", "system": demo["system"], "tribunal": demo["tribunal"],
            "installations": [{"instance": i["instance"], "url": i["url"]} for i in demo["installations"]]}
    return mocks


def cli_config(settings: Settings, fixed: dict[str, Any]) -> bytes:
    """The config file (TOML) that points the CLI at this sandbox's data: its fixed settings but the host and
    port (a ``gateway serve`` with it must not collide with the running sandbox)."""
    lines = ["# Escrito pelo gateway sandbox: aponta a CLI para os dados deste sandbox.",
             "# Use: export GATEWAY_CONFIG_FILE=<este arquivo>  (ou gateway --config <este arquivo> COMANDO)"]
    for name in fixed:
        if name in {"host", "port", "crash_at"}:
            continue
        value = getattr(settings, name)
        if value in ("", None):
            continue
        lines.append(f"GATEWAY_{name.upper()} = {json.dumps(value)}")
    lines.append(f"GATEWAY_PASSWORD_KDF_N = {settings.password_kdf_n}")
    return ("\n".join(lines) + "\n").encode()


def write_info(path: Path, info: dict[str, Any]) -> None:
    """Write the info file atomically."""
    tmp = path.with_name(path.name + ".tmp")
    write_private(tmp, json.dumps(info, indent=2, ensure_ascii=False).encode())
    os.replace(tmp, path)


async def _wait_until_answering(url: str, timeout: float, path: str = "/readyz") -> None:
    """Poll *url* + *path* until it answers 200. Errors: SimulatorError (GATEWAY-E054) after *timeout* s."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=5.0) as client:
        while True:
            try:
                if (await client.get(url + path)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise SimulatorError(f"{url} não respondeu em {timeout:.0f} s")
            await asyncio.sleep(0.05)


#: The simulator process serving the other regional federal courts, each under its own prefix (``/trfN``).
FEDERAL = "tribunais-federais"
#: The simulators the sandbox runs: (module, name, extra arguments), on --port+1, +2, … in this order.
SIMULATORS = (("tse", "tse", ()), ("cnj", "cnj", ()), ("tribunal", "tribunal-8.19", ("--profile", "pje-tjrj")),
              ("tribunal", "tribunal-4.04", ("--profile", "eproc-trf4")), ("pgfn", "pgfn", ()), ("pgf", "pgf", ()),
              ("tribunal", FEDERAL, ("--profile", "federal")))  # TRF1, TRF2, TRF3, TRF5, TRF6 (issue 12)


def expand_federal(partners: dict[str, str]) -> dict[str, str]:
    """*partners* with the federal simulator's process replaced by one entry per court it serves
    (``tribunal-4.01`` → ``{url}/trf1``…), as its ``GET /`` lists them."""
    out = dict(partners)
    base = out.pop(FEDERAL, None)
    if base:
        courts = httpx.get(base + "/", timeout=30).json()["tribunais"]
        out.update({f"tribunal-{jtr}": url for jtr, url in courts.items()})
    return out


def _port_or_any(host: str, port: int) -> int:
    """*port* when it is free on *host* right now, else 0 (the simulator takes any free port: DESIGN.md).

    The probe binds as the servers do (``SO_REUSEADDR`` on POSIX), so a port left in TIME_WAIT by a sandbox that
    just stopped counts as free, while one another socket listens on does not."""
    with socket.socket() as probe:
        if os.name == "posix":  # on Windows SO_REUSEADDR would let the probe share a port in use
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return 0
    return port


def run(port: int = 8080, info_path: Path = Path("sandbox-info.json"), data_dir: Path = Path("sandbox-data"),
        host: str = "127.0.0.1", start_timeout: float = START_TIMEOUT_S, config_file: str | None = None) -> int:
    """Run the sandbox until interrupted. *start_timeout*: the bound of each simulator's start and of the
    gateway's (seconds; a simulator that stops progressing is given up sooner). Errors: OperatorError
    (GATEWAY-E052: the port is busy — nothing of the sandbox running there is touched, its info file stays),
    SettingsError (GATEWAY-E001, a malformed setting), SimulatorError (GATEWAY-E054, with the simulator's own
    error output)."""
    info_path = info_path.resolve()
    requested_port = port
    # before anything is removed: a second start on a busy port leaves the first alone
    sock = server.bind(host, port, what="--port")
    port = sock.getsockname()[1]
    mocks: list[MockProcess] = []
    # Ctrl+C while starting is remembered as well as raised: a KeyboardInterrupt raised where Python swallows it (a
    # finalizer, "Exception ignored in …") would otherwise be lost and the sandbox would start and serve regardless
    interrupted = threading.Event()

    def on_sigint(_signum: int, _frame: object) -> None:
        interrupted.set()
        raise KeyboardInterrupt

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    try:
        info_path.unlink(missing_ok=True)  # a stale file (of a sandbox that died); the new one is written when ready
        fixed = bool(port and requested_port)
        for offset, (module, name, args) in enumerate(SIMULATORS, start=1):
            wanted = _port_or_any(host, port + offset) if fixed and port + offset < 65536 else 0
            mocks.append(start_mock(module, host, wanted, timeout=start_timeout, args=args, name=name))
            if interrupted.is_set():
                raise KeyboardInterrupt
        partners = expand_federal({m.name: m.url for m in mocks})
        debts = {name: httpx.get(partners[name] + "/_mock/demo", timeout=30).json() for name in ("pgfn", "pgf")}
        return _serve(sock, port, host, info_path, data_dir, partners, debts, start_timeout, config_file,
                      interrupted)
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
        sock.close()
        for m in mocks:
            m.stop()


def _serve(sock: socket.socket, port: int, host: str, info_path: Path, data_dir: Path, partners: dict[str, str],
           debts: dict[str, dict[str, Any]], start_timeout: float, config_file: str | None,
           interrupted: threading.Event | None = None) -> int:
    interrupted = interrupted or threading.Event()
    settings, info = prepare(data_dir, port, host, partners=partners, debts=debts, config_file=config_file)
    from gateway import logs

    logs.configure(settings.log_level, settings.log_format)
    app = create_app(settings)
    gw = app.state.gateway

    async def main() -> None:
        stop = asyncio.Event()
        serving = asyncio.create_task(server.serve_async(
            app, server.ServerLimits.of(settings), sock, stop=stop,
            on_event=lambda reason: gw.metrics.connection_events.labels(reason).inc()))
        async def unless_stopped(waiting: Awaitable[None]) -> None:
            # Ctrl+C while starting (serve_async turns it into *stop*) ends the wait at once: the gateway it waits
            # for is shutting down and would never answer
            task, stopped = asyncio.ensure_future(waiting), asyncio.ensure_future(stop.wait())
            await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if not task.done():
                task.cancel()
                raise KeyboardInterrupt
            task.result()

        try:
            await unless_stopped(_wait_until_answering(info["gateway"], start_timeout))
            for mock in info.get("mocks", {}).values():
                await unless_stopped(_wait_until_answering(mock["url"], start_timeout, path="/_mock/received"))
            if stop.is_set() or interrupted.is_set():
                raise KeyboardInterrupt  # interrupted while starting: said as such (GATEWAY-E053, status 130)
        except BaseException:
            stop.set()
            await serving
            raise
        write_info(info_path, info)
        _print_banner(info, info_path)
        await serving  # until SIGINT or SIGTERM (handled by serve_async: a graceful stop)

    try:
        if interrupted.is_set():
            raise KeyboardInterrupt
        server.run(main(), switch_interval_ms=settings.gil_switch_interval_ms)
    finally:
        info_path.unlink(missing_ok=True)
    return 0


def _print_banner(info: dict[str, Any], info_path: Path) -> None:
    out = sys.stdout
    out.write(f"\nSandbox do gateway pronto em {info['gateway']}\n")
    out.write(f"  WSDL INFODIP: {info['gateway']}/soap/infodip?wsdl\n")
    out.write(f"  WSDL INFODIP 1.1 (consulta e listagem): {info['gateway']}/soap/infodip-1.1?wsdl\n")
    if "processes" in info.get("demo", {}):
        out.write(f"  WSDL MNI (hub): {info['gateway']}/soap/mni?wsdl  (clientes: pgfn-mni, pgf-mni)\n")
        out.write(f"  Intimações (PGFN/PGF): GET {info['gateway']}/api/v1/intimacoes  (token com intimacoes:ler: "
                  "pgfn-mni, pgf-mni; um tribunal intima na hora: POST <simulador>/_mock/intimacoes; exemplo no "
                  "README)\n")
    if "devedores" in info.get("demo", {}):
        out.write(f"  API dívida ativa (PGFN/PGF): POST {info['gateway']}/api/v1/devedores/inscricoes  (token com "
                  "divida:ler: tjrj-sistema; exemplo no README; devedores de demonstração: demo.devedores)\n")
    for name, mock in info.get("mocks", {}).items():
        out.write(f"  simulador {name.upper()}: {mock['url']}  (falhas: POST {mock['url']}/_mock/faults)\n")
    out.write(f"  dados: {info['data_dir']}\n  arquivo de informações: {info_path}\n")
    if info["settings"]["ignored"]:
        out.write(f"  ignoradas (o sandbox usa as suas): {', '.join(info['settings']['ignored'])}\n")
    if info["settings"]["relay"] != "ativo":
        out.write("  entregador desativado (GATEWAY_RELAY_ENABLED=false): as entregas ficam na fila\n")
    out.write(f"\n  CLI ao lado deste sandbox (replay, audit verify, organ …):\n"
              f"  export GATEWAY_CONFIG_FILE={info['config_file']}\n\n")
    out.write(f"  {'usuário':<22} {'senha':<18} {'órgão':<12} tipo\n")
    for c in info["credentials"]:
        out.write(f"  {c['username']:<22} {c['password']:<18} {c['organ']:<12} {c['organ_type']}\n")
    web = info.get("web")  # issue 16: the web form and the console, and their demo persons
    if web:
        out.write(f"\n  Formulário web: {web['form']}   Console de operação: {web['console']}\n")
        out.write(f"  {'CPF (login)':<13} {'senha':<22} {'órgão':<12} papel\n")
        for p in web["people"]:
            out.write(f"  {p['cpf']:<13} {p['senha']:<22} {p['orgao']:<12} {p['papel']}"
                      f"{' (administrador)' if p['administrador'] else ''}\n")
    out.write("\n  Exemplos prontos para envio (um por tipo): "
              f"{info['data_dir']}/samples/I.xml … IX.xml\n  Ctrl+C encerra.\n\n")
    out.flush()
