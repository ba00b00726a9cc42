"""The interview room's flow: call a draw number, open the round, take sealed sheets,
close, take the openings, announce.

Sealing is commit-reveal (docs/threat-model.md): while a round is open a tablet sends
only a signed *commitment* to its score sheet; when every seated rater has committed
or recused (or the organiser closes early with a reason) the round is announced closed
with the signed list of commitments, and each tablet sends its *opening*, which must
hash to its commitment. Until then no value exists on the server at all.

This is the service layer between the socket/HTTP edges and the pure rules in
``ballot.scoring`` and ``seal``. Every act runs in one transaction with its log leaf.
The views built here are the only way any audience learns about a round.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeGuard

import sqlite_utils

from ballot.scoring import (
    RubricItem,
    SheetError,
    panel_result,
    parse_value,
    sheet_total,
    validate_sheet,
)
from seal.record import BOUND_FIELDS, commitment, rubric_version
from seal.signing import canonical, load_public_key, sign, unb64u, verify

from . import faults
from .audit import record, record_refusal
from .ceremony import draws_view
from .errors import UserError
from .evidence import receipt, sign_head
from .storage import Database, Store, utcnow

MAX_REASON = 500
MAX_KEY = 100


class RoundState(StrEnum):
    CALLED = "called"
    OPEN = "open"
    REVEALING = "revealing"  # closed to commitments; openings being received
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


def rubric_of(db: sqlite_utils.Database, event_id: int) -> str:
    """The event rubric's version hash, which every sealed sheet must name."""
    return rubric_hash(rubric(db, event_id))


def rubric_hash(items: list[RubricItem]) -> str:
    """The version hash of these rubric items."""
    return _rubric_hash(tuple((i.code, str(i.max), str(i.step)) for i in items))


@functools.lru_cache(maxsize=64)
def _rubric_hash(items: tuple[tuple[str, str, str], ...]) -> str:
    # Every tablet view and every sealed sheet names the rubric's hash: hash each rubric
    # once (keyed by the decimal strings, since Decimal("10") == Decimal("10.0")).
    return rubric_version([{"code": c, "max": m, "step": s} for c, m, s in items])


def rubric(db: sqlite_utils.Database, event_id: int) -> list[RubricItem]:
    """The event's rubric, in its printed order. Read once per batch of submissions (a
    commitment reads it once, an opening twice: docs/performance.md, section 16)."""

    def load() -> tuple[RubricItem, ...]:
        return tuple(
            RubricItem(
                r["code"], r["label_zh"], r["label_en"], Decimal(r["max"]), Decimal(r["step"])
            )
            for r in db.query(
                "SELECT * FROM rubric_item WHERE event_id = ? ORDER BY position", [event_id]
            )
        )

    if isinstance(db, Database):
        return list(db.per_batch(("rubric", event_id), load))
    return list(load())


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


def is_row_id(value: object) -> TypeGuard[int]:
    """Whether untrusted input is a row id: a plain positive int (not a bool) that fits
    SQLite's integers, so a lookup can neither overflow nor match by accident."""
    return not isinstance(value, bool) and isinstance(value, int) and 0 < value < 2**62


def _int(value: object) -> int:
    """An id from untrusted input: a plain positive int, nothing else."""
    if not is_row_id(value):
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


def arrived_numbers(db: sqlite_utils.Database, room_id: int) -> list[int]:
    """Waiting draw numbers whose candidate check-in has marked as arrived, in order."""
    return [
        r["draw_number"]
        for r in db.query(
            "SELECT draw_number FROM candidate WHERE room_id = ? AND draw_number IS NOT NULL"
            " AND arrived_at IS NOT NULL AND id NOT IN (SELECT candidate_id FROM round)"
            " ORDER BY draw_number",
            [room_id],
        )
    ]


def uses_checkin(db: sqlite_utils.Database, event_id: int) -> bool:
    """An event uses check-in (检录) once a check-in link has been issued for it: from
    then on only arrived candidates are called as "next"."""
    return (
        _one(db, "SELECT 1 AS x FROM observer WHERE event_id = ? AND role = 'checkin'", [event_id])
        is not None
    )


# --- organiser acts ---------------------------------------------------------------


def call_candidate(
    store: Store, event_id: int, room_id: object, draw_number: object, actor: str
) -> int:
    """Call a candidate into the room by draw number (the lowest waiting one if none given)."""
    with store.write() as db:
        room = _room(db, event_id, room_id)
        if room["paused"]:
            raise UserError("room_paused")
        if _one(
            db,
            "SELECT id FROM round WHERE room_id = ? AND state IN ('called', 'open')",
            [room["id"]],
        ):
            raise UserError("round_active")
        waiting = waiting_numbers(db, room["id"])
        if draw_number is None:
            # With check-in in use, "next" is the lowest number that has arrived.
            queue = arrived_numbers(db, room["id"]) if uses_checkin(db, event_id) else waiting
            if not queue:
                raise UserError("no_candidate_waiting")
            number = queue[0]
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
            event=event_id,
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
                "SELECT id FROM seat WHERE room_id = ? AND credential_digest IS NOT NULL"
                " ORDER BY number",
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
        record(
            db,
            actor,
            "round_opened",
            "accepted",
            event=event_id,
            room=found["room_id"],
            round=found["id"],
            draw_number=found["draw_number"],
            seated=seats,
            rubric=rubric_of(db, event_id),
        )


def close_round(store: Store, event_id: int, round_id: object, reason: object, actor: str) -> None:
    """Close an open round; with a seat still pending this needs a typed reason."""
    with store.write() as db:
        found = _round(db, event_id, round_id)
        if found["state"] != RoundState.OPEN:
            raise UserError("round_not_open")
        missing = _pending_count(db, found["id"])
        text = _reason(reason, required=missing > 0)
        _announce_close(store, db, found, text, actor)


