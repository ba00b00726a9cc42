"""Crash trials in CI: ten SIGKILLs of a real server under a load of submissions
(`make crash` runs 200, benchmarks/crash_trials.py), and a check that the trials' own
check can fail."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from flask import Flask

from benchmarks.crash_trials import MODES, check_database, run
from kiosk_server.live import store
from kiosk_server.serving import serve_in_thread
from rater_client import RaterClient
from rater_client.drill import OrganiserClient

from .conftest import PASSWORD, Event, sheet


def test_ten_crash_trials_lose_nothing_acknowledged_and_the_tablets_resume() -> None:
    line = run(trials=10, seed=2026, per_session=10, max_up=1.5)
    assert line["failures"] == [], line
    assert line["trials"] == 10 and line["modes"] == {mode: 2 for mode in MODES}
    assert line["points_not_reached"] == 0  # every instrumented crash happened
    assert line["failed_trials"] == line["integrity_failures"] == line["lost_or_doubled"] == 0
    assert line["not_resumed"] == 0
    assert line["resumed"] + line["resume_interrupted_by_next_crash"] == 10
    assert line["acknowledged"] >= 50
    assert line["answered_as_repeat"] >= 1  # a re-sent envelope got its first answer again
    assert line["exports_verified"] == 1  # kiosk export + kiosk verify hold at the end
    assert line["server_tracebacks"] == line["alarms"] == line["refusals"] == 0


def test_the_crash_check_finds_a_lost_or_doubled_submission(app: Flask, event: Event) -> None:
    url, server = serve_in_thread(app)
    organiser, rater = OrganiserClient(url), RaterClient(url)
    try:
        organiser.login(PASSWORD)
        rater.enrol(event.token("B", 1))
        rater.connect()
        organiser.open_round(organiser.call_next(organiser.room("B")["id"]))
        rater.wait_for(lambda s: bool(s["round"]) and s["round"]["state"] == "open")
        rater.submit(sheet())
    finally:
        rater.close()
        organiser.close()
        server.shutdown()
    store(app).close()
    database = Path(app.instance_path) / "kiosk.sqlite3"
    acked = [a for a in rater.acknowledged if a["event"] == "commit"]
    assert len(acked) == 1
    assert check_database(database, event.id, acked)["failures"] == []

    lost = [{**acked[0], "nonce": "AAAAAAAAAAAAAAAAAAAAAA"}]
    assert any("lost" in f for f in check_database(database, event.id, lost)["failures"])

    with sqlite3.connect(database) as db:  # the same envelope logged a second time
        leaf = db.execute(
            "SELECT idx, type, data, hash FROM log_leaf WHERE idx = ?", [acked[0]["leaf"]]
        ).fetchone()
        size = db.execute("SELECT MAX(idx) + 1 FROM log_leaf").fetchone()[0]
        db.execute(
            "INSERT INTO log_leaf(event_id, idx, type, data, hash) VALUES (?, ?, ?, ?, ?)",
            [event.id, size, *leaf[1:]],
        )
    failures = check_database(database, event.id, acked)["failures"]
    assert any("logged 2 times" in f for f in failures)
    assert any("lost or misplaced" in f for f in failures)
