"""Load on the interview room: many tablets and screens against one kiosk, on loopback.

The kiosk runs in a subprocess (its CPU and RSS are read from /proc); the clients run
here, in one asyncio loop: python-socketio clients that sign every envelope with a real
Ed25519 key (``rater_client.client.Device``), observer screens, and organiser consoles
that call and open the rooms' rounds (one console per 5 rooms: a console's socket, like
any, is limited to 20 events a second). Raters and observers share one clock, so the time
from a submission to the observer board that shows it is measured directly.

The flow is the product's own: the organiser calls a draw number and opens the round,
each seated rater commits a sealed sheet once, the last commitment closes the round,
every rater then opens its sheet (as tablets do: each at a random moment within
``OPEN_SPREAD_S`` of the close, ``--openings-at-once`` for all at the same instant), and
the organiser calls the next number. A "score" below is one acknowledged commitment;
each also costs an opening later. The rooms are out of step, as on the day: at any
moment about as many rounds close as at any other (``steady_plan``; ``--in-step`` closes
every room's round within the same second instead, so its 750 openings come within the
spread of one another). After a scenario the server is stopped and its database read:
every acknowledged envelope must be there once (``lost``, ``duplicates``).

Scenarios (each in a fresh instance), one JSON line each:

- ``hold``: 1,000 sockets (raters, observers, consoles) held, a trickle of scores.
- ``steady``: 150 scores/s for a minute (``--quick``: a few seconds).
- ``burst``: 750 raters each submit within one second, three times; the same bursts
  against a bare Flask-SocketIO echo server in the same async mode (ack without
  verification or database) give ``baseline_ack_p99_ms``.
- ``ramp``: rising rates until p99 ack exceeds 100 ms or the server falls behind;
  ``knee_per_s`` is the last rate that held.
- ``reconnect``: during a steady load every rater's socket is dropped at once; each
  reconnects and re-sends its unacknowledged envelope (its outbox). Here the ``ack_*``
  figures are each tablet's time from the drop until it is re-synced (its view received
  again and its outbox acknowledged); ``throughput_per_s`` is re-syncs per second.

Usage::

    .venv/bin/python benchmarks/load.py [--quick] [--mode gevent|threading] [--in-step]
        [--openings-at-once] [SCENARIO ...]

Diagnostics go to stderr; stdout has only the JSON lines.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import csv
import json
import math
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"  # loopback only, always
PASSWORD = "load test organiser password"
SCENARIOS = ("hold", "steady", "burst", "ramp", "reconnect")
KEYS = (
    "scenario",
    "clients",
    "ack_p50_ms",
    "ack_p95_ms",
    "ack_p99_ms",
    "ack_max_ms",
    "observer_p99_ms",
    "throughput_per_s",
    "errors",
    "lost",
    "duplicates",
    "rss_mb",
    "cpu_pct",
)
RUBRIC = [
    ("a", "综合分析", "Analysis", "40", "0.5"),
    ("b", "言语表达", "Expression", "30", "0.5"),
    ("c", "举止仪表", "Bearing", "30", "0.5"),
]
SEEN = {"submitted", "revealed", "recused"}
CALL_TIMEOUT = 60.0


def now() -> float:
    return time.perf_counter()


def say(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no samples."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


# --- the server under test, in a subprocess -------------------------------------------


def echo_app(mode: str) -> tuple[Any, Any]:
    """A bare Flask-SocketIO app: connect anyone, ack every commit at once. The floor
    that the transport and the async mode alone give."""
    from flask import Flask
    from flask_socketio import SocketIO

    app = Flask("echo")
    sio = SocketIO(app, async_mode=mode, cors_allowed_origins=None, logger=False)

    @sio.on("connect", namespace="/rater")
    def connect(auth: Any = None) -> None:
        return None

    @sio.on("commit", namespace="/rater")
    def commit(data: Any) -> dict[str, Any]:
        return {"ok": True, "round_closed": False}

    return app, sio


def serve(instance: str | None, port: int, mode: str) -> None:
    """The subprocess: the kiosk on ``instance`` (or the echo app) on the server that
    ``kiosk serve`` builds for ``mode`` (gevent's WSGI server, or Werkzeug's threaded one)."""
    if mode == "gevent":
        from gevent import monkey

        monkey.patch_all()
    if instance is not None:  # what `kiosk serve` runs (without backups or TLS)
        from kiosk_server import create_app
        from kiosk_server.serving import serve_forever

        app = create_app({"INSTANCE_PATH": instance, "ASYNC_MODE": mode})
        serve_forever(app, HOST, port)
        return
    app, sio = echo_app(mode)
    if mode == "threading":
        from kiosk_server.serving import build_server

        build_server(app, HOST, port).serve_forever()
    else:
        sio.run(app, host=HOST, port=port, log_output=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """A server subprocess, with its CPU time and RSS read from /proc."""

    def __init__(self, instance: Path | None, mode: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        args = [sys.executable, __file__, "_serve", "--port", str(self.port), "--mode", mode]
        if instance is not None:
            args += ["--instance", str(instance)]
        with log.open("ab") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        atexit.register(self.stop)  # a scenario that fails leaves no server behind
        deadline = now() + 60
        while now() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: see {log}")
            try:
                socket.create_connection((HOST, self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/task"))

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Meter:
    """Server CPU (percent of one core, so up to 200 on two) and peak RSS over a phase;
    on stderr, the clients' own CPU and how late their event loop ran (an ack is timed
    when the loop gets to it, so a busy client adds to the figures)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.peak = server.rss_mb()
        self.cpu0, self.t0 = server.cpu_s(), now()
        self.client0 = time.process_time()
        self.lags: list[float] = []
        self._task = asyncio.ensure_future(self._sample())

    async def _sample(self) -> None:
        tick, rss_due = 0.01, now()
        while True:
            asleep = now()
            await asyncio.sleep(tick)
            self.lags.append(now() - asleep - tick)
            if now() >= rss_due:
                self.peak = max(self.peak, self.server.rss_mb())
                rss_due += 0.5

    def stop(self) -> tuple[float, float]:
        self._task.cancel()
        self.peak = max(self.peak, self.server.rss_mb())
        span = max(now() - self.t0, 1e-6)
        cpu = (self.server.cpu_s() - self.cpu0) / span * 100
        client = (time.process_time() - self.client0) / span * 100
        lag = percentile(self.lags, 99)
        say(f"  clients: {client:.0f} % CPU, event loop late p99 {ms(lag)} ms")
        return round(self.peak, 1), round(cpu, 1)


