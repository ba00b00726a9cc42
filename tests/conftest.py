"""Fixtures that read like the domain: an event with two rooms, raters, observers, organiser."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from kiosk_server import create_app
from kiosk_server.auth import set_organiser_password
from kiosk_server.enrolment import issue_observer, issue_unissued_seats, pending_tokens
from kiosk_server.events import create_event
from kiosk_server.importer import import_setup
from kiosk_server.live import pushes, store, token_key
from rater_client.drill import Picture

PASSWORD = "correct horse battery staple"
# Room A has 5 seats (the drop rule applies), room B has 3.
ROOMS = [["A", "第一面试室", 5], ["B", "第二面试室", 3]]
RUBRIC = [
    ["analysis", "综合分析能力", "Analysis", "40", "0.5"],
    ["expression", "言语表达能力", "Expression", "30", "0.5"],
    ["bearing", "举止仪表", "Bearing", "30", "1"],
]
CANDIDATES = [
    ["R001", "王伟", "党政办", "P1", "P2"],
    ["R002", "李娜", "财政所", "P2", ""],
    ["R003", "张敏", "综治中心", "P1", ""],
    ["R004", "刘洋", "农业中心", "P2", "P1"],
    ["R005", "陈静", "党政办", "P1", ""],
    ["R006", "杨帆", "财政所", "P2", ""],
]
DRAW = [[1, "R003", "A"], [2, "R001", "A"], [3, "R004", "A"], [4, "R002", "B"], [5, "R006", "B"]]


def write_csv(path: Path, rows: list[list[Any]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def setup_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(exist_ok=True)
    return {
        "rooms": write_csv(folder / "rooms.csv", [["code", "name", "seats"], *ROOMS]),
        "posts": write_csv(
            folder / "posts.csv",
            [["code", "name", "seats"], ["P1", "党政办公室主任", 1], ["P2", "财政所所长", 1]],
        ),
        "rubric": write_csv(
            folder / "rubric.csv", [["code", "label_zh", "label_en", "max", "step"], *RUBRIC]
        ),
        "candidates": write_csv(
            folder / "candidates.csv",
            [["reg_no", "name", "unit", "preference1", "preference2"], *CANDIDATES],
        ),
        "draw": write_csv(folder / "draw.csv", [["draw_number", "reg_no", "room"], *DRAW]),
    }


class Event:
    """The set-up event and the secrets a test needs to act as each audience."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        with app.app_context():
            self.id = create_event(store(), "测试竞争上岗")
            import_setup(store(), self.id, setup_files(Path(app.instance_path) / "setup"))
            issue_unissued_seats(store(), token_key(), self.id, "test")
            self.observer_token = issue_observer(store(), token_key(), self.id, "纪委", "test")
            set_organiser_password(store(), PASSWORD)
            pending = pending_tokens(store(), token_key(), self.id)
        self.seat_tokens = {(s["code"], s["number"]): s["token"] for s in pending["seats"]}
        self.rooms = {
            r["code"]: r["id"] for r in store(app).rows("SELECT id, code FROM room ORDER BY code")
        }

    def token(self, room: str, number: int) -> str:
        return self.seat_tokens[(room, number)]

    def refresh_token(self, room: str, number: int) -> str:
        with self.app.app_context():
            pending = pending_tokens(store(), token_key(), self.id)
        found = {(s["code"], s["number"]): s["token"] for s in pending["seats"]}
        return found[(room, number)]

    def audit(self, action: str | None = None) -> list[dict[str, Any]]:
        """Every record: the event's log leaves, then the instance's audit lines, as
        ``{"action", "disposition", "detail"}`` with ``detail`` as JSON text."""
        rows = [
            {
                "action": r["type"],
                "disposition": json.loads(r["data"])["disposition"],
                "detail": json.dumps(json.loads(r["data"])["data"], ensure_ascii=False),
            }
            for r in store(self.app).rows("SELECT * FROM log_leaf ORDER BY event_id, idx")
        ] + store(self.app).rows("SELECT action, disposition, detail FROM audit ORDER BY id")
        return [r for r in rows if action is None or r["action"] == action]

    def sheets(self) -> list[dict[str, Any]]:
        """Commitments and openings, everything a tablet has had accepted."""
        return store(self.app).rows(
            "SELECT c.id, c.round_id, c.seat_id, c.version, c.kind, c.digest, o.total"
            " FROM commitment c LEFT JOIN opening o ON o.commitment_id = c.id ORDER BY c.id"
        )


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True})
    yield app
    pushes(app).settle()  # a screen push still building would find the store closed
    store(app).close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """A failed test that ran `kiosk serve` shows the server's own log beside its
    traceback: a CI run on a fresh machine leaves nothing else to read afterwards."""
    report = yield
    app = getattr(item, "funcargs", {}).get("app")
    if report.failed and isinstance(app, Flask):
        log = Path(app.instance_path) / "server.log"
        if log.exists():
            report.sections.append(("kiosk serve: server.log", log.read_text()[-20_000:]))
    return report


