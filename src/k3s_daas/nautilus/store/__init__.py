"""The master's state: one async `Store` protocol over SQLite, etcd or memory, sealed at rest.

`open_store("sqlite:///...", data_key=enclave.data_key())` is the entry point; see
docs/storage.md for URLs, the sealing format and the audit log that lives in the store.
`EtcdStore` (store/etcd.py) needs the `etcd` extra and is imported only when a URL names it.
"""

from k3s_daas.nautilus.store.base import (
    Entry,
    Store,
    StoreClosedError,
    StoreConfigError,
    StoreError,
    StoreIntegrityError,
    StoreUnavailableError,
    WatchEvent,
    WatchStream,
    put_if_absent,
)
from k3s_daas.nautilus.store.factory import BACKENDS, open_store
from k3s_daas.nautilus.store.memory import MemoryStore
from k3s_daas.nautilus.store.sealed import SealedStore, Sealer
from k3s_daas.nautilus.store.sqlite import SqliteStore
from k3s_daas.nautilus.store.view import BytesStore

__all__ = [
    "BACKENDS",
    "BytesStore",
    "Entry",
    "MemoryStore",
    "SealedStore",
    "Sealer",
    "SqliteStore",
    "Store",
    "StoreClosedError",
    "StoreConfigError",
    "StoreError",
    "StoreIntegrityError",
    "StoreUnavailableError",
    "WatchEvent",
    "WatchStream",
    "open_store",
    "put_if_absent",
]
