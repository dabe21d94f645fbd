"""deploy/enclave: the lockfile pins every dependency by version and hash and still satisfies
pyproject.toml (else `make enclave-lock`), the Containerfile installs only from it, the forwards
baked into the image parse and reach the master's port, and the init script is valid sh."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from k3s_daas.nautilus.vsock import parse_forward

ENCLAVE = Path(__file__).resolve().parents[2] / "deploy" / "enclave"
ROOT = ENCLAVE.parents[1]


def locked() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) from requirements.lock."""
    found: dict[str, tuple[str, int]] = {}
    current = None
    for line in (ENCLAVE / "requirements.lock").read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.\-\[\],]+)==([^\s\\;]+)", line):
            current = canonicalize_name(match.group(1).split("[")[0])
            found[current] = (match.group(2), 0)
        elif "--hash=sha256:" in line and current is not None:
            version, hashes = found[current]
            found[current] = (version, hashes + 1)
    return found


def test_every_locked_package_is_pinned_with_hashes() -> None:
    lock = locked()
    assert len(lock) > 20
    unhashed = [name for name, (_, hashes) in lock.items() if hashes == 0]
    assert unhashed == []
    text = (ENCLAVE / "requirements.lock").read_text()
    assert not re.search(r"^[A-Za-z][^=\n]*(>=|<=|~=|\s@\s)", text, re.M)  # only == pins


def test_the_lock_satisfies_every_dependency_of_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = locked()
    stale = []
    for spec in project["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        if name not in lock or not req.specifier.contains(lock[name][0], prereleases=True):
            stale.append(spec)
    assert stale == [], f"deploy/enclave/requirements.lock is stale for {stale}: make enclave-lock"


def test_the_containerfile_installs_only_from_the_lock() -> None:
    text = (ENCLAVE / "Containerfile").read_text()
    assert "--require-hashes" in text and "-r /build/requirements.lock" in text
    assert "--no-deps /build/dist/k3s_daas-*.whl" in text  # the product itself, no resolution
    assert 'ENTRYPOINT ["/usr/local/bin/enclave-init.sh"]' in text


def test_the_baked_forwards_parse_and_reach_the_master() -> None:
    text = (ENCLAVE / "Containerfile").read_text()
    env = dict(re.findall(r"(K3S_DAAS_NAUTILUS_PORT)=(\d+)", text))
    forwards_text = re.search(r'ENCLAVE_FORWARDS="([^"]+)"', text)
    assert forwards_text is not None
    forwards = [parse_forward(spec) for spec in shlex.split(forwards_text.group(1))]
    inbound = [f for f in forwards if f.listen.kind == "vsock"]
    assert len(inbound) == 1
    assert (inbound[0].connect.host, inbound[0].connect.port) == (
        "127.0.0.1", int(env["K3S_DAAS_NAUTILUS_PORT"])
    )  # fmt: skip
    outbound = [f for f in forwards if f.connect.kind == "vsock"]
    assert outbound and all(f.connect.cid == 3 for f in outbound)  # the parent instance


def test_the_init_script_is_valid_sh_and_executable() -> None:
    script = ENCLAVE / "enclave-init.sh"
    assert script.stat().st_mode & 0o111
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0
    assert "exec k3s-daas nautilus start" in script.read_text()
