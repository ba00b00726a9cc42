"""What the socket edges share: the app's services, presence, pushes and the error guard.

Pushes are snapshots built by ``interview`` views, so a screen that missed an event is
corrected by the next one, and a reconnecting client is brought up to date by the
snapshot sent at connect. The screens' snapshots (board, console, check-in) cover the
whole event and cost the most to build and to send, so in bursts they are coalesced (a
room at most once per ``PUSH_GAP_S``, and the last state always goes out), and a push
carries only the rooms changed since they were last pushed (``Pushes``,
``screen_snapshot``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import engineio.packet
from flask import Flask, Request, Response, current_app, request
from flask.ctx import RequestContext
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask_socketio import ConnectionRefusedError, Namespace, SocketIO
from socketio.packet import Packet as SocketIOPacket
from werkzeug.exceptions import NotFound

from . import interview
from .audit import record_refusal
from .errors import UserError, internal_error_payload
from .i18n import normalise_lang
from .limits import TokenBucket
from .storage import Store

log = logging.getLogger(__name__)


class Presence:
    """Which seats have a live socket right now (memory only: it is a fact about now)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sids: dict[int, set[str]] = {}

    def join(self, seat_id: int, sid: str) -> None:
        with self._lock:
            self._sids.setdefault(seat_id, set()).add(sid)

    def leave(self, sid: str) -> None:
        with self._lock:
            for sids in self._sids.values():
                sids.discard(sid)

    def sids(self, seat_id: int) -> list[str]:
        with self._lock:
            return sorted(self._sids.get(seat_id, ()))

    def online(self) -> set[int]:
        with self._lock:
            return {seat for seat, sids in self._sids.items() if sids}


def store(app: Flask | None = None) -> Store:
    return (app or current_app).extensions["kiosk.store"]  # type: ignore[no-any-return]


def socketio(app: Flask | None = None) -> SocketIO:
    return (app or current_app).extensions["socketio"]  # type: ignore[no-any-return]


def presence(app: Flask | None = None) -> Presence:
    return (app or current_app).extensions["kiosk.presence"]  # type: ignore[no-any-return]


def token_key(app: Flask | None = None) -> bytes:
    return (app or current_app).extensions["kiosk.token_key"]  # type: ignore[no-any-return]


def event_id(app: Flask | None = None) -> int | None:
    """The event this server runs: configured, or the instance's only event.

    Once found it is kept (it is asked for at every act and push): a server serves one
    event, and an event created while it runs does not take over or make it ambiguous;
    choosing another is for the next start (``KIOSK_EVENT_ID``)."""
    app = app or current_app
    configured = app.config.get("EVENT_ID")
    if configured:
        return int(configured)
    found = app.extensions.get("kiosk.event_id")
    if found is None:
        rows = store(app).rows("SELECT id FROM event ORDER BY id")
        if len(rows) == 1:
            found = app.extensions["kiosk.event_id"] = int(rows[0]["id"])
    return found  # type: ignore[no-any-return]


# Screens get each room at most once per gap (~20 times a second) while its changes
# pour in, and a change in a quiet room at once.
PUSH_GAP_S = 0.05


