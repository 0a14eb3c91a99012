"""``gateway sandbox``: the gateway on SQLite with demo organs, credentials and samples, in one command.

It deletes a stale info file at start and writes the new one atomically once every server answers (DESIGN.md).
Passwords are generated once per data directory and kept there, so a restarted sandbox keeps its credentials.
Everything it writes holds secrets or personal data: the data directory and its subdirectories are 0700, every
file in them (samples, credentials, keys, the database and its WAL/SHM, the hub's registry) and the info file 0600.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from gateway import server
from gateway.admin import AdminService
from gateway.audit import create_signing_key
from gateway.bootstrap import console, create_app
from gateway.clock import SystemClock
from gateway.demo_grants import seed_sandbox
from gateway.hub.demo import configure, describe
from gateway.infodip.domain import Kind
from gateway.infodip.samples import REFERENCE_XPATH, SAMPLE_USERNAME, render_sample
from gateway.organs import OrganType
from gateway.settings import Settings


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
)


def seed_organs(admin: AdminService, password_of: Callable[[str], str],
                organs: Iterable[DemoOrgan] = DEMO_ORGANS) -> None:
    """Register the *organs* not yet registered and (re)set each one's credential to ``password_of(username)``."""
    registered = admin.organ_codes()
    for o in organs:
        if o.code not in registered:
            admin.add_organ(o.code, o.name, o.organ_type, cns=o.cns)
        admin.set_credential(o.username, o.code, password_of(o.username))


def _free_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


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


@dataclass
class MockProcess:
    """A partner simulator running as a child process."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        """Terminate the child (by its own id) and wait for it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_mock(module: str, host: str, port: int, timeout: float = 20.0, args: tuple[str, ...] = (),
               name: str | None = None) -> MockProcess:
    """Start ``python -m mocks.<module>`` and wait for the URL it prints once it listens."""
    proc = subprocess.Popen([sys.executable, "-m", f"mocks.{module}", "--host", host, "--port", str(port), *args],
                            stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parent.parent)
    assert proc.stdout is not None
    ready: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        ready.append(proc.stdout.readline().decode())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if not ready or not ready[0].strip():
        proc.kill()
        raise RuntimeError(f"o simulador {module} não iniciou")
    return MockProcess(name or module, proc, json.loads(ready[0])["url"])


def prepare(data_dir: Path, port: int, host: str = "127.0.0.1", kdf_n: int = 2**14,
            partners: dict[str, str] | None = None) -> tuple[Settings, dict[str, Any]]:
    """Create (or reuse) the sandbox's database, keys, organs, credentials and samples; return settings + info."""
    private_dir(data_dir)
    data_dir = data_dir.resolve()
    key_path = data_dir / "audit-signing-key.pem"
    if not key_path.exists():
        create_signing_key(str(key_path))
    secrets_ = _load_or_create(data_dir / "secret.json", lambda: {"secret": secrets.token_urlsafe(48),
                                                                   "admin_token": secrets.token_urlsafe(24)})
    secret = secrets_["secret"]
    admin_token = secrets_.get("admin_token") or secrets.token_urlsafe(24)
    partners = partners or {}
    passwords: dict[str, str] = _load_or_create(
        data_dir / "credentials.json", lambda: {o.username: secrets.token_urlsafe(12) for o in DEMO_ORGANS})
    settings = Settings.from_env(
        {},
        environment="sandbox",
        database_url=f"sqlite:///{data_dir / 'gateway.db'}",
        host=host,
        port=port,
        secret_key=secret,
        signing_key_path=str(key_path),
        password_kdf_n=kdf_n,
        tse_url=partners.get("tse", ""),
        cnj_url=partners.get("cnj", ""),
        mni_registry_path=str(data_dir / "mni-registry.json") if any(
            k.startswith("tribunal-") for k in partners) else "",
        admin_token=admin_token,
        # a sandbox shows recovery within seconds, not minutes
        relay_max_backoff_s=10.0,
        breaker_cooldown_s=5.0,
    )
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
    write_private(data_dir / "credentials.json", json.dumps(passwords, indent=2).encode())

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
    info = {
        "gateway": f"http://{host}:{port}",
        "data_dir": str(data_dir),
        "credentials": credentials,
        "samples": {"infodip": samples},
        "admin_token": admin_token,
    }
    mocks: dict[str, Any] = {}
    if "tse" in partners:
        mocks["tse"] = {"url": partners["tse"], "kind": "soap", "wsdl": partners["tse"] + "/?wsdl"}
    if "cnj" in partners:
        mocks["cnj"] = {"url": partners["cnj"], "kind": "rest", "openapi": partners["cnj"] + "/openapi.json"}
    for demo in demos:
        url = partners[f"tribunal-{demo['jtr']}"]
        mocks[f"tribunal-{demo['jtr']}"] = {
            "url": url, "kind": "mni", "system": demo["system"], "tribunal": demo["tribunal"],
            "installations": [{"instance": i["instance"], "url": i["url"]} for i in demo["installations"]]}
    if mocks:
        info["mocks"] = mocks
    if demos:
        info["demo"] = {"processes": {"mni": [p["numeroProcesso"] for d in demos for p in d["processes"]]},
                        "mni": {"wsdl": f"http://{host}:{port}/soap/mni?wsdl",
                                "clients": {"PGFN": "pgfn-mni", "PGF": "pgf-mni"}}}
    make_private(data_dir)  # the registry, keys and database other modules wrote: 0600 as well
    return settings, info


