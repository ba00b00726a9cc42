"""The kiosk server: Flask pages and Socket.IO namespaces for the interview room.

``create_app`` reads top to bottom: defaults, the instance's config file, ``KIOSK_*``
environment variables, then test overrides; it opens the one database connection and
registers the audiences (organiser, rater, observer) and the CLI.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from flask import Flask, redirect, request, url_for
from flask_socketio import SocketIO

from seal.signing import load_private_key

from . import floors
from .i18n import CATALOG, normalise_lang, translate
from .instance import (
    DATABASE_FILE,
    SERVER_KEY_FILE,
    default_instance_path,
    ensure_instance,
    token_key,
)
from .live import (
    SOCKET_PATH,
    KioskFlask,
    Presence,
    SocketSessions,
    TextPacket,
    refuse_malformed_packets,
    send_whole_frames,
)
from .storage import Store

# The app's default mode, for tests, drills and `kiosk demo`: no patched process needed.
# `kiosk serve` builds the app for gevent instead (KIOSK_ASYNC_MODE, kiosk_server.launch).
ASYNC_MODE = "threading"
MAX_MESSAGE_BYTES = 64 * 1024
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


DEFAULT_NETWORKS = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
)


def guard(wsgi_app: Any, networks: Any) -> Any:
    """In front of everything, pages and Socket.IO alike:

    - LAN only: a client whose address is outside the allowed networks (private ranges by
      default; ``KIOSK_ALLOWED_NETWORKS`` narrows them) is refused before any code runs;
    - a Socket.IO handshake without an Origin is refused. Engine.IO refuses a foreign
      Origin but lets a missing one through; browsers always send it on a WebSocket, so
      its absence means a forged request (cross-site WebSocket hijacking).
    """
    allowed = [ipaddress.ip_network(n) for n in networks]

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        try:
            address = ipaddress.ip_address(environ.get("REMOTE_ADDR", ""))
        except ValueError:
            address = None
        if address is None or not any(address in net for net in allowed):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"This kiosk serves its own LAN only"]
        path = environ.get("PATH_INFO", "")
        if path.startswith(SOCKET_PATH) and not environ.get("HTTP_ORIGIN"):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"Origin required"]
        return wsgi_app(environ, start_response)

    return app


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app for one instance folder."""
    floors.check()  # never serve scores on a stack with known holes
    instance = Path((test_config or {}).get("INSTANCE_PATH") or default_instance_path())
    app = KioskFlask(__name__, instance_path=str(instance), instance_relative_config=True)
    secret = ensure_instance(instance)
    app.config.from_mapping(
        SECRET_KEY=secret.hex(),
        DATABASE=str(instance / DATABASE_FILE),
        EVENT_ID=None,
        PUBLIC_URL=None,
        ALLOWED_NETWORKS=DEFAULT_NETWORKS,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=False,  # set by kiosk serve when it speaks HTTPS
        MAX_CONTENT_LENGTH=8 * 1024 * 1024,
        ASYNC_MODE=ASYNC_MODE,  # benchmarks/load.py measures the others against it
        # An organiser sign-in ends after this long without a request or socket event,
        # and this long after it began, whatever (OWASP ASVS 3.3.2, level 2).
        ORGANISER_IDLE_SECONDS=30 * 60,
        ORGANISER_MAX_SECONDS=12 * 3600,
        # A connection that has not finished its TLS handshake by then is closed: one
        # that never sends a ClientHello would otherwise hold a socket for good.
        TLS_HANDSHAKE_SECONDS=10,
    )
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("KIOSK")
    if test_config:
        app.config.update(test_config)

    app.extensions["kiosk.store"] = store = Store(app.config["DATABASE"])
    store.server_key = load_private_key(str(instance / SERVER_KEY_FILE))
    app.extensions["kiosk.token_key"] = token_key(secret)
    app.extensions["kiosk.presence"] = Presence()
    # One SocketIO per app (not a module singleton) so tests can build many apps.
    socketio = SocketIO(
        app,
        async_mode=app.config["ASYNC_MODE"],
        cors_allowed_origins=None,  # same origin only
        max_http_buffer_size=MAX_MESSAGE_BYTES,
        serializer=TextPacket,
        logger=False,
        engineio_logger=False,
    )
    app.extensions["socketio"] = socketio
    app.session_interface = SocketSessions()
    refuse_malformed_packets(socketio)
    send_whole_frames(socketio)
    networks = app.config["ALLOWED_NETWORKS"]
    if isinstance(networks, str):
        networks = [n.strip() for n in networks.split(",") if n.strip()]
    app.wsgi_app = guard(app.wsgi_app, networks)  # type: ignore[method-assign]

    from . import auditor, auth, checkin, clerk, evaluator, observer, organiser, party, rater, sheet

    app.register_blueprint(auth.bp)
    app.register_blueprint(auditor.bp)
    app.register_blueprint(party.bp)
    app.register_blueprint(evaluator.bp)  # phones holding a ballot slip: pages, no socket
    app.register_blueprint(sheet.bp)
    for audience in (organiser, rater, observer, checkin, clerk):
        app.register_blueprint(audience.bp)
        socketio.on_namespace(audience.Live(audience.NAMESPACE))

    @app.context_processor
    def language() -> dict[str, Any]:
        lang = normalise_lang(request.cookies.get("lang"))
        return {
            "lang": lang,
            "t": lambda key, **kw: translate(key, lang, **kw),
            "catalog": CATALOG[lang],
            "csrf_token": auth.csrf_token,
        }

    @app.after_request
    def security_headers(response: Any) -> Any:
        """No inline script, nothing from elsewhere, no framing, no referrer: enrolment and
        observer URLs carry one-time tokens that must not leak to another page."""
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    @app.get("/")
    def index() -> Any:
        return redirect(url_for("auth.login"))

    from .cli import register

    register(app)
    return app
