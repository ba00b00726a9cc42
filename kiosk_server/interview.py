"""The interview room's flow: call a draw number, open the round, take score sheets, close.

This is the service layer between the socket/HTTP edges and the pure rules in
``ballot.scoring``. Every act runs in one transaction with its audit line. The
views built here are the only way any audience learns about a round, and they
read score values of a round only once it is closed: that is "hidden until close".
The submission path (``submit_sheet``) is where device signatures and sealing
will attach.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlite_utils

from ballot.scoring import (
    RubricItem,
    SheetError,
    interview_score,
    sheet_total,
    validate_sheet,
)

from .audit import record
from .errors import UserError
from .storage import Store, utcnow

MAX_REASON = 500
MAX_KEY = 100


class RoundState(StrEnum):
    CALLED = "called"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Seat:
    """An enrolled rater seat, as authenticated from its device credential."""

    id: int
    room_id: int
    event_id: int
    number: int

    @property
    def actor(self) -> str:
        return f"seat:{self.id}"


def money(value: Decimal) -> str:
    """A score as shown everywhere: two decimals (exact for totals, already rounded means)."""
    return f"{value.quantize(Decimal('0.01'))}"


def rubric(db: sqlite_utils.Database, event_id: int) -> list[RubricItem]:
    """The event's rubric, in its printed order."""
    return [
        RubricItem(r["code"], r["label_zh"], r["label_en"], Decimal(r["max"]), Decimal(r["step"]))
        for r in db.query(
            "SELECT * FROM rubric_item WHERE event_id = ? ORDER BY position", [event_id]
        )
    ]


def _one(db: sqlite_utils.Database, sql: str, params: list[Any]) -> dict[str, Any] | None:
    return next(iter(db.query(sql, params)), None)


def _room(db: sqlite_utils.Database, event_id: int, room_id: object) -> dict[str, Any]:
    room = _one(db, "SELECT * FROM room WHERE id = ? AND event_id = ?", [_int(room_id), event_id])
    if room is None:
        raise UserError("unknown_room")
    return room


def _round(db: sqlite_utils.Database, event_id: int, round_id: object) -> dict[str, Any]:
    found = _one(
        db,
        "SELECT round.*, room.paused, room.event_id FROM round JOIN room ON room.id = round.room_id"
        " WHERE round.id = ? AND room.event_id = ?",
        [_int(round_id), event_id],
    )
    if found is None:
        raise UserError("unknown_round")
    return found


def _int(value: object) -> int:
    """An id from untrusted input: a plain positive int, nothing else."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**62:
        raise UserError("malformed")
    return value


def _reason(value: object, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise UserError("reason_required", field="reason")
        return None
    if not isinstance(value, str):
        raise UserError("malformed", field="reason")
    text = value.strip()
    if len(text) > MAX_REASON:
        raise UserError("too_long", field="reason")
    return text


def waiting_numbers(db: sqlite_utils.Database, room_id: int) -> list[int]:
    """Draw numbers assigned to this room and not yet called, in order."""
    return [
        r["draw_number"]
        for r in db.query(
            "SELECT draw_number FROM candidate WHERE room_id = ? AND draw_number IS NOT NULL"
            " AND id NOT IN (SELECT candidate_id FROM round) ORDER BY draw_number",
            [room_id],
        )
    ]


# --- organiser acts ---------------------------------------------------------------


def call_candidate(
    store: Store, event_id: int, room_id: object, draw_number: object, actor: str
) -> int:
    """Call a candidate into the room by draw number (the lowest waiting one if none given)."""
    with store.write() as db:
        room = _room(db, event_id, room_id)
        if room["paused"]:
            raise UserError("room_paused")
        if _one(db, "SELECT id FROM round WHERE room_id = ? AND state != 'closed'", [room["id"]]):
            raise UserError("round_active")
        waiting = waiting_numbers(db, room["id"])
        if draw_number is None:
            if not waiting:
                raise UserError("no_candidate_waiting")
            number = waiting[0]
        else:
            number = _int(draw_number)
            if number not in waiting:
                raise UserError("unknown_draw_number", n=number)
        candidate = _one(
            db,
            "SELECT id FROM candidate WHERE room_id = ? AND draw_number = ?",
            [room["id"], number],
        )
        assert candidate is not None
        cursor = db.execute(
            "INSERT INTO round(room_id, candidate_id, draw_number, state, called_at)"
            " VALUES (?, ?, ?, 'called', ?)",
            [room["id"], candidate["id"], number, utcnow()],
        )
        round_id = int(cursor.lastrowid or 0)
        record(
            db,
            actor,
            "candidate_called",
            "accepted",
            room=room["id"],
            round=round_id,
            draw_number=number,
        )
    return round_id


def open_round(store: Store, event_id: int, round_id: object, actor: str) -> None:
    """Open scoring; the seats enrolled at this moment are the round's seated raters."""
    with store.write() as db:
        found = _round(db, event_id, round_id)
        if found["paused"]:
            raise UserError("room_paused")
        if found["state"] != RoundState.CALLED:
            raise UserError("round_not_called")
        seats = [
            r["id"]
            for r in db.query(
                "SELECT id FROM seat WHERE room_id = ? AND credential_digest IS NOT NULL",
                [found["room_id"]],
            )
        ]
        if not seats:
            raise UserError("no_seated_raters")
        for seat_id in seats:
            db.execute(
                "INSERT INTO round_seat(round_id, seat_id) VALUES (?, ?)", [found["id"], seat_id]
            )
        db.execute(
            "UPDATE round SET state = 'open', opened_at = ? WHERE id = ?", [utcnow(), found["id"]]
        )
        record(db, actor, "round_opened", "accepted", round=found["id"], seated=len(seats))


