"""Power-loss trials: is every acknowledged write still there when the power goes?

The database lives on ``benchmarks/lazyfs.py``, a FUSE layer that keeps written bytes in
memory until the file is fsynced. A trial kills the writer with SIGKILL after it has
acknowledged some writes, then cuts the power (unmounts; pending bytes are lost, or a
random part of them lands, in any order), opens what is left on the backing folder and
checks ``PRAGMA integrity_check`` and that every acknowledged write is there.

- ``writer``: the kiosk's own ``Store`` (WAL) and ``audit.record``, one transaction per
  write, "ack N" printed after COMMIT returned. ``--synchronous FULL`` is the kiosk as
  shipped; ``NORMAL`` is the negative control: the same code with only that pragma
  changed, which must lose acknowledged writes, or the trial could not see a loss.
- ``server``: the real `kiosk serve` with its instance folder on the layer, Python
  tablets scoring under load (benchmarks/crash_trials.py), the same checks as the crash
  trials on the database as the power cut left it (every acknowledged submission exactly
  once, the log up to its last signed head).

Needs /dev/fuse, Debian's fuse3 and PyPI's mfusepy (installed by `make test`). Prints one
JSON line per setting. Usage:

    .venv/bin/python benchmarks/power_loss.py [--trials 20] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ACTION = "power_loss_ack"


def available() -> str | None:
    """Why the trials cannot run here, or None when they can."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    if shutil.which("fusermount3") is None:
        return "no fusermount3 (Debian's fuse3)"
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"mfusepy or libfuse3 missing: {exc}"
    return None


class Layer:
    """benchmarks/lazyfs.py mounted over a backing folder, in its own process."""

    def __init__(self, folder: Path, cut: str) -> None:
        self.backing, self.mount = folder / "disk", folder / "mnt"
        self.backing.mkdir(exist_ok=True)
        self.mount.mkdir(exist_ok=True)
        self.cut = cut
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Layer:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "lazyfs.py"), str(self.backing), str(self.mount)]
            + ["--cut", self.cut],
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        while not os.path.ismount(self.mount):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"lazyfs did not mount: {self.process.stderr.read()}")  # type: ignore[union-attr]
            time.sleep(0.05)
        return self

    def power_cut(self) -> dict[str, int]:
        """Unmount without fsync: what was pending is lost (or partly lands)."""
        assert self.process is not None
        for _ in range(50):
            if (
                subprocess.run(
                    ["fusermount3", "-u", str(self.mount)], capture_output=True
                ).returncode
                == 0
            ):
                break
            time.sleep(0.1)  # a killed process's files are still being closed
        else:
            subprocess.run(["fusermount3", "-uz", str(self.mount)], check=True)
        _out, err = self.process.communicate(timeout=30)
        lines = [line for line in err.splitlines() if line.startswith("{")]
        return json.loads(lines[-1].replace("'", '"')) if lines else {}

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            subprocess.run(["fusermount3", "-uz", str(self.mount)], capture_output=True)
            self.process.kill()
            self.process.communicate(timeout=10)


# --- the writer: the kiosk's Store, acknowledging after COMMIT ---------------------------


def writer(database: Path, synchronous: str) -> None:
    """Write and acknowledge until killed (run in a subprocess)."""
    from kiosk_server.audit import record
    from kiosk_server.storage import Store

    store = Store(database)
    if synchronous != "FULL":  # the negative control: the only difference
        store.db.conn.execute(f"PRAGMA synchronous={synchronous}")
    n = 0
    while True:
        n += 1
        with store.write() as db:
            record(db, "power-loss", ACTION, "accepted", n=n, padding="x" * 300)
        print(f"ack {n}", flush=True)  # COMMIT has returned: the write is acknowledged


