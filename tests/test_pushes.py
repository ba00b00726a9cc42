"""Screen pushes are coalesced per room in bursts (issue 7): a room at most about once per
PUSH_GAP_S, the last state always goes out, and a quiet room gets each change pushed at
once, however busy the others are."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from socketio.packet import BINARY_EVENT, EVENT, Packet

from kiosk_server import interview, live
from kiosk_server.live import PUSH_GAP_S, publish, pushes, socketio, store, token_key

from .conftest import Event, received, screen


def snapshots(client: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    return [m["args"][0] for m in received(client, namespace) if m["name"] == name]


def boards(room: Any) -> list[dict[str, Any]]:
    return snapshots(room.observer, "/observer", "board")


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
    console = snapshots(room.organiser, "/organiser", "console")
    assert len(console) == len(seen) and paused(console[-1], "B")


def test_a_busy_room_waits_for_its_gap_and_a_quiet_one_does_not(
    app: Flask, event: Event, room: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hundred changes in room A within its gap go out as one push at the gap's end;
    a change in room B meanwhile goes out at once, alone, before it. The console gets
    the same pushes."""
    monkeypatch.setattr(live, "PUSH_GAP_S", 0.5)  # far longer than the acts below take
    a, b = event.rooms["A"], event.rooms["B"]
    boards(room)
    snapshots(room.organiser, "/organiser", "console")
    with app.app_context():
        publish(room_id=a, tablets=False)
        assert pushes(app).settle()
        started = time.monotonic()
        for _ in range(100):
            publish(room_id=a, tablets=False)
        publish(room_id=b, tablets=False)
        assert time.monotonic() - started < 0.4  # all within A's gap
    assert [[r["id"] for r in got["rooms"]] for got in boards(room)] == [[a], [b], [a]]
    console = snapshots(room.organiser, "/organiser", "console")
    assert [[r["id"] for r in got["rooms"]] for got in console] == [[a], [b], [a]]


