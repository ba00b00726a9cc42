"""Backups while the event runs, and restoring one onto a fresh instance folder.

A backup is one ``.tar`` file holding:

- ``kiosk.sqlite3``: a consistent copy of the database, taken with SQLite's online backup
  API through the server's own connection (``Store.snapshot``), so the one-connection
  rule holds and scoring never stops;
- the instance files needed to carry on *the same* event on another laptop: the secret
  (organiser sessions, reprintable enrolment codes), the server's signing key (tablets
  and monitors already trust its heads), the local CA and server certificate (tablets
  keep trusting the kiosk), and ``config.py``;
- ``backup.json``: SHA-256 of every member, the copy's ``PRAGMA integrity_check`` and
  each event's log size, so a restore can check it and a clerk can read it.

It therefore holds keys: whoever has the file can act as this kiosk. Members are mode
0600 and folders 0700, and the file should be kept like the sealed papers.

Only the server touches its database: ``kiosk serve`` holds a lock on the instance and
answers backup requests on a Unix socket in the instance folder (mode 0600; the
folder is 0700), so ``kiosk backup`` during the event asks the server for the copy
instead of opening a second connection. With no server running, the command holds the
same lock and opens the database itself.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
import os
import socket
import sqlite3
import struct
import tarfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask

from .instance import DATABASE_FILE, SECRET_FILE, SERVER_KEY_FILE
from .storage import Store, off_the_hub, utcnow
from .tls import CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY, TLS_DIR

log = logging.getLogger(__name__)

FORMAT = "kiosk-backup/1"
MANIFEST = "backup.json"
PREFIX, SUFFIX = "kiosk-backup-", ".tar"
INSTANCE_FILES = (
    SECRET_FILE,
    SERVER_KEY_FILE,
    "config.py",
    *(f"{TLS_DIR}/{name}" for name in (CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY)),
)
LOCK_FILE = "serve.lock"
CONTROL_FILE = "control.sock"
MAX_REQUEST = 64


class BackupFault(RuntimeError):
    """A backup or restore that cannot be made; the message says what to do."""


class InstanceBusy(BackupFault):
    """Another process is serving this instance."""


@dataclass(frozen=True)
class Schedule:
    """Periodic backups: every ``every_s`` seconds into each folder, the last ``keep`` kept."""

    folders: tuple[Path, ...]
    every_s: float
    keep: int


# --- the archive ---------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _inspect(database: bytes) -> dict[str, Any]:
    """Integrity and each event's log size, read from a copy in memory."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(database)
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        events = [
            {"id": row[0], "name": row[1], "log_size": row[2]}
            for row in conn.execute(
                "SELECT id, name, (SELECT COUNT(*) FROM log_leaf WHERE event_id = event.id)"
                " FROM event ORDER BY id"
            )
        ]
    except sqlite3.DatabaseError as exc:
        raise BackupFault(f"the database copy is not readable: {exc}") from None
    finally:
        conn.close()
    return {"integrity": integrity, "events": events}


def make_archive(store: Store, instance: Path) -> tuple[bytes, dict[str, Any]]:
    """The backup file's bytes and its manifest. Refuses a copy that fails SQLite's
    integrity check, so a damaged copy never pushes a good one out of rotation.

    Only the copy is taken here; checking and packing it (a second or more for a big
    event's database) run off gevent's hub, so tablets are answered meanwhile."""
    database = store.snapshot()
    return off_the_hub(lambda: _archive(database, instance))


def _archive(database: bytes, instance: Path) -> tuple[bytes, dict[str, Any]]:
    members = {DATABASE_FILE: database}
    for name in INSTANCE_FILES:
        if (instance / name).is_file():
            members[name] = (instance / name).read_bytes()
    inspected = _inspect(members[DATABASE_FILE])
    if inspected["integrity"] != "ok":
        raise BackupFault(f"integrity check of the copy failed: {inspected['integrity']}")
    manifest = {
        "format": FORMAT,
        "created": utcnow(),
        "files": {name: _sha256(data) for name, data in members.items()},
        **inspected,
    }
    buffer = io.BytesIO()
    now = datetime.now(UTC).timestamp()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        manifest_bytes = json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8")
        for name, data in {MANIFEST: manifest_bytes, **members}.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o600, now
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), manifest


