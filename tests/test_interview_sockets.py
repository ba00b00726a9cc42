"""The interview room over Socket.IO (Flask-SocketIO's test client): auth, isolation,
sealed and signed sheets, hidden-until-close for every audience, one device per seat,
bad input and forged or replayed envelopes."""

from __future__ import annotations

import json
import logging
import os
import re
import time
import weakref
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask, request
from flask_socketio import SocketIOTestClient

from kiosk_server import interview
from kiosk_server.enrolment import authenticate_seat, enrol_seat, issue_seat
from kiosk_server.events import create_event
from kiosk_server.live import event_id, presence, socketio, store, token_key
from kiosk_server.storage import Remembered
from rater_client.client import Device, binding, sealed_sheet
from seal.record import receipt_holds
from seal.signing import b64u, load_public_key, sign, verify
from seal.tokens import digest

from .conftest import PASSWORD, SCREENS, Event, screen, sheet, sign_in
from .conftest import received as settled

# Distinctive values: quoted, none of these may appear anywhere before the round closes.
SECRET_ITEMS = {"analysis": "37.5", "expression": "27.5", "bearing": "23"}
SECRET_STRINGS = ['"37.5"', '"27.5"', '"88.0"', '"88.00"', "37.50", "88.00"]


def holds(text: str | bytes, secret: str) -> bool:
    """Whether ``secret`` appears as a figure: not as a timestamp's seconds (the
    "…:37.512Z" of a record made at 37.5 s past the minute)."""
    pattern = r"(?<![:\d])" + re.escape(secret)
    if isinstance(text, bytes):
        return re.search(pattern.encode(), text) is not None
    return re.search(pattern, text) is not None


class Tablet:
    """An enrolled seat driven through the test client: its device key and sealed sheets."""

    def __init__(self, client: SocketIOTestClient, device: Device, server_key: Any) -> None:
        self.client, self.device, self.server_key = client, device, server_key
        self.openings: dict[int, dict[str, Any]] = {}
        self.credential = ""  # set by Room.enrol

    def view(self) -> dict[str, Any]:
        ack = self.client.emit("sync", {}, namespace="/rater", callback=True)
        assert ack["ok"], ack
        return ack["state"]

    def bound(self, **override: Any) -> dict[str, Any]:
        return {**binding(self.view()), **override}

    def send(
        self, event: str, fields: dict[str, Any], key: Ed25519PrivateKey | None = None, **raw: Any
    ) -> dict[str, Any]:
        if key is None:
            envelope = self.device.envelope(fields)
        else:
            envelope = sign(
                key, {**fields, "seq": self.device.seq + 1, "nonce": b64u(os.urandom(16))}
            )
        ack = self.client.emit(
            event, {"envelope": envelope, **raw}, namespace="/rater", callback=True
        )
        if ack.get("ok"):
            receipt = ack["receipt"]
            if receipt.get("pending"):  # a head was signed a moment ago: ask for it
                answer = self.client.emit(
                    "receipt", {"leaf": receipt["leaf"]}, namespace="/rater", callback=True
                )
                receipt = answer["receipt"]
            assert receipt_holds(self.server_key, receipt, envelope)
        return ack

    def commit(self, items: dict[str, Any], **override: Any) -> dict[str, Any]:
        bound = self.bound(**override)
        sealed = sealed_sheet(bound, items)
        ack = self.send(
            "commit", {"type": "commitment", **bound, "commitment": sealed["commitment"]}
        )
        if ack["ok"]:
            self.openings[bound["round"]] = sealed
        return ack

    def recuse(self, reason: str | None = None) -> dict[str, Any]:
        return self.send("commit", {"type": "recusal", **self.bound(), "reason": reason})

    def reveal(self, round_id: int, **change: Any) -> dict[str, Any]:
        opening = {**self.openings[round_id]["opening"], **change}
        return self.send("reveal", {"type": "opening", **opening})


class Room:
    """Actors of one test: the organiser console, tablets by seat, an observer screen."""

    def __init__(self, app: Flask, event: Event) -> None:
        self.app, self.event = app, event
        self.clients: list[SocketIOTestClient] = []  # every socket opened, for drain()
        self.http = app.test_client()
        response = sign_in(self.http)
        assert response.status_code == 302
        self.organiser = self._client("/organiser", flask_test_client=self.http)
        self.tablets: dict[tuple[str, int], Tablet] = {}
        observer_http = app.test_client()
        assert observer_http.post(f"/observe/{event.observer_token}").status_code == 302
        self.observer = self._client("/observer", flask_test_client=observer_http)

    def _client(self, namespace: str, **kwargs: Any) -> SocketIOTestClient:
        client = socketio(self.app).test_client(self.app, namespace=namespace, **kwargs)
        assert client.is_connected(namespace)
        self.clients.append(client)
        return client

    def drain(self) -> None:
        """Forget what every socket received: a test client keeps it all until read, and
        a 10,000-input fuzz run of pushes ran to gigabytes."""
        for client in self.clients:
            for namespace in list(client.connected):
                client.get_received(namespace)

    def enrol(self, room: str, number: int, lang: str = "zh") -> Tablet:
        device = Device()
        response = self.app.test_client().post(
            "/api/enrol",
            json={"token": self.event.token(room, number), "public_key": device.public_key},
        )
        assert response.status_code == 200, response.json
        body = response.json
        client = self._client("/rater", auth={"credential": body["credential"], "lang": lang})
        tablet = Tablet(client, device, load_public_key(body["server_key"]))
        tablet.credential = body["credential"]
        self.tablets[(room, number)] = tablet
        return tablet

    def act(self, event: str, **payload: Any) -> dict[str, Any]:
        return self.organiser.emit(event, payload, namespace="/organiser", callback=True)

    def ok(self, event: str, **payload: Any) -> dict[str, Any]:
        ack = self.act(event, **payload)
        assert ack["ok"], ack
        return ack

    def confirm(self, ack: dict[str, Any]) -> dict[str, Any]:
        """A monitor confirms the two-person act the organiser just asked for."""
        assert ack["ok"] and ack.get("pending"), ack
        reply = self.observer.emit(
            "approve", {"approval_id": ack["pending"]}, namespace="/observer", callback=True
        )
        assert reply["ok"], reply
        return reply

    def start_round(self, room: str) -> int:
        round_id = self.ok("call", room_id=self.event.rooms[room])["round_id"]
        self.ok("open", round_id=round_id)
        return int(round_id)

    def reveal_all(self, round_id: int) -> None:
        for tablet in self.tablets.values():
            if round_id in tablet.openings:
                assert tablet.reveal(round_id)["ok"]

    def board_room(self, code: str) -> dict[str, Any]:
        board = last(self.observer, "/observer", "board")
        return next(r for r in board["rooms"] if r["code"] == code)