def test_a_failed_push_is_logged_and_the_next_change_pushes_every_room(
    app: Flask, event: Event, room: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """A push that fails leaves no pusher stuck: the next change starts one, and since
    the failed push may have rebuilt some rooms and not others, it sends them all."""
    real = live._push_screens

    def fail_once(*args: Any) -> None:
        monkeypatch.setattr(live, "_push_screens", real)
        raise RuntimeError("disk gone")

    boards(room)
    monkeypatch.setattr(live, "_push_screens", fail_once)
    with app.app_context():
        publish(room_id=event.rooms["A"], tablets=False)
        assert pushes(app).settle()
        assert boards(room) == []
        assert "screen push failed: RuntimeError" in caplog.text
        interview.set_paused(store(), event.id, event.rooms["B"], True, "test")
        publish(room_id=event.rooms["B"], tablets=False)
    (got,) = boards(room)
    assert "partial" not in got and len(got["rooms"]) == len(event.rooms)
    assert paused(got, "B")


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


def test_a_push_carries_only_the_rooms_its_acts_named(app: Flask, event: Event, room: Any) -> None:
    """A board, console or check-in push after acts in one room holds that room alone
    (the screen keeps the others); after an act that names no room, every room. Each is
    numbered after the whole snapshot the screen got when it connected."""
    desk = room._client("/checkin", flask_test_client=screen_http(app, event))
    screens = [(room.observer, "/observer", "board"), (room.organiser, "/organiser", "console")]
    screens.append((desk, "/checkin", "checkin"))
    # The snapshot at connect, and the push after the desk's enrolment (any room): whole.
    first = {name: snapshots(client, ns, name)[-1] for client, ns, name in screens}
    assert not any(got.get("partial") for got in first.values())
    a, b = event.rooms["A"], event.rooms["B"]
    with app.app_context():
        interview.set_paused(store(), event.id, a, True, "test")
        publish(room_id=a, tablets=False)
    for client, ns, name in screens:
        (pushed,) = snapshots(client, ns, name)
        assert pushed["partial"] is True and [r["id"] for r in pushed["rooms"]] == [a]
        assert pushed["seq"] > first[name]["seq"]
    board = snapshots(room.observer, "/observer", "board")
    assert board == []  # nothing more was sent
    with app.app_context():
        publish(tablets=False)  # may have changed any room
        whole = interview.board(store(), event.id)
    (pushed,) = snapshots(room.observer, "/observer", "board")
    assert "partial" not in pushed and {r["id"] for r in pushed["rooms"]} == {a, b}
    assert {k: v for k, v in pushed.items() if k != "seq"} == whole
    assert paused(pushed, "A") and not paused(pushed, "B")


@pytest.mark.parametrize(
    ("namespace", "name"),
    [("/observer", "board"), ("/organiser", "console"), ("/checkin", "checkin")],
)
def test_a_screen_that_connects_between_pushes_misses_no_change(
    app: Flask, event: Event, room: Any, namespace: str, name: str
) -> None:
    """The whole snapshot at connect carries the number of the last push begun, so the
    next push, with the changes since, is laid over it rather than dropped."""
    with app.app_context():
        interview.set_paused(store(), event.id, event.rooms["B"], True, "test")
        publish(room_id=event.rooms["B"], tablets=False)
    http = room.http if namespace == "/organiser" else screen_http(app, event, namespace)
    received(room.observer, "/observer")  # the pushes so far have gone out
    late = room._client(namespace, flask_test_client=http)
    whole = snapshots(late, namespace, name)[-1]
    assert "partial" not in whole and whole["seq"] == pushes(app).seq
    with app.app_context():
        interview.set_paused(store(), event.id, event.rooms["A"], True, "test")
        publish(room_id=event.rooms["A"], tablets=False)
    received(late, namespace)
    shown = screen(late, name)
    assert shown is not None and paused(shown, "A") and paused(shown, "B")


def test_the_check_in_view_is_built_only_while_a_desk_watches(
    app: Flask, event: Event, room: Any
) -> None:
    """Most rooms run without a check-in desk: a push then reads nothing for one. A desk
    that connects later gets its view whole and every push after it, as built afresh."""
    from kiosk_server.checkin import checkin_view

    statements: list[str] = []
    a, b = event.rooms["A"], event.rooms["B"]

    def pause(room_id: int) -> None:
        with app.app_context():
            store().db.conn.set_trace_callback(statements.append)
            interview.set_paused(store(), event.id, room_id, True, "test")
            publish(room_id=room_id, tablets=False)
            assert pushes(app).settle()
            store().db.conn.set_trace_callback(None)

    def queue_reads() -> int:  # the check-in desk's read of a room's queue
        return sum("LEFT JOIN round ON round.candidate_id" in s for s in statements)

    pause(a)
    assert boards(room)[-1]["rooms"][0]["id"] == a  # the push went out to the board
    assert queue_reads() == 0
    desk = room._client("/checkin", flask_test_client=screen_http(app, event))
    assert not snapshots(desk, "/checkin", "checkin")[-1].get("partial")
    statements.clear()
    pause(b)
    assert queue_reads() > 0
    (pushed,) = snapshots(desk, "/checkin", "checkin")
    with app.app_context():
        fresh = checkin_view(store(), event.id)
    assert pushed["rooms"] == [r for r in fresh["rooms"] if r["id"] == b]
    assert paused(boards(room)[-1], "B")
    shown = screen(desk, "checkin")
    assert shown is not None and shown["rooms"] == fresh["rooms"]


def screen_http(app: Flask, event: Event, namespace: str = "/checkin") -> Any:
    """An HTTP client holding a newly enrolled observer screen's or check-in desk's cookie."""
    from kiosk_server.enrolment import issue_observer

    role = namespace.strip("/")
    with app.app_context():
        token = issue_observer(store(), token_key(), event.id, "屏", "test", role=role)
    http = app.test_client()
    link = "/observe" if role == "observer" else "/checkin"
    assert http.post(f"{link}/{token}").status_code == 302
    return http