def early_close(store: Store, event_id: int, round_id: object, reason: object) -> str | None:
    """Check a close before it is asked of a monitor: the reason it needs when seated
    raters are still pending (an early close), or None when the close is not early."""
    with store.read() as db:
        found = _round(db, event_id, round_id)
        if found["state"] != RoundState.OPEN:
            raise UserError("round_not_open")
        if _pending_count(db, found["id"]) == 0:
            return None
        return _reason(reason, required=True)


def finalise_check(store: Store, event_id: int, round_id: object, reason: object) -> str:
    """Check a publish-with-openings-missing before it is asked of a monitor."""
    with store.read() as db:
        found = _round(db, event_id, round_id)
        if found["state"] != RoundState.REVEALING:
            raise UserError("round_not_revealing")
    return str(_reason(reason, required=True))


def finalise_round(
    store: Store, event_id: int, round_id: object, reason: object, actor: str
) -> None:
    """Publish a round whose openings are still missing (a tablet never came back): the
    missing sheets count as unrevealed. Needs a typed reason."""
    with store.write() as db:
        found = _round(db, event_id, round_id)
        if found["state"] != RoundState.REVEALING:
            raise UserError("round_not_revealing")
        text = _reason(reason, required=True)
        _finish(store, db, found, actor, reason=text)


def mark_absent(store: Store, event_id: int, round_id: object, reason: object, actor: str) -> None:
    """A called candidate who does not come in (缺考): the round closes unscored, with the
    reason (default 缺考) logged and shown; the draw number is not called again."""
    with store.write() as db:
        found = _round(db, event_id, round_id)
        if found["state"] != RoundState.CALLED:
            raise UserError("round_not_called")
        text = _reason(reason, required=False) or "缺考"
        db.execute(
            "UPDATE round SET state = 'closed', closed_at = ?, close_reason = ? WHERE id = ?",
            [utcnow(), text, found["id"]],
        )
        record(
            db,
            actor,
            "candidate_absent",
            "accepted",
            event=event_id,
            room=found["room_id"],
            round=found["id"],
            draw_number=found["draw_number"],
            reason=text,
            rubric=rubric_of(db, event_id),
        )
        _finish(store, db, {**found, "state": RoundState.CLOSED, "close_reason": text}, actor)


def set_paused(store: Store, event_id: int, room_id: object, paused: bool, actor: str) -> None:
    """Pause or resume a room: while paused nobody calls, opens or submits."""
    with store.write() as db:
        room = _room(db, event_id, room_id)
        db.execute("UPDATE room SET paused = ? WHERE id = ?", [int(paused), room["id"]])
        record(
            db,
            actor,
            "room_paused" if paused else "room_resumed",
            "accepted",
            event=event_id,
            room=room["id"],
        )


# Which of a seat's commitments in a round counts: its latest version (``c`` the row).
_LATEST = (
    "c.version = (SELECT MAX(version) FROM commitment"
    " WHERE round_id = c.round_id AND seat_id = c.seat_id)"
)


def _latest(db: sqlite_utils.Database, round_id: int) -> list[dict[str, Any]]:
    """Each seat's latest commitment (score or recusal) in this round."""
    return list(
        db.query(
            "SELECT c.*, seat.number FROM commitment c JOIN seat ON seat.id = c.seat_id"
            f" WHERE c.round_id = ? AND {_LATEST} ORDER BY seat.number",
            [round_id],
        )
    )


def _seat_latest(db: sqlite_utils.Database, round_id: int, seat_id: int) -> dict[str, Any] | None:
    """The seat's latest commitment (or recusal) in the round, if any."""
    return _one(
        db,
        "SELECT * FROM commitment WHERE round_id = ? AND seat_id = ? ORDER BY version DESC LIMIT 1",
        [round_id, seat_id],
    )


def _all_opened(db: sqlite_utils.Database, round_id: int) -> bool:
    """Whether every seat's final score commitment in the round has been opened (asked
    at every opening: one query, not the round's commitments and openings read whole)."""
    waiting = _one(
        db,
        f"SELECT 1 AS x FROM commitment c WHERE c.round_id = ? AND c.kind = 'score' AND {_LATEST}"
        " AND NOT EXISTS (SELECT 1 FROM opening WHERE commitment_id = c.id) LIMIT 1",
        [round_id],
    )
    return waiting is None


def _pending_count(db: sqlite_utils.Database, round_id: int) -> int:
    found = _one(
        db,
        "SELECT COUNT(*) AS n FROM round_seat WHERE round_id = ?"
        " AND seat_id NOT IN (SELECT seat_id FROM commitment WHERE round_id = ?)",
        [round_id, round_id],
    )
    return int(found["n"]) if found else 0


def close_statement(db: sqlite_utils.Database, round_row: dict[str, Any]) -> dict[str, Any]:
    """What the server signs when a round closes: every seat's final commitment."""
    return {
        "type": "round_closed",
        "event": round_row["event_id"],
        "room": round_row["room_id"],
        "round": round_row["id"],
        "draw_number": round_row["draw_number"],
        "commitments": [
            {"seat": c["seat_id"], "kind": c["kind"], "commitment": c["digest"], "leaf": c["leaf"]}
            for c in _latest(db, round_row["id"])
        ],
        "reason": round_row["close_reason"],
    }


