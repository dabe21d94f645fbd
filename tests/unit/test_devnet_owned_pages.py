"""ListOwnedObjects pages as on Sui (state_service/list_owned_objects.rs): a page ends once its
encoded objects reach 512 KiB, the object that crosses the limit included, and the token names
the next object; `page_size` defaults to 50 and is clamped to [1, 1000]."""

from __future__ import annotations

from typing import Any, cast

import pytest
from pysui.sui.sui_grpc.suimsgs.google.protobuf import FieldMask
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.devnet.errors import BadRequest
from k3s_daas.devnet.ledger import Ledger, ObjectRow, OwnedCursor
from k3s_daas.devnet.objects import AddressOwner, StoredObject
from k3s_daas.devnet.owned import MAX_PAGE_BYTES, list_owned_page
from k3s_daas.devnet.render import ObjectRenderer

OWNER = "0x" + "0a" * 32
TYPE = "0x" + "0d" * 32 + "::blob::Blob"


def row(i: int, size: int) -> ObjectRow:
    object_id = "0x" + f"{i:064x}"
    obj = StoredObject(object_id, 1, AddressOwner(OWNER), TYPE, {"id": object_id}, "1" * 32)
    return ObjectRow(obj=obj, digest="1" * 32, bcs=b"\x07" * size, object_bcs=b"\x07" * size)


class Rows:
    """The ledger's owner index, in order, for one owner."""

    def __init__(self, rows: list[ObjectRow]) -> None:
        self.rows = rows
        self.asked: list[tuple[OwnedCursor | None, int]] = []

    def list_owned(
        self, owner: str, base: str | None, exact: str | None, cursor: Any, limit: int
    ) -> list[ObjectRow]:
        self.asked.append((cursor, limit))
        start = (
            0 if cursor is None else [r.obj.object_id for r in self.rows].index(cursor.object_id)
        )
        return self.rows[start : start + limit]


def page(rows: Rows, **kw: Any) -> tuple[list[v2.Object], bytes | None]:
    request = v2.ListOwnedObjectsRequest(owner=OWNER, **kw)
    return list_owned_page(request, cast(Ledger, rows), ObjectRenderer())


def test_a_page_stops_after_the_object_that_crosses_512_kib() -> None:
    big = 200 * 1024  # `bcs` and `contents` each carry it: ~400 KiB per object
    rows = Rows([row(i, big) for i in range(5)])
    everything = FieldMask(paths=["*"])
    first, token = page(rows, read_mask=everything)
    assert len(first) == 2  # 1st: ~400 KiB, 2nd crosses 512 KiB and is still included
    assert sum(len(bytes(o)) for o in first[:1]) < MAX_PAGE_BYTES
    assert sum(len(bytes(o)) for o in first) >= MAX_PAGE_BYTES
    assert token is not None
    second, token = page(rows, read_mask=everything, page_token=token)
    assert [o.object_id for o in second] == [rows.rows[2].obj.object_id, rows.rows[3].obj.object_id]
    third, token = page(rows, read_mask=everything, page_token=token)
    assert [o.object_id for o in third] == [rows.rows[4].obj.object_id]
    assert token is None
    # the default mask (id, version, type) is small: the same objects fit one page
    small, token = page(rows)
    assert len(small) == 5
    assert token is None
    assert small[0].bcs is None
    assert small[0].object_type == TYPE


@pytest.mark.parametrize(("asked", "served"), [(None, 50), (0, 1), (7, 7), (5000, 1000)])
def test_page_size_default_and_clamp(asked: int | None, served: int) -> None:
    rows = Rows([row(i, 1) for i in range(1200)])
    objects, token = page(rows, page_size=asked)
    assert len(objects) == served
    assert token is not None
    assert rows.asked[-1] == (None, served + 1)  # one more, to know whether a next page exists


def test_a_token_is_bound_to_its_owner_and_filter() -> None:
    rows = Rows([row(i, 1) for i in range(3)])
    _, token = page(rows, page_size=1)
    assert token is not None
    for kw in ({"object_type": TYPE}, {"object_type": "0x2::coin::Coin"}):
        with pytest.raises(BadRequest) as err:
            page(rows, page_token=token, **kw)
        assert err.value.message == "invalid page_token"
    with pytest.raises(BadRequest) as err:
        page(rows, object_type="0x2::coin")
    assert err.value.message.startswith("invalid object_type: ")