def received(client: SocketIOTestClient, namespace: str) -> list[dict[str, Any]]:
    return settled(client, namespace)


# What each test client last received of a message that is not a screen's snapshot:
# client -> (namespace, name) -> its arguments (a push skips what the client has already).
_latest: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], Any]] = weakref.WeakKeyDictionary()


def last(client: SocketIOTestClient, namespace: str, name: str) -> dict[str, Any]:
    """What the screen shows: the ``name`` snapshots it received laid one over another,
    or, for a message that is no snapshot, the last one received."""
    if name not in SCREENS:
        kept = _latest.setdefault(client, {})
        for message in received(client, namespace):
            kept[(namespace, message["name"])] = message["args"]
        assert (namespace, name) in kept, f"no {name} received"
        return kept[(namespace, name)][0]  # type: ignore[no-any-return]
    received(client, namespace)
    shown = screen(client, name)
    assert shown is not None, f"no {name} received"
    return shown


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
    assert anonymous.get("/observer/head.svg").status_code == 401
    assert anonymous.get("/api/log/head").status_code == 401


def test_wrong_password_is_refused_and_recorded(app: Flask, event: Event) -> None:
    response = sign_in(app.test_client(), "guess")
    assert response.status_code == 401
    assert "密码不正确" in response.get_data(as_text=True)
    assert event.audit("sign_in")[-1]["disposition"] == "refused"


# --- the flow ------------------------------------------------------------------------------


def test_a_round_from_call_to_close_with_the_drop_rule(room: Room) -> None:
    for n in range(1, 6):
        room.enrol("A", n)
    round_id = room.start_round("A")
    view = room.tablets[("A", 1)].view()
    assert {k: view["round"][k] for k in ("id", "draw_number", "state", "seated", "mine")} == {
        "id": round_id,
        "draw_number": 1,
        "state": "open",
        "seated": True,
        "mine": None,
    }
    said = verify(room.tablets[("A", 1)].server_key, view["round"]["statement"])
    assert (said["round"], said["draw_number"], said["state"]) == (round_id, 1, "open")
    totals = {1: "30", 2: "35", 3: "36", 4: "40", 5: "20"}  # analysis only varies
    for n, analysis in totals.items():
        ack = room.tablets[("A", n)].commit(sheet(analysis, "20", "20"))
        assert ack["ok"], ack
    assert ack["round_closed"] is True  # the last commitment closes the round
    assert room.board_room("A")["round"]["state"] == "revealing"
    owed = room.tablets[("A", 2)].view()["reveal"]
    statement = verify(room.tablets[("A", 2)].server_key, owed[0])
    assert [c["commitment"] for c in statement["commitments"]] == [
        t.openings[round_id]["commitment"] for t in room.tablets.values()
    ]
    room.reveal_all(round_id)
    board = last(room.observer, "/observer", "board")
    result = next(r for r in board["rooms"] if r["code"] == "A")["round"]["result"]
    assert [e["total"] for e in result["entries"]] == ["70.00", "75.00", "76.00", "80.00", "60.00"]
    assert [e["dropped"] for e in result["entries"]] == [None, None, None, "high", "low"]
    assert (result["high"], result["low"], result["counted"]) == ("80.00", "60.00", 3)
    assert result["mean"] == "73.67"  # (70 + 75 + 76) / 3 = 73.666…
    finished = next(r for r in board["rooms"] if r["code"] == "A")["finished"]
    assert finished == [{"draw_number": 1, "mean": "73.67", "counted": 3, "closed_early": False}]
    assert room.event.audit("round_result")[-1]["detail"].count('"mean": "73.67"') == 1


def test_tablet_shows_only_the_draw_number_never_a_name(room: Room) -> None:
    tablet = room.enrol("A", 1)
    room.start_round("A")
    text = json.dumps(received(tablet.client, "/rater"), ensure_ascii=False)
    assert "张敏" not in text and "R003" not in text  # draw number 1 is 张敏, R003
    board = json.dumps(received(room.observer, "/observer"), ensure_ascii=False)
    console = json.dumps(received(room.organiser, "/organiser"), ensure_ascii=False)
    assert "张敏" not in board and "张敏" not in console


