"""Serving the app: Werkzeug's threaded server, which carries the threading async mode.

Flask-SocketIO's own ``run`` uses the same server; we build it ourselves to pass one
fix: after a WebSocket session ends the connection is closed, instead of being kept
alive for another HTTP request. Without it the server reads the client's closing
WebSocket frames as a malformed request and the client waits seconds for a close reply.
The server choice for heavy load is measured in benchmarks (see docs/decisions.md).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .backup import Schedule, hold_instance, serve_control, start_periodic

log = logging.getLogger(__name__)


class RequestHandler(WSGIRequestHandler):
    def run_wsgi(self) -> None:
        websocket = self.headers.get("Upgrade", "").lower() == "websocket"
        super().run_wsgi()
        if websocket:
            self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Request lines are not logged: URLs carry enrolment tokens."""


def build_server(
    app: Flask, host: str = "127.0.0.1", port: int = 0, tls: tuple[str, str] | None = None
) -> BaseWSGIServer:
    """A threaded server for ``app`` (port 0 picks a free one: see ``server_port``), over
    HTTPS when ``tls`` names a certificate and key."""
    mode = app.extensions["socketio"].async_mode
    if mode != "threading":
        # gevent needs its own server and a monkey-patched process (benchmarks/load.py).
        raise RuntimeError(f"Werkzeug's threaded server cannot carry async mode {mode!r}")
    return make_server(
        host, port, app, threaded=True, request_handler=RequestHandler, ssl_context=tls
    )


def start_heartbeat(app: Flask, stop: threading.Event, every: float = 10.0) -> threading.Thread:
    """Sign a tree head at least once a minute while the log grows (evidence.heartbeat),
    and show it on the screens."""
    from .evidence import heartbeat
    from .live import event_id, publish, store

    def beat() -> None:
        while not stop.wait(every):
            try:
                ev = event_id(app)
                if ev is not None and heartbeat(store(app), ev) is not None:
                    publish(app, tablets=False)
            except Exception as exc:  # noqa: BLE001 - a missed beat must not end the loop
                log.error("heartbeat failed: %s", type(exc).__name__)

    thread = threading.Thread(target=beat, daemon=True, name="kiosk-heartbeat")
    thread.start()
    return thread


def _exit_on_sigterm() -> None:
    """systemd stops a service with SIGTERM: leave through ``finally`` (the last backup)
    instead of dying mid-way."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def serve_forever(
    app: Flask,
    host: str,
    port: int,
    tls: tuple[str, str] | None = None,
    backups: Schedule | None = None,
    report: Callable[[str], None] = print,
) -> None:
    """Serve until stopped, holding the instance (one server, one connection), answering
    ``kiosk backup`` on its control socket, and backing up on ``backups``' schedule."""
    lock = hold_instance(Path(app.instance_path))
    stop = threading.Event()
    start_heartbeat(app, stop)
    serve_control(app, stop)
    periodic = start_periodic(app, backups, stop, report) if backups else None
    _exit_on_sigterm()
    try:
        build_server(app, host, port, tls).serve_forever()
    finally:
        stop.set()
        if periodic is not None:
            periodic.join(timeout=120)
        os.close(lock)


def serve_in_thread(
    app: Flask, host: str = "127.0.0.1", tls: tuple[str, str] | None = None
) -> tuple[str, BaseWSGIServer]:
    """Serve on a free port from a daemon thread (drills and tests); returns (url, server)."""
    server = build_server(app, host, 0, tls)
    threading.Thread(target=server.serve_forever, daemon=True, name="kiosk-server").start()
    scheme = "https" if tls else "http"
    return f"{scheme}://{host}:{server.server_port}", server
