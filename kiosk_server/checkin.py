"""Check-in (检录): the only role that sees which name holds which draw number while the
interviews run. Its pages and the ``/checkin`` socket namespace.

A check-in device is enrolled by its own one-time link, like an observer screen. It
marks arrivals, shows each room's waiting queue by draw number, calls the next arrived
candidate in (the same act as the organiser's "call next"), and after each round shows
the score announcement (候分) that the candidate confirms on the device.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils
from flask import Blueprint, render_template
from flask_socketio import emit, join_room

from . import interview
from .audit import record
from .errors import UserError
from .links import LinkRole
from .live import Audience, client_lang, guarded, payload, publish, snapshot_at_connect, store
from .storage import Store, utcnow

NAMESPACE = "/checkin"
CHECKIN_COOKIE = "kiosk_checkin"
ROLE = "checkin"
bp = Blueprint("checkin", __name__)


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise UserError("malformed")
    return value


def mark_arrived(store: Store, event_id: int, draw_number: object, actor: str) -> int | None:
    """Record that the candidate holding ``draw_number`` has arrived (once). Returns the
    candidate's room, the only one whose screens change (None if not yet placed)."""
    number = _int(draw_number)
    with store.write() as db:
        found = next(
            iter(
                db.query(
                    "SELECT * FROM candidate WHERE event_id = ? AND draw_number = ?",
                    [event_id, number],
                )
            ),
            None,
        )
        if found is None:
            raise UserError("unknown_draw_number", n=number)
        if found["arrived_at"] is not None:
            raise UserError("already_arrived", n=number)
        db.execute("UPDATE candidate SET arrived_at = ? WHERE id = ?", [utcnow(), found["id"]])
        record(db, actor, "candidate_arrived", "accepted", event=event_id, draw_number=number)
    return found["room_id"]  # type: ignore[no-any-return]


def confirm_score(store: Store, event_id: int, round_id: object, actor: str) -> int:
    """The candidate confirms the announced score (候分确认) on the check-in device.
    Returns the round's room, the only one whose screens change."""
    with store.write() as db:
        found = next(
            iter(
                db.query(
                    "SELECT round.* FROM round JOIN room ON room.id = round.room_id"
                    " WHERE round.id = ? AND room.event_id = ?",
                    [_int(round_id), event_id],
                )
            ),
            None,
        )
        if found is None:
            raise UserError("unknown_round")
        if found["state"] != interview.RoundState.CLOSED:
            raise UserError("round_not_closed")
        if found["confirmed_at"] is not None:
            raise UserError("already_confirmed")
        db.execute("UPDATE round SET confirmed_at = ? WHERE id = ?", [utcnow(), found["id"]])
        record(
            db,
            actor,
            "score_confirmed",
            "accepted",
            event=event_id,
            round=found["id"],
            draw_number=found["draw_number"],
        )
    return int(found["room_id"])


def checkin_view(
    store: Store,
    event_id: int,
    cache: interview.RoomCache | None = None,
    changed: set[int] | None = None,
) -> dict[str, Any]:
    """Every room's queue with names: arrived and not yet called, not yet arrived, the
    candidate inside, and finished rounds with their announced score and confirmation.
    With a ``cache`` only the ``changed`` rooms are read again (``interview.RoomCache``:
    arrivals and confirmations name no room, so they rebuild every room)."""
    with store.read() as db:
        event = interview.event_row(db, event_id)
        threshold = event["drop_threshold"]
        rooms = [
            _room(db, room, threshold)
            if cache is None
            else cache.room("checkin", _room, db, room, threshold, changed)
            for room in db.query("SELECT * FROM room WHERE event_id = ? ORDER BY code", [event_id])
        ]
        unplaced = [
            {"reg_no": r["reg_no"], "name": r["name"]}
            for r in db.query(
                "SELECT * FROM candidate WHERE event_id = ? AND draw_number IS NULL"
                " ORDER BY reg_no",
                [event_id],
            )
        ]
    return {
        "event": {"id": event_id, "name": event["name"], "rehearsal": bool(event["is_rehearsal"])},
        "rooms": rooms,
        "unplaced": unplaced,
    }