@pytest.fixture
def event(app: Flask) -> Event:
    return Event(app)


@pytest.fixture
def room(app: Flask, event: Event) -> Any:
    """A signed-in organiser and an observer screen over Socket.IO (test_interview_sockets)."""
    from .test_interview_sockets import Room

    return Room(app, event)


def received(client: Any, namespace: str) -> list[dict[str, Any]]:
    """What a socket test client received, once any coalesced screen push has gone out
    (live.Pushes: in a burst of acts the last snapshot follows a moment later)."""
    pushes(client.app).settle()
    got: list[dict[str, Any]] = client.get_received(namespace)
    watch(client, got)  # what its screens show is kept for ``screen``
    return got


# The snapshots sent as pictures of every room (docs/protocol.md, "Snapshots"), and what
# each test client's screens show so far: client -> event name -> picture.
SCREENS = ("board", "console", "checkin")
_screens: weakref.WeakKeyDictionary[Any, dict[str, Picture]] = weakref.WeakKeyDictionary()


def watch(client: Any, messages: list[dict[str, Any]]) -> None:
    """Lay the screens' snapshots among ``messages`` (what ``client`` received, in order)
    over what it showed before, as the pages do."""
    kept = _screens.setdefault(client, {})
    for message in messages:
        if message["name"] in SCREENS:
            kept.setdefault(message["name"], Picture()).take(message["args"][0])


def screen(client: Any, name: str) -> dict[str, Any] | None:
    """What ``client``'s ``name`` screen shows from what it received so far (through
    ``received`` or ``watch``); None before a whole snapshot."""
    picture = _screens.get(client, {}).get(name)
    return None if picture is None else picture.view


def sheet(analysis: str = "37.5", expression: str = "28.5", bearing: str = "29") -> dict:
    return {"analysis": analysis, "expression": expression, "bearing": bearing}


def sign_in(client: Any, password: str = PASSWORD, **kwargs: Any) -> Any:
    """Post the sign-in form as a browser would: with the page's anti-forgery token."""
    page = client.get("/login", **kwargs).get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    return client.post(
        "/login", data={"password": password, "csrf": token.group(1) if token else ""}, **kwargs
    )


# The installed `kiosk` command, run by this very interpreter (unbuffered, so a test can
# read what it printed while it still runs).
KIOSK = [sys.executable, "-u", "-c", "from kiosk_server.cli import main; main()"]


def run_kiosk(
    *args: str, env: dict[str, str], timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run one `kiosk` command to the end; output captured as text."""
    return subprocess.run(
        [*KIOSK, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


def start_kiosk(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start a long-running `kiosk` command (serve, demo), its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen([*KIOSK, *args], env=env, stdout=out, stderr=subprocess.STDOUT)
