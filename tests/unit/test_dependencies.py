"""The package's declared dependencies are the ones its code imports (issue 10, point 1)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from tests.support import ROOT

PACKAGES = ("gateway", "adapters", "mocks")
#: Runtime dependencies imported by nobody directly, each with its reason.
INDIRECT = {"tzdata": "zoneinfo's time zones where the system has none",
            "httptools": "uvicorn's httptools protocol, which gateway/server.py subclasses",
            "python-multipart": "Starlette's request.form(): the web form's pages (issue 16) and the certificate "
                                "verification page's upload (issue 15)"}
#: Optional imports (guarded by ``except ImportError``) and the extra that brings each.
OPTIONAL = {"uvloop": "bench", "psycopg": "postgres"}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _project() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def imported_distributions() -> dict[str, set[str]]:
    """Distribution → the modules of gateway/, adapters/ and mocks/ that import it (top level or inside a
    function)."""
    dists = packages_distributions()
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in PACKAGES:
                        continue
                    for dist in dists.get(top, [top]):
                        found.setdefault(dist.lower().replace("_", "-"), set()).add(str(path.relative_to(ROOT)))
    return found


def test_runtime_dependencies_are_what_the_code_imports() -> None:
    """Every third-party import of the product is a runtime dependency (or, guarded, in its extra); every runtime
    dependency is imported (or has a stated indirect reason); test-only libraries (zeep, xmlschema) are not
    runtime dependencies."""
    project = _project()
    runtime = {_name(r) for r in project["dependencies"]}  # type: ignore[union-attr]
    extras = {extra: {_name(r) for r in reqs} for extra, reqs in project["optional-dependencies"].items()}  # type: ignore[union-attr]
    imported = imported_distributions()
    undeclared = {d: sorted(m) for d, m in imported.items()
                  if d not in runtime and not (d in OPTIONAL and d in extras[OPTIONAL[d]])}
    assert undeclared == {}
    unused = runtime - set(imported) - set(INDIRECT)
    assert unused == set()
    assert not {"zeep", "xmlschema", "pytest", "hypothesis"} & runtime
    assert {"zeep", "xmlschema"} <= extras["dev"]
    assert "uvloop" in extras["bench"] and "psycopg" in extras["postgres"]


def test_make_bench_installs_its_extra() -> None:
    """``make bench`` depends on a stamp that installs the ``bench`` extra, so it runs on a fresh clone."""
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^bench: \$\(BENCH_STAMP\)", makefile, re.M)
    assert re.search(r"^\$\(BENCH_STAMP\):.*\n\t.*pip install .*\[dev,bench\]", makefile, re.M)