def _room(db: sqlite_utils.Database, room: dict[str, Any], threshold: int) -> dict[str, Any]:
    people = list(
        db.query(
            "SELECT candidate.*, round.id AS round_id, round.state, round.confirmed_at"
            " FROM candidate LEFT JOIN round ON round.candidate_id = candidate.id"
            " WHERE candidate.room_id = ? AND candidate.draw_number IS NOT NULL"
            " ORDER BY candidate.draw_number",
            [room["id"]],
        )
    )
    waiting, absent_yet, inside, finished = [], [], None, []
    for p in people:
        entry = {"draw_number": p["draw_number"], "name": p["name"], "unit": p["unit"]}
        if p["round_id"] is None:
            (waiting if p["arrived_at"] else absent_yet).append(entry)
        elif p["state"] != interview.RoundState.CLOSED:
            inside = {**entry, "round_id": p["round_id"], "state": p["state"]}
        else:
            row = next(iter(db.query("SELECT * FROM round WHERE id = ?", [p["round_id"]])))
            result = interview.closed_result(db, row, threshold)
            finished.append(
                {
                    **entry,
                    "round_id": p["round_id"],
                    "mean": result["mean"],
                    "close_reason": row["close_reason"],
                    "confirmed": p["confirmed_at"] is not None,
                }
            )
    return {
        "id": room["id"],
        "code": room["code"],
        "name": room["name"],
        "paused": bool(room["paused"]),
        "waiting": waiting,
        "not_arrived": absent_yet,
        "inside": inside,
        "finished": finished,
    }


# --- pages -----------------------------------------------------------------------------


LINK = LinkRole(
    ROLE,
    CHECKIN_COOKIE,
    "checkin.enrol_title",
    "checkin.intro",
    "checkin.enrol_submit",
    "checkin.desk",
)


@bp.get("/checkin/<token>")
def enrol(token: str) -> Any:
    """The page a check-in link opens; one tap spends the link."""
    return LINK.enrol_page(token)


@bp.post("/checkin/<token>")
def enrol_submit(token: str) -> Any:
    return LINK.enrol_submit(token)


@bp.get("/checkin")
def desk() -> Any:
    return render_template("checkin.html") if LINK.who() else LINK.refused()


# --- the /checkin namespace --------------------------------------------------------------


class Live(Audience):
    """The ``/checkin`` namespace: enrolled check-in devices only."""

    def actor(self) -> str:
        return f"checkin:{self.identity()['id']}"

    def event(self) -> int | None:
        return int(self.identity()["event_id"])

    def on_connect(self, auth: Any = None) -> None:
        found = LINK.connecting(auth)
        ev = int(found["event_id"])
        self.remember(found, client_lang(auth))
        join_room(f"event:{ev}")
        emit("checkin", snapshot_at_connect(lambda: checkin_view(store(), ev)))

    def on_disconnect(self, reason: Any = None) -> None:
        self.forget()

    @guarded("candidate_arrived")
    def on_arrive(self, *args: Any) -> dict[str, Any]:
        data = payload(args)
        room_id = mark_arrived(store(), self.event() or 0, data.get("draw_number"), self.actor())
        publish(room_id=room_id, tablets=False)
        return {"ok": True}

    @guarded("call_candidate")
    def on_call_next(self, *args: Any) -> dict[str, Any]:
        data = payload(args)
        room_id = data.get("room_id")
        round_id = interview.call_candidate(store(), self.event() or 0, room_id, None, self.actor())
        publish(room_id=int(room_id))  # type: ignore[arg-type]
        return {"ok": True, "round_id": round_id}

    @guarded("score_confirmed")
    def on_confirm(self, *args: Any) -> dict[str, Any]:
        data = payload(args)
        room_id = confirm_score(store(), self.event() or 0, data.get("round_id"), self.actor())
        publish(room_id=room_id, tablets=False)
        return {"ok": True}
