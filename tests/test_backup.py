"""Backups while the event runs, and the restore drill: a real server scoring, a backup
taken live, restored into a new instance, served, exported and verified."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest
from flask import Flask

from kiosk_server.backup import (
    CONTROL_FILE,
    BackupFault,
    InstanceBusy,
    Schedule,
    archive_name,
    hold_instance,
    make_archive,
    prune,
    read_archive,
    restore,
    start_periodic,
    write_atomically,
)
from kiosk_server.live import store
from rater_client import RaterClient
from rater_client.drill import OrganiserClient

from .conftest import PASSWORD, Event, run_kiosk, sheet
from .test_live_server import free_port, round_is, start_server


def kiosk_env(instance: Path) -> dict[str, str]:
    return {**os.environ, "KIOSK_INSTANCE_PATH": str(instance)}


def serve(instance: Path, *options: str) -> tuple[subprocess.Popen, str]:
    """`kiosk serve` on a free loopback port: the process and its address."""
    port = free_port()
    return start_server(instance, port, *options), f"http://127.0.0.1:{port}"


def integrity(database: Path) -> str:
    with sqlite3.connect(database) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def test_restore_drill_from_a_backup_taken_while_raters_submit(
    app: Flask, event: Event, tmp_path: Path
) -> None:
    instance = Path(app.instance_path)
    store(app).close()  # the server owns the database from here
    usb = tmp_path / "usb"
    server, url = serve(instance, "--backup-dir", str(usb), "--backup-every", "0.05")
    organiser = OrganiserClient(url, timeout=20)
    raters = {(room, n): RaterClient(url, timeout=20) for room, n in [*event.seat_tokens]}
    stop, acked, failures = threading.Event(), [], []
    try:
        organiser.login(PASSWORD)
        for (room, n), rater in raters.items():
            rater.enrol(event.token(room, n))
            rater.connect()
        # Room B: a whole round, closed and published before the backup.
        closed_b = organiser.call_next(organiser.room("B")["id"])
        organiser.open_round(closed_b)
        for n, analysis in zip((1, 2, 3), ("30", "35.5", "40"), strict=True):
            raters[("B", n)].wait_for(round_is("open", closed_b))
            raters[("B", n)].submit(sheet(analysis, "20", "20"))
        organiser.wait_for(lambda v: (v["rooms"][1]["round"] or {}).get("result") is not None)
        # Room A: four of five raters keep replacing their sheets while the backup runs.
        open_a = organiser.call_next(organiser.room("A")["id"])
        organiser.open_round(open_a)
        busy = [raters[("A", n)] for n in (1, 2, 3, 4)]
        for rater in busy:
            rater.wait_for(round_is("open", open_a))

        def submit_all_along() -> None:
            rng = random.Random(7)
            while not stop.is_set():
                rater = rng.choice(busy)
                try:
                    ack = rater.submit(sheet(str(rng.randrange(0, 81) / 2), "20", "20"))
                except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                    failures.append(repr(exc))
                    return
                acked.append((rater.seat["id"], ack["version"], time.monotonic()))
                time.sleep(0.05)  # within the socket token bucket

        submitter = threading.Thread(target=submit_all_along)
        submitter.start()
        time.sleep(1.0)
        backup_started = time.monotonic()
        made = run_kiosk("backup", "--to", str(usb), env=kiosk_env(instance))
        backup_done = time.monotonic()
        time.sleep(0.5)  # scores keep coming after the backup too
        stop.set()
        submitter.join(timeout=30)
        assert made.returncode == 0, made.stderr
        assert not failures, failures
        before = {(seat, version) for seat, version, at in acked if at < backup_started}
        after = {(seat, version) for seat, version, at in acked if at > backup_done}
        assert len(before) >= 5 and after
        backup = Path(made.stdout.split()[1])
        assert backup.parent == usb and backup.stat().st_mode & 0o777 == 0o600
        periodic = sorted(usb.glob("kiosk-backup-*.tar"))
        assert len(periodic) >= 2  # the one made at start, and ours
        for client in (*raters.values(), organiser):
            client.close()
        server.send_signal(signal.SIGKILL)  # the laptop dies
        server.wait(timeout=10)

        restored = tmp_path / "spare-laptop"
        done = run_kiosk("restore", str(backup), "--to", str(restored), env=os.environ.copy())
        assert done.returncode == 0, done.stderr
        database = restored / "kiosk.sqlite3"
        assert integrity(database) == "ok"
        with sqlite3.connect(database) as db:
            kept = set(db.execute("SELECT seat_id, version FROM commitment").fetchall())
        assert before <= kept  # every sheet acknowledged before the backup is there
        assert restored.stat().st_mode & 0o777 == 0o700
        for name in ("secret_key", "server_key.pem", "kiosk.sqlite3"):
            assert (restored / name).stat().st_mode & 0o777 == 0o600

        # The spare laptop carries on the same event: same password, same tablets.
        server, url = serve(restored)
        organiser = OrganiserClient(url, timeout=20)
        organiser.login(PASSWORD)
        board = organiser.wait_for(lambda v: True)
        assert board["rooms"][1]["round"]["result"]["mean"] == "75.17"
        resumed = []
        for n in (1, 2, 3, 4, 5):
            old = raters[("A", n)]
            rater = RaterClient(url, credential=old.credential, timeout=20)
            rater.device, rater.server_key = old.device, old.server_key
            rater.connect()
            resumed.append(rater)
        for n, rater in enumerate(resumed, start=1):
            rater.wait_for(round_is("open", open_a))
            rater.submit(sheet(str(30 + n), "20", "20"))  # lost sheets are submitted again
        view = organiser.wait_for(
            lambda v: (v["rooms"][0]["round"] or {}).get("result") is not None, timeout=30
        )
        assert view["rooms"][0]["round"]["result"]["mean"] == "73.00"  # 72, 73, 74 counted
        assert not any(r.alarms for r in resumed)
        for client in (*resumed, organiser):
            client.close()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        assert integrity(database) == "ok"

        bundle = tmp_path / "evidence.zip"
        exported = run_kiosk("export", "--out", str(bundle), env=kiosk_env(restored))
        assert exported.returncode == 0, exported.stderr
        verified = run_kiosk("verify", str(bundle), env=os.environ.copy())
        assert verified.returncode == 0, verified.stdout
        import zipfile

        log_lines = zipfile.ZipFile(bundle).read("log.jsonl").decode().splitlines()
        assert sum(json.loads(line)["type"] == "instance_restored" for line in log_lines) == 1
    finally:
        stop.set()
        server.kill()
        server.wait(timeout=10)


def test_a_damaged_or_foreign_backup_is_refused_and_nothing_is_restored(
    app: Flask, event: Event, tmp_path: Path
) -> None:
    data, manifest = make_archive(store(app), Path(app.instance_path))
    assert manifest["integrity"] == "ok" and manifest["events"][0]["log_size"] > 0
    _manifest, members = read_archive(data)
    assert {"kiosk.sqlite3", "secret_key", "server_key.pem"} <= set(members)
    damaged = bytearray(data)
    start = data.index(members["kiosk.sqlite3"][:512])
    damaged[start + 4000] ^= 0x01  # one bit of the database
    path = tmp_path / "damaged.tar"
    path.write_bytes(bytes(damaged))
    with pytest.raises(BackupFault, match="damaged"):
        restore(path, tmp_path / "target")
    assert not (tmp_path / "target").exists()
    foreign = tmp_path / "foreign.tar"
    with tarfile.open(foreign, "w") as tar:
        tar.add(__file__, arcname="../../etc/cron.d/x")
    with pytest.raises(BackupFault, match="unexpected member"):
        restore(foreign, tmp_path / "target")
    good = tmp_path / "good.tar"
    good.write_bytes(data)
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "kiosk.sqlite3").write_bytes(b"today's database")
    with pytest.raises(BackupFault, match="not empty"):
        restore(good, occupied)
    assert (occupied / "kiosk.sqlite3").read_bytes() == b"today's database"
    assert restore(good, tmp_path / "fresh")["integrity"] == "ok"
    made_for_the_service = tmp_path / "var-lib-kiosk"
    made_for_the_service.mkdir(mode=0o755)
    assert restore(good, made_for_the_service)["integrity"] == "ok"
    assert made_for_the_service.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in made_for_the_service.iterdir()) == sorted(members)


def test_periodic_backups_are_whole_files_and_only_the_last_n_are_kept(
    app: Flask, event: Event, tmp_path: Path
) -> None:
    folders = (tmp_path / "usb", tmp_path / "disk")
    stop = threading.Event()
    thread = start_periodic(app, Schedule(folders, 0.05, 3), stop, report=lambda _: None)
    time.sleep(0.6)
    stop.set()
    thread.join(timeout=10)
    for folder in folders:
        names = sorted(p.name for p in folder.iterdir())
        assert len(names) == 3 and all(n.startswith("kiosk-backup-") for n in names), names
        assert folder.stat().st_mode & 0o777 == 0o700
        for path in folder.iterdir():
            assert path.stat().st_mode & 0o777 == 0o600
            assert read_archive(path.read_bytes())[0]["integrity"] == "ok"
    newest = write_atomically(tmp_path / "p" / archive_name(), b"newest")
    assert list((tmp_path / "p").iterdir()) == [newest]  # no temporary file left behind
    (tmp_path / "p" / "kiosk-backup-19990101T000000.000Z.tar").write_bytes(b"old")
    (tmp_path / "p" / "notes.txt").write_text("the clerk's own file")
    assert [p.name for p in prune(tmp_path / "p", 1)] == ["kiosk-backup-19990101T000000.000Z.tar"]
    assert (tmp_path / "p" / "notes.txt").exists()


def test_one_server_per_instance_and_no_second_connection_behind_its_back(
    app: Flask, event: Event, tmp_path: Path
) -> None:
    instance = Path(app.instance_path)
    lock = hold_instance(instance)  # as a server does, here without a control socket
    try:
        with pytest.raises(InstanceBusy):
            hold_instance(instance)
        refused = run_kiosk("backup", "--to", str(tmp_path), env=kiosk_env(instance))
        assert refused.returncode != 0 and "control socket" in refused.stderr
        busy = run_kiosk("serve", "--port", str(free_port()), env=kiosk_env(instance))
        assert busy.returncode != 0 and "another kiosk server" in busy.stderr
    finally:
        os.close(lock)
    store(app).close()
    alone = run_kiosk("backup", "--to", str(tmp_path / "b.tar"), env=kiosk_env(instance))
    assert alone.returncode == 0, alone.stderr
    assert "event 1 (测试竞争上岗)" in alone.stdout
    assert not (instance / CONTROL_FILE).exists()