def _announce_close(
    store: Store,
    db: sqlite_utils.Database,
    round_row: dict[str, Any],
    reason: str | None,
    actor: str,
) -> None:
    """Close to commitments; openings are due (or, with none to open, publish at once)."""
    db.execute(
        "UPDATE round SET state = 'revealing', closed_at = ?, close_reason = ? WHERE id = ?",
        [utcnow(), reason, round_row["id"]],
    )
    current = {**round_row, "state": RoundState.REVEALING, "close_reason": reason}
    statement = close_statement(db, current)
    record(db, actor, "round_closed", "accepted", event=round_row["event_id"], statement=statement)
    if not any(c["kind"] == "score" for c in statement["commitments"]):
        _finish(store, db, current, "system")
    else:
        sign_head(store, db, round_row["event_id"])  # a signed head at every round close


def _finish(
    store: Store,
    db: sqlite_utils.Database,
    round_row: dict[str, Any],
    actor: str,
    reason: str | None = None,
) -> None:
    """Every opening is in (or the organiser gave up on the rest): publish the result."""
    db.execute("UPDATE round SET state = 'closed' WHERE id = ?", [round_row["id"]])
    event = event_row(db, round_row["event_id"])
    result = round_result(db, {**round_row, "state": RoundState.CLOSED}, event["drop_threshold"])
    record(
        db,
        actor,
        "round_result",
        "accepted",
        event=round_row["event_id"],
        round=round_row["id"],
        draw_number=round_row["draw_number"],
        result=result,
        reason=reason,
    )
    sign_head(store, db, round_row["event_id"])  # the published result is under a head


# --- rater acts: sealed envelopes ---------------------------------------------------------

ENVELOPE_TYPES = {"commit": ("commitment", "recusal"), "reveal": ("opening",)}


def device_key(store: Store, seat_id: int) -> str | None:
    """The public key of the device enrolled on a seat, or None (kept in memory until a
    seat is enrolled or re-issued: ``Store.seats``)."""

    def load() -> str | None:
        found = store.row("SELECT public_key FROM seat WHERE id = ?", [seat_id])
        return found["public_key"] if found is not None and found["public_key"] else None

    return store.seats.read(("device_key", seat_id), load)  # type: ignore[no-any-return]


def _body(store: Store, seat: Seat, payload: object, act: str) -> tuple[dict, dict, str]:
    """Verify the envelope's signature with the seat's registered key; check its shape.
    Returns the envelope, its body and the key that verified it."""
    envelope = payload.get("envelope") if isinstance(payload, dict) else None
    if not isinstance(envelope, dict):
        raise UserError("malformed", field="envelope")
    public_key = device_key(store, seat.id)  # checked again in the batch: _check_binding
    if public_key is None:
        raise UserError("no_device_key")
    try:
        body = verify(load_public_key(public_key), envelope)
    except ValueError:
        raise UserError("bad_signature") from None
    if body.get("type") not in ENVELOPE_TYPES[act]:
        raise UserError("malformed", field="type")
    for name in (*BOUND_FIELDS, "seq"):
        value = body.get(name)
        ok = (
            isinstance(value, str)
            if name == "rubric"
            else (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53)
        )
        if not ok:
            raise UserError("malformed", field=name)
    try:
        nonce = unb64u(body.get("nonce"))  # type: ignore[arg-type]
    except ValueError:
        raise UserError("malformed", field="nonce") from None
    if len(nonce) < 12:
        raise UserError("malformed", field="nonce")
    return envelope, body, public_key


def _check_binding(
    db: sqlite_utils.Database,
    seat: Seat,
    body: dict,
    round_row: dict[str, Any],
    key: str,
    nonce_taken: bool,
) -> None:
    """Refuse an envelope made for another event, room, seat, round, candidate or rubric,
    or replayed (sequence not above the device's last one; a nonce already taken, as
    ``_duplicate`` found), or signed by a key that is no longer the seat's (it was
    checked outside the write lock; a re-issue voids it)."""
    expected = {
        "event": seat.event_id,
        "room": seat.room_id,
        "seat": seat.id,
        "round": round_row["id"],
        "draw_number": round_row["draw_number"],
        "rubric": rubric_of(db, seat.event_id),
    }
    for name, value in expected.items():
        if body[name] != value:
            raise UserError("transplanted", field=name)
    last = _one(db, "SELECT last_seq, public_key FROM seat WHERE id = ?", [seat.id])
    if last is None or last["public_key"] != key:
        raise UserError("not_authenticated")
    if body["seq"] <= last["last_seq"]:
        raise UserError("replayed", field="seq")
    if nonce_taken:
        raise UserError("replayed", field="nonce")


def _duplicate(
    store: Store, db: sqlite_utils.Database, seat: Seat, text: str, body: dict
) -> tuple[dict[str, Any] | None, bool]:
    """The very same envelope sent again (a lost ack, a tablet's outbox re-sending after a
    reconnect or a server restart): answer it as the first time, marked ``duplicate``.
    Returns that answer (None for any other envelope) and whether the nonce is taken.

    The idempotency key is the seat's nonce: ``commitment`` holds UNIQUE(seat_id, nonce)
    and ``opening`` UNIQUE(commitment_id), so a re-sent envelope can never be stored twice;
    looking it up by that key first is what lets the answer be the same even after the
    round moved on. The same nonce in a *different* envelope is refused as ``replayed``.
    ``text`` is the envelope as stored (``canonical``)."""
    found = _one(
        db,
        "SELECT round_id, kind, version, leaf, envelope FROM commitment"
        " WHERE seat_id = ? AND nonce = ?",
        [seat.id, body["nonce"]],
    )
    kind = found["kind"] if found else None
    if found is None:
        found = _one(
            db,
            "SELECT c.round_id, opening.leaf, opening.envelope FROM opening JOIN commitment c"
            " ON c.id = opening.commitment_id WHERE c.seat_id = ? AND opening.nonce = ?",
            [seat.id, body["nonce"]],
        )
        kind = "opening"
    if found is None or found["envelope"] != text:
        return None, found is not None
    state = _one(db, "SELECT state FROM round WHERE id = ?", [found["round_id"]])
    ack = {
        "ok": True,
        "round_id": found["round_id"],
        "kind": kind,
        "duplicate": True,
        "round_closed": bool(state and state["state"] != "open"),
        "receipt": receipt(store, db, seat.event_id, found["leaf"]),
    }
    if kind != "opening":
        ack["version"] = found["version"]
    return ack, True


