"""Dependencies point one way (docs/architecture.md) and no module imports itself back.

Both checks read every import in src/ with `ast`: module-level and function-level ones, absolute
and relative (`from . import x`), so an import hidden inside a function cannot hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "k3s_daas"
ROOT = "k3s_daas"
# Top-level modules any layer may use: logging, process settings, `retry` (the one jittered
# backoff: chain, nautilus and worker all retry, and none of them may import another) and
# `serving` (how every HTTP listener is served: the master's and the devnet's) and `telemetry`
# (the process and build series every process exports).
SHARED = {"log", "settings", "retry", "serving", "telemetry", "__init__"}

ALLOWED: dict[str, set[str]] = {
    "seal": set(),
    "attestation": {"seal"},
    "chain": {"seal", "attestation"},
    "devnet": {"seal", "attestation", "chain"},
    "kube": {"seal", "chain"},
    "nautilus": {"seal", "attestation", "chain", "kube"},
    "worker": {"seal", "attestation", "chain", "kube"},
    "cli": {"seal", "attestation", "chain", "devnet", "kube", "nautilus", "worker"},
    # `k3s_daas/__main__.py`, the process entry: kubectl's cached credential, else the CLI.
    "__main__": {"kube", "cli"},
}


def module_name(path: Path, src: Path) -> str:
    """`src/k3s_daas/devnet/ledger/__init__.py` -> `k3s_daas.devnet.ledger`."""
    parts = [src.name, *path.relative_to(src).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    """The modules of `modules` that `name` imports anywhere in its source.

    `from pkg import sub` names the submodule when `pkg.sub` is a module, else `pkg` itself;
    relative imports are resolved against the importing module's package.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in modules}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in modules:
                    found.add(target)
                elif base in modules:
                    found.add(base)
    found.discard(name)
    return found


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Module -> the modules of the same source tree it imports."""
    paths = {module_name(p, src): p for p in sorted(src.rglob("*.py"))}
    return {name: imports_of(name, path, set(paths)) for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def layer_of(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def test_every_layer_imports_only_what_it_may() -> None:
    violations = []
    for module, imported in sorted(import_graph().items()):
        layer = layer_of(module)
        allowed = ALLOWED.get(layer, set()) | SHARED | {layer}
        bad = {layer_of(m) for m in imported} - allowed
        if layer not in SHARED and bad:
            violations.append(f"{module} imports {sorted(bad)}")
    assert not violations, "\n".join(violations)


def test_shared_modules_import_only_shared_modules() -> None:
    """Every layer may use them, so they may use no layer (else a layer reaches past its own)."""
    violations = []
    for module, imported in sorted(import_graph().items()):
        if layer_of(module) in SHARED and (bad := {layer_of(m) for m in imported} - SHARED):
            violations.append(f"{module} imports {sorted(bad)}")
    assert not violations, "\n".join(violations)


def test_every_package_is_classified() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert packages <= set(ALLOWED), packages - set(ALLOWED)


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_cycle_finder_sees_hidden_and_relative_imports(tmp_path: Path) -> None:
    """The finder itself: a function-level import and a relative one each close a cycle."""
    src = tmp_path / ROOT
    (src / "pkg").mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "pkg" / "__init__.py").write_text("from k3s_daas.pkg.a import A\n")
    (src / "pkg" / "a.py").write_text("A = 1\ndef f():\n    from k3s_daas.pkg import b\n")
    (src / "pkg" / "b.py").write_text("from . import c\n")
    (src / "pkg" / "c.py").write_text("from .a import A\n")
    (src / "pkg" / "d.py").write_text("from .. import pkg\nfrom ..pkg import c\n")
    graph = import_graph(src)
    assert graph["k3s_daas.pkg.d"] == {"k3s_daas.pkg", "k3s_daas.pkg.c"}
    assert cycles(graph) == [["k3s_daas.pkg.a", "k3s_daas.pkg.b", "k3s_daas.pkg.c"]]
    (src / "pkg" / "a.py").write_text("A = 1\n")
    assert cycles(import_graph(src)) == []
