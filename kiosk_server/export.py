"""``kiosk export``: an event's evidence bundle, written from its log (docs/bundle-format.md)."""

from __future__ import annotations

import json

from seal.bundle import jsonl, manifest, pack
from seal.signing import public_key_text
from seal.verify import replay

from .audit import record
from .evidence import sign_head
from .interview import event_row
from .storage import Store


class ExportFault(RuntimeError):
    """The event's own log does not re-derive cleanly: a bug to report, never to hide."""


def export_bundle(store: Store, event_id: int, actor: str = "cli") -> bytes:
    """Log the export, sign a head over everything, and pack the bundle, all in one
    transaction so nothing slips in between the last head and the files."""
    with store.write() as db:
        event = event_row(db, event_id)
        record(db, actor, "export", "accepted", event=event_id)
        sign_head(store, db, event_id)
        log_lines = [
            r["data"]
            for r in db.query(
                "SELECT data FROM log_leaf WHERE event_id = ? ORDER BY idx", [event_id]
            )
        ]
        heads = [
            json.loads(r["envelope"])
            for r in db.query(
                "SELECT envelope FROM tree_head WHERE event_id = ? ORDER BY id", [event_id]
            )
        ]
    state = replay([json.loads(line) for line in log_lines], event_id)
    if state.failures:
        raise ExportFault("; ".join(state.failures[:5]))
    files = state.derived(event_id)
    files["log.jsonl"] = "".join(line + "\n" for line in log_lines).encode("utf-8")
    files["heads.jsonl"] = jsonl(heads)
    files["bundle.json"] = manifest(
        files, event_id, public_key_text(store.server_key), bool(event["is_rehearsal"])
    )
    return pack(files)