def _round_for(db: sqlite_utils.Database, seat: Seat, round_id: object) -> dict[str, Any]:
    found = _one(
        db,
        "SELECT round.*, room.paused, room.event_id FROM round"
        " JOIN room ON room.id = round.room_id WHERE round.id = ?",
        [_int(round_id)],
    )
    if found is None or found["event_id"] != seat.event_id:
        raise UserError("unknown_round")
    if found["room_id"] != seat.room_id:
        raise UserError("round_other_room")
    if not _one(
        db,
        "SELECT 1 AS x FROM round_seat WHERE round_id = ? AND seat_id = ?",
        [found["id"], seat.id],
    ):
        raise UserError("not_seated")
    return found


def commit(store: Store, seat: Seat, payload: object) -> dict[str, Any]:
    """Take a signed commitment to a score sheet, or a signed recusal, for an open round.

    A score commitment may be replaced while the round is open (a new version; the old
    one stays in the log); a recusal is final. Acknowledged only after COMMIT, with a
    receipt: the leaf, a signed head and the inclusion proof."""
    envelope, body, key = _body(store, seat, payload, "commit")
    text = canonical(envelope).decode("utf-8")  # as stored; once, and outside the batch
    kind = "score" if body["type"] == "commitment" else "recusal"
    digest = body.get("commitment")
    if kind == "score" and not (
        isinstance(digest, str)
        and len(digest) == 64
        and all(c in "0123456789abcdef" for c in digest)
    ):
        raise UserError("malformed", field="commitment")
    if kind == "recusal":
        _reason(body.get("reason"), required=False)

    def work(db: sqlite_utils.Database) -> dict[str, Any]:
        # In a batch, a re-sent envelope finds its first copy whether an earlier batch
        # committed it or an earlier job of this same batch has just written it.
        duplicate, nonce_taken = _duplicate(store, db, seat, text, body)
        if duplicate:
            return duplicate
        found = _round_for(db, seat, body["round"])
        if found["state"] in (RoundState.REVEALING, RoundState.CLOSED):
            raise UserError("round_closed")
        if found["state"] != RoundState.OPEN:
            raise UserError("round_not_open")
        if found["paused"]:
            raise UserError("room_paused")
        _check_binding(db, seat, body, found, key, nonce_taken)
        previous = _seat_latest(db, found["id"], seat.id)
        if previous and previous["kind"] == "recusal":
            raise UserError("already_submitted")
        version = previous["version"] + 1 if previous else 1
        leaf = record(
            db,
            seat.actor,
            "commitment" if kind == "score" else "conflict_declared",
            "accepted",
            event=seat.event_id,
            envelope=envelope,
            version=version,
        )
        db.execute(
            "INSERT INTO commitment(round_id, seat_id, version, kind, digest, nonce, envelope,"
            " leaf, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                found["id"],
                seat.id,
                version,
                kind,
                digest if kind == "score" else None,
                body["nonce"],
                text,
                leaf,
                utcnow(),
            ],
        )
        proof = _accepted(store, db, seat, body, leaf)
        closed = _pending_count(db, found["id"]) == 0
        if closed:
            _announce_close(store, db, found, None, "system")
        # Written in this job's savepoint; its batch's COMMIT has not run yet.
        faults.passing("commit.before_commit")
        return {
            "ok": True,
            "round_id": found["id"],
            "kind": kind,
            "version": version,
            "duplicate": False,
            "round_closed": closed,
            "receipt": proof,
        }

    # Group commit: acknowledged after its batch's COMMIT (Store.group); ahead of openings.
    ack = store.group(work, sender=seat.id, urgent=True)
    if not ack["duplicate"]:
        faults.passing("commit.after_commit")  # committed, not yet acknowledged
    return ack


def reveal(store: Store, seat: Seat, payload: object) -> dict[str, Any]:
    """Take the opening of this seat's final commitment, once its round has closed."""
    envelope, body, key = _body(store, seat, payload, "reveal")
    text = canonical(envelope).decode("utf-8")  # as stored; once, and outside the batch

    def work(db: sqlite_utils.Database) -> dict[str, Any]:
        duplicate, nonce_taken = _duplicate(store, db, seat, text, body)
        if duplicate:
            return duplicate
        found = _round_for(db, seat, body["round"])
        if found["state"] in (RoundState.CALLED, RoundState.OPEN):
            raise UserError("round_not_revealing")
        if found["state"] == RoundState.CLOSED:
            raise UserError("round_closed")
        _check_binding(db, seat, body, found, key, nonce_taken)
        latest = _seat_latest(db, found["id"], seat.id)
        if latest is None or latest["kind"] != "score":
            raise UserError("nothing_to_open")
        if _one(db, "SELECT 1 AS x FROM opening WHERE commitment_id = ?", [latest["id"]]):
            raise UserError("already_submitted")
        items, total = _opened_sheet(db, seat, body, latest)
        leaf = record(db, seat.actor, "opening", "accepted", event=seat.event_id, envelope=envelope)
        db.execute(
            "INSERT INTO opening(commitment_id, items, total, nonce, envelope, leaf,"
            " received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                latest["id"],
                json.dumps(items),
                total,
                body["nonce"],
                text,
                leaf,
                utcnow(),
            ],
        )
        proof = _accepted(store, db, seat, body, leaf)
        done = _all_opened(db, found["id"])
        if done:
            _finish(store, db, found, "system")
        faults.passing("reveal.before_commit")  # in its savepoint, before the batch's COMMIT
        return {
            "ok": True,
            "round_id": found["id"],
            "kind": "opening",
            "duplicate": False,
            "round_closed": True,
            "finished": done,  # this opening was the round's last: its result is out
            "receipt": proof,
        }

    ack = store.group(work, sender=seat.id)  # acknowledged after its batch's COMMIT
    if not ack["duplicate"]:
        faults.passing("reveal.after_commit")  # committed, not yet acknowledged
    return ack