class Pushes:
    """Coalesces the screens' snapshots of one app's event, per room.

    A change asks for a push of its room. The push is built and sent in the background,
    at once when that room was last pushed ``PUSH_GAP_S`` ago or more, else when its gap
    ends: a busy room reaches the screens at most ~20 times a second, and a change in a
    quiet room goes out at once, however busy the others are (one gap for the whole
    event held every change up to 50 ms at 150 scores a second). A push carries every
    room whose gap has run out, built then, so it carries every change asked for before
    it (the last state always goes out); one push is built at a time, so a screen never
    receives an older snapshot after a newer one. A change that may have touched any
    room (``room_id`` None) is pushed whole, at most once per gap. The caller (an act
    about to be acknowledged) never waits for it. Only the rooms pushed are read again
    (``interview.RoomCache``), and only they are sent (``screen_snapshot``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[int, float] = {}  # room -> when the last push carrying it ended
        self._whole = float("-inf")  # when the last push of every room ended
        self._running = False  # the pusher is at work (until no change waits)
        self._wake_at = float("-inf")  # when the pusher, asleep, looks again
        self._sooner = threading.Event()  # a change is due before that
        self._idle = threading.Event()
        self._idle.set()
        self.rooms = interview.RoomCache()
        self.seq = 0  # the number of the last push begun (``screen_snapshot``)
        # Tablet views are built and sent under this lock, so two acts racing cannot
        # deliver an older view after a newer one (the last one sent is the latest).
        self.tablets = threading.Lock()

    def request(self, app: Flask, room_id: int | None = None, seats_only: bool = False) -> None:
        """A change was committed in ``room_id`` (None: in any room, or in none); for
        ``seats_only`` see ``RoomCache.note``."""
        with self._lock:
            self.rooms.note(room_id, seats_only)
            if self._running:
                if self._due(room_id) < self._wake_at:
                    self._sooner.set()
                return
            self._running = True
            self._idle.clear()
        socketio(app).start_background_task(self._pusher, app)

    def _due(self, room_id: int | None) -> float:
        """When a change in ``room_id`` (None: any room) may next be pushed."""
        last = self._whole
        if room_id is not None:
            last = max(self._sent.get(room_id, last), last)
        return last + PUSH_GAP_S

    def _pusher(self, app: Flask) -> None:
        """Push the rooms whose gap has run out, sleep until the next one's ends, and so on
        until no change waits."""
        try:
            while (step := self._next()) is not None:
                wait, taken, whole, seq = step
                if wait > 0:
                    self._sooner.wait(wait)
                    continue
                try:
                    _push_screens(app, self.rooms, taken, whole, seq)
                except BaseException:
                    with self._lock:
                        self.rooms.note(None)  # a room it did not rebuild may have changed
                    raise
                finally:
                    self._pushed(taken)
        except BaseException as exc:
            with self._lock:  # the next change starts a pusher again
                self._running = False
                self._idle.set()
            if not isinstance(exc, Exception):
                raise
            log.error("screen push failed: %s", type(exc).__name__)

    def _next(self) -> tuple[float, set[int] | None, set[int] | None, int] | None:
        """What the pusher does next: nothing (None: no change waits, and it stops), sleep
        (the seconds until the first gap ends), or a push, numbered ``seq``, of the rooms
        changed whose gap has run out (``RoomCache.take``)."""
        with self._lock:
            changed = self.rooms.changed
            if changed is not None and not changed:
                self._running = False  # decided under the lock a request takes
                self._idle.set()
                return None
            now = time.monotonic()
            due = self._due(None) if changed is None else min(map(self._due, changed))
            if due > now:
                self._wake_at = due
                self._sooner.clear()
                return due - now, None, None, 0
            self._wake_at = float("-inf")  # busy: a change asked for now waits for it
            ripe = None if changed is None else {r for r in changed if self._due(r) <= now}
            taken, whole = self.rooms.take(ripe)
            self.seq += 1
            return 0.0, taken, whole, self.seq

    def _pushed(self, rooms: set[int] | None) -> None:
        with self._lock:
            ended = time.monotonic()
            if rooms is None:
                self._whole = ended
            else:
                self._sent.update(dict.fromkeys(rooms, ended))

    def settle(self, timeout: float = 5.0) -> bool:
        """Wait until no push is pending (tests read what screens received)."""
        return self._idle.wait(timeout)


def pushes(app: Flask | None = None) -> Pushes:
    extensions = (app or current_app).extensions
    found = extensions.get("kiosk.pushes")
    if found is None:
        found = extensions.setdefault("kiosk.pushes", Pushes())
    return found  # type: ignore[no-any-return]


def screen_snapshot(
    view: dict[str, Any], seq: int, changed: set[int] | None = None
) -> dict[str, Any]:
    """A screen's view as sent: numbered, and, unless any room may have changed
    (``changed`` None), with only the ``changed`` rooms, marked ``partial``.

    The board, the console and the check-in view list every room of the event (50 rooms
    are ~60 KB of JSON), and at 150 scores a second a push sees a handful change: sent
    whole, up to 20 times a second to every screen, they were most of the bytes the
    server sent and of what each screen decoded. A screen lays a partial snapshot's rooms
    (by id) and its other fields over its picture (``Kiosk.snapshots`` in common.js,
    ``rater_client.drill.Picture``; docs/protocol.md, "Snapshots").

    ``seq`` orders them: a push is numbered when it begins, and the whole snapshot a
    screen gets when it connects (``snapshot_at_connect``) carries the number of the
    last push begun before it was built (read first, then built afresh), so it holds
    every change that push took. A screen drops a partial not newer than its picture and
    keeps one that comes before its first whole snapshot until that arrives."""
    if changed is None:
        return {**view, "seq": seq}
    rooms = [room for room in view["rooms"] if room["id"] in changed]
    return {**view, "rooms": rooms, "seq": seq, "partial": True}


def snapshot_at_connect(build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The whole snapshot a screen gets when it connects, numbered with the last push
    begun, read before ``build`` runs (``screen_snapshot`` says why)."""
    seq = pushes().seq
    return screen_snapshot(build(), seq)


