"""The shapes that are hashed and signed: log leaves, tree heads, sealed score sheets.

Terms:
- *leaf*: one consequential event of an event's log, the canonical JSON of
  ``{"seq", "time", "type", "actor", "disposition", "data"}`` (the shape election
  event logs use); ``seq`` is its 0-based index in the tree.
- *signed head*: the server's envelope over ``{"type": "tree_head", "event", "size",
  "root", "time"}``.
- *commitment*: SHA-256 (hex) of the canonical JSON of a score sheet's *opening*
  fields plus a random salt (``COMMITTED_FIELDS``). Sent, signed, before the round
  closes; the opening itself only after. The server never holds a value early.
- *rubric version*: SHA-256 (hex) of the canonical rubric, binding a sheet to the
  exact items, bounds and steps it was scored against.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from .signing import canonical, sha256_hex

COMMITTED_FIELDS = (
    "event",
    "room",
    "round",
    "draw_number",
    "seat",
    "rubric",
    "items",
    "total",
    "salt",
)
BOUND_FIELDS = ("event", "room", "round", "draw_number", "seat", "rubric")


def leaf(
    seq: int, time: str, type_: str, actor: str, disposition: str, data: Mapping[str, Any]
) -> bytes:
    """The canonical bytes of one log leaf."""
    return canonical(
        {
            "seq": seq,
            "time": time,
            "type": type_,
            "actor": actor,
            "disposition": disposition,
            "data": dict(data),
        }
    )


def head_body(event: int, size: int, root: bytes, time: str) -> dict[str, Any]:
    return {"type": "tree_head", "event": event, "size": size, "root": root.hex(), "time": time}


def commitment(fields: Mapping[str, Any]) -> str:
    """The commitment to an opening: SHA-256 of the committed fields, canonical JSON."""
    return sha256_hex(canonical({k: fields[k] for k in COMMITTED_FIELDS}))


def rubric_version(items: Sequence[Mapping[str, Any]]) -> str:
    """Hash of the rubric as ``[{"code", "max", "step"}, …]`` with decimal strings."""
    return sha256_hex(
        canonical(
            [
                {
                    "code": i["code"],
                    "max": str(Decimal(str(i["max"]))),
                    "step": str(Decimal(str(i["step"]))),
                }
                for i in items
            ]
        )
    )


def receipt_code(leaf_hash: bytes) -> str:
    """What a tablet shows for a logged sheet: the leaf hash's first 8 hex, in two groups."""
    text = leaf_hash.hex()[:8]
    return f"{text[:4]}-{text[4:]}"


def receipt_holds(server_key: Any, receipt: Mapping[str, Any], envelope: Mapping[str, Any]) -> bool:
    """Whether a receipt proves ``envelope`` is in the log: the head is signed by the
    server, the entry holds the envelope, and the inclusion proof leads to the head."""
    from .merkle import leaf_hash, verify_inclusion
    from .signing import verify

    try:
        head = verify(server_key, receipt["head"])
        entry = receipt["entry"].encode("utf-8")
        logged = json.loads(entry)
        if logged["data"].get("envelope") != envelope or logged["seq"] != receipt["leaf"]:
            return False
        proof = [bytes.fromhex(p) for p in receipt["proof"]]
        return verify_inclusion(
            leaf_hash(entry), receipt["leaf"], head["size"], proof, bytes.fromhex(head["root"])
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
