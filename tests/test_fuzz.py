"""Bad input at scale: generated payloads for every Socket.IO event and HTTP form, and raw
malformed Engine.IO / Socket.IO frames over a real WebSocket.

Every refusal must be a documented error, never ``internal``; a refused act changes
nothing; nothing is logged as an error; the server goes on serving everyone else. CI runs
a few dozen inputs per handler; ``make fuzz`` sets KIOSK_FUZZ_EXAMPLES=10000."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import rfc8785
import websocket
from flask import Flask
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kiosk_server import checkin, observer, organiser, rater
from kiosk_server.i18n import CATALOG
from kiosk_server.limits import TokenBucket
from kiosk_server.live import store
from rater_client import RaterClient
from rater_client.client import Device
from rater_client.drill import OrganiserClient
from seal.signing import b64u, sign

from .conftest import PASSWORD, Event, sheet, sign_in
from .test_interview_sockets import Room
from .test_live_server import free_port, start_server

EXAMPLES = int(os.environ.get("KIOSK_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=EXAMPLES < 1000,  # CI runs the same sample every time; `make fuzz` explores
    deadline=None,
    database=None,  # a run is a sample, not a regression store in the work tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CODES = {key.split(".", 1)[1] for key in CATALOG["en"] if key.startswith("error.")}
EVENTS = {  # every client event each namespace handles
    module.NAMESPACE: sorted(
        name[3:]
        for name in dir(module.Live)
        if name.startswith("on_") and name not in ("on_connect", "on_disconnect")
    )
    for module in (organiser, rater, observer, checkin)
}

# --- strategies --------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([0, -1, 1, 2, 3, 2**31, 2**53, 2**63, -(2**63), 10**30])
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["", " ", "0", "1", "null", "true", "\x00", "𠈌", "a" * 600])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)


def shaped(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict with some of the handler's own field names (plausible or wild values), plus
    stray keys: deeper than random dicts, which stop at the first missing field."""
    optional = {name: strategy | values for name, strategy in fields.items()}
    return st.fixed_dictionaries({}, optional=optional).flatmap(
        lambda d: st.dictionaries(st.text(max_size=8), values, max_size=2).map(
            lambda extra: {**extra, **d}
        )
    )


def arguments(payload: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    """What an emit carries: usually one payload, sometimes none or two."""
    return st.one_of(payload.map(lambda p: [p]), st.lists(values | payload, max_size=2))


# --- the state a refusal must leave alone --------------------------------------------------

FACT_TABLES = (
    "event",
    "room",
    "seat",
    "candidate",
    "round",
    "round_seat",
    "commitment",
    "opening",
    "observer",
    "setting",
    "rubric_item",
)


class Facts:
    """Everything but the audit trail and the log's refusal records, as one text; the log
    is read incrementally (a long fuzz run writes a refusal leaf per input)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.seen = -1
        self.accepted: list[tuple[int, str]] = []

    def now(self) -> str:
        st = store(self.app)
        for row in st.rows(
            "SELECT idx, type, data FROM log_leaf WHERE idx > ? ORDER BY idx", [self.seen]
        ):
            self.seen = row["idx"]
            if json.loads(row["data"])["disposition"] == "accepted":
                self.accepted.append((row["idx"], row["type"]))
        tables = [st.rows(f"SELECT * FROM {table} ORDER BY 1") for table in FACT_TABLES]
        return json.dumps([tables, self.accepted], default=str)


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """Anything logged as an error or worse so far."""
    caplog.set_level(logging.WARNING)
    return lambda: [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.fixture
def unlimited(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every message reaches its handler: the per-connection rate limit has its own tests."""
    monkeypatch.setattr(TokenBucket, "take", lambda self, key: True)


@pytest.fixture
def scene(app: Flask, event: Event, unlimited: None) -> Room:
    """Room A with two seated tablets and an open round; room B's round only called."""
    room = Room(app, event)
    room.enrol("A", 1)
    room.enrol("A", 2)
    room.start_round("A")
    room.ok("call", room_id=event.rooms["B"])
    return room


def check_answer(ack: Any, before: str, facts: Facts, errors: Callable[[], list[str]]) -> str:
    """A documented answer; a refusal changed nothing; nothing logged as an error.
    Returns the state to compare the next refusal with."""
    assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), ack
    after = facts.now()
    if not ack["ok"]:
        assert ack["error"]["code"] in CODES and ack["error"]["code"] != "internal", ack
        assert isinstance(ack["error"]["message"], str) and ack["error"]["message"]
        assert after == before, ack
    assert errors() == []
    return after


