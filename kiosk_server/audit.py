"""The audit trail: every accepted act and every refused attempt, written as it happens.

An accepted act is recorded inside the transaction that makes it; a refusal in a
transaction of its own, since the refused change was rolled back. Details never
hold item values or totals of an open round (see docs/protocol.md, "Hidden until close").
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from .storage import Store, utcnow


def record(
    db: sqlite_utils.Database, actor: str, action: str, disposition: str, **detail: Any
) -> None:
    """Append one audit line inside the caller's transaction."""
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


def record_refusal(store: Store, actor: str, action: str, code: str, **detail: Any) -> None:
    """Record a refused attempt on its own, after the attempt's transaction rolled back."""
    with store.write() as db:
        record(db, actor, action, "refused", code=code, **detail)
