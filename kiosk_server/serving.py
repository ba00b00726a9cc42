"""Serving the app: gevent's WSGI server for the gevent async mode (what `kiosk serve`
runs, chosen by measurement: docs/decisions.md), Werkzeug's threaded server for the
threading mode (tests, drills, `kiosk demo`, and `kiosk serve --async-mode threading`).

Each server carries only its own mode: an app built for the other is refused. We build
both ourselves rather than through Flask-SocketIO's ``run`` for one fix: after a
WebSocket session ends the connection is closed, instead of being kept alive for another
HTTP request. Without it the server reads the client's closing WebSocket frames as a
malformed request and the client waits seconds for a close reply. Neither logs request
lines: URLs carry enrolment tokens.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, load_ssl_context, make_server

from .backup import Schedule, hold_instance, serve_control, start_periodic
from .launch import patched

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
    if _mode(app) != "threading":
        # gevent needs its own server and a monkey-patched process: build_gevent_server.
        raise RuntimeError(f"Werkzeug's threaded server cannot carry async mode {_mode(app)!r}")
    return make_server(
        host, port, app, threaded=True, request_handler=RequestHandler, ssl_context=tls
    )


def _mode(app: Flask) -> str:
    return str(app.extensions["socketio"].async_mode)


def build_gevent_server(
    app: Flask, host: str = "127.0.0.1", port: int = 0, tls: tuple[str, str] | None = None
) -> Any:
    """gevent's WSGI server for ``app`` (WebSocket through simple-websocket, as
    Engine.IO's gevent driver does without gevent-websocket), over HTTPS when ``tls``
    names a certificate and key. The process must have been patched before anything
    was imported (``kiosk_server.launch``): unpatched, one blocking call stops every
    greenlet."""
    if _mode(app) != "gevent":
        raise RuntimeError(f"gevent's server cannot carry async mode {_mode(app)!r}")
    if not patched():
        raise RuntimeError("gevent's server needs a monkey-patched process (kiosk serve)")
    from gevent.pywsgi import WSGIHandler, WSGIServer

    class GeventHandler(WSGIHandler):  # type: ignore[misc] - gevent ships no type hints
        def handle_one_response(self) -> None:
            websocket = self.environ.get("HTTP_UPGRADE", "").lower() == "websocket"
            super().handle_one_response()
            if websocket:
                self.close_connection = True

        def log_request(self) -> None:
            """Request lines are not logged: URLs carry enrolment tokens."""

    handshake_s = float(app.config["TLS_HANDSHAKE_SECONDS"])

    class GeventServer(WSGIServer):  # type: ignore[misc] - gevent ships no type hints
        def wrap_socket_and_handle(self, client_socket: Any, address: Any) -> Any:
            """A failed TLS handshake (a tablet that does not trust the kiosk's CA yet)
            is one line in the log, not a traceback; one that does not finish within
            ``TLS_HANDSHAKE_SECONDS`` is closed (a silent client would hold its socket
            for good). After it, sockets block again: Engine.IO pings live ones."""
            client_socket.settimeout(handshake_s)
            try:
                tls_socket = self.wrap_socket(client_socket, **self.ssl_args)
            except OSError as exc:  # ssl.SSLError and TimeoutError included
                client_socket.close()
                reason = getattr(exc, "reason", None) or type(exc).__name__
                log.warning("TLS handshake from %s failed: %s", address[0], reason)
                return None
            tls_socket.settimeout(None)
            with closing(tls_socket):
                return self.handle(tls_socket, address)

    tls_args = {"ssl_context": load_ssl_context(*tls)} if tls else {}
    return GeventServer((host, port), app, handler_class=GeventHandler, log=None, **tls_args)


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


def _exit_on_sigterm(app: Flask, server: Any) -> None:
    """systemd stops a service with SIGTERM: leave through ``finally`` (the last backup)
    instead of dying mid-way. Under gevent the server is stopped from a greenlet, so its
    ``serve_forever`` returns rather than being interrupted inside the hub."""
    if _mode(app) == "gevent":
        import gevent

        gevent.signal_handler(signal.SIGTERM, server.stop)
    elif threading.current_thread() is threading.main_thread():
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
    try:
        build = build_gevent_server if _mode(app) == "gevent" else build_server
        server = build(app, host, port, tls)
        _exit_on_sigterm(app, server)
        # What exists now (modules, the app) lives as long as the process: out of the cycle
        # collector's way, so its full passes, which stop every socket on gevent's one
        # thread, scan only what serving made (measured under load: ~60 ms p50, not ~87).
        gc.freeze()
        # The rest is freed by reference counting (a socket event leaves no cycle:
        # live._EventContext), yet with 765 sockets a full pass still scans ~110,000 live
        # objects for nothing: 50-130 ms on the hub every 3-6 s under load (objects in
        # flight at a young pass are promoted and count towards the next full pass). A
        # full pass is considered after 100 middle passes, not 10: one per 10 s benchmark
        # run, at start. Young passes stay small (700; 10,000 made middle passes of up
        # to 60 ms).
        gc.set_threshold(700, 10, 100)
        if _mode(app) == "gevent":
            import gevent

            # Engine.IO spawns a greenlet per message; recording each one's spawning
            # stack (gevent's default, for debugging) took 2.7 % of the server's time
            # under load, and keeps frame information alive per greenlet.
            gevent.config.track_greenlet_tree = False
        server.serve_forever()
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
