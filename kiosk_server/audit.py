"""Recording every accepted act and every refused attempt, as it happens.

Acts that belong to an event go into that event's tamper-evident log (a Merkle leaf,
see ``evidence``); instance-wide acts (sign-in, password) and refusals of unknown
visitors go into the plain ``audit`` table. An accepted act is recorded inside the
transaction that makes it; a refusal in a transaction of its own, since the refused
change was rolled back. Nothing recorded holds a score before its round closes.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from .evidence import append
from .storage import Store, utcnow


def record(
    db: sqlite_utils.Database,
    actor: str,
    action: str,
    disposition: str,
    event: int | None = None,
    **detail: Any,
) -> int | None:
    """Append one record inside the caller's transaction: a log leaf (returns its index)
    when it belongs to an event, else an audit line."""
    if event is not None:
        return append(db, event, action, actor, disposition, detail)[0]
    db.execute(
        "INSERT INTO audit(at, actor, action, disposition, detail) VALUES (?, ?, ?, ?, ?)",
        [
            utcnow(),
            actor,
            action,
            disposition,
            json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str),
        ],
    )


def record_refusal(
    store: Store, actor: str, action: str, code: str, event: int | None = None, **detail: Any
) -> None:
    """Record a refused attempt on its own, after the attempt's transaction rolled back."""
    with store.write() as db:
        record(db, actor, action, "refused", event=event, code=code, **detail)