def test_recused_seat_does_not_count(room: Room) -> None:
    for n in range(1, 6):
        room.enrol("A", n)
    round_id = room.start_round("A")
    ack = room.tablets[("A", 5)].recuse("亲属")
    assert ack["ok"] and ack["kind"] == "recusal"
    assert room.tablets[("A", 5)].commit(sheet())["error"]["code"] == "already_submitted"
    for n, analysis in {1: "30", 2: "35", 3: "36", 4: "40"}.items():
        assert room.tablets[("A", n)].commit(sheet(analysis, "20", "20"))["ok"]
    room.reveal_all(round_id)
    result = room.board_room("A")["round"]["result"]
    # four counted (< 5): no drop, mean of all: (70 + 75 + 76 + 80) / 4 = 75.25
    assert result["rule"] == "all" and result["counted"] == 4 and result["mean"] == "75.25"
    assert result["entries"][4]["status"] == "recused"
    assert room.event.audit("conflict_declared")[0]["disposition"] == "accepted"


def test_a_commitment_can_be_replaced_until_the_close_and_the_last_one_counts(room: Room) -> None:
    first, second = room.enrol("A", 1), room.enrol("A", 2)
    round_id = room.start_round("A")
    assert first.commit(sheet("10", "10", "10"))["version"] == 1
    assert first.commit(sheet("20", "20", "20"))["version"] == 2  # replaces the first
    assert second.commit(sheet("30", "30", "30"))["round_closed"]
    assert first.commit(sheet("40", "30", "30"))["error"]["code"] == "round_closed"
    versions = [s["version"] for s in room.event.sheets() if s["seat_id"] == 1]
    assert versions == [1, 2]  # the old one is kept
    room.reveal_all(round_id)
    result = room.board_room("A")["round"]["result"]
    assert [e["total"] for e in result["entries"]] == ["60.00", "90.00"]


def test_each_seat_is_marked_by_its_latest_commitment_and_its_opening(room: Room) -> None:
    """The board's mark per seat: seated and silent ``pending``, sealed ``submitted`` (a
    replaced sheet too), ``recused``, opened ``revealed``, and ``not_seated`` for a tablet
    enrolled after the round opened; nothing to mark for a round only called."""
    for n in range(1, 5):
        room.enrol("A", n)
    round_id = int(room.ok("call", room_id=room.event.rooms["A"])["round_id"])

    def marks() -> list[str | None]:
        return [s["status"] for s in room.board_room("A")["seats"]]

    assert marks() == [None] * 5
    room.ok("open", round_id=round_id)
    late = room.enrol("A", 5)
    assert marks() == ["pending"] * 4 + ["not_seated"]
    assert room.tablets[("A", 1)].commit(sheet())["ok"]
    assert room.tablets[("A", 2)].recuse("亲属")["ok"]
    assert room.tablets[("A", 3)].commit(sheet("10", "10", "10"))["version"] == 1
    assert room.tablets[("A", 3)].commit(sheet("20", "20", "20"))["version"] == 2
    assert marks() == ["submitted", "recused", "submitted", "pending", "not_seated"]
    assert late.commit(sheet())["error"]["code"] == "not_seated"
    assert room.tablets[("A", 4)].commit(sheet())["round_closed"]
    assert room.tablets[("A", 3)].reveal(round_id)["ok"]
    assert marks() == ["submitted", "recused", "revealed", "submitted", "not_seated"]
    with room.app.app_context():  # the full build and the marks-only refresh agree
        assert room.board_room("A") == next(
            r for r in interview.board(store(room.app), room.event.id)["rooms"] if r["code"] == "A"
        )


def test_closing_early_needs_a_reason_which_is_recorded(room: Room) -> None:
    for n in range(1, 6):
        room.enrol("A", n)
    round_id = room.start_round("A")
    assert room.tablets[("A", 1)].commit(sheet())["ok"]
    refused = room.act("close", round_id=round_id)
    assert refused["error"]["code"] == "reason_required"
    assert room.act("close", round_id=round_id, reason="   ")["error"]["code"] == "reason_required"
    room.confirm(room.ok("close", round_id=round_id, reason="评委4 身体不适离场"))
    late = room.tablets[("A", 2)].commit(sheet())
    assert late["error"]["code"] == "round_closed"
    room.reveal_all(round_id)
    closed = room.event.audit("round_closed")[-1]
    assert "评委4 身体不适离场" in closed["detail"]
    result = room.board_room("A")["round"]["result"]
    assert result["close_reason"] == "评委4 身体不适离场"
    assert [e["status"] for e in result["entries"]] == ["scored"] + ["absent"] * 4


def test_a_tablet_that_never_reveals_can_be_published_around_with_a_reason(room: Room) -> None:
    for n in (1, 2):
        room.enrol("B", n)
    round_id = room.start_round("B")
    for n in (1, 2):
        assert room.tablets[("B", n)].commit(sheet())["ok"]
    assert room.tablets[("B", 1)].reveal(round_id)["ok"]
    assert room.act("finalise", round_id=round_id)["error"]["code"] == "reason_required"
    room.confirm(room.ok("finalise", round_id=round_id, reason="评委2 平板损坏"))
    result = room.board_room("B")["round"]["result"]
    assert [e["status"] for e in result["entries"]] == ["scored", "unrevealed"]


def test_a_mismatched_opening_is_refused_logged_and_shown(room: Room) -> None:
    for n in (1, 2):
        room.enrol("B", n)
    round_id = room.start_round("B")
    for n in (1, 2):
        assert room.tablets[("B", n)].commit(sheet())["ok"]
    cheat = room.tablets[("B", 1)].reveal(round_id, items=sheet(analysis="40"), total="97.5")
    assert cheat["error"]["code"] == "opening_mismatch"
    logged = room.event.audit("opening_refused")
    assert logged and logged[-1]["disposition"] == "refused"
    assert room.tablets[("B", 2)].reveal(round_id)["ok"]
    room.confirm(room.ok("finalise", round_id=round_id, reason="评委1 揭晓不符"))
    statuses = [e["status"] for e in room.board_room("B")["round"]["result"]["entries"]]
    assert statuses == ["mismatch", "scored"]


