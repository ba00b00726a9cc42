"""Creating an event: the one row every room, candidate and score belongs to."""

from __future__ import annotations

from seal.signing import public_key_text

from .audit import record
from .storage import Store, utcnow


def create_event(store: Store, name: str, rehearsal: bool = False, threshold: int = 5) -> int:
    """A new event; a rehearsal is flagged so nothing mistakes it for the real one."""
    if not name.strip() or len(name) > 120:
        raise ValueError("an event needs a name of 1 to 120 characters")
    if not 3 <= threshold <= 30:
        raise ValueError("the drop-highest-and-lowest threshold must be 3 to 30 raters")
    with store.write() as db:
        cursor = db.execute(
            "INSERT INTO event(name, is_rehearsal, drop_threshold, created_at) VALUES (?, ?, ?, ?)",
            [name.strip(), int(rehearsal), threshold, utcnow()],
        )
        event_id = int(cursor.lastrowid or 0)
        # The first leaf binds the event's identity and the server key that signs its heads.
        record(
            db,
            "cli",
            "event_created",
            "accepted",
            event=event_id,
            name=name.strip(),
            rehearsal=rehearsal,
            threshold=threshold,
            server_key=public_key_text(store.server_key),
        )
    return event_id


def list_events(store: Store) -> list[dict]:
    return store.rows("SELECT id, name, is_rehearsal FROM event ORDER BY id")
