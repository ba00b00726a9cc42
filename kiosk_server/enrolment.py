"""Enrolment of rater seats and observer screens with one-time tokens.

A seat's token is printed as a QR code. Exchanging it once binds one device: the
device receives a credential (only its digest is stored) and the token is spent.
The same token shown again is refused with "seat already enrolled" until the
organiser re-issues the seat, which mints a new token and disables the old device.
"""

from __future__ import annotations

from typing import Any

from seal.signing import load_public_key
from seal.tokens import derive, digest, new_secret

from .audit import record
from .errors import UserError
from .interview import Seat, is_row_id
from .storage import Store, utcnow


def issue_seat(store: Store, key: bytes, seat_id: object, actor: str) -> str:
    """Mint a fresh enrolment token for a seat; any device enrolled on it stops working."""
    if not is_row_id(seat_id):
        raise UserError("unknown_seat")
    with store.write() as db:
        seat = next(iter(db.query("SELECT * FROM seat WHERE id = ?", [seat_id])), None)
        if seat is None:
            raise UserError("unknown_seat")
        # Allowed mid-round on purpose: a tablet that dies while its seat owes a sheet is
        # replaced by re-issuing the seat; the new device scores the same seat.
        generation = seat["generation"] + 1
        token = derive(key, "seat", seat["id"], generation)
        store.seats.forget()  # the old credential and key, from now on read afresh
        db.execute(
            "UPDATE seat SET generation = ?, token_digest = ?, credential_digest = NULL,"
            " public_key = NULL, last_seq = 0, issued_at = ?, enrolled_at = NULL WHERE id = ?",
            [generation, digest(token), utcnow(), seat["id"]],
        )
        room = next(iter(db.query("SELECT event_id FROM room WHERE id = ?", [seat["room_id"]])))
        record(
            db,
            actor,
            "seat_issued",
            "accepted",
            event=room["event_id"],
            seat=seat["id"],
            generation=generation,
        )
    return token


def seat_for_token(store: Store, token: str) -> dict[str, Any] | None:
    """The seat a token names, with its room, for the enrolment page (spends nothing)."""
    if not isinstance(token, str) or not 10 <= len(token) <= 100:
        return None
    return store.row(
        "SELECT seat.id, seat.number, seat.enrolled_at, room.name AS room_name, room.event_id"
        " FROM seat JOIN room ON room.id = seat.room_id WHERE seat.token_digest = ?",
        [digest(token)],
    )


def enrol_seat(store: Store, token: object, public_key: object) -> tuple[str, Seat]:
    """Spend a seat token, registering the device's Ed25519 public key: returns the device
    credential and the seat it is bound to. The private key never leaves the device."""
    if not isinstance(token, str) or not 10 <= len(token) <= 100:
        raise UserError("token_unknown")
    try:
        load_public_key(public_key)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise UserError("malformed", field="public_key") from None
    credential = new_secret()
    with store.write() as db:
        seat = next(
            iter(
                db.query(
                    "SELECT seat.*, room.event_id FROM seat JOIN room ON room.id = seat.room_id"
                    " WHERE seat.token_digest = ?",
                    [digest(token)],
                )
            ),
            None,
        )
        if seat is None:
            raise UserError("token_unknown")
        if seat["credential_digest"] is not None:
            raise UserError("seat_enrolled")
        store.seats.forget()
        db.execute(
            "UPDATE seat SET credential_digest = ?, public_key = ?, last_seq = 0,"
            " enrolled_at = ? WHERE id = ?",
            [digest(credential), public_key, utcnow(), seat["id"]],
        )
        record(
            db,
            f"seat:{seat['id']}",
            "seat_enrolled",
            "accepted",
            event=seat["event_id"],
            seat=seat["id"],
            room=seat["room_id"],
            number=seat["number"],
            generation=seat["generation"],
            public_key=public_key,
        )
    return credential, Seat(seat["id"], seat["room_id"], seat["event_id"], seat["number"])


def authenticate_seat(store: Store, credential: object) -> Seat | None:
    """The seat a device credential belongs to, or None (kept in memory until a seat is
    enrolled or re-issued: ``Store.seats``)."""
    if not isinstance(credential, str) or not 10 <= len(credential) <= 100:
        return None
    credential_digest = digest(credential)

    def load() -> Seat | None:
        found = store.row(
            "SELECT seat.*, room.event_id FROM seat JOIN room ON room.id = seat.room_id"
            " WHERE seat.credential_digest = ?",
            [credential_digest],
        )
        if found is None:
            return None
        return Seat(found["id"], found["room_id"], found["event_id"], found["number"])

    return store.seats.read(("credential", credential_digest), load)  # type: ignore[no-any-return]