# --- Socket.IO events, through the test client ---------------------------------------------


def organiser_payload(scene: Room) -> st.SearchStrategy[dict[str, Any]]:
    ids = st.sampled_from([*scene.event.rooms.values(), 1, 2, 3, 99])
    return shaped(
        {
            "room_id": ids,
            "round_id": ids,
            "seat_id": ids,
            "draw_number": st.sampled_from([None, 1, 2, 3, 4, 5, 6]),
            "reason": st.sampled_from([None, "", "评委离场", "x" * 501]),
            "paused": st.booleans(),
            "label": st.sampled_from(["纪委", "", "  "]),
        }
    )


@pytest.mark.parametrize("name", EVENTS["/organiser"])
def test_every_organiser_event_answers_garbage_with_a_documented_refusal(
    scene: Room, errors: Callable[[], list[str]], name: str
) -> None:
    facts = Facts(scene.app)
    state = {"now": facts.now()}

    @FUZZ
    @given(args=arguments(organiser_payload(scene)))
    def emit(args: list[Any]) -> None:
        ack = scene.organiser.emit(name, *args, namespace="/organiser", callback=True)
        state["now"] = check_answer(ack, state["now"], facts, errors)

    emit()
    assert_still_serving(scene)


def signed_envelopes(scene: Room) -> st.SearchStrategy[dict[str, Any]]:
    """Envelopes signed with the tablet's own key, so the checks after the signature run."""
    tablet = scene.tablets[("A", 1)]
    bound = tablet.bound()
    fields: dict[str, st.SearchStrategy[Any]] = {
        name: st.just(value) for name, value in bound.items()
    }
    fields.update(
        type=st.sampled_from(["commitment", "recusal", "opening", "round_state"]),
        commitment=st.sampled_from(["ab" * 32, "AB" * 32, "ab" * 31, "zz" * 32]),
        reason=st.sampled_from([None, "亲属", "x" * 501]),
        seq=st.integers(min_value=-1, max_value=2**60),
        nonce=st.sampled_from([b64u(os.urandom(16)), b64u(b"short"), "!!", ""]),
        items=st.just(sheet()) | st.dictionaries(st.text(max_size=8), values, max_size=3),
        total=st.sampled_from(["95", "95.0", "-1", "NaN", ""]),
        salt=st.sampled_from([b64u(os.urandom(16)), "", "%%"]),
    )
    bodies = shaped(fields)

    def signed_by_tablet(body: dict[str, Any]) -> dict[str, Any]:
        try:
            return sign(tablet.device.key, body)
        except rfc8785.CanonicalizationError:  # no canonical form (a float, a huge int)
            return {"body": body, "signature": b64u(bytes(64))}

    signed = bodies.map(signed_by_tablet)
    tampered = st.tuples(signed, values).map(lambda pair: {**pair[0], "signature": pair[1]})
    return signed | tampered | shaped({"body": bodies, "signature": st.text(max_size=90)})


@pytest.mark.parametrize("name", EVENTS["/rater"])
def test_every_rater_event_answers_garbage_with_a_documented_refusal(
    scene: Room, errors: Callable[[], list[str]], name: str
) -> None:
    client = scene.tablets[("A", 1)].client
    payload = shaped({"envelope": signed_envelopes(scene), "leaf": st.integers(-2, 40)})
    facts = Facts(scene.app)
    state = {"now": facts.now()}

    @FUZZ
    @given(args=arguments(payload))
    @example(args=[{"leaf": 2**63}])  # beyond SQLite's integers
    @example(args=[{"envelope": {"body": {"seq": 2**64}, "signature": "AA"}}])
    def emit(args: list[Any]) -> None:
        ack = client.emit(name, *args, namespace="/rater", callback=True)
        state["now"] = check_answer(ack, state["now"], facts, errors)

    emit()
    assert_still_serving(scene)


@pytest.mark.parametrize("name", EVENTS["/observer"])
def test_every_observer_event_answers_garbage_with_a_documented_refusal(
    scene: Room, errors: Callable[[], list[str]], name: str
) -> None:
    """A monitor's answers to two-person acts: one real request waits among the ids."""
    current = scene.board_room("A")["round"]
    asked = scene.ok("close", round_id=current["id"], reason="评委离场")
    ids = st.sampled_from([asked["pending"], asked["pending"] + 1, 0, -1, 2**63])
    facts = Facts(scene.app)
    state = {"now": facts.now()}

    @FUZZ
    @given(args=arguments(shaped({"approval_id": ids})))
    def emit(args: list[Any]) -> None:
        ack = scene.observer.emit(name, *args, namespace="/observer", callback=True)
        state["now"] = check_answer(ack, state["now"], facts, errors)

    emit()
    assert_still_serving(scene)


