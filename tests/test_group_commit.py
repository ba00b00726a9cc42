"""Group commit (issue 7): submissions that arrive while a COMMIT runs share the next
transaction; each caller returns (and so acknowledges) only after its batch's COMMIT."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk_server import storage
from kiosk_server.errors import UserError
from kiosk_server.storage import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    st = Store(tmp_path / "kiosk.sqlite3")
    with st.write() as db:
        db.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    yield st
    st.close()


def submit_all(store: Store, works: list[Callable[[Any], Any]]) -> list[Any]:
    """Each work from its own thread, the first holding its batch open a moment so the
    others queue behind it; returns each caller's result or exception."""
    outcomes: list[Any] = [None] * len(works)

    def run(i: int) -> None:
        try:
            outcomes[i] = store.group(works[i])
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    threads[0].start()
    time.sleep(0.05)
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def insert(i: int, pause: float = 0.0) -> Callable[[Any], int]:
    def work(db: Any) -> int:
        db.execute("INSERT INTO t (x) VALUES (?)", [i])
        time.sleep(pause)
        return i

    return work


def rows(store: Store) -> set[int]:
    return {r["x"] for r in store.rows("SELECT x FROM t")}


def test_each_caller_returns_only_after_its_batch_committed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    log: list[tuple[str, int]] = []
    guard = threading.Lock()
    commits = 0
    real = storage.off_the_hub

    def committed(call: Callable[[], Any]) -> Any:
        nonlocal commits
        result = real(call)  # COMMIT has returned: the batch is on disk
        with guard:
            commits += 1
            log.append(("committed", commits))
        return result

    monkeypatch.setattr(storage, "off_the_hub", committed)

    def work(i: int) -> Callable[[Any], int]:
        def run(db: Any) -> int:
            insert(i, 0.2 if i == 0 else 0.0)(db)
            with guard:
                log.append(("work", i))
            return i

        return run

    outcomes = submit_all(store, [work(i) for i in range(20)])
    with guard:
        log.extend(("ack", i) for i in outcomes)
    assert sorted(outcomes) == list(range(20))
    assert rows(store) == set(range(20))
    assert 2 <= commits < 20  # the 19 that queued behind the first shared transactions
    # Each piece of work was followed by a COMMIT before any caller returned.
    for i in range(20):
        worked = log.index(("work", i))
        assert any(kind == "committed" for kind, _ in log[worked : log.index(("ack", i))])


def test_a_refused_submission_undoes_only_its_own_writes(store: Store) -> None:
    def refused(db: Any) -> None:
        db.execute("INSERT INTO t (x) VALUES (99)")
        raise UserError("round_closed")

    outcomes = submit_all(store, [insert(1, 0.2), insert(2), refused, insert(3)])
    assert outcomes[:2] == [1, 2] and outcomes[3] == 3
    assert isinstance(outcomes[2], UserError) and outcomes[2].code == "round_closed"
    assert rows(store) == {1, 2, 3}


