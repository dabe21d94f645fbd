"""`pysui` without its package `__init__` until something needs it (memory, not speed).

The chain layer uses three leaves of pysui: the generated `sui.rpc.v2` messages, protobuf's
`FieldMask` and the BCS types. Importing any of them runs `pysui/__init__.py` first, which loads
pysui's GraphQL, JSON-RPC and executor stack (graphql-core, gql, opentelemetry, yaml, ...): about
14 MB of a master's resident memory, none of it ever used there.

`install()` (called by `k3s_daas.chain` before any pysui import) registers `pysui` as a bare
package: its submodules import as usual from the same directory, and the real `__init__` runs in
the same module object on the first attribute the bare package lacks. So `import pysui`,
`from pysui import PysuiConfiguration` and full use of pysui keep working in the same process,
at full cost from then on. A no-op when pysui is already imported.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from importlib.abc import Loader
from types import ModuleType
from typing import Final

PACKAGE: Final = "pysui"
_lock = threading.RLock()


def install() -> bool:
    """Register the bare `pysui` package; False if pysui was already imported (or is absent)."""
    with _lock:
        if PACKAGE in sys.modules:
            return False
        spec = importlib.util.find_spec(PACKAGE)
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            return False
        module = importlib.util.module_from_spec(spec)
        module.__dict__["__getattr__"] = _LateInit(module, spec.loader)
        sys.modules[PACKAGE] = module
        return True


def is_bare() -> bool:
    """True while `pysui`'s own `__init__` has not run in this process (through `install`)."""
    module = sys.modules.get(PACKAGE)
    return module is not None and isinstance(module.__dict__.get("__getattr__"), _LateInit)


class _LateInit:
    """The bare package's module `__getattr__` (PEP 562): run the real `__init__` once, then
    answer from it. During that run a missing name is an AttributeError, as for any package
    still initialising (a circular import inside pysui stays what it would be without us)."""

    def __init__(self, module: ModuleType, loader: Loader) -> None:
        self.module = module
        self.loader = loader
        self.running = False

    def __call__(self, name: str) -> object:
        namespace = self.module.__dict__
        with _lock:
            if namespace.get("__getattr__") is self and not self.running:
                self.running = True
                try:
                    self.loader.exec_module(self.module)
                    if namespace.get("__getattr__") is self:
                        del namespace["__getattr__"]
                finally:
                    self.running = False
        if name in namespace:
            return namespace[name]
        raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")
