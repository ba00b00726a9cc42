"""The observer screen for the monitors (监督员): its pages and the ``/observer`` namespace.

Read-only. A screen is enrolled by its own one-time link; it then receives ``board``
snapshots, which carry per-seat ticks for an open round and values only once closed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_socketio import ConnectionRefusedError, emit, join_room

from seal.signing import canonical

from . import evaluation, interview
from .audit import record_refusal
from .auth import client_key, limiter
from .enrolment import authenticate_observer, enrol_observer, observer_for_token
from .errors import UserError
from .evidence import consistency, latest_head
from .i18n import normalise_lang
from .live import Audience, client_lang, event_id, publish, store, with_credential
from .qr import svg as qr_svg

NAMESPACE = "/observer"
OBSERVER_COOKIE = "kiosk_observer"
bp = Blueprint("observer", __name__)


@bp.get("/observe/<token>")
def observe(token: str) -> Any:
    """The page an observer link opens; one tap spends the link and opens the board."""
    return render_template(
        "observe.html", observer=observer_for_token(store(), token), token=token, error=None
    )


@bp.post("/observe/<token>")
def observe_submit(token: str) -> Any:
    if limiter("token").blocked(client_key()):
        record_refusal(store(), "anonymous", "enrol_observer", "too_many_attempts")
        message = UserError("too_many_attempts").payload(
            normalise_lang(request.cookies.get("lang"))
        )["error"]["message"]
        return render_template("observe.html", observer=None, token=token, error=message), 429
    try:
        credential, _found = enrol_observer(store(), token)
    except UserError as err:
        limiter("token").failed(client_key())
        record_refusal(store(), "anonymous", "enrol_observer", err.code)
        message = err.payload(normalise_lang(request.cookies.get("lang")))["error"]["message"]
        return render_template("observe.html", observer=None, token=token, error=message), 409
    publish(tablets=False)
    return with_credential(redirect(url_for("observer.screen")), OBSERVER_COOKIE, credential)


@bp.get("/observer")
def screen() -> Any:
    if authenticate_observer(store(), request.cookies.get(OBSERVER_COOKIE)) is None:
        return render_template("observe.html", observer=None, token=None, error=None), 401
    return render_template("board.html")


def _any_audience() -> bool:
    """Signed-in organiser, enrolled observer screen or enrolled tablet."""
    from flask import session

    from .enrolment import authenticate_seat
    from .rater import SEAT_COOKIE

    return (
        bool(session.get("organiser"))
        or (authenticate_observer(store(), request.cookies.get(OBSERVER_COOKIE)) is not None)
        or authenticate_seat(store(), request.cookies.get(SEAT_COOKIE)) is not None
    )


@bp.get("/observer/head.svg")
def head_qr() -> Any:
    """The latest signed tree head as a QR code, for monitors to photograph or print."""
    ev = event_id()
    head = latest_head(store(), ev) if ev is not None and _any_audience() else None
    if not _any_audience():
        return "", 401
    if head is None:
        return "", 404
    svg = qr_svg(canonical(head).decode("utf-8"))
    return Response(svg, mimetype="image/svg+xml", headers={"Cache-Control": "no-store"})


@bp.get("/api/log/head")
def log_head() -> Any:
    """The latest signed tree head (JSON)."""
    if not _any_audience():
        return {"ok": False, "error": {"code": "not_authenticated"}}, 401
    ev = event_id()
    head = None if ev is None else latest_head(store(), ev)
    return {"ok": head is not None, "head": head}


@bp.get("/api/log/consistency")
def log_consistency() -> Any:
    """A consistency proof between two tree sizes (RFC 9162), hex hashes."""
    if not _any_audience():
        return {"ok": False, "error": {"code": "not_authenticated"}}, 401
    ev = event_id()
    try:
        first, second = int(request.args["first"]), int(request.args["second"])
        proof = consistency(store(), ev, first, second) if ev is not None else None
    except (KeyError, ValueError):
        return {"ok": False, "error": {"code": "malformed"}}, 400
    return {"ok": True, "first": first, "second": second, "proof": proof}


class Live(Audience):
    """The ``/observer`` namespace: enrolled observer screens, read-only."""

    def actor(self) -> str:
        return f"observer:{self.identity()['id']}"

    def on_connect(self, auth: Any = None) -> None:
        credential = auth.get("credential") if isinstance(auth, dict) else None
        found = authenticate_observer(store(), credential or request.cookies.get(OBSERVER_COOKIE))
        ev = event_id()
        if found is None or ev is None or found["event_id"] != ev:
            record_refusal(store(), "anonymous", "observer_connect", "not_authenticated")
            raise ConnectionRefusedError("not_authenticated")
        self.remember(found, client_lang(auth))
        join_room(f"event:{ev}")
        emit("board", interview.board(store(), ev))
        emit("evaluation", evaluation.view(store(), ev))

    def on_disconnect(self, reason: Any = None) -> None:
        self.forget()