def test_the_observer_namespace_ignores_every_other_event(
    scene: Room, errors: Callable[[], list[str]]
) -> None:
    assert EVENTS["/observer"] == ["approve", "decline"]  # a monitor's answers, nothing else
    facts = Facts(scene.app)
    before = facts.now()

    @FUZZ
    @given(
        name=st.text(min_size=1, max_size=12) | st.sampled_from(["commit", "call", "sync"]),
        args=arguments(values),
    )
    def emit(name: str, args: list[Any]) -> None:
        if name in ("connect", "disconnect", "message", *EVENTS["/observer"]):
            return  # reserved by Socket.IO itself, or handled (the test above)
        assert not scene.observer.emit(name, *args, namespace="/observer", callback=True)
        assert errors() == []

    emit()
    assert facts.now() == before
    assert scene.observer.is_connected("/observer")


@pytest.mark.parametrize("name", EVENTS["/checkin"])
def test_every_checkin_event_answers_garbage_with_a_documented_refusal(
    scene: Room, errors: Callable[[], list[str]], name: str
) -> None:
    url = scene.ok("new_checkin", label="检录台")["url"]
    http = scene.app.test_client()
    assert http.post(url[url.index("/checkin/") :]).status_code == 302
    desk = scene._client("/checkin", flask_test_client=http)
    ids = st.sampled_from([*scene.event.rooms.values(), 1, 2, 3, 99])
    payload = shaped(
        {"room_id": ids, "round_id": ids, "draw_number": st.sampled_from([None, 1, 2, 3, 99])}
    )
    facts = Facts(scene.app)
    state = {"now": facts.now()}

    @FUZZ
    @given(args=arguments(payload))
    def emit(args: list[Any]) -> None:
        ack = desk.emit(name, *args, namespace="/checkin", callback=True)
        state["now"] = check_answer(ack, state["now"], facts, errors)

    emit()
    assert_still_serving(scene)


def assert_still_serving(scene: Room) -> None:
    """After the storm: the organiser still acts, a newly enrolled tablet is served, the
    observer screen still gets its board."""
    for room_id in scene.event.rooms.values():
        scene.ok("pause", room_id=room_id, paused=False)  # the fuzz may have paused it
    device = Device()
    token = scene.event.refresh_token("B", 3)
    enrolled = scene.app.test_client().post(
        "/api/enrol", json={"token": token, "public_key": device.public_key}
    )
    assert enrolled.status_code == 200, enrolled.json
    newcomer = scene._client("/rater", auth={"credential": enrolled.json["credential"]})
    assert newcomer.emit("sync", {}, namespace="/rater", callback=True)["ok"] is True
    assert scene.board_room("A")["seats"]


# --- HTTP forms and query strings ---------------------------------------------------------

# Path segments a browser could send: letters, digits and a few marks (no "/", "?", "%").
segments = st.text(
    st.characters(categories=["L", "N"]) | st.sampled_from("-_~!*'()"), min_size=1, max_size=60
)
texts = st.text(max_size=40) | st.sampled_from(
    ["//evil.example/", "https://evil.example", "/\\evil", "../x", "%00"]
)


def assert_page(response: Any, allowed: set[int], errors: Callable[[], list[str]]) -> None:
    assert response.status_code in allowed, (response.status_code, response.get_data()[:200])
    location = response.headers.get("Location")
    if location:
        target = urlsplit(location)
        assert target.netloc in ("", "localhost"), location  # never sends a browser elsewhere
    assert errors() == []


def test_the_sign_in_and_sign_out_forms_take_any_input(
    app: Flask, event: Event, errors: Callable[[], list[str]]
) -> None:
    client = app.test_client()

    @FUZZ
    @given(
        form=shaped({"password": texts, "csrf": texts}),
        next_=texts,
        path=st.sampled_from(["/login", "/logout"]),
    )
    @example(form={"password": "x", "csrf": "令牌"}, next_="", path="/login")  # non-ASCII
    def post(form: dict[str, Any], next_: str, path: str) -> None:
        data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in form.items()}
        response = client.post(path, data=data, query_string={"next": next_})
        assert_page(response, {200, 302, 400, 401, 429}, errors)
        assert store(app).row("SELECT 1 AS x FROM audit WHERE action = 'signed_in'") is None

    post()


