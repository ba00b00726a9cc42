"""The lot-drawing ceremony: named parties commit to sources, reveal them, and the
RFC 3797 draw (``ballot.lots``) orders the candidates and gives their draw numbers.

Flow (docs/lots.md): the organiser starts a draw naming the parties in the order their
sources will be used; the pool is every candidate in registration-number order, fixed
by its digest. Each party, on its own device (a one-time link), sends only the SHA-256
commitment of its number and a salt. When all have committed, each reveals; a reveal
that does not match is refused, recorded and shown. When all have revealed, the draw is
computed, logged step by step, and applied: draw number = place in the drawn order,
rooms filled in blocks in room-code order. Every attempt is kept; a re-draw needs a
reason and the screens show how many draws were made over this pool.

The log records positions only. The pool list, which maps draw numbers to people, is
logged when the organiser ends the interviews (``end_interviews``), so the draw can be
recomputed by anyone after the scoring, and by nobody outside check-in during it.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import sqlite_utils

from ballot.lots import (
    HASHES,
    LotError,
    Rater,
    draw,
    draw_raters,
    normalise_source,
    parse_source,
    pool_digest,
    recompute_command,
    source_commitment,
)
from ballot.names import mask_name
from seal.tokens import derive, digest

from . import rules
from .audit import record
from .errors import UserError
from .storage import Store, utcnow

DEFAULT_PARTIES = ("组织者", "纪检监督员", "考生代表")
MAX_PARTIES = 7
MAX_LABEL = 40
PURPOSES = ("order", "raters", "tie")


class DrawState(StrEnum):
    COMMITTING = "committing"
    REVEALING = "revealing"
    DRAWN = "drawn"
    VOID = "void"


def _labels(parties: object) -> list[str]:
    if parties is None:
        return list(DEFAULT_PARTIES)
    if not isinstance(parties, list) or not all(isinstance(p, str) for p in parties):
        raise UserError("malformed", field="parties")
    labels = [p.strip() for p in parties if p.strip()]
    if not 1 <= len(labels) <= MAX_PARTIES:
        raise UserError("lot_parties", n=MAX_PARTIES)
    if any(len(label) > MAX_LABEL for label in labels) or len(set(labels)) != len(labels):
        raise UserError("lot_parties", n=MAX_PARTIES)
    return labels


def _reason(value: object) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value.strip()) > 500:
        raise UserError("too_long", field="reason")
    return value.strip()


def _active(db: sqlite_utils.Database, event_id: int) -> dict[str, Any] | None:
    return next(
        iter(
            db.query(
                "SELECT * FROM lot_draw WHERE event_id = ?"
                " AND state IN ('committing', 'revealing')",
                [event_id],
            )
        ),
        None,
    )


def start_draw(
    store: Store,
    key: bytes,
    event_id: int,
    parties: object,
    reason: object,
    actor: str,
    hash_name: str = "sha256",
    purpose: object = "order",
) -> int:
    """Fix the pool and the parties and open commitments. Refused once any candidate has
    been called: the order and the panels cannot change under a running interview.

    ``purpose`` "order": the pool is every candidate by registration number, the draw
    gives draw numbers and rooms. "raters": the pool is every rater in roster order; the
    draw seats them in rooms with no two from one unit in a room and nobody in the room
    of a candidate they declared a conflict (回避) with (``ballot.lots.draw_raters``).
    "tie": after the interviews, the pool is the tied group the results cannot separate
    at a seat boundary, by registration number; the drawn order is the recorded lot that
    breaks the tie (docs/results.md)."""
    labels = _labels(parties)
    reason_text = _reason(reason)
    if hash_name not in HASHES:
        raise UserError("malformed", field="hash")
    if purpose not in PURPOSES:
        raise UserError("malformed", field="purpose")
    with store.write() as db:
        pool, members = _pool(db, event_id, purpose)
        fixed = pool_digest(members)
        before = next(
            iter(
                db.query(
                    "SELECT count(*) AS n FROM lot_draw WHERE event_id = ? AND purpose = ?"
                    " AND pool_digest = ? AND hash = ?",
                    [event_id, purpose, fixed, hash_name],
                )
            )
        )["n"]
        if before and reason_text is None:
            raise UserError("lot_redraw_reason")
        cursor = db.execute(
            "INSERT INTO lot_draw(event_id, purpose, hash, pool, pool_digest, attempt, reason,"
            " state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'committing', ?)",
            [
                event_id,
                purpose,
                hash_name,
                json.dumps(pool, ensure_ascii=False),
                fixed,
                before + 1,
                reason_text,
                utcnow(),
            ],
        )
        draw_id = int(cursor.lastrowid or 0)
        for position, label in enumerate(labels, start=1):
            party = db.execute(
                "INSERT INTO lot_party(draw_id, position, label) VALUES (?, ?, ?)",
                [draw_id, position, label],
            ).lastrowid
            token = derive(key, "lot", int(party or 0), 1)
            db.execute("UPDATE lot_party SET token_digest = ? WHERE id = ?", [digest(token), party])
        record(
            db,
            actor,
            "lot_draw_started",
            "accepted",
            event=event_id,
            draw=draw_id,
            purpose=purpose,
            hash=hash_name,
            pool_size=len(pool),
            pool_digest=fixed,
            attempt=before + 1,
            reason=reason_text,
            parties=labels,
            # Raters are public: their pool, units, the rooms they must avoid and the
            # rooms' seats are what the verifier needs to recompute the placement. A tie's
            # pool is drawn after the names are published: it is logged whole.
            **(_rater_inputs(db, event_id, pool) if purpose == "raters" else {}),
            **({"pool": pool} if purpose == "tie" else {}),
        )
    return draw_id


def _pool(db: sqlite_utils.Database, event_id: int, purpose: object) -> tuple[list[Any], list[str]]:
    """The pool a draw may start with now, and its members as the digest lists them; or
    the refusal that says why no draw may start."""
    if purpose == "tie":
        if _active(db, event_id) is not None:
            raise UserError("lot_in_progress")
        from .results import tie_pool  # results reads the draws: imported late

        members = tie_pool(db, event_id)
        return list(members), members
    if rules.interviews_started(db, event_id):
        raise UserError("lot_after_interviews")
    if _active(db, event_id) is not None:
        raise UserError("lot_in_progress")
    if next(iter(db.query("SELECT id FROM room WHERE event_id = ?", [event_id])), None) is None:
        raise UserError("unknown_room")
    if purpose == "order":
        pool: list[Any] = [
            r["reg_no"]
            for r in db.query(
                "SELECT reg_no FROM candidate WHERE event_id = ? ORDER BY reg_no", [event_id]
            )
        ]
        members = pool
    else:
        pool = _rater_pool(db, event_id)
        members = [f"{r['name']}|{r['unit']}" for r in pool]
    if not pool:
        raise UserError("lot_empty_pool")
    return pool, members


def check_start(store: Store, event_id: int, parties: object, purpose: object) -> None:
    """Check a draw could start now (before a re-draw is asked of a monitor)."""
    _labels(parties)
    if purpose not in PURPOSES:
        raise UserError("malformed", field="purpose")
    with store.read() as db:
        _pool(db, event_id, purpose)


def _rater_pool(db: sqlite_utils.Database, event_id: int) -> list[dict[str, Any]]:
    """Raters in roster order, each with the rooms of the candidates they must avoid."""
    rooms = {
        r["reg_no"]: r["code"]
        for r in db.query(
            "SELECT candidate.reg_no, room.code FROM candidate JOIN room"
            " ON room.id = candidate.room_id WHERE candidate.event_id = ?",
            [event_id],
        )
    }
    pool = []
    for r in db.query("SELECT * FROM rater WHERE event_id = ? ORDER BY id", [event_id]):
        conflicts = json.loads(r["conflicts"])
        if any(reg_no not in rooms for reg_no in conflicts):
            raise UserError("lot_rooms_unset")  # draw the candidates' order first
        avoid = sorted({rooms[reg_no] for reg_no in conflicts})
        pool.append({"id": r["id"], "name": r["name"], "unit": r["unit"], "avoid": avoid})
    return pool


def _rater_inputs(
    db: sqlite_utils.Database, event_id: int, pool: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "raters": [{k: r[k] for k in ("name", "unit", "avoid")} for r in pool],
        "rooms": _room_seats(db, event_id),
    }


def _room_seats(db: sqlite_utils.Database, event_id: int) -> list[dict[str, Any]]:
    return [
        {"code": r["code"], "seats": r["seats"]}
        for r in db.query(
            "SELECT room.code, count(seat.id) AS seats FROM room JOIN seat"
            " ON seat.room_id = room.id WHERE room.event_id = ? GROUP BY room.id"
            " ORDER BY room.code",
            [event_id],
        )
    ]


def party_tokens(store: Store, key: bytes, draw_id: int) -> list[dict[str, Any]]:
    """Each party's link token, re-derived for the printed sheet, with its label."""
    parties = store.rows(
        "SELECT id, position, label, commitment FROM lot_party WHERE draw_id = ? ORDER BY position",
        [draw_id],
    )
    for party in parties:
        party["token"] = derive(key, "lot", party["id"], 1)
    return parties