def test_when_the_commit_fails_nobody_is_acknowledged(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(call: Callable[[], Any]) -> Any:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(storage, "off_the_hub", disk_full)
    outcomes = submit_all(store, [insert(1, 0.1), insert(2), insert(3)])
    assert all(isinstance(o, sqlite3.OperationalError) for o in outcomes)
    monkeypatch.undo()
    assert rows(store) == set()
    assert store.group(insert(4)) == 4  # the next caller still gets a batch of its own
    assert rows(store) == {4}


CHILD = """
import os, sys, threading
from kiosk_server.storage import Store
st = Store(sys.argv[1])
with st.write() as db:
    db.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER PRIMARY KEY)")
def submit(start):
    for i in range(start, 10**9, 8):
        st.group(lambda db, i=i: db.execute("INSERT INTO t (x) VALUES (?)", [i]))
        os.write(1, b"%d\\n" % i)  # the acknowledgement, one write per line
for n in range(8):
    threading.Thread(target=submit, args=(n,), daemon=True).start()
threading.Event().wait()
"""


def test_every_acknowledged_submission_survives_a_kill(tmp_path: Path) -> None:
    database = tmp_path / "killed.sqlite3"
    acked: list[int] = []
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(database)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdout is not None
    try:
        while len(acked) < 300:
            line = child.stdout.readline()
            assert line, "the child stopped acknowledging"
            acked.append(int(line))
    finally:
        child.kill()  # SIGKILL mid-batch, with acknowledgements still in the pipe
        rest = child.stdout.read()
        child.stdout.close()
        child.wait()
    acked += [int(n) for n in rest.split()]
    conn = sqlite3.connect(database)
    stored = {x for (x,) in conn.execute("SELECT x FROM t")}
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    assert set(acked) <= stored


def test_a_read_is_one_plain_select_and_anything_else_keeps_the_guard(store: Store) -> None:
    """Store reads skip sqlite-utils' savepoint guard (a SELECT has nothing to undo);
    a statement that returns no rows is still refused by ``query`` and undone."""
    with store.write() as db:
        db.execute("INSERT INTO t (x) VALUES (1), (2)")
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    assert [r["x"] for r in store.db.query("SELECT x FROM t ORDER BY x")] == [1, 2]
    assert [dict(r) for r in store.db.query("select x, x FROM t WHERE x = ?", [2])] == [
        {"x": 2, "x_2": 2}  # sqlite-utils' names for a repeated column, as before
    ]
    store.db.conn.set_trace_callback(None)
    assert len(statements) == 2 and not any("SAVEPOINT" in s for s in statements)
    with pytest.raises(ValueError, match="returns rows"):
        store.db.query("DELETE FROM t")
    assert rows(store) == {1, 2}


def test_a_batch_reads_the_rubric_once_and_the_next_batch_reads_it_afresh(
    store: Store, tmp_path: Path
) -> None:
    """Every job of a batch names the rubric (each binding, each opened sheet): one read
    serves the batch's transaction, and nothing is kept past it, so a rubric changed by
    another connection (``kiosk import`` runs as its own process) is what the next batch
    and every read outside a batch see."""
    from kiosk_server.interview import rubric

    with store.write() as db:
        db.execute("INSERT INTO event (id, name, created_at) VALUES (1, 'e', 'now')")
        db.execute(
            "INSERT INTO rubric_item (event_id, position, code, label_zh, label_en, max, step)"
            " VALUES (1, 1, 'a', '甲', 'A', '10', '0.5')"
        )
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)

    def names(i: int) -> Callable[[Any], list[str]]:
        def work(db: Any) -> list[str]:
            insert(i, 0.2 if i == 0 else 0.0)(db)
            seen = [item.code for item in rubric(db, 1)]
            assert [item.code for item in rubric(db, 1)] == seen  # and again: still one read
            return seen

        return work

    outcomes = submit_all(store, [names(i) for i in range(6)])
    store.db.conn.set_trace_callback(None)
    assert outcomes == [["a"]] * 6
    commits = sum(s == "COMMIT" for s in statements)
    assert 2 <= commits < 6  # the five that queued behind the first shared a batch
    assert sum("FROM rubric_item" in s for s in statements) == commits  # once per batch

    other = sqlite3.connect(tmp_path / "kiosk.sqlite3")
    other.execute(
        "INSERT INTO rubric_item (event_id, position, code, label_zh, label_en, max, step)"
        " VALUES (1, 2, 'b', '乙', 'B', '10', '0.5')"
    )
    other.commit()
    other.close()
    assert store.group(lambda db: [item.code for item in rubric(db, 1)]) == ["a", "b"]
    with store.read() as db:
        assert [item.code for item in rubric(db, 1)] == ["a", "b"]
    assert store.db.batch_memo is None