# --- the event ---------------------------------------------------------------------------


@dataclass
class SeatSpec:
    seat_id: int
    room_id: int
    number: int
    credential: str
    device: Any


@dataclass
class Setup:
    event_id: int
    rubric: str
    rooms: list[int]
    draws: dict[int, list[int]]  # room -> draw numbers in calling order
    seats: dict[int, list[SeatSpec]]  # room -> its seats in number order
    observers: list[str]  # observer credentials


def _csv(path: Path, rows: list[list[object]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def build_event(folder: Path, rooms: int, seats: int, candidates: int, observers: int) -> Setup:
    """An event of ``rooms`` x ``seats`` with ``candidates`` per room, every seat enrolled
    with its own device key and ``observers`` screens enrolled, through the service
    layer (nothing of this set-up is measured)."""
    from kiosk_server import create_app, interview
    from kiosk_server.auth import set_organiser_password
    from kiosk_server.enrolment import (
        enrol_observer,
        enrol_seat,
        issue_observer,
        issue_unissued_seats,
        pending_tokens,
    )
    from kiosk_server.events import create_event
    from kiosk_server.importer import import_setup
    from kiosk_server.live import store, token_key
    from rater_client.client import Device

    app = create_app({"INSTANCE_PATH": str(folder)})
    st = store(app)
    codes = [f"R{r:02d}" for r in range(rooms)]
    total = rooms * candidates
    with app.app_context():
        ev = create_event(st, "负载测试")
        files = {
            "rooms": _csv(
                folder / "rooms.csv",
                [["code", "name", "seats"]] + [[c, f"考场{c}", seats] for c in codes],
            ),
            "posts": _csv(folder / "posts.csv", [["code", "name", "seats"], ["P1", "岗位", 1]]),
            "rubric": _csv(
                folder / "rubric.csv",
                [["code", "label_zh", "label_en", "max", "step"], *map(list, RUBRIC)],
            ),
            "candidates": _csv(
                folder / "candidates.csv",
                [["reg_no", "name", "unit", "preference1", "preference2"]]
                + [[f"C{i}", f"考生{i}", "", "P1", ""] for i in range(total)],
            ),
            "draw": _csv(
                folder / "draw.csv",
                [["draw_number", "reg_no", "room"]]
                + [[i + 1, f"C{i}", codes[i % rooms]] for i in range(total)],
            ),
        }
        import_setup(st, ev, files)
        issue_unissued_seats(st, token_key(), ev, "bench")
        by_room: dict[int, list[SeatSpec]] = {}
        for pending in pending_tokens(st, token_key(), ev)["seats"]:
            device = Device()
            credential, seat = enrol_seat(st, pending["token"], device.public_key)
            by_room.setdefault(seat.room_id, []).append(
                SeatSpec(seat.id, seat.room_id, seat.number, credential, device)
            )
        screens = []
        for i in range(observers):
            token = issue_observer(st, token_key(), ev, f"屏{i}", "bench")
            screens.append(enrol_observer(st, token)[0])
        set_organiser_password(st, PASSWORD)
        with st.read() as db:
            version = interview.rubric_of(db, ev)
        room_ids = [r["id"] for r in st.rows("SELECT id FROM room ORDER BY code")]
        draws: dict[int, list[int]] = {r: [] for r in room_ids}
        for row in st.rows("SELECT room_id, draw_number FROM candidate ORDER BY draw_number"):
            draws[row["room_id"]].append(row["draw_number"])
    st.close()
    for members in by_room.values():
        members.sort(key=lambda s: s.number)
    return Setup(ev, version, room_ids, draws, by_room, screens)


def check_database(instance: Path, sent: dict[tuple[int, str], bool]) -> tuple[int, int]:
    """(lost, duplicates): acknowledged envelopes missing from the stopped server's
    database, and rows beyond one per envelope sent. ``sent`` maps (seat, nonce) to
    whether it was acknowledged."""
    conn = sqlite3.connect(f"file:{instance / 'kiosk.sqlite3'}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT seat_id, nonce, COUNT(*) FROM commitment GROUP BY seat_id, nonce"
        ).fetchall()
    finally:
        conn.close()
    stored = {(seat, nonce): count for seat, nonce, count in rows}
    lost = sum(1 for key, acked in sent.items() if acked and key not in stored)
    duplicates = sum(count - 1 for count in stored.values()) + sum(
        1 for key in stored if key not in sent
    )
    return lost, duplicates


# --- clients ------------------------------------------------------------------------------


class Stats:
    """Everything the clients measured, on one clock."""

    def __init__(self) -> None:
        self.acks: list[float] = []
        self.observed: list[float] = []
        self.errors = 0
        self.codes: dict[str, int] = {}
        self.sent: dict[tuple[int, str], bool] = {}
        self.first_sent: float | None = None
        self.last_ack: float | None = None
        self.late: list[float] = []

    def error(self, code: str) -> None:
        self.errors += 1
        self.codes[code] = self.codes.get(code, 0) + 1


def _client(**kwargs: Any) -> Any:
    import socketio

    return socketio.AsyncClient(reconnection=False, **kwargs)


class Rater:
    """One tablet: its device key, its socket, one signed envelope in flight at a time
    (the server wants a device's sequence numbers in order), and an outbox: an
    envelope that got no answer is sent again, unchanged, once reconnected."""

    def __init__(self, url: str, spec: SeatSpec, stats: Stats, echo: bool = False) -> None:
        self.url, self.spec, self.stats, self.echo = url, spec, stats, echo
        self.sio = _client()
        self.lock = asyncio.Lock()
        self.connected = asyncio.Event()
        self.synced = asyncio.Event()
        self.openings: dict[int, dict[str, Any]] = {}
        self.inflight: asyncio.Future | None = None
        self.sio.on("state", self._on_state, namespace="/rater")
        self.sio.on("disconnect", self._on_disconnect, namespace="/rater")

    async def _on_state(self, state: Any) -> None:
        self.synced.set()

    async def _on_disconnect(self, *args: Any) -> None:
        self.connected.clear()
        self.synced.clear()

    async def connect(self) -> None:
        await self.sio.connect(
            self.url,
            namespaces=["/rater"],
            transports=["websocket"],
            auth={"credential": self.spec.credential, "lang": "en"},
            headers={"Origin": self.url},
            wait_timeout=CALL_TIMEOUT,
        )
        self.connected.set()
        if self.echo:
            self.synced.set()

    async def drop(self) -> None:
        """Lose the connection the way Wi-Fi does: the socket goes, no goodbye."""
        self.connected.clear()
        self.synced.clear()
        if self.inflight is not None:
            self.inflight.cancel()  # its answer will never come on this connection
        ws = getattr(self.sio.eio, "ws", None)
        if ws is not None:
            await ws.close()
        await self.sio.disconnect()

    async def send(self, event: str, fields: dict[str, Any]) -> tuple[Any, float, float]:
        """Sign and send; returns (ack, sent, acked). Re-sends the same envelope after a
        lost connection until it is answered (the outbox)."""
        async with self.lock:
            envelope = self.spec.device.envelope(fields)
            key = (self.spec.seat_id, envelope["body"]["nonce"])
            if event == "commit":
                self.stats.sent[key] = False
            sent = now()
            while True:
                await self.connected.wait()
                self.inflight = asyncio.ensure_future(
                    self.sio.call(
                        event, {"envelope": envelope}, namespace="/rater", timeout=CALL_TIMEOUT
                    )
                )
                try:
                    ack = await self.inflight
                except asyncio.CancelledError:
                    continue  # dropped mid-call (see drop): resend once reconnected
                except Exception as exc:  # noqa: BLE001 - disconnected or timed out: resend
                    if self.connected.is_set() and self.sio.connected:
                        self.stats.error(type(exc).__name__)
                        return None, sent, now()
                    continue
                finally:
                    self.inflight = None
                acked = now()
                if event == "commit" and isinstance(ack, dict) and ack.get("ok"):
                    self.stats.sent[key] = True
                return ack, sent, acked

    def binding(self, round_id: int, draw_number: int, event_id: int, rubric: str) -> dict:
        return {
            "event": event_id,
            "room": self.spec.room_id,
            "round": round_id,
            "draw_number": draw_number,
            "seat": self.spec.seat_id,
            "rubric": rubric,
        }


class Observer:
    """An observer screen that notes when each submission first shows on its board."""

    def __init__(self, url: str, credential: str, stats: Stats) -> None:
        self.url, self.credential, self.stats = url, credential, stats
        self.unseen: dict[int, dict[tuple[int, int], float]] = {}
        self.boards = 0
        self.sio = _client()
        self.sio.on("board", self._on_board, namespace="/observer")

    async def connect(self) -> None:
        await self.sio.connect(
            self.url,
            namespaces=["/observer"],
            transports=["websocket"],
            auth={"credential": self.credential},
            headers={"Origin": self.url},
            wait_timeout=CALL_TIMEOUT,
        )

    def expect(self, room_id: int, round_id: int, number: int, sent: float) -> None:
        self.unseen.setdefault(room_id, {})[(round_id, number)] = sent

    async def _on_board(self, board: Any) -> None:
        seen_at = now()
        self.boards += 1
        for room in board.get("rooms", []):
            waiting = self.unseen.get(room["id"])
            current = room.get("round")
            if not waiting or current is None:
                continue
            shown = {s["number"] for s in room["seats"] if s["status"] in SEEN}
            for key in list(waiting):
                round_id, number = key
                if round_id < current["id"] or (
                    round_id == current["id"] and (number in shown or current["state"] != "open")
                ):
                    self.stats.observed.append(seen_at - waiting.pop(key))


class Organiser:
    """Signs in over HTTP, then calls and opens rounds over its socket."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sio = _client()

    async def connect(self) -> None:
        cookie = await asyncio.to_thread(self._login)
        await self.sio.connect(
            self.url,
            namespaces=["/organiser"],
            transports=["websocket"],
            headers={"Origin": self.url, "Cookie": cookie},
            wait_timeout=CALL_TIMEOUT,
        )

    def _login(self) -> str:
        import requests

        http = requests.Session()
        page = http.get(f"{self.url}/login", timeout=30).text
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        response = http.post(
            f"{self.url}/login",
            data={"password": PASSWORD, "csrf": found.group(1) if found else ""},
            allow_redirects=False,
            timeout=30,
        )
        if response.status_code != 302:
            raise PermissionError("organiser sign-in refused")
        return "; ".join(f"{c.name}={c.value}" for c in http.cookies)

    async def act(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        ack = await self.sio.call(event, payload, namespace="/organiser", timeout=CALL_TIMEOUT)
        if not isinstance(ack, dict) or not ack.get("ok"):
            raise RuntimeError(f"organiser {event} refused: {ack}")
        return ack


# --- the flow -----------------------------------------------------------------------------

# A plan: per room, its rounds; per round, (seat index, send time offset) in send order.
# A time of None is an untimed sheet: before the clock starts (a round's first slots) or
# after it stops (its last ones).
Plan = dict[int, list[list[tuple[int, float | None]]]]


def steady_plan(
    rooms: int, seats: int, rate: float, rounds: int, fill: int = 0, in_step: bool = False
) -> Plan:
    """``rounds`` rounds' worth of submissions at ``rate`` per second, the rooms taking
    turns; each room's rounds are filled seat by seat.

    The rooms are out of step, as rooms on the day are: when the clock starts, room r is
    r/rooms of the way into its first round (those sheets go in untimed, before), so at
    any moment as many rounds close as at any other and their openings come at the same
    steady rate as the commitments. Each room's last round is then finished untimed,
    after the clock stops. ``in_step``: every room starts at its first seat, so every
    round closes within the same ``rooms / rate`` seconds and its openings come as one
    burst. ``fill`` > 0 caps the timed submissions, in step (rounds stay open)."""
    count = fill or rooms * seats * rounds
    ahead = [0 if in_step or fill else r * seats // rooms for r in range(rooms)]
    plan: Plan = {r: [] for r in range(rooms)}

    def put(room: int, index: int, at: float | None) -> None:
        k, seat = divmod(index, seats)
        while len(plan[room]) <= k:
            plan[room].append([])
        plan[room][k].append((seat, at))

    for room in range(rooms):
        for index in range(ahead[room]):
            put(room, index, None)
    for g in range(count):
        room, slot = g % rooms, g // rooms
        put(room, ahead[room] + slot, g / rate)
    for room in range(rooms):
        if ahead[room]:
            for index in range(ahead[room], seats):
                put(room, rounds * seats + index, None)
    return plan


def burst_plan(rooms: int, seats: int, bursts: int, gap: float, seed: int = 7) -> Plan:
    """Every seat of every room within one second, ``bursts`` times, ``gap`` apart."""
    rng = random.Random(seed)
    plan: Plan = {r: [] for r in range(rooms)}
    for k in range(bursts):
        for r in range(rooms):
            slots = [(s, k * gap + rng.random()) for s in range(seats)]
            plan[r].append(sorted(slots, key=lambda x: x[1]))
    return plan


ROOMS_PER_CONSOLE = 5


def organisers(setup: Setup) -> int:
    return math.ceil(len(setup.rooms) / ROOMS_PER_CONSOLE)


# A tablet opens its sheet at a random moment within this many seconds of the close
# (``OPEN_SPREAD_MS`` in rater_client/static/tablet.js).
OPEN_SPREAD_S = 0.25


class Run:
    """The clients of one scenario against one server."""

    def __init__(self, url: str, setup: Setup | None, *, spread: float, echo: bool = False) -> None:
        self.url, self.setup, self.echo, self.spread = url, setup, echo, spread
        self.stats = Stats()
        self.raters: dict[int, list[Rater]] = {}
        self.observers: list[Observer] = []
        self.organisers: list[Organiser] = []
        self.next_draw: dict[int, int] = {}
        self.started = asyncio.Event()  # the plan's clock started (every room ready)
        self.start = 0.0  # ... at this time: a plan's offsets count from here

    @property
    def clients(self) -> int:
        return (
            sum(1 for rs in self.raters.values() for r in rs if r.sio.connected)
            + sum(1 for o in self.observers if o.sio.connected)
            + sum(1 for o in self.organisers if o.sio.connected)
        )

    async def connect(self, raters_per_room: int, observers: int, parallel: int = 50) -> None:
        """Open every socket, ``parallel`` handshakes at a time; failures are errors."""
        assert self.setup is not None
        gate = asyncio.Semaphore(parallel)

        async def opened(connect: Callable[[], Awaitable[None]]) -> None:
            async with gate:
                try:
                    await connect()
                except Exception as exc:  # noqa: BLE001 - counted, the rest go on
                    self.stats.error(f"connect:{type(exc).__name__}")

        if not self.echo:
            self.organisers = [Organiser(self.url) for _ in range(organisers(self.setup))]
            for console in self.organisers:
                await console.connect()
            self.observers = [
                Observer(self.url, c, self.stats) for c in self.setup.observers[:observers]
            ]
        for room in self.setup.rooms:
            self.raters[room] = [
                Rater(self.url, spec, self.stats, self.echo)
                for spec in self.setup.seats[room][:raters_per_room]
            ]
            self.next_draw[room] = 0
        jobs = [o.connect for o in self.observers]
        jobs += [r.connect for rs in self.raters.values() for r in rs]
        await asyncio.gather(*(opened(j) for j in jobs))

    async def _open_round(self, room: int) -> tuple[int, int]:
        """The organiser calls the room's next draw number and opens its round."""
        assert self.setup is not None
        draw = self.setup.draws[room][self.next_draw[room]]
        self.next_draw[room] += 1
        if self.echo or not self.organisers:
            return self.next_draw[room], draw
        console = self.organisers[self.setup.rooms.index(room) // ROOMS_PER_CONSOLE]
        ack = await console.act("call", {"room_id": room, "draw_number": draw})
        await console.act("open", {"round_id": ack["round_id"]})
        return int(ack["round_id"]), draw

    async def _submit(
        self, rater: Rater, round_id: int, draw: int, at: float | None, full: bool
    ) -> bool:
        """One sealed sheet at time ``at`` (None: now, untimed: counted in the ledger and
        its errors, not in the figures); returns whether its ack closed the round."""
        from rater_client.client import sealed_sheet

        assert self.setup is not None
        if at is not None:
            delay = at - now()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.stats.late.append(-delay)
        bound = rater.binding(round_id, draw, self.setup.event_id, self.setup.rubric)
        sheet = sealed_sheet(bound, {"a": "30", "b": "25.5", "c": "27"})
        rater.openings[round_id] = sheet
        fields = {"type": "commitment", **bound, "commitment": sheet["commitment"]}
        sent_at = now()
        if at is not None:
            for screen in self.observers:
                screen.expect(rater.spec.room_id, round_id, rater.spec.number, sent_at)
        ack, sent, acked = await rater.send("commit", fields)
        if not isinstance(ack, dict) or not ack.get("ok"):
            if ack is not None:
                self.stats.error(str((ack.get("error") or {}).get("code")))
            return False
        if at is not None:
            if self.stats.first_sent is None or sent < self.stats.first_sent:
                self.stats.first_sent = sent
            self.stats.acks.append(acked - sent)
            self.stats.last_ack = max(self.stats.last_ack or 0.0, acked)
        return bool(ack.get("round_closed")) and full

    async def _reveal(self, rater: Rater, round_id: int) -> None:
        sheet = rater.openings.pop(round_id, None)
        if sheet is None:
            return
        await asyncio.sleep(random.random() * self.spread)
        ack, _sent, _acked = await rater.send("reveal", {"type": "opening", **sheet["opening"]})
        if not isinstance(ack, dict) or not ack.get("ok"):
            self.stats.error("reveal:" + str(((ack or {}).get("error") or {}).get("code")))

    async def _room(self, room: int, rounds: list, ready: Callable[[], Awaitable[object]],
                    done: Callable[[], Awaitable[object]]) -> None:  # fmt: skip
        """One room's rounds: a round's untimed first sheets, then (the first time) the
        wait for every room (``ready``), its timed sheets, and its untimed last ones once
        every room's timed sheets are answered (``done``)."""
        raters = self.raters[room]
        reveals: list[asyncio.Task] = []
        waiting, finished = True, False
        for slots in rounds:
            try:
                round_id, draw = await self._open_round(room)
            except Exception as exc:  # noqa: BLE001 - e.g. a round left open by an error
                self.stats.error(f"organiser:{exc}"[:80])
                break
            full = len(slots) == len(raters)
            timed = [i for i, (_s, t) in enumerate(slots) if t is not None]
            first, last = (timed[0], timed[-1] + 1) if timed else (len(slots), len(slots))
            sheets = [(raters[s], round_id, draw, t, full) for s, t in slots]
            closed = await self._sheets(sheets[:first])
            if waiting:
                await ready()
                waiting = False
            closed = await self._sheets(sheets[first:last]) or closed
            if last < len(slots):
                await done()
                finished = True
                closed = await self._sheets(sheets[last:]) or closed
            if closed and not self.echo:
                reveals += [asyncio.ensure_future(self._reveal(r, round_id)) for r in raters]
        if waiting:  # every room passes each barrier once, whatever happened
            await ready()
        if not finished:
            await done()
        await asyncio.gather(*reveals)

    async def _sheets(self, sheets: list[tuple[Rater, int, int, float | None, bool]]) -> bool:
        """Send sheets together, each at its time from the clock's start (None: at once,
        untimed); whether one of them closed its round."""
        closed = await asyncio.gather(
            *(
                self._submit(rater, round_id, draw, None if t is None else self.start + t, full)
                for rater, round_id, draw, t, full in sheets
            )
        )
        return any(closed)

    async def play(self, plan: Plan, lead: float = 0.5) -> None:
        """Run a plan: every room opens its first round and sends its untimed first
        sheets; then the clock starts, ``lead`` seconds on (``started``)."""
        assert self.setup is not None
        rooms = [(room, plan[i]) for i, room in enumerate(self.setup.rooms) if i in plan]
        self.started.clear()
        ready, done = asyncio.Barrier(len(rooms)), asyncio.Barrier(len(rooms))

        async def start_clock() -> None:
            await ready.wait()
            if not self.started.is_set():
                self.start = now() + lead
                self.started.set()

        await asyncio.gather(*(self._room(room, rounds, start_clock, done.wait)
                               for room, rounds in rooms))  # fmt: skip

    async def close(self) -> None:
        socks = [r.sio for rs in self.raters.values() for r in rs] + [o.sio for o in self.observers]
        socks += [o.sio for o in self.organisers]
        await asyncio.gather(*(s.disconnect() for s in socks), return_exceptions=True)


def figures(stats: Stats, samples: list[float] | None = None) -> dict[str, Any]:
    acks = stats.acks if samples is None else samples
    span = (
        (stats.last_ack - stats.first_sent)
        if stats.last_ack and stats.first_sent is not None
        else 0.0
    )
    return {
        "ack_p50_ms": ms(percentile(acks, 50)),
        "ack_p95_ms": ms(percentile(acks, 95)),
        "ack_p99_ms": ms(percentile(acks, 99)),
        "ack_max_ms": ms(max(acks) if acks else None),
        "observer_p99_ms": ms(percentile(stats.observed, 99)),
        "throughput_per_s": round(len(stats.acks) / span, 1) if span > 0 else None,
        "errors": stats.errors,
    }


# --- scenarios --------------------------------------------------------------------------


@dataclass
class Options:
    mode: str = "threading"
    quick: bool = False
    scale: float = 1.0  # multiplies client counts (the smoke test runs tiny events)
    duration: float | None = None
    in_step: bool = False  # every room's rounds close together (steady_plan)
    spread: float = OPEN_SPREAD_S  # a tablet's openings: within this long of the close
    work: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))

    def n(self, count: int, floor: int = 1) -> int:
        return max(floor, round(count * self.scale))


class Bench:
    """One scenario: a fresh instance, a server, clients; one JSON line at the end."""

    def __init__(self, name: str, opts: Options, rooms: int, seats: int, candidates: int,
                 observers: int) -> None:  # fmt: skip
        self.name, self.opts = name, opts
        self.folder = Path(tempfile.mkdtemp(prefix=f"load-{name}-", dir=opts.work))
        started = now()
        self.setup = build_event(self.folder / "instance", rooms, seats, candidates, observers)
        say(f"[{name}] event {rooms}x{seats}, {candidates}/room built in {now() - started:.1f}s")
        self.server = Server(self.folder / "instance", opts.mode, self.folder / "server.log")

    def finish(self, run: Run, extra: dict[str, Any], meter: tuple[float, float],
               samples: list[float] | None = None, clients: int | None = None) -> dict:  # fmt: skip
        self.server.stop()
        lost, duplicates = check_database(self.folder / "instance", run.stats.sent)
        shutil.rmtree(self.folder, ignore_errors=True)
        rss, cpu = meter
        line = {
            "scenario": self.name,
            "clients": clients if clients is not None else run.clients,
            **figures(run.stats, samples),
            "lost": lost,
            "duplicates": duplicates,
            "rss_mb": rss,
            "cpu_pct": cpu,
            **extra,
        }
        late = percentile(run.stats.late, 99)
        say(
            f"[{self.name}] mode={self.opts.mode} acks={len(run.stats.acks)} "
            f"codes={run.stats.codes} late_p99={ms(late)}ms observed={len(run.stats.observed)}"
        )
        return line


async def hold(opts: Options) -> dict[str, Any]:
    """1,000 sockets held (950 raters, 40 screens, 10 consoles); a trickle of scores."""
    rooms, seats = opts.n(50), opts.n(19, 2)
    screens = (
        max(1, 1000 - rooms * seats - math.ceil(rooms / ROOMS_PER_CONSOLE))
        if opts.scale == 1
        else opts.n(40)
    )
    seconds = opts.duration or (5 if opts.quick else 20)
    bench = Bench("hold", opts, rooms, seats, 2, screens)
    run = Run(bench.server.url, bench.setup, spread=opts.spread)
    try:
        started = now()
        await run.connect(seats, screens)
        clients = run.clients
        say(
            f"[hold] {clients} sockets in {now() - started:.1f}s, "
            f"server threads {bench.server.threads()}, rss {bench.server.rss_mb():.0f} MB"
        )
        meter = Meter(bench.server)
        rate = min(10.0, rooms * seats / seconds)
        await run.play(steady_plan(rooms, seats, rate, 1, fill=int(rate * seconds)))
        clients = min(clients, run.clients)
        result = meter.stop()
    finally:
        await run.close()
    return bench.finish(run, {}, result, clients=clients)


async def steady(opts: Options) -> dict[str, Any]:
    """150 scores/s from 750 raters in 50 rooms for a minute, 5 screens watching."""
    rooms, seats, screens = opts.n(50), opts.n(15, 2), opts.n(5)
    rate = 150 * opts.scale
    seconds = opts.duration or (10 if opts.quick else 60)
    rounds = max(1, round(rate * seconds / (rooms * seats)))
    bench = Bench("steady", opts, rooms, seats, rounds + 2, screens)
    run = Run(bench.server.url, bench.setup, spread=opts.spread)
    try:
        await run.connect(seats, screens)
        clients = run.clients
        meter = Meter(bench.server)
        await run.play(steady_plan(rooms, seats, rate, rounds, in_step=opts.in_step))
        result = meter.stop()
    finally:
        await run.close()
    return bench.finish(run, {}, result, clients=clients)


async def burst_once(opts: Options, echo: bool, bursts: int) -> tuple[Bench | None, Run, Any, int]:
    rooms, seats, screens = opts.n(50), opts.n(15, 2), opts.n(5)
    if echo:
        folder = Path(tempfile.mkdtemp(prefix="load-echo-", dir=opts.work))
        server = Server(None, opts.mode, folder / "server.log")
        setup = Setup(
            0,
            "",
            list(range(1, rooms + 1)),
            {r: list(range(1, bursts + 2)) for r in range(1, rooms + 1)},
            {
                r: [SeatSpec(r * 100 + s, r, s + 1, "x" * 20, _device()) for s in range(seats)]
                for r in range(1, rooms + 1)
            },
            [],
        )
        bench = None
    else:
        bench = Bench("burst", opts, rooms, seats, bursts + 1, screens)
        server, setup = bench.server, bench.setup
    run = Run(server.url, setup, echo=echo, spread=opts.spread)
    try:
        await run.connect(seats, 0 if echo else screens)
        clients = run.clients
        meter = Meter(server)
        await run.play(burst_plan(rooms, seats, bursts, gap=4.0), lead=1.0)
        result = meter.stop()
    finally:
        await run.close()
        if echo:
            server.stop()
            shutil.rmtree(folder, ignore_errors=True)
    return bench, run, result, clients


def _device() -> Any:
    from rater_client.client import Device

    return Device()


async def burst(opts: Options) -> dict[str, Any]:
    """750 submissions within one second, three times; then the same against the echo."""
    bursts = 2 if opts.quick else 3
    _b, echo_run, _r, _c = await burst_once(opts, True, bursts)
    baseline = percentile(echo_run.stats.acks, 99)
    say(f"[burst] echo baseline p99 {ms(baseline)} ms, acks {len(echo_run.stats.acks)}")
    bench, run, result, clients = await burst_once(opts, False, bursts)
    assert bench is not None
    ours = percentile(run.stats.acks, 99)
    extra = {
        "baseline_ack_p99_ms": ms(baseline),
        "ratio_to_baseline_p99": round(ours / baseline, 2) if ours and baseline else None,
    }
    return bench.finish(run, extra, result, clients=clients)


async def ramp(opts: Options) -> dict[str, Any]:
    """Rising rates, whole rounds per step, until p99 ack > 100 ms or the server falls
    more than 10 % behind the offered rate; the knee is the last rate that held."""
    rooms, seats, screens = opts.n(50), opts.n(15, 2), opts.n(5)
    rates = [r * opts.scale for r in (25, 50, 100, 150, 300, 450, 600, 800, 1000, 1500, 2000)]
    per_step = 1 if opts.quick else 2
    bench = Bench("ramp", opts, rooms, seats, (per_step + 1) * len(rates) + 1, screens)
    run = Run(bench.server.url, bench.setup, spread=opts.spread)
    knee: float | None = None
    held: Stats | None = None
    try:
        await run.connect(seats, screens)
        clients = run.clients
        meter = Meter(bench.server)
        for rate in rates:
            step = Stats()
            step.sent = run.stats.sent  # one ledger for the database check
            run.stats = step
            for screen in run.observers:
                screen.stats = step
            for rs in run.raters.values():
                for r in rs:
                    r.stats = step
            rounds = 1 if rate < 150 * opts.scale else per_step  # a round takes 750/rate s
            await run.play(steady_plan(rooms, seats, rate, rounds, in_step=opts.in_step))
            figs = figures(step)
            achieved = figs["throughput_per_s"] or 0.0
            say(f"[ramp] offered {rate:.0f}/s: achieved {achieved}/s, p99 {figs['ack_p99_ms']} ms")
            if step.errors or (figs["ack_p99_ms"] or 1e9) > 100 or achieved < 0.9 * rate:
                break
            knee, held = rate, step
            await asyncio.sleep(1.0)
        result = meter.stop()
    finally:
        await run.close()
    if held is not None:
        run.stats = held
    return bench.finish(
        run, {"knee_per_s": None if knee is None else round(knee)}, result, clients=clients
    )


async def reconnect(opts: Options) -> dict[str, Any]:
    """Steady load; every rater's socket dropped at once; each reconnects, is sent its
    view, and re-sends what was unanswered. Figures are drop -> re-synced per tablet."""
    rooms, seats, screens = opts.n(50), opts.n(15, 2), opts.n(5)
    rate = 150 * opts.scale
    rounds = 2
    bench = Bench("reconnect", opts, rooms, seats, rounds + 2, screens)
    run = Run(bench.server.url, bench.setup, spread=opts.spread)
    resync: list[float] = []
    failed = 0
    try:
        await run.connect(seats, screens)
        clients = run.clients
        meter = Meter(bench.server)
        plan = steady_plan(rooms, seats, rate, rounds, in_step=opts.in_step)
        flow = asyncio.ensure_future(run.play(plan))
        await run.started.wait()
        await asyncio.sleep(max(run.start - now(), 0) + rooms * seats / rate / 2)  # mid-way

        async def storm(rater: Rater, dropped: float) -> None:
            nonlocal failed
            await rater.drop()
            for _attempt in range(20):
                try:
                    await rater.connect()
                    break
                except Exception:  # noqa: BLE001 - refused under load: try again
                    await asyncio.sleep(0.2)
            else:
                failed += 1
                return
            await asyncio.wait_for(rater.synced.wait(), CALL_TIMEOUT)
            async with rater.lock:  # the outbox is empty once the lock is free
                resync.append(now() - dropped)

        dropped = now()
        everyone = [r for rs in run.raters.values() for r in rs]
        await asyncio.gather(*(storm(r, dropped) for r in everyone))
        say(f"[reconnect] {len(resync)} of {len(everyone)} re-synced in {now() - dropped:.2f}s")
        await flow
        result = meter.stop()
    finally:
        await run.close()
    run.stats.errors += failed
    line = bench.finish(run, {}, result, samples=resync, clients=clients)
    span = max(resync) if resync else 0
    line["throughput_per_s"] = round(len(resync) / span, 1) if span else None
    return line


RUNNERS: dict[str, Callable[[Options], Awaitable[dict[str, Any]]]] = {
    "hold": hold,
    "steady": steady,
    "burst": burst,
    "ramp": ramp,
    "reconnect": reconnect,
}


def reference_ms() -> float:
    """The machine's own speed now: the best of three runs of a fixed pure-Python loop.
    On the shared VM these figures were measured on, such a loop's time varied 2x within
    an hour with nothing else running, and every figure moved with it (docs/performance.md,
    section 13); compare runs whose reference agrees."""
    best = math.inf
    for _ in range(3):
        started, total = time.process_time(), 0
        for i in range(2_000_000):
            total += i * i
        best = min(best, time.process_time() - started)
    return best * 1000


def conditions() -> str:
    load = os.getloadavg()
    return (
        f"loadavg {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} cpus, "
        f"reference loop {reference_ms():.0f} ms"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all)"
    )
    parser.add_argument("--mode", default="gevent", choices=("gevent", "threading"))
    parser.add_argument("--quick", action="store_true", help="short durations")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply client counts")
    parser.add_argument("--duration", type=float, help="seconds for hold/steady")
    parser.add_argument(
        "--in-step",
        action="store_true",
        help="steady/ramp/reconnect: every room's rounds close together (openings in bursts)",
    )
    parser.add_argument(
        "--openings-at-once",
        action="store_true",
        help="every tablet opens its sheet the instant its round closes (no spread)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario: {', '.join(sorted(unknown))}")
    opts = Options(
        mode=args.mode,
        quick=args.quick,
        scale=args.scale,
        duration=args.duration,
        in_step=args.in_step,
        spread=0.0 if args.openings_at_once else OPEN_SPREAD_S,
    )
    for name in args.scenarios or SCENARIOS:
        say(f"[{name}] start: {conditions()}")
        line = asyncio.run(RUNNERS[name](opts))
        assert tuple(line)[: len(KEYS)] == KEYS
        print(json.dumps(line), flush=True)
        say(f"[{name}] end: {conditions()}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        serving = argparse.ArgumentParser()
        serving.add_argument("_serve")
        serving.add_argument("--instance")
        serving.add_argument("--port", type=int, required=True)
        serving.add_argument("--mode", required=True)
        given = serving.parse_args()
        serve(given.instance, given.port, given.mode)
    else:
        main()