def _push_screens(
    app: Flask,
    rooms: interview.RoomCache,
    changed: set[int] | None,
    whole: set[int] | None,
    seq: int,
) -> None:
    """Build and send the board, the console (and its results), the check-in view and
    each clerk device's own view, fresh but for the rooms not ``changed`` (and of those
    not changed ``whole``, but for their seats' marks); the board and console carry only
    the ``changed`` rooms. The check-in desk shows no seats: its view carries only the
    rooms changed ``whole``, and is not sent when there are none."""
    ev = event_id(app)
    if ev is None:
        return
    sio, st = socketio(app), store(app)
    online = presence(app).online()
    console = interview.board(
        st, ev, organiser=True, online=online, cache=rooms, changed=changed, whole=whole
    )
    console = screen_snapshot(console, seq, changed)
    board = screen_snapshot(interview.observer_board(console), seq, changed)
    sio.emit("board", board, to=f"event:{ev}", namespace="/observer")
    sio.emit("console", console, to=f"event:{ev}", namespace="/organiser")
    from . import results
    from .checkin import checkin_view
    from .clerk import snapshot

    def organiser_results() -> dict[str, Any]:
        with st.read() as db:
            return results.organiser_view(db, ev)

    # Once the settings are frozen (the first call), no act naming a room changes it.
    settled = results.settled_by_room_acts
    kept = rooms.views.get(("results", ev))
    organiser = rooms.view("results", ev, changed, organiser_results, settled)
    if organiser is not kept:  # else every console has it: sent then, or at its connect
        sio.emit("results", organiser, to=f"event:{ev}", namespace="/organiser")
    if not _watched(sio, "/checkin", f"event:{ev}"):
        # No desk to send it to (most interview rooms run without one): a desk that
        # connects gets its view built afresh (``snapshot_at_connect``), and what was
        # kept for a desk is forgotten, since the acts from now on go unseen by it.
        rooms.drop("checkin")
    elif whole is None or whole:
        desk = checkin_view(st, ev, cache=rooms, changed=whole)
        sio.emit(
            "checkin", screen_snapshot(desk, seq, whole), to=f"event:{ev}", namespace="/checkin"
        )
    # Each clerk device hears only its own view (the second entry is blind to the first).
    for clerk in st.rows(
        "SELECT * FROM observer WHERE event_id = ? AND role = 'clerk' AND revoked = 0"
        " AND credential_digest IS NOT NULL",
        [ev],
    ):
        sio.emit("clerk", snapshot(clerk, app), to=f"clerk:{clerk['id']}", namespace="/clerk")


def _watched(sio: SocketIO, namespace: str, room: str) -> bool:
    """Whether any socket has joined ``room`` on ``namespace`` (in this process)."""
    return next(iter(sio.server.manager.get_participants(namespace, room)), None) is not None


