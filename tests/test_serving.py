"""`kiosk serve` in both async modes: gevent (the production mode) over HTTPS with the
kiosk's CA, threading on request, and each server refusing an app built for the other."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from flask import Flask

from kiosk_server import create_app
from kiosk_server.launch import serve_mode
from kiosk_server.live import store
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