def writer_trial(folder: Path, synchronous: str, cut: str, rng: random.Random) -> dict[str, Any]:
    """One writer killed after some acknowledgements, one power cut, one check."""
    command = [sys.executable, __file__, "--writer", str(folder / "mnt" / "kiosk.sqlite3")]
    with Layer(folder, cut) as layer:
        with subprocess.Popen(
            [*command, "--synchronous", synchronous], stdout=subprocess.PIPE, text=True
        ) as process:
            assert process.stdout is not None
            acked: set[int] = set()
            target = rng.randint(30, 400)
            for line in process.stdout:
                acked.add(int(line.split()[1]))
                if len(acked) >= target:
                    break
            process.send_signal(signal.SIGKILL)
            acked |= {int(line.split()[1]) for line in process.stdout}  # acked before death
        cut_report = layer.power_cut()
    db = sqlite3.connect(layer.backing / "kiosk.sqlite3")
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        present = {
            int(r[0])
            for r in db.execute(
                "SELECT json_extract(detail, '$.n') FROM audit WHERE action = ?", [ACTION]
            )
        }
    finally:
        db.close()
    return {
        "acked": len(acked),
        "lost": len(acked - present),
        "integrity": integrity,
        **cut_report,
    }


# --- the real server under load -----------------------------------------------------------


def server_trial(folder: Path, cut: str, rng: random.Random) -> dict[str, Any]:
    """`kiosk serve` on the layer with tablets scoring; SIGKILL, power cut, the crash
    trials' checks on what is left."""
    from benchmarks.crash_trials import Load, Server, check_database, free_port, make_event
    from kiosk_server.instance import DATABASE_FILE
    from kiosk_server.interview import rubric
    from kiosk_server.storage import Store

    backing = folder / "disk"
    event_id, tokens = make_event(backing, candidates=40)  # set up before the layer
    st = Store(backing / DATABASE_FILE)
    with st.read() as db:
        items = rubric(db, event_id)
    st.close()
    with Layer(folder, cut) as layer:
        server = Server(layer.mount, free_port())
        server.log = folder / "server.log"
        server.start()
        load = Load(server.url, tokens, items, rng.randrange(2**32))
        time.sleep(rng.uniform(1.0, 4.0))
        server.kill()
        acked = load.acknowledged()
        load.close(timeout=0)
        cut_report = layer.power_cut()
    checked = check_database(backing / DATABASE_FILE, event_id, acked)
    return {
        "acked": len(acked),
        "lost": sum("lost" in f for f in checked["failures"]),
        "integrity": checked["integrity"],
        "failures": checked["failures"][:5],
        **cut_report,
    }


def run(trials: int, seed: int = 1, server_trials: int = 3) -> list[dict[str, Any]]:
    """Every setting ``trials`` times; one summary per setting."""
    rng = random.Random(seed)
    settings: list[tuple[str, str]] = [
        ("FULL", "drop"),
        ("FULL", "some"),
        ("NORMAL", "drop"),
        ("NORMAL", "some"),
    ]
    lines = []
    for synchronous, cut in settings:
        results = []
        for _ in range(trials):
            spec = cut if cut == "drop" else f"some:{rng.randrange(2**32)}"
            with tempfile.TemporaryDirectory(prefix="kiosk-power-") as folder:
                results.append(writer_trial(Path(folder), synchronous, spec, rng))
        lines.append(summary("writer", synchronous, cut, results))
    results = []
    for number in range(server_trials):
        spec = "drop" if number % 2 == 0 else f"some:{rng.randrange(2**32)}"
        with tempfile.TemporaryDirectory(prefix="kiosk-power-") as folder:
            results.append(server_trial(Path(folder), spec, rng))
    if server_trials:
        lines.append(summary("server", "FULL", "drop+some", results))
    return lines


def summary(kind: str, synchronous: str, cut: str, results: list[dict[str, Any]]) -> dict:
    return {
        "benchmark": "power_loss",
        "writer": kind,
        "synchronous": synchronous,
        "cut": cut,
        "trials": len(results),
        "acked": sum(r["acked"] for r in results),
        "lost": sum(r["lost"] for r in results),
        "trials_with_loss": sum(r["lost"] > 0 for r in results),
        "integrity_failures": sum(r["integrity"] != "ok" for r in results),
        "pending_ops_at_cut": sum(r.get("pending_ops", 0) for r in results),
        "failures": [f for r in results for f in r.get("failures", [])][:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="per writer setting")
    parser.add_argument("--server-trials", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--writer", help=argparse.SUPPRESS)
    parser.add_argument("--synchronous", default="FULL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        writer(Path(args.writer), args.synchronous)
        return
    reason = available()
    if reason:
        sys.exit(f"power-loss trials cannot run here: {reason}")
    for line in run(args.trials, args.seed, args.server_trials):
        print(json.dumps(line, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    main()