def publish(
    app: Flask | None = None,
    room_id: int | None = None,
    tablets: bool = True,
    seats_only: bool = False,
) -> None:
    """Push fresh snapshots: the board to observers, the console to organisers (both
    coalesced, see ``Pushes``), and, when ``tablets``, each tablet of ``room_id`` (every
    room when None) its own view, at once.

    Call it after every committed change, naming the one room the change touched, or
    ``room_id=None`` when it may have touched others too: the screens' push reads
    again only the rooms so named, and of a room named ``seats_only`` (the change touched
    only a seat's mark or presence: ``RoomCache.note``) only its seats' marks."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    ev = event_id(app)
    if ev is None:
        return
    if tablets:
        # Tablets first: once a screen shows a change, the tablets have been sent it.
        sio, st = socketio(app), store(app)
        sql = "SELECT seat.* FROM seat JOIN room ON room.id = seat.room_id WHERE room.event_id = ?"
        params: list[Any] = [ev]
        if room_id is not None:
            sql += " AND seat.room_id = ?"
            params.append(room_id)
        rooms: dict[int, list[interview.Seat]] = {}
        with pushes(app).tablets:
            for row in st.rows(sql + " AND seat.credential_digest IS NOT NULL", params):
                seat = interview.Seat(row["id"], row["room_id"], ev, row["number"])
                rooms.setdefault(seat.room_id, []).append(seat)
            for seats in rooms.values():
                for seat, view in zip(seats, interview.rater_views(st, seats), strict=True):
                    sio.emit("state", view, to=f"seat:{seat.id}", namespace="/rater")
    pushes(app).request(app, room_id, seats_only)


class WholeWrites:
    """A WebSocket connection's socket, as simple-websocket sends on it: each frame
    whole, and one frame at a time.

    simple-websocket 1.1.0 (the latest release) sends a frame with one ``sock.send`` and
    does not look at how much went out. Under gevent a tablet or screen that reads slowly
    fills the send buffer, the rest of the frame is dropped, and the stream is garbage
    from there on (simple-websocket#45, fixed upstream after that release). It also sends
    from two places: Engine.IO's writer, and its own reader answering a ping or a close,
    which under gevent may meet the writer waiting on the same socket. So every send
    here is a ``sendall``, under the connection's own lock.

    And each frame goes out at once (``TCP_NODELAY``). With Nagle's algorithm a frame
    written while the one before is unacknowledged waits for the reader's ACK, which a
    screen that only reads delays by up to ~40 ms: the board reached ``load.py``'s
    observers p50 12 / p99 50 ms after the server wrote it, 1.3 / 20 ms without."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._lock = threading.Lock()
        with contextlib.suppress(OSError):  # not TCP: nothing to switch off
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data: bytes) -> int:
        with self._lock:
            self._sock.sendall(data)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def send_whole_frames(sio: SocketIO) -> None:
    """Every WebSocket connection of ``sio`` sends through :class:`WholeWrites`.

    Engine.IO's driver builds simple-websocket's connection and then runs the handler
    with it; the handler is wrapped so the socket is swapped before anything is sent."""
    server = sio.server
    websocket = server.eio._async["websocket"]

    class WholeFramesWebSocket(websocket):  # type: ignore[misc, valid-type]
        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            handler = self.app

            def run(ws: Any) -> Any:
                ws.ws.sock = WholeWrites(ws.ws.sock)
                return handler(ws)

            self.app = run
            return super().__call__(environ, start_response)

    server.eio._async = {**server.eio._async, "websocket": WholeFramesWebSocket}


class TextPacket(SocketIOPacket):
    """The Socket.IO packets this server sends: JSON text, never binary attachments.

    The stock packet walks every value of every payload it sends looking for bytes, to
    split them out as attachments: a 50-room board took 15 ms to encode with the walk
    and 3 ms without (one run, both ways), on the hub's one thread, twice per screen
    push. Nothing here sends bytes; were something to try, JSON encoding fails loudly
    instead of a binary event going out. Decoding what clients send is the stock code (a
    binary event from a client still reads its attachment count, and
    ``refuse_malformed_packets`` still guards it)."""

    uses_binary_events = False


