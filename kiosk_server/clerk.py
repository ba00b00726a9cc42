"""The written-marks clerk (笔试录入员): its pages and the ``/clerk`` socket namespace.

A clerk device is enrolled by its own one-time link, like a check-in desk; each device
is one clerk. It types marks from the papers by registration number; it sees only its
own figures (the second entry is blind to the first) and where each of its entries
stands. Mismatches are decided by the organiser, never by a clerk (``written``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, render_template
from flask_socketio import emit, join_room

from . import written
from .links import LinkRole
from .live import Audience, client_lang, guarded, payload, publish, store

NAMESPACE = "/clerk"
CLERK_COOKIE = "kiosk_clerk"
ROLE = written.ROLE
bp = Blueprint("clerk", __name__)
LINK = LinkRole(
    ROLE, CLERK_COOKIE, "clerk.enrol_title", "clerk.intro", "clerk.enrol_submit", "clerk.desk"
)


def clerk_actor(found: dict[str, Any]) -> str:
    """A clerk device's identity: the same in its log leaves and in the double-entry rule."""
    return f"clerk:{found['id']}"


def snapshot(found: dict[str, Any], app: Flask | None = None) -> dict[str, Any]:
    """One clerk's view, as pushed to that clerk's device only."""
    view = written.clerk_view(store(app), int(found["event_id"]), clerk_actor(found))
    return {"clerk": {"id": found["id"], "label": found["label"]}, **view}


# --- pages -----------------------------------------------------------------------------


@bp.get("/clerk/<token>")
def enrol(token: str) -> Any:
    """The page a clerk link opens; one tap spends the link."""
    return LINK.enrol_page(token)


@bp.post("/clerk/<token>")
def enrol_submit(token: str) -> Any:
    return LINK.enrol_submit(token)


@bp.get("/clerk")
def desk() -> Any:
    if LINK.who() is None:
        return LINK.refused()
    return render_template("clerk.html")


# --- the /clerk namespace ------------------------------------------------------------------


class Live(Audience):
    """The ``/clerk`` namespace: enrolled clerk devices only."""

    def actor(self) -> str:
        return clerk_actor(self.identity())

    def event(self) -> int | None:
        return int(self.identity()["event_id"])

    def on_connect(self, auth: Any = None) -> None:
        found = LINK.connecting(auth)
        self.remember(found, client_lang(auth))
        join_room(f"clerk:{found['id']}")  # each clerk hears only its own view
        emit("clerk", snapshot(found))

    def on_disconnect(self, reason: Any = None) -> None:
        self.forget()

    @guarded("written_entered")
    def on_enter(self, *args: Any) -> dict[str, Any]:
        """One mark typed from one paper: ``{"reg_no", "mark"}`` (a number or 缺考)."""
        data = payload(args)
        state = written.enter(
            store(), self.event() or 0, data.get("reg_no"), data.get("mark"), self.actor()
        )
        publish(tablets=False)
        return {"ok": True, "state": state.value}
