"""Hosts for multi-host tests: Linux network namespaces on one private bridge.

`Testnet.create(["chain", "m1", ...])` makes one namespace per host (`<tag>-<host>`, each with
`lo` and `eth0` on 10.213.7.0/24) plus a bridge namespace whose bridge joins their veth peers, and
writes `/etc/netns/<ns>/hosts` naming every host `<host>.k3s-daas.test`, which `ip netns exec`
mounts over /etc/hosts: programs resolve the names as on a LAN. `prefix(host)` is the command
prefix to run there; `link_down(host)` / `link_up(host)` pull and plug its cable (the bridge-side
veth). Nothing is sent to the subnet from outside: the test's own namespace has no route to it.
`destroy()` deletes every namespace and hosts file it made (also after a failed `create`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

SUBNET: Final = "10.213.7"
DOMAIN: Final = "k3s-daas.test"
NETNS_ETC: Final = Path("/etc/netns")


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def unavailable() -> str | None:
    """Why namespaces cannot be made here (one line), or None when they can."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    probe = f"kdprobe{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except RuntimeError as exc:
        return f"ip netns add fails: {exc}"
    try:
        _ip("netns", "del", probe)
    except RuntimeError as exc:
        return f"ip netns del fails: {exc}"
    return None


@dataclass
class Testnet:
    """Namespaces `<tag>-<host>` on one bridge (see the module docstring)."""

    tag: str
    hosts: list[str]
    made: list[str] = field(default_factory=list)

    __test__ = False

    @classmethod
    def create(cls, hosts: list[str], tag: str | None = None) -> Testnet:
        net = cls(tag or f"kd{os.getpid() % 100_000}", list(hosts))
        try:
            net._build()
        except BaseException:
            net.destroy()
            raise
        return net

    def ns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    @property
    def bridge_ns(self) -> str:
        return f"{self.tag}-br"

    def address(self, host: str) -> str:
        return f"{SUBNET}.{10 + self.hosts.index(host)}"

    @staticmethod
    def name(host: str) -> str:
        return f"{host}.{DOMAIN}"

    def prefix(self, host: str) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.ns(host))

    def _port(self, host: str) -> str:
        return f"p{self.hosts.index(host)}"

    def _add_ns(self, name: str) -> None:
        _ip("netns", "add", name)
        self.made.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def _build(self) -> None:
        self._add_ns(self.bridge_ns)
        _ip("-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.bridge_ns, "link", "set", "br0", "up")
        lines = ["127.0.0.1 localhost"]
        lines += [f"{self.address(h)} {self.name(h)} {h}" for h in self.hosts]
        for host in self.hosts:
            ns, port = self.ns(host), self._port(host)
            self._add_ns(ns)
            folder = NETNS_ETC / ns
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "hosts").write_text("\n".join(lines) + "\n")
            _ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", port,
                "netns", self.bridge_ns)  # fmt: skip
            _ip("-n", self.bridge_ns, "link", "set", port, "master", "br0", "up")
            _ip("-n", ns, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")

    def link_down(self, host: str) -> None:
        _ip("-n", self.bridge_ns, "link", "set", self._port(host), "down")

    def link_up(self, host: str) -> None:
        _ip("-n", self.bridge_ns, "link", "set", self._port(host), "up")

    def destroy(self) -> None:
        """Delete every namespace made (their veths go with them) and their hosts files."""
        for name in reversed(self.made):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
            shutil.rmtree(NETNS_ETC / name, ignore_errors=True)
        self.made.clear()
        with contextlib.suppress(OSError):  # only when empty: other namespaces may use it
            NETNS_ETC.rmdir()
