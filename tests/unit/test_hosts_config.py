"""Configuration for several hosts: the names the master's certificate carries, the advertised
URL and SANs it accepts, and the etcd store URLs (DNS names, TLS files) it refuses in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from pydantic import ValidationError

from harness.certs import TestCA
from k3s_daas.kube.tls import ServerIdentity, certificate_names
from k3s_daas.nautilus.settings import NautilusSettings
from k3s_daas.nautilus.store import StoreConfigError
from k3s_daas.nautilus.store.etcd import EtcdStore
from k3s_daas.nautilus.store.etcd_client import parse_endpoints


def test_certificate_names_bind_address_sans_and_advertised_host() -> None:
    names, ips = certificate_names(
        "10.0.0.5", "https://Master.Example:8443", ["lb.example", "10.0.0.9", "10.0.0.5"]
    )
    assert names == ["localhost", "lb.example", "master.example"]
    assert ips == ["127.0.0.1", "10.0.0.5", "10.0.0.9"]
    assert certificate_names("0.0.0.0") == (["localhost"], ["127.0.0.1"])  # never a wildcard
    assert certificate_names("::", "https://[fd00::5]:8443")[1] == ["127.0.0.1", "fd00::5"]
    assert certificate_names("m1.lan")[0] == ["localhost", "m1.lan"]


def test_the_certificate_names_every_host(tmp_path: Path) -> None:
    names, ips = certificate_names("0.0.0.0", "https://m1.example:8443", ["m1"])
    identity = ServerIdentity.load_or_create(tmp_path, names, ips)
    cert = x509.load_pem_x509_certificate(identity.cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "m1.example", "m1"}
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    # a new SAN later re-issues the certificate from the same CA
    again = ServerIdentity.load_or_create(tmp_path, [*names, "m1.other"], ips)
    assert again.ca_pem == identity.ca_pem and again.cert_pem != identity.cert_pem


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("advertised_url", "http://m1.example:8443"),
        ("advertised_url", "https://m1.example:8443/api"),
        ("advertised_url", "https://:8443"),
        ("advertised_url", "https://m1.example:99999"),
        ("tls_san", ["bad name"]),
        ("tls_san", ["-x.example"]),
        ("host", "not a host"),
    ],
)
def test_bad_host_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        NautilusSettings.model_validate({field: value})


def test_good_host_settings() -> None:
    s = NautilusSettings(
        host="0.0.0.0", advertised_url="https://m1.example:8443/", tls_san=["*.lan", "fd00::1"]
    )
    assert s.advertised_url == "https://m1.example:8443"
    assert s.tls_san == ["*.lan", "fd00::1"]


def test_etcd_endpoints_take_names_and_addresses() -> None:
    assert parse_endpoints("e1.lan:2379,10.0.0.2:2379,[fd00::3]:2379") == [
        ("e1.lan", 2379), ("10.0.0.2", 2379), ("fd00::3", 2379),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("etcd://e1.lan", "host:port"),
        ("etcd://bad_host!:2379", "neither an IP nor a DNS name"),
        ("etcd://e1:2379?tls_cert=/x", "go together"),
        ("etcd://e1:2379?tls_ca=/does/not/exist", "tls_ca /does/not/exist"),
        ("etcd://e1:2379?tls=maybe", "true or false"),
        ("etcd://e1:2379?tls=false&tls_ca=/x", "contradicts"),
        ("etcd://e1:2379?ca=/x", "unknown etcd store options"),
        ("etcd://e1:2379?compact=-1", "compact must be 0"),
        ("etcd://e1:2379?compact=soon", "numbers of seconds"),
    ],
)
def test_bad_etcd_urls_are_one_line(url: str, message: str) -> None:
    with pytest.raises(StoreConfigError, match=message):
        EtcdStore.from_url(url)


def test_etcd_tls_url_reads_its_files(tmp_path: Path) -> None:
    ca = TestCA.create(tmp_path)
    client = ca.issue("client", ["master"])
    store = EtcdStore.from_url(
        f"etcd://e1.lan:2379,e2.lan:2379?tls_ca={ca.ca_path}"
        f"&tls_cert={client.cert}&tls_key={client.key}&timeout=1.5"
    )
    assert store.tls is not None and store.tls.ca == ca.ca_path.read_bytes()
    assert store.tls.cert == client.cert.read_bytes() and store.timeout == 1.5
    assert EtcdStore.from_url("etcd://e1.lan:2379?tls=true").tls is not None
    assert EtcdStore.from_url("etcd://e1.lan:2379").tls is None
    assert EtcdStore.from_url("etcd://e1.lan:2379").compact == 300.0
    assert EtcdStore.from_url("etcd://e1.lan:2379?compact=0").compact == 0.0
