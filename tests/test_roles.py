"""The whole role × action matrix, over both transports, from kiosk_server.roles."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ballot.lots import source_commitment
from kiosk_server import ceremony, evaluation, roles
from kiosk_server.enrolment import issue_observer
from kiosk_server.evidence import heartbeat
from kiosk_server.live import socketio, store, token_key
from kiosk_server.tls import init_tls
from rater_client.client import Device

from .conftest import Event, sign_in

ROOT = Path(__file__).parent.parent


class Actors:
    """A signed-in client per role, and fresh tokens so every role can try every link."""

    def __init__(self, app: Flask, event: Event) -> None:
        self.app, self.event = app, event
        init_tls(Path(app.instance_path), ["kiosk.local"], ["127.0.0.1"])
        self.clients: dict[str, FlaskClient] = {role: app.test_client() for role in roles.ROLES}
        assert sign_in(self.clients["organiser"]).status_code == 302
        enrolled = self.clients["rater"].post(
            "/api/enrol", json={"token": event.token("A", 1), "public_key": Device().public_key}
        )
        self.rater_credential = enrolled.json["credential"]
        assert self.clients["observer"].post(f"/observe/{event.observer_token}").status_code == 302
        with app.app_context():
            checkin = issue_observer(store(), token_key(), event.id, "desk", "test", role="checkin")
            draw_id = ceremony.start_draw(store(), token_key(), event.id, None, None, "test")
            parties = [p["token"] for p in ceremony.party_tokens(store(), token_key(), draw_id)]
            salt = "ab" * 16
            for n, party in enumerate(parties):  # a finished draw, so its QR can be served
                ceremony.commit(store(), party, source_commitment(str(n), salt))
            for n, party in enumerate(parties):
                ceremony.reveal(store(), party, str(n), salt)
            self.party, self.draw_id = parties[0], draw_id
            self.checkin_tokens = iter(
                [
                    issue_observer(store(), token_key(), event.id, f"c{n}", "test", role="checkin")
                    for n in range(len(roles.ROLES) + 1)
                ]
            )
        with app.app_context():
            auditor = issue_observer(store(), token_key(), event.id, "审计", "test", role="auditor")
            self.auditor_tokens = iter(
                [
                    issue_observer(store(), token_key(), event.id, f"a{n}", "test", role="auditor")
                    for n in range(len(roles.ROLES) + 1)
                ]
            )
        self.auditor_page = next(self.auditor_tokens)  # shown, never spent
        assert self.clients["auditor"].post(f"/audit/{auditor}").status_code == 302
        self.checkin_page = next(self.checkin_tokens)  # shown, never spent
        assert self.clients["checkin"].post(f"/checkin/{checkin}").status_code == 302
        self.seat_tokens = iter(
            [event.token("A", n) for n in range(2, 6)] + [event.token("B", n) for n in (1, 2, 3)]
        )
        with app.app_context():
            heartbeat(store(), event.id)  # a signed head exists, so its QR can be served
            self.observer_tokens = iter(
                [
                    issue_observer(store(), token_key(), event.id, f"o{n}", "test")
                    for n in range(len(roles.ROLES) + 1)
                ]
            )
            # A democratic evaluation with a slip for every role to try, and the evaluator's.
            evaluation.configure(
                store(),
                token_key(),
                event.id,
                [evaluation.Group("机关干部", len(roles.ROLES) + 3)],
                evaluation.Rules(),
                "test",
            )
            (sheet,) = evaluation.slips(store(), token_key(), event.id)
        self.slip, self.evaluator_slip, *rest = sheet["tokens"]
        self.ballot_tokens = iter(rest)

    def evaluator_votes(self) -> None:
        """Open the evaluation; the evaluator casts with its own slip, so its client is one
        that has used the ballot page (the set-up form is tried before this, while it can
        still change)."""
        with self.app.app_context():
            evaluation.open_evaluation(store(), self.event.id, "test")
        assert self.cast(self.clients["evaluator"], self.evaluator_slip).status_code == 200

    def cast(self, client: FlaskClient, token: str) -> Any:
        page = client.get(f"/ballot/{token}").get_data(as_text=True)
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        marks = {f"m-{c}-{d}": "1" for c in range(6) for d in range(5)}
        data = {"csrf": found.group(1) if found else "", "step": "confirm", **marks}
        return client.post(f"/ballot/{token}", data=data)

    def request(self, role: str, method: str, rule: str) -> Any:
        client = self.clients[role]
        path = {
            "/lang/<code>": "/lang/en?next=/login",
            "/static/<path:filename>": "/static/css/app.css",
            "/tablet-static/<path:filename>": "/tablet-static/tablet.js",
            "/enrol/<token>": f"/enrol/{self.event.token('A', 1)}",
            "/observe/<token>": f"/observe/{self.event.observer_token}",
            "/api/log/consistency": "/api/log/consistency?first=1&second=1",
            "/lot/<token>": f"/lot/{self.party}",
            "/observer/lot.svg": f"/observer/lot.svg?draw={self.draw_id}",
            "/api/lot/<token>": f"/api/lot/{self.party}",
            "/checkin/<token>": f"/checkin/{self.checkin_page}",
            "/audit/<token>": f"/audit/{self.auditor_page}",
            "/ballot/<token>": f"/ballot/{self.slip}",
        }.get(rule, rule)
        if method == "GET":
            return client.get(path)
        if rule == "/login":
            return sign_in(client)
        if rule == "/logout":
            page = client.get("/organiser/").get_data(as_text=True)
            token = re.search(r'name="csrf" value="([^"]+)"', page)
            return client.post("/logout", data={"csrf": token.group(1) if token else ""})
        if rule == "/api/enrol":
            return client.post(
                rule, json={"token": next(self.seat_tokens), "public_key": Device().public_key}
            )
        if rule == "/observe/<token>":
            return client.post(f"/observe/{next(self.observer_tokens)}")
        if rule == "/checkin/<token>":
            return client.post(f"/checkin/{next(self.checkin_tokens)}")
        if rule == "/audit/<token>":
            return client.post(f"/audit/{next(self.auditor_tokens)}")
        if rule in ("/api/lot/commit", "/api/lot/reveal"):
            return client.post(rule, json={"token": self.party, "commitment": "0" * 64})
        if rule == "/ballot/<token>":
            return self.cast(client, next(self.ballot_tokens))
        if rule == "/organiser/evaluation":
            page = client.get(rule).get_data(as_text=True)
            token = re.search(r'name="csrf" value="([^"]+)"', page)
            data = {"csrf": token.group(1) if token else "", "name-0": "服务对象", "ballots-0": "3"}
            data |= {"dimensions": "德 能 勤 绩 廉", "points": "20", "validity": "candidate"}
            data["grades"] = "优秀=100 称职=80 基本称职=60 不称职=0"
            return client.post(rule, data=data)
        raise AssertionError(f"no way to try {method} {rule}")


def served(response: Any) -> bool:
    """A response that gave the role what it asked for (not a refusal or a sign-in bounce)."""
    if response.status_code in (400, 401, 403, 404, 405, 429):
        return False
    return not (
        response.status_code == 302 and response.headers.get("Location", "").startswith("/login?")
    )


def test_the_matrix_covers_every_route_and_event(app: Flask) -> None:
    rules = {(m, r.rule) for r in app.url_map.iter_rules() for m in r.methods - {"HEAD", "OPTIONS"}}
    assert rules == set(roles.HTTP)
    from kiosk_server import checkin, observer, organiser, rater

    audiences = (organiser, rater, observer, checkin)
    events = {(m.NAMESPACE, "connect") for m in audiences} | {
        (m.NAMESPACE, n[3:])
        for m in audiences
        for n in dir(m.Live)
        if n.startswith("on_") and n not in ("on_connect", "on_disconnect")
    }
    assert events == set(roles.SOCKET)


@pytest.mark.parametrize(("method", "rule"), list(roles.HTTP))
def test_every_http_cell(app: Flask, event: Event, method: str, rule: str) -> None:
    actors = Actors(app, event)
    if (method, rule) != ("POST", "/organiser/evaluation"):
        actors.evaluator_votes()
    for role in roles.ROLES:
        response = actors.request(role, method, rule)
        expected = role in roles.HTTP[(method, rule)]
        outcome = served(response)
        response.close()  # static files are streamed from open files
        assert outcome is expected, (role, method, rule, response.status_code)


def test_every_socket_cell(app: Flask, event: Event) -> None:
    actors = Actors(app, event)
    actors.evaluator_votes()
    sio = socketio(app)
    auth = {"rater": {"credential": actors.rater_credential}}
    for (namespace, action), allowed in roles.SOCKET.items():
        for role in roles.ROLES:
            client = sio.test_client(
                app,
                namespace=namespace,
                auth=auth.get(role),
                flask_test_client=actors.clients[role],
            )
            connected = client.is_connected(namespace)
            if action == "connect":
                assert connected is (role in allowed), (role, namespace)
            elif role in allowed:
                ack = client.emit(action, {}, namespace=namespace, callback=True)
                assert isinstance(ack, dict) and ack.get("error", {}).get("code") != (
                    "not_authenticated"
                ), (role, namespace, action, ack)
            else:
                assert not connected, (role, namespace, action)
            if connected:
                client.disconnect(namespace)


def test_the_threat_model_prints_this_very_matrix() -> None:
    doc = (ROOT / "docs" / "threat-model.md").read_text(encoding="utf-8")
    assert roles.render() in doc


def test_an_auditor_downloads_a_bundle_that_verifies(app: Flask, event: Event) -> None:
    from seal.verify import verify_bundle

    actors = Actors(app, event)
    page = actors.clients["auditor"].get("/audit").get_data(as_text=True)
    assert "/audit/export" in page and "kiosk verify" in page
    response = actors.clients["auditor"].get("/audit/export")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert verify_bundle(response.data) == []
    leaf = store(app).row("SELECT data FROM log_leaf WHERE type = 'export' ORDER BY idx DESC")
    assert json.loads(leaf["data"])["actor"].startswith("auditor:")  # the download is logged