def test_pause_stops_calls_and_submissions(room: Room) -> None:
    tablet = room.enrol("A", 1)
    room.start_round("A")
    room.ok("pause", room_id=room.event.rooms["A"], paused=True)
    assert tablet.commit(sheet())["error"]["code"] == "room_paused"
    assert tablet.view()["room"]["paused"] is True
    room.ok("pause", room_id=room.event.rooms["A"], paused=False)
    assert tablet.commit(sheet())["ok"]


def test_call_by_draw_number_and_queue_order(room: Room) -> None:
    tablet = room.enrol("A", 1)
    room_a = room.event.rooms["A"]
    wrong = room.act("call", room_id=room_a, draw_number=4)  # 4 waits in room B
    assert wrong["error"]["code"] == "unknown_draw_number" and "4" in wrong["error"]["message"]
    round_id = room.ok("call", room_id=room_a, draw_number=3)["round_id"]
    assert room.act("call", room_id=room_a)["error"]["code"] == "round_active"
    console = last(room.organiser, "/organiser", "console")
    assert console["rooms"][0]["waiting"] == [1, 2]
    room.ok("open", round_id=round_id)
    assert tablet.commit(sheet())["round_closed"]
    assert room.ok("call", room_id=room_a)["round_id"] != round_id  # next: the lowest, 1
    assert tablet.reveal(round_id)["ok"]  # the previous round still opens in the background


def test_the_observer_board_carries_no_console_field(room: Room) -> None:
    """The screens' board is picked out of the console's, field by field: seat ids, who is
    online, the queues and the observer devices stay on the console."""
    room.enrol("A", 1)
    room.start_round("A")
    console = last(room.organiser, "/organiser", "console")
    board = last(room.observer, "/observer", "board")
    assert set(board) == set(interview.OBSERVER_BOARD) and "observers" in console
    for seen, full in zip(board["rooms"], console["rooms"], strict=True):
        assert set(seen) == set(interview.OBSERVER_ROOM) and {"waiting", "arrived"} <= set(full)
        assert all(set(seat) == set(interview.OBSERVER_SEAT) for seat in seen["seats"])
        assert {"id", "online"} <= set(full["seats"][0])
        assert seen["round"] == full["round"] and seen["finished"] == full["finished"]
    with room.app.app_context():  # what an observer is sent when it connects: the same
        assert interview.board(store(room.app), room.event.id) == board


# --- hidden until close, sealed even in the database -----------------------------------------


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
        received(tablet.client, "/rater")
    ack = room.tablets[("A", 1)].commit(SECRET_ITEMS)
    assert ack["ok"]
    seen = {
        "ack": ack,
        "own tablet": received(room.tablets[("A", 1)].client, "/rater"),
        "other tablet": received(room.tablets[("A", 2)].client, "/rater"),
        "organiser": received(room.organiser, "/organiser"),
        "observer": received(room.observer, "/observer"),
        "other tablet sync": room.tablets[("A", 2)].view(),
        "console page": room.http.get("/organiser/").get_data(as_text=True),
        "log and audit": room.event.audit(),
        "log": caplog.text,
    }
    for audience, data in seen.items():
        text = json.dumps(data, ensure_ascii=False, default=str)
        for secret in SECRET_STRINGS:
            assert not holds(text, secret), f"{audience} saw {secret}"
    board = last_board(room)
    assert board["seats"][0]["status"] == "submitted"  # a tick, not a value
    assert board["round"].get("result") is None
    for n in range(2, 6):
        assert room.tablets[("A", n)].commit(sheet())["ok"]
    room.reveal_all(round_id)
    assert room.board_room("A")["round"]["result"]["entries"][0]["total"] == "88.00"


def test_the_raw_database_and_wal_hold_no_score_of_an_open_round(room: Room, app: Flask) -> None:
    for n in range(1, 6):
        room.enrol("A", n)
    round_id = room.start_round("A")
    for n in range(1, 5):  # four of five: the round is still open
        assert room.tablets[("A", n)].commit(SECRET_ITEMS)["ok"]
    database = Path(app.config["DATABASE"])
    raw = b"".join(p.read_bytes() for p in (database, Path(f"{database}-wal")) if p.exists())
    assert len(raw) > 10_000
    for secret in ('"37.5"', '"27.5"', '"88.0"', "37.5", "27.5"):
        assert not holds(raw, secret), secret
    assert room.tablets[("A", 5)].commit(SECRET_ITEMS)["round_closed"]
    room.reveal_all(round_id)
    raw = b"".join(p.read_bytes() for p in (database, Path(f"{database}-wal")) if p.exists())
    assert b'"37.5"' in raw  # the control: once opened, the values are there to find


def last_board(room: Room) -> dict[str, Any]:
    with room.app.app_context():
        from kiosk_server import interview

        return interview.board(store(room.app), room.event.id)["rooms"][0]


# --- one device per seat ----------------------------------------------------------------------


def test_a_seat_token_works_once_and_a_second_device_is_refused(room: Room, app: Flask) -> None:
    room.enrol("A", 1)
    key = Device().public_key
    again = app.test_client().post(
        "/api/enrol", json={"token": room.event.token("A", 1), "public_key": key}
    )
    assert again.status_code == 409 and again.json["error"]["code"] == "seat_enrolled"
    page = app.test_client().get(f"/enrol/{room.event.token('A', 1)}")
    assert "该席位已有平板登记" in page.get_data(as_text=True)
    unknown = app.test_client().post(
        "/api/enrol", json={"token": "not-a-real-token-xyz", "public_key": key}
    )
    assert unknown.json["error"]["code"] == "token_unknown"
    no_key = app.test_client().post("/api/enrol", json={"token": room.event.token("A", 2)})
    assert no_key.json["error"]["code"] == "malformed"