def close_round(store: Store, event_id: int, round_id: object, reason: object, actor: str) -> None:
    """Close an open round; with a seat still pending this needs a typed reason."""
    with store.write() as db:
        found = _round(db, event_id, round_id)
        if found["state"] != RoundState.OPEN:
            raise UserError("round_not_open")
        missing = _pending_count(db, found["id"])
        text = _reason(reason, required=missing > 0)
        db.execute(
            "UPDATE round SET state = 'closed', closed_at = ?, close_reason = ? WHERE id = ?",
            [utcnow(), text, found["id"]],
        )
        record(
            db, actor, "round_closed", "accepted", round=found["id"], pending=missing, reason=text
        )


def set_paused(store: Store, event_id: int, room_id: object, paused: bool, actor: str) -> None:
    """Pause or resume a room: while paused nobody calls, opens or submits."""
    with store.write() as db:
        room = _room(db, event_id, room_id)
        db.execute("UPDATE room SET paused = ? WHERE id = ?", [int(paused), room["id"]])
        record(db, actor, "room_paused" if paused else "room_resumed", "accepted", room=room["id"])


def _pending_count(db: sqlite_utils.Database, round_id: int) -> int:
    found = _one(
        db,
        "SELECT COUNT(*) AS n FROM round_seat WHERE round_id = ?"
        " AND seat_id NOT IN (SELECT seat_id FROM sheet WHERE round_id = ?)",
        [round_id, round_id],
    )
    return int(found["n"]) if found else 0


# --- rater acts -------------------------------------------------------------------


def _parse_submission(payload: object, *, with_items: bool) -> tuple[int, str, Any]:
    if not isinstance(payload, dict):
        raise UserError("malformed")
    round_id = _int(payload.get("round_id"))
    key = payload.get("idempotency_key")
    if not isinstance(key, str) or not 8 <= len(key) <= MAX_KEY:
        raise UserError("malformed", field="idempotency_key")
    items = payload.get("items") if with_items else payload.get("reason")
    return round_id, key, items


def _round_for_seat(db: sqlite_utils.Database, seat: Seat, round_id: int) -> dict[str, Any]:
    found = _one(
        db,
        "SELECT round.*, room.paused, room.event_id FROM round JOIN room ON room.id = round.room_id"
        " WHERE round.id = ?",
        [round_id],
    )
    if found is None or found["event_id"] != seat.event_id:
        raise UserError("unknown_round")
    if found["room_id"] != seat.room_id:
        raise UserError("round_other_room")
    if found["state"] == RoundState.CLOSED:
        raise UserError("round_closed")
    if found["state"] != RoundState.OPEN:
        raise UserError("round_not_open")
    if found["paused"]:
        raise UserError("room_paused")
    if not _one(
        db, "SELECT 1 AS x FROM round_seat WHERE round_id = ? AND seat_id = ?", [round_id, seat.id]
    ):
        raise UserError("not_seated")
    if _one(db, "SELECT 1 AS x FROM sheet WHERE round_id = ? AND seat_id = ?", [round_id, seat.id]):
        raise UserError("already_submitted")
    return found


def _replayed(db: sqlite_utils.Database, seat: Seat, key: str) -> dict[str, Any] | None:
    """A re-sent submission (same idempotency key, same seat) is answered as before."""
    found = _one(db, "SELECT * FROM sheet WHERE idempotency_key = ?", [key])
    if found is None:
        return None
    if found["seat_id"] != seat.id:
        raise UserError("malformed", field="idempotency_key")
    state = _one(db, "SELECT state FROM round WHERE id = ?", [found["round_id"]])
    return {
        "ok": True,
        "round_id": found["round_id"],
        "kind": found["kind"],
        "duplicate": True,
        "round_closed": bool(state and state["state"] == "closed"),
    }


