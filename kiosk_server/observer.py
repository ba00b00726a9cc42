"""The observer screen for the monitors (监督员): its pages and the ``/observer`` namespace.

Read-only. A screen is enrolled by its own one-time link; it then receives ``board``
snapshots, which carry per-seat ticks for an open round and values only once closed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_socketio import emit, join_room

from seal.signing import canonical

from . import approval, evaluation, interview
from .enrolment import authenticate_observer
from .evidence import consistency, latest_head
from .links import LinkRole
from .live import (
    Audience,
    client_lang,
    event_id,
    guarded,
    payload,
    publish,
    snapshot_at_connect,
    store,
    token_key,
)
from .qr import svg as qr_svg

NAMESPACE = "/observer"
OBSERVER_COOKIE = "kiosk_observer"
bp = Blueprint("observer", __name__)


LINK = LinkRole(
    "observer",
    OBSERVER_COOKIE,
    "observe.title",
    "observe.intro",
    "observer.observe_submit",
    "observer.screen",
    "observe.button",
)


@bp.get("/observe/<token>")
def observe(token: str) -> Any:
    """The page an observer link opens; one tap spends the link and opens the board."""
    return LINK.enrol_page(token)


@bp.post("/observe/<token>")
def observe_submit(token: str) -> Any:
    return LINK.enrol_submit(token)


@bp.get("/observer")
def screen() -> Any:
    return render_template("board.html") if LINK.who() else LINK.refused()


def _any_audience() -> bool:
    """Signed-in organiser, enrolled observer screen or enrolled tablet."""
    from .auditor import LINK as AUDITOR
    from .auth import organiser_signed_in
    from .enrolment import authenticate_seat
    from .rater import SEAT_COOKIE

    return (
        organiser_signed_in()
        or (authenticate_observer(store(), request.cookies.get(OBSERVER_COOKIE)) is not None)
        or AUDITOR.who() is not None
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


@bp.get("/observer/lot.svg")
def lot_qr() -> Any:
    """The finished draw's recompute command (sources, pool size, hash) as a QR code."""
    if not _any_audience():
        return "", 401
    from .ceremony import draw_view

    ev = event_id()
    wanted = request.args.get("draw", "")
    # ASCII digits ("²" is a digit to str.isdigit, not to int) that fit an SQLite integer
    draw_id = int(wanted) if wanted.isascii() and wanted.isdigit() and len(wanted) <= 18 else 0
    with store().read() as db:
        row = next(
            iter(
                db.query(
                    "SELECT * FROM lot_draw WHERE event_id = ? AND id = ?",
                    [ev, draw_id],
                )
            ),
            None,
        )
        view = None if row is None else draw_view(db, row)
    if view is None or view["command"] is None:
        return "", 404
    text = f"{view['command']}\n# pool sha256 {view['pool_digest']}"
    # A finished draw never changes, and the page asks for it by draw id.
    return Response(
        qr_svg(text), mimetype="image/svg+xml", headers={"Cache-Control": "private, max-age=86400"}
    )


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
        found = LINK.connecting(auth)
        ev = int(found["event_id"])
        self.remember(found, client_lang(auth))
        join_room(f"event:{ev}")
        emit("board", snapshot_at_connect(lambda: interview.board(store(), ev)))
        emit("evaluation", evaluation.view(store(), ev))

    def on_disconnect(self, reason: Any = None) -> None:
        self.forget()

    def event(self) -> int | None:
        return int(self.identity()["event_id"])

    @guarded("approval_confirmed")
    def on_approve(self, *args: Any) -> dict[str, Any]:
        """The monitor's yes to an irreversible act the organiser asked for."""
        result = approval.confirm(
            store(), token_key(), self.event() or 0, payload(args).get("approval_id"), self.actor()
        )
        if "seat_id" in result:  # a re-issued seat: its old tablet is cut off now
            from .rater import disconnect_seat

            disconnect_seat(result["seat_id"])
        publish()
        return {"ok": True}

    @guarded("approval_declined")
    def on_decline(self, *args: Any) -> dict[str, Any]:
        approval.decide_not(
            store(), self.event() or 0, payload(args).get("approval_id"), self.actor(), "declined"
        )
        publish(tablets=False)
        return {"ok": True}
