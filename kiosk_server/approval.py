"""Two-person approval: the organiser asks, an observer screen confirms.

The irreversible acts — closing a round early, publishing a round with openings missing,
re-issuing a seat, voiding or re-running a lot draw, ending the interviews (which
publishes names), correcting a figure after its stage closed and publishing the results
(公示) — are not done when the organiser asks. The request is logged and shown
on every observer screen with its reason; the act runs when a monitor confirms it there
(a second person, on a second credential), and both names are in the log. The organiser
may withdraw a request; a monitor may decline it.

A request is *claimed* atomically before its act runs, so two screens confirming at once
run it once; if the act is refused (the round moved on meanwhile), the request returns to
pending with the refusal shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from . import ceremony, interview
from .audit import record
from .enrolment import issue_seat
from .errors import UserError
from .storage import Store, utcnow

ACTIONS = (
    "close_early",
    "finalise",
    "reissue_seat",
    "lot_void",
    "lot_redraw",
    "end_interviews",
    "correction",
    "publish_results",
    "evaluation_close",
)


def _int(value: object) -> int:
    if not interview.is_row_id(value):
        raise UserError("malformed")
    return value


def request(
    store: Store,
    event_id: int,
    action: str,
    payload: dict[str, Any],
    summary: dict[str, Any],
    actor: str,
) -> int:
    """Log the organiser's request; ``summary`` is what the screens show (no secrets)."""
    assert action in ACTIONS
    with store.write() as db:
        if _one(
            db,
            "SELECT id FROM approval WHERE event_id = ? AND action = ? AND payload = ?"
            " AND state IN ('pending', 'running')",
            [event_id, action, json.dumps(payload, sort_keys=True)],
        ):
            raise UserError("approval_pending")
        cursor = db.execute(
            "INSERT INTO approval(event_id, action, payload, summary, requested_by, requested_at,"
            " state) VALUES (?, ?, ?, ?, ?, ?, 'pending')",
            [
                event_id,
                action,
                json.dumps(payload, sort_keys=True),
                json.dumps(summary, ensure_ascii=False, sort_keys=True),
                actor,
                utcnow(),
            ],
        )
        approval_id = int(cursor.lastrowid or 0)
        record(
            db,
            actor,
            "approval_requested",
            "accepted",
            event=event_id,
            approval=approval_id,
            act=action,
            **summary,
        )
    return approval_id


def _one(db: sqlite_utils.Database, sql: str, params: list[Any]) -> dict[str, Any] | None:
    return next(iter(db.query(sql, params)), None)


def _claim(store: Store, event_id: int, approval_id: object) -> dict[str, Any]:
    with store.write() as db:
        found = _one(
            db,
            "SELECT * FROM approval WHERE id = ? AND event_id = ?",
            [_int(approval_id), event_id],
        )
        if found is None:
            raise UserError("unknown_approval")
        if found["state"] != "pending":
            raise UserError("approval_not_pending")
        db.execute("UPDATE approval SET state = 'running' WHERE id = ?", [found["id"]])
    return found


def confirm(
    store: Store, key: bytes, event_id: int, approval_id: object, actor: str
) -> dict[str, Any]:
    """A monitor confirms: the act runs as the organiser asked; returns what it gave."""
    found = _claim(store, event_id, approval_id)
    payload = json.loads(found["payload"])
    try:
        result = RUN[found["action"]](
            store, key, event_id, payload, Asked(found["requested_by"], actor)
        )
    except UserError:
        with store.write() as db:
            db.execute("UPDATE approval SET state = 'pending' WHERE id = ?", [found["id"]])
        raise
    with store.write() as db:
        db.execute(
            "UPDATE approval SET state = 'confirmed', decided_by = ?, decided_at = ? WHERE id = ?",
            [actor, utcnow(), found["id"]],
        )
        record(
            db,
            actor,
            "approval_confirmed",
            "accepted",
            event=event_id,
            approval=found["id"],
            act=found["action"],
            requested_by=found["requested_by"],
        )
    if found["action"] == "evaluation_close":
        from .evaluation import scrub_after_close

        scrub_after_close(store)  # after the confirmation too: the WAL ends empty
    return result