def _accepted(
    store: Store, db: sqlite_utils.Database, seat: Seat, body: dict, leaf: int | None
) -> dict[str, Any]:
    """After an accepted envelope: the device's sequence moves on; the receipt."""
    db.execute("UPDATE seat SET last_seq = ? WHERE id = ?", [body["seq"], seat.id])
    return receipt(store, db, seat.event_id, leaf or 0)


def _opened_sheet(
    db: sqlite_utils.Database, seat: Seat, body: dict, latest: dict[str, Any]
) -> tuple[dict[str, str], str]:
    """Check an opening against its commitment and the rubric; a refusal is logged apart
    (its own transaction) so the monitors see it."""
    problem, field = None, None
    try:
        if body.get("salt") is None or len(unb64u(body["salt"])) < 16:
            raise UserError("malformed", field="salt")
        if not isinstance(body.get("total"), str):
            raise UserError("malformed", field="total")
        if commitment(body) != latest["digest"]:
            problem = "opening_mismatch"
        else:
            values = validate_sheet(rubric(db, seat.event_id), body.get("items"))
            if not isinstance(body["items"], dict) or not all(
                isinstance(v, str) for v in body["items"].values()
            ):
                raise UserError("malformed", field="items")
            if parse_value(body["total"]) != sheet_total(values):
                problem, field = "opening_invalid", "total"
    except SheetError as err:
        problem, field = "opening_invalid", err.item
    except (KeyError, TypeError, ValueError):
        problem = "opening_mismatch"
    if problem:
        labels = {i.code: {"zh": i.label_zh, "en": i.label_en} for i in rubric(db, seat.event_id)}
        raise OpeningRefused(problem, field, seat, latest, labels.get(field or ""))
    return dict(body["items"]), str(parse_value(body["total"]))


class OpeningRefused(UserError):
    """A sealed sheet that does not open: recorded and shown to the monitors."""

    def __init__(
        self,
        code: str,
        field: str | None,
        seat: Seat,
        latest: dict[str, Any],
        labels: dict[str, str] | None = None,
    ) -> None:
        super().__init__(code, field=field, labels=labels)
        self.seat, self.round_id = seat, latest["round_id"]


def record_refused_opening(store: Store, err: OpeningRefused) -> None:
    record_refusal(
        store,
        err.seat.actor,
        "opening_refused",
        err.code,
        event=err.seat.event_id,
        round=err.round_id,
        seat=err.seat.id,
        field=err.field,
    )


# --- views ------------------------------------------------------------------------


def seat_outcomes(db: sqlite_utils.Database, round_id: int) -> list[tuple[int, str, Any]]:
    """Each seated rater's (seat number, status, total) for a round that is closed."""
    refused = {
        r["seat"]
        for r in db.query(
            "SELECT json_extract(data, '$.data.seat') AS seat FROM log_leaf"
            " WHERE type = 'opening_refused' AND json_extract(data, '$.data.round') = ?",
            [round_id],
        )
    }
    latest = {c["seat_id"]: c for c in _latest(db, round_id)}
    opened = {
        r["commitment_id"]: r["total"]
        for r in db.query(
            "SELECT commitment_id, total FROM opening JOIN commitment c"
            " ON c.id = opening.commitment_id WHERE c.round_id = ?",
            [round_id],
        )
    }
    outcomes = []
    for seat in db.query(
        "SELECT seat.id, seat.number FROM round_seat JOIN seat"
        " ON seat.id = round_seat.seat_id WHERE round_id = ?",
        [round_id],
    ):
        c = latest.get(seat["id"])
        if c is None:
            outcomes.append((seat["number"], "absent", None))
        elif c["kind"] == "recusal":
            outcomes.append((seat["number"], "recused", None))
        elif c["id"] in opened:
            outcomes.append((seat["number"], "scored", Decimal(opened[c["id"]])))
        else:
            status = "mismatch" if seat["id"] in refused else "unrevealed"
            outcomes.append((seat["number"], status, None))
    return outcomes


def round_result(db: sqlite_utils.Database, round_row: dict[str, Any], threshold: int) -> dict:
    """Every seat's total and the interview score of a CLOSED round (never an open one)."""
    if round_row["state"] != RoundState.CLOSED:
        raise RuntimeError("results of an open round must never be read")
    result = panel_result(seat_outcomes(db, round_row["id"]), threshold)
    result["close_reason"] = round_row["close_reason"]
    return result


def closed_result(db: sqlite_utils.Database, round_row: dict[str, Any], threshold: int) -> dict:
    """``round_result`` for the screens, remembered per connection: a closed round's result
    never changes (nothing is accepted for it any more), while recomputing every finished
    round made each board cost more as the day went on. Never remembered inside a
    transaction, which may yet roll back."""
    cache: dict[tuple[int, int], dict] = db.__dict__.setdefault("kiosk_closed_results", {})
    key = (round_row["id"], threshold)
    found = cache.get(key)
    if found is None:
        found = round_result(db, round_row, threshold)
        if not db.conn.in_transaction:
            cache[key] = found
    return dict(found)


