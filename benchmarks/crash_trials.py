"""Crash trials: kill the server with SIGKILL under a load of submissions, restart it, and
check that nothing acknowledged was lost or doubled.

Each trial starts `kiosk serve` as a subprocess while Python tablets (``RaterClient``,
two rooms of five seats) score every candidate the organiser client calls, and kills it:

- ``random``: after a random delay, from outside;
- ``commit.before_commit``, ``commit.after_commit``, ``reveal.before_commit``,
  ``reveal.after_commit``: by the server itself at the N-th passage of that point
  (``KIOSK_CRASH_AT``, kiosk_server/faults.py), N random.

With the server dead, the database is checked as it lies on disk:

- ``PRAGMA integrity_check`` is ``ok``;
- every submission any tablet had acknowledged is there exactly once (its row, found by
  the seat's nonce, and its log leaf at the index its receipt named), and no envelope is
  in the log twice;
- the log verifies: every leaf hashes as stored, every signed head signs the root of a
  prefix of the log (so no signed-for entry was lost), the replay (signatures, bindings,
  sequence numbers, nonces, openings, results) finds nothing wrong.

Then the server is restarted, and the tablets must resume by themselves: reconnect and
empty their outboxes (what they re-send is answered as the first time). Every
``--per-session`` trials the event starts afresh; at the end of each session the event is
exported and the bundle verified as `kiosk export` + `kiosk verify` would.

Prints a JSON line per trial with ``--verbose`` and one summary line. Usage:

    .venv/bin/python benchmarks/crash_trials.py [--trials 200] [--seed 1] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from kiosk_server import create_app
from kiosk_server.auth import set_organiser_password
from kiosk_server.demo import write_setup
from kiosk_server.enrolment import issue_unissued_seats, pending_tokens
from kiosk_server.events import create_event
from kiosk_server.export import export_bundle
from kiosk_server.faults import POINTS
from kiosk_server.importer import import_setup
from kiosk_server.instance import DATABASE_FILE
from kiosk_server.interview import rubric
from kiosk_server.live import store, token_key
from kiosk_server.storage import Store
from rater_client import RaterClient, Refused
from rater_client.drill import OrganiserClient
from seal.merkle import Tree, leaf_hash
from seal.signing import load_private_key, load_public_key
from seal.verify import check_head, replay, verify_bundle

MODES = ("random", *sorted(POINTS))
ROOMS = [("A", "第一面试室", 5), ("B", "第二面试室", 5)]
PASSWORD = "crash-trials"
KIOSK = [sys.executable, "-u", "-c", "from kiosk_server.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- the event and its server -------------------------------------------------------------


def make_event(folder: Path, candidates: int) -> tuple[int, list[str]]:
    """A fresh instance: two rooms of five seats, ``candidates`` candidates; returns the
    event and its seat tokens."""
    app = create_app({"INSTANCE_PATH": str(folder)})
    with app.app_context():
        ev = create_event(store(), "崩溃试验 Crash trials", rehearsal=True)
        files = write_setup(folder / "setup", candidates=candidates, rooms=ROOMS)
        import_setup(store(), ev, {k: v for k, v in files.items() if k != "raters"})
        issue_unissued_seats(store(), token_key(), ev, "crash-trials")
        set_organiser_password(store(), PASSWORD)
        tokens = [s["token"] for s in pending_tokens(store(), token_key(), ev)["seats"]]
    store(app).close()
    return ev, tokens


class Server:
    """`kiosk serve` in a subprocess on a fixed port, its output kept in a log file."""

    def __init__(self, instance: Path, port: int) -> None:
        self.instance, self.port = instance, port
        self.url = f"http://127.0.0.1:{port}"
        self.log = instance / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, crash_at: str | None = None) -> None:
        env = {**os.environ, "KIOSK_INSTANCE_PATH": str(self.instance)}
        env.pop("KIOSK_CRASH_AT", None)
        if crash_at:
            env["KIOSK_CRASH_AT"] = crash_at
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*KIOSK, "serve", "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                requests.get(f"{self.url}/login", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def wait_dead(self, timeout: float) -> bool:
        """Whether the server died by itself (an armed crash point) within ``timeout``."""
        assert self.process is not None
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def tracebacks(self) -> int:
        return self.log.read_text(errors="replace").count("Traceback")


# --- the load ---------------------------------------------------------------------------


def random_sheet(rng: random.Random, items: list[Any]) -> dict[str, str]:
    """A valid sheet: every item a multiple of its step within its maximum."""
    return {i.code: str(i.step * rng.randint(0, int(i.max / i.step))) for i in items}


class Load:
    """The organiser calls and opens rounds; every tablet scores each open round once (and
    opens its sheet by itself when the round closes). Runs until stopped, across crashes."""

    def __init__(self, url: str, tokens: list[str], items: list[Any], seed: int) -> None:
        self.stop = threading.Event()
        self.items = items
        self.rng = random.Random(seed)
        self.refusals: list[str] = []
        # A short timeout: an act lost to a crash is retried from the next view.
        self.organiser = OrganiserClient(url, timeout=3)
        self.organiser.login(PASSWORD)
        self.raters = []
        for token in tokens:
            rater = RaterClient(url, timeout=60)
            rater.enrol(token)
            rater.connect()
            self.raters.append(rater)
        self.threads = [threading.Thread(target=self._organise, daemon=True)] + [
            threading.Thread(target=self._score, args=(r, self.rng.random()), daemon=True)
            for r in self.raters
        ]
        for thread in self.threads:
            thread.start()

    def _organise(self) -> None:
        while not self.stop.wait(0.05):
            view = self.organiser.view or {}
            for room in view.get("rooms", []):
                current = room["round"]
                try:
                    if (current is None or current["state"] == "closed") and room["waiting"]:
                        self.organiser.call_next(room["id"])
                    elif current is not None and current["state"] == "called":
                        self.organiser.open_round(current["id"])
                except Refused as exc:
                    if exc.code not in ("round_active", "round_not_called"):  # a stale view
                        self.refusals.append(f"organiser: {exc}")
                except Exception:  # noqa: BLE001 - the server is down: try again
                    time.sleep(0.1)

    def _score(self, rater: RaterClient, seed: float) -> None:
        rng = random.Random(seed)

        def due(state: dict[str, Any]) -> bool:
            current = state.get("round")
            return bool(
                current
                and current["state"] == "open"
                and current["seated"]
                and current["mine"] is None
                and current["id"] not in rater.openings  # not already sealed and waiting
            )

        while not self.stop.is_set():
            try:
                state = rater.wait_for(due, timeout=0.5)
                rater.submit(random_sheet(rng, self.items), round_id=state["round"]["id"])
            except TimeoutError:
                continue  # nothing to score, or the answer is still owed (kept in the outbox)
            except Refused as exc:
                if exc.code not in ("unknown_round", "round_closed"):  # the view moved on
                    self.refusals.append(f"seat {rater.seat}: {exc}")
            except Exception:  # noqa: BLE001 - the server is down: try again
                time.sleep(0.1)

    def acknowledged(self) -> list[dict[str, Any]]:
        return [a for r in self.raters for a in list(r.acknowledged)]

    def resumed(self, connects_before: list[int], server: Server, timeout: float) -> float | None:
        """Seconds until every tablet reconnected and emptied its outbox; None if the
        server died first (the next trial's crash point came during the re-sending)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if all(
                r.connects > before and not r.outbox
                for r, before in zip(self.raters, connects_before, strict=True)
            ):
                return time.monotonic() - started
            if server.process is not None and server.process.poll() is not None:
                return None
            time.sleep(0.05)
        return float("inf")  # up, yet the tablets did not resume: a failure

    def close(self, timeout: float = 30) -> int:
        """Stop scoring, give the tablets ``timeout`` to empty their outboxes, disconnect;
        returns how many submissions were still unanswered."""
        self.stop.set()
        deadline = time.monotonic() + timeout
        while any(r.outbox for r in self.raters) and time.monotonic() < deadline:
            time.sleep(0.05)
        unsent = sum(len(r.outbox) for r in self.raters)
        for client in (*self.raters, self.organiser):
            client.close()
        for thread in self.threads:
            thread.join(timeout=70)
        return unsent