def submit_sheet(store: Store, seat: Seat, payload: object) -> dict[str, Any]:
    """Accept one score sheet; returns the acknowledgement, sent only after COMMIT."""
    round_id, key, items = _parse_submission(payload, with_items=True)
    with store.write() as db:
        replay = _replayed(db, seat, key)
        if replay:
            return replay
        found = _round_for_seat(db, seat, round_id)
        items_rubric = rubric(db, seat.event_id)
        try:
            values = validate_sheet(items_rubric, items)
        except SheetError as err:
            labels = {
                item.code: {"zh": item.label_zh, "en": item.label_en} for item in items_rubric
            }
            raise UserError(
                err.code, field=err.item, labels=labels.get(err.item or "", None)
            ) from None
        # --- seam: signature verification and sealing (commit-reveal) attach here ---
        db.execute(
            "INSERT INTO sheet(round_id, seat_id, kind, items, total, idempotency_key,"
            " submitted_at) VALUES (?, ?, 'score', ?, ?, ?, ?)",
            [
                found["id"],
                seat.id,
                json.dumps({k: str(v) for k, v in values.items()}),
                str(sheet_total(values)),
                key,
                utcnow(),
            ],
        )
        record(db, seat.actor, "sheet_submitted", "accepted", round=found["id"])
        closed = _close_if_complete(db, found["id"])
    return {
        "ok": True,
        "round_id": found["id"],
        "kind": "score",
        "duplicate": False,
        "round_closed": closed,
    }


def declare_conflict(store: Store, seat: Seat, payload: object) -> dict[str, Any]:
    """Recuse this seat (回避) from the current round instead of scoring."""
    round_id, key, reason = _parse_submission(payload, with_items=False)
    text = _reason(reason, required=False)
    with store.write() as db:
        replay = _replayed(db, seat, key)
        if replay:
            return replay
        found = _round_for_seat(db, seat, round_id)
        db.execute(
            "INSERT INTO sheet(round_id, seat_id, kind, idempotency_key, submitted_at)"
            " VALUES (?, ?, 'recusal', ?, ?)",
            [found["id"], seat.id, key, utcnow()],
        )
        record(db, seat.actor, "conflict_declared", "accepted", round=found["id"], reason=text)
        closed = _close_if_complete(db, found["id"])
    return {
        "ok": True,
        "round_id": found["id"],
        "kind": "recusal",
        "duplicate": False,
        "round_closed": closed,
    }


def _close_if_complete(db: sqlite_utils.Database, round_id: int) -> bool:
    """Close the round in the same transaction once every seated rater has acted."""
    if _pending_count(db, round_id):
        return False
    db.execute(
        "UPDATE round SET state = 'closed', closed_at = ? WHERE id = ?", [utcnow(), round_id]
    )
    record(db, "system", "round_closed", "accepted", round=round_id, pending=0)
    return True


# --- views ------------------------------------------------------------------------


def round_result(db: sqlite_utils.Database, round_row: dict[str, Any], threshold: int) -> dict:
    """Every seat's total and the interview score of a CLOSED round (never an open one)."""
    if round_row["state"] != RoundState.CLOSED:
        raise RuntimeError("results of an open round must never be read")
    rows = list(
        db.query(
            "SELECT seat.number, sheet.kind, sheet.total FROM round_seat"
            " JOIN seat ON seat.id = round_seat.seat_id"
            " LEFT JOIN sheet ON sheet.round_id = round_seat.round_id"
            " AND sheet.seat_id = round_seat.seat_id"
            " WHERE round_seat.round_id = ? ORDER BY seat.number",
            [round_row["id"]],
        )
    )
    counted = [r for r in rows if r["kind"] == "score"]
    score = interview_score([Decimal(r["total"]) for r in counted], threshold)
    dropped = {}
    if score.dropped_high is not None and score.dropped_low is not None:
        dropped = {
            counted[score.dropped_high]["number"]: "high",
            counted[score.dropped_low]["number"]: "low",
        }
    entries = []
    for r in rows:
        status = {"score": "scored", "recusal": "recused"}.get(r["kind"], "absent")
        entries.append(
            {
                "seat": r["number"],
                "status": status,
                "total": money(Decimal(r["total"])) if r["kind"] == "score" else None,
                "dropped": dropped.get(r["number"]),
            }
        )
    return {
        "entries": entries,
        "mean": None if score.mean is None else money(score.mean),
        "high": None if score.high_value is None else money(score.high_value),
        "low": None if score.low_value is None else money(score.low_value),
        "counted": score.counted,
        "rule": "drop" if dropped else "all",
        "close_reason": round_row["close_reason"],
    }