# Where Socket.IO is served (Flask-SocketIO's default); pages never have this path.
SOCKET_PATH = "/socket.io"


class _EventContext(RequestContext):
    """The request context Flask-SocketIO enters for each socket event, with the
    connection's handshake environ (path ``/socket.io/``): no page route has that path,
    so it is not matched (``url_for`` still works, the URL adapter is bound)."""

    def match_request(self) -> None:
        """Not found, as matching would find, but made and never raised here. Flask
        raises the ``NotFound`` and keeps it, and its traceback refers back to this
        context: a reference cycle per event (~70 objects) that only the cyclic garbage
        collector frees. At 150 scores a second its full passes, 15,000-80,000 objects
        each, held every connection still for 50-280 ms every few seconds
        (docs/performance.md, section 13). A page request on this path (Engine.IO's
        middleware takes every one under ``/socket.io/``) still gets its 404."""
        self.request.routing_exception = NotFound()


class KioskFlask(Flask):
    """Flask, but a socket event's request context does not match routes
    (``_EventContext``)."""

    def request_context(self, environ: dict[str, Any]) -> RequestContext:
        if environ.get("PATH_INFO", "").startswith(SOCKET_PATH):
            return _EventContext(self, environ)
        return super().request_context(environ)


class SocketSessions(SecureCookieSessionInterface):
    """The cookie session, except that a socket event gets its connection's session at once.

    Flask opens the session whenever a request context is pushed, and Flask-SocketIO pushes
    one per socket event, then swaps in the connection's own copy of the session (taken
    from the cookie at its first event, kept in its environ). Handing that copy over at
    once skips checking and decoding the cookie only to drop it: ~3 % of the server's CPU
    under load. HTTP requests (and a socket's first event) open the cookie as before."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        saved = request.environ.get("saved_session")  # set by Flask-SocketIO, never by a client
        if saved is not None:
            return saved  # type: ignore[no-any-return]
        return super().open_session(app, request)


def refuse_malformed_packets(sio: SocketIO) -> None:
    """Malformed frames end their own connection, quietly, and nothing else.

    A WebSocket frame Engine.IO cannot decode (no type digit, bad base64) raises out of
    its connection loop: Werkzeug logs a traceback and the connection's writer thread
    lingers until the ping timeout. A Socket.IO packet python-socketio cannot decode (a
    bad type, an event with no array or a name that is not text, a stray binary frame)
    raises inside the library, which logs a traceback and carries on. Both are a broken
    or hostile client: one warning line, and that connection closed. A packet whose
    binary attachments never came is dropped with its connection (the library would keep
    it)."""
    server = sio.server
    websocket = server.eio._async["websocket"]

    class CheckedWebSocket(websocket):  # type: ignore[misc, valid-type]
        def wait(self) -> Any:
            data = super().wait()
            if data is not None:
                try:
                    engineio.packet.Packet(encoded_packet=data)
                except (ValueError, TypeError, IndexError) as exc:
                    log.warning("malformed Engine.IO frame (%s); connection closed", exc)
                    return None  # as if the client had closed: the loop cleans up
            return data

    server.eio._async = {**server.eio._async, "websocket": CheckedWebSocket}
    handle_message = server._handle_eio_message
    handle_disconnect = server._handle_eio_disconnect
    handle_event = server._handle_event

    def checked_event(eio_sid: str, namespace: Any, id: Any, data: Any) -> None:
        # An event's name must be text: the library hands the handler a list or a number
        # as it came, and the handler (in its own greenlet, past on_message) fails there.
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise ValueError("event name is not a string")
        handle_event(eio_sid, namespace, id, data)

    server._handle_event = checked_event

    def on_message(eio_sid: str, data: Any) -> None:
        try:
            handle_message(eio_sid, data)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            log.warning(
                "malformed Socket.IO packet (%s: %.80s); connection closed",
                type(exc).__name__,
                exc,
            )
            server._binary_packet.pop(eio_sid, None)
            server.eio.disconnect(eio_sid)

    def on_disconnect(eio_sid: str, reason: Any = None) -> None:
        server._binary_packet.pop(eio_sid, None)
        handle_disconnect(eio_sid, reason)

    server.eio.on("message", on_message)
    server.eio.on("disconnect", on_disconnect)


def with_credential(response: Response, cookie: str, credential: str) -> Response:
    """Hand a browser its device credential: HttpOnly, same-site only, a week at most."""
    response.set_cookie(
        cookie,
        credential,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
        max_age=7 * 86400,
    )
    return response


def client_lang(auth: object = None) -> str:
    """The client's language: from the socket auth, else its ``lang`` cookie."""
    if isinstance(auth, dict) and isinstance(auth.get("lang"), str):
        return normalise_lang(auth["lang"])
    return normalise_lang(request.cookies.get("lang"))


class Audience(Namespace):
    """A socket namespace that remembers who each connection is, from connect on."""

    def __init__(self, namespace: str) -> None:
        super().__init__(namespace)
        self._lock = threading.Lock()
        self._who: dict[str, tuple[Any, str]] = {}
        self.bucket = TokenBucket()

    def trigger_event(self, event: str, *args: Any) -> Any:
        """A connect handler that fails unexpectedly refuses the connection as
        ``internal`` at once (logged by type and frames, never the message: its auth may
        hold a credential). Otherwise the client is never answered and waits out its
        timeout, and the page's banner cannot say why."""
        if event != "connect":
            return super().trigger_event(event, *args)
        try:
            return super().trigger_event(event, *args)
        except ConnectionRefusedError:
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            where = "".join(traceback.format_tb(exc.__traceback__))  # frames, no values
            name = type(exc).__name__
            log.error("socket connect on %s failed: %s\n%s", self.namespace, name, where)
            raise ConnectionRefusedError("internal") from None

    def remember(self, identity: Any, lang: str) -> None:
        with self._lock:
            self._who[request.sid] = (identity, lang)  # type: ignore[attr-defined]

    def forget(self) -> Any:
        with self._lock:
            found = self._who.pop(request.sid, None)  # type: ignore[attr-defined]
        self.bucket.forget(request.sid)  # type: ignore[attr-defined]
        return None if found is None else found[0]

    def identity(self) -> Any:
        with self._lock:
            found = self._who.get(request.sid)  # type: ignore[attr-defined]
        if found is None:
            raise UserError("not_authenticated")
        return found[0]

    def lang(self) -> str:
        with self._lock:
            found = self._who.get(request.sid)  # type: ignore[attr-defined]
        return found[1] if found else client_lang()

    def actor(self) -> str:
        raise NotImplementedError

    def event(self) -> int | None:
        """The event a refusal on this connection belongs to (its log), if known."""
        return None


def payload(args: tuple[Any, ...]) -> dict[str, Any]:
    """A socket event's one argument, which every event here takes as a JSON object."""
    if len(args) != 1 or not isinstance(args[0], dict):
        raise UserError("malformed")
    return args[0]


def guarded(action: str) -> Callable:
    """Wrap a socket handler: a UserError becomes a localised refusal that is recorded;
    any other exception is logged (type only: payloads may hold scores) and answered
    with a generic error. The handler's own return value is the ack."""

    def decorate(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def wrapper(self: Audience, *args: Any) -> Any:
            try:
                if not self.bucket.take(request.sid):  # type: ignore[attr-defined]
                    raise UserError("rate_limited")
                return handler(self, *args)
            except UserError as err:
                try:
                    actor, event = self.actor(), self.event()
                except UserError:
                    actor, event = "anonymous", None
                record_refusal(store(), actor, action, err.code, event=event, field=err.field)
                return err.payload(self.lang())
            except Exception as exc:  # noqa: BLE001 - the last line of defence
                log.error("socket handler %s failed: %s", action, type(exc).__name__)
                return internal_error_payload(self.lang())

        return wrapper

    return decorate
