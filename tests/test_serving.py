"""`kiosk serve` in both async modes: gevent (the production mode) over HTTPS with the
kiosk's CA, threading on request, and each server refusing an app built for the other;
and gevent's WebSocket frames reaching a slow reader whole."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import websocket
from flask import Flask

from kiosk_server import create_app
from kiosk_server.launch import serve_mode
from kiosk_server.live import WholeWrites, store
from kiosk_server.serving import build_gevent_server, build_server
from rater_client import RaterClient
from rater_client.drill import OrganiserClient

from .conftest import PASSWORD, Event, run_kiosk, sheet
from .test_live_server import free_port, round_is, start_server


def serve_gevent_https(
    app: Flask, usb: Path, monkeypatch: pytest.MonkeyPatch, **extra_env: str
) -> tuple[subprocess.Popen, int, str]:
    """`kiosk serve` as in production (gevent, HTTPS with the kiosk's own CA, backups to
    ``usb``) on the app's instance; this process's HTTP and WebSocket clients trust that
    CA. Returns the server, its port and the CA file."""
    instance = Path(app.instance_path)
    assert app.test_cli_runner().invoke(args=["tls", "init", "--ip", "127.0.0.1"]).exit_code == 0
    store(app).close()  # the server owns the database now
    ca = str(instance / "tls" / "ca.pem")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca)
    monkeypatch.setenv("WEBSOCKET_CLIENT_CA_BUNDLE", ca)
    port = free_port()
    options = ("--async-mode", "gevent", "--backup-dir", str(usb))
    return start_server(instance, port, *options, scheme="https", **extra_env), port, ca


def test_kiosk_serve_under_gevent_over_https_takes_a_signed_score_and_acks_it(
    app: Flask, event: Event, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance, usb = Path(app.instance_path), tmp_path / "usb"
    server, port, ca = serve_gevent_https(app, usb, monkeypatch)
    url = f"https://127.0.0.1:{port}"
    organiser, rater = OrganiserClient(url, timeout=20), RaterClient(url, ca=ca, timeout=20)
    try:
        assert requests.get(f"{url}/login", timeout=5).status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{url}/login", verify=requests.certs.where(), timeout=5)  # public CAs
        organiser.login(PASSWORD)
        assert rater.enrol(event.token("B", 1))["number"] == 1
        rater.connect()
        round_id = organiser.call_next(organiser.room("B")["id"])
        organiser.open_round(round_id)
        rater.wait_for(round_is("open", round_id))
        ack = rater.submit(sheet("30", "20", "20"))  # signed on the tablet, sealed, opened
        assert ack["ok"] and not ack["duplicate"] and rater.receipts
        # `kiosk backup` is answered by the serving process, on its control socket.
        done = run_kiosk("backup", "--to", str(tmp_path), env=server_env(instance))
        assert done.returncode == 0, done.stderr
    finally:
        rater.close()
        organiser.close()
        server.send_signal(signal.SIGTERM)  # as systemd stops it: the last backup, then exit
        assert server.wait(timeout=60) == 0
    log = (instance / "server.log").read_text()
    assert "async mode gevent" in log and "Traceback" not in log
    assert "/enrol/" not in log and "GET /" not in log  # no request lines: URLs carry tokens
    assert len(list(usb.glob("kiosk-backup-*.tar"))) >= 2  # at start and at the stop
    assert len(list(tmp_path.glob("kiosk-backup-*.tar"))) == 1


def test_a_client_that_never_finishes_its_tls_handshake_is_let_go(
    app: Flask, event: Event, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A socket that connects and says nothing (or stalls mid-handshake) is closed after
    ``TLS_HANDSHAKE_SECONDS`` instead of holding a socket for good; others are served."""
    instance = Path(app.instance_path)
    server, port, _ca = serve_gevent_https(
        app, tmp_path / "usb", monkeypatch, KIOSK_TLS_HANDSHAKE_SECONDS="1"
    )
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=15) as silent:
            assert requests.get(f"https://127.0.0.1:{port}/login", timeout=5).status_code == 200
            started = time.monotonic()
            try:
                assert silent.recv(1) == b""  # closed by the server
            except ConnectionResetError:
                pass
            assert time.monotonic() - started < 10
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    assert "TLS handshake from 127.0.0.1 failed" in (instance / "server.log").read_text()


def server_env(instance: Path) -> dict[str, str]:
    return {**os.environ, "KIOSK_INSTANCE_PATH": str(instance)}


def test_kiosk_serve_keeps_the_threading_mode_on_request(app: Flask, event: Event) -> None:
    instance = Path(app.instance_path)
    store(app).close()
    port = free_port()
    server = start_server(instance, port, "--async-mode", "threading")
    try:
        assert requests.get(f"http://127.0.0.1:{port}/login", timeout=5).status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    assert "async mode threading" in (instance / "server.log").read_text()


