"""Programs from Debian's packages that tests need (nginx now; chromium, a PHP or Java SOAP client later), installed
by the project's own setup (DESIGN.md, "System packages").

:func:`ensure` returns the program's path, installing its package with ``apt-get`` when it is missing (CI runs as
root and reaches Debian's packages). A test skips only where ``apt-get`` itself is unavailable, and says so; any
other failure to install fails the test with apt-get's own words. Installs are serialised between processes by a
lock file (two suites on one machine must not run apt-get at once), services a package would start are kept from
starting (``policy-rc.d``), and every wait is bounded.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

#: where Debian puts programs that a non-root PATH may lack
_SBIN = "/usr/local/sbin:/usr/sbin:/sbin"
_LOCK = Path("/tmp/gateway-tests-apt.lock")
_POLICY = Path("/usr/sbin/policy-rc.d")
_TIMEOUT_S = 900


def which(program: str) -> str | None:
    """*program*'s path on PATH or in the sbin directories."""
    return shutil.which(program, path=os.environ.get("PATH", "") + ":" + _SBIN)


def ensure(package: str, program: str | None = None) -> str:
    """The path of *program* (default: *package*), after installing *package* with apt-get if it is missing.
    Skips the calling test only when apt-get is not there; fails it when the install fails."""
    program = program or package
    found = which(program)
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.skip(f"{program} ausente e apt-get indisponível nesta máquina: instale o pacote Debian {package} "
                    "para rodar este teste")
    if os.geteuid() != 0:
        pytest.fail(f"{program} ausente: instale-o como root (apt-get install -y {package}); em CI a suíte roda como "
                    "root e o instala sozinha")
    _LOCK.touch(exist_ok=True)
    with open(_LOCK) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another suite on this machine may be installing the same package
        found = which(program)
        if found:
            return found
        _install(apt, package)
    found = which(program)
    if not found:
        pytest.fail(f"o pacote {package} foi instalado mas {program} não foi encontrado")
    return found


def _install(apt: str, package: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    placed_policy = False
    if not _POLICY.exists():  # keep the package's service from starting (e.g. nginx on port 80)
        _POLICY.write_text("#!/bin/sh\n# gateway tests: no service starts during apt-get install\nexit 101\n")
        _POLICY.chmod(0o755)
        placed_policy = True
    try:
        install = [apt, "-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends", package]
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
        if done.returncode != 0:  # the package lists may be missing or stale: refresh once, then try again
            subprocess.run([apt, "-o", "DPkg::Lock::Timeout=300", "update"], env=env, capture_output=True,
                           timeout=_TIMEOUT_S, check=False)
            done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
        if done.returncode != 0:
            pytest.fail(f"apt-get install {package} falhou ({done.returncode}): {done.stderr[-2000:]}")
    finally:
        if placed_policy:
            _POLICY.unlink(missing_ok=True)