def test_the_enrolment_api_and_links_take_any_input(
    app: Flask, event: Event, errors: Callable[[], list[str]]
) -> None:
    client = app.test_client()
    facts = Facts(app)
    before = facts.now()

    @FUZZ
    @given(
        body=shaped({"token": texts, "public_key": texts}) | values,
        raw=st.binary(max_size=200),
        token=segments,
    )
    def post(body: Any, raw: bytes, token: str) -> None:
        assert_page(client.post("/api/enrol", json=body), {409, 429}, errors)
        response = client.post("/api/enrol", data=raw, content_type="application/json")
        assert_page(response, {400, 409, 429}, errors)
        assert_page(client.get(f"/enrol/{token}"), {200}, errors)
        assert_page(client.post(f"/observe/{token}"), {409, 429}, errors)
        assert_page(client.get(f"/observe/{token}"), {200}, errors)

    post()
    assert facts.now() == before  # no seat enrolled, no observer spent


def test_the_language_switch_and_the_log_api_take_any_query(
    app: Flask, event: Event, errors: Callable[[], list[str]]
) -> None:
    client = app.test_client()
    assert sign_in(client).status_code == 302

    @FUZZ
    @given(
        code=segments,
        query=shaped(
            {
                "next": texts,
                "first": st.integers(-5, 50).map(str),
                "second": st.integers(-5, 50).map(str),
                "size": st.integers(-5, 5000).map(str),
            }
        ),
    )
    def get(code: str, query: dict[str, Any]) -> None:
        args = {k: v if isinstance(v, str) else json.dumps(v) for k, v in query.items()}
        assert_page(client.get(f"/lang/{code}", query_string=args), {302}, errors)
        assert_page(client.get("/api/log/consistency", query_string=args), {200, 400}, errors)
        assert_page(client.get("/observer/head.svg", query_string=args), {200, 404}, errors)
        assert_page(client.get("/api/log/head", query_string=args), {200}, errors)

    get()


# --- raw frames over a real WebSocket ------------------------------------------------------