def test_each_server_refuses_an_app_built_for_the_other_mode(app: Flask, tmp_path: Path) -> None:
    gevent_app = create_app({"INSTANCE_PATH": str(tmp_path / "g"), "ASYNC_MODE": "gevent"})
    try:
        with pytest.raises(RuntimeError, match="cannot carry async mode 'gevent'"):
            build_server(gevent_app)
        with pytest.raises(RuntimeError, match="monkey-patched"):
            build_gevent_server(gevent_app)  # this test process is not patched
    finally:
        store(gevent_app).close()
    with pytest.raises(RuntimeError, match="cannot carry async mode 'threading'"):
        build_gevent_server(app)


def test_only_serve_is_launched_in_a_patched_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIOSK_ASYNC_MODE", raising=False)
    assert serve_mode(["serve", "--port", "5000"]) == "gevent"
    assert serve_mode(["serve", "--async-mode", "threading"]) == "threading"
    assert serve_mode(["serve", "--async-mode=threading"]) == "threading"
    for other in (["demo"], ["backup", "--to", "x"], ["tls", "init"], [], ["--help"]):
        assert serve_mode(other) is None
    monkeypatch.setenv("KIOSK_ASYNC_MODE", "threading")
    assert serve_mode(["serve"]) == "threading"
    assert serve_mode(["serve", "--async-mode", "gevent"]) == "gevent"


# A gevent server (the production mode) in a child process, as gevent must patch a process
# before anything imports; with "whole" it sends as create_app's servers do.
BIG_PUSHER = """
from gevent import monkey
monkey.patch_all()
import sys
from flask import Flask, request
from flask_socketio import SocketIO
from kiosk_server.live import send_whole_frames
from kiosk_server.serving import build_gevent_server

app = Flask(__name__)
app.config["TLS_HANDSHAKE_SECONDS"] = 10
sio = SocketIO(app, async_mode="gevent")
if sys.argv[1] == "whole":
    send_whole_frames(sio)

@sio.on("push")
def push(count):
    for number in range(count):
        sio.emit("blob", {"number": number, "data": str(number % 10) * 400_000}, to=request.sid)
    return "sent"

server = build_gevent_server(app)
server.start()
print(server.server_port, flush=True)
server.serve_forever()
"""


def pushes_read_slowly(mode: str, count: int = 20) -> int:
    """Ask the child server for ``count`` pushes of 400 kB, read nothing for a second (its
    send buffer fills), then read: how many arrived whole and in order."""
    with subprocess.Popen(
        [sys.executable, "-c", BIG_PUSHER, mode], stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            return _read_slowly(child, count)
        finally:
            child.kill()


def _read_slowly(child: subprocess.Popen, count: int) -> int:
    assert child.stdout is not None
    port = int(child.stdout.readline())
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket",
        sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)],
        timeout=10,
    )
    ws.recv()  # Engine.IO's open
    ws.send("40")
    ws.recv()  # Socket.IO's connect
    ws.send(f'420["push",{count}]')
    time.sleep(1)
    whole = 0
    try:
        while whole < count:
            message = ws.recv()
            if message == "2":  # Engine.IO's ping
                ws.send("3")
            elif not message.startswith("430"):  # not the push's ack
                pushed = json.loads(message[message.index("[") :])
                data = str(whole % 10) * 400_000
                if pushed != ["blob", {"number": whole, "data": data}]:
                    break
                whole += 1
    except (websocket.WebSocketException, ValueError):  # a torn frame, or garbage
        pass
    ws.close()
    return whole


def test_gevent_sends_each_frame_whole_to_a_slow_reader() -> None:
    """A tablet on weak Wi-Fi reads slowly while the board pushes pile up."""
    assert pushes_read_slowly("whole") == 20


def test_a_connection_sends_each_frame_without_waiting_for_the_last_acknowledged() -> None:
    """With Nagle's algorithm a push written while the last is unacknowledged waits for
    the reader's ACK, which a screen that only reads delays by up to ~40 ms
    (performance.md, section 18): the socket every connection sends through
    (``WholeWrites``, on every connection as the tests above show) has it off."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        with client, accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
            WholeWrites(accepted).send(b"frame")
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            assert client.recv(5) == b"frame"


def test_without_it_a_slow_reader_gets_torn_frames() -> None:
    """The control: simple-websocket 1.1.0's single ``send`` drops the rest of a frame the
    full buffer did not take (measured: 9 of 20 whole, then a frame that cannot be
    decoded). If a later release sends whole frames itself, this fails: then
    ``send_whole_frames`` can go."""
    assert pushes_read_slowly("bare") < 20
