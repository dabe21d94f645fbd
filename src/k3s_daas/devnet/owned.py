"""ListOwnedObjects answered the way a Sui full node answers it.

- `object_type` is parsed as a full StructTag. A parse failure is INVALID_ARGUMENT
  `invalid object_type: ...`. A tag without type parameters matches every instantiation; one
  with parameters matches exactly. There is no module or prefix matching.
- `page_size` defaults to 50 and is clamped to [1, 1000] (0 becomes 1). A page also ends once its
  encoded objects reach 512 KiB; the object that crosses the limit is still included.
- The order is Sui's owner index: type, then inverted balance (coins of one type come largest
  first), then object id. The page token names the next object together with the owner and the
  filter; a token used with another owner or filter is INVALID_ARGUMENT `invalid page_token`.
- The default read mask is `object_id,version,object_type`.
"""

from __future__ import annotations

import json
from typing import Any, Final

from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.devnet.convert import parse_address
from k3s_daas.devnet.errors import BadRequest
from k3s_daas.devnet.ledger import Ledger, ObjectRow, OwnedCursor
from k3s_daas.devnet.objects import coin_balance
from k3s_daas.devnet.render import ObjectRenderer, parse_mask
from k3s_daas.seal.encoding import canonical_json
from k3s_daas.seal.sui import StructTag, parse_struct_tag

DEFAULT_PAGE: Final = 50
MAX_PAGE: Final = 1000
#: A page stops once its objects' encoded size reaches this (the last one may cross it).
MAX_PAGE_BYTES: Final = 512 * 1024
DEFAULT_MASK: Final = ["object_id", "version", "object_type"]
_TOKEN_PREFIX: Final = b"k3s-daas/owned/v2:"


def _filter(text: str | None) -> StructTag | None:
    if text is None:
        return None
    try:
        return parse_struct_tag(text)
    except ValueError as exc:
        raise BadRequest(f"invalid object_type: {exc}") from None


def _encode_token(owner: str, tag: StructTag | None, row: ObjectRow) -> bytes:
    cursor = [row.obj.type, coin_balance(row.obj), row.obj.object_id]
    body = {"owner": owner, "object_type": None if tag is None else str(tag), "cursor": cursor}
    return _TOKEN_PREFIX + canonical_json(body)


def _decode_token(token: bytes, owner: str, tag: StructTag | None) -> OwnedCursor:
    """The cursor in a token this server issued for the same owner and filter."""
    try:
        if not token.startswith(_TOKEN_PREFIX):
            raise ValueError("foreign token")
        body: Any = json.loads(token[len(_TOKEN_PREFIX) :])
        type_, balance, object_id = body["cursor"]
        same = body["owner"] == owner and body["object_type"] == (None if tag is None else str(tag))
        if not same or not isinstance(type_, str) or not isinstance(object_id, str):
            raise ValueError("token for another query")
        if balance is not None and (isinstance(balance, bool) or not isinstance(balance, int)):
            raise ValueError("bad balance")
    except (ValueError, KeyError, TypeError):
        raise BadRequest("invalid page_token") from None
    return OwnedCursor(type_, balance, object_id)


def list_owned_page(
    request: v2.ListOwnedObjectsRequest, ledger: Ledger, renderer: ObjectRenderer
) -> tuple[list[v2.Object], bytes | None]:
    """One page of `request.owner`'s objects and the token of the next page (None: last)."""
    owner = parse_address(request.owner, "owner")
    tag = _filter(request.object_type)
    size = DEFAULT_PAGE if request.page_size is None else max(1, min(request.page_size, MAX_PAGE))
    cursor = (
        None if request.page_token is None else _decode_token(bytes(request.page_token), owner, tag)
    )
    tree = parse_mask(request.read_mask, v2.Object, DEFAULT_MASK)
    base, exact = (None, None) if tag is None else (tag.base, str(tag) if tag.type_params else None)
    rows = ledger.list_owned(owner, base, exact, cursor, size + 1)
    objects: list[v2.Object] = []
    used = 0
    for row in rows:
        rendered = renderer.render(row, tree)
        objects.append(rendered)
        used += len(bytes(rendered))
        if len(objects) >= size or used >= MAX_PAGE_BYTES:
            break
    following = rows[len(objects)] if len(rows) > len(objects) else None
    return objects, None if following is None else _encode_token(owner, tag, following)


__all__ = ["DEFAULT_MASK", "DEFAULT_PAGE", "MAX_PAGE", "MAX_PAGE_BYTES", "list_owned_page"]
