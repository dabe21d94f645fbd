"""Object bookkeeping in the ledger: the live version of each object, every version ever
written (with its digest, its Move struct's BCS and Sui's `Object` BCS), owned-object and
balance queries, and `Table` entries."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from k3s_daas.chain.certified import MoveObject, digest_to_base58, object_digest
from k3s_daas.devnet.effects import TableChange
from k3s_daas.devnet.ledger.records import ObjectRow, OwnedCursor
from k3s_daas.devnet.ledger.store import SqliteStore
from k3s_daas.devnet.objects import StoredObject, coin_balance, owner_from_json, owner_to_json
from k3s_daas.seal.encoding import canonical_json
from k3s_daas.seal.sui import COIN_SUI_TYPE, SUI_FRAMEWORK

_LIVE_BCS = (
    "SELECT v.object_id, v.version, v.digest, v.object_bcs FROM objects o JOIN object_versions v "
    "ON v.object_id = o.object_id AND v.version = o.version WHERE o.object_id IN "
)
#: Ids per `IN (...)` query (SQLite's oldest variable limit is 999).
_IN_CHUNK = 500

_LIVE = (
    "SELECT v.* FROM objects o JOIN object_versions v "
    "ON v.object_id = o.object_id AND v.version = o.version "
)


#: Sui's `inverted_balance` as a sort key: objects without a balance first, then coins from the
#: largest balance down.
_INVERTED = "COALESCE(-o.balance, -9223372036854775807 - 1)"


def _inverted(balance: int | None) -> int:
    return -(2**63) if balance is None else -balance


def _object_from(row: sqlite3.Row) -> ObjectRow:
    obj = StoredObject(
        object_id=row["object_id"],
        version=int(row["version"]),
        owner=owner_from_json(json.loads(row["owner"])),
        type=row["type"],
        fields=json.loads(row["fields"]),
        previous_transaction=row["previous_transaction"],
    )
    return ObjectRow(
        obj=obj, digest=row["digest"], bcs=bytes(row["bcs"]), object_bcs=bytes(row["object_bcs"])
    )


class ObjectStore(SqliteStore):
    """Objects and table entries; `get_object` and `table_get` serve the executor's view."""

    def get_object(self, object_id: str) -> StoredObject | None:
        row = self.object_row(object_id)
        return None if row is None else row.obj

    def object_row(self, object_id: str, version: int | None = None) -> ObjectRow | None:
        """The live version (None if absent or deleted), or an exact historical version."""
        with self._lock:
            if version is None:
                row = self._conn.execute(_LIVE + "WHERE o.object_id = ?", (object_id,)).fetchone()
            else:
                row = self._conn.execute(
                    "SELECT * FROM object_versions WHERE object_id = ? AND version = ?",
                    (object_id, version),
                ).fetchone()
        return None if row is None else _object_from(row)

    def live_object_bcs(self, object_ids: list[str]) -> dict[str, tuple[int, str, bytes]]:
        """(version, digest, `Object` BCS) of each live object among `object_ids`, in one
        query (what a verifying reader asks for; nothing decoded)."""
        rows: list[sqlite3.Row] = []
        with self._lock:
            for start in range(0, len(object_ids), _IN_CHUNK):
                chunk = object_ids[start : start + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))  # placeholders only: ids are bound
                rows += self._conn.execute(_LIVE_BCS + f"({marks})", chunk).fetchall()
        return {row[0]: (int(row[1]), row[2], bytes(row[3])) for row in rows}

    def list_owned(
        self,
        owner: str,
        base: str | None,
        exact: str | None,
        cursor: OwnedCursor | None,
        limit: int,
    ) -> list[ObjectRow]:
        """Live objects owned by `owner` in Sui's owner-index order (type, inverted balance,
        object id), from `cursor` on (inclusive).

        `exact` (a full type with parameters) matches that type only; else `base`
        (`0x2::coin::Coin`) matches every instantiation of the struct.
        """
        sql = _LIVE + "WHERE o.owner_address = ?"
        args: list[Any] = [owner]
        if exact is not None:
            sql += " AND o.type = ?"
            args.append(exact)
        elif base is not None:
            sql += " AND (o.type = ? OR substr(o.type, 1, ?) = ?)"
            args += [base, len(base) + 1, base + "<"]
        if cursor is not None:
            key = _inverted(cursor.balance)
            sql += (
                f" AND (o.type > ? OR (o.type = ? AND {_INVERTED} > ?)"
                f" OR (o.type = ? AND {_INVERTED} = ? AND o.object_id >= ?))"
            )
            args += [cursor.type, cursor.type, key, cursor.type, key, cursor.object_id]
        sql += f" ORDER BY o.type, {_INVERTED}, o.object_id LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [_object_from(r) for r in rows]

    def balance(self, owner: str, coin_type: str) -> tuple[int, int]:
        """(total MIST, number of coins) of `Coin<coin_type>` objects owned by `owner`."""
        with self._lock:
            row = self._conn.execute(
                "SELECT COALESCE(SUM(balance), 0), COUNT(*) FROM objects "
                "WHERE owner_address = ? AND type = ?",
                (owner, f"{SUI_FRAMEWORK}::coin::Coin<{coin_type}>"),
            ).fetchone()
        return int(row[0]), int(row[1])

    def coins_of(self, owner: str, exclude: set[str], limit: int = 256) -> list[ObjectRow]:
        """The owner's SUI coins, richest first: gas selection for SimulateTransaction."""
        with self._lock:
            ids = [
                str(r[0])
                for r in self._conn.execute(
                    "SELECT object_id FROM objects WHERE owner_address = ? AND type = ? "
                    "ORDER BY balance DESC LIMIT ?",
                    (owner, COIN_SUI_TYPE, limit + len(exclude)),
                ).fetchall()
            ]
        rows = [self.object_row(i) for i in ids if i not in exclude]
        return [r for r in rows if r is not None][:limit]

    def table_get(self, table_id: str, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM table_entries WHERE table_id = ? AND key = ?", (table_id, key)
            ).fetchone()
        return None if row is None else str(row[0])

    def table_entries(self, table_id: str, after: str | None, limit: int) -> list[tuple[str, str]]:
        """(key, value) of a `Table<String, ID>` in key order, after `after` (paging)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, value FROM table_entries WHERE table_id = ? AND key > ? "
                "ORDER BY key LIMIT ?",
                (table_id, after or "", limit),
            ).fetchall()
        return [(str(k), str(v)) for k, v in rows]

    # -- writes, inside the caller's SQLite transaction ---------------------------------------
    @staticmethod
    def _write_objects(
        conn: sqlite3.Connection, written: Iterable[StoredObject], deleted: Iterable[str]
    ) -> None:
        """Record new versions (which become the live ones) and drop deleted objects."""
        for obj in written:
            owner = owner_to_json(obj.owner)
            sui = obj.sui_object()
            object_bcs = sui.encode()
            conn.execute(
                "INSERT OR REPLACE INTO object_versions (object_id, version, owner, type, fields, "
                "previous_transaction, digest, bcs, object_bcs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    obj.object_id,
                    obj.version,
                    canonical_json(owner).decode(),
                    obj.type,
                    canonical_json(obj.fields).decode(),
                    obj.previous_transaction,
                    digest_to_base58(object_digest(object_bcs)),
                    sui.data.contents if isinstance(sui.data, MoveObject) else obj.bcs(),
                    object_bcs,
                ),
            )
            conn.execute(
                "INSERT OR REPLACE INTO objects (object_id, version, owner_address, type, balance) "
                "VALUES (?, ?, ?, ?, ?)",
                (obj.object_id, obj.version, owner.get("address"), obj.type, coin_balance(obj)),
            )
        for object_id in deleted:
            conn.execute("DELETE FROM objects WHERE object_id = ?", (object_id,))

    @staticmethod
    def _write_tables(conn: sqlite3.Connection, changes: Iterable[TableChange]) -> None:
        for change in changes:
            if change.value is None:
                conn.execute(
                    "DELETE FROM table_entries WHERE table_id = ? AND key = ?",
                    (change.table_id, change.key),
                )
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO table_entries (table_id, key, value) VALUES (?, ?, ?)",
                    (change.table_id, change.key, change.value),
                )