def party_for_token(store: Store, token: object) -> dict[str, Any] | None:
    """The party a link belongs to, with its draw's event and state."""
    if not isinstance(token, str) or not 10 <= len(token) <= 100:
        return None
    return store.row(
        "SELECT lot_party.*, lot_draw.event_id, lot_draw.state, lot_draw.attempt"
        " FROM lot_party JOIN lot_draw ON lot_draw.id = lot_party.draw_id"
        " WHERE lot_party.token_digest = ?",
        [digest(token)],
    )


def _party(db: sqlite_utils.Database, token: object) -> dict[str, Any]:
    if not isinstance(token, str) or not 10 <= len(token) <= 100:
        raise UserError("token_unknown")
    found = next(
        iter(
            db.query(
                "SELECT lot_party.*, lot_draw.event_id, lot_draw.state, lot_draw.hash,"
                " lot_draw.pool, lot_draw.purpose"
                " FROM lot_party JOIN lot_draw ON lot_draw.id = lot_party.draw_id"
                " WHERE lot_party.token_digest = ?",
                [digest(token)],
            )
        ),
        None,
    )
    if found is None:
        raise UserError("token_unknown")
    return found


def commit(store: Store, token: object, commitment: object) -> dict[str, Any]:
    """Take a party's commitment (64 hex digits); the last one opens the reveals."""
    if (
        not isinstance(commitment, str)
        or len(commitment) != 64
        or any(c not in "0123456789abcdef" for c in commitment)
    ):
        raise UserError("malformed", field="commitment")
    with store.write() as db:
        party = _party(db, token)
        if party["state"] != DrawState.COMMITTING or party["commitment"] is not None:
            raise UserError("lot_not_committing")
        db.execute("UPDATE lot_party SET commitment = ? WHERE id = ?", [commitment, party["id"]])
        record(
            db,
            f"lot_party:{party['id']}",
            "lot_committed",
            "accepted",
            event=party["event_id"],
            draw=party["draw_id"],
            party=party["position"],
            commitment=commitment,
        )
        waiting = next(
            iter(
                db.query(
                    "SELECT count(*) AS n FROM lot_party WHERE draw_id = ? AND commitment IS NULL",
                    [party["draw_id"]],
                )
            )
        )["n"]
        if not waiting:
            db.execute("UPDATE lot_draw SET state = 'revealing' WHERE id = ?", [party["draw_id"]])
    return party