def test_reissuing_a_seat_cuts_off_the_old_device(room: Room, app: Flask) -> None:
    old = room.enrol("A", 1)
    round_id = room.start_round("A")
    seat_id = last(room.organiser, "/organiser", "console")["rooms"][0]["seats"][0]["id"]
    ack = room.ok("reissue", seat_id=seat_id)
    # Nothing happens until a monitor confirms: the old tablet still works.
    assert old.client.is_connected("/rater") and old.view()["round"]["id"] == round_id
    board = last(room.observer, "/observer", "board")
    assert [a["action"] for a in board["approvals"]] == ["reissue_seat"]
    room.confirm(ack)
    assert not old.client.is_connected("/rater")
    assert last(room.observer, "/observer", "board")["approvals"] == []
    stale_token = room.event.token("A", 1)
    refused = app.test_client().post(
        "/api/enrol", json={"token": stale_token, "public_key": Device().public_key}
    )
    assert refused.json["error"]["code"] == "token_unknown"
    room.event.seat_tokens[("A", 1)] = room.event.refresh_token("A", 1)
    new = room.enrol("A", 1)
    assert new.client.is_connected("/rater")
    assert new.commit(sheet())["ok"]  # the new tablet scores the same seat
    assert new.view()["round"]["id"] == round_id


def test_reissuing_a_seat_forgets_the_credential_and_key_remembered_for_it(
    app: Flask, event: Event
) -> None:
    """Every socket event finds its seat and device key in memory (``Store.seats``); a
    re-issue must make the old ones unknown at once, not when the memory is next read."""
    st = store(app)
    device = Device()
    credential, seat = enrol_seat(st, event.token("A", 1), device.public_key)
    assert authenticate_seat(st, credential) == seat  # read from the database, then kept
    assert st.seats.get(("credential", digest(credential))) == seat
    assert authenticate_seat(st, credential) == seat
    assert interview.device_key(st, seat.id) == device.public_key
    issue_seat(st, token_key(app), seat.id, "test")
    assert authenticate_seat(st, credential) is None
    assert interview.device_key(st, seat.id) is None
    assert (
        authenticate_seat(st, "x" * 32) is None
        and st.seats.get(("credential", digest("x" * 32))) is None
    )


def test_a_value_read_before_a_change_is_never_kept_after_it() -> None:
    """``Remembered.keep`` takes the generation read before the read: a ``forget`` in
    between (a change committing meanwhile) drops the older value."""
    seats = Remembered()
    before = seats.generation
    seats.forget()  # a re-issue while a read was under way
    seats.keep(before, "k", "old")
    assert seats.get("k") is None
    seats.keep(seats.generation, "k", "new")
    assert seats.get("k") == "new"
    seats.forget()
    assert seats.get("k") is None


# --- bad input, forged and replayed envelopes ---------------------------------------------------


def test_malformed_messages_are_refused_and_change_nothing(room: Room) -> None:
    tablet = room.enrol("A", 1)
    room.start_round("A")
    before = room.event.sheets()
    bound = tablet.bound()
    cases = [
        ("not a dict", "malformed"),
        ({}, "malformed"),
        ({"envelope": "x"}, "malformed"),
        ({"envelope": {"body": {}, "signature": "AA"}}, "bad_signature"),
        ({"envelope": tablet.device.envelope({"type": "vote", **bound})}, "malformed"),
        (
            {
                "envelope": tablet.device.envelope(
                    {"type": "commitment", **bound, "commitment": "zz"}
                )
            },
            "malformed",
        ),
        (
            {
                "envelope": tablet.device.envelope(
                    {"type": "commitment", **bound, "round": "1", "commitment": "a" * 64}
                )
            },
            "malformed",
        ),
        (
            {
                "envelope": tablet.device.envelope(
                    {"type": "commitment", **bound, "seat": True, "commitment": "a" * 64}
                )
            },
            "malformed",
        ),
    ]
    for payload, code in cases:
        ack = tablet.client.emit("commit", payload, namespace="/rater", callback=True)
        assert ack["ok"] is False and ack["error"]["code"] == code, (payload, ack)
        assert ack["error"]["message"]
    assert room.event.sheets() == before
    refusals = [a for a in room.event.audit("commit") if a["disposition"] == "refused"]
    assert len(refusals) == len(cases)


@pytest.mark.parametrize("field", ["event", "room", "round", "draw_number", "seat", "rubric"])
def test_a_transplanted_envelope_is_refused_for_each_binding_field(room: Room, field: str) -> None:
    tablet = room.enrol("A", 1)
    room.enrol("B", 1)
    room.start_round("A")
    other_round = room.start_round("B")
    elsewhere = {
        "event": 99,
        "room": room.event.rooms["B"],
        "round": other_round,
        "draw_number": 3,
        "seat": 99,
        "rubric": "0" * 64,
    }
    ack = tablet.commit(sheet(), **{field: elsewhere[field]})
    assert ack["ok"] is False
    expected = {"round": "round_other_room"}.get(field, "transplanted")
    assert ack["error"]["code"] == expected, ack
    assert room.event.sheets() == []