# --- the checks, on the database as it lies on disk ---------------------------------------


def check_database(path: Path, event_id: int, acked: list[dict[str, Any]]) -> dict[str, Any]:
    """Integrity, every acknowledged submission exactly once, and the log up to its last
    signed head. Run only while no server holds the file."""
    failures: list[str] = []
    db = sqlite3.connect(path)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            failures.append(f"integrity_check: {integrity}")
        rows = db.execute(
            "SELECT idx, data, hash FROM log_leaf WHERE event_id = ? ORDER BY idx", [event_id]
        ).fetchall()
        heads = [
            json.loads(r[0])
            for r in db.execute(
                "SELECT envelope FROM tree_head WHERE event_id = ? ORDER BY id", [event_id]
            )
        ]
        stored = {
            (seat, nonce): count
            for seat, nonce, count in db.execute(
                "SELECT seat_id, nonce, COUNT(*) FROM commitment GROUP BY seat_id, nonce"
                " UNION ALL SELECT c.seat_id, o.nonce, COUNT(*) FROM opening o"
                " JOIN commitment c ON c.id = o.commitment_id GROUP BY c.seat_id, o.nonce"
            )
        }
    finally:
        db.close()
    tree, leaves, in_log = Tree(), [], {}
    for index, (idx, data, digest) in enumerate(rows):
        if idx != index or leaf_hash(data.encode()) != bytes(digest):
            failures.append(f"log leaf {idx} is out of place or does not hash as stored")
        tree.append_hash(leaf_hash(data.encode()))
        entry = json.loads(data)
        leaves.append(entry)
        envelope = entry["data"].get("envelope") if entry["disposition"] == "accepted" else None
        if isinstance(envelope, dict):
            key = (envelope["body"]["seat"], envelope["body"]["nonce"])
            in_log.setdefault(key, []).append(idx)
    server_key = load_public_key(leaves[0]["data"]["server_key"])
    for number, head in enumerate(heads, start=1):
        problem = check_head(server_key, head, tree, event_id)
        if problem:
            failures.append(f"signed head {number}: {problem}")
    failures += [f"envelope {k} logged {len(v)} times" for k, v in in_log.items() if len(v) > 1]
    failures += [f"envelope {k} stored {n} times" for k, n in stored.items() if n > 1]
    for ack in acked:
        key = (ack["seat"], ack["nonce"])
        if stored.get(key) != 1 or in_log.get(key) != [ack["leaf"]]:
            failures.append(
                f"acknowledged {ack['event']} {key} lost or misplaced: stored"
                f" {stored.get(key, 0)}, logged at {in_log.get(key)}, acked leaf {ack['leaf']}"
            )
    failures += replay(leaves, event_id).failures
    return {
        "integrity": integrity,
        "leaves": len(leaves),
        "heads": len(heads),
        "last_head": heads[-1]["body"]["size"] if heads else 0,
        "failures": failures,
    }


