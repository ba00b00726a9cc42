"""The observer screen for the monitors (监督员): its pages and the ``/observer`` namespace.

Read-only. A screen is enrolled by its own one-time link; it then receives ``board``
snapshots, which carry per-seat ticks for an open round and values only once closed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_socketio import ConnectionRefusedError, emit, join_room

from . import interview
from .audit import record_refusal
from .enrolment import authenticate_observer, enrol_observer, observer_for_token
from .errors import UserError
from .i18n import normalise_lang
from .live import Audience, client_lang, event_id, publish, store, with_credential

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
    try:
        credential, _found = enrol_observer(store(), token)
    except UserError as err:
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

    def on_disconnect(self, reason: Any = None) -> None:
        self.forget()