def test_forged_and_replayed_envelopes_are_refused(room: Room) -> None:
    tablet = room.enrol("A", 1)
    room.enrol("A", 2)
    room.start_round("A")
    bound = tablet.bound()
    fields = {"type": "commitment", **bound, "commitment": "ab" * 32}
    forged = tablet.send("commit", fields, key=Ed25519PrivateKey.generate())
    assert forged["error"]["code"] == "bad_signature"
    stolen = room.tablets[("A", 2)].device  # another seat's key signing for seat 1
    envelope = stolen.envelope(fields)
    ack = tablet.client.emit("commit", {"envelope": envelope}, namespace="/rater", callback=True)
    assert ack["error"]["code"] == "bad_signature"
    first = tablet.device.envelope(fields)
    assert tablet.client.emit("commit", {"envelope": first}, namespace="/rater", callback=True)[
        "ok"
    ]
    again = tablet.client.emit("commit", {"envelope": first}, namespace="/rater", callback=True)
    assert again["ok"] and again["duplicate"]  # the very same envelope: the first answer
    stale = sign(tablet.device.key, {**fields, "seq": 1, "nonce": b64u(os.urandom(16))})
    ack = tablet.client.emit("commit", {"envelope": stale}, namespace="/rater", callback=True)
    assert ack["error"]["code"] == "replayed" and ack["error"]["field"] == "seq"
    reused = sign(tablet.device.key, {**fields, "seq": 50, "nonce": first["body"]["nonce"]})
    ack = tablet.client.emit("commit", {"envelope": reused}, namespace="/rater", callback=True)
    assert ack["error"]["code"] == "replayed" and ack["error"]["field"] == "nonce"
    assert len(room.event.sheets()) == 1


def test_an_opening_that_breaks_the_rubric_is_refused(room: Room) -> None:
    tablet = room.enrol("B", 1)
    round_id = room.start_round("B")
    assert tablet.commit(sheet(analysis="40.5"))["round_closed"]  # sealed: nobody can tell
    ack = tablet.reveal(round_id)
    assert ack["error"]["code"] == "opening_invalid" and ack["error"]["field"] == "analysis"
    assert ack["error"]["message"] == "揭晓的评分不符合评分规则（综合分析能力），已拒绝并记录。"


def test_errors_speak_english_to_an_english_tablet(room: Room) -> None:
    tablet = room.enrol("A", 1, lang="en")
    room.start_round("A")
    ack = tablet.commit(sheet(), seat=99)
    assert ack["error"]["message"] == (
        "The sheet's “seat” does not match this round (another round, seat or event?)."
    )


def test_wrong_arity_and_unknown_events_do_not_break_the_server(room: Room) -> None:
    tablet = room.enrol("A", 1)
    client = tablet.client
    assert client.emit("commit", namespace="/rater", callback=True)["error"]["code"] == "malformed"
    assert client.emit("commit", 1, 2, namespace="/rater", callback=True)["ok"] is False
    assert client.emit("reveal", None, namespace="/rater", callback=True)["ok"] is False
    client.emit("no_such_event", {"x": 1}, namespace="/rater")
    for event, payload in [
        ("call", {"room_id": "A"}),
        ("open", {"round_id": None}),
        ("close", {"round_id": [1]}),
        ("pause", {}),
        ("reissue", {"seat_id": "1"}),
        ("reissue", {"seat_id": 2**64}),  # past SQLite's integers: once `internal` (make fuzz)
        ("reissue", {"seat_id": True}),
        ("call", {"room_id": 10**30}),
        ("finalise", {"round_id": -1}),
    ]:
        ack = room.act(event, **payload)
        assert ack["ok"] is False and ack["error"]["code"] in {
            "malformed",
            "unknown_room",
            "unknown_seat",
            "unknown_round",
        }
    assert room.organiser.emit("call", "junk", namespace="/organiser", callback=True)["ok"] is False
    assert client.is_connected("/rater")


def test_a_seat_enrolled_after_opening_does_not_score_that_round(room: Room) -> None:
    room.enrol("A", 1)
    room.start_round("A")
    late = room.enrol("A", 2)
    assert late.view()["round"]["seated"] is False
    assert late.commit(sheet())["error"]["code"] == "not_seated"


def test_sealed_records_and_the_log_are_append_only(app: Flask, room: Room) -> None:
    tablet = room.enrol("A", 1)
    round_id = room.start_round("A")
    assert tablet.commit(sheet())["ok"]
    assert tablet.reveal(round_id)["ok"]
    import sqlite3

    for sql in (
        "UPDATE commitment SET digest = 'x'",
        "DELETE FROM commitment",
        "UPDATE opening SET total = '100'",
        "DELETE FROM log_leaf",
        "UPDATE log_leaf SET data = '{}'",
        "DELETE FROM tree_head",
    ):
        with pytest.raises(sqlite3.IntegrityError), store(app).write() as db:
            db.execute(sql)
    assert room.event.sheets()[0]["total"] == "95.0"


def test_pages_carry_a_strict_content_security_policy(app: Flask, event: Event) -> None:
    for path in ("/login", f"/enrol/{event.token('A', 1)}", f"/observe/{event.observer_token}"):
        headers = app.test_client().get(path).headers
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert headers["Referrer-Policy"] == "no-referrer"  # URLs hold one-time tokens
        assert headers["X-Frame-Options"] == "DENY"