def issue_observer(
    store: Store, key: bytes, event_id: int, label: str, actor: str, role: str = "observer"
) -> str:
    """A one-time link for a new observer screen, or (``role="checkin"``) a check-in
    clerk's device: both are read-mostly screens enrolled the same way."""
    with store.write() as db:
        cursor = db.execute(
            "INSERT INTO observer(event_id, role, label, issued_at) VALUES (?, ?, ?, ?)",
            [event_id, role, label[:60], utcnow()],
        )
        observer_id = int(cursor.lastrowid or 0)
        token = derive(key, "observer", observer_id, 1)
        db.execute(
            "UPDATE observer SET token_digest = ? WHERE id = ?", [digest(token), observer_id]
        )
        record(db, actor, f"{role}_issued", "accepted", event=event_id, observer=observer_id)
    return token


def pending_tokens(store: Store, key: bytes, event_id: int) -> dict[str, list[dict[str, Any]]]:
    """Tokens issued and not yet used, re-derived for printing: seats by room, observers."""
    seats = store.rows(
        "SELECT seat.id, seat.number, seat.generation, room.name AS room_name, room.code"
        " FROM seat JOIN room ON room.id = seat.room_id WHERE room.event_id = ?"
        " AND seat.token_digest IS NOT NULL AND seat.credential_digest IS NULL"
        " ORDER BY room.code, seat.number",
        [event_id],
    )
    for seat in seats:
        seat["token"] = derive(key, "seat", seat["id"], seat["generation"])
    observers = store.rows(
        "SELECT id, role, label, generation FROM observer WHERE event_id = ? AND revoked = 0"
        " AND credential_digest IS NULL AND token_digest IS NOT NULL ORDER BY id",
        [event_id],
    )
    for observer in observers:
        observer["token"] = derive(key, "observer", observer["id"], observer["generation"])
    return {"seats": seats, "observers": observers}


def observer_for_token(store: Store, token: str, role: str = "observer") -> dict[str, Any] | None:
    if not isinstance(token, str) or not 10 <= len(token) <= 100:
        return None
    return store.row(
        "SELECT * FROM observer WHERE token_digest = ? AND revoked = 0"
        " AND credential_digest IS NULL AND role = ?",
        [digest(token), role],
    )


def enrol_observer(
    store: Store, token: object, role: str = "observer"
) -> tuple[str, dict[str, Any]]:
    """Spend an observer (or check-in) link: returns the screen's credential."""
    if not isinstance(token, str) or not 10 <= len(token) <= 100:
        raise UserError("token_unknown")
    credential = new_secret()
    with store.write() as db:
        found = next(
            iter(
                db.query(
                    "SELECT * FROM observer WHERE token_digest = ? AND revoked = 0"
                    " AND credential_digest IS NULL AND role = ?",
                    [digest(token), role],
                )
            ),
            None,
        )
        if found is None:
            raise UserError("token_unknown")
        db.execute(
            "UPDATE observer SET credential_digest = ?, enrolled_at = ? WHERE id = ?",
            [digest(credential), utcnow(), found["id"]],
        )
        record(
            db,
            f"{role}:{found['id']}",
            f"{role}_enrolled",
            "accepted",
            event=found["event_id"],
            observer=found["id"],
        )
    return credential, found


def authenticate_observer(
    store: Store, credential: object, role: str = "observer"
) -> dict[str, Any] | None:
    if not isinstance(credential, str) or not 10 <= len(credential) <= 100:
        return None
    return store.row(
        "SELECT * FROM observer WHERE credential_digest = ? AND revoked = 0 AND role = ?",
        [digest(credential), role],
    )


def issue_unissued_seats(store: Store, key: bytes, event_id: int, actor: str) -> int:
    """Give every seat that never had a token its first one (after rooms are imported)."""
    rows = store.rows(
        "SELECT seat.id FROM seat JOIN room ON room.id = seat.room_id"
        " WHERE room.event_id = ? AND seat.token_digest IS NULL",
        [event_id],
    )
    for row in rows:
        issue_seat(store, key, row["id"], actor)
    return len(rows)
