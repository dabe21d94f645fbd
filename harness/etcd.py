"""Real etcd members: one, or a cluster started together, on loopback or spread over network
namespaces, over plaintext or TLS.

`start_etcd_cluster(base, size)` starts `size` members under `base` and waits until all are
healthy; `EtcdCluster.url` is the product's `etcd://` store URL; members are stopped by PID;
`kill(member)` and `restart(*members)` take members down and bring them back (quorum faults).
A member may carry `host` (the name it advertises), `listen` (the address it binds), `prefix`
(`ip netns exec NAME`: health is then probed from inside) and `cert` (its server certificate:
clients use https and the cluster's `tls` CA and client certificate).
"""

from __future__ import annotations

import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from harness.certs import CertFiles
from harness.probe import probe
from harness.processes import free_port, kill9, stop_process, wait_for


@dataclass(frozen=True)
class EtcdTls:
    """What clients need for a TLS etcd: the CA and a client certificate."""

    ca: Path
    client: CertFiles

    def query(self) -> str:
        return f"?tls_ca={self.ca}&tls_cert={self.client.cert}&tls_key={self.client.key}"


@dataclass
class EtcdMember:
    """One etcd process: its name, loopback ports, data dir and process."""

    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    host: str = "127.0.0.1"
    listen: str = "127.0.0.1"
    prefix: tuple[str, ...] = ()
    cert: CertFiles | None = None
    tls: EtcdTls | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.client_port}"

    @property
    def client_url(self) -> str:
        return f"{'https' if self.cert else 'http'}://{self.endpoint}"

    @property
    def listen_client_url(self) -> str:
        return f"{'https' if self.cert else 'http'}://{self.listen}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.host}:{self.peer_port}"

    def _httpx(self) -> dict[str, Any]:
        if self.tls is None:
            return {}
        context = ssl.create_default_context(cafile=str(self.tls.ca))
        context.load_cert_chain(self.tls.client.cert, self.tls.client.key)
        return {"verify": context}

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def status(self) -> dict[str, Any]:
        """The member's /v3/maintenance/status (grpc-gateway JSON): member_id and leader."""
        answer = httpx.post(
            self.client_url + "/v3/maintenance/status", content=b"{}", timeout=2, **self._httpx()
        )
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def healthy(self) -> bool:
        if self.prefix:  # another namespace: ask from inside it
            tls = self.tls
            status, body = probe(
                self.prefix, self.client_url + "/health", ca=tls.ca if tls else None,
                cert=(tls.client.cert, tls.client.key) if tls else None, timeout=1,
            )  # fmt: skip
            return status == 200 and isinstance(body, dict) and body.get("health") == "true"
        try:
            answer = httpx.get(self.client_url + "/health", timeout=1, **self._httpx())
            return bool(answer.json().get("health") == "true")
        except (httpx.HTTPError, ValueError):
            return False


@dataclass
class EtcdCluster:
    """A set of etcd members started together; `url` is the product's `etcd://` store URL."""

    members: list[EtcdMember]
    log_dir: Path
    tls: EtcdTls | None = None
    _logs: list[IO[bytes]] = field(default_factory=list)

    def _url(self, members: list[EtcdMember]) -> str:
        query = self.tls.query() if self.tls else ""
        return "etcd://" + ",".join(m.endpoint for m in members) + query

    @property
    def url(self) -> str:
        return self._url([m for m in self.members if m.alive()] or self.members)

    @property
    def all_url(self) -> str:
        return self._url(self.members)

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
            "--listen-client-urls": member.listen_client_url,
            "--advertise-client-urls": member.client_url,
            "--listen-peer-urls": f"http://{member.listen}:{member.peer_port}",
            "--initial-advertise-peer-urls": member.peer_url,
            "--initial-cluster": initial,
            "--initial-cluster-state": "new",
            "--initial-cluster-token": f"t{self.members[0].client_port}",
        }
        if member.cert is not None and self.tls is not None:
            flags |= {
                "--cert-file": str(member.cert.cert),
                "--key-file": str(member.cert.key),
                "--trusted-ca-file": str(self.tls.ca),
            }
        argv = [*member.prefix, "etcd", *(part for pair in flags.items() for part in pair)]
        if member.cert is not None:
            argv.append("--client-cert-auth")
        member.proc = subprocess.Popen(
            argv,
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


def start_etcd_cluster(
    base: Path, size: int, *, tls: EtcdTls | None = None,
    certs: list[CertFiles] | None = None, hosts: list[str] | None = None,
) -> EtcdCluster:  # fmt: skip
    """Start `size` etcd members on free loopback ports under `base` and wait until healthy;
    with `tls`, member i serves `certs[i]` under the name `hosts[i]` and asks for client certs."""
    members = []
    for index in range(size):
        data_dir = base / f"member{index}"
        data_dir.mkdir(parents=True, mode=0o700)
        member = EtcdMember(f"m{index}", free_port(), free_port(), data_dir)
        if tls is not None and certs is not None:
            member.cert, member.tls = certs[index], tls
        if hosts is not None:
            member.host = hosts[index]
        members.append(member)
    cluster = EtcdCluster(members, base, tls=tls)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster
