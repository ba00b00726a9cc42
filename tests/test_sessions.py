"""An organiser sign-in ends when idle too long and when too old, over HTTP and the
console's socket alike (OWASP ASVS 3.3.2). The limits are set short here; the defaults are
30 minutes idle and 12 hours in all."""

from __future__ import annotations

import json
import time

from flask import Flask

from kiosk_server.live import socketio

from .conftest import Event, sign_in


def console_answers(client) -> bool:  # type: ignore[no-untyped-def]
    return client.get("/organiser/").status_code == 200


def ended(event: Event, why: str) -> bool:
    lines = event.audit("signed_out")
    return any(json.loads(line["detail"]).get("reason") == why for line in lines)


def test_an_idle_sign_in_ends_and_activity_keeps_one_alive(app: Flask, event: Event) -> None:
    app.config["ORGANISER_IDLE_SECONDS"] = 0.4
    busy, idle = app.test_client(), app.test_client()
    assert sign_in(busy).status_code == 302 and sign_in(idle).status_code == 302
    assert console_answers(busy) and console_answers(idle)
    for _ in range(5):  # 1 s in all, never 0.4 s without a request
        time.sleep(0.2)
        assert console_answers(busy)
    assert not console_answers(idle)
    answer = idle.get("/organiser/")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    assert ended(event, "session_idle")
    assert sign_in(idle).status_code == 302 and console_answers(idle)  # sign in again


def test_a_sign_in_ends_after_its_whole_lifetime_however_busy(app: Flask, event: Event) -> None:
    app.config["ORGANISER_MAX_SECONDS"] = 0.6
    client = app.test_client()
    assert sign_in(client).status_code == 302
    answered = []
    for _ in range(6):
        answered.append(console_answers(client))
        time.sleep(0.2)
    assert answered[:3] == [True, True, True] and answered[-1] is False
    assert ended(event, "session_too_old")


def test_the_console_socket_is_refused_when_its_sign_in_ends(app: Flask, event: Event) -> None:
    app.config["ORGANISER_IDLE_SECONDS"] = 0.4
    http = app.test_client()
    assert sign_in(http).status_code == 302
    console = socketio(app).test_client(app, namespace="/organiser", flask_test_client=http)
    assert console.is_connected("/organiser")
    ask = {"label": "屏幕"}
    assert console.emit("new_observer", ask, namespace="/organiser", callback=True)["ok"]
    time.sleep(0.6)
    console.get_received("/organiser")
    answer = console.emit("new_observer", ask, namespace="/organiser", callback=True)
    assert answer["error"]["code"] == "not_authenticated"
    told = [m["name"] for m in console.get_received("/organiser")]
    assert told and set(told) == {"signed_out"}  # the page goes to the sign-in form
    assert ended(event, "session_idle")
    again = socketio(app).test_client(app, namespace="/organiser", flask_test_client=http)
    assert not again.is_connected("/organiser")
