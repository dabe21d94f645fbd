"""Dependencies point one way (docs/architecture.md): checked on every import in src/."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "k3s_daas"
SHARED = {"log", "settings", "__init__"}  # top-level modules any layer may use

ALLOWED: dict[str, set[str]] = {
    "seal": set(),
    "attestation": {"seal"},
    "chain": {"seal", "attestation"},
    "devnet": {"seal", "attestation", "chain"},
    "kube": {"seal", "chain"},
    "nautilus": {"seal", "attestation", "chain", "kube"},
    "worker": {"seal", "attestation", "chain", "kube"},
    "cli": {"seal", "attestation", "chain", "devnet", "kube", "nautilus", "worker"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "k3s_daas" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_every_layer_imports_only_what_it_may() -> None:
    violations = []
    for layer, allowed in ALLOWED.items():
        for path in sorted((SRC / layer).rglob("*.py")):
            bad = imported_packages(path) - allowed - SHARED - {layer}
            if bad:
                violations.append(f"{path.relative_to(SRC)} imports {sorted(bad)}")
    assert not violations, "\n".join(violations)


def test_every_package_is_classified() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert packages <= set(ALLOWED), packages - set(ALLOWED)
