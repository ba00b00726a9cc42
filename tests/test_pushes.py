"""Screen pushes are coalesced in bursts (issue 7): at most about one per PUSH_GAP_S,
the last state always goes out, and a quiet room gets each change pushed."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from socketio.packet import BINARY_EVENT, EVENT, Packet

from kiosk_server import interview
from kiosk_server.live import PUSH_GAP_S, publish, pushes, socketio, store

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


def test_pushes_go_out_as_json_text_and_bytes_fail_loudly(app: Flask) -> None:
    """The server's packets skip the walk for binary parts (it took four fifths of the
    time to encode a big board): a payload goes out as the same JSON text, and bytes,
    which nothing here sends, are refused rather than split out as attachments."""
    packet = socketio(app).server.packet_class
    board = ["board", {"rooms": [{"code": "A", "seats": [1, 2], "名": "甲"}]}]
    wire = packet(EVENT, data=board, namespace="/observer").encode()
    assert wire == Packet(EVENT, data=board, namespace="/observer").encode()
    assert wire.startswith('2/observer,["board",{"rooms":[{"code":"A","seats":[1,2],')
    with pytest.raises(TypeError):
        packet(EVENT, data=["board", {"rooms": [b"\x00"]}], namespace="/observer").encode()
    # What a client sends is decoded as before: a binary event keeps its attachment count.
    incoming = packet(encoded_packet='51-/rater,["commit",{"_placeholder":true,"num":0}]')
    assert incoming.packet_type == BINARY_EVENT and incoming.attachment_count == 1