class Wire:
    """One raw Engine.IO connection to a running server: frames in, frames out (with
    websocket-client, which python-socketio's client brings)."""

    def __init__(self, url: str, cookie: str | None = None) -> None:
        ws_url = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        headers = [f"Cookie: {cookie}"] if cookie else []
        self.ws = websocket.create_connection(ws_url, origin=url, header=headers, timeout=5)
        try:
            opened = self.receive(5)
            assert isinstance(opened, str) and opened.startswith("0"), opened
        except BaseException:
            self.close()
            raise

    def send(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            self.ws.send_binary(frame)
        else:
            self.ws.send(frame)

    def receive(self, timeout: float) -> Any:
        """The next frame other than a ping (answered); None when none came in time."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.ws.settimeout(left)
            try:
                frame = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                return None
            if frame == "2":
                self.ws.send("3")
                continue
            return frame

    def join(self, namespace: str, auth: dict[str, Any] | None = None) -> None:
        self.ws.send(f"40{namespace}," + json.dumps(auth or {}))
        while True:
            frame = self.receive(5)
            assert frame is not None, "no answer to the namespace connect"
            if frame.startswith(f"40{namespace},"):
                return
            assert not frame.startswith(f"44{namespace},"), frame  # refused

    def ask(self, namespace: str, ack_id: int, timeout: float = 2.0) -> Any:
        """Send a well-formed sync; its answer, or None (no answer, or closed)."""
        try:
            self.ws.send(f"42{namespace},{ack_id}" + json.dumps(["sync", {}]))
            while True:
                frame = self.receive(timeout)
                if frame is None:
                    return None
                if isinstance(frame, str) and frame.startswith(f"43{namespace},{ack_id}["):
                    return json.loads(frame[len(f"43{namespace},{ack_id}") :])[0]
        except (websocket.WebSocketException, OSError):
            return None  # closed by the server

    def close(self) -> None:
        """Close, and release the socket in any case: once a send has failed (the server
        dropped the connection) websocket-client counts it as closed and its ``close``
        does nothing, leaving the socket open."""
        self.ws.close()
        self.ws.shutdown()


namespaces = st.sampled_from(["/rater,", "/organiser,", "/observer,", "/nope,", "", "/rater"])
packet_types = st.sampled_from(list("0123456")) | st.text(max_size=2)
json_texts = values.map(json.dumps)
event_arrays = st.lists(
    st.sampled_from(["sync", "commit", "reveal", "receipt", "call", 42, None]) | values, max_size=3
).map(json.dumps)
payloads = st.one_of(
    json_texts,
    event_arrays,
    event_arrays.map(lambda text: text[: len(text) // 2]),  # cut off mid-JSON
    st.just('["commit",{"_placeholder":true,"num":0}]'),  # an attachment that never comes
    st.just('["commit",{"_placeholder":true,"num":7}]'),
    st.sampled_from([1000, 70_000]).map(lambda n: json.dumps(["sync", "x" * n])),  # over 64 KiB
    st.text(max_size=50),
)
frames = st.one_of(
    st.tuples(
        st.sampled_from(["4", "4", "4", "0", "1", "2", "3", "5", "6", "7", "9", "x"]),
        packet_types,
        st.sampled_from(["", "1-", "2-", "99-", "-"]),
        namespaces,
        st.sampled_from(["", "7", "99999999999999999999999", "-1"]),
        payloads,
    ).map("".join),
    st.binary(max_size=100),
)


@pytest.fixture
def served(app: Flask, event: Event) -> Iterator[dict[str, Any]]:
    """`kiosk serve` in its own process (its output is where tracebacks would show), a
    tablet's credential and a signed-in organiser's cookie."""
    instance = Path(app.instance_path)
    store(app).close()
    port = free_port()
    server = start_server(instance, port)
    url = f"http://127.0.0.1:{port}"
    tablet = RaterClient(url)
    tablet.enrol(event.token("A", 1))
    boss = OrganiserClient(url)
    boss.login(PASSWORD)
    cookie = "; ".join(f"{c.name}={c.value}" for c in boss.http.cookies)
    try:
        yield {
            "url": url,
            "credential": tablet.credential,
            "cookie": cookie,
            "log": instance / "server.log",
            "boss": boss,
        }
    finally:
        boss.close()
        server.kill()
        server.wait(timeout=10)


def test_malformed_frames_over_a_real_websocket_break_nothing(served: dict[str, Any]) -> None:
    url, log = served["url"], served["log"]
    wire: dict[str, Wire | None] = {"now": None}
    answered = {"probes": 0}

    def connected() -> Wire:
        if wire["now"] is None:
            fresh = Wire(url, cookie=served["cookie"])
            try:
                fresh.join("/rater", {"credential": served["credential"]})
                fresh.join("/organiser")
            except BaseException:
                fresh.close()
                raise
            wire["now"] = fresh
        return wire["now"]

    @FUZZ
    @given(sent=st.lists(frames, min_size=1, max_size=3))
    @example(sent=["x"])  # no Engine.IO type digit
    @example(sent=["bnot base64!"])
    @example(sent=["42/rater,"])  # an event with no array
    @example(sent=["4x/rater,[]"])
    @example(sent=[b"\xf7\x00"])  # a binary frame nobody announced
    @example(sent=['451-/rater,7["commit",{"_placeholder":true,"num":0}]'])  # never comes
    @example(sent=['42/rater,["sync","' + "x" * 70_000 + '"]'])  # over 64 KiB
    def send(sent: list[Any]) -> None:
        line = connected()
        try:
            for frame in sent:
                line.send(frame)
        except (websocket.WebSocketException, OSError):
            pass  # the server closed this connection: allowed for a malformed frame
        answer = line.ask("/rater", 1, timeout=0.5)
        if answer is None:  # the server closed or stopped answering this connection only
            line.close()
            wire["now"] = None
        else:
            assert answer["ok"] is True
            answered["probes"] += 1
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and " ERROR " not in text, text[-2000:]

    send()
    if wire["now"] is not None:
        wire["now"].close()
    fresh = Wire(url)  # someone else is still served, start to finish
    fresh.join("/rater", {"credential": served["credential"]})
    assert fresh.ask("/rater", 5)["ok"] is True
    fresh.close()
    boss: OrganiserClient = served["boss"]
    assert boss.call_next(boss.wait_for(lambda v: True)["rooms"][0]["id"]) > 0
    assert answered["probes"] > 0  # the checks ran on live connections, not only dead ones
    assert not re.search(r"Traceback|Exception", log.read_text(errors="replace"))