def _seat_status(db: sqlite_utils.Database, round_row: dict[str, Any] | None) -> dict[int, str]:
    if round_row is None or round_row["state"] == RoundState.CALLED:
        return {}
    status = {
        r["seat_id"]: "pending"
        for r in db.query("SELECT seat_id FROM round_seat WHERE round_id = ?", [round_row["id"]])
    }
    # Each seat's latest commitment and whether it was opened, in one read and without
    # the envelopes' text: every screens' push reads this for each room it carries.
    for c in db.query(
        "SELECT c.seat_id, c.kind, EXISTS (SELECT 1 FROM opening WHERE commitment_id = c.id)"
        f" AS opened FROM commitment c WHERE c.round_id = ? AND {_LATEST}",
        [round_row["id"]],
    ):
        if c["kind"] == "recusal":
            status[c["seat_id"]] = "recused"
        else:
            status[c["seat_id"]] = "revealed" if c["opened"] else "submitted"
    return status


def _seat_mark(status: dict[int, str], seat_id: int) -> str | None:
    """A seat's mark on the screens: its status in the current round, ``not_seated`` if
    the round has seats and it is not one, None while there is nothing to mark (no round,
    or one only called)."""
    return status.get(seat_id, "not_seated" if status else None)


def room_status(db: sqlite_utils.Database, room: dict[str, Any], threshold: int) -> dict[str, Any]:
    """One room as the console sees it (the observer board picks from it: ``OBSERVER_ROOM``),
    but for its seats' ``online`` flags, which ``board`` sets from the live presence."""
    current = _one(
        db, "SELECT * FROM round WHERE room_id = ? ORDER BY id DESC LIMIT 1", [room["id"]]
    )
    status = _seat_status(db, current)
    seats = []
    for s in db.query("SELECT * FROM seat WHERE room_id = ? ORDER BY number", [room["id"]]):
        seats.append(
            {
                "number": s["number"],
                "enrolled": s["credential_digest"] is not None,
                "status": _seat_mark(status, s["id"]),
                "id": s["id"],
            }
        )
    round_view = None
    if current is not None:
        round_view = {
            "id": current["id"],
            "draw_number": current["draw_number"],
            "state": current["state"],
        }
        if current["state"] == RoundState.CLOSED:
            round_view["result"] = closed_result(db, current, threshold)
    finished = []
    for r in db.query(
        "SELECT * FROM round WHERE room_id = ? AND state = 'closed' ORDER BY closed_at, id",
        [room["id"]],
    ):
        res = closed_result(db, r, threshold)
        finished.append(
            {
                "draw_number": r["draw_number"],
                "mean": res["mean"],
                "counted": res["counted"],
                "closed_early": bool(r["close_reason"]),
            }
        )
    return {
        "id": room["id"],
        "code": room["code"],
        "name": room["name"],
        "paused": bool(room["paused"]),
        "seats": seats,
        "round": round_view,
        "finished": finished,
        "waiting": waiting_numbers(db, room["id"]),
        "arrived": arrived_numbers(db, room["id"]),
    }


def seat_marks(db: sqlite_utils.Database, kept: dict[str, Any]) -> dict[str, Any]:
    """A room as ``room_status`` built it, with its seats' marks read again: all that an
    act noted ``seats_only`` changes (``RoomCache.note``). The round, the queue and the
    finished rounds are taken as kept; any act that changes them rebuilds the room."""
    current = kept["round"]
    status = {} if current is None else _seat_status(db, current)
    seats = [{**seat, "status": _seat_mark(status, seat["id"])} for seat in kept["seats"]]
    return {**kept, "seats": seats}


def published_names(db: sqlite_utils.Database, event: dict[str, Any]) -> dict[str, str]:
    """Draw number -> name, for screens after the interviews have ended."""
    return {
        str(r["draw_number"]): r["name"]
        for r in db.query(
            "SELECT draw_number, name FROM candidate WHERE event_id = ?"
            " AND draw_number IS NOT NULL",
            [event["id"]],
        )
    }


def event_row(db: sqlite_utils.Database, event_id: int) -> dict[str, Any]:
    found = _one(db, "SELECT * FROM event WHERE id = ?", [event_id])
    if found is None:
        raise LookupError(f"no event {event_id}")
    return found


def pending_approvals(db: sqlite_utils.Database, event_id: int) -> list[dict[str, Any]]:
    from .approval import pending  # approval runs interview's acts: imported late

    return pending(db, event_id)


def results_board(
    db: sqlite_utils.Database,
    event_id: int,
    cache: RoomCache | None = None,
    changed: set[int] | None = None,
) -> dict[str, Any]:
    """The board's results part; with a ``cache``, kept while no act could change it."""
    from .results import board_view, settled_by_room_acts  # results reads rounds here

    if cache is None:
        return board_view(db, event_id)
    build = functools.partial(board_view, db, event_id)
    return cache.view("results_board", event_id, changed, build, settled_by_room_acts)


# What an observer screen's board holds, field by field: an allow-list, so a field added
# for the console stays off the screens until it is named here.
OBSERVER_BOARD = ("head", "event", "rooms", "draws", "approvals", "names", "results")
OBSERVER_ROOM = ("id", "code", "name", "paused", "seats", "round", "finished")
OBSERVER_SEAT = ("number", "enrolled", "status")


