"""Real etcd members on free loopback ports: one, or a cluster started together.

`start_etcd_cluster(base, size)` starts `size` members under `base` and waits until all are
healthy; `EtcdCluster.url` is the product's `etcd://` store URL; members are stopped by PID;
`kill(member)` and `restart(*members)` take members down and bring them back (quorum faults).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from harness.processes import free_port, kill9, stop_process, wait_for


@dataclass
class EtcdMember:
    """One etcd process: its name, loopback ports, data dir and process."""

    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def status(self) -> dict[str, Any]:
        """The member's /v3/maintenance/status (grpc-gateway JSON): member_id and leader."""
        answer = httpx.post(self.client_url + "/v3/maintenance/status", content=b"{}", timeout=2)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def healthy(self) -> bool:
        try:
            answer = httpx.get(self.client_url + "/health", timeout=1)
            return bool(answer.json().get("health") == "true")
        except (httpx.HTTPError, ValueError):
            return False


@dataclass
class EtcdCluster:
    """A set of etcd members started together; `url` is the product's `etcd://` store URL."""

    members: list[EtcdMember]
    log_dir: Path
    _logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        live = [m for m in self.members if m.alive()] or self.members
        return "etcd://" + ",".join(f"127.0.0.1:{m.client_port}" for m in live)

    @property
    def all_url(self) -> str:
        return "etcd://" + ",".join(f"127.0.0.1:{m.client_port}" for m in self.members)

    def start(self) -> None:
        for member in self.members:
            self._spawn(member)
        wait_for(lambda: all(m.healthy() for m in self.members), timeout=30)

    def _spawn(self, member: EtcdMember) -> None:
        """Start one member's process (a member restarted later finds its data dir)."""
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        log = (self.log_dir / f"{member.name}.log").open("ab")
        self._logs.append(log)
        flags = {
            "--name": member.name,
            "--data-dir": str(member.data_dir),
            "--listen-client-urls": member.client_url,
            "--advertise-client-urls": member.client_url,
            "--listen-peer-urls": member.peer_url,
            "--initial-advertise-peer-urls": member.peer_url,
            "--initial-cluster": initial,
            "--initial-cluster-state": "new",
            "--initial-cluster-token": f"t{self.members[0].client_port}",
        }
        member.proc = subprocess.Popen(
            ["etcd", *(part for pair in flags.items() for part in pair)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def restart(self, *members: EtcdMember) -> None:
        """Start stopped (or killed) members again and wait until every member is healthy."""
        for member in members:
            assert not member.alive(), f"{member.name} is still running"
            self._spawn(member)
        wait_for(lambda: all(m.healthy() for m in self.members), timeout=30)

    def leader(self) -> EtcdMember:
        """The member that currently leads (asks a live member who the leader is)."""
        for member in self.members:
            if not member.alive():
                continue
            try:
                leader_id = str(member.status()["leader"])
            except httpx.HTTPError:
                continue
            for candidate in self.members:
                if (
                    candidate.alive()
                    and str(candidate.status()["header"]["member_id"]) == leader_id
                ):
                    return candidate
        raise RuntimeError("no etcd leader")

    def kill(self, member: EtcdMember) -> None:
        """SIGKILL one member (by its PID)."""
        assert member.proc is not None
        kill9(member.proc)

    def stop(self) -> None:
        for member in self.members:
            if member.proc is not None:
                stop_process(member.proc)
        for log in self._logs:
            log.close()


def start_etcd_cluster(base: Path, size: int) -> EtcdCluster:
    """Start `size` etcd members on free loopback ports under `base` and wait until healthy."""
    members = []
    for index in range(size):
        data_dir = base / f"member{index}"
        data_dir.mkdir(parents=True, mode=0o700)
        members.append(EtcdMember(f"m{index}", free_port(), free_port(), data_dir))
    cluster = EtcdCluster(members, base)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster
