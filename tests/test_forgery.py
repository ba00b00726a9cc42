"""Forged and replayed messages against a real server over real Socket.IO and HTTP: at
least 100 generated of each kind (sealed sheets, openings, enrolment codes, observer
links and credentials, organiser sign-ins and sessions), none accepted, and the honest
clients carry on afterwards.

tests/test_interview_sockets.py shows one case of each refusal through the test client;
here the cases are generated in bulk, cross the wire, and the database is compared
before and after. The socket token bucket is opened wide (it has its own test) so that
every message reaches the checks behind it; the failure limiter on sign-in and codes is
left on, with each attacker on a loopback address of its own (127.0.0.66 and so on), as a
rogue device on the LAN would be, so the honest clients are not held up by it.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import socketio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from requests.adapters import HTTPAdapter

from kiosk_server.export import export_bundle
from kiosk_server.limits import TokenBucket
from kiosk_server.live import socketio as socketio_of
from kiosk_server.live import store
from kiosk_server.serving import serve_in_thread
from rater_client import RaterClient
from rater_client.client import Device, binding, sealed_sheet
from rater_client.drill import ObserverClient, OrganiserClient
from seal.signing import b64u, sign, unb64u
from seal.tokens import derive
from seal.verify import verify_bundle

from .conftest import PASSWORD, Event, sheet
from .test_live_server import room_round_is

COUNT = 120  # of each kind, forged and replayed


@pytest.fixture
def live(app: Flask, event: Event) -> Iterator[str]:
    for namespace in ("/rater", "/observer", "/organiser"):
        handler = socketio_of(app).server.namespace_handlers[namespace]
        handler.bucket = TokenBucket(rate=1e6, burst=1e6)
    url, server = serve_in_thread(app)
    yield url
    server.shutdown()


class FromAddress(HTTPAdapter):
    """Connections from one loopback address: another device, as far as the kiosk sees."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def device_at(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", FromAddress(address))
    return session


def counts(app: Flask) -> dict[str, int]:
    """Everything an accepted message would add."""
    queries = {
        "commitments": "SELECT COUNT(*) AS n FROM commitment",
        "openings": "SELECT COUNT(*) AS n FROM opening",
        "accepted leaves": "SELECT COUNT(*) AS n FROM log_leaf"
        " WHERE json_extract(data, '$.disposition') = 'accepted'",
        "accepted audit lines": "SELECT COUNT(*) AS n FROM audit WHERE disposition = 'accepted'",
        "enrolled seats": "SELECT COUNT(*) AS n FROM seat WHERE credential_digest IS NOT NULL",
        "enrolled observers": "SELECT COUNT(*) AS n FROM observer"
        " WHERE credential_digest IS NOT NULL",
        "live sign-ins": "SELECT COUNT(*) AS n FROM setting WHERE key LIKE 'organiser_session:%'",
    }
    return {name: int(store(app).row(sql)["n"]) for name, sql in queries.items()}


def enrol(url: str, token: str) -> tuple[Device, str]:
    device = Device()
    body = requests.post(
        f"{url}/api/enrol", json={"token": token, "public_key": device.public_key}, timeout=10
    ).json()
    assert body["ok"], body
    return device, body["credential"]


def refused_at_connect(url: str, namespace: str, **kwargs: Any) -> bool:
    client = socketio.Client(reconnection=False)
    try:
        client.connect(
            url, namespaces=[namespace], transports=["websocket"], wait_timeout=10, **kwargs
        )
    except socketio.exceptions.ConnectionError:
        return True
    client.disconnect()
    return False


class Wire:
    """One raw ``/rater`` connection. With the seat's device it is the honest tablet; with
    only its credential (a copied cookie, no key) it is the attacker."""

    def __init__(self, url: str, credential: str, device: Device | None = None) -> None:
        self.device = device
        self.sealed: dict[int, dict[str, Any]] = {}
        self.sio = socketio.Client(reconnection=False)
        self.sio.connect(
            url,
            namespaces=["/rater"],
            transports=["websocket"],
            auth={"credential": credential},
            wait_timeout=10,
        )

    def emit(self, event: str, payload: Any) -> dict[str, Any]:
        return self.sio.call(event, payload, namespace="/rater", timeout=10)  # type: ignore[no-any-return]

    def bound(self) -> dict[str, Any]:
        return binding(self.emit("sync", {})["state"])

    def commit(self, items: dict[str, str]) -> dict[str, Any]:
        """Seal and send a sheet honestly; returns the envelope as it crossed the wire."""
        assert self.device is not None
        bound = self.bound()
        sealed = sealed_sheet(bound, items)
        envelope = self.device.envelope(
            {"type": "commitment", **bound, "commitment": sealed["commitment"]}
        )
        assert self.emit("commit", {"envelope": envelope})["ok"]
        self.sealed[bound["round"]] = sealed
        return envelope

    def reveal(self, round_id: int) -> dict[str, Any]:
        assert self.device is not None
        envelope = self.device.envelope({"type": "opening", **self.sealed[round_id]["opening"]})
        assert self.emit("reveal", {"envelope": envelope})["ok"]
        return envelope

    def close(self) -> None:
        self.sio.disconnect()


def tweak(rng: random.Random, value: Any) -> Any:
    """A different value of the same kind."""
    if isinstance(value, int):
        return value + rng.randint(1, 9)
    if isinstance(value, dict):
        name = rng.choice(sorted(value))
        return {**value, name: tweak(rng, value[name])}
    text = str(value)
    position = rng.randrange(len(text)) if text else 0
    replacement = "0" if text[position : position + 1] != "0" else "1"
    return text[:position] + replacement + text[position + 1 :]


