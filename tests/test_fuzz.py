"""Bad input at scale: generated payloads for every Socket.IO event and every HTTP route that
takes input (path tokens, forms, JSON bodies, query strings), and raw malformed Engine.IO /
Socket.IO frames over a real WebSocket. ``FUZZED`` lists the routes; a test holds it to
``kiosk_server.roles``, so a new route or namespace cannot go unfuzzed silently.

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

from kiosk_server import checkin, clerk, observer, organiser, rater, roles
from kiosk_server.i18n import CATALOG, normalise_lang, translate
from kiosk_server.limits import FailureLimiter, TokenBucket
from kiosk_server.live import store
from rater_client import RaterClient
from rater_client.client import Device
from rater_client.drill import OrganiserClient
from seal.signing import b64u, sign

from .conftest import PASSWORD, Event, sheet, sign_in
from .test_ballots import DEFAULT, Polls
from .test_ceremony import start
from .test_interview_sockets import Room
from .test_live_server import free_port, start_server
from .test_results_server import Clerk

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
    for module in (organiser, rater, observer, checkin, clerk)
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
    "lot_draw",
    "lot_party",
    "approval",
    "result_rules",
    "written_entry",
    "written_resolution",
    "correction",
    "results_publication",
    "evaluation",
    "evaluator_group",
    "ballot_token",
    "cast_ballot",
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


def check_answer(
    scene: Room, ack: Any, before: str, facts: Facts, errors: Callable[[], list[str]]
) -> str:
    """A documented answer; a refusal changed nothing; nothing logged as an error.
    Returns the state to compare the next refusal with. What the scene's sockets were
    pushed meanwhile is dropped (``Room.drain``)."""
    scene.drain()
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
        state["now"] = check_answer(scene, ack, state["now"], facts, errors)

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
        state["now"] = check_answer(scene, ack, state["now"], facts, errors)

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
        state["now"] = check_answer(scene, ack, state["now"], facts, errors)

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
        scene.drain()

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
        state["now"] = check_answer(scene, ack, state["now"], facts, errors)

    emit()
    assert_still_serving(scene)


@pytest.mark.parametrize("name", EVENTS["/clerk"])
def test_every_clerk_event_answers_garbage_with_a_documented_refusal(
    app: Flask, scene: Room, errors: Callable[[], list[str]], name: str
) -> None:
    """A clerk device types marks: real registration numbers and marks among the garbage,
    so accepted entries and every refusal after them (a repeat, a mismatch) are reached."""
    desk = Clerk(app, scene).socket
    scene.clients.append(desk)  # drained with the scene's own sockets
    payload = shaped(
        {
            "reg_no": st.sampled_from(["R001", "R002", "r001", " R001", "R999", ""]),
            "mark": st.sampled_from(["88", "88.5", "缺考", "-1", "101", "1e3", "NaN", ""]),
        }
    )
    facts = Facts(scene.app)
    state = {"now": facts.now()}

    @FUZZ
    @given(args=arguments(payload))
    @example(args=[{"reg_no": "R001", "mark": "8" * 400}])
    def emit(args: list[Any]) -> None:
        ack = desk.emit(name, *args, namespace="/clerk", callback=True)
        state["now"] = check_answer(scene, ack, state["now"], facts, errors)

    emit()
    assert desk.is_connected("/clerk")
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


# --- every other route that takes input: tokens, forms, JSON bodies, query strings ---------

# Every (method, rule) a test in this file sends generated input to. test_no_route_goes_unfuzzed
# compares it with kiosk_server.roles.HTTP, so a new route cannot go unfuzzed silently.
FUZZED = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/lang/<code>"),
    ("GET", "/enrol/<token>"),
    ("POST", "/api/enrol"),
    ("GET", "/observe/<token>"),
    ("POST", "/observe/<token>"),
    ("GET", "/api/log/consistency"),
    ("GET", "/api/log/head"),
    ("GET", "/observer/head.svg"),
    ("GET", "/observer/lot.svg"),
    ("GET", "/static/<path:filename>"),
    ("GET", "/tablet-static/<path:filename>"),
    ("GET", "/lot/<token>"),
    ("GET", "/api/lot/<token>"),
    ("POST", "/api/lot/commit"),
    ("POST", "/api/lot/reveal"),
    ("GET", "/checkin/<token>"),
    ("POST", "/checkin/<token>"),
    ("GET", "/audit/<token>"),
    ("POST", "/audit/<token>"),
    ("GET", "/clerk/<token>"),
    ("POST", "/clerk/<token>"),
    ("GET", "/ballot/<token>"),
    ("POST", "/ballot/<token>"),
    ("GET", "/organiser/evaluation"),
    ("POST", "/organiser/evaluation"),
    ("GET", "/organiser/ballot-slips"),
    ("GET", "/organiser/results"),
    ("GET", "/organiser/lot-sheet"),
    ("GET", "/organiser/enrolment-sheet"),
    ("GET", "/results/sheet"),
    ("GET", "/results/bundle"),
    ("GET", "/results/export.csv"),
    ("GET", "/results/export.xlsx"),
    ("GET", "/audit/export"),
}
# Routes whose handlers read a query string (request.args), and the names they read.
QUERIES = {
    ("GET", "/login"): {"next"},
    ("GET", "/lang/<code>"): {"next"},
    ("GET", "/api/log/consistency"): {"first", "second"},
    ("GET", "/observer/lot.svg"): {"draw"},
    ("GET", "/organiser/evaluation"): {"saved"},
    ("GET", "/organiser/ballot-slips"): {"group"},
    ("GET", "/results/sheet"): {"lang"},
    ("GET", "/results/bundle"): {"lang"},
    ("GET", "/results/export.csv"): {"lang", "table"},
    ("GET", "/results/export.xlsx"): {"lang"},
}
ARGS_READ = re.compile(r"""request\.args(?:\.get\(|\[)\s*["']([^"']+)["']""")


def test_no_route_or_namespace_goes_unfuzzed() -> None:
    """Every route that takes input (a form, a path parameter, a query string) is fuzzed
    here, every query name a handler reads is known, and every namespace has its events."""
    takes_input = {
        (method, rule)
        for (method, rule) in roles.HTTP
        if method == "POST" or "<" in rule or (method, rule) in QUERIES
    }
    assert takes_input - FUZZED == set()
    assert FUZZED - set(roles.HTTP) == set()  # a renamed route leaves no stale entry here
    source = Path(organiser.__file__).parent
    read = {n for f in source.glob("*.py") for n in ARGS_READ.findall(f.read_text())}
    assert read <= {n for names in QUERIES.values() for n in names}, read
    assert {ns for ns, _ in roles.SOCKET} == set(EVENTS)
    for namespace, names in EVENTS.items():
        assert {(namespace, n) for n in names} <= set(roles.SOCKET)
        assert {e for ns, e in roles.SOCKET if ns == namespace} - {"connect"} == set(names)


HAN = re.compile(r"[\u4e00-\u9fff]")


def check_response(response: Any, lang: str, errors: Callable[[], list[str]]) -> None:
    """Never a server error, never sent off-site, nothing logged as an error; a refusal is a
    catalogue code (never ``internal``) and its message, or an error page, in ``lang``."""
    assert response.status_code < 500, (response.status_code, response.get_data()[:300])
    assert_page(response, {response.status_code}, errors)
    if response.status_code < 400:
        return
    if response.is_json:
        error = response.get_json()["error"]
        assert error["code"] in CODES and error["code"] != "internal", error
        template = CATALOG[lang]["error." + error["code"]]
        if "{" not in template:
            assert error["message"] == translate("error." + error["code"], lang), error
        return
    text = response.get_data(as_text=True)
    if "<html" in text:
        assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in text, text[:200]
        if lang == "en":  # the page's own words (not what was typed) are English
            shown = re.findall(r'class="error"[^>]*>([^<]*)<', text)
            assert not any(HAN.search(m) for m in shown), shown


def token_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


class World:
    """Everything the routes act on at once: a lot draw committing (its party links), an
    evaluation open (its slips), unspent check-in, auditor and clerk links, an enrolled
    auditor device, and the organiser signed in (its CSRF token known)."""

    def __init__(self, app: Flask, event: Event) -> None:
        self.app = app
        self.room = Room(app, event)
        self.parties = [p.token for p in start(self.room, app)]
        polls = Polls(app, event, watch=False)
        assert polls.configure(DEFAULT).status_code == 302
        self.slips = [t for tokens in polls.slips().values() for t in tokens]
        polls.open()
        self.organiser = polls.http
        page = self.organiser.get("/organiser/evaluation").get_data(as_text=True)
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        assert found is not None
        self.csrf = found.group(1)
        self.links = {
            role: token_of(self.room.ok(f"new_{role}", label=role)["url"])
            for role in ("checkin", "auditor", "clerk")
        }
        self.auditor = app.test_client()
        desk = token_of(self.room.ok("new_auditor", label="审计")["url"])
        assert self.auditor.post(f"/audit/{desk}").status_code == 302
        self.draw = store(app).row("SELECT max(id) AS id FROM lot_draw")["id"]

    def tokens(self, *real: str) -> st.SearchStrategy[str]:
        """A path token: a real one now and then, else anything a browser could send."""
        return st.sampled_from(list(real)) | segments if real else segments

    def still_serving(self) -> None:
        assert self.organiser.get("/organiser/").status_code == 200
        assert self.auditor.get("/audit").status_code == 200
        assert self.app.test_client().get(f"/api/lot/{self.parties[0]}").status_code == 200
        self.room.ok("pause", room_id=self.room.event.rooms["A"], paused=False)


@pytest.fixture
def world(app: Flask, event: Event, unlimited: None, monkeypatch: pytest.MonkeyPatch) -> World:
    """The world, with the token-guessing limit off: every input reaches its handler (the
    limit has its own tests)."""
    monkeypatch.setattr(FailureLimiter, "blocked", lambda self, key: False)
    return World(app, event)


langs = st.sampled_from(["zh", "en"])


def form_data(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, str]]:
    """Form fields as a browser sends them: text only (anything else as its JSON)."""
    return shaped(fields).map(
        lambda d: {k: v if isinstance(v, str) else json.dumps(v) for k, v in d.items()}
    )


class Probe:
    """Send a request, check the answer, and check that nothing changed unless the answer
    says the act was accepted."""

    def __init__(self, world: World, errors: Callable[[], list[str]]) -> None:
        self.facts = Facts(world.app)
        self.now = self.facts.now()
        self.errors = errors

    def __call__(
        self, client: Any, method: str, path: str, lang: str, accepted: Callable[[Any], bool]
    ) -> Callable[..., Any]:
        def send(**kwargs: Any) -> Any:
            client.set_cookie("lang", lang)
            response = client.open(path, method=method, **kwargs)
            check_response(response, lang, self.errors)
            before, self.now = self.now, self.facts.now()  # kept even when the check fails
            if not accepted(response):
                assert self.now == before, (method, path, response.status_code)
            return response

        return send


def never(response: Any) -> bool:
    return False


def json_ok(response: Any) -> bool:
    return response.status_code == 200 and response.is_json and response.get_json()["ok"]


def redirected(response: Any) -> bool:
    return response.status_code == 302


def counted(response: Any) -> bool:
    """An accepted reveal, or one that does not match its commitment: that refusal is
    counted on the party's row and logged, in the open (``ceremony.reveal``)."""
    if json_ok(response):
        return True
    return response.is_json and response.get_json()["error"]["code"] == "lot_reveal_mismatch"


def test_the_lot_party_pages_and_api_take_any_input(
    world: World, errors: Callable[[], list[str]]
) -> None:
    probe = Probe(world, errors)
    client = world.app.test_client()
    tokens = world.tokens(*world.parties)
    hexes = st.sampled_from(["ab" * 32, "AB" * 32, "ab" * 31, "zz" * 32, ""])

    @FUZZ
    @given(
        token=tokens,
        lang=langs,
        commit=shaped({"token": tokens, "commitment": hexes | texts}) | values,
        reveal=shaped({"token": tokens, "value": texts, "salt": texts}) | values,
        raw=st.binary(max_size=100),
    )
    @example(token="x", lang="en", commit={"token": 2**70}, reveal=[], raw=b"{")
    def send(token: str, lang: str, commit: Any, reveal: Any, raw: bytes) -> None:
        probe(client, "GET", f"/lot/{token}", lang, never)()
        probe(client, "GET", f"/api/lot/{token}", lang, never)()
        probe(client, "POST", "/api/lot/commit", lang, json_ok)(json=commit)
        probe(client, "POST", "/api/lot/reveal", lang, counted)(json=reveal)
        post = probe(client, "POST", "/api/lot/commit", lang, never)
        post(data=raw, content_type="application/json")

    send()
    world.still_serving()


@pytest.mark.parametrize("role", ["checkin", "auditor", "clerk"])
def test_the_one_time_links_take_any_token(
    world: World, errors: Callable[[], list[str]], role: str
) -> None:
    probe = Probe(world, errors)
    prefix = {"checkin": "/checkin", "auditor": "/audit", "clerk": "/clerk"}[role]

    @FUZZ
    @given(token=world.tokens(world.links[role]), lang=langs, form=form_data({"csrf": texts}))
    def send(token: str, lang: str, form: dict[str, str]) -> None:
        client = world.app.test_client()  # a fresh browser: no credential cookie yet
        probe(client, "GET", f"{prefix}/{token}", lang, never)()
        probe(client, "POST", f"{prefix}/{token}", lang, redirected)(data=form)

    send()
    world.still_serving()


def ballot_form(world: World) -> st.SearchStrategy[dict[str, str]]:
    """A ballot form: real mark fields (in and out of range), steps and the CSRF token."""
    cells = st.tuples(st.integers(-1, 8), st.integers(-1, 6)).map(lambda cd: f"m-{cd[0]}-{cd[1]}")
    marks = st.dictionaries(
        cells | st.text(max_size=8),
        st.sampled_from(["", "0", "1", "3", "4", "9", "-1", "²", "١", "0x1", " 1"]) | texts,
        max_size=6,
    )
    step = st.sampled_from(["review", "edit", "confirm", "", "CONFIRM"]) | texts
    return st.tuples(marks, step, st.sampled_from([world.csrf, ""]) | texts).map(
        lambda t: {**t[0], "step": t[1], "csrf": t[2]}
    )


def test_the_ballot_pages_take_any_token_and_form(
    world: World, errors: Callable[[], list[str]]
) -> None:
    """Through the organiser's own browser too, whose session holds a CSRF token: a form
    with the right token reaches every check after it."""
    probe = Probe(world, errors)
    phone = world.app.test_client()
    phone.get(f"/ballot/{world.slips[0]}")  # a session with a CSRF token of its own

    def cast(response: Any) -> bool:
        return response.status_code == 200 and "ballot-done" in response.get_data(as_text=True)

    @FUZZ
    @given(
        token=world.tokens(*world.slips),
        lang=langs,
        form=ballot_form(world),
        who=st.sampled_from(["phone", "organiser"]),
    )
    @example(token=world.slips[0], lang="en", form={"step": "review", "m-0-0": "²"}, who="phone")
    def send(token: str, lang: str, form: dict[str, str], who: str) -> None:
        client = phone if who == "phone" else world.organiser
        probe(client, "GET", f"/ballot/{token}", lang, never)()
        probe(client, "POST", f"/ballot/{token}", lang, cast)(data=form)

    send()
    world.still_serving()


def test_the_evaluation_set_up_form_takes_any_input(
    world: World, errors: Callable[[], list[str]]
) -> None:
    """As the signed-in organiser with the session's CSRF token (and without it); the
    evaluation is open, so every well-formed set-up must still be refused."""
    probe = Probe(world, errors)
    numbers = st.sampled_from(["", "0", "1", "3", "-2", "1.5", "１２", "²", "9" * 30, "1e9"])
    fields: dict[str, st.SearchStrategy[Any]] = {
        "csrf": st.sampled_from([world.csrf, world.csrf, ""]) | texts,
        "dimensions": st.sampled_from(["德 能 勤 绩 廉", "", "德 德", "a" * 600]) | texts,
        "points": numbers | texts,
        "grades": st.sampled_from(["优秀=100 称职=80", "x=", "=1", "a=1 a=2"]) | texts,
        "validity": st.sampled_from(["candidate", "ballot", ""]) | texts,
    }
    for i in (0, 1, 7, 8, 99):
        fields.update({f"name-{i}": texts, f"ballots-{i}": numbers, f"weight-{i}": numbers})

    @FUZZ
    @given(form=form_data(fields), lang=langs)
    def send(form: dict[str, str], lang: str) -> None:
        probe(world.organiser, "POST", "/organiser/evaluation", lang, never)(data=form)

    send()
    world.still_serving()


def test_the_pages_with_a_query_string_take_any_query(
    world: World, errors: Callable[[], list[str]]
) -> None:
    """The organiser's pages and sheets, the published results and exports, the lot QR code
    and the static files: as the organiser, an enrolled auditor device and nobody."""
    probe = Probe(world, errors)
    paths = st.sampled_from(
        sorted(
            rule
            for method, rule in FUZZED
            if method == "GET" and "<" not in rule and rule.startswith(("/organiser", "/results"))
        )
        + ["/observer/lot.svg", "/audit/export"]
    )
    numbers = st.integers(-3, 2**70).map(str) | st.sampled_from(["²", "١", "0x1", "", " 1"])
    query = form_data(
        {
            "lang": st.sampled_from(["en", "zh", "EN-gb", "fr", ""]),
            "table": st.sampled_from(["results", "raters", "RESULTS", ""]),
            "group": numbers,
            "draw": numbers | st.just(str(world.draw)),
            "saved": st.sampled_from(["1", "0", ""]),
        }
    )
    audiences = {"organiser": world.organiser, "auditor": world.auditor}

    def logged_export(response: Any) -> bool:  # an export is an accepted, logged act
        return response.status_code == 200 and response.mimetype == "application/zip"

    @FUZZ
    @given(
        path=paths,
        query=query,
        lang=langs,
        who=st.sampled_from(["organiser", "auditor", "nobody"]),
        static=segments,
    )
    @example(path="/observer/lot.svg", query={"draw": "²"}, lang="en", who="organiser", static="x")
    @example(
        path="/observer/lot.svg", query={"draw": str(2**70)}, lang="en", who="auditor", static="x"
    )
    @example(
        path="/organiser/ballot-slips",
        query={"group": str(2**70)},
        lang="zh",
        who="organiser",
        static="x",
    )
    def get(path: str, query: dict[str, str], lang: str, who: str, static: str) -> None:
        client = audiences.get(who) or world.app.test_client()
        expected = lang
        if path.startswith("/results/") and query.get("lang"):
            expected = normalise_lang(query["lang"])
        probe(client, "GET", path, expected, logged_export)(query_string=query)
        for prefix in ("/static/", "/tablet-static/"):
            response = client.get(prefix + static)
            assert response.status_code in (200, 404), response.status_code
            response.close()
        assert errors() == []

    get()
    world.still_serving()


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
    @example(sent=["42/organiser,7[[{}]]"])  # an event named by a list (found at 10,000)
    @example(sent=["42/rater,[5,{}]"])  # or by a number
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
