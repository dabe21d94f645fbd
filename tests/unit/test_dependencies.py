"""Every third-party package src/ imports is declared in pyproject.toml, and the optional ones
(extras) fail with one line naming the extra when they are missing.

The import walk reads every `import` in src/ with `ast` (function-level ones included) and maps
each top-level module to its distribution with `importlib.metadata.packages_distributions()`.
A missing extra is simulated by putting `None` in `sys.modules` for its package, which makes
Python raise ImportError exactly as it does when the package is not installed.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from k3s_daas.seal.errors import MissingExtraError

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "k3s_daas"


def _canonical(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return _canonical(match.group(1))


def declared() -> dict[str, set[str]]:
    """Distribution -> where it is declared ("" for the main dependencies, else the extra)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found: dict[str, set[str]] = {}
    for requirement in project["dependencies"]:
        found.setdefault(_requirement_name(requirement), set()).add("")
    for extra, requirements in project["optional-dependencies"].items():
        if extra == "dev":  # test tools: src/ never imports them
            continue
        for requirement in requirements:
            found.setdefault(_requirement_name(requirement), set()).add(extra)
    return found


def third_party_imports(src: Path = SRC) -> dict[str, set[str]]:
    """Top-level module -> the src files importing it (stdlib and our own excluded)."""
    found: dict[str, set[str]] = {}
    for path in sorted(src.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top in sys.stdlib_module_names or top == "k3s_daas":
                    continue
                found.setdefault(top, set()).add(path.relative_to(src.parent).as_posix())
    return found


def test_the_walk_sees_imports_and_skips_the_stdlib(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "import os, yaml.constructor\nfrom httpx import Client\nfrom . import b\n"
        "def f():\n    import lightkube.types\n"
    )
    assert set(third_party_imports(tmp_path)) == {"yaml", "httpx", "lightkube"}


def test_every_imported_package_is_declared() -> None:
    distributions = packages_distributions()
    deps = declared()
    undeclared = []
    for module, files in sorted(third_party_imports().items()):
        dists = {_canonical(d) for d in distributions.get(module, [])}
        if not dists:
            undeclared.append(f"{module} (not installed; imported by {sorted(files)[0]})")
        elif not dists & set(deps):
            undeclared.append(f"{module} from {sorted(dists)} (imported by {sorted(files)[0]})")
    assert not undeclared, "declare in pyproject.toml: " + "; ".join(undeclared)


def test_optional_clients_are_extras_not_dependencies() -> None:
    deps = declared()
    for dist, extra in [
        ("lightkube", "k3s"), ("aetcd", "etcd"), ("redis", "redis"), ("botocore", "nitro"),
    ]:  # fmt: skip
        assert deps.get(dist) == {extra}, (dist, deps.get(dist))
    assert "kubernetes" not in deps  # the 126 MB synchronous client is gone


# -- a missing extra is one line naming it -------------------------------------------------------
Block = Callable[[str, str], None]


@pytest.fixture
def without() -> Iterator[Block]:
    """`without(package, module)`: import `module` afresh while `package` cannot be imported."""
    saved = dict(sys.modules)

    def block(package: str, module: str) -> None:
        for name in list(sys.modules):
            if name == package or name.startswith(package + "."):
                del sys.modules[name]
        sys.modules[package] = None  # type: ignore[assignment]  # Python's "not importable" marker
        sys.modules.pop(module, None)
        importlib.import_module(module)

    yield block
    sys.modules.clear()
    sys.modules.update(saved)


@pytest.mark.parametrize(
    ("package", "module", "extra"),
    [
        ("lightkube", "k3s_daas.kube.k3s", "k3s"),
        ("aetcd", "k3s_daas.nautilus.store.etcd", "etcd"),
        ("redis", "k3s_daas.nautilus.shared_cache", "redis"),
        ("botocore", "k3s_daas.nautilus.kms", "nitro"),
    ],
)
def test_a_missing_extra_names_itself(
    without: object, package: str, module: str, extra: str
) -> None:
    with pytest.raises(MissingExtraError) as info:
        without(package, module)  # type: ignore[operator]
    assert info.value.reason == "missing_extra" and info.value.extra == extra
    assert f"pip install 'k3s-daas[{extra}]'" in info.value.message
    assert "\n" not in info.value.message


def test_the_master_imports_no_extra_it_does_not_use() -> None:
    """A default master (standalone, SQLite, simulated enclave, no shared cache) and the CLI load
    without any extra: checked in a fresh interpreter where every extra is unimportable."""
    code = (
        "import sys\n"
        "for p in ('lightkube', 'httpx2', 'aetcd', 'redis', 'botocore'):\n"
        "    sys.modules[p] = None\n"
        "import k3s_daas.cli.up, k3s_daas.devnet.server, k3s_daas.nautilus.master\n"
        "import k3s_daas.worker.agent\n"
        "from k3s_daas.nautilus.store import open_store\n"
        "from k3s_daas.nautilus.cluster import open_cluster\n"
        "from k3s_daas.nautilus.metrics import Metrics\n"
        "from k3s_daas.nautilus.settings import NautilusSettings\n"
        "from k3s_daas.nautilus.errors import StartupError\n"
        "from k3s_daas.seal.errors import MissingExtraError\n"
        "open_store('memory://')\n"
        "try:\n"
        "    open_store('etcd://127.0.0.1:2379')\n"
        "except MissingExtraError as e:\n"
        "    print(e)\n"
        "try:\n"
        "    open_cluster(NautilusSettings(cluster='k3s', k3s_kubeconfig='k'), Metrics())\n"
        "except StartupError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "an etcd:// store needs the 'etcd' extra: pip install 'k3s-daas[etcd]'",
        "K3s mode (cluster=k3s) needs the 'k3s' extra: pip install 'k3s-daas[k3s]'",
    ]
