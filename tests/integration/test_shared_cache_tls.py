"""The shared cache over `rediss://` with a password, against a real redis-server serving TLS
only (certificates made by the test, client certificates required): the master's URL carries the
password and the TLS files; a wrong password or no client certificate is a miss, never an error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.exceptions import AuthenticationError, ConnectionError

from harness.certs import CertFiles, TestCA
from harness.processes import free_port, port_open, stop_process, wait_for
from k3s_daas.nautilus.shared_cache import PREFIX, RedisSharedCache, open_shared_cache
from tests.conftest import require_tool

PASSWORD = "s3cret-" + os.urandom(4).hex()


@dataclass
class TlsRedis:
    port: int
    ca: Path
    client: CertFiles

    def url(self, password: str = PASSWORD, client_cert: bool = True) -> str:
        url = f"rediss://:{password}@localhost:{self.port}/0?ssl_ca_certs={self.ca}"
        if client_cert:
            url += f"&ssl_certfile={self.client.cert}&ssl_keyfile={self.client.key}"
        return url


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedis]:
    require_tool(shutil.which("redis-server") is not None, "redis-server")
    folder = tmp_path_factory.mktemp("redis-tls")
    ca = TestCA.create(folder / "pki")
    server = ca.issue("server", ["localhost"])
    port = free_port()
    log = (folder / "redis.log").open("wb")
    proc = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", "0", "--tls-port", str(port),
         "--tls-cert-file", str(server.cert), "--tls-key-file", str(server.key),
         "--tls-ca-cert-file", str(ca.ca_path), "--tls-auth-clients", "yes",
         "--requirepass", PASSWORD, "--dir", str(folder), "--save", "", "--appendonly", "no"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: port_open(port) or proc.poll() is not None, timeout=15)
        if proc.poll() is not None:  # a build without TLS refuses --tls-port
            log.close()
            pytest.fail(f"redis-server does not serve TLS: {(folder / 'redis.log').read_text()}")
        yield TlsRedis(port, ca.ca_path, ca.issue("client", ["k3s-daas-master"]))
    finally:
        stop_process(proc)
        log.close()


def _cache(url: str) -> RedisSharedCache:
    cache = open_shared_cache(url, os.urandom(32), ttl=5, timeout=2)
    assert isinstance(cache, RedisSharedCache)
    return cache


async def test_rediss_with_password_and_client_certificate(tls_redis: TlsRedis) -> None:
    cache = _cache(tls_redis.url())
    try:
        assert await cache.client.ping()
        token_id = "0x" + os.urandom(32).hex()
        await cache.forget_token(token_id)  # a tombstone: written over TLS
        assert await cache.client.get(PREFIX + "t:" + token_id) is not None
        assert await cache.get("ab" * 32) is None  # a plain miss
        assert cache._available()  # no failure recorded
    finally:
        await cache.close()


async def test_wrong_password_or_no_client_certificate_is_refused(tls_redis: TlsRedis) -> None:
    for url, error in (
        (tls_redis.url(password="wrong"), AuthenticationError),
        (tls_redis.url(client_cert=False), ConnectionError),
    ):
        cache = _cache(url)
        try:
            with pytest.raises(error):
                await cache.client.ping()
            assert await cache.get("cd" * 32) is None  # the validator sees a miss
            assert not cache._available()  # and asks the chain for a while
        finally:
            await cache.close()