def observer_board(console: dict[str, Any]) -> dict[str, Any]:
    """The observer board, picked out of the console's board: the screens' pushes build
    the rooms once for both audiences."""
    view = {key: console[key] for key in OBSERVER_BOARD}
    view["rooms"] = [
        {
            **{key: room[key] for key in OBSERVER_ROOM},
            "seats": [{key: seat[key] for key in OBSERVER_SEAT} for seat in room["seats"]],
        }
        for room in console["rooms"]
    ]
    return view


class RoomCache:
    """The rooms as the screens' last push built them, and the rooms changed since.

    A push rebuilds only the rooms an act has named as changed (``changed``; None when
    an act may have changed any room) and takes the others from here: at 150 scores a
    second a push sees a handful of the 50 rooms change, and rebuilding all of them was
    the bulk of its time. Every act that changes a room publishes afterwards naming that
    room or none (``live.publish``), so a room kept here is the one the database holds.
    Each screen's own picture of a room (the board's status, the check-in desk's queue)
    is kept under its ``kind``; ``view`` keeps one whole view that no room-named act
    changes (see there)."""

    def __init__(self) -> None:
        # (kind, event, room, threshold) -> that room as built for that screen
        self.rooms: dict[tuple[str, int, int, int], dict[str, Any]] = {}
        self.views: dict[tuple[str, int], dict[str, Any]] = {}  # (kind, event) -> view
        self.changed: set[int] | None = None  # None: rebuild every room
        self.whole: set[int] | None = None  # of those, rooms changed beyond seats' marks
        # room id -> (a room as kept above, its seats, those online, the two laid together)
        self.marked: dict[
            int, tuple[dict[str, Any], frozenset[int], frozenset[int], dict[str, Any]]
        ] = {}

    def note(self, room_id: int | None, seats_only: bool = False) -> None:
        """An act changed ``room_id`` (None: any room). ``seats_only``: it changed only a
        seat's mark or presence there (a commitment that left its round open, an opening
        that was not its round's last, a tablet coming or going), not its round, its
        queue or its finished rounds. At 150 scores a second nearly every act is such
        a one, and each had its room read whole again for the board and the check-in
        desk, which shows no seats at all."""
        if room_id is None:
            self.changed = self.whole = None
            return
        if self.changed is not None:
            self.changed.add(room_id)
        if not seats_only and self.whole is not None:
            self.whole.add(room_id)

    def take(self, rooms: set[int] | None = None) -> tuple[set[int] | None, set[int] | None]:
        """The rooms changed, and those of them changed beyond their seats' marks; only
        those among ``rooms`` when given and no change named any room (the others stay
        noted). Changes from here on are noted for the next push."""
        if rooms is None or self.changed is None or self.whole is None:
            taken = (self.changed, self.whole)
            self.changed, self.whole = set(), set()
            return taken
        taken = (self.changed & rooms, self.whole & rooms)
        self.changed -= rooms
        self.whole -= rooms
        return taken

    def room(
        self,
        kind: str,
        build: Callable[[sqlite_utils.Database, dict[str, Any], int], dict[str, Any]],
        db: sqlite_utils.Database,
        room: dict[str, Any],
        threshold: int,
        changed: set[int] | None,
        whole: set[int] | None = None,
        refresh: Callable[[sqlite_utils.Database, dict[str, Any]], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """``build(db, room, threshold)``, built again only if the room is ``changed``; with
        a ``refresh``, a room changed only in its seats' marks (not in ``whole``) is kept
        with them read again (``refresh(db, kept)``)."""
        key = (kind, room["event_id"], room["id"], threshold)
        found = self.rooms.get(key)
        if found is not None and changed is not None and room["id"] not in changed:
            return found
        if found is None or refresh is None or whole is None or room["id"] in whole:
            found = self.rooms[key] = build(db, room, threshold)
        else:
            found = self.rooms[key] = refresh(db, found)
        return found

    def drop(self, kind: str) -> None:
        """Forget the rooms kept for ``kind``: no screen of that kind is watching."""
        if any(key[0] == kind for key in self.rooms):
            self.rooms = {key: room for key, room in self.rooms.items() if key[0] != kind}

    def view(
        self,
        kind: str,
        event_id: int,
        changed: set[int] | None,
        build: Callable[[], dict[str, Any]],
        settled: Callable[[dict[str, Any]], bool],
    ) -> dict[str, Any]:
        """A whole view that acts naming a room leave alone once ``settled(view)`` says
        so; built again after any act that named none (``changed`` None)."""
        key = (kind, event_id)
        found = self.views.get(key)
        if found is None or changed is None or not settled(found):
            found = self.views[key] = build()
        return found

    def online(self, room: dict[str, Any], online: set[int]) -> dict[str, Any]:
        """``_online(room, online)``, copied again only when the room was rebuilt or one
        of its seats came or went: a push otherwise copied every seat of every room (750
        at 50 rooms) to send only the few rooms that changed."""
        found = self.marked.get(room["id"])
        if found is not None and found[0] is room and found[1] & online == found[2]:
            return found[3]
        seats = frozenset(seat["id"] for seat in room["seats"])
        marked = _online(room, online)
        self.marked[room["id"]] = (room, seats, seats & online, marked)
        return marked


def _online(room: dict[str, Any], online: set[int]) -> dict[str, Any]:
    return {**room, "seats": [{**s, "online": s["id"] in online} for s in room["seats"]]}


def board(
    store: Store,
    event_id: int,
    organiser: bool = False,
    online: set[int] | None = None,
    cache: RoomCache | None = None,
    changed: set[int] | None = None,
    whole: set[int] | None = None,
) -> dict[str, Any]:
    """Every room of the event: the observer board, or with ``organiser`` the console's
    richer board (the observer board is picked out of it: ``observer_board``). With a
    ``cache`` only the ``changed`` rooms are read again (``RoomCache``), and of those
    only the seats' marks unless the room is in ``whole`` too."""
    with store.read() as db:
        event = event_row(db, event_id)
        threshold = event["drop_threshold"]
        online = online or set()
        rooms = [
            _online(room_status(db, room, threshold), online)
            if cache is None
            else cache.online(
                cache.room("status", room_status, db, room, threshold, changed, whole, seat_marks),
                online,
            )
            for room in db.query("SELECT * FROM room WHERE event_id = ? ORDER BY code", [event_id])
        ]
        head = _one(
            db,
            "SELECT size, root, time FROM tree_head WHERE event_id = ? ORDER BY id DESC LIMIT 1",
            [event_id],
        )
        view: dict[str, Any] = {
            "head": head,
            "event": {
                "id": event_id,
                "name": event["name"],
                "rehearsal": bool(event["is_rehearsal"]),
                "threshold": event["drop_threshold"],
                "interviews_ended": event["interviews_ended_at"] is not None,
            },
            "rooms": rooms,
            "draws": draws_view(db, event_id),
            "approvals": pending_approvals(db, event_id),  # two-person acts awaiting a yes
            # The number -> name mapping, published only once the interviews have ended.
            "names": published_names(db, event) if event["interviews_ended_at"] else None,
            "results": results_board(db, event_id, cache, changed),
        }
        view["observers"] = [
            {
                "id": o["id"],
                "role": o["role"],
                "label": o["label"],
                "enrolled": o["enrolled_at"] is not None,
            }
            for o in db.query(
                "SELECT * FROM observer WHERE event_id = ? AND revoked = 0 ORDER BY id",
                [event_id],
            )
        ]
    return view if organiser else observer_board(view)


def rater_view(store: Store, seat: Seat) -> dict[str, Any]:
    """What one tablet may know: its seat, the draw number in its room (signed by the
    server), its own state, and the signed close statements it still owes an opening for."""
    return rater_views(store, [seat])[0]


def rater_views(store: Store, seats: list[Seat]) -> list[dict[str, Any]]:
    """``rater_view`` for several seats of one room, in their order, built together.

    A round's change is pushed to every tablet of its room: what they share (the room,
    its round and its signed statement, the close statements, the rubric) is read and
    signed once for the room, not once per tablet (an Ed25519 signature is
    deterministic, so each tablet receives the same bytes either way)."""
    if not seats:
        return []
    event_id, room_id = seats[0].event_id, seats[0].room_id
    if any(s.event_id != event_id or s.room_id != room_id for s in seats):
        raise ValueError("rater_views builds the seats of one room")
    with store.read() as db:
        room = _room(db, event_id, room_id)
        current = _one(
            db,
            "SELECT round.*, room.event_id FROM round JOIN room"
            " ON room.id = round.room_id WHERE room_id = ? ORDER BY round.id DESC"
            " LIMIT 1",
            [room_id],
        )
        seated: set[int] = set()
        latest: dict[int, dict[str, Any]] = {}
        statement = None
        if current is not None:
            seated = {
                r["seat_id"]
                for r in db.query(
                    "SELECT seat_id FROM round_seat WHERE round_id = ?", [current["id"]]
                )
            }
            latest = {c["seat_id"]: c for c in _latest(db, current["id"])}
            statement = sign(
                store.server_key,
                {
                    "type": "round_state",
                    "event": event_id,
                    "room": room_id,
                    "round": current["id"],
                    "draw_number": current["draw_number"],
                    "state": current["state"],
                },
            )
        # Each seat's unopened scores in rounds now revealing: the close statements it owes
        # an opening for, each built and signed once however many seats owe it.
        owed: dict[int, list[dict[str, Any]]] = {}
        closes: dict[int, dict[str, Any]] = {}
        for r in db.query(
            "SELECT round.*, room.event_id, c.seat_id AS owed_by FROM round JOIN room"
            " ON room.id = round.room_id JOIN commitment c ON c.round_id = round.id"
            " WHERE round.room_id = ? AND round.state = 'revealing' AND c.kind = 'score'"
            " AND c.version = (SELECT MAX(version) FROM commitment WHERE round_id = round.id"
            " AND seat_id = c.seat_id) AND c.id NOT IN (SELECT commitment_id FROM opening)"
            " ORDER BY round.id",
            [room_id],
        ):
            if r["id"] not in closes:
                closes[r["id"]] = sign(store.server_key, close_statement(db, r))
            owed.setdefault(r["owed_by"], []).append(closes[r["id"]])
        scored = rubric(db, event_id)
        items = [
            {
                "code": i.code,
                "label_zh": i.label_zh,
                "label_en": i.label_en,
                "max": str(i.max),
                "step": str(i.step),
            }
            for i in scored
        ]
        version = rubric_hash(scored)
    views = []
    for seat in seats:
        round_view = None
        if current is not None:
            mine = latest.get(seat.id)
            round_view = {
                "id": current["id"],
                "draw_number": current["draw_number"],
                "state": current["state"],
                "seated": seat.id in seated,
                "mine": None if mine is None else mine["kind"],
                "version": None if mine is None else mine["version"],
                "statement": statement,
            }
        views.append(
            {
                "seat": {"id": seat.id, "number": seat.number},
                "event": event_id,
                "room": {"id": room["id"], "name": room["name"], "paused": bool(room["paused"])},
                "round": round_view,
                "rubric": items,
                "rubric_version": version,
                "reveal": owed.get(seat.id, []),
            }
        )
    return views