def forgeries(
    rng: random.Random, honest: Device, thief: Device, fields: dict[str, Any], count: int = COUNT
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Envelopes for ``fields`` that the seat's own key never signed, each one way."""
    for n in range(count):
        body = {**fields, "seq": honest.seq + 1000 + n, "nonce": b64u(rng.randbytes(16))}
        genuine = sign(honest.key, body)  # made to be altered, never sent
        way = rng.choice(
            ["foreign key", "stolen key", "altered field", "flipped bit", "cut", "other message"]
        )
        if way == "foreign key":
            forged = sign(Ed25519PrivateKey.generate(), body)
        elif way == "stolen key":  # another seat's device signs for this seat
            forged = sign(thief.key, body)
        elif way == "altered field":
            name = rng.choice(sorted(body))
            forged = {
                "body": {**body, name: tweak(rng, body[name])},
                "signature": genuine["signature"],
            }
        elif way == "flipped bit":
            signature = bytearray(unb64u(genuine["signature"]))
            signature[rng.randrange(64)] ^= 1 << rng.randrange(8)
            forged = {"body": body, "signature": b64u(bytes(signature))}
        elif way == "cut":
            forged = {"body": body, "signature": genuine["signature"][: rng.randrange(86)]}
        else:  # a signature of the same key over another message
            other = sign(honest.key, {**body, "nonce": b64u(rng.randbytes(16))})
            forged = {"body": body, "signature": other["signature"]}
        yield way, forged


def test_forged_and_replayed_sheets_and_openings_are_never_accepted(
    app: Flask, event: Event, live: str
) -> None:
    rng = random.Random(2026)
    organiser = OrganiserClient(live)
    organiser.login(PASSWORD)
    room = organiser.room("A")["id"]
    keys = {n: enrol(live, event.token("A", n)) for n in range(1, 6)}
    honest = {n: Wire(live, credential, device) for n, (device, credential) in keys.items()}
    stolen = {n: Wire(live, credential) for n, (_device, credential) in keys.items()}
    wires = list(stolen.values())
    try:
        first = organiser.call_next(room)
        organiser.open_round(first)
        captured = [honest[n].commit(sheet(str(30 + n), "20", "20")) for n in range(1, 6)]
        organiser.wait_for(room_round_is(0, "revealing"))

        # Openings, before anyone has opened: forged over the victims' own connections.
        before, answers = counts(app), Counter()
        for n in range(1, 6):
            opening = {"type": "opening", **honest[n].sealed[first]["opening"]}
            thief = keys[n % 5 + 1][0]
            for _way, forged in forgeries(rng, keys[n][0], thief, opening, COUNT // 5):
                ack = stolen[n].emit("reveal", {"envelope": forged})
                answers[(ack["ok"], ack.get("error", {}).get("code"))] += 1
        assert sum(answers.values()) >= 100 and set(answers) == {(False, "bad_signature")}
        assert counts(app) == before
        captured += [honest[n].reveal(first) for n in range(1, 5)]

        # Replayed: every envelope seen on the wire, sent again anywhere, as anything.
        before, answers = counts(app), Counter()
        for _ in range(COUNT):
            envelope, wire = rng.choice(captured), rng.choice(wires)
            ack = wire.emit(rng.choice(["reveal", "commit"]), {"envelope": envelope})
            answers[(ack["ok"], ack.get("duplicate"), ack.get("error", {}).get("code"))] += 1
        assert counts(app) == before, answers
        # Refused, or the very same envelope on its own seat: answered as the first time.
        assert {(ok, duplicate) for ok, duplicate, _code in answers} <= {
            (False, None),
            (True, True),
        }
        assert not {code for *_, code in answers} & {"internal", "rate_limited"}
        captured.append(honest[5].reveal(first))
        view = organiser.wait_for(room_round_is(0, "closed"))
        assert view["rooms"][0]["round"]["result"]["mean"] == "73.00"  # 72, 73, 74 counted

        # Sheets in the next round: one honest replacement, then forged and replayed.
        second = organiser.call_next(room)
        organiser.open_round(second)
        captured.append(honest[1].commit(sheet("1", "1", "1")))
        bound = honest[1].bound()
        fields = {"type": "commitment", **bound, "commitment": "ab" * 32}
        before, answers = counts(app), Counter()
        for way, forged in forgeries(rng, keys[1][0], keys[2][0], fields):
            ack = stolen[1].emit("commit", {"envelope": forged})
            answers[(way, ack["ok"], ack.get("error", {}).get("code"))] += 1
        assert {(ok, code) for _way, ok, code in answers} == {(False, "bad_signature")}
        assert sum(answers.values()) == COUNT and counts(app) == before
        for _ in range(COUNT):
            envelope, wire = rng.choice(captured), rng.choice(wires)
            ack = wire.emit("commit", {"envelope": envelope})
            assert not ack["ok"] or ack["duplicate"], ack
        assert counts(app) == before

        # The honest tablets carry on: the round closes, opens and publishes.
        for n in range(1, 6):
            honest[n].commit(sheet(str(18 + 2 * n), "20", "20"))  # 60 .. 68
        organiser.wait_for(room_round_is(0, "revealing"))
        for n in range(1, 6):
            honest[n].reveal(second)
        view = organiser.wait_for(room_round_is(0, "closed"))
        assert view["rooms"][0]["round"]["result"]["mean"] == "64.00"
        refused = store(app).row(
            "SELECT COUNT(*) AS n FROM log_leaf WHERE json_extract(data, '$.disposition')"
            " = 'refused'"
        )
        assert refused["n"] >= 3 * 100  # every attempt is on the record
        assert verify_bundle(export_bundle(store(app), event.id)) == []
    finally:
        for wire in (*honest.values(), *stolen.values()):
            wire.close()
        organiser.close()


def test_forged_and_replayed_enrolment_codes_never_enrol_a_device(
    app: Flask, event: Event, live: str
) -> None:
    rng = random.Random(3797)
    for n in range(1, 6):
        enrol(live, event.token("A", n))  # spent codes, to replay
    unused = event.token("B", 1)
    spent = [event.token("A", n) for n in range(1, 6)]
    seat_ids = [r["id"] for r in store(app).rows("SELECT id FROM seat")]
    before = counts(app)

    forger = device_at("127.0.0.66")
    answers = Counter()
    for _ in range(COUNT):
        token = rng.choice(
            [
                lambda: b64u(rng.randbytes(24)),  # a guess
                lambda: tweak(rng, unused),  # one character off a real, unused code
                lambda: tweak(rng, rng.choice(spent)),
                lambda: derive(rng.randbytes(32), "seat", rng.choice(seat_ids), 1),  # wrong key
                lambda: event.observer_token,  # a real code, for another kind of device
            ]
        )()
        answer = forger.post(
            f"{live}/api/enrol", json={"token": token, "public_key": Device().public_key}
        )
        assert answer.status_code in (409, 429) and "kiosk_seat" not in answer.cookies
        answers[answer.json()["error"]["code"]] += 1
    assert set(answers) <= {"token_unknown", "too_many_attempts"}
    assert answers["token_unknown"] >= 10  # checked, until the brake held the guesser

    replayer = device_at("127.0.0.67")
    for _ in range(COUNT):
        answer = replayer.post(
            f"{live}/api/enrol",
            json={"token": rng.choice(spent), "public_key": Device().public_key},
        )
        assert answer.status_code == 409 and answer.json()["error"]["code"] == "seat_enrolled"
    assert counts(app) == before

    tablet = RaterClient(live)  # the honest tablet, on its own address, is not held up
    assert tablet.enrol(unused)["number"] == 1
    tablet.connect()
    assert tablet.state is not None and tablet.state["seat"]["number"] == 1
    tablet.close()


def test_forged_and_replayed_observer_links_and_credentials_never_open_the_board(
    app: Flask, event: Event, live: str
) -> None:
    rng = random.Random(9162)
    screen = ObserverClient(live)
    screen.open_link(f"{live}/observe/{event.observer_token}")  # the honest screen
    _device, seat_credential = enrol(live, event.token("A", 1))
    before = counts(app)

    forger, replayer = device_at("127.0.0.68"), device_at("127.0.0.69")
    for _ in range(COUNT):
        token = rng.choice([b64u(rng.randbytes(24)), tweak(rng, event.observer_token)])
        answer = forger.post(f"{live}/observe/{token}", allow_redirects=False)
        assert answer.status_code in (409, 429) and "kiosk_observer" not in answer.cookies
        credential = rng.choice(
            [
                b64u(rng.randbytes(24)),
                seat_credential,  # a tablet's credential is not a screen's
                event.observer_token,  # a link's code is not a credential
                tweak(rng, event.observer_token),
            ]
        )
        assert refused_at_connect(live, "/observer", auth={"credential": credential})
    for _ in range(COUNT):  # the link, photographed and used again
        answer = replayer.post(f"{live}/observe/{event.observer_token}", allow_redirects=False)
        assert answer.status_code in (409, 429) and "kiosk_observer" not in answer.cookies
    assert counts(app) == before

    organiser = OrganiserClient(live)
    organiser.login(PASSWORD)
    round_id = organiser.call_next(organiser.room("B")["id"])
    assert screen.wait_for(lambda v: (v["rooms"][1]["round"] or {}).get("id") == round_id)
    organiser.close()
    screen.close()


def forged_cookie(rng: random.Random, payload: dict[str, Any]) -> str:
    """A Flask session cookie signed with a key that is not the kiosk's."""
    forger = Flask("forger")
    forger.secret_key = rng.randbytes(32).hex()
    serializer = SecureCookieSessionInterface().get_signing_serializer(forger)
    assert serializer is not None
    return str(serializer.dumps(payload))


CONSOLE = ["/organiser/", "/organiser/enrolment-sheet", "/organiser/export"]


def reaches_console(session: requests.Session, url: str, path: str) -> bool:
    return session.get(f"{url}{path}", allow_redirects=False, timeout=10).status_code == 200


def anonymous(url: str, address: str) -> tuple[requests.Session, str]:
    """A session from ``address`` that has loaded the sign-in page: its form token."""
    session = device_at(address)
    page = session.get(f"{url}/login").text
    return session, page.split('name="csrf" value="')[1].split('"')[0]


def test_forged_and_replayed_organiser_sign_ins_and_sessions_never_reach_the_console(
    app: Flask, event: Event, live: str
) -> None:
    rng = random.Random(8032)
    # Harvest what an eavesdropper could have kept: cookies from before each sign-in and
    # from while signed in (then signed out), and old form tokens.
    stale_cookies, old_tokens = [], []
    for _ in range(4):
        session, token = anonymous(live, "127.0.0.1")
        stale_cookies.append(session.cookies["session"])
        old_tokens.append(token)
        session.post(f"{live}/login", data={"password": PASSWORD, "csrf": token})
        assert reaches_console(session, live, "/organiser/")
        stale_cookies.append(session.cookies["session"])
        page = session.get(f"{live}/organiser/").text
        signed_in_token = page.split('name="csrf" value="')[1].split('"')[0]
        session.post(f"{live}/logout", data={"csrf": signed_in_token})
        old_tokens.append(signed_in_token)
    genuine = stale_cookies[0]
    before = counts(app)

    answers = Counter()
    for _ in range(COUNT):  # forged: made up, never issued by the kiosk
        way = rng.choice(["form token", "no form token", "cookie", "altered cookie", "socket"])
        session, _token = anonymous(live, "127.0.0.70")
        if way in ("form token", "no form token"):
            data = {"password": PASSWORD}
            if way == "form token":
                data["csrf"] = b64u(rng.randbytes(32))
            answer = session.post(f"{live}/login", data=data, allow_redirects=False)
            assert answer.status_code == 400, way
        else:
            payload = {"organiser": rng.choice([True, b64u(rng.randbytes(24))]), "csrf": "x"}
            cookie = forged_cookie(rng, payload)
            if way == "altered cookie":  # the kiosk's own signature over another payload
                body = b64u(json.dumps(payload).encode())
                cookie = ".".join([body, *genuine.split(".")[1:]])
            if way == "socket":
                headers = {"Cookie": f"session={cookie}"}
                assert refused_at_connect(live, "/organiser", headers=headers)
                answers[way] += 1
                continue
            session.cookies.set("session", cookie)
        assert not reaches_console(session, live, rng.choice(CONSOLE)), way
        answers[way] += 1
    assert sum(answers.values()) == COUNT and len(answers) == 5

    for _ in range(COUNT):  # replayed: issued by the kiosk once, used again
        way = rng.choice(["cookie", "socket", "old form token"])
        session = device_at("127.0.0.71")
        if way == "old form token":
            session, _token = anonymous(live, "127.0.0.71")
            data = {"password": PASSWORD, "csrf": rng.choice(old_tokens)}
            assert session.post(f"{live}/login", data=data).status_code == 400
        elif way == "socket":
            headers = {"Cookie": f"session={rng.choice(stale_cookies)}"}
            assert refused_at_connect(live, "/organiser", headers=headers)
            continue
        else:
            session.cookies.set("session", rng.choice(stale_cookies))
        assert not reaches_console(session, live, rng.choice(CONSOLE)), way
    assert counts(app) == before

    # A console still connected when its organiser signs out can do nothing more.
    console = OrganiserClient(live)
    console.login(PASSWORD)
    page = console.http.get(f"{live}/organiser/").text
    token = page.split('name="csrf" value="')[1].split('"')[0]
    console.http.post(f"{live}/logout", data={"csrf": token})
    with pytest.raises(Exception, match="not_authenticated"):
        console.call_next(console.room("B")["id"])
    console.close()

    honest = OrganiserClient(live)  # the organiser, from the console laptop, as usual
    honest.login(PASSWORD)
    assert honest.call_next(honest.room("B")["id"]) > 0
    assert reaches_console(honest.http, live, "/organiser/")
    honest.close()