@pytest.mark.parametrize("pass_over_s", [30.0, 0.0])
def test_urgent_work_goes_first_unless_its_sender_waits_or_the_rest_waited_too_long(
    store: Store, monkeypatch: pytest.MonkeyPatch, pass_over_s: float
) -> None:
    """Commitments (urgent) before a round's openings, in batches of their own; a
    sender's submissions in the order they came; nothing passed over for longer than
    ``PASS_OVER_S`` (with 0, strictly in turn)."""
    monkeypatch.setattr(storage, "PASS_OVER_S", pass_over_s)
    commits = 0
    real = storage.off_the_hub

    def counted(call: Callable[[], Any]) -> Any:
        nonlocal commits
        result = real(call)
        commits += 1
        return result

    monkeypatch.setattr(storage, "off_the_hub", counted)
    ran: list[tuple[str, int]] = []  # (job, the COMMITs before its batch)
    threads: list[threading.Thread] = []

    def wait_queued(n: int) -> None:
        deadline = time.monotonic() + 10
        while len(store._queue) < n and time.monotonic() < deadline:
            time.sleep(0.002)

    def submit(name: str, sender: str, urgent: bool, then: Callable[[], None] = lambda: None):
        def work(db: Any) -> None:
            ran.append((name, commits))
            then()

        def run() -> None:
            store.group(work, sender=sender, urgent=urgent)

        queued = len(store._queue)
        threads.append(threading.Thread(target=run))
        threads[-1].start()
        wait_queued(queued + 1)  # queued, in this order

    # The first batch holds the writer until five more have queued behind it.
    holder = threading.Thread(
        target=store.group,
        args=(lambda db: (ran.append(("holder", commits)), wait_queued(5)),),
        kwargs={"sender": "h"},
    )
    holder.start()
    deadline = time.monotonic() + 10
    while not ran and time.monotonic() < deadline:
        time.sleep(0.002)
    submit("open b", "b", urgent=False)
    submit("open c", "c", urgent=False)
    # d's work holds its batch until f has queued: f arrives while the others wait.
    submit("commit d", "d", urgent=True, then=lambda: submit("commit f", "f", urgent=True))
    submit("commit b", "b", urgent=True)  # b's opening came first: it must stay behind
    submit("commit e", "e", urgent=True)
    holder.join(30)
    for thread in threads:
        thread.join(30)
    if pass_over_s:
        assert ran == [
            ("holder", 0),
            ("commit d", 1),
            ("commit e", 1),
            ("commit f", 2),
            ("open b", 3),
            ("open c", 3),
            ("commit b", 3),
        ]
        assert commits == 4
    else:
        assert ran == [
            ("holder", 0),
            ("open b", 1),
            ("open c", 1),
            ("commit d", 1),
            ("commit b", 1),
            ("commit e", 1),
            ("commit f", 2),
        ]
        assert commits == 3


def test_a_write_commits_off_the_hub_and_a_failed_commit_leaves_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An organiser's act (``Store.write``) hands its COMMIT, which waits for fsync, to
    ``off_the_hub`` as a batch does; a write inside it is a savepoint of the same
    transaction; a block that raises, or a COMMIT that fails, leaves nothing behind."""
    handed: list[bool] = []  # whether a transaction was open when the call was handed over
    real = storage.off_the_hub

    def recorded(call: Callable[[], Any]) -> Any:
        handed.append(store.db.conn.in_transaction)
        return real(call)

    monkeypatch.setattr(storage, "off_the_hub", recorded)
    with store.write() as db:
        db.execute("INSERT INTO t (x) VALUES (1)")
        with pytest.raises(UserError), store.write() as inner:
            inner.execute("INSERT INTO t (x) VALUES (2)")
            raise UserError("round_closed")  # undoes the inner write only
        with store.write() as inner:
            inner.execute("INSERT INTO t (x) VALUES (3)")
    assert handed == [True] and not store.db.conn.in_transaction
    assert rows(store) == {1, 3}

    with pytest.raises(UserError), store.write() as db:
        db.execute("INSERT INTO t (x) VALUES (4)")
        raise UserError("round_closed")
    assert handed == [True] and rows(store) == {1, 3}

    def disk_full(call: Callable[[], Any]) -> Any:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(storage, "off_the_hub", disk_full)
    with pytest.raises(sqlite3.OperationalError), store.write() as db:
        db.execute("INSERT INTO t (x) VALUES (5)")
    assert not store.db.conn.in_transaction
    monkeypatch.setattr(storage, "off_the_hub", real)
    assert rows(store) == {1, 3}
    with store.write() as db:  # the next act gets a transaction of its own
        db.execute("INSERT INTO t (x) VALUES (6)")
    assert rows(store) == {1, 3, 6}