def reveal(store: Store, token: object, value: object, salt: object) -> dict[str, Any]:
    """Take a party's reveal. A value and salt that do not hash to the commitment are
    refused and the refusal is logged (the screen shows it); the last good reveal makes
    the draw."""
    if not isinstance(value, str) or not isinstance(salt, str) or len(value) > 400:
        raise UserError("malformed", field="value")
    with store.read() as db:
        party = _party(db, token)
    if party["state"] != DrawState.REVEALING or party["value"] is not None:
        raise UserError("lot_not_revealing")
    try:
        normal = normalise_source(value)
        matches = source_commitment(normal, salt) == party["commitment"]
    except LotError:
        matches = False
    if not matches:
        # Refused and logged, in the open: the screens count each party's refusals.
        with store.write() as db:
            db.execute("UPDATE lot_party SET refused = refused + 1 WHERE id = ?", [party["id"]])
            record(
                db,
                f"lot_party:{party['id']}",
                "lot_revealed",
                "refused",
                event=party["event_id"],
                code="lot_reveal_mismatch",
                draw=party["draw_id"],
                party=party["position"],
            )
        raise UserError("lot_reveal_mismatch")
    with store.write() as db:
        party = _party(db, token)  # again, inside the transaction
        if party["state"] != DrawState.REVEALING or party["value"] is not None:
            raise UserError("lot_not_revealing")
        db.execute(
            "UPDATE lot_party SET value = ?, salt = ? WHERE id = ?", [normal, salt, party["id"]]
        )
        record(
            db,
            f"lot_party:{party['id']}",
            "lot_revealed",
            "accepted",
            event=party["event_id"],
            draw=party["draw_id"],
            party=party["position"],
            value=normal,
            salt=salt,
        )
        parties = list(
            db.query(
                "SELECT * FROM lot_party WHERE draw_id = ? ORDER BY position", [party["draw_id"]]
            )
        )
        if all(p["value"] is not None for p in parties):
            _make_draw(db, party, [p["value"] for p in parties])
    return party