def _seat_status(db: sqlite_utils.Database, round_row: dict[str, Any] | None) -> dict[int, str]:
    if round_row is None or round_row["state"] == RoundState.CALLED:
        return {}
    status = {
        r["seat_id"]: "pending"
        for r in db.query("SELECT seat_id FROM round_seat WHERE round_id = ?", [round_row["id"]])
    }
    for r in db.query("SELECT seat_id, kind FROM sheet WHERE round_id = ?", [round_row["id"]]):
        status[r["seat_id"]] = "submitted" if r["kind"] == "score" else "recused"
    return status


def room_status(
    db: sqlite_utils.Database,
    room: dict[str, Any],
    threshold: int,
    organiser: bool = False,
    online: set[int] | None = None,
) -> dict[str, Any]:
    """One room as the observer screen (and, with ``organiser``, the console) sees it."""
    current = _one(
        db, "SELECT * FROM round WHERE room_id = ? ORDER BY id DESC LIMIT 1", [room["id"]]
    )
    status = _seat_status(db, current)
    seats = []
    for s in db.query("SELECT * FROM seat WHERE room_id = ? ORDER BY number", [room["id"]]):
        seat = {
            "number": s["number"],
            "enrolled": s["credential_digest"] is not None,
            "status": status.get(s["id"], "not_seated" if status else None),
        }
        if organiser:
            seat["id"] = s["id"]
            seat["online"] = s["id"] in (online or set())
        seats.append(seat)
    round_view = None
    if current is not None:
        round_view = {
            "id": current["id"],
            "draw_number": current["draw_number"],
            "state": current["state"],
        }
        if current["state"] == RoundState.CLOSED:
            round_view["result"] = round_result(db, current, threshold)
    finished = []
    for r in db.query(
        "SELECT * FROM round WHERE room_id = ? AND state = 'closed' ORDER BY closed_at, id",
        [room["id"]],
    ):
        res = round_result(db, r, threshold)
        finished.append(
            {
                "draw_number": r["draw_number"],
                "mean": res["mean"],
                "counted": res["counted"],
                "closed_early": bool(r["close_reason"]),
            }
        )
    view = {
        "id": room["id"],
        "code": room["code"],
        "name": room["name"],
        "paused": bool(room["paused"]),
        "seats": seats,
        "round": round_view,
        "finished": finished,
    }
    if organiser:
        view["waiting"] = waiting_numbers(db, room["id"])
    return view


def event_row(db: sqlite_utils.Database, event_id: int) -> dict[str, Any]:
    found = _one(db, "SELECT * FROM event WHERE id = ?", [event_id])
    if found is None:
        raise LookupError(f"no event {event_id}")
    return found


def board(
    store: Store, event_id: int, organiser: bool = False, online: set[int] | None = None
) -> dict[str, Any]:
    """Every room of the event: the observer board, or the console's richer copy."""
    with store.read() as db:
        event = event_row(db, event_id)
        rooms = [
            room_status(db, room, event["drop_threshold"], organiser, online)
            for room in db.query("SELECT * FROM room WHERE event_id = ? ORDER BY code", [event_id])
        ]
        view: dict[str, Any] = {
            "event": {
                "id": event_id,
                "name": event["name"],
                "rehearsal": bool(event["is_rehearsal"]),
                "threshold": event["drop_threshold"],
            },
            "rooms": rooms,
        }
        if organiser:
            view["observers"] = [
                {"id": o["id"], "label": o["label"], "enrolled": o["enrolled_at"] is not None}
                for o in db.query(
                    "SELECT * FROM observer WHERE event_id = ? AND revoked = 0 ORDER BY id",
                    [event_id],
                )
            ]
    return view


def rater_view(store: Store, seat: Seat) -> dict[str, Any]:
    """What one tablet may know: its seat, the draw number in its room, its own state."""
    with store.read() as db:
        room = _room(db, seat.event_id, seat.room_id)
        current = _one(
            db, "SELECT * FROM round WHERE room_id = ? ORDER BY id DESC LIMIT 1", [seat.room_id]
        )
        round_view = None
        if current is not None:
            seated = (
                _one(
                    db,
                    "SELECT 1 AS x FROM round_seat WHERE round_id = ? AND seat_id = ?",
                    [current["id"], seat.id],
                )
                is not None
            )
            mine = _one(
                db,
                "SELECT kind FROM sheet WHERE round_id = ? AND seat_id = ?",
                [current["id"], seat.id],
            )
            round_view = {
                "id": current["id"],
                "draw_number": current["draw_number"],
                "state": current["state"],
                "seated": seated,
                "mine": None if mine is None else mine["kind"],
            }
        items = [
            {
                "code": i.code,
                "label_zh": i.label_zh,
                "label_en": i.label_en,
                "max": str(i.max),
                "step": str(i.step),
            }
            for i in rubric(db, seat.event_id)
        ]
    return {
        "seat": {"id": seat.id, "number": seat.number},
        "room": {"id": room["id"], "name": room["name"], "paused": bool(room["paused"])},
        "round": round_view,
        "rubric": items,
    }
