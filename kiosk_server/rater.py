"""The rater tablet's pages (from ``rater_client``) and the ``/rater`` socket namespace.

A tablet proves its seat with the credential it received at enrolment: the browser
holds it in an HttpOnly cookie, the Python client passes it in the Socket.IO auth.
Every event re-checks the credential, so a re-issued seat's old tablet is cut off.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, request
from flask_socketio import ConnectionRefusedError, emit, join_room

from rater_client import ASSETS
from seal.signing import public_key_text

from . import interview
from .audit import record_refusal
from .auth import client_key, limiter
from .enrolment import authenticate_seat, enrol_seat, seat_for_token
from .errors import UserError
from .evidence import receipt_now
from .i18n import normalise_lang
from .live import (
    Audience,
    client_lang,
    guarded,
    presence,
    publish,
    pushes,
    socketio,
    store,
    with_credential,
)

NAMESPACE = "/rater"
SEAT_COOKIE = "kiosk_seat"
bp = Blueprint(
    "rater",
    __name__,
    template_folder=str(ASSETS / "templates"),
    static_folder=str(ASSETS / "static"),
    static_url_path="/tablet-static",
)


def _lang() -> str:
    return normalise_lang(request.cookies.get("lang"))


@bp.get("/enrol/<token>")
def enrol(token: str) -> Any:
    """The page a seat's QR code opens: says which seat, and enrols on one tap."""
    seat = seat_for_token(store(), token)
    return render_template("enrol.html", seat=seat, token=token, error=None)


@bp.post("/api/enrol")
def enrol_api() -> Any:
    """Spend a seat token and register the device's public key. JSON in
    (``token``, ``public_key``); the credential, the seat and the server's public key
    out. A browser also gets the credential as an HttpOnly cookie."""
    data = request.get_json(silent=True)
    token = data.get("token") if isinstance(data, dict) else None
    public_key = data.get("public_key") if isinstance(data, dict) else None
    lang = normalise_lang(request.cookies.get("lang") or request.headers.get("Accept-Language"))
    if limiter("token").blocked(client_key()):
        record_refusal(store(), "anonymous", "enrol_seat", "too_many_attempts")
        return UserError("too_many_attempts").payload(lang), 429
    try:
        credential, seat = enrol_seat(store(), token, public_key)
    except UserError as err:
        if err.code == "token_unknown":
            limiter("token").failed(client_key())
        record_refusal(store(), "anonymous", "enrol_seat", err.code)
        return err.payload(lang), 409
    publish()
    body = {
        "ok": True,
        "credential": credential,
        "seat": {
            "id": seat.id,
            "number": seat.number,
            "room_id": seat.room_id,
            "event": seat.event_id,
        },
        "server_key": public_key_text(store().server_key),
    }
    return with_credential(jsonify(body), SEAT_COOKIE, credential)


@bp.get("/tablet")
def tablet() -> Any:
    seat = authenticate_seat(store(), request.cookies.get(SEAT_COOKIE))
    if seat is None:
        return render_template("enrol.html", seat=None, token=None, error=None), 401
    return render_template("tablet.html", seat=seat)


def disconnect_seat(seat_id: int) -> None:
    """Cut a seat's live sockets (after a re-issue) so the old tablet learns at once."""
    sio = socketio()
    for sid in presence().sids(seat_id):
        sio.emit("revoked", {}, to=sid, namespace=NAMESPACE)
        sio.server.disconnect(sid, namespace=NAMESPACE)


class Live(Audience):
    """The ``/rater`` namespace: one enrolled seat per connection."""

    def actor(self) -> str:
        seat, _credential = self.identity()
        return seat.actor  # type: ignore[no-any-return]

    def event(self) -> int | None:
        seat, _credential = self.identity()
        return seat.event_id  # type: ignore[no-any-return]

    def seat(self) -> interview.Seat:
        """The seat, re-authenticated: a re-issued seat's old credential fails here."""
        _seat, credential = self.identity()
        current = authenticate_seat(store(), credential)
        if current is None:
            raise UserError("not_authenticated")
        return current

    def on_connect(self, auth: Any = None) -> None:
        credential = auth.get("credential") if isinstance(auth, dict) else None
        credential = credential or request.cookies.get(SEAT_COOKIE)
        seat = authenticate_seat(store(), credential)
        if seat is None:
            record_refusal(store(), "anonymous", "rater_connect", "not_authenticated")
            raise ConnectionRefusedError("not_authenticated")
        self.remember((seat, credential), client_lang(auth))
        join_room(f"seat:{seat.id}")
        presence().join(seat.id, request.sid)  # type: ignore[attr-defined]
        # Built and sent in turn with publish's views: a change acknowledged meanwhile
        # cannot reach this tablet before the older view built here.
        with pushes().tablets:
            emit("state", interview.rater_view(store(), seat))
        # The console's online flags; no tablet view changed, nor anything but seats.
        publish(room_id=seat.room_id, tablets=False, seats_only=True)

    def on_disconnect(self, reason: Any = None) -> None:
        who = self.forget()
        presence().leave(request.sid)  # type: ignore[attr-defined]
        room_id = None if who is None else who[0].room_id
        publish(room_id=room_id, tablets=False, seats_only=True)

    @guarded("sync")
    def on_sync(self, *args: Any) -> dict[str, Any]:
        """A tablet asks for its view again (e.g. after waking)."""
        return {"ok": True, "state": interview.rater_view(store(), self.seat())}

    @guarded("receipt")
    def on_receipt(self, *args: Any) -> dict[str, Any]:
        """The full receipt for one of this seat's leaves (after a ``pending`` ack)."""
        data = args[0] if len(args) == 1 and isinstance(args[0], dict) else {}
        leaf = data.get("leaf")
        seat = self.seat()
        if isinstance(leaf, bool) or not isinstance(leaf, int) or not 0 <= leaf < 2**62:
            raise UserError("malformed", field="leaf")
        owner = store().row(
            "SELECT json_extract(data, '$.actor') AS actor FROM log_leaf"
            " WHERE event_id = ? AND idx = ?",
            [seat.event_id, leaf],
        )
        if owner is None or owner["actor"] != seat.actor:
            raise UserError("malformed", field="leaf")
        return {"ok": True, "receipt": receipt_now(store(), seat.event_id, leaf)}

    @guarded("commit")
    def on_commit(self, *args: Any) -> dict[str, Any]:
        """A signed commitment to a score sheet, or a signed recusal."""
        if len(args) != 1:
            raise UserError("malformed")
        seat = self.seat()
        ack = interview.commit(store(), seat, args[0])
        # The tablets' views (and the room beyond its seats' marks) change only when the
        # round closes; until then the ack is all the sender needs (it marks its sheet
        # sent), and the screens get their tick.
        closed = ack["round_closed"]
        publish(room_id=seat.room_id, tablets=closed, seats_only=not closed)
        return ack

    @guarded("reveal")
    def on_reveal(self, *args: Any) -> dict[str, Any]:
        """The signed opening of this seat's commitment, after the round closed."""
        if len(args) != 1:
            raise UserError("malformed")
        seat = self.seat()
        try:
            ack = interview.reveal(store(), seat, args[0])
        except interview.OpeningRefused as err:
            interview.record_refused_opening(store(), err)
            publish(room_id=seat.room_id)
            return err.payload(self.lang())
        # The tablets' views (and the room beyond its seats' marks) change only when this
        # opening publishes the result. Asking the round's state instead would have every
        # opening committed in the same batch as the last one push the whole room again.
        finished = ack.pop("finished", False)
        publish(room_id=seat.room_id, tablets=finished, seats_only=not finished)
        return ack
