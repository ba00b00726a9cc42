"""A stateful test of the interview room: hypothesis drives enrol, submit, re-send,
disconnect, reconnect, restart, close and reveal in any order, and after every step
checks that nothing acknowledged was lost, nothing sealed is visible, and every
published tally equals a recount made from the test's own record of the sheets."""

from __future__ import annotations

import os
import shutil
import tempfile
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from flask import Flask
from flask_socketio import SocketIOTestClient
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from kiosk_server import create_app, interview, results
from kiosk_server.checkin import checkin_view
from kiosk_server.enrolment import authenticate_seat
from kiosk_server.live import presence, pushes, socketio, store
from rater_client.client import Device, binding, sealed_sheet
from seal.signing import load_public_key

from .conftest import SCREENS, Event, screen, sign_in, watch

SEATS = [("A", n) for n in range(1, 6)] + [("B", n) for n in range(1, 4)]
ROOMS = ["A", "B"]
halves = st.integers(0, 60).map(lambda n: str(Decimal(n) / 2))
sheets = st.fixed_dictionaries(
    {
        "analysis": st.integers(0, 80).map(lambda n: str(Decimal(n) / 2)),
        "expression": halves,
        "bearing": st.integers(0, 30).map(str),
    }
)


def recount(totals: list[Decimal], threshold: int) -> dict[str, Any]:
    """The interview score, computed apart from ballot.scoring (docs/decisions.md): from
    ``threshold`` counted totals on (and never below 3), drop one highest and one lowest;
    average what is kept; round half up to two decimals, once."""
    kept = sorted(totals)
    if len(kept) >= max(threshold, 3):
        kept = kept[1:-1]
    if not kept:
        return {"mean": None, "counted": 0, "rule": "all"}
    mean = (sum(kept, Decimal(0)) / len(kept)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    rule = "drop" if len(kept) < len(totals) else "all"
    return {"mean": str(mean), "counted": len(kept), "rule": rule}


class Tablet:
    """One enrolled seat as the test holds it: its key, its socket (when connected), the
    openings it keeps and the last envelope it sent."""

    def __init__(self, seat_id: int, device: Device, credential: str) -> None:
        self.seat_id, self.device, self.credential = seat_id, device, credential
        self.client: SocketIOTestClient | None = None
        self.openings: dict[int, dict[str, Any]] = {}
        self.last: tuple[str, dict[str, Any], dict[str, Any]] | None = None  # event, envelope, ack

    def emit(self, event: str, payload: Any) -> Any:
        assert self.client is not None
        return self.client.emit(event, payload, namespace="/rater", callback=True)

    def view(self) -> dict[str, Any]:
        ack = self.emit("sync", {})
        assert ack["ok"], ack
        return ack["state"]  # type: ignore[no-any-return]

    def send(self, event: str, fields: dict[str, Any]) -> dict[str, Any]:
        envelope = self.device.envelope(fields)
        ack = self.emit(event, {"envelope": envelope})
        if ack.get("ok"):
            self.last = (event, envelope, ack)
        return ack  # type: ignore[no-any-return]


class InterviewRoom(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="kiosk-stateful-"))
        self.app = self._boot()
        self.event = Event(self.app)
        self.organiser = self._organiser()
        self.desk = self._desk()
        self.monitor_credential = self._monitor_credential()
        self.monitor = self._monitor()
        self.tablets: dict[tuple[str, int], Tablet] = {}
        self.acked: list[tuple[str, int, str]] = []  # (table, seat id, nonce)
        # what each seat sealed per round (its latest accepted sheet), and what it opened
        self.sealed: dict[tuple[int, int], Decimal] = {}
        self.opened: set[tuple[int, int]] = set()
        self.screens: dict[str, dict[str, Any]] = {}  # the last of each screen's pushes

    def _boot(self) -> Flask:
        return create_app({"INSTANCE_PATH": str(self.folder / "instance"), "TESTING": True})

    def _organiser(self) -> SocketIOTestClient:
        http = self.app.test_client()
        assert sign_in(http).status_code == 302
        return socketio(self.app).test_client(
            self.app, namespace="/organiser", flask_test_client=http
        )

    def _desk(self) -> SocketIOTestClient:
        """A check-in desk's device: it hears every room's queue, with names."""
        url = self.act("new_checkin", label="检录台")["url"]
        http = self.app.test_client()
        assert http.post(url[url.index("/checkin/") :]).status_code == 302
        client = socketio(self.app).test_client(
            self.app, namespace="/checkin", flask_test_client=http
        )
        assert client.is_connected("/checkin")
        return client

    def _monitor_credential(self) -> str:
        """The observer screen's device credential (its link works once)."""
        http = self.app.test_client()
        assert http.post(f"/observe/{self.event.observer_token}").status_code == 302
        cookie = http.get_cookie("kiosk_observer")
        assert cookie is not None
        return cookie.value

    def _monitor(self) -> SocketIOTestClient:
        """The monitor's observer screen, which confirms two-person acts."""
        client = socketio(self.app).test_client(
            self.app, namespace="/observer", auth={"credential": self.monitor_credential}
        )
        assert client.is_connected("/observer")
        return client

    def _connect(self, tablet: Tablet) -> None:
        tablet.client = socketio(self.app).test_client(
            self.app, namespace="/rater", auth={"credential": tablet.credential}
        )
        assert tablet.client.is_connected("/rater")

    def act(self, event: str, **payload: Any) -> dict[str, Any]:
        return self.organiser.emit(event, payload, namespace="/organiser", callback=True)  # type: ignore[no-any-return]

    def two_person(self, event: str, **payload: Any) -> None:
        """An act the organiser asks for and a monitor confirms on the observer screen."""
        asked = self.act(event, **payload)
        assert asked["ok"] and asked.get("pending"), asked
        reply = self.monitor.emit(
            "approve", {"approval_id": asked["pending"]}, namespace="/observer", callback=True
        )
        assert reply["ok"], reply

    def teardown(self) -> None:
        pushes(self.app).settle()
        store(self.app).close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- rules ---------------------------------------------------------------------------

    @initialize(seats=st.sets(st.sampled_from(SEATS), min_size=2))
    def tablets_arrive(self, seats: set[tuple[str, int]]) -> None:
        """Some tablets enrol and both rooms call their first candidate, so that most runs
        reach scoring within their steps."""
        for seat in sorted(seats):
            self.enrol(seat)
        for room in ROOMS:
            self.call_and_open(room)

    @rule(seat=st.sampled_from(SEATS))
    def enrol(self, seat: tuple[str, int]) -> None:
        if seat in self.tablets:
            return
        device = Device()
        response = self.app.test_client().post(
            "/api/enrol", json={"token": self.event.token(*seat), "public_key": device.public_key}
        )
        assert response.status_code == 200, response.json
        body = response.json
        assert load_public_key(body["server_key"]) is not None
        tablet = Tablet(body["seat"]["id"], device, body["credential"])
        self._connect(tablet)
        self.tablets[seat] = tablet

    @rule(room=st.sampled_from(ROOMS))
    def enrol_room(self, room: str) -> None:
        """Every seat of a room at once (a room fills up before the first candidate)."""
        for seat in SEATS:
            if seat[0] == room:
                self.enrol(seat)

    @rule(room=st.sampled_from(ROOMS), items=st.lists(sheets, min_size=5, max_size=5))
    def everyone_scores(self, room: str, items: list[dict[str, str]]) -> None:
        for seat, sheet in zip([s for s in SEATS if s[0] == room], items, strict=False):
            self.submit(seat, sheet)

    @rule()
    def everyone_reveals(self) -> None:
        for seat in SEATS:
            self.reveal(seat)

    @rule(room=st.sampled_from(ROOMS))
    def call_and_open(self, room: str) -> None:
        # A check-in desk is in use, so only a candidate who has arrived is called.
        queue = checkin_view(store(self.app), self.event.id)["rooms"]
        here = next(r for r in queue if r["code"] == room)
        if here["not_arrived"] and not here["waiting"]:
            number = here["not_arrived"][0]["draw_number"]
            arrived = self.desk.emit(
                "arrive", {"draw_number": number}, namespace="/checkin", callback=True
            )
            assert arrived["ok"], arrived
        called = self.act("call", room_id=self.event.rooms[room], draw_number=None)
        if not called["ok"]:
            assert called["error"]["code"] in ("round_active", "no_candidate_waiting"), called
            return
        opened = self.act("open", round_id=called["round_id"])
        if not opened["ok"]:
            assert opened["error"]["code"] == "no_seated_raters", opened
            self.act("absent", round_id=called["round_id"], reason="无评委")

    @rule(seat=st.sampled_from(SEATS), items=sheets)
    def submit(self, seat: tuple[str, int], items: dict[str, str]) -> None:
        tablet = self.tablets.get(seat)
        if tablet is None or tablet.client is None:
            return
        view = tablet.view()
        current = view["round"]
        if not current or current["state"] != "open" or not current["seated"]:
            return
        if current["mine"] == "recusal":
            return
        bound = binding(view)
        sealed = sealed_sheet(bound, items)
        ack = tablet.send(
            "commit", {"type": "commitment", **bound, "commitment": sealed["commitment"]}
        )
        assert ack["ok"] and not ack["duplicate"], ack
        event("a sheet sealed" if ack["version"] == 1 else "a sheet replaced")
        tablet.openings[current["id"]] = sealed
        self.sealed[(current["id"], tablet.seat_id)] = Decimal(sealed["opening"]["total"])
        self.acked.append(("commitment", tablet.seat_id, tablet.last[1]["body"]["nonce"]))  # type: ignore[index]

    @rule(seat=st.sampled_from(SEATS))
    def resend(self, seat: tuple[str, int]) -> None:
        """The last envelope again (its answer was lost): the first answer, again."""
        tablet = self.tablets.get(seat)
        if tablet is None or tablet.client is None or tablet.last is None:
            return
        event_name, envelope, first = tablet.last
        again = tablet.emit(event_name, {"envelope": envelope})
        assert again["ok"] and again["duplicate"], again
        event(f"a {event_name} re-sent")
        assert again["receipt"]["leaf"] == first["receipt"]["leaf"]
        assert (again["round_id"], again["kind"]) == (first["round_id"], first["kind"])

    @rule(seat=st.sampled_from(SEATS))
    def reveal(self, seat: tuple[str, int]) -> None:
        """Open what the server's close statement asks this seat to open."""
        tablet = self.tablets.get(seat)
        if tablet is None or tablet.client is None:
            return
        for statement in tablet.view()["reveal"]:
            round_id = statement["body"]["round"]
            sheet = tablet.openings.get(round_id)
            assert sheet is not None, "the server asks for an opening the tablet never sealed"
            ack = tablet.send("reveal", {"type": "opening", **sheet["opening"]})
            assert ack["ok"], ack
            self.opened.add((round_id, tablet.seat_id))
            self.acked.append(("opening", tablet.seat_id, tablet.last[1]["body"]["nonce"]))  # type: ignore[index]

    @rule(seat=st.sampled_from(SEATS))
    def disconnect(self, seat: tuple[str, int]) -> None:
        tablet = self.tablets.get(seat)
        if tablet is not None and tablet.client is not None:
            tablet.client.disconnect(namespace="/rater")
            tablet.client = None

    @rule(seat=st.sampled_from(SEATS))
    def reconnect(self, seat: tuple[str, int]) -> None:
        tablet = self.tablets.get(seat)
        if tablet is not None and tablet.client is None:
            self._connect(tablet)

    @rule()
    def restart(self) -> None:
        """The server process ends and starts again on the same instance folder."""
        pushes(self.app).settle()
        store(self.app).close()
        self.app = self._boot()
        self.event.app = self.app
        event("the server restarted")
        self.organiser = self._organiser()
        self.desk = self._desk()
        self.monitor = self._monitor()
        for tablet in self.tablets.values():
            if tablet.client is not None:
                self._connect(tablet)

    @rule(room=st.sampled_from(ROOMS))
    def close_early(self, room: str) -> None:
        current = self._current(room)
        if current is not None and current["state"] == "open":
            self.two_person("close", round_id=current["id"], reason="评委临时离场")

    @rule(room=st.sampled_from(ROOMS))
    def finalise(self, room: str) -> None:
        """Give up on openings that never came (a tablet that does not come back)."""
        current = self._current(room)
        if current is not None and current["state"] == "revealing":
            self.two_person("finalise", round_id=current["id"], reason="平板未返回")

    def _current(self, room: str) -> dict[str, Any] | None:
        return store(self.app).row(
            "SELECT * FROM round WHERE room_id = ? ORDER BY id DESC LIMIT 1",
            [self.event.rooms[room]],
        )

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def nothing_acknowledged_is_lost_or_doubled(self) -> None:
        for table, seat_id, nonce in self.acked:
            if table == "commitment":
                sql = "SELECT COUNT(*) AS n FROM commitment WHERE seat_id = ? AND nonce = ?"
            else:
                sql = (
                    "SELECT COUNT(*) AS n FROM opening o JOIN commitment c"
                    " ON c.id = o.commitment_id WHERE c.seat_id = ? AND o.nonce = ?"
                )
            found = store(self.app).row(sql, [seat_id, nonce])
            assert found is not None and found["n"] == 1, (table, seat_id, nonce)

    @invariant()
    def nothing_sealed_is_visible(self) -> None:
        st_ = store(self.app)
        early = st_.row(
            "SELECT COUNT(*) AS n FROM opening o JOIN commitment c ON c.id = o.commitment_id"
            " JOIN round r ON r.id = c.round_id WHERE r.state IN ('called', 'open')"
        )
        assert early is not None and early["n"] == 0  # no value before the round closes
        board = interview.board(st_, self.event.id, organiser=True)
        for room in board["rooms"]:
            current = room["round"]
            if current is not None and current["state"] != "closed":
                assert "result" not in current
                assert all(
                    s["status"] in (None, "pending", "submitted", "revealed", "not_seated")
                    for s in room["seats"]
                )
        for tablet in self.tablets.values():  # what each tablet is pushed (not asked: the
            seat = authenticate_seat(st_, tablet.credential)  # rate limit counts asks)
            assert seat is not None
            view = interview.rater_view(st_, seat)
            assert "result" not in (view["round"] or {})
            assert "total" not in repr(view)

    @invariant()
    def the_screens_show_what_the_database_holds(self) -> None:
        # A push reads again only the rooms its acts named (interview.RoomCache): the
        # last board, console, results and check-in queue pushed must equal ones built
        # afresh, online flags too.
        assert pushes(self.app).settle()
        st_ = store(self.app)
        for client, namespace, names in (
            (self.monitor, "/observer", ("board",)),
            (self.organiser, "/organiser", ("console", "results")),
            (self.desk, "/checkin", ("checkin",)),
        ):
            got = client.get_received(namespace)
            watch(client, got)
            for name in names:
                if name in SCREENS:  # sent as the rooms changed since the push before
                    shown = screen(client, name)
                    if shown is not None:
                        self.screens[name] = shown
                    continue
                sent = [m["args"][0] for m in got if m["name"] == name]
                if sent:
                    self.screens[name] = sent[-1]
        assert self.screens["board"] == interview.board(st_, self.event.id)
        with st_.read() as db:
            assert self.screens["results"] == results.organiser_view(db, self.event.id)
        assert self.screens["checkin"] == checkin_view(st_, self.event.id)
        online = presence(self.app).online()
        assert self.screens["console"] == interview.board(
            st_, self.event.id, organiser=True, online=online
        )
        connected = {t.seat_id for t in self.tablets.values() if t.client is not None}
        shown = self.screens["console"]["rooms"]
        assert {s["id"] for r in shown for s in r["seats"] if s["online"]} == connected

    @invariant()
    def a_room_built_together_gives_each_tablet_its_own_view(self) -> None:
        # live.publish builds a room's tablets in one go (shared reads, one signature per
        # statement): each must get exactly what it would be sent alone.
        st_ = store(self.app)
        rooms: dict[int, list[interview.Seat]] = {}
        for tablet in self.tablets.values():
            seat = authenticate_seat(st_, tablet.credential)
            if seat is not None:
                rooms.setdefault(seat.room_id, []).append(seat)
        revealing = {r["id"] for r in st_.rows("SELECT id FROM round WHERE state = 'revealing'")}
        for seats in rooms.values():
            alone = [interview.rater_view(st_, seat) for seat in seats]
            assert interview.rater_views(st_, seats) == alone
            assert interview.rater_views(st_, seats[::-1]) == alone[::-1]
            for seat, view in zip(seats, alone, strict=True):
                # it is asked to open exactly what it sealed in a round now revealing
                owed = {
                    round_id
                    for round_id, seat_id in self.sealed
                    if seat_id == seat.id
                    and round_id in revealing
                    and (round_id, seat_id) not in self.opened
                }
                assert sorted(s["body"]["round"] for s in view["reveal"]) == sorted(owed)

    @invariant()
    def every_published_tally_equals_a_recount(self) -> None:
        st_ = store(self.app)
        with st_.read() as db:
            threshold = interview.event_row(db, self.event.id)["drop_threshold"]
            for round_row in db.query("SELECT * FROM round WHERE state = 'closed'"):
                published = interview.round_result(db, round_row, threshold)
                totals = [
                    total
                    for (round_id, seat_id), total in self.sealed.items()
                    if round_id == round_row["id"] and (round_id, seat_id) in self.opened
                ]
                expected = recount(totals, threshold)
                assert published["mean"] == expected["mean"], (published, totals)
                assert published["counted"] == expected["counted"], (published, totals)
                assert published["rule"] == expected["rule"], (published, totals)
                event(f"published with the {published['rule']} rule")


InterviewRoom.TestCase.settings = settings(
    max_examples=int(os.environ.get("KIOSK_STATEFUL_EXAMPLES", "10")),
    stateful_step_count=50,
    deadline=None,
    database=None,
    derandomize="KIOSK_STATEFUL_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_interview_room_keeps_its_promises_in_any_order = InterviewRoom.TestCase