def read_archive(data: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and members of a backup, every member checked against the manifest."""
    allowed = {MANIFEST, DATABASE_FILE, *INSTANCE_FILES}
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for info in tar:
                if info.name not in allowed or not info.isfile() or info.name in members:
                    raise BackupFault(f"unexpected member {info.name!r}: not a kiosk backup")
                handle = tar.extractfile(info)
                assert handle is not None  # a regular file always has one
                members[info.name] = handle.read()
    except tarfile.TarError as exc:
        raise BackupFault(f"not a readable backup file: {exc}") from None
    try:
        manifest = json.loads(members.pop(MANIFEST))
    except (KeyError, ValueError):
        raise BackupFault("the backup has no readable backup.json") from None
    if manifest.get("format") != FORMAT:
        raise BackupFault(f"unknown backup format {manifest.get('format')!r}")
    files = manifest.get("files") or {}
    if set(files) != set(members) or DATABASE_FILE not in members:
        raise BackupFault("the backup's files do not match its backup.json")
    for name, data_ in members.items():
        if _sha256(data_) != files[name]:
            raise BackupFault(f"{name} in the backup is damaged (SHA-256 differs)")
    return manifest, members


def archive_name(now: datetime | None = None) -> str:
    """kiosk-backup-20261125T093000.123Z.tar (UTC): names sort in time order, and an
    on-demand backup a moment after a periodic one does not replace it."""
    now = now or datetime.now(UTC)
    return f"{PREFIX}{now:%Y%m%dT%H%M%S}.{now.microsecond // 1000:03d}Z{SUFFIX}"


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (FAT on a USB stick) cannot sync a folder
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> Path:
    """Write ``path`` so that it is either absent or whole: a temporary file in the same
    folder (mode 0600), fsync, rename over, fsync the folder. A pulled USB stick or a
    power cut leaves at most a stray temporary file, never a half backup."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def prune(folder: Path, keep: int) -> list[Path]:
    """Remove all but the newest ``keep`` backups in ``folder``; returns the removed."""
    found = sorted(folder.glob(f"{PREFIX}*{SUFFIX}"))
    removed = found[: max(0, len(found) - keep)]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


# --- who may touch the database ----------------------------------------------------------


def hold_instance(instance: Path) -> int:
    """Lock the instance for this process (released when it exits, even on kill -9); the
    returned descriptor holds the lock. Two servers on one database would be two
    connections, and two writers."""
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(instance / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise InstanceBusy(
            f"another kiosk server is running on {instance} (stop it first, "
            "e.g. systemctl stop kiosk)"
        ) from None
    return fd


def _peer_uid(conn: socket.socket) -> int:
    """The user id of the process at the other end (Linux ``SO_PEERCRED``)."""
    fmt = "3i"  # struct ucred: pid, uid, gid
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize(fmt))
    return int(struct.unpack(fmt, raw)[1])


def _answer(app: Flask, conn: socket.socket) -> None:
    from .audit import record
    from .live import store

    conn.settimeout(10)
    request = conn.recv(MAX_REQUEST).strip()
    uid = _peer_uid(conn)
    if uid not in (0, os.getuid()):
        conn.sendall(b"ERR not allowed\n")
        return
    if request != b"backup":
        conn.sendall(b"ERR unknown request\n")
        return
    try:
        with store(app).write() as db:
            record(db, "cli", "backup", "accepted", uid=uid)
        data, _manifest = make_archive(store(app), Path(app.instance_path))
    except BackupFault as exc:
        conn.sendall(f"ERR {exc}\n".encode())
        return
    conn.sendall(b"OK %d\n" % len(data) + data)


def serve_control(app: Flask, stop: threading.Event) -> threading.Thread | None:
    """Answer ``kiosk backup`` on the instance's Unix socket until ``stop``. None when the
    socket cannot be made (e.g. a path over the kernel's 107 bytes): the command then
    refuses rather than open a second connection."""
    path = Path(app.instance_path) / CONTROL_FILE
    path.unlink(missing_ok=True)  # a stale socket of a killed server: we hold the lock
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mask = os.umask(0o177)
    try:
        listener.bind(str(path))
    except OSError as exc:
        listener.close()
        log.warning("no backup control socket at %s: %s", path, exc)
        return None
    finally:
        os.umask(mask)
    listener.listen(4)
    listener.settimeout(0.5)

    def loop() -> None:
        with listener:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                with conn:
                    try:
                        _answer(app, conn)
                    except Exception as exc:  # noqa: BLE001 - one bad request must not end it
                        log.error("backup request failed: %s", type(exc).__name__)
        path.unlink(missing_ok=True)

    thread = threading.Thread(target=loop, daemon=True, name="kiosk-control")
    thread.start()
    return thread


def request_backup(instance: Path, timeout: float = 120) -> bytes | None:
    """Ask the server running on ``instance`` for a backup; None when none answers."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout)
    with client:
        try:
            client.connect(str(instance / CONTROL_FILE))
        except (FileNotFoundError, ConnectionRefusedError):
            return None
        client.sendall(b"backup\n")
        stream = client.makefile("rb")
        head = stream.readline().decode("utf-8", "replace").strip()
        if not head.startswith("OK "):
            raise BackupFault(f"the server refused the backup: {head[4:] or 'no answer'}")
        size = int(head[3:])
        data = stream.read(size)
    if len(data) != size:
        raise BackupFault("the server's backup was cut short; try again")
    return data


def backup_now(instance: Path) -> bytes:
    """A backup of ``instance`` from its running server, or, with none running, from the
    database opened here under the server's lock."""
    data = request_backup(instance)
    if data is not None:
        return data
    if not (instance / DATABASE_FILE).is_file():
        raise BackupFault(f"no kiosk instance at {instance} (set KIOSK_INSTANCE_PATH)")
    try:
        lock = hold_instance(instance)
    except InstanceBusy:
        raise BackupFault(
            "a server is running on this instance but its control socket does not "
            "answer; use its periodic backups (kiosk serve --backup-dir)"
        ) from None
    try:
        from . import create_app
        from .audit import record
        from .live import store

        app = create_app({"INSTANCE_PATH": str(instance)})
        try:
            with store(app).write() as db:
                record(db, "cli", "backup", "accepted", uid=os.getuid())
            return make_archive(store(app), instance)[0]
        finally:
            store(app).close()
    finally:
        os.close(lock)


# --- periodic backups while serving --------------------------------------------------------


def start_periodic(
    app: Flask, schedule: Schedule, stop: threading.Event, report: Callable[[str], None]
) -> threading.Thread:
    """Back up at start, every ``schedule.every_s`` seconds, and once more at ``stop``.
    A failed backup is reported and retried next time; it never stops the event."""
    from .live import store

    def once() -> None:
        try:
            data, manifest = make_archive(store(app), Path(app.instance_path))
        except Exception as exc:  # noqa: BLE001 - report, keep serving
            log.error("backup failed: %s", exc if isinstance(exc, BackupFault) else type(exc))
            return
        name = archive_name()
        for folder in schedule.folders:
            try:  # a USB stick's fsync can take seconds: off the hub that serves tablets
                path = off_the_hub(lambda f=folder: write_atomically(f / name, data))
                off_the_hub(lambda f=folder: prune(f, schedule.keep))
            except OSError as exc:
                log.error("backup to %s failed: %s", folder, exc)
                continue
            sizes = ", ".join(
                f"event {e['id']}: {e['log_size']} log entries" for e in manifest["events"]
            )
            report(f"backup written: {path} ({len(data)} bytes; {sizes or 'no event'})")

    def loop() -> None:
        once()
        while not stop.wait(schedule.every_s):
            once()
        once()  # the last state, on a clean stop

    thread = threading.Thread(target=loop, daemon=True, name="kiosk-backup")
    thread.start()
    return thread


# --- restore -------------------------------------------------------------------------------


def restore(archive: Path, target: Path) -> dict[str, Any]:
    """Unpack a checked backup into ``target`` (new or empty), files 0600, folders 0700,
    and append ``instance_restored`` to each event's log: the bundle then shows that
    whatever happened after the backup was lost. Returns the manifest and the file's
    SHA-256."""
    data = archive.read_bytes()
    manifest, members = read_archive(data)
    if manifest.get("integrity") != "ok" or _inspect(members[DATABASE_FILE])["integrity"] != "ok":
        raise BackupFault("the database in the backup fails SQLite's integrity check")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupFault(f"{target} is not empty: restore into a new folder")
    if target.exists():
        # An empty folder made for the service (its parent may not be ours to write):
        # fill it file by file, the database last, so an interrupted restore leaves no
        # database to serve.
        for name in sorted(members, key=lambda n: n == DATABASE_FILE):
            (target / name).parent.mkdir(mode=0o700, exist_ok=True)
            write_atomically(target / name, members[name])
    else:  # a new folder appears whole or not at all
        stage = target.parent / f".{target.name}.restoring-{os.getpid()}"
        stage.mkdir(mode=0o700, parents=True)
        for name, content in members.items():
            (stage / name).parent.mkdir(mode=0o700, exist_ok=True)
            write_atomically(stage / name, content)
        os.replace(stage, target)
    os.chmod(target, 0o700)
    digest = _sha256(data)
    from .audit import record

    store = Store(target / DATABASE_FILE)
    try:
        with store.write() as db:
            for event in manifest["events"]:
                record(
                    db,
                    "cli",
                    "instance_restored",
                    "accepted",
                    event=event["id"],
                    backup_created=manifest["created"],
                    backup_sha256=digest,
                    log_size_at_backup=event["log_size"],
                )
    finally:
        store.close()
    return {**manifest, "sha256": digest}
