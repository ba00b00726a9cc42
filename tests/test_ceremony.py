"""The lot-draw ceremony and check-in, over the real HTTP routes and Socket.IO namespaces:
commit-reveal among parties, refusals, attempts, the draw applied, names hidden from every
screen but check-in until the interviews end, and the verifier re-deriving it all."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ballot.lots import draw, pool_digest, source_commitment
from kiosk_server.ceremony import party_tokens
from kiosk_server.live import socketio, store, token_key
from kiosk_server.organiser import NAMESPACE as ORGANISER
from seal.verify import replay

from .conftest import CANDIDATES, Event, received
from .test_interview_sockets import Room, last

SOURCES = ["9319", "2 5 12 8 10", "9 18 26 34 41 45"]
POOL = sorted(c[0] for c in CANDIDATES)


class Party:
    """One party's phone: its link token, its number, its salt."""

    def __init__(self, http: FlaskClient, token: str, value: str) -> None:
        self.http, self.token, self.value = http, token, value
        self.salt = secrets.token_hex(16)

    def commit(self) -> Any:
        body = {"token": self.token, "commitment": source_commitment(self.value, self.salt)}
        return self.http.post("/api/lot/commit", json=body)

    def reveal(self, value: str | None = None, salt: str | None = None) -> Any:
        body = {"token": self.token, "value": value or self.value, "salt": salt or self.salt}
        return self.http.post("/api/lot/reveal", json=body)


def start(room: Room, app: Flask, reason: str | None = None) -> list[Party]:
    ack = room.ok("lot_start", parties=None, reason=reason)
    if reason is not None:  # a re-draw: it waits for a monitor's yes
        assert "draw_id" not in ack
        room.confirm(ack)
    draw_id = store(app).row("SELECT max(id) AS id FROM lot_draw")["id"]
    with app.app_context():
        tokens = [p["token"] for p in party_tokens(store(), token_key(), draw_id)]
    return [Party(app.test_client(), t, v) for t, v in zip(tokens, SOURCES, strict=True)]


def numbers(app: Flask) -> dict[str, tuple[int, int]]:
    return {
        r["reg_no"]: (r["draw_number"], r["room_id"])
        for r in store(app).rows("SELECT reg_no, draw_number, room_id FROM candidate")
    }


