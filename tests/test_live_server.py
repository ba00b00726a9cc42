"""The Python client against a real server on loopback, including a kill -9 and restart."""

from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from flask import Flask
from socketio import Client as socketio_client
from socketio import exceptions as socketio_exceptions

from kiosk_server.live import store
from kiosk_server.serving import serve_in_thread
from rater_client import RaterClient, Refused
from rater_client.drill import ObserverClient, OrganiserClient

from .conftest import PASSWORD, Event, sheet, start_kiosk


@pytest.fixture
def live(app: Flask, event: Event) -> Iterator[str]:
    url, server = serve_in_thread(app)
    yield url
    server.shutdown()


def round_is(state: str, round_id: int | None = None):
    def check(view: dict) -> bool:
        current = view.get("round")
        return (
            bool(current)
            and current["state"] == state
            and (round_id is None or current["id"] == round_id)
        )

    return check


def room_round_is(index: int, state: str) -> Callable[[dict], bool]:
    """A board or console shows its ``index``-th room's round in ``state`` (no round yet
    while a call's push is on its way: not yet)."""
    return lambda view: round_is(state)(view["rooms"][index])


def test_python_client_scores_a_round_and_the_observer_sees_it_live(
    live: str, event: Event
) -> None:
    organiser, observer = OrganiserClient(live), ObserverClient(live)
    organiser.login(PASSWORD)
    observer.open_link(f"{live}/observe/{event.observer_token}")
    raters = []
    for n in (1, 2, 3):
        rater = RaterClient(live)
        assert rater.enrol(event.token("B", n))["number"] == n
        rater.connect()
        raters.append(rater)
    outsider = RaterClient(live)
    outsider.enrol(event.token("A", 1))
    outsider.connect()
    try:
        room_b = organiser.room("B")["id"]
        round_id = organiser.call_next(room_b)
        assert raters[0].wait_for(round_is("called", round_id))["round"]["draw_number"] == 4
        organiser.open_round(round_id)
        for rater, analysis in zip(raters, ("30", "35.5", "40"), strict=True):
            rater.wait_for(round_is("open", round_id))
            ack = rater.submit(sheet(analysis, "20", "20"))
            assert ack["ok"] and not ack["duplicate"]
        board = observer.wait_for(room_round_is(1, "closed"))
        result = board["rooms"][1]["round"]["result"]
        assert result["rule"] == "all" and result["mean"] == "75.17"  # (70+75.5+80)/3
        with pytest.raises(Refused) as refused:
            raters[0].submit(sheet(), round_id=round_id)
        assert refused.value.code == "round_closed"
        # room isolation: the tablet in room A never heard of room B's round
        assert outsider.state is not None and outsider.state["round"] is None
        with pytest.raises(Refused) as no_round:
            outsider.submit(sheet(), round_id=round_id)  # the client knows no such round
        assert no_round.value.code == "unknown_round"
        view = outsider.state
        fields = {
            "type": "commitment",
            "event": view["event"],
            "room": view["room"]["id"],
            "round": round_id,
            "draw_number": 4,
            "seat": view["seat"]["id"],
            "rubric": view["rubric_version"],
            "commitment": "ab" * 32,
        }
        with pytest.raises(Refused) as other_room:
            outsider.send("commit", fields)  # and the server refuses it anyway
        assert other_room.value.code == "round_other_room"
        assert not any(r.alarms for r in (*raters, outsider))
    finally:
        for client in (*raters, outsider, organiser, observer):
            client.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(
    instance: Path, port: int, *options: str, scheme: str = "http", **extra_env: str
) -> subprocess.Popen:
    """`kiosk serve` on ``instance`` (more ``options`` for it, ``extra_env`` in its
    environment: e.g. KIOSK_CRASH_AT), once its sign-in page answers; its output goes to
    ``server.log`` in the instance folder."""
    env = {**os.environ, "KIOSK_INSTANCE_PATH": str(instance), **extra_env}
    log = instance / "server.log"
    process = start_kiosk("serve", "--port", str(port), *options, env=env, log=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{scheme}://127.0.0.1:{port}/login", timeout=1).status_code == 200:
                return process
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    process.wait()
    raise RuntimeError(log.read_text())


@dataclass
class Served:
    """`kiosk serve` on the test's event, with an organiser and room B's three tablets
    connected over real sockets, and a round open in room B."""

    instance: Path
    port: int
    server: subprocess.Popen
    organiser: OrganiserClient
    raters: list[RaterClient]
    round_id: int = 0

    def kill(self) -> None:
        self.server.send_signal(signal.SIGKILL)
        self.server.wait(timeout=10)

    def restart(self) -> None:
        self.server = start_server(self.instance, self.port)


@contextmanager
def served_round(app: Flask, event: Event, rater_timeout: float) -> Iterator[Served]:
    instance = Path(app.instance_path)
    store(app).close()  # the test's own connection: the server owns the database now
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    served = Served(
        instance,
        port,
        start_server(instance, port),
        OrganiserClient(url, timeout=20),
        [RaterClient(url, timeout=rater_timeout) for _ in range(3)],
    )
    try:
        served.organiser.login(PASSWORD)
        for n, rater in enumerate(served.raters, start=1):
            rater.enrol(event.token("B", n))
            rater.connect()
        served.round_id = served.organiser.call_next(served.organiser.room("B")["id"])
        served.organiser.open_round(served.round_id)
        for rater in served.raters:
            rater.wait_for(round_is("open", served.round_id))
        yield served
    finally:
        for client in (*served.raters, served.organiser):
            client.close()
        served.server.kill()
        served.server.wait(timeout=10)


def test_a_restart_after_kill_9_loses_no_acknowledged_sheet_and_tablets_resume(
    app: Flask, event: Event
) -> None:
    with served_round(app, event, rater_timeout=20) as served:
        raters, organiser, round_id = served.raters, served.organiser, served.round_id
        assert raters[0].submit(sheet("33", "22", "11"))["ok"]  # acknowledged: on disk

        served.kill()
        served.restart()

        # Tablets reconnect by themselves and resume where they were.
        deadline = time.monotonic() + 20
        while min(r.connects for r in raters) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        # At least twice each: a reconnect whose namespace answer comes after the
        # client's wait gives up is dropped and tried again, a third connect.
        connects = [r.connects for r in raters]
        log = (served.instance / "server.log").read_text(errors="replace")[-4000:]
        assert min(connects) >= 2, f"connects {connects}; server log:\n{log}"
        fresh = [r.call("sync", {})["state"]["round"] for r in raters]
        assert [f["mine"] for f in fresh] == ["score", None, None]
        assert {(f["id"], f["state"]) for f in fresh} == {(round_id, "open")}
        for rater in raters[1:]:
            assert rater.submit(sheet("30", "20", "10"))["ok"]
        view = organiser.wait_for(room_round_is(1, "closed"), timeout=20)
        entries = view["rooms"][1]["round"]["result"]["entries"]
        assert [e["total"] for e in entries] == ["66.00", "60.00", "60.00"]


def test_a_pending_receipt_is_fetched_however_long_the_server_stays_down(
    app: Flask, event: Event
) -> None:
    """An ack given under a second after a head was signed says its receipt is pending;
    the tablet fetches it a moment later. If the server dies first and stays down longer
    than a few tries take, the receipt is still fetched once it is back: no alarm."""
    with served_round(app, event, rater_timeout=2) as served:
        raters = served.raters
        # Two of three submit (the round stays open): the second ack comes within a
        # second of the head the first one's receipt signed.
        acks = [rater.submit(sheet("33", "22", "11")) for rater in raters[:2]]
        assert [bool(a["receipt"].get("pending")) for a in acks] == [False, True]
        served.kill()
        time.sleep(10)  # more than three tries of two seconds each
        assert len(raters[1].receipts) == 0
        served.restart()
        deadline = time.monotonic() + 30
        while len(raters[1].receipts) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [len(r.receipts) for r in raters] == [1, 1, 0]
        assert [r.alarms for r in raters] == [[], [], []]
        assert raters[1].receipts[0]["leaf"] == acks[1]["receipt"]["leaf"]


def test_the_python_client_refuses_a_sheet_that_breaks_the_rubric_before_sealing(
    live: str, event: Event
) -> None:
    organiser, rater = OrganiserClient(live), RaterClient(live)
    organiser.login(PASSWORD)
    rater.enrol(event.token("B", 1))
    rater.connect()
    try:
        organiser.open_round(organiser.call_next(organiser.room("B")["id"]))
        rater.wait_for(round_is("open"))
        for items, code in [
            (sheet(analysis="40.5"), "out_of_range"),
            (sheet(bearing="20.5"), "wrong_step"),
            ({"analysis": "1"}, "missing_item"),
        ]:
            with pytest.raises(Refused) as refused:
                rater.submit(items)
            assert refused.value.code == code
        assert rater.openings == {} and rater.receipts == []
    finally:
        rater.close()
        organiser.close()


def test_the_server_key_is_private_to_the_instance(app: Flask) -> None:
    instance = Path(app.instance_path)
    assert (instance / "server_key.pem").stat().st_mode & 0o777 == 0o600
    assert (instance / "secret_key").stat().st_mode & 0o777 == 0o600
    assert instance.stat().st_mode & 0o777 == 0o700


def test_a_connect_that_fails_inside_the_server_is_refused_at_once_and_logged(
    app: Flask, live: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug or a lost database while a screen connects: the client hears ``internal``
    at once (rather than waiting out its timeout) and the log names the failure."""
    organiser = OrganiserClient(live, timeout=20)
    organiser.login(PASSWORD)
    cookie = "; ".join(f"{c.name}={c.value}" for c in organiser.http.cookies)
    organiser.close()
    store(app).close()  # every read on connect now fails
    refused: list[object] = []
    console = socketio_client()
    console.on("connect_error", refused.append, namespace="/organiser")
    started = time.monotonic()
    with pytest.raises(socketio_exceptions.ConnectionError, match="/organiser"):
        console.connect(
            live,
            namespaces=["/organiser"],
            transports=["websocket"],
            headers={"Cookie": cookie},
            wait_timeout=20,
        )
    assert time.monotonic() - started < 10  # answered, not timed out
    assert refused == [{"message": "internal"}]
    assert "socket connect on /organiser failed: ProgrammingError" in caplog.text


def test_socket_events_leave_no_reference_cycles(live: str, event: Event) -> None:
    """A socket event's request context is freed by reference counting: no garbage for
    the cyclic collector, whose full passes held the whole server still for 50-280 ms
    under load while each event left ~70 objects in a cycle (a NotFound raised from
    matching /socket.io/ against the pages' routes, kept with its traceback)."""
    rater = RaterClient(live)
    rater.enrol(event.token("B", 1))
    rater.connect()
    try:
        assert rater.call("sync", {})["ok"]
        events = 40
        gc.disable()
        try:
            gc.collect()
            for _ in range(events):
                assert rater.call("sync", {})["ok"]
            unreachable = gc.collect()
        finally:
            gc.enable()
        assert unreachable < events  # was ~70 per event
    finally:
        rater.close()