def decide_not(store: Store, event_id: int, approval_id: object, actor: str, state: str) -> None:
    """Decline (a monitor) or withdraw (the organiser) a pending request."""
    found = _claim(store, event_id, approval_id)
    with store.write() as db:
        db.execute(
            "UPDATE approval SET state = ?, decided_by = ?, decided_at = ? WHERE id = ?",
            [state, actor, utcnow(), found["id"]],
        )
        record(
            db,
            actor,
            f"approval_{state}",
            "accepted",
            event=event_id,
            approval=found["id"],
            act=found["action"],
        )


def pending(db: sqlite_utils.Database, event_id: int) -> list[dict[str, Any]]:
    """Requests waiting for a monitor, as every screen shows them."""
    return [
        {
            "id": r["id"],
            "action": r["action"],
            "summary": json.loads(r["summary"]),
            "requested_at": r["requested_at"],
        }
        for r in db.query(
            "SELECT * FROM approval WHERE event_id = ? AND state IN ('pending', 'running')"
            " ORDER BY id",
            [event_id],
        )
    ]


# --- the acts, run once confirmed ------------------------------------------------------


@dataclass(frozen=True)
class Asked:
    """Who asked for an act and which monitor confirmed it: both are on the record."""

    requested_by: str
    confirmed_by: str


def _close(store: Store, key: bytes, ev: int, p: dict[str, Any], who: Asked) -> dict[str, Any]:
    interview.close_round(store, ev, p["round_id"], p["reason"], who.requested_by)
    return {"room_id": None}


def _finalise(store: Store, key: bytes, ev: int, p: dict[str, Any], who: Asked) -> dict[str, Any]:
    interview.finalise_round(store, ev, p["round_id"], p["reason"], who.requested_by)
    return {"room_id": None}


def _reissue(store: Store, key: bytes, ev: int, p: dict[str, Any], who: Asked) -> dict[str, Any]:
    issue_seat(store, key, p["seat_id"], who.requested_by)
    return {"seat_id": p["seat_id"]}


def _void(store: Store, key: bytes, ev: int, p: dict[str, Any], who: Asked) -> dict[str, Any]:
    ceremony.void_draw(store, ev, p["reason"], who.requested_by)
    return {}


def _redraw(store: Store, key: bytes, ev: int, p: dict[str, Any], who: Asked) -> dict[str, Any]:
    draw_id = ceremony.start_draw(
        store, key, ev, p["parties"], p["reason"], who.requested_by, purpose=p["purpose"]
    )
    return {"draw_id": draw_id}


def _end(store: Store, key: bytes, ev: int, p: dict[str, Any], who: Asked) -> dict[str, Any]:
    ceremony.end_interviews(store, ev, who.requested_by)
    return {}


def _correct(store: Store, key: bytes, ev: int, p: dict[str, Any], who: Asked) -> dict[str, Any]:
    from . import results

    return {
        "correction": results.apply_correction(store, ev, p, who.requested_by, who.confirmed_by)
    }


def _publish(store: Store, key: bytes, ev: int, p: dict[str, Any], who: Asked) -> dict[str, Any]:
    from . import results

    # The bundle is kept beside the database, in the instance folder.
    return results.publish(
        store, ev, who.requested_by, who.confirmed_by, store.path.parent / "results"
    )


def _close_evaluation(
    store: Store, key: bytes, ev: int, p: dict[str, Any], who: Asked
) -> dict[str, Any]:
    from . import evaluation

    evaluation.close_evaluation(store, ev, who.requested_by, scrub=False)
    evaluation.publish()
    return {}


RUN: dict[str, Callable[[Store, bytes, int, dict[str, Any], Asked], dict[str, Any]]] = {
    "close_early": _close,
    "finalise": _finalise,
    "reissue_seat": _reissue,
    "lot_void": _void,
    "lot_redraw": _redraw,
    "end_interviews": _end,
    "correction": _correct,
    "publish_results": _publish,
    "evaluation_close": _close_evaluation,
}