def write_info(path: Path, info: dict[str, Any]) -> None:
    """Write the info file atomically."""
    tmp = path.with_name(path.name + ".tmp")
    write_private(tmp, json.dumps(info, indent=2, ensure_ascii=False).encode())
    os.replace(tmp, path)


async def _wait_until_answering(url: str, timeout: float = 30.0, path: str = "/readyz") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            try:
                if (await client.get(url + path)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"o gateway não respondeu em {url} em {timeout:.0f} s")
            await asyncio.sleep(0.05)


def run(port: int = 8080, info_path: Path = Path("sandbox-info.json"), data_dir: Path = Path("sandbox-data"),
        host: str = "127.0.0.1") -> int:
    """Run the sandbox until interrupted."""
    info_path = info_path.resolve()
    info_path.unlink(missing_ok=True)
    requested_port = port
    sock = _free_socket(host, port)
    port = sock.getsockname()[1]
    mocks: list[MockProcess] = []
    try:
        fixed = bool(port and requested_port)
        mocks.append(start_mock("tse", host, port + 1 if fixed else 0))
        mocks.append(start_mock("cnj", host, port + 2 if fixed else 0))
        mocks.append(start_mock("tribunal", host, port + 3 if fixed else 0, args=("--profile", "pje-tjrj"),
                                name="tribunal-8.19"))
        mocks.append(start_mock("tribunal", host, port + 4 if fixed else 0, args=("--profile", "eproc-trf4"),
                                name="tribunal-4.04"))
        return _serve(sock, port, host, info_path, data_dir, {m.name: m.url for m in mocks})
    finally:
        for m in mocks:
            m.stop()


def _serve(sock: socket.socket, port: int, host: str, info_path: Path, data_dir: Path,
           partners: dict[str, str]) -> int:
    settings, info = prepare(data_dir, port, host, partners=partners)
    app = create_app(settings)
    gw = app.state.gateway

    async def main() -> None:
        stop = asyncio.Event()
        serving = asyncio.create_task(server.serve_async(
            app, server.ServerLimits.of(settings), sock, stop=stop,
            on_event=lambda reason: gw.metrics.connection_events.labels(reason).inc()))
        try:
            await _wait_until_answering(info["gateway"])
            for mock in info.get("mocks", {}).values():
                await _wait_until_answering(mock["url"], path="/_mock/received")
        except Exception:
            stop.set()
            await serving
            raise
        write_info(info_path, info)
        _print_banner(info, info_path)
        await serving  # until SIGINT or SIGTERM (handled by serve_async: a graceful stop)

    try:
        server.run(main())
    except KeyboardInterrupt:
        pass
    finally:
        info_path.unlink(missing_ok=True)
    return 0


def _print_banner(info: dict[str, Any], info_path: Path) -> None:
    out = sys.stdout
    out.write(f"\nSandbox do gateway pronto em {info['gateway']}\n")
    out.write(f"  WSDL INFODIP: {info['gateway']}/soap/infodip?wsdl\n")
    if "demo" in info:
        out.write(f"  WSDL MNI (hub): {info['gateway']}/soap/mni?wsdl  (clientes: pgfn-mni, pgf-mni)\n")
    for name, mock in info.get("mocks", {}).items():
        out.write(f"  simulador {name.upper()}: {mock['url']}  (falhas: POST {mock['url']}/_mock/faults)\n")
    out.write(f"  dados: {info['data_dir']}\n  arquivo de informações: {info_path}\n\n")
    out.write(f"  {'usuário':<22} {'senha':<18} {'órgão':<12} tipo\n")
    for c in info["credentials"]:
        out.write(f"  {c['username']:<22} {c['password']:<18} {c['organ']:<12} {c['organ_type']}\n")
    out.write("\n  Exemplos prontos para envio (um por tipo): "
              f"{info['data_dir']}/samples/I.xml … IX.xml\n  Ctrl+C encerra.\n\n")
    out.flush()