def test_guessing_passwords_and_tokens_is_slowed_down(app: Flask, event: Event) -> None:
    client = app.test_client()
    for _ in range(10):
        assert sign_in(client, "guess").status_code == 401
    blocked = sign_in(client)  # even the right one now
    assert blocked.status_code == 429 and "失败次数过多" in blocked.get_data(as_text=True)
    key = Device().public_key
    for n in range(10):
        answer = client.post(
            "/api/enrol", json={"token": f"guess-token-{n:04d}", "public_key": key}
        )
        assert answer.json["error"]["code"] == "token_unknown"
    held = client.post("/api/enrol", json={"token": event.token("A", 1), "public_key": key})
    assert held.status_code == 429 and held.json["error"]["code"] == "too_many_attempts"
    other = app.test_client()  # another address is not held up
    answer = sign_in(other, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert answer.status_code == 302


def test_a_flooding_tablet_is_refused_and_the_others_are_not(room: Room) -> None:
    flood, calm = room.enrol("A", 1), room.enrol("A", 2)
    bucket = socketio(room.app).server.namespace_handlers["/rater"].bucket
    started = time.monotonic()
    answers = [flood.client.emit("sync", {}, namespace="/rater", callback=True) for _ in range(150)]
    refilled = (time.monotonic() - started) * bucket.rate
    accepted = sum(a["ok"] for a in answers)
    assert accepted <= bucket.burst + refilled + 1  # never more than the bucket allows
    assert any(not a["ok"] and a["error"]["code"] == "rate_limited" for a in answers)
    assert calm.client.emit("sync", {}, namespace="/rater", callback=True)["ok"]
    assert flood.client.is_connected("/rater")


def test_forms_need_the_anti_forgery_token(app: Flask, event: Event) -> None:
    client = app.test_client()
    forged = client.post("/login", data={"password": PASSWORD})
    assert forged.status_code == 400 and "页面已过期" in forged.get_data(as_text=True)
    assert sign_in(client).status_code == 302
    assert client.post("/logout").status_code == 400  # no token: still signed in
    assert client.get("/organiser/").status_code == 200
    page = client.get("/organiser/").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert client.post("/logout", data={"csrf": token}).status_code == 302
    assert client.get("/organiser/").status_code == 302


def test_a_called_candidate_who_does_not_come_in_is_marked_absent(room: Room) -> None:
    tablet = room.enrol("A", 1)
    round_id = room.ok("call", room_id=room.event.rooms["A"])["round_id"]
    room.ok("absent", round_id=round_id)
    board = room.board_room("A")
    current = board["round"]
    assert current["state"] == "closed" and current["result"]["mean"] is None
    assert current["result"]["close_reason"] == "缺考"
    assert board["finished"][0]["draw_number"] == 1
    assert room.event.audit("candidate_absent")[0]["disposition"] == "accepted"
    assert tablet.view()["round"]["state"] == "closed"
    second = room.ok("call", room_id=room.event.rooms["A"])["round_id"]  # on to the next
    room.ok("open", round_id=second)
    assert room.act("absent", round_id=second)["error"]["code"] == "round_not_called"


def test_socket_events_use_the_connections_session_without_reopening_the_cookie(
    room: Room, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every socket event runs with its connection's session (Flask-SocketIO's copy, taken
    from the cookie when it connected): the organiser stays signed in for each act, and
    the signed cookie is not checked and decoded again per event (HTTP still does)."""
    interface = app.session_interface
    real = interface.get_signing_serializer  # type: ignore[attr-defined]
    opened: list[str] = []

    def counted(flask_app: Flask) -> Any:
        opened.append(request.path)
        return real(flask_app)

    monkeypatch.setattr(interface, "get_signing_serializer", counted)
    tablet = room.enrol("A", 1)
    opened.clear()
    round_id = room.start_round("A")  # call and open: two organiser acts
    assert tablet.commit(sheet())["ok"]
    room.ok("pause", room_id=room.event.rooms["A"], paused=True)
    assert opened == []
    assert room.http.get("/organiser/").status_code == 200  # a page opens the cookie
    assert opened and set(opened) == {"/organiser/"}  # opened (and saved) over HTTP
    assert room.board_room("A")["round"]["id"] == round_id


def test_the_server_keeps_its_event_when_another_is_created_while_it_runs(
    room: Room, app: Flask
) -> None:
    """A server started without ``KIOSK_EVENT_ID`` serves the instance's only event; an
    event created meanwhile (from the command line, say) neither takes over nor stops it."""
    tablet = room.enrol("A", 1)
    with app.app_context():
        assert event_id() == room.event.id
        create_event(store(), "另一场竞争上岗")
        assert event_id() == room.event.id
    room.start_round("A")
    assert tablet.commit(sheet())["ok"]
    assert room.board_room("A")["seats"][0]["status"] == "submitted"


def test_the_screens_kept_views_follow_every_act_that_changes_them(room: Room, app: Flask) -> None:
    """A screens' push rebuilds only what the acts since named as changed
    (interview.RoomCache): the check-in queue of the rooms named, the results views (the
    organiser's, the board's part) only after an act naming no room, or while the
    settings are not yet frozen (the first call freezes them). Each view pushed equals
    one built afresh."""
    from kiosk_server import results
    from kiosk_server.checkin import checkin_view

    from .test_ceremony import checkin_client

    desk = checkin_client(app, room.event, room)

    def pushed_equal_fresh() -> tuple[dict[str, Any], dict[str, Any]]:
        shown = last(room.organiser, "/organiser", "results")
        queue = last(desk, "/checkin", "checkin")
        with store(app).read() as db:
            assert shown == results.organiser_view(db, room.event.id)
        assert queue == checkin_view(store(app), room.event.id)
        assert last(room.observer, "/observer", "board") == interview.board(
            store(app), room.event.id
        )
        return shown, next(r for r in queue["rooms"] if r["code"] == "B")

    tablet = room.enrol("B", 1)  # names no room: everything is built
    shown, queue = pushed_equal_fresh()
    assert shown["frozen"] is False and queue["inside"] is None
    number = queue["not_arrived"][0]["draw_number"]
    assert desk.emit("arrive", {"draw_number": number}, namespace="/checkin", callback=True)["ok"]
    shown, queue = pushed_equal_fresh()  # the arrival names room B only
    assert [p["draw_number"] for p in queue["waiting"]] == [number]
    round_id = room.start_round("B")  # the first call, naming room B only
    shown, queue = pushed_equal_fresh()
    assert shown["frozen"] is True and queue["inside"]["round_id"] == round_id
    assert tablet.commit(sheet())["ok"]  # the only seated rater: the round closes
    room.reveal_all(round_id)
    shown, queue = pushed_equal_fresh()
    assert [f["round_id"] for f in queue["finished"]] == [round_id]
    assert queue["finished"][0]["confirmed"] is False
    assert desk.emit("confirm", {"round_id": round_id}, namespace="/checkin", callback=True)["ok"]
    shown, queue = pushed_equal_fresh()  # the confirmation names room B only
    assert queue["finished"][0]["confirmed"] is True


def test_acts_that_change_only_seats_marks_have_only_those_read_again(
    room: Room, app: Flask
) -> None:
    """A commitment that leaves its round open, an opening that is not the round's last
    and a tablet coming or going change a seat's mark, not the round, who waits or who
    is inside (``RoomCache.note``, ``seats_only``): the board has its seats' marks read
    again and still equals one built afresh; the check-in desk, which shows no seats,
    hears nothing of them, and the round's close and result reach it."""
    from kiosk_server.checkin import checkin_view

    from .test_ceremony import checkin_client

    desk = checkin_client(app, room.event, room)
    first, second = room.enrol("A", 1), room.enrol("A", 2)
    room_a = next(r for r in last(desk, "/checkin", "checkin")["rooms"] if r["code"] == "A")
    number = room_a["not_arrived"][0]["draw_number"]
    assert desk.emit("arrive", {"draw_number": number}, namespace="/checkin", callback=True)["ok"]
    round_id = room.start_round("A")
    late = room.enrol("A", 3)  # after the round opened: not seated in it
    received(desk, "/checkin")
    received(room.observer, "/observer")

    def heard(client: SocketIOTestClient, namespace: str, name: str) -> int:
        return sum(m["name"] == name for m in received(client, namespace))

    def board_is_fresh() -> None:
        assert last(room.observer, "/observer", "board") == interview.board(
            store(app), room.event.id
        )
        shown = last(room.organiser, "/organiser", "console")
        online = presence(app).online()
        assert shown == interview.board(store(app), room.event.id, True, online)

    ack = first.commit(sheet())
    assert ack["ok"] and not ack["round_closed"]
    assert room.board_room("A")["seats"][0]["status"] == "submitted"
    board_is_fresh()
    late.client.disconnect("/rater")  # goes, and comes back
    late.client.connect("/rater", auth={"credential": late.credential})
    assert late.client.is_connected("/rater")
    board_is_fresh()
    assert heard(desk, "/checkin", "checkin") == 0
    assert second.commit(sheet())["round_closed"]  # the last one in: the round closes
    assert last(desk, "/checkin", "checkin") == checkin_view(store(app), room.event.id)
    assert first.reveal(round_id)["ok"]
    assert room.board_room("A")["seats"][0]["status"] == "revealed"
    board_is_fresh()
    assert heard(desk, "/checkin", "checkin") == 0
    assert second.reveal(round_id)["ok"]  # the result is out
    queue = last(desk, "/checkin", "checkin")
    assert queue == checkin_view(store(app), room.event.id)
    assert [f["round_id"] for r in queue["rooms"] for f in r["finished"]] == [round_id]


def test_a_kept_room_is_built_again_only_when_changed_beyond_its_seats_marks() -> None:
    """``RoomCache.room``: a room not changed is kept; one noted ``seats_only`` is kept with
    its seats' marks read again; one noted otherwise, or any room after an act naming
    none, is built again; a screen passed no ``refresh`` builds every changed room."""
    cache = interview.RoomCache()
    calls: list[str] = []

    def build(db: Any, room: dict[str, Any], threshold: int) -> dict[str, Any]:
        calls.append(f"build {room['id']}")
        return {"id": room["id"], "built": len(calls)}

    def refresh(db: Any, kept: dict[str, Any]) -> dict[str, Any]:
        calls.append(f"refresh {kept['id']}")
        return {**kept, "marks": len(calls)}

    rooms = [{"id": 1, "event_id": 9}, {"id": 2, "event_id": 9}]

    def push(kind: str = "status", marks: bool = True) -> list[str]:
        calls.clear()
        changed, whole = cache.take()
        for room in rooms:
            cache.room(kind, build, None, room, 5, changed, whole, refresh if marks else None)
        return calls

    assert push() == ["build 1", "build 2"]  # nothing kept yet (and changed is None)
    assert push() == []
    cache.note(1, seats_only=True)
    cache.note(2)
    assert push() == ["refresh 1", "build 2"]
    cache.note(2, seats_only=True)
    cache.note(2)  # the same room changed whole as well: built
    assert push() == ["build 2"]
    cache.note(1, seats_only=True)
    cache.note(None)
    assert push() == ["build 1", "build 2"]
    assert push("queue", marks=False) == ["build 1", "build 2"]  # nothing kept of this kind
    cache.note(1, seats_only=True)
    assert push("queue", marks=False) == ["build 1"]


def test_a_kept_room_gets_its_online_flags_again_only_when_a_seat_comes_or_goes() -> None:
    """``RoomCache.online`` reuses a room's flagged copy while neither the room nor who
    of its seats is online changed, and flags it afresh otherwise."""
    cache = interview.RoomCache()
    room = {"id": 7, "code": "A", "seats": [{"id": 1, "number": 1}, {"id": 2, "number": 2}]}

    def flags(marked: dict[str, Any]) -> list[bool]:
        return [seat["online"] for seat in marked["seats"]]

    first = cache.online(room, {1, 99})
    assert flags(first) == [True, False] and "online" not in room["seats"][0]
    assert cache.online(room, {1, 42}) is first  # nobody of this room came or went
    assert flags(cache.online(room, {2})) == [False, True]
    rebuilt = {**room, "code": "A2"}  # the room itself was built again
    assert cache.online(rebuilt, {2})["code"] == "A2"
