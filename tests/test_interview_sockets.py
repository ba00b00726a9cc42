"""The interview room over Socket.IO (Flask-SocketIO's test client): auth, isolation,
hidden-until-close for every audience, one device per seat, bad input."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from flask import Flask
from flask_socketio import SocketIOTestClient

from kiosk_server.live import socketio, store

from .conftest import PASSWORD, Event, sheet

# Distinctive values: none of these strings may appear anywhere before the round closes.
SECRET_ITEMS = {"analysis": "37.5", "expression": "27.5", "bearing": "23"}
SECRET_STRINGS = ["37.5", "27.5", "88.0", "88.00"]


class Room:
    """Actors of one test: the organiser console, tablets by seat, an observer screen."""

    def __init__(self, app: Flask, event: Event) -> None:
        self.app, self.event = app, event
        self.http = app.test_client()
        response = self.http.post("/login", data={"password": PASSWORD})
        assert response.status_code == 302
        self.organiser = self._client("/organiser", flask_test_client=self.http)
        self.tablets: dict[tuple[str, int], SocketIOTestClient] = {}
        observer_http = app.test_client()
        assert observer_http.post(f"/observe/{event.observer_token}").status_code == 302
        self.observer = self._client("/observer", flask_test_client=observer_http)

    def _client(self, namespace: str, **kwargs: Any) -> SocketIOTestClient:
        client = socketio(self.app).test_client(self.app, namespace=namespace, **kwargs)
        assert client.is_connected(namespace)
        return client

    def enrol(self, room: str, number: int, lang: str = "zh") -> SocketIOTestClient:
        response = self.app.test_client().post(
            "/api/enrol", json={"token": self.event.token(room, number)}
        )
        assert response.status_code == 200, response.json
        credential = response.json["credential"]
        tablet = self._client("/rater", auth={"credential": credential, "lang": lang})
        self.tablets[(room, number)] = tablet
        return tablet

    def act(self, event: str, **payload: Any) -> dict[str, Any]:
        return self.organiser.emit(event, payload, namespace="/organiser", callback=True)

    def ok(self, event: str, **payload: Any) -> dict[str, Any]:
        ack = self.act(event, **payload)
        assert ack["ok"], ack
        return ack

    def start_round(self, room: str) -> int:
        round_id = self.ok("call", room_id=self.event.rooms[room])["round_id"]
        self.ok("open", round_id=round_id)
        return int(round_id)

    def submit(self, room: str, number: int, round_id: Any, items: Any, key: str | None = None):
        return self.tablets[(room, number)].emit(
            "submit",
            {"round_id": round_id, "items": items, "idempotency_key": key or uuid.uuid4().hex},
            namespace="/rater",
            callback=True,
        )


@pytest.fixture
def room(app: Flask, event: Event) -> Room:
    return Room(app, event)


def received(client: SocketIOTestClient, namespace: str) -> list[dict[str, Any]]:
    return client.get_received(namespace)


def last(client: SocketIOTestClient, namespace: str, name: str) -> dict[str, Any]:
    messages = [m for m in received(client, namespace) if m["name"] == name]
    assert messages, f"no {name} received"
    return messages[-1]["args"][0]


# --- authentication at connect ----------------------------------------------------------


def test_connections_without_credentials_are_refused(app: Flask, event: Event) -> None:
    sio = socketio(app)
    for namespace, kwargs in [
        ("/rater", {}),
        ("/rater", {"auth": {"credential": "x" * 32}}),
        ("/rater", {"auth": {"credential": event.token("A", 1)}}),  # a token is no credential
        ("/observer", {}),
        ("/observer", {"auth": {"credential": event.observer_token}}),
        ("/organiser", {}),
    ]:
        client = sio.test_client(app, namespace=namespace, **kwargs)
        assert not client.is_connected(namespace), (namespace, kwargs)
    assert len(event.audit()) > 0
    refused = [a for a in event.audit() if a["disposition"] == "refused"]
    assert len(refused) >= 5


def test_pages_need_their_audience(app: Flask, event: Event) -> None:
    anonymous = app.test_client()
    assert anonymous.get("/login").status_code == 200
    assert anonymous.get(f"/enrol/{event.token('A', 1)}").status_code == 200
    assert anonymous.get(f"/observe/{event.observer_token}").status_code == 200
    assert anonymous.get("/organiser/").status_code == 302
    assert anonymous.get("/organiser/enrolment-sheet").status_code == 302
    assert anonymous.get("/tablet").status_code == 401
    assert anonymous.get("/observer").status_code == 401


def test_wrong_password_is_refused_and_recorded(app: Flask, event: Event) -> None:
    response = app.test_client().post("/login", data={"password": "guess"})
    assert response.status_code == 401
    assert "密码不正确" in response.get_data(as_text=True)
    assert event.audit("sign_in")[-1]["disposition"] == "refused"


# --- the flow ------------------------------------------------------------------------------


def test_a_round_from_call_to_close_with_the_drop_rule(room: Room) -> None:
    for n in range(1, 6):
        room.enrol("A", n)
    round_id = room.start_round("A")
    state = last(room.tablets[("A", 1)], "/rater", "state")
    assert state["round"] == {
        "id": round_id,
        "draw_number": 1,
        "state": "open",
        "seated": True,
        "mine": None,
    }
    totals = {1: "30", 2: "35", 3: "36", 4: "40", 5: "20"}  # analysis only varies
    for n, analysis in totals.items():
        ack = room.submit("A", n, round_id, sheet(analysis, "20", "20"), key=f"key-{n}-abcdef")
        assert ack["ok"], ack
    assert ack["round_closed"] is True  # the last sheet closes the round
    board = last(room.observer, "/observer", "board")
    result = next(r for r in board["rooms"] if r["code"] == "A")["round"]["result"]
    assert [e["total"] for e in result["entries"]] == ["70.00", "75.00", "76.00", "80.00", "60.00"]
    assert [e["dropped"] for e in result["entries"]] == [None, None, None, "high", "low"]
    assert (result["high"], result["low"], result["counted"]) == ("80.00", "60.00", 3)
    assert result["mean"] == "73.67"  # (70 + 75 + 76) / 3 = 73.666…
    finished = next(r for r in board["rooms"] if r["code"] == "A")["finished"]
    assert finished == [{"draw_number": 1, "mean": "73.67", "counted": 3, "closed_early": False}]


def test_tablet_shows_only_the_draw_number_never_a_name(room: Room) -> None:
    tablet = room.enrol("A", 1)
    room.start_round("A")
    text = json.dumps(received(tablet, "/rater"), ensure_ascii=False)
    assert "张敏" not in text and "R003" not in text  # draw number 1 is 张敏, R003
    board = json.dumps(received(room.observer, "/observer"), ensure_ascii=False)
    console = json.dumps(received(room.organiser, "/organiser"), ensure_ascii=False)
    assert "张敏" not in board and "张敏" not in console


def test_recused_seat_does_not_count(room: Room) -> None:
    for n in range(1, 6):
        room.enrol("A", n)
    round_id = room.start_round("A")
    ack = room.tablets[("A", 5)].emit(
        "recuse",
        {"round_id": round_id, "reason": "亲属", "idempotency_key": "recuse-5-abc"},
        namespace="/rater",
        callback=True,
    )
    assert ack["ok"] and ack["kind"] == "recusal"
    for n, analysis in {1: "30", 2: "35", 3: "36", 4: "40"}.items():
        assert room.submit("A", n, round_id, sheet(analysis, "20", "20"), key=f"k{n}-abcdefg")["ok"]
    result = last(room.observer, "/observer", "board")["rooms"][0]["round"]["result"]
    # four counted (< 5): no drop, mean of all: (70 + 75 + 76 + 80) / 4 = 75.25
    assert result["rule"] == "all" and result["counted"] == 4 and result["mean"] == "75.25"
    assert result["entries"][4]["status"] == "recused"
    assert room.event.audit("conflict_declared")[0]["disposition"] == "accepted"


def test_closing_early_needs_a_reason_which_is_recorded(room: Room) -> None:
    for n in range(1, 6):
        room.enrol("A", n)
    round_id = room.start_round("A")
    assert room.submit("A", 1, round_id, sheet())["ok"]
    refused = room.act("close", round_id=round_id)
    assert refused["error"]["code"] == "reason_required"
    assert room.act("close", round_id=round_id, reason="   ")["error"]["code"] == "reason_required"
    room.ok("close", round_id=round_id, reason="评委4 身体不适离场")
    closed = room.event.audit("round_closed")[-1]
    assert "评委4 身体不适离场" in closed["detail"]
    result = last(room.observer, "/observer", "board")["rooms"][0]["round"]["result"]
    assert result["close_reason"] == "评委4 身体不适离场"
    assert [e["status"] for e in result["entries"]] == ["scored"] + ["absent"] * 4
    late = room.submit("A", 2, round_id, sheet(), key="late-sheet-2")
    assert late["error"]["code"] == "round_closed"


def test_pause_stops_calls_and_submissions(room: Room) -> None:
    room.enrol("A", 1)
    round_id = room.start_round("A")
    room.ok("pause", room_id=room.event.rooms["A"], paused=True)
    assert room.submit("A", 1, round_id, sheet())["error"]["code"] == "room_paused"
    assert last(room.tablets[("A", 1)], "/rater", "state")["room"]["paused"] is True
    room.ok("pause", room_id=room.event.rooms["A"], paused=False)
    assert room.submit("A", 1, round_id, sheet())["ok"]


def test_call_by_draw_number_and_queue_order(room: Room) -> None:
    room.enrol("A", 1)
    room_a = room.event.rooms["A"]
    wrong = room.act("call", room_id=room_a, draw_number=4)  # 4 waits in room B
    assert wrong["error"]["code"] == "unknown_draw_number" and "4" in wrong["error"]["message"]
    round_id = room.ok("call", room_id=room_a, draw_number=3)["round_id"]
    assert room.act("call", room_id=room_a)["error"]["code"] == "round_active"
    console = last(room.organiser, "/organiser", "console")
    assert console["rooms"][0]["waiting"] == [1, 2]
    room.ok("open", round_id=round_id)
    assert room.submit("A", 1, round_id, sheet())["round_closed"]
    assert room.ok("call", room_id=room_a)["round_id"] != round_id  # next: the lowest, 1


# --- hidden until close ---------------------------------------------------------------------


def test_no_audience_sees_a_score_before_the_round_closes(
    room: Room, app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for n in range(1, 6):
        room.enrol("A", n)
    round_id = room.start_round("A")
    for client, ns in [(room.organiser, "/organiser"), (room.observer, "/observer")]:
        received(client, ns)
    for tablet in room.tablets.values():
        received(tablet, "/rater")
    ack = room.submit("A", 1, round_id, SECRET_ITEMS, key="secret-sheet-1")
    assert ack["ok"]
    seen = {
        "ack": ack,
        "own tablet": received(room.tablets[("A", 1)], "/rater"),
        "other tablet": received(room.tablets[("A", 2)], "/rater"),
        "organiser": received(room.organiser, "/organiser"),
        "observer": received(room.observer, "/observer"),
        "other tablet sync": room.tablets[("A", 2)].emit(
            "sync", {}, namespace="/rater", callback=True
        ),
        "console page": room.http.get("/organiser/").get_data(as_text=True),
        "audit": room.event.audit(),
        "log": caplog.text,
    }
    for audience, data in seen.items():
        text = json.dumps(data, ensure_ascii=False, default=str)
        for secret in SECRET_STRINGS:
            assert secret not in text, f"{audience} saw {secret}"
    # ticks, not values: the observer knows seat 1 submitted, nothing more
    board = last_board_after_submit(room)
    assert board["seats"][0]["status"] == "submitted"
    assert board["round"].get("result") is None
    # after the close everyone sees the totals
    for n in range(2, 6):
        assert room.submit("A", n, round_id, sheet(), key=f"after-{n}-abc")["ok"]
    result = last(room.observer, "/observer", "board")["rooms"][0]["round"]["result"]
    assert result["entries"][0]["total"] == "88.00"


def last_board_after_submit(room: Room) -> dict[str, Any]:
    with room.app.app_context():
        from kiosk_server import interview

        return interview.board(store(room.app), room.event.id)["rooms"][0]


# --- one device per seat ----------------------------------------------------------------------


def test_a_seat_token_works_once_and_a_second_device_is_refused(room: Room, app: Flask) -> None:
    room.enrol("A", 1)
    again = app.test_client().post("/api/enrol", json={"token": room.event.token("A", 1)})
    assert again.status_code == 409 and again.json["error"]["code"] == "seat_enrolled"
    page = app.test_client().post(f"/enrol/{room.event.token('A', 1)}")
    assert page.status_code == 409
    assert "该席位已有平板登记" in page.get_data(as_text=True)
    unknown = app.test_client().post("/api/enrol", json={"token": "not-a-real-token-xyz"})
    assert unknown.json["error"]["code"] == "token_unknown"


def test_reissuing_a_seat_cuts_off_the_old_device(room: Room, app: Flask) -> None:
    old = room.enrol("A", 1)
    round_id = room.start_round("A")
    seat_id = last(room.organiser, "/organiser", "console")["rooms"][0]["seats"][0]["id"]
    ack = room.ok("reissue", seat_id=seat_id)
    assert "/enrol/" in ack["url"]
    assert not old.is_connected("/rater")
    stale_token = room.event.token("A", 1)
    refused = app.test_client().post("/api/enrol", json={"token": stale_token})
    assert refused.json["error"]["code"] == "token_unknown"
    room.event.seat_tokens[("A", 1)] = room.event.refresh_token("A", 1)
    new = room.enrol("A", 1)
    assert new.is_connected("/rater")
    assert room.submit("A", 1, round_id, sheet())["ok"]  # the new tablet scores the same seat


# --- bad input ----------------------------------------------------------------------------------

BAD_SUBMISSIONS = [
    ("not a dict", "malformed"),
    ({"items": sheet(), "idempotency_key": "k-abcdefgh"}, "malformed"),
    ({"round_id": "1", "items": sheet(), "idempotency_key": "k-abcdefgh"}, "malformed"),
    ({"round_id": True, "items": sheet(), "idempotency_key": "k-abcdefgh"}, "malformed"),
    ({"round_id": "ROUND", "items": sheet(), "idempotency_key": "short"}, "malformed"),
    ({"round_id": "ROUND", "items": sheet(), "idempotency_key": 12345678}, "malformed"),
    (
        {"round_id": "ROUND", "items": sheet(analysis="40.5"), "idempotency_key": "k1-abcdefgh"},
        "out_of_range",
    ),
    (
        {"round_id": "ROUND", "items": sheet(analysis="-1"), "idempotency_key": "k2-abcdefgh"},
        "out_of_range",
    ),
    (
        {"round_id": "ROUND", "items": sheet(analysis="37.25"), "idempotency_key": "k3-abcdefgh"},
        "wrong_step",
    ),
    (
        {"round_id": "ROUND", "items": sheet(bearing="20.5"), "idempotency_key": "k4-abcdefgh"},
        "wrong_step",
    ),
    (
        {"round_id": "ROUND", "items": sheet(analysis="三十"), "idempotency_key": "k5-abcdefgh"},
        "not_a_number",
    ),
    (
        {
            "round_id": "ROUND",
            "items": {"analysis": "1", "expression": "1"},
            "idempotency_key": "k6-abcdefgh",
        },
        "missing_item",
    ),
    (
        {"round_id": "ROUND", "items": {**sheet(), "bonus": "5"}, "idempotency_key": "k7-abcdefgh"},
        "unknown_item",
    ),
    ({"round_id": "ROUND", "items": "37.5", "idempotency_key": "k8-abcdefgh"}, "malformed"),
    ({"round_id": 999999, "items": sheet(), "idempotency_key": "k9-abcdefgh"}, "unknown_round"),
    (
        {"round_id": "OTHER", "items": sheet(), "idempotency_key": "k10-abcdefgh"},
        "round_other_room",
    ),
]


def test_bad_submissions_are_refused_recorded_and_change_nothing(room: Room) -> None:
    room.enrol("A", 1)
    room.enrol("B", 1)
    round_id = room.start_round("A")
    other = room.start_round("B")
    before = room.event.sheets()
    for payload, code in BAD_SUBMISSIONS:
        if isinstance(payload, dict):
            payload = dict(payload)
            payload["round_id"] = {"ROUND": round_id, "OTHER": other}.get(
                payload.get("round_id"), payload.get("round_id")
            )
        ack = room.tablets[("A", 1)].emit("submit", payload, namespace="/rater", callback=True)
        assert ack["ok"] is False and ack["error"]["code"] == code, (payload, ack)
        assert ack["error"]["message"]
    assert room.event.sheets() == before
    refusals = [a for a in room.event.audit("submit_sheet") if a["disposition"] == "refused"]
    assert len(refusals) == len(BAD_SUBMISSIONS)
    # a message in the rater's language names the rubric item by its label
    ack = room.submit("A", 1, round_id, sheet(analysis="99"), key="label-check-1")
    assert ack["error"]["message"] == "“综合分析能力”超出允许范围。"


def test_errors_speak_english_to_an_english_tablet(room: Room) -> None:
    room.enrol("A", 1, lang="en")
    round_id = room.start_round("A")
    ack = room.submit("A", 1, round_id, sheet(analysis="99"), key="english-check")
    assert ack["error"]["message"] == "“Analysis” is out of range."


def test_wrong_arity_and_unknown_events_do_not_break_the_server(room: Room) -> None:
    tablet = room.enrol("A", 1)
    assert tablet.emit("submit", namespace="/rater", callback=True)["error"]["code"] == "malformed"
    assert tablet.emit("submit", 1, 2, namespace="/rater", callback=True)["ok"] is False
    tablet.emit("no_such_event", {"x": 1}, namespace="/rater")
    for event, payload in [
        ("call", {"room_id": "A"}),
        ("open", {"round_id": None}),
        ("close", {"round_id": [1]}),
        ("pause", {}),
        ("reissue", {"seat_id": "1"}),
        ("call", {"room_id": 10**30}),
    ]:
        ack = room.act(event, **payload)
        assert ack["ok"] is False and ack["error"]["code"] in {
            "malformed",
            "unknown_room",
            "unknown_seat",
            "unknown_round",
        }
    assert room.organiser.emit("call", "junk", namespace="/organiser", callback=True)["ok"] is False
    assert tablet.is_connected("/rater")


def test_a_submission_cannot_count_twice(room: Room) -> None:
    room.enrol("A", 1)
    room.enrol("A", 2)
    round_id = room.start_round("A")
    first = room.submit("A", 1, round_id, sheet(), key="same-key-123")
    resent = room.submit("A", 1, round_id, sheet(), key="same-key-123")
    assert first["ok"] and resent["ok"] and resent["duplicate"] is True
    again = room.submit("A", 1, round_id, sheet(), key="other-key-123")
    assert again["error"]["code"] == "already_submitted"
    stolen = room.submit("A", 2, round_id, sheet(), key="same-key-123")
    assert stolen["ok"] is False
    assert len(room.event.sheets()) == 1


def test_a_seat_enrolled_after_opening_does_not_score_that_round(room: Room) -> None:
    room.enrol("A", 1)
    round_id = room.start_round("A")
    late = room.enrol("A", 2)
    assert last(late, "/rater", "state")["round"]["seated"] is False
    assert room.submit("A", 2, round_id, sheet())["error"]["code"] == "not_seated"


def test_the_score_sheet_table_is_append_only(app: Flask, room: Room) -> None:
    room.enrol("A", 1)
    round_id = room.start_round("A")
    assert room.submit("A", 1, round_id, sheet())["ok"]
    import sqlite3

    with pytest.raises(sqlite3.IntegrityError), store(app).write() as db:
        db.execute("UPDATE sheet SET total = '100'")
    with pytest.raises(sqlite3.IntegrityError), store(app).write() as db:
        db.execute("DELETE FROM sheet")
    assert room.event.sheets()[0]["total"] == "95.0"
