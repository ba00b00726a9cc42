"""The one SQLite connection: WAL, synchronous=FULL, writes serialised through one lock.

One connection for the whole process keeps us clear of SQLite's WAL-reset race
(it needs two connections) and makes "one writer" true by construction. A write
returns only after COMMIT, so whatever the caller acknowledges afterwards is on disk.
Sealed submissions share their COMMITs (``Store.group``): one fsync per batch.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils
from sqlite_utils.utils import dedupe_keys

from .launch import patched

T = TypeVar("T")

SCHEMA_VERSION = 5

SCHEMA = """
CREATE TABLE IF NOT EXISTS setting (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS event (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    is_rehearsal INTEGER NOT NULL DEFAULT 0,
    drop_threshold INTEGER NOT NULL DEFAULT 5,
    weight_written INTEGER NOT NULL DEFAULT 30,
    weight_evaluation INTEGER NOT NULL DEFAULT 40,
    weight_interview INTEGER NOT NULL DEFAULT 30,
    created_at TEXT NOT NULL,
    interviews_ended_at TEXT
);
CREATE TABLE IF NOT EXISTS post (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES event(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    seats INTEGER NOT NULL CHECK (seats >= 1),
    UNIQUE (event_id, code)
);
CREATE TABLE IF NOT EXISTS room (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES event(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    UNIQUE (event_id, code)
);
CREATE TABLE IF NOT EXISTS candidate (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES event(id),
    reg_no TEXT NOT NULL,
    name TEXT NOT NULL,
    unit TEXT NOT NULL DEFAULT '',
    room_id INTEGER REFERENCES room(id),
    draw_number INTEGER CHECK (draw_number >= 1),
    arrived_at TEXT,
    UNIQUE (event_id, reg_no),
    UNIQUE (event_id, draw_number)
);
CREATE TABLE IF NOT EXISTS preference (
    candidate_id INTEGER NOT NULL REFERENCES candidate(id),
    rank INTEGER NOT NULL CHECK (rank IN (1, 2)),
    post_id INTEGER NOT NULL REFERENCES post(id),
    PRIMARY KEY (candidate_id, rank),
    UNIQUE (candidate_id, post_id)
);
CREATE TABLE IF NOT EXISTS rater (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES event(id),
    name TEXT NOT NULL,
    unit TEXT NOT NULL DEFAULT '',
    seat_id INTEGER UNIQUE REFERENCES seat(id),
    conflicts TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS seat (
    id INTEGER PRIMARY KEY,
    room_id INTEGER NOT NULL REFERENCES room(id),
    number INTEGER NOT NULL CHECK (number >= 1),
    generation INTEGER NOT NULL DEFAULT 0,
    token_digest TEXT UNIQUE,
    credential_digest TEXT UNIQUE,
    public_key TEXT,
    last_seq INTEGER NOT NULL DEFAULT 0,
    issued_at TEXT,
    enrolled_at TEXT,
    UNIQUE (room_id, number)
);
CREATE TABLE IF NOT EXISTS observer (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES event(id),
    role TEXT NOT NULL DEFAULT 'observer'
        CHECK (role IN ('observer', 'checkin', 'auditor', 'clerk')),
    label TEXT NOT NULL,
    generation INTEGER NOT NULL DEFAULT 1,
    token_digest TEXT UNIQUE,
    credential_digest TEXT UNIQUE,
    issued_at TEXT NOT NULL,
    enrolled_at TEXT,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS rubric_item (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES event(id),
    position INTEGER NOT NULL,
    code TEXT NOT NULL,
    label_zh TEXT NOT NULL,
    label_en TEXT NOT NULL,
    max TEXT NOT NULL,
    step TEXT NOT NULL,
    UNIQUE (event_id, code)
);
CREATE TABLE IF NOT EXISTS round (
    id INTEGER PRIMARY KEY,
    room_id INTEGER NOT NULL REFERENCES room(id),
    candidate_id INTEGER NOT NULL UNIQUE REFERENCES candidate(id),
    draw_number INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('called', 'open', 'revealing', 'closed')),
    called_at TEXT NOT NULL,
    opened_at TEXT,
    closed_at TEXT,
    close_reason TEXT,
    confirmed_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS one_active_round_per_room
    ON round(room_id) WHERE state IN ('called', 'open');
CREATE TABLE IF NOT EXISTS round_seat (
    round_id INTEGER NOT NULL REFERENCES round(id),
    seat_id INTEGER NOT NULL REFERENCES seat(id),
    PRIMARY KEY (round_id, seat_id)
);
CREATE TABLE IF NOT EXISTS commitment (
    id INTEGER PRIMARY KEY,
    round_id INTEGER NOT NULL REFERENCES round(id),
    seat_id INTEGER NOT NULL REFERENCES seat(id),
    version INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('score', 'recusal')),
    digest TEXT,
    nonce TEXT NOT NULL,
    envelope TEXT NOT NULL,
    leaf INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (round_id, seat_id, version),
    UNIQUE (seat_id, nonce)
);
CREATE TABLE IF NOT EXISTS opening (
    id INTEGER PRIMARY KEY,
    commitment_id INTEGER NOT NULL UNIQUE REFERENCES commitment(id),
    items TEXT NOT NULL,
    total TEXT NOT NULL,
    nonce TEXT NOT NULL,
    envelope TEXT NOT NULL,
    leaf INTEGER NOT NULL,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lot_draw (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES event(id),
    purpose TEXT NOT NULL CHECK (purpose IN ('order', 'raters', 'tie')),
    hash TEXT NOT NULL CHECK (hash IN ('sha256', 'md5')),
    pool TEXT NOT NULL,
    pool_digest TEXT NOT NULL,
    attempt INTEGER NOT NULL CHECK (attempt >= 1),
    reason TEXT,
    state TEXT NOT NULL CHECK (state IN ('committing', 'revealing', 'drawn', 'void')),
    key TEXT,
    steps TEXT,
    created_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS one_active_draw_per_event
    ON lot_draw(event_id) WHERE state IN ('committing', 'revealing');
CREATE TABLE IF NOT EXISTS lot_party (
    id INTEGER PRIMARY KEY,
    draw_id INTEGER NOT NULL REFERENCES lot_draw(id),
    position INTEGER NOT NULL CHECK (position >= 1),
    label TEXT NOT NULL,
    token_digest TEXT UNIQUE,
    commitment TEXT,
    value TEXT,
    salt TEXT,
    refused INTEGER NOT NULL DEFAULT 0,
    UNIQUE (draw_id, position)
);
CREATE TABLE IF NOT EXISTS approval (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES event(id),
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    summary TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    state TEXT NOT NULL
        CHECK (state IN ('pending', 'running', 'confirmed', 'declined', 'withdrawn'))
);
CREATE TABLE IF NOT EXISTS result_rules (
    event_id INTEGER PRIMARY KEY REFERENCES event(id),
    config TEXT NOT NULL,
    set_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS written_entry (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES event(id),
    candidate_id INTEGER NOT NULL REFERENCES candidate(id),
    clerk TEXT NOT NULL,
    figure TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('typed', 'import')),
    leaf INTEGER NOT NULL,
    entered_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS written_resolution (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES event(id),
    candidate_id INTEGER NOT NULL UNIQUE REFERENCES candidate(id),
    decided_by TEXT NOT NULL,
    figure TEXT NOT NULL,
    reason TEXT NOT NULL,
    leaf INTEGER NOT NULL,
    decided_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS correction (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES event(id),
    stage TEXT NOT NULL CHECK (stage IN ('written', 'evaluation', 'interview')),
    candidate_id INTEGER NOT NULL REFERENCES candidate(id),
    old TEXT NOT NULL,
    new TEXT NOT NULL,
    reason TEXT NOT NULL,
    entered_by TEXT NOT NULL,
    confirmed_by TEXT NOT NULL,
    leaf INTEGER NOT NULL,
    applied_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results_publication (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES event(id),
    version INTEGER NOT NULL,
    leaf INTEGER NOT NULL,
    bundle_sha256 TEXT NOT NULL,
    bundle_file TEXT NOT NULL,
    head TEXT NOT NULL,
    published_at TEXT NOT NULL,
    UNIQUE (event_id, version)
);
CREATE TABLE IF NOT EXISTS log_leaf (
    event_id INTEGER NOT NULL REFERENCES event(id),
    idx INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (event_id, idx)
);
-- Views look up refused openings by type; without it each finished round scanned the log.
CREATE INDEX IF NOT EXISTS log_leaf_type ON log_leaf(type);
CREATE TABLE IF NOT EXISTS tree_head (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES event(id),
    size INTEGER NOT NULL,
    root TEXT NOT NULL,
    time TEXT NOT NULL,
    envelope TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    disposition TEXT NOT NULL CHECK (disposition IN ('accepted', 'refused')),
    detail TEXT NOT NULL DEFAULT '{}'
);
"""


# Sealed records and the log are facts: no UPDATE, no DELETE, ever (a correction is a new
# record). The database itself refuses, whatever code runs against it. Written marks as
# typed, the decisions on mismatches, confirmed corrections and publications of the
# results (docs/results.md) are facts of the same kind.
APPEND_ONLY = (
    "commitment",
    "opening",
    "log_leaf",
    "tree_head",
    "written_entry",
    "written_resolution",
    "correction",
    "results_publication",
)
SCHEMA += "".join(
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb} BEFORE {verb.upper()} ON {table}\n"
    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;\n"
    for table in APPEND_ONLY
    for verb in ("update", "delete")
)

# Democratic evaluation (民主测评). Unlinkability is built into the shapes
# (docs/threat-model.md, "Ballots"): a slip's token is kept only as its digest, in a
# table ordered by that digest (no rowid, no issuance order, no time); a cast ballot has
# a random key, its group and its marks, and no reference to any token, no time, no
# address. The token is spent by one atomic UPDATE in the ballot's own transaction.
SCHEMA += """
CREATE TABLE IF NOT EXISTS evaluation (
    event_id INTEGER PRIMARY KEY REFERENCES event(id),
    state TEXT NOT NULL CHECK (state IN ('setup', 'open', 'closed')),
    scheme TEXT NOT NULL,
    token_salt TEXT NOT NULL,
    candidates TEXT
);
CREATE TABLE IF NOT EXISTS evaluator_group (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id INTEGER NOT NULL REFERENCES event(id),
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    ballots INTEGER NOT NULL CHECK (ballots BETWEEN 0 AND 2000),
    weight TEXT,
    UNIQUE (event_id, name)
);
CREATE TABLE IF NOT EXISTS ballot_token (
    digest TEXT PRIMARY KEY,
    group_id INTEGER NOT NULL REFERENCES evaluator_group(id),
    spent INTEGER NOT NULL DEFAULT 0 CHECK (spent IN (0, 1))
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cast_ballot (
    id TEXT PRIMARY KEY,
    group_id INTEGER NOT NULL REFERENCES evaluator_group(id),
    marks TEXT NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS cast_ballot_no_update BEFORE UPDATE ON cast_ballot
BEGIN SELECT RAISE(ABORT, 'cast_ballot is append-only'); END;
CREATE TRIGGER IF NOT EXISTS cast_ballot_no_delete BEFORE DELETE ON cast_ballot
BEGIN SELECT RAISE(ABORT, 'cast_ballot is append-only'); END;
"""


def utcnow() -> str:
    """UTC timestamp with milliseconds, the one clock every record uses."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def off_the_hub(call: Callable[[], T]) -> T:
    """Run a blocking call (COMMIT waits for fsync; a password hash takes 0.1 s of CPU
    outside the GIL) in a real thread when gevent has patched this process, so its other
    connections are served meanwhile; else here."""
    if patched():
        import gevent

        return gevent.get_hub().threadpool.apply(call)  # type: ignore[no-any-return]
    return call()


class Remembered:
    """Values read from the database and kept in memory, for reads that every socket event
    makes first (the seat behind a credential, its device key): each would otherwise wait
    for the store's lock, which a batch holds while its COMMIT runs in a thread, and so
    put its event at the back of the hub's queue (docs/performance.md, section 14).

    Whoever changes what it holds calls ``forget`` inside that change's transaction. A
    value is kept only if no ``forget`` came after its read began (``generation``), so a
    read from before a change can never hide it once committed. Absent rows are not kept:
    guessing at credentials fills nothing."""

    def __init__(self) -> None:
        self._values: dict[Any, Any] = {}
        self._lock = threading.Lock()
        self.generation = 0  # read it before the read whose result ``keep`` gets

    def get(self, key: Any) -> Any:
        return self._values.get(key)

    def keep(self, generation: int, key: Any, value: Any) -> None:
        with self._lock:
            if generation == self.generation:
                self._values[key] = value

    def forget(self) -> None:
        with self._lock:
            self.generation += 1
            self._values = {}

    def read(self, key: Any, load: Callable[[], Any]) -> Any:
        """The value kept under ``key``, else ``load()``'s, kept unless it is None."""
        known = self.get(key)
        if known is not None:
            return known
        generation = self.generation
        value = load()
        if value is not None:
            self.keep(generation, key, value)
        return value


# How long work that is not urgent may be passed over by urgent work (Store._take).
PASS_OVER_S = 0.1


@dataclass
class _Job:
    """One submission waiting for its batch: its work, then its outcome."""

    work: Callable[[sqlite_utils.Database], Any]
    sender: Hashable = None  # whose submission: its order with the sender's others is kept
    urgent: bool = False  # someone waits on its ack now: it may go before others
    since: float = field(default_factory=time.monotonic)  # when it was queued
    wake: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # this caller runs the next batch
    finished: bool = False  # its batch committed (or failed): result or error is set
    result: Any = None
    error: BaseException | None = None


class Database(sqlite_utils.Database):
    """sqlite-utils' Database, whose ``query`` runs a plain SELECT as just that.

    sqlite-utils 4 wraps every ``query`` in ``SAVEPOINT`` … ``RELEASE`` so that a statement
    that turns out to return no rows can be undone before it raises: three statements per
    read, and a read costs twice what it does bare (24 against 9-13 µs measured). Every
    read here is a SELECT, which has nothing to undo; anything else still takes the
    guarded path."""

    def query(self, sql: str, params: Any = None) -> Iterator[dict[str, Any]]:
        if sql[:6].upper() != "SELECT":
            return super().query(sql, params)
        cursor = self.conn.execute(sql, () if params is None else params)
        keys = dedupe_keys(d[0] for d in cursor.description)
        return (dict(zip(keys, row, strict=True)) for row in cursor)

    # What a batch's jobs all read alike (the rubric), kept for that one transaction:
    # ``Store._commit_batch`` sets it at each BEGIN and drops it at the end. Inside the
    # transaction no other connection can change it; outside a batch it is None.
    batch_memo: dict[Any, Any] | None = None

    def per_batch(self, key: Any, load: Callable[[], T]) -> T:
        """``load()``, read once per batch when inside one, else every time."""
        memo = self.batch_memo
        if memo is None:
            return load()
        if key not in memo:
            memo[key] = load()
        return memo[key]


class Store:
    """The process's single SQLite connection and the lock that serialises its use."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: an acknowledged score must survive power loss, not only a process kill.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        self.db = Database(conn)
        self._lock = threading.RLock()
        # Group commit (``group``): submissions queued while a batch commits, and whether
        # some caller is running batches now.
        self._queue: list[_Job] = []
        self._queued = threading.Lock()
        self._leading = False
        # The server's signing key (set by the app) and each event's Merkle tree cache.
        self.server_key: Any = None
        self.trees: dict[int, Any] = {}
        self.seats = Remembered()  # enrolment: by credential digest, and device keys
        with self._lock:
            found = (
                conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'setting'"
                ).fetchone()
                and conn.execute(
                    "SELECT value FROM setting WHERE key = 'schema_version'"
                ).fetchone()
            )
            if found and found[0] != str(SCHEMA_VERSION):
                # No silent migration of an event's evidence: export it with the kiosk
                # that made it, and start the next event in a fresh instance folder.
                raise RuntimeError(
                    f"{self.path} holds schema version {found[0]}; this kiosk uses "
                    f"{SCHEMA_VERSION}. Export and verify it with the version that made it, "
                    "then use a new instance folder."
                )
            # executescript commits as it goes; every statement is IF NOT EXISTS.
            conn.executescript(SCHEMA)
        with self.write() as db:
            db.execute(
                "INSERT OR IGNORE INTO setting(key, value) VALUES ('schema_version', ?)",
                [str(SCHEMA_VERSION)],
            )

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """One transaction; COMMIT has happened (and fsynced) when the block exits. Inside
        another transaction (a write within a write, or a batch's job) it is a savepoint
        of that one."""
        with self._lock:
            if self.db.conn.in_transaction:
                with self.db.atomic():
                    yield self.db
                return
            self.db.execute("BEGIN")
            try:
                yield self.db
            except BaseException:
                self.db.rollback()
                raise
            self._commit()

    def _commit(self) -> None:
        """COMMIT, which waits for fsync, off the hub (``off_the_hub``): an organiser's
        act or a batch would otherwise stop every other connection for as long as the
        disk takes. If it fails, nothing of the transaction stays."""
        try:
            off_the_hub(lambda: self.db.execute("COMMIT"))
        except BaseException:
            self.db.rollback()
            raise

    def group(
        self,
        work: Callable[[sqlite_utils.Database], T],
        sender: Hashable = None,
        urgent: bool = False,
    ) -> T:
        """Run ``work`` in a transaction shared with the other submissions that arrived
        while the previous one committed: one COMMIT (one fsync) per batch instead of
        one each. Returns only after its batch's COMMIT, so whatever the caller then
        acknowledges is on disk. ``work`` runs in a savepoint of its own: if it raises,
        only its writes are undone and the exception reaches its caller alone.

        ``urgent`` work (a commitment: its rater watches for the ack) may go before the
        rest in a batch of its own (``_take``); one ``sender``'s submissions keep their
        order. No thread of its own: the first caller to find nobody committing runs the
        batch; when it is done it hands the next batch to one of those still waiting.
        """
        job = _Job(work, sender, urgent)
        with self._queued:
            self._queue.append(job)
            if not self._leading:
                self._leading = job.lead = True
        while not job.finished:
            if job.lead:
                job.lead = False  # handed back by _hand_over if it is still queued
                self._run_batch()
            else:
                job.wake.wait()  # its batch is done, or it must run the next one
                job.wake.clear()
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[no-any-return]

    def _take(self) -> list[_Job]:
        """The next batch: every queued job, or, when urgent jobs wait beside others, the
        urgent ones alone, so that a commitment is not held up by a round's 15 openings
        (their work and their larger COMMIT: docs/performance.md, section 17). Not if the
        sender also has an earlier job waiting (its sequence numbers must arrive in
        order), nor once a job passed over has waited ``PASS_OVER_S``: a stream of
        commitments (a burst) cannot hold the openings back for longer."""
        queue, self._queue = self._queue, []
        behind = {job.sender for job in queue if not job.urgent}
        first: list[_Job] = []
        rest: list[_Job] = []
        for job in queue:
            (first if job.urgent and job.sender not in behind else rest).append(job)
        if first and rest and time.monotonic() - rest[0].since < PASS_OVER_S:
            self._queue = rest
            return first
        return queue

    def _run_batch(self) -> None:
        """Take the next batch (``_take``), run each job in its savepoint, COMMIT once,
        then release them all; hand the queue that built up meanwhile to its first
        waiter."""
        with self._queued:
            batch = self._take()
        try:
            with self._lock:
                try:
                    self._commit_batch(batch)
                except BaseException as exc:  # noqa: BLE001 - then nobody is acknowledged
                    self.db.rollback()
                    for job in batch:
                        job.error = job.error or exc
        finally:
            self._hand_over(batch)  # nobody may be left waiting

    def _commit_batch(self, batch: list[_Job]) -> None:
        """One transaction: each job in a savepoint, then one COMMIT."""
        self.db.execute("BEGIN IMMEDIATE")
        self.db.batch_memo = {}
        kept: list[_Job] = []
        try:
            for job in batch:
                try:
                    with self.db.atomic():  # a savepoint inside the batch's transaction
                        job.result = job.work(self.db)
                    kept.append(job)
                except BaseException as exc:  # noqa: BLE001 - it belongs to that caller
                    job.error = exc
                if not self.db.conn.in_transaction:  # a fault undid the whole transaction
                    for lost in kept:
                        lost.error = RuntimeError("the batch's transaction was rolled back")
                    kept = []
                    self.db.execute("BEGIN IMMEDIATE")
                    self.db.batch_memo = {}  # a new transaction sees what others wrote since
        finally:
            self.db.batch_memo = None
        try:
            self._commit()
        except BaseException as exc:
            for job in kept:
                job.error = exc

    def _hand_over(self, batch: list[_Job]) -> None:
        """Release the batch's callers; the first one queued since runs the next batch."""
        with self._queued:
            following = self._queue[0] if self._queue else None
            if following is None:
                self._leading = False
            else:
                following.lead = True
        for job in batch:
            job.finished = True
            job.wake.set()
        if following is not None:
            following.wake.set()

    @contextmanager
    def read(self) -> Iterator[sqlite_utils.Database]:
        """Consistent reads under the same lock (one connection is not thread-safe alone)."""
        with self._lock:
            yield self.db

    def rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        with self.read() as db:
            return list(db.query(sql, params))

    def row(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def setting(self, key: str) -> str | None:
        found = self.row("SELECT value FROM setting WHERE key = ?", [key])
        return None if found is None else str(found["value"])

    def snapshot(self) -> bytes:
        """A consistent copy of the whole database file, taken with SQLite's online backup
        API through this one connection: no second connection (the WAL-reset race), and
        writers wait only for the copy itself (milliseconds for an event's database).

        The copy is marked a rollback-journal file (header bytes 18-19 = 1), as a file
        without its ``-wal`` must be; a Store opening it turns WAL back on."""
        copy = sqlite3.connect(":memory:")
        try:
            with self._lock:
                self.db.conn.backup(copy)
            data = bytearray(copy.serialize())
        finally:
            copy.close()
        if data[18:20] == b"\x02\x02":
            data[18:20] = b"\x01\x01"
        return bytes(data)

    def close(self) -> None:
        with self._lock:
            self.db.conn.close()

    def scrub(self) -> None:
        """Rewrite the database file and empty its write-ahead log, dropping the physical
        traces of write order (WAL frames, cells placed in insertion order, freed pages)
        that the tables themselves never hold (docs/threat-model.md, "Ballots")."""
        with self._lock:
            self.db.conn.execute("VACUUM")
            self.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