def _make_draw(db: sqlite_utils.Database, party: dict[str, Any], sources: list[str]) -> None:
    """Compute the draw, log every step, and give the draw numbers and rooms."""
    pool = json.loads(party["pool"])
    key, steps = draw(len(pool), len(pool), [parse_source(s) for s in sources], party["hash"])
    order = [s.selected for s in steps]
    db.execute(
        "UPDATE lot_draw SET state = 'drawn', key = ?, steps = ?, ended_at = ? WHERE id = ?",
        [
            key,
            json.dumps([s.__dict__ for s in steps]),
            utcnow(),
            party["draw_id"],
        ],
    )
    event_id = party["event_id"]
    if party["purpose"] == "tie":  # the order is the lot itself: nothing to assign
        _log_drawn(db, party, key, steps)
        return
    if party["purpose"] == "raters":
        _seat_raters(db, party, pool, [parse_source(s) for s in sources], (key, steps))
        return
    rooms = [
        r["id"]
        for r in db.query("SELECT id FROM room WHERE event_id = ? ORDER BY code", [event_id])
    ]
    per_room = -(-len(pool) // len(rooms))
    ids = {
        r["reg_no"]: r["id"]
        for r in db.query("SELECT id, reg_no FROM candidate WHERE event_id = ?", [event_id])
    }
    # Clear first: the UNIQUE(event, draw_number) must hold at every statement.
    db.execute(
        "UPDATE candidate SET draw_number = NULL, room_id = NULL WHERE event_id = ?", [event_id]
    )
    for number, position in enumerate(order, start=1):
        db.execute(
            "UPDATE candidate SET draw_number = ?, room_id = ? WHERE id = ?",
            [number, rooms[(number - 1) // per_room], ids[pool[position - 1]]],
        )
    _log_drawn(
        db,
        party,
        key,
        steps,
        rooms=[
            {"room": room, "first": i * per_room + 1, "last": min((i + 1) * per_room, len(pool))}
            for i, room in enumerate(rooms)
        ],
    )


def _log_drawn(
    db: sqlite_utils.Database, party: dict[str, Any], key: str, steps: list[Any], **result: Any
) -> None:
    """The draw's leaf: key string, every step, the order, and what it decided."""
    record(
        db,
        "kiosk",
        "lot_drawn",
        "accepted",
        event=party["event_id"],
        draw=party["draw_id"],
        key=key,
        hash=party["hash"],
        steps=[s.__dict__ for s in steps],
        order=[s.selected for s in steps],
        **result,
    )


def _seat_raters(
    db: sqlite_utils.Database,
    party: dict[str, Any],
    pool: list[dict[str, Any]],
    sources: list[list[int]],
    drawn: tuple[str, list[Any]],
) -> None:
    """Place the drawn raters (``ballot.lots.draw_raters``), seat by seat in each room,
    and log the placement by pool position."""
    event_id = party["event_id"]
    rooms = _room_seats(db, event_id)
    key, steps = drawn
    placed = draw_raters(
        [Rater(str(i), r["unit"], frozenset(r["avoid"])) for i, r in enumerate(pool, start=1)],
        [r["code"] for r in rooms],
        {r["code"]: r["seats"] for r in rooms},
        sources,
        party["hash"],
    )
    db.execute("UPDATE rater SET seat_id = NULL WHERE event_id = ?", [event_id])
    for code, members in placed.rooms.items():
        for number, position in enumerate(members, start=1):
            db.execute(
                "UPDATE rater SET seat_id = (SELECT seat.id FROM seat JOIN room"
                " ON room.id = seat.room_id WHERE room.event_id = ? AND room.code = ?"
                " AND seat.number = ?) WHERE id = ?",
                [event_id, code, number, pool[int(position) - 1]["id"]],
            )
    _log_drawn(
        db,
        party,
        key,
        steps,
        placement={code: [int(p) for p in members] for code, members in placed.rooms.items()},
        reserves=[int(p) for p in placed.reserves],
        unfilled=placed.unfilled,
    )


def is_redraw(store: Store, event_id: int, purpose: object) -> bool:
    """Whether a draw of this purpose was started before (a re-draw needs a monitor); for
    a tie, a draw over the same tied group."""
    if purpose == "tie":
        with store.read() as db:
            pool, members = _pool(db, event_id, purpose)
        digest_ = pool_digest(members)
        return (
            store.row(
                "SELECT id FROM lot_draw WHERE event_id = ? AND purpose = 'tie'"
                " AND pool_digest = ?",
                [event_id, digest_],
            )
            is not None
        )
    return (
        store.row("SELECT id FROM lot_draw WHERE event_id = ? AND purpose = ?", [event_id, purpose])
        is not None
    )


def void_check(store: Store, event_id: int, reason: object) -> str:
    """Check a void before it is asked of a monitor; returns the reason."""
    text = _reason(reason)
    if text is None:
        raise UserError("reason_required", field="reason")
    with store.read() as db:
        if _active(db, event_id) is None:
            raise UserError("lot_none_active")
    return text


def end_check(store: Store, event_id: int) -> None:
    """Check the interviews can end before it is asked of a monitor."""
    with store.read() as db:
        _end_preconditions(db, event_id)


def _end_preconditions(db: sqlite_utils.Database, event_id: int) -> None:
    event = next(iter(db.query("SELECT * FROM event WHERE id = ?", [event_id])))
    if event["interviews_ended_at"] is not None:
        raise UserError("interviews_already_ended")
    open_ = next(
        iter(
            db.query(
                "SELECT count(*) AS n FROM candidate WHERE event_id = ?"
                " AND draw_number IS NOT NULL AND id NOT IN"
                " (SELECT candidate_id FROM round WHERE state = 'closed')",
                [event_id],
            )
        )
    )["n"]
    if open_:
        raise UserError("interviews_not_finished", n=open_)


def void_draw(store: Store, event_id: int, reason: object, actor: str) -> None:
    """Abandon the draw in progress (a party's device lost, a party absent), with a reason.
    It stays on record and counts as an attempt."""
    text = _reason(reason)
    if text is None:
        raise UserError("reason_required", field="reason")
    with store.write() as db:
        active = _active(db, event_id)
        if active is None:
            raise UserError("lot_none_active")
        db.execute(
            "UPDATE lot_draw SET state = 'void', ended_at = ? WHERE id = ?",
            [utcnow(), active["id"]],
        )
        record(
            db, actor, "lot_draw_voided", "accepted", event=event_id, draw=active["id"], reason=text
        )


def draws_view(db: sqlite_utils.Database, event_id: int) -> list[dict[str, Any]]:
    """The latest draw of each purpose (the order first), as every screen shows it."""
    rows = db.query(
        "SELECT * FROM lot_draw WHERE id IN (SELECT max(id) FROM lot_draw WHERE event_id = ?"
        " GROUP BY purpose) ORDER BY purpose = 'raters', id",
        [event_id],
    )
    return [draw_view(db, row) for row in rows]


def draw_view(db: sqlite_utils.Database, row: dict[str, Any]) -> dict[str, Any]:
    """One draw: pool size and digest, parties with their commitments (values only once
    revealed), refusals, attempts over this pool, and when drawn the key string, each
    step's digest and the result. Never a candidate's name; a rater draw names raters."""
    attempts = next(
        iter(
            db.query(
                "SELECT count(*) AS n FROM lot_draw WHERE event_id = ? AND purpose = ?"
                " AND pool_digest = ? AND hash = ?",
                [row["event_id"], row["purpose"], row["pool_digest"], row["hash"]],
            )
        )
    )["n"]
    parties = list(
        db.query("SELECT * FROM lot_party WHERE draw_id = ? ORDER BY position", [row["id"]])
    )
    pool = json.loads(row["pool"])
    view: dict[str, Any] = {
        "id": row["id"],
        "purpose": row["purpose"],
        "state": row["state"],
        "hash": row["hash"],
        "attempt": row["attempt"],
        "attempts": attempts,
        "reason": row["reason"],
        "pool_size": len(pool),
        "pool_digest": row["pool_digest"],
        "parties": [
            {
                "position": p["position"],
                "label": p["label"],
                "commitment": p["commitment"],
                "value": p["value"],
                "salt": p["salt"],
                "refused": p["refused"],
            }
            for p in parties
        ],
        "key": row["key"],
        "steps": json.loads(row["steps"]) if row["steps"] else None,
        "command": None,
        "placement": None,
        # A tie's pool is public (drawn after the names are): registration numbers.
        "pool": pool if row["purpose"] == "tie" else None,
    }
    if row["state"] == DrawState.DRAWN:
        view["command"] = recompute_command(len(pool), [p["value"] for p in parties], row["hash"])
        if row["purpose"] == "raters":
            view["placement"] = _placement(db, row["event_id"], pool)
    return view


def _placement(
    db: sqlite_utils.Database, event_id: int, pool: list[dict[str, Any]]
) -> dict[str, Any]:
    """Where the rater draw seated everyone: rooms with names in seat order, reserves."""
    seated = {
        r["id"]: (r["code"], r["number"])
        for r in db.query(
            "SELECT rater.id, room.code, seat.number FROM rater"
            " JOIN seat ON seat.id = rater.seat_id JOIN room ON room.id = seat.room_id"
            " WHERE rater.event_id = ?",
            [event_id],
        )
    }
    rooms = []
    for room in db.query("SELECT * FROM room WHERE event_id = ? ORDER BY code", [event_id]):
        members = sorted(
            (seated[r["id"]][1], r["name"], r["unit"])
            for r in pool
            if seated.get(r["id"], ("",))[0] == room["code"]
        )
        rooms.append(
            {
                "code": room["code"],
                "name": room["name"],
                "raters": [{"seat": n, "name": name, "unit": unit} for n, name, unit in members],
            }
        )
    return {
        "rooms": rooms,
        "reserves": [{"name": r["name"], "unit": r["unit"]} for r in pool if r["id"] not in seated],
    }


def party_view(store: Store, token: object) -> dict[str, Any] | None:
    """What a party's device may know: its own place and the draw's progress."""
    party = party_for_token(store, token)
    if party is None:
        return None
    with store.read() as db:
        row = next(iter(db.query("SELECT * FROM lot_draw WHERE id = ?", [party["draw_id"]])))
        view = draw_view(db, row)
    return {
        "position": party["position"],
        "label": party["label"],
        "committed": party["commitment"] is not None,
        "commitment": party["commitment"],
        "revealed": party["value"] is not None,
        "current": view["state"] in (DrawState.COMMITTING, DrawState.REVEALING),
        "draw": view,
    }


def end_interviews(store: Store, event_id: int, actor: str) -> None:
    """Declare the interviews over once every numbered candidate's round is closed, and
    publish the pool and the number -> person mapping in the log, so the draw can be
    recomputed and the results read with names. The log goes into the published bundle,
    so the names there are masked when the results settings mask the sheet's (the
    settings are frozen by then: the first call fixed them)."""
    with store.write() as db:
        _end_preconditions(db, event_id)
        shown = mask_name if rules.load(db, event_id).mask_names else str
        drawn = next(
            iter(
                db.query(
                    "SELECT id, pool FROM lot_draw WHERE event_id = ? AND state = 'drawn'"
                    " AND purpose = 'order' ORDER BY id DESC LIMIT 1",
                    [event_id],
                )
            ),
            None,
        )
        db.execute("UPDATE event SET interviews_ended_at = ? WHERE id = ?", [utcnow(), event_id])
        record(
            db,
            actor,
            "interviews_ended",
            "accepted",
            event=event_id,
            draw=None if drawn is None else drawn["id"],
            pool=None if drawn is None else json.loads(drawn["pool"]),
            candidates=[
                {
                    "draw_number": r["draw_number"],
                    "reg_no": r["reg_no"],
                    "name": shown(r["name"]),
                    "room": r["room_id"],
                }
                for r in db.query(
                    "SELECT * FROM candidate WHERE event_id = ? AND draw_number IS NOT NULL"
                    " ORDER BY draw_number",
                    [event_id],
                )
            ],
        )
