"""Two-person approval: the organiser asks, a monitor confirms on the observer screen;
nothing irreversible happens on one person's word, and nothing happens twice."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask

from kiosk_server.live import socketio

from .conftest import Event, sheet
from .test_interview_sockets import Room, last


def early_close(room: Room) -> tuple[int, dict[str, Any]]:
    for n in (1, 2, 3):
        room.enrol("B", n)
    round_id = room.start_round("B")
    assert room.tablets[("B", 1)].commit(sheet())["ok"]
    ack = room.ok("close", round_id=round_id, reason="评委2、3 临时离场")
    return round_id, ack


def state(room: Room, round_id: int) -> str:
    return room.event.app.extensions["kiosk.store"].row(
        "SELECT state FROM round WHERE id = ?", [round_id]
    )["state"]


def test_an_early_close_waits_for_a_monitor(room: Room) -> None:
    round_id, ack = early_close(room)
    assert state(room, round_id) == "open"  # asked, not done
    board = last(room.observer, "/observer", "board")
    asked = board["approvals"][0]
    assert asked["action"] == "close_early" and asked["summary"]["reason"] == "评委2、3 临时离场"
    # The organiser cannot confirm its own request: the organiser namespace has no such event.
    assert not room.act("approve", approval_id=ack["pending"])  # no ack: no such event
    room.confirm(ack)
    assert state(room, round_id) == "revealing"
    kinds = [a["action"] for a in room.event.audit() if a["action"].startswith("approval_")]
    assert kinds == ["approval_requested", "approval_confirmed"]


def test_declined_and_withdrawn_requests_change_nothing(room: Room) -> None:
    round_id, ack = early_close(room)
    again = room.act("close", round_id=round_id, reason="评委2、3 临时离场")
    assert again["error"]["code"] == "approval_pending"  # one request per act at a time
    declined = room.observer.emit(
        "decline", {"approval_id": ack["pending"]}, namespace="/observer", callback=True
    )
    assert declined["ok"] and state(room, round_id) == "open"
    late = room.observer.emit(
        "approve", {"approval_id": ack["pending"]}, namespace="/observer", callback=True
    )
    assert late["error"]["code"] == "approval_not_pending"
    ack = room.ok("close", round_id=round_id, reason="评委2、3 临时离场")
    assert room.ok("withdraw", approval_id=ack["pending"])["ok"]
    assert state(room, round_id) == "open"
    for bad in ({"approval_id": "1"}, {"approval_id": 999}, {}):
        reply = room.observer.emit("approve", bad, namespace="/observer", callback=True)
        assert reply["error"]["code"] in ("malformed", "unknown_approval"), bad


def test_two_monitors_confirming_at_once_run_the_act_once(
    app: Flask, event: Event, room: Room
) -> None:
    round_id, ack = early_close(room)
    other_http = app.test_client()
    from kiosk_server.enrolment import issue_observer
    from kiosk_server.live import store, token_key

    with app.app_context():
        token = issue_observer(store(), token_key(), event.id, "第二监督屏", "test")
    assert other_http.post(f"/observe/{token}").status_code == 302
    other = socketio(app).test_client(app, namespace="/observer", flask_test_client=other_http)
    replies: list[dict[str, Any]] = []
    barrier = threading.Barrier(2)

    def press(client: Any) -> None:
        barrier.wait()
        replies.append(
            client.emit(
                "approve", {"approval_id": ack["pending"]}, namespace="/observer", callback=True
            )
        )

    threads = [threading.Thread(target=press, args=(c,)) for c in (room.observer, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r["ok"] for r in replies) == [False, True]
    closes = [a for a in event.audit("round_closed") if a["disposition"] == "accepted"]
    assert len(closes) == 1 and state(room, round_id) == "revealing"


def test_an_act_overtaken_by_events_returns_to_pending(room: Room) -> None:
    round_id, ack = early_close(room)
    for n in (2, 3):  # the missing raters come back and submit: the round closes itself
        assert room.tablets[("B", n)].commit(sheet())["ok"]
    assert state(room, round_id) != "open"
    reply = room.observer.emit(
        "approve", {"approval_id": ack["pending"]}, namespace="/observer", callback=True
    )
    assert reply["error"]["code"] == "round_not_open"
    board = last(room.observer, "/observer", "board")
    assert [a["id"] for a in board["approvals"]] == [
        ack["pending"]
    ]  # for the organiser to withdraw
    assert room.ok("withdraw", approval_id=ack["pending"])["ok"]
