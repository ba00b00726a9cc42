"""Screen pushes are coalesced in bursts (issue 7): at most about one per PUSH_GAP_S,
the last state always goes out, and a quiet room gets each change pushed."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask

from kiosk_server import interview
from kiosk_server.live import PUSH_GAP_S, publish, pushes, store

from .conftest import Event, received


def boards(room: Any) -> list[dict[str, Any]]:
    return [m["args"][0] for m in received(room.observer, "/observer") if m["name"] == "board"]


def paused(board: dict[str, Any], code: str) -> bool:
    return bool(next(r for r in board["rooms"] if r["code"] == code)["paused"])


def test_a_change_in_a_quiet_room_is_pushed_once(app: Flask, event: Event, room: Any) -> None:
    boards(room)
    time.sleep(PUSH_GAP_S * 2)
    with app.app_context():
        interview.set_paused(store(), event.id, event.rooms["A"], True, "test")
        publish(tablets=False)
    got = boards(room)
    assert len(got) == 1 and paused(got[0], "A")


def test_a_burst_is_coalesced_and_the_last_state_goes_out(
    app: Flask, event: Event, room: Any
) -> None:
    boards(room)
    received(room.organiser, "/organiser")
    started = time.monotonic()
    with app.app_context():
        for _ in range(200):
            publish(tablets=False)
        interview.set_paused(store(), event.id, event.rooms["B"], True, "test")
        publish(tablets=False)
    elapsed = time.monotonic() - started
    assert pushes(app).settle()
    seen = boards(room)
    assert 1 <= len(seen) <= elapsed / PUSH_GAP_S + 2 < 201
    assert paused(seen[-1], "B")  # the change made last is on the last board
    console = [m for m in received(room.organiser, "/organiser") if m["name"] == "console"]
    assert len(console) == len(seen) and paused(console[-1]["args"][0], "B")
