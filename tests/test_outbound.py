"""Outbound connections: none. A whole session (server, tablets, observer, console export,
backup, CLI export and verify) runs with outbound traffic both blocked and watched:

- blocked: in a network namespace of its own (``unshare -n``, as root here and in CI),
  where loopback is the only network, so whatever the kiosk tried could not leave and
  a session that needed the outside would fail;
- watched: every Python process of the session loads ``tests/netguard`` as
  ``sitecustomize``, whose audit hook records, and refuses, any connect, send or name
  lookup aimed beyond loopback, and records every program started. The namespace alone
  would hide an attempt the kiosk shrugged off; the hook alone would miss native code.

Where ``unshare`` is not allowed (a developer without root), the hook still blocks and
records at the Python level.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
GUARD = Path(__file__).parent / "netguard"
PROBE = """
import socket
for attempt in (
    lambda: socket.socket().connect(("192.0.2.1", 9)),
    lambda: socket.getaddrinfo("kiosk-outbound-probe.example", 443),
):
    try:
        attempt()
    except PermissionError:
        pass
"""


def isolation() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []


def records(log: Path) -> list[dict[str, str]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_a_whole_session_makes_no_outbound_connection(tmp_path: Path) -> None:
    log = tmp_path / "netguard.jsonl"
    namespace = isolation()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(GUARD), str(ROOT)]),
        "KIOSK_NETGUARD_LOG": str(log),
        "KIOSK_NETNS": "1" if namespace else "0",
    }
    # The control: the guard sees and refuses an attempt at once (no packet is sent).
    subprocess.run([*namespace, sys.executable, "-c", PROBE], env=env, check=True, timeout=60)
    assert [(r["kind"], r["event"]) for r in records(log)] == [
        ("watching", ""),
        ("denied", "socket.connect"),
        ("denied", "socket.getaddrinfo"),
    ]
    log.unlink()

    folder = tmp_path / "session"
    folder.mkdir()
    done = subprocess.run(
        [*namespace, sys.executable, "-m", "tests.outbound_session", str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts == {
        "mean": "75.17",
        "alarms": [],
        "server_exit": 0,
        "verified": 2,
        "backups": 1,
        "periodic_backups": facts["periodic_backups"],
    }
    assert facts["periodic_backups"] >= 2  # at start and at the stop, at least
    seen = records(log)
    assert {r["kind"] for r in seen} <= {"watching", "spawned"}, seen
    watched = {r["detail"].split()[0] for r in seen if r["kind"] == "watching"}
    assert {str(folder), "tls", "serve", "backup", "export", "verify"} <= watched  # and driver
    programs = {r["detail"] for r in seen if r["kind"] == "spawned"}
    # Only the session's own kiosk commands (this interpreter) and `ip`, which reads the
    # laptop's addresses for the certificate; no curl, no browser, no helper.
    assert programs <= {Path(sys.executable).name, "ip"}, programs