def verify_export(instance: Path, event_id: int) -> list[str]:
    """What `kiosk export` then `kiosk verify` say about the event (server stopped)."""
    st = Store(instance / DATABASE_FILE)
    try:
        st.server_key = load_private_key(str(instance / "server_key.pem"))
        bundle = export_bundle(st, event_id, actor="crash-trials")
    finally:
        st.close()
    return verify_bundle(bundle)


# --- the trials -------------------------------------------------------------------------


@dataclass
class Summary:
    trials: int = 0
    modes: dict[str, int] = field(default_factory=dict)
    points_not_reached: int = 0
    acknowledged: int = 0
    answered_as_repeat: int = 0
    failed_trials: int = 0
    failures: list[str] = field(default_factory=list)
    integrity_failures: int = 0
    server_tracebacks: int = 0
    refusals: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
    resume_s: list[float] = field(default_factory=list)
    not_resumed: int = 0
    resume_interrupted: int = 0  # the next trial's crash point was reached while re-sending
    exports_verified: int = 0
    seconds: float = 0.0

    def line(self) -> dict[str, Any]:
        resume = sorted(self.resume_s) or [0.0]
        return {
            "benchmark": "crash_trials",
            "trials": self.trials,
            "modes": self.modes,
            "points_not_reached": self.points_not_reached,
            "acknowledged": self.acknowledged,
            "answered_as_repeat": self.answered_as_repeat,
            "lost_or_doubled": sum("lost" in f or "times" in f for f in self.failures),
            "failed_trials": self.failed_trials,
            "integrity_failures": self.integrity_failures,
            "server_tracebacks": self.server_tracebacks,
            "refusals": len(self.refusals),
            "alarms": len(self.alarms),
            "alarm_samples": self.alarms[:3],
            "resume_p50_s": round(statistics.median(resume), 2),
            "resume_max_s": round(resume[-1], 2),
            "resumed": len(self.resume_s),
            "not_resumed": self.not_resumed,
            "resume_interrupted_by_next_crash": self.resume_interrupted,
            "exports_verified": self.exports_verified,
            "seconds": round(self.seconds, 1),
            "failures": self.failures[:10],
            "machine": f"{platform.machine()} {os.cpu_count()} cores",
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
        }


