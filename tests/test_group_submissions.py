"""Sealed submissions inside group commit: a re-sent envelope is answered as the first
time whether its first copy is in the same batch or an earlier one, and the crash points
the crash trials arm (kiosk_server/faults.py) still fall before and after the COMMIT."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from kiosk_server import faults, interview, storage
from kiosk_server.errors import UserError
from kiosk_server.live import store
from rater_client.client import sealed_sheet
from seal.signing import sign

from .conftest import Event, sheet
from .test_interview_sockets import Room, Tablet


@pytest.fixture
def room(app: Flask, event: Event) -> Room:
    return Room(app, event)


def seat_of(tablet: Tablet) -> interview.Seat:
    view = tablet.view()
    return interview.Seat(
        view["seat"]["id"], view["room"]["id"], view["event"], view["seat"]["number"]
    )


def commitment(tablet: Tablet) -> dict[str, Any]:
    bound = tablet.bound()
    return {"type": "commitment", **bound, "commitment": "ab" * 32}


def in_one_batch(
    st: storage.Store, monkeypatch: pytest.MonkeyPatch, calls: list[Callable[[], Any]]
) -> tuple[list[Any], int]:
    """Run ``calls`` (each ends in ``Store.group``) from their own threads so that their
    work lands in one batch: they are let into ``group`` only while another batch holds
    the writer, and that batch ends once they have all queued. Returns each call's
    result or exception, and how many COMMITs ran for them."""
    real_group = st.group
    gate = threading.Barrier(len(calls) + 1)

    def gated(work: Callable[[Any], Any], **order: Any) -> Any:
        gate.wait(10)  # verified and checked outside the writer; now all at once
        return real_group(work, **order)

    commits = 0
    real_commit = storage.off_the_hub

    def counted(call: Callable[[], Any]) -> Any:
        nonlocal commits
        commits += 1
        return real_commit(call)

    monkeypatch.setattr(st, "group", gated)
    outcomes: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            outcomes[i] = calls[i]()
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            outcomes[i] = exc

    holding = threading.Event()

    def hold(db: Any) -> None:
        holding.set()
        deadline = time.monotonic() + 10
        while len(st._queue) < len(calls) and time.monotonic() < deadline:
            time.sleep(0.005)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while gate.n_waiting < len(calls) and time.monotonic() < deadline:
        time.sleep(0.005)  # each call's signature check (it reads the store) is done
    holder = threading.Thread(target=real_group, args=(hold,))
    holder.start()
    assert holding.wait(10)
    monkeypatch.setattr(storage, "off_the_hub", counted)  # the holder's COMMIT counts too
    gate.wait(10)
    for thread in [holder, *threads]:
        thread.join(30)
    monkeypatch.setattr(st, "group", real_group)
    return outcomes, commits - 1  # less the holder's own batch


def count(st: storage.Store, sql: str, params: list[Any]) -> int:
    found = st.row(sql, params)
    assert found is not None
    return int(next(iter(found.values())))


def test_a_duplicate_in_the_same_batch_and_in_a_later_one_gets_the_first_answer(
    app: Flask, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    tablets = [room.enrol("B", n) for n in (1, 2, 3)]
    room.start_round("B")
    first = tablets[0]
    seat = seat_of(first)
    envelope = first.device.envelope(commitment(first))
    st = store(app)

    def send() -> dict[str, Any]:
        return interview.commit(st, seat, {"envelope": envelope})

    (one, two), commits = in_one_batch(st, monkeypatch, [send, send])
    assert commits == 1  # both copies were written in one transaction
    assert one["ok"] and two["ok"], (one, two)
    assert sorted([one["duplicate"], two["duplicate"]]) == [False, True]
    for key in ("round_id", "kind", "version"):
        assert one[key] == two[key]
    assert one["receipt"]["leaf"] == two["receipt"]["leaf"]

    later = send()  # its first copy is committed, in an earlier batch
    assert later["ok"] and later["duplicate"] and later["receipt"]["leaf"] == one["receipt"]["leaf"]
    nonce = envelope["body"]["nonce"]
    assert count(st, "SELECT COUNT(*) AS n FROM commitment WHERE nonce = ?", [nonce]) == 1
    leaves = "SELECT COUNT(*) AS n FROM log_leaf WHERE type = 'commitment'"
    assert count(st, leaves + " AND json_extract(data, '$.actor') = ?", [seat.actor]) == 1


def test_the_same_nonce_in_another_envelope_in_the_same_batch_is_refused_alone(
    app: Flask, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    tablets = [room.enrol("B", n) for n in (1, 2, 3)]  # seat 3 keeps the round open
    room.start_round("B")
    first, other = tablets[:2]
    seat = seat_of(first)
    envelope = first.device.envelope(commitment(first))
    forged = sign(first.device.key, {**envelope["body"], "commitment": "cd" * 32})
    other_seat, other_envelope = seat_of(other), other.device.envelope(commitment(other))
    st = store(app)
    calls = [
        lambda: interview.commit(st, seat, {"envelope": envelope}),
        lambda: interview.commit(st, seat, {"envelope": forged}),
        lambda: interview.commit(st, other_seat, {"envelope": other_envelope}),
    ]
    outcomes, commits = in_one_batch(st, monkeypatch, calls)
    assert commits == 1
    accepted = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if isinstance(o, UserError)]
    assert len(accepted) == 2 and all(a["ok"] and not a["duplicate"] for a in accepted)
    assert len(refused) == 1 and refused[0].code == "replayed", outcomes
    nonce = envelope["body"]["nonce"]
    stored = st.rows("SELECT digest FROM commitment WHERE nonce = ?", [nonce])
    kept = "ab" * 32 if outcomes[0] in accepted else "cd" * 32  # whichever ran first
    assert [r["digest"] for r in stored] == [kept]


def test_crash_points_fall_before_and_after_the_batch_commit(
    app: Flask, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``*.before_commit`` inside the transaction (another connection sees nothing yet),
    ``*.after_commit`` once COMMIT has returned and before the answer; a repeat, which
    writes nothing, passes neither."""
    tablet = room.enrol("B", 1)  # the only seated rater: its commitment closes the round
    room.start_round("B")
    st = store(app)
    passed: list[tuple[str, bool, int]] = []

    def visible(table: str) -> int:
        with sqlite3.connect(st.path) as other:
            return int(other.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def passing(point: str) -> None:
        table = "commitment" if point.startswith("commit.") else "opening"
        passed.append((point, st.db.conn.in_transaction, visible(table)))

    monkeypatch.setattr(faults, "passing", passing)
    bound = tablet.bound()
    sealed = sealed_sheet(bound, sheet())
    committed = tablet.device.envelope(
        {"type": "commitment", **bound, "commitment": sealed["commitment"]}
    )
    ack = tablet.client.emit("commit", {"envelope": committed}, namespace="/rater", callback=True)
    assert ack["ok"] and ack["round_closed"] and not ack["duplicate"]
    assert passed == [("commit.before_commit", True, 0), ("commit.after_commit", False, 1)]

    passed.clear()
    opened = tablet.device.envelope({"type": "opening", **sealed["opening"]})
    ack = tablet.client.emit("reveal", {"envelope": opened}, namespace="/rater", callback=True)
    assert ack["ok"] and not ack["duplicate"]
    assert passed == [("reveal.before_commit", True, 0), ("reveal.after_commit", False, 1)]

    passed.clear()
    repeat = tablet.client.emit("reveal", {"envelope": opened}, namespace="/rater", callback=True)
    assert repeat["ok"] and repeat["duplicate"]
    repeat = tablet.client.emit(
        "commit", {"envelope": committed}, namespace="/rater", callback=True
    )
    assert repeat["ok"] and repeat["duplicate"]
    assert passed == []  # a repeat writes nothing: no crash point on its way


def test_exactly_one_opening_finishes_its_round_however_the_openings_are_batched(
    app: Flask, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The opening that completes a round is the one that pushes its room's tablets the
    result; the others in the same batch must not each push the whole room again."""
    tablets = [room.enrol("B", n) for n in (1, 2, 3)]
    round_id = room.start_round("B")
    for tablet in tablets:
        assert tablet.commit(sheet())["ok"]
    st = store(app)

    def opener(tablet: Tablet) -> Callable[[], dict[str, Any]]:
        envelope = tablet.device.envelope(
            {"type": "opening", **tablet.openings[round_id]["opening"]}
        )
        return lambda: interview.reveal(st, seat_of(tablet), {"envelope": envelope})

    acks, commits = in_one_batch(st, monkeypatch, [opener(t) for t in tablets])
    assert commits == 1 and all(a["ok"] for a in acks), acks
    assert [a["finished"] for a in acks].count(True) == 1
    state = st.row("SELECT state FROM round WHERE id = ?", [round_id])
    assert state is not None and state["state"] == interview.RoundState.CLOSED
