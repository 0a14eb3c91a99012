"""A small certificate authority for a sandbox or a test bed: ``gateway pki init`` and ``gateway pki client``.

``init`` writes, into one directory (created 0700; every file 0600):

- ``ca.pem`` / ``ca-key.pem``: a self-signed CA (ECDSA P-256, ``BasicConstraints(ca=True, path_length=0)``);
- ``server.pem`` / ``server-key.pem``: a server certificate for ``localhost``, ``127.0.0.1``, ``::1`` and every
  ``--host`` given (``serverAuth``);
- ``clients/NAME.pem`` / ``clients/NAME-key.pem`` for each ``--client NAME`` (``clientAuth``; CN=NAME), which
  ``gateway organ certificate add ORGAN clients/NAME.pem`` registers for an organ.

``client`` issues one more client certificate from an existing CA. In production the court's own PKI issues these
(docs/deploy.md, "TLS"): this CA exists so the TLS proxy, client-certificate authentication and the guide can be
exercised end to end on one machine. Built with ``cryptography``.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.clock import Clock, SystemClock
from gateway.errors import OperatorError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ORGANISATION = "Gateway de interoperabilidade (sandbox)"


@dataclass(frozen=True)
class Issued:
    """Where one certificate and its key were written."""

    cert: Path
    key: Path


def _write(path: Path, data: bytes) -> None:
    """Write *data* to *path* readable by its owner only (0600), replacing it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: datetime,
             days: int) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=days)))


class SandboxCA:
    """The CA in *directory* (see the module docstring)."""

    def __init__(self, directory: Path, clock: Clock | None = None) -> None:
        self.directory = directory
        self.clock = clock or SystemClock()

    @property
    def cert_path(self) -> Path:
        """``ca.pem``."""
        return self.directory / "ca.pem"

    @property
    def key_path(self) -> Path:
        """``ca-key.pem``."""
        return self.directory / "ca-key.pem"

    def init(self, hosts: list[str], clients: list[str], days: int = 825) -> list[Issued]:
        """Create the CA, the server certificate and one certificate per client; return what was written (CA
        first). Errors: OperatorError (GATEWAY-E002) when a CA already exists there, or for a malformed name."""
        if self.key_path.exists():
            raise OperatorError(f"já existe uma CA em {self.directory} (use gateway pki client para emitir mais "
                                "certificados)", field="dir")
        for client in clients:
            _check_name(client)
        now = self.clock.now()
        key = ec.generate_private_key(ec.SECP256R1())
        ca_name = _name("Gateway sandbox CA")
        cert = (_builder(ca_name, ca_name, key.public_key(), now, days)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write(self.key_path, _key_pem(key))
        _write(self.cert_path, cert.public_bytes(serialization.Encoding.PEM))
        issued = [Issued(self.cert_path, self.key_path), self.server(hosts, days)]
        issued += [self.client(c, days) for c in clients]
        return issued

    def _load(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        try:
            cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise OperatorError(f"CA ilegível em {self.directory} ({exc}); crie uma com gateway pki init",
                                field="dir") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise OperatorError(f"{self.key_path} não é uma chave ECDSA", field="dir")
        return cert, key

    def _issue(self, common_name: str, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName], days: int,
               cert_path: Path, key_path: Path) -> Issued:
        ca_cert, ca_key = self._load()
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (_builder(_name(common_name), ca_cert.subject, key.public_key(), self.clock.now(), days)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        _write(key_path, _key_pem(key))
        _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return Issued(cert_path, key_path)

    def server(self, hosts: list[str], days: int = 825) -> Issued:
        """(Re)issue ``server.pem`` for localhost, 127.0.0.1, ::1 and *hosts* (names or IP addresses)."""
        sans: list[x509.GeneralName] = []
        for host in ["localhost", "127.0.0.1", "::1", *hosts]:
            try:
                entry: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
            except ValueError:
                entry = x509.DNSName(host)
            if entry not in sans:
                sans.append(entry)
        return self._issue(hosts[0] if hosts else "localhost", ExtendedKeyUsageOID.SERVER_AUTH, sans, days,
                           self.directory / "server.pem", self.directory / "server-key.pem")

    def client(self, name: str, days: int = 825) -> Issued:
        """Issue ``clients/NAME.pem`` (CN=NAME, clientAuth). Errors: OperatorError for a malformed name."""
        _check_name(name)
        return self._issue(name, ExtendedKeyUsageOID.CLIENT_AUTH, [], days,
                           self.directory / "clients" / f"{name}.pem", self.directory / "clients" / f"{name}-key.pem")


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise OperatorError(f"nome de cliente inválido: {name!r} (letras, dígitos, ponto, hífen, sublinhado)",
                            field="client")


# -- the commands (rows of gateway.cli.COMMANDS) --------------------------------------------------------------------

def cmd_pki_init(args: argparse.Namespace, _con: object) -> int:
    """``gateway pki init --dir DIR [--host NAME]… [--client NAME]… [--days N]``: a CA, a server certificate and
    client certificates (every file 0600)."""
    issued = SandboxCA(Path(args.dir)).init(args.host or [], args.client or [], args.days)
    for item in issued:
        print(f"{item.cert}  (chave {item.key})")
    return 0


def cmd_pki_client(args: argparse.Namespace, _con: object) -> int:
    """``gateway pki client --dir DIR NAME``: one more client certificate from the CA in DIR."""
    item = SandboxCA(Path(args.dir)).client(args.name, args.days)
    print(f"{item.cert}  (chave {item.key})")
    return 0