def test_a_draw_from_commit_to_numbers(app: Flask, event: Event, room: Room) -> None:
    parties = start(room, app)
    board = last(room.observer, "/observer", "board")["draws"][0]
    assert board["state"] == "committing" and board["pool_size"] == len(POOL)
    assert board["pool_digest"] == pool_digest(POOL)
    assert [p["label"] for p in board["parties"]] == ["组织者", "纪检监督员", "考生代表"]

    assert parties[0].commit().status_code == 200
    # No reveal before every party has committed.
    early = parties[0].reveal()
    assert early.status_code == 409 and early.json["error"]["code"] == "lot_not_revealing"
    assert parties[0].commit().json["error"]["code"] == "lot_not_committing"
    for party in parties[1:]:
        assert party.commit().status_code == 200
    board = last(room.observer, "/observer", "board")["draws"][0]
    assert board["state"] == "revealing"
    assert [p["commitment"] for p in board["parties"]] == [
        source_commitment(p.value, p.salt) for p in parties
    ]
    assert all(p["value"] is None for p in board["parties"])

    # A reveal that does not match is refused, logged and shown; the draw waits.
    wrong = parties[1].reveal(value="2 5 12 8 11")
    assert wrong.status_code == 409 and wrong.json["error"]["code"] == "lot_reveal_mismatch"
    assert parties[1].reveal(salt="0" * 32).json["error"]["code"] == "lot_reveal_mismatch"
    refusals = [a for a in event.audit("lot_revealed") if a["disposition"] == "refused"]
    assert len(refusals) == 2
    board = last(room.observer, "/observer", "board")["draws"][0]
    assert board["parties"][1]["refused"] == 2 and board["key"] is None

    for party in parties:
        assert party.reveal().status_code == 200
    board = last(room.observer, "/observer", "board")["draws"][0]
    assert board["state"] == "drawn"
    # Recomputed here from the published inputs alone.
    key, steps = draw(len(POOL), len(POOL), [[int(n) for n in s.split()] for s in SOURCES])
    assert board["key"] == key == "9319./2.5.8.10.12./9.18.26.34.41.45./"
    assert [s["selected"] for s in board["steps"]] == [s.selected for s in steps]
    assert [s["digest"] for s in board["steps"]] == [s.digest for s in steps]
    assert board["command"].startswith(f"kiosk draw rfc3797 --pool-size {len(POOL)}")

    # Draw number n is the candidate at pool position steps[n-1]; rooms filled in blocks.
    given = numbers(app)
    per_room = -(-len(POOL) // 2)
    for n, step in enumerate(steps, start=1):
        expected_room = event.rooms["A"] if n <= per_room else event.rooms["B"]
        assert given[POOL[step.selected - 1]] == (n, expected_room)
    # The observer never saw a name.
    names = {c[1] for c in CANDIDATES}
    for message in received(room.observer, "/observer"):
        text = json.dumps(message, ensure_ascii=False)
        assert not any(name in text for name in names)


def test_redraws_need_a_reason_and_are_counted(app: Flask, event: Event, room: Room) -> None:
    parties = start(room, app)
    assert room.act("lot_start", parties=None)["error"]["code"] == "lot_in_progress"
    assert room.act("lot_void", reason="")["error"]["code"] == "reason_required"
    room.confirm(room.ok("lot_void", reason="考生代表手机没电"))
    assert parties[0].commit().json["error"]["code"] == "lot_not_committing"
    assert room.act("lot_start", parties=None)["error"]["code"] == "lot_redraw_reason"
    start(room, app, reason="考生代表手机没电，重新抽签")
    board = last(room.observer, "/observer", "board")["draws"][0]
    assert (board["attempt"], board["attempts"]) == (2, 2)
    assert board["reason"] == "考生代表手机没电，重新抽签"
    started = [a for a in event.audit("lot_draw_started") if a["disposition"] == "accepted"]
    assert [json.loads(a["detail"])["attempt"] for a in started] == [1, 2]
    voided = [a["disposition"] for a in event.audit("lot_draw_voided")]
    assert voided == ["refused", "accepted"]


def test_party_lists_are_checked(room: Room) -> None:
    for parties in (["甲", "甲"], [], ["x" * 41], "组织者", [1, 2]):
        ack = room.act("lot_start", parties=parties)
        assert ack["error"]["code"] in ("lot_parties", "malformed"), parties


def complete(parties: list[Party]) -> None:
    for party in parties:
        assert party.commit().status_code == 200
    for party in parties:
        assert party.reveal().status_code == 200


def test_no_draw_once_interviews_began(app: Flask, room: Room) -> None:
    room.ok("call", room_id=room.event.rooms["A"])
    assert room.act("lot_start", parties=None)["error"]["code"] == "lot_after_interviews"


def accepted(leaves: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(x for x in leaves if x["type"] == kind and x["disposition"] == "accepted")


def checkin_client(app: Flask, event: Event, room: Room) -> Any:
    url = room.ok("new_checkin", label="检录台")["url"]
    http = app.test_client()
    assert http.get("/checkin").status_code == 401
    assert http.post(url[url.index("/checkin/") :]).status_code == 302
    assert http.get("/checkin").status_code == 200
    client = socketio(app).test_client(app, namespace="/checkin", flask_test_client=http)
    assert client.is_connected("/checkin")
    return client


def test_check_in_calls_the_arrived_and_names_wait_for_the_end(
    app: Flask, event: Event, room: Room
) -> None:
    complete(start(room, app))
    desk = checkin_client(app, event, room)
    view = last(desk, "/checkin", "checkin")
    room_a = next(r for r in view["rooms"] if r["code"] == "A")
    assert room_a["waiting"] == [] and room_a["not_arrived"][0]["name"] in {
        c[1] for c in CANDIDATES
    }
    first, second = (p["draw_number"] for p in room_a["not_arrived"][:2])

    def emit(name: str, **payload: Any) -> dict[str, Any]:
        return desk.emit(name, payload, namespace="/checkin", callback=True)

    # With check-in in use, nobody who has not arrived is called as "next".
    assert emit("call_next", room_id=event.rooms["A"])["error"]["code"] == "no_candidate_waiting"
    assert emit("arrive", draw_number=second)["ok"]
    assert emit("arrive", draw_number=second)["error"]["code"] == "already_arrived"
    assert emit("arrive", draw_number=999)["error"]["code"] == "unknown_draw_number"
    assert emit("arrive", draw_number="1")["error"]["code"] == "malformed"
    assert emit("arrive", draw_number=first)["ok"]
    called = emit("call_next", room_id=event.rooms["A"])
    assert called["ok"]
    current = last(room.observer, "/observer", "board")
    assert next(r for r in current["rooms"] if r["code"] == "A")["round"]["draw_number"] == first
    assert emit("confirm", round_id=called["round_id"])["error"]["code"] == "round_not_closed"
    room.ok("absent", round_id=called["round_id"])
    assert emit("confirm", round_id=called["round_id"])["ok"]
    assert emit("confirm", round_id=called["round_id"])["error"]["code"] == "already_confirmed"
    view = last(desk, "/checkin", "checkin")
    done = next(r for r in view["rooms"] if r["code"] == "A")["finished"][0]
    assert done["draw_number"] == first and done["confirmed"]

    # The interviews end only when every numbered candidate's round is closed.
    assert room.act("end_interviews")["error"]["code"] == "interviews_not_finished"
    for code in ("A", "B"):
        while True:
            ack = room.act("call", room_id=event.rooms[code], draw_number=None)
            if not ack["ok"]:
                waiting = store(app).rows(
                    "SELECT draw_number FROM candidate WHERE room_id = ? AND id NOT IN"
                    " (SELECT candidate_id FROM round) ORDER BY draw_number",
                    [event.rooms[code]],
                )
                if not waiting:
                    break
                ack = room.ok(
                    "call", room_id=event.rooms[code], draw_number=waiting[0]["draw_number"]
                )
            room.ok("absent", round_id=ack["round_id"])
    board = last(room.observer, "/observer", "board")
    assert board["names"] is None and not board["event"]["interviews_ended"]
    asked = room.ok("end_interviews")
    assert last(room.observer, "/observer", "board")["names"] is None  # not before the yes
    room.confirm(asked)
    assert room.act("end_interviews")["error"]["code"] == "interviews_already_ended"
    board = last(room.observer, "/observer", "board")
    given = numbers(app)
    name_of = {c[0]: c[1] for c in CANDIDATES}
    assert board["names"] == {str(n): name_of[reg] for reg, (n, _room) in given.items()}

    # The verifier re-derives the draw from the log and checks the published list.
    leaves = [
        json.loads(r["data"]) for r in store(app).rows("SELECT data FROM log_leaf ORDER BY idx")
    ]
    state = replay(leaves, event.id)
    assert state.failures == []
    ended = accepted(leaves, "interviews_ended")
    assert ended["data"]["pool"] == POOL

    # A log whose published numbers differ from the draw's order does not verify.
    forged = json.loads(json.dumps(leaves))
    entry = accepted(forged, "interviews_ended")
    people = entry["data"]["candidates"]
    people[0]["reg_no"], people[1]["reg_no"] = people[1]["reg_no"], people[0]["reg_no"]
    assert any("as the draw decided" in f for f in replay(forged, event.id).failures)
    # Nor one whose drawn order is not what the revealed sources give.
    forged = json.loads(json.dumps(leaves))
    entry = accepted(forged, "lot_drawn")
    entry["data"]["order"] = list(reversed(entry["data"]["order"]))
    assert any("do not give the order" in f for f in replay(forged, event.id).failures)
    # Nor one with a reveal that does not match its commitment.
    forged = json.loads(json.dumps(leaves))
    entry = accepted(forged, "lot_revealed")
    entry["data"]["value"] = "1"
    assert any("does not match" in f for f in replay(forged, event.id).failures)


def test_the_organiser_console_never_carries_names(app: Flask, event: Event, room: Room) -> None:
    complete(start(room, app))
    room.ok("call", room_id=event.rooms["A"])
    names = {c[1] for c in CANDIDATES}
    for message in received(room.organiser, ORGANISER):
        text = json.dumps(message, ensure_ascii=False)
        assert not any(name in text for name in names)
    page = room.http.get("/organiser/").get_data(as_text=True)
    assert not any(name in page for name in names)


def test_party_pages_and_tokens(app: Flask, room: Room) -> None:
    parties = start(room, app)
    http = app.test_client()
    page = http.get(f"/lot/{parties[0].token}")
    assert page.status_code == 200 and "组织者" in page.get_data(as_text=True)
    assert http.get("/lot/" + "x" * 32).status_code == 404
    assert http.get(f"/api/lot/{parties[2].token}").json["label"] == "考生代表"
    assert http.post("/api/lot/commit", data="x").status_code == 400
    bad = http.post("/api/lot/commit", json={"token": parties[0].token, "commitment": "ZZ"})
    assert bad.json["error"]["code"] == "malformed"
    for _ in range(10):
        http.post("/api/lot/commit", json={"token": "y" * 32, "commitment": "0" * 64})
    limited = http.post("/api/lot/commit", json={"token": "y" * 32, "commitment": "0" * 64})
    assert limited.status_code == 429
    sheet = room.http.get("/organiser/lot-sheet").get_data(as_text=True)
    assert all(p.token in sheet for p in parties)


def test_raters_are_drawn_into_rooms_around_their_conflicts(
    app: Flask, event: Event, room: Room, tmp_path: Any
) -> None:
    from kiosk_server.importer import import_setup

    from .conftest import write_csv

    # Six raters, two pairs from one unit; one declares a conflict with a candidate.
    raters = write_csv(
        tmp_path / "raters.csv",
        [
            ["姓名", "单位", "回避考生"],
            ["赵一", "组织部", ""],
            ["钱二", "组织部", ""],
            ["孙三", "纪委", "R001"],
            ["李四", "纪委", ""],
            ["周五", "人社局", ""],
            ["吴六", "党校", "R009"],
        ],
    )
    with app.app_context():
        with pytest.raises(Exception, match="unknown candidate 'R009'"):
            import_setup(store(), event.id, {"raters": raters})
    raters.write_text(raters.read_text(encoding="utf-8").replace("R009", ""), encoding="utf-8")
    with app.app_context():
        import_setup(store(), event.id, {"raters": raters})
    complete(start(room, app))  # the candidates' order first: it decides their rooms
    ack = room.ok("lot_start", parties=["组织者", "纪检监督员"], purpose="raters")
    with app.app_context():
        tokens = [p["token"] for p in party_tokens(store(), token_key(), ack["draw_id"])]
    complete([Party(app.test_client(), t, v) for t, v in zip(tokens, ["31", "7 7"], strict=True)])
    board = last(room.observer, "/observer", "board")
    assert [d["purpose"] for d in board["draws"]] == ["order", "raters"]
    placement = board["draws"][1]["placement"]
    seated = {r["name"]: p["code"] for p in placement["rooms"] for r in p["raters"]}
    by_room: dict[str, list[str]] = {}
    for name, code in seated.items():
        by_room.setdefault(code, []).append(name)
    units = {"赵一": "组织部", "钱二": "组织部", "孙三": "纪委", "李四": "纪委"}
    for members in by_room.values():
        found = [units[m] for m in members if m in units]
        assert len(found) == len(set(found)), "two raters of one unit in a room"
    r001_room = store(app).row(
        "SELECT room.code FROM candidate JOIN room ON room.id = candidate.room_id"
        " WHERE reg_no = 'R001'"
    )["code"]
    assert seated.get("孙三") != r001_room
    # The database agrees with the screen, and the log replays.
    rows = store(app).rows(
        "SELECT rater.name, room.code FROM rater JOIN seat ON seat.id = rater.seat_id"
        " JOIN room ON room.id = seat.room_id"
    )
    assert {r["name"]: r["code"] for r in rows} == seated
    leaves = [
        json.loads(r["data"]) for r in store(app).rows("SELECT data FROM log_leaf ORDER BY idx")
    ]
    assert replay(leaves, event.id).failures == []
    drawn = [x for x in leaves if x["type"] == "lot_drawn"][-1]
    forged = json.loads(json.dumps(leaves))
    target = [x for x in forged if x["type"] == "lot_drawn"][-1]
    codes = list(target["data"]["placement"])
    first, second = codes[0], codes[1]
    target["data"]["placement"][first], target["data"]["placement"][second] = (
        drawn["data"]["placement"][second],
        drawn["data"]["placement"][first],
    )
    assert any("not seated as drawn" in f for f in replay(forged, event.id).failures)