def run_session(
    folder: Path,
    trials: int,
    rng: random.Random,
    summary: Summary,
    verbose: bool,
    first_trial: int,
    max_up: float,
) -> None:
    """One fresh event through ``trials`` crashes and restarts, then a clean stop."""
    event_id, tokens = make_event(folder, candidates=trials * 10 + 20)
    app_items = _rubric(folder, event_id)
    server = Server(folder, free_port())
    modes = [MODES[(first_trial + i) % len(MODES)] for i in range(trials)]
    rng.shuffle(modes)
    server.start(_crash_spec(modes[0], rng))
    load = Load(server.url, tokens, app_items, rng.randrange(2**32))
    try:
        for number, mode in enumerate(modes):
            started = time.monotonic()
            if mode == "random":
                time.sleep(rng.uniform(0.2, max_up))
                server.kill()
                reached = True
            else:
                reached = server.wait_dead(timeout=30)
                if not reached:
                    server.kill()
            acked = load.acknowledged()
            checked = check_database(folder / DATABASE_FILE, event_id, acked)
            connects = [r.connects for r in load.raters]
            last = number == len(modes) - 1
            server.start(None if last else _crash_spec(modes[number + 1], rng))
            resumed = load.resumed(connects, server, timeout=60)
            summary.trials += 1
            summary.modes[mode] = summary.modes.get(mode, 0) + 1
            summary.points_not_reached += not reached
            summary.integrity_failures += checked["integrity"] != "ok"
            summary.failures += checked["failures"]
            summary.failed_trials += bool(checked["failures"])
            if resumed is None:
                summary.resume_interrupted += 1
            elif resumed == float("inf"):
                summary.not_resumed += 1
                stuck = [
                    f"seat {r.seat and r.seat['id']}: connects {r.connects - before},"
                    f" connected {r.sio.connected}, engine {r.sio.eio.state},"
                    f" outbox {len(r.outbox)}"
                    for r, before in zip(load.raters, connects, strict=True)
                    if r.connects <= before or r.outbox
                ]
                summary.failures.append(
                    f"trial {first_trial + number}: tablets did not resume: {'; '.join(stuck)}"
                )
            else:
                summary.resume_s.append(resumed)
            if verbose:
                record = {
                    "trial": first_trial + number,
                    "mode": mode,
                    "reached": reached,
                    "up_s": round(time.monotonic() - started, 2),
                    "acknowledged": len(acked),
                    "resume_s": None if resumed is None else round(resumed, 2),
                    **checked,
                }
                print(json.dumps(record, ensure_ascii=False), flush=True)
        time.sleep(1.0)  # a clean end: let the tablets finish what they hold
    finally:
        unsent = load.close()
        if server.process is not None and server.process.poll() is None:
            server.kill()
    acked = load.acknowledged()
    final = check_database(folder / DATABASE_FILE, event_id, acked)
    summary.failures += final["failures"]
    summary.acknowledged += len(acked)
    summary.answered_as_repeat += sum(bool(a["duplicate"]) for a in acked)
    summary.refusals += load.refusals
    if unsent:
        summary.failures.append(f"{unsent} submissions never answered after the last restart")
    summary.alarms += [a for r in load.raters for a in r.alarms]
    summary.server_tracebacks += server.tracebacks()
    exported = verify_export(folder, event_id)
    summary.failures += [f"export: {f}" for f in exported]
    summary.exports_verified += not exported


def _crash_spec(mode: str, rng: random.Random) -> str | None:
    return None if mode == "random" else f"{mode}@{rng.randint(1, 10)}"


def _rubric(folder: Path, event_id: int) -> list[Any]:
    st = Store(folder / DATABASE_FILE)
    try:
        with st.read() as db:
            return rubric(db, event_id)
    finally:
        st.close()


def run(
    trials: int, seed: int = 1, per_session: int = 20, verbose: bool = False, max_up: float = 3.0
) -> dict[str, Any]:
    """Run the trials in fresh events of ``per_session`` trials each; the summary line."""
    rng = random.Random(seed)
    summary = Summary()
    started = time.monotonic()
    done = 0
    while done < trials:
        count = min(per_session, trials - done)
        with tempfile.TemporaryDirectory(prefix="kiosk-crash-") as folder:
            run_session(Path(folder), count, rng, summary, verbose, done, max_up)
        done += count
    summary.seconds = time.monotonic() - started
    return summary.line()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--per-session", type=int, default=20)
    parser.add_argument("--max-up", type=float, default=3.0, help="longest random uptime, s")
    parser.add_argument("--verbose", action="store_true", help="a JSON line per trial")
    args = parser.parse_args()
    line = run(args.trials, args.seed, args.per_session, args.verbose, args.max_up)
    print(json.dumps(line, ensure_ascii=False), flush=True)
    bad = line["failed_trials"] or line["not_resumed"] or line["lost_or_doubled"]
    sys.exit(1 if bad or line["exports_verified"] == 0 else 0)


if __name__ == "__main__":
    main()
