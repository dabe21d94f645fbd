"""Kubeconfig files for kubectl against the master: the cluster's CA inline, and a user that runs
`k3s-daas exec-credential` so the Seal token stays in its own 0600 file and is re-read on expiry.

Written as JSON (a subset of YAML that kubectl and client-go read), mode 0600.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from k3s_daas.kube.credential_cache import EXEC_API_VERSION
from k3s_daas.kube.types import KubeError

INSTALL_HINT: Final = (
    "k3s-daas is needed to supply the Seal token: pip install k3s-daas "
    "(or point users[].user.exec.command at it)"
)


class KubeconfigError(KubeError):
    reason = "bad_kubeconfig_input"


def k3s_daas_executable() -> str:
    """Absolute path of the `k3s-daas` script installed next to the running interpreter."""
    return str(Path(sys.executable).parent / "k3s-daas")


def kubectl_executable() -> str:
    """How to run kubectl in a printed hint: the one the `kubectl` extra put next to the running
    interpreter (`.venv/bin/kubectl`, relative when under the current directory), else `kubectl`."""
    path = Path(sys.executable).parent / "kubectl"
    if not path.exists():
        return "kubectl"
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def kubeconfig_dict(
    *,
    server: str,
    ca_pem: bytes,
    token_file: Path | None = None,
    worker_state: Path | None = None,
    name: str = "k3s-daas",
    command: str | None = None,
) -> dict[str, Any]:
    """A Config with one cluster/user/context; exactly one token source is required."""
    if (token_file is None) == (worker_state is None):
        raise KubeconfigError("give exactly one of --token-file and --worker-state")
    parts = urlsplit(server)
    if parts.scheme != "https" or not parts.hostname:
        raise KubeconfigError(
            f"server must be an https:// URL (kubectl sends no token over http), got {server!r}"
        )
    if b"-----BEGIN CERTIFICATE-----" not in ca_pem:
        raise KubeconfigError("the CA file is not a PEM certificate")
    source = token_file if token_file is not None else worker_state
    assert source is not None
    flag = "--token-file" if token_file is not None else "--worker-state"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode("ascii"),
                },
            }
        ],
        "users": [
            {
                "name": f"{name}-seal",
                "user": {
                    "exec": {
                        "apiVersion": EXEC_API_VERSION,
                        "command": command or k3s_daas_executable(),
                        "args": ["exec-credential", flag, str(source.resolve())],
                        "interactiveMode": "Never",
                        "provideClusterInfo": True,
                        "installHint": INSTALL_HINT,
                    }
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-seal"}}],
        "current-context": name,
        "preferences": {},
    }


def write_private_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic write, 0600 from the first byte (kubeconfigs name credentials)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(data, indent=2) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    ca_pem: bytes,
    token_file: Path | None = None,
    worker_state: Path | None = None,
    name: str = "k3s-daas",
    command: str | None = None,
) -> Path:
    """Write the kubeconfig (0600) and return its path."""
    data = kubeconfig_dict(
        server=server,
        ca_pem=ca_pem,
        token_file=token_file,
        worker_state=worker_state,
        name=name,
        command=command,
    )
    write_private_json(path, data)
    return path
