"""`open_store(url, data_key=...)`: the one place a URL scheme becomes a backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final
from urllib.parse import urlsplit

from k3s_daas.nautilus.store.base import Store, StoreConfigError
from k3s_daas.nautilus.store.memory import MemoryStore
from k3s_daas.nautilus.store.sealed import SealedStore
from k3s_daas.nautilus.store.sqlite import SqliteStore


def _etcd(url: str) -> Store:
    """etcd's client is the `etcd` extra: imported only when a URL asks for it."""
    from k3s_daas.nautilus.store.etcd import EtcdStore

    return EtcdStore.from_url(url)


# scheme -> constructor from the full URL. A new backend is one line here.
BACKENDS: Final[dict[str, Callable[[str], Store]]] = {
    "sqlite": SqliteStore.from_url,
    "etcd": _etcd,
    "memory": MemoryStore.from_url,
}


def open_store(url: str, *, data_key: bytes | None = None) -> Store:
    """The backend named by `url`, sealed with `data_key` when given (the master always does).

    Synchronous and cheap: SQLite opens its file now, etcd connects on first use.
    """
    scheme = urlsplit(url).scheme.lower()
    backend = BACKENDS.get(scheme)
    if backend is None:
        raise StoreConfigError(
            f"unknown store URL scheme {scheme!r}: use one of {', '.join(sorted(BACKENDS))}"
        )
    store = backend(url)
    return store if data_key is None else SealedStore(store, data_key)
