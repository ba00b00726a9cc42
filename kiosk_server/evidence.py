"""The event's tamper-evident log in SQLite: leaves appended inside the transaction they
record, signed tree heads, receipts with inclusion proofs, consistency proofs.

The Merkle tree itself is ``seal.merkle``; here it is cached per event on the Store and
re-synchronised from the database whenever its size differs (e.g. after a rollback).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from seal.merkle import Tree, leaf_hash
from seal.record import head_body, leaf
from seal.signing import canonical, sign

from .storage import Store, utcnow

HEAD_INTERVAL_S = 60
# A receipt gets a freshly signed head unless one was signed this recently; then the ack
# says "pending" and the tablet fetches the receipt a moment later. Heads thus grow with
# time, not with traffic, and a verifier checks thousands of signatures, not tens of
# thousands, for a big exam day (docs/threat-model.md, "Receipts").
RECEIPT_HEAD_INTERVAL_S = 1.0


def append(
    db: sqlite_utils.Database,
    event_id: int,
    type_: str,
    actor: str,
    disposition: str,
    data: dict[str, Any],
) -> tuple[int, bytes]:
    """Append one leaf in the caller's transaction; returns (index, leaf bytes)."""
    row = next(
        iter(
            db.query(
                "SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM log_leaf WHERE event_id = ?", [event_id]
            )
        )
    )
    index = int(row["n"])
    data_bytes = leaf(index, utcnow(), type_, actor, disposition, data)
    db.execute(
        "INSERT INTO log_leaf(event_id, idx, type, data, hash) VALUES (?, ?, ?, ?, ?)",
        [event_id, index, type_, data_bytes.decode("utf-8"), leaf_hash(data_bytes)],
    )
    return index, data_bytes


def tree(store: Store, db: sqlite_utils.Database, event_id: int) -> Tree:
    """The event's tree, in step with the database as this transaction sees it."""
    # Leaves are numbered 0, 1, 2, … with no gap and never deleted, so the size is the
    # last index + 1: one step down the primary key, where COUNT(*) read every leaf.
    count = int(
        next(
            iter(
                db.query(
                    "SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM log_leaf WHERE event_id = ?",
                    [event_id],
                )
            )
        )["n"]
    )
    cached = store.trees.get(event_id)
    if cached is None or cached.size > count:
        cached = Tree()
        store.trees[event_id] = cached
    if cached.size < count:
        for r in db.query(
            "SELECT hash FROM log_leaf WHERE event_id = ? AND idx >= ? ORDER BY idx",
            [event_id, cached.size],
        ):
            cached.append_hash(bytes(r["hash"]))
    return cached


def sign_head(store: Store, db: sqlite_utils.Database, event_id: int) -> dict[str, Any]:
    """Sign and keep a head over the whole log as it stands in this transaction."""
    current = tree(store, db, event_id)
    body = head_body(event_id, current.size, current.root(), utcnow())
    envelope = sign(store.server_key, body)
    db.execute(
        "INSERT INTO tree_head(event_id, size, root, time, envelope) VALUES (?, ?, ?, ?, ?)",
        [event_id, body["size"], body["root"], body["time"], canonical(envelope).decode("utf-8")],
    )
    return envelope


def receipt(
    store: Store,
    db: sqlite_utils.Database,
    event_id: int,
    index: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The leaf, a signed head covering it, and the inclusion proof between them; or, when
    a head was signed less than a second ago, the leaf marked ``pending``."""
    last = next(
        iter(
            db.query(
                "SELECT size, time, envelope FROM tree_head WHERE event_id = ?"
                " ORDER BY id DESC LIMIT 1",
                [event_id],
            )
        ),
        None,
    )
    entry = next(
        iter(
            db.query("SELECT data FROM log_leaf WHERE event_id = ? AND idx = ?", [event_id, index])
        )
    )["data"]
    if last is not None and last["size"] > index:
        head = json.loads(last["envelope"])
    elif last is None or _age(last["time"], now) >= RECEIPT_HEAD_INTERVAL_S:
        head = sign_head(store, db, event_id)
    else:
        return {"leaf": index, "entry": entry, "pending": True}
    proof = tree(store, db, event_id).inclusion_proof(index, head["body"]["size"])
    return {"leaf": index, "entry": entry, "head": head, "proof": [p.hex() for p in proof]}


def receipt_now(store: Store, event_id: int, index: int) -> dict[str, Any]:
    """A complete receipt for a pending one: signs a head if none covers the leaf yet."""
    with store.write() as db:
        covered = next(
            iter(db.query("SELECT MAX(size) AS n FROM tree_head WHERE event_id = ?", [event_id]))
        )["n"]
        if covered is None or covered <= index:
            sign_head(store, db, event_id)
        return receipt(store, db, event_id, index)


def _age(time: str, now: datetime | None = None) -> float:
    then = datetime.fromisoformat(time.replace("Z", "+00:00"))
    return ((now or datetime.now(UTC)) - then).total_seconds()


def latest_head(store: Store, event_id: int) -> dict[str, Any] | None:
    found = store.row(
        "SELECT envelope FROM tree_head WHERE event_id = ? ORDER BY id DESC LIMIT 1", [event_id]
    )
    return None if found is None else json.loads(found["envelope"])


def heartbeat(store: Store, event_id: int, now: datetime | None = None) -> dict[str, Any] | None:
    """Sign a head if the log grew and the last head is a minute old (or there is none)."""
    now = now or datetime.now(UTC)
    with store.write() as db:
        size = tree(store, db, event_id).size
        last = next(
            iter(
                db.query(
                    "SELECT size, time FROM tree_head WHERE event_id = ? ORDER BY id DESC LIMIT 1",
                    [event_id],
                )
            ),
            None,
        )
        if last is not None:
            if last["size"] >= size or _age(last["time"], now) < HEAD_INTERVAL_S:
                return None
        elif size == 0:
            return None
        return sign_head(store, db, event_id)


def consistency(store: Store, event_id: int, first: int, second: int) -> list[str]:
    with store.read() as db:
        return [p.hex() for p in tree(store, db, event_id).consistency_proof(first, second)]
