"""The server's log: heads at least every minute while it grows, proofs served."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask

from kiosk_server.audit import record
from kiosk_server.evidence import consistency, heartbeat, latest_head, tree
from kiosk_server.live import store
from seal.merkle import verify_consistency
from seal.signing import load_public_key, public_key_text, verify

from .conftest import Event


def test_a_head_is_signed_when_the_log_grew_and_the_last_is_a_minute_old(
    app: Flask, event: Event
) -> None:
    st = store(app)
    now = datetime.now(UTC)
    first = heartbeat(st, event.id, now)
    assert first is not None
    key = load_public_key(public_key_text(st.server_key))
    assert verify(key, first)["size"] == int(st.row("SELECT COUNT(*) AS n FROM log_leaf")["n"])
    assert heartbeat(st, event.id, now + timedelta(seconds=90)) is None  # nothing new
    with st.write() as db:
        record(db, "test", "room_paused", "accepted", event=event.id, room=1)
    assert heartbeat(st, event.id, now + timedelta(seconds=30)) is None  # too soon
    later = heartbeat(st, event.id, now + timedelta(seconds=61))
    assert later is not None and later["body"]["size"] == first["body"]["size"] + 1
    assert latest_head(st, event.id) == later


def test_consistency_proofs_between_heads_verify(app: Flask, event: Event) -> None:
    st = store(app)
    with st.read() as db:
        current = tree(st, db, event.id)
        size = current.size
        roots = {n: current.root(n) for n in range(1, size + 1)}
    for first in range(1, size + 1):
        proof = [bytes.fromhex(p) for p in consistency(st, event.id, first, size)]
        assert verify_consistency(first, size, proof, roots[first], roots[size])


def test_the_log_endpoints_need_an_audience(app: Flask, event: Event) -> None:
    client = app.test_client()
    assert client.get("/api/log/consistency?first=1&second=2").status_code == 401
    observer = app.test_client()
    observer.post(f"/observe/{event.observer_token}")
    with app.app_context():
        heartbeat(store(app), event.id)
    head = observer.get("/api/log/head").json["head"]
    assert head["body"]["type"] == "tree_head"
    size = head["body"]["size"]
    answer = observer.get(f"/api/log/consistency?first=1&second={size}").json
    assert answer["ok"] and isinstance(answer["proof"], list)
    assert observer.get("/api/log/consistency?first=x").status_code == 400
    svg = observer.get("/observer/head.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
