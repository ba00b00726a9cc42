"""A Python rater tablet: enrol with a seat token, follow the room, submit sealed sheets.

This is the same protocol the browser tablet speaks (docs/protocol.md), for drills
(``kiosk rehearse``), tests and benchmarks::

    rater = RaterClient("http://127.0.0.1:5000")
    rater.enrol(token)                      # the token from the seat's QR code
    rater.connect()
    state = rater.wait_for(lambda s: s["round"] and s["round"]["state"] == "open")
    rater.submit({"analysis": "18.5", ...})  # a signed commitment, acknowledged on disk
    rater.close()

Like the tablet, the client holds its own Ed25519 key (:class:`Device`), signs every
envelope, keeps each sheet's opening until the round closes, and then reveals it by
itself once the server's signed close statement lists its commitment. Every receipt
and server statement is checked; a failure is kept in ``alarms``. A refusal raises
:class:`Refused` with the server's code and localised message.

Like the tablet it has an **outbox**: every signed envelope is kept until the server
answers it, and the very same envelope is sent again after a lost answer, a dropped
connection or a server restart (the server answers a repeat as the first time). A
``submit`` waits up to ``timeout`` for its answer; if none comes, the envelope stays in
the outbox and goes out again, in order, when the socket reconnects.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import requests
import socketio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ballot.scoring import RubricItem, SheetError, validate_sheet
from seal.record import commitment, receipt_holds
from seal.signing import b64u, load_public_key, public_key_text, sign, verify

from .transport import socket_client


class Refused(Exception):
    """The server refused an act; ``code`` is stable, ``message`` is for people."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code = error.get("code")
        self.field = error.get("field")
        self.message = error.get("message")


def _checked(ack: Any) -> dict[str, Any]:
    if not isinstance(ack, dict):
        raise Refused({"code": "no_answer", "message": "no acknowledgement"})
    if not ack.get("ok"):
        raise Refused(ack.get("error") or {})
    return ack


RECONNECT_WAIT_S = 5.0
# Answers that mean "not now" rather than "no": the same envelope is sent again shortly.
RETRY_CODES = frozenset({"internal", "rate_limited"})


class _Lost:
    """No answer: the connection dropped, or the server said nothing in time."""


LOST = _Lost()


def wait_until(
    changed: threading.Condition, ready: Callable[[], bool], timeout: float, what: str
) -> None:
    """Block on ``changed`` until ``ready()`` holds; socket callbacks notify it."""
    deadline = time.monotonic() + timeout
    with changed:
        while not ready():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(what)
            changed.wait(min(left, 0.1))


class Link:
    """Keeps one Socket.IO client connected until closed, reconnecting by itself.

    python-socketio's own reconnection stops for good when the server dies again while
    a reconnection is finishing (its reconnect task is still set when the new drop is
    seen, so no new one starts); the crash trials hit that. So the clients here turn it
    off and run this loop: whenever the engine is not connected, open again."""

    def __init__(
        self,
        sio: socketio.Client,
        open_: Callable[[], None],
        lost: Callable[[], None],
        wanted: Callable[[], bool] = lambda: True,
    ) -> None:
        """``open_`` connects; ``lost`` is told of a drop; ``wanted`` says whether to try
        again (not once the server has cut this device off)."""
        self.sio, self._open, self._lost, self._wanted = sio, open_, lost, wanted
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Open now (raising if that fails), then keep it open in the background."""
        self._open()
        self._thread = threading.Thread(target=self._keep, daemon=True, name="kiosk-link")
        self._thread.start()

    def _keep(self) -> None:
        delay = 0.2
        while not self._closing.wait(delay):
            if self.sio.eio.state == "connected":
                delay = 0.2
                continue
            self._lost()
            self._drop_socket()
            if not self._wanted():
                return
            # A drop between the namespace's connect and the end of connect() leaves
            # this flag set with no engine under it: clear it, or connect() refuses.
            self.sio.connected = False
            try:
                self._open()
            except (socketio.exceptions.ConnectionError, ValueError):
                delay = min(1.0, delay * 2)
                continue
            if self._closing.is_set():  # close() came while connecting
                self.sio.disconnect()

    def _drop_socket(self) -> None:
        """Close the WebSocket of a dropped engine: engineio's client leaves it open when
        the server goes away, and it would linger until garbage-collected. It stays in
        place, closed (the next connection replaces it): the engine's write loop may still
        be sending on it, and stops on a closed one, where a missing one killed that
        thread with an AttributeError (seen once in 200 crash trials)."""
        ws = getattr(self.sio.eio, "ws", None)
        if ws is not None:
            ws.close()

    def close(self) -> None:
        self._closing.set()
        self.sio.disconnect()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self.sio.eio.state != "connected":
            self._drop_socket()


class Device:
    """A tablet's signing identity: a key that never leaves it and a rising counter."""

    def __init__(self, key: Ed25519PrivateKey | None = None) -> None:
        self.key = key or Ed25519PrivateKey.generate()
        self.seq = 0
        self._lock = threading.Lock()

    @property
    def public_key(self) -> str:
        return public_key_text(self.key)

    def envelope(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Sign ``fields`` with the next sequence number and a fresh nonce."""
        with self._lock:
            self.seq += 1
            body = {**fields, "seq": self.seq, "nonce": b64u(os.urandom(16))}
        return sign(self.key, body)


def binding(view: dict[str, Any]) -> dict[str, Any]:
    """The fields that bind a sheet to the event, room, seat, round, candidate and rubric
    of a seat's view of its current round."""
    current = view["round"]
    return {
        "event": view["event"],
        "room": view["room"]["id"],
        "round": current["id"],
        "draw_number": current["draw_number"],
        "seat": view["seat"]["id"],
        "rubric": view["rubric_version"],
    }


def sealed_sheet(bound: dict[str, Any], items: dict[str, Any]) -> dict[str, Any]:
    """A score sheet's opening (values, exact total, random salt) and its commitment."""
    values = {code: str(value) for code, value in items.items()}
    total = sum((Decimal(v) for v in values.values()), Decimal(0))
    opening = {**bound, "items": values, "total": str(total), "salt": b64u(os.urandom(16))}
    return {"opening": opening, "commitment": commitment(opening)}


class RaterClient:
    """One rater seat's device."""

    def __init__(
        self,
        base_url: str,
        lang: str = "zh",
        credential: str | None = None,
        timeout: float = 10.0,
        ca: str | None = None,
    ) -> None:
        """``ca``: the kiosk's CA certificate file, to trust its HTTPS (``kiosk tls init``)."""
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()
        if ca:
            self.http.verify = ca
        self.lang = lang
        self.credential = credential
        self.timeout = timeout
        self.seat: dict[str, Any] | None = None
        self.state: dict[str, Any] | None = None
        self.revoked = False
        self.device = Device()
        self.server_key: Any = None
        self.openings: dict[int, dict[str, Any]] = {}  # round -> sealed sheet, until opened
        # nonce (the idempotency key) -> {"event", "round", "envelope"}, oldest first:
        # signed and sent, not yet answered.
        self.outbox: dict[str, dict[str, Any]] = {}
        self.answers: dict[str, Any] = {}  # nonce -> the server's answer
        self.acknowledged: list[dict[str, Any]] = []  # every accepted envelope, in order
        self.receipts: list[dict[str, Any]] = []
        self.alarms: list[str] = []
        self.connects = 0
        self._changed = threading.Condition()
        self._sending = threading.Lock()
        self._revealing = threading.Lock()  # one envelope in flight: sequence numbers stay in order
        self._in_flight: set[threading.Event] = set()  # woken when the connection drops
        self._up = False  # the /rater namespace is connected (under _changed)
        self._closed = threading.Event()  # close() was called: nothing waits any more
        self.sio = socket_client(reconnection=False, http_session=self.http)
        self.link = Link(self.sio, self._open, self._on_disconnect, lambda: not self.revoked)
        self.sio.on("connect", self._on_connect, namespace="/rater")
        self.sio.on("disconnect", self._on_disconnect, namespace="/rater")
        self.sio.on("state", self._on_state, namespace="/rater")
        self.sio.on("revoked", self._on_revoked, namespace="/rater")
        self.sio.on("connect_error", self._on_connect_error, namespace="/rater")

    # --- enrolment and connection -------------------------------------------------

    def enrol(self, token: str) -> dict[str, Any]:
        """Spend the seat's one-time token, registering this device's public key."""
        response = self.http.post(
            f"{self.base_url}/api/enrol",
            json={"token": token, "public_key": self.device.public_key},
            headers={"Accept-Language": self.lang},
            timeout=self.timeout,
            # explicit: requests lets REQUESTS_CA_BUNDLE override a session's own CA
            verify=self.http.verify,
        )
        body = response.json()
        if not body.get("ok"):
            raise Refused(body.get("error") or {})
        self.credential = body["credential"]
        self.seat = body["seat"]
        self.server_key = load_public_key(body["server_key"])
        return body["seat"]

    def connect(self) -> None:
        """Open the socket (kept open, reconnecting by itself, until ``close``); the
        server answers with this seat's current view."""
        if not self.credential:
            raise RuntimeError("enrol first")
        self.link.start()
        self.wait_for(lambda s: True)

    def _open(self) -> None:
        self.sio.connect(
            self.base_url,
            namespaces=["/rater"],
            transports=["websocket"],
            auth={"credential": self.credential, "lang": self.lang},
            # connect() waits this long for the namespace even if the server died
            # meanwhile: short when reconnecting, so the next attempt comes soon
            wait_timeout=self.timeout
            if self.connects == 0
            else min(self.timeout, RECONNECT_WAIT_S),
        )

    def close(self) -> None:
        """Disconnect for good; whatever still waits in the outbox stays there."""
        self._closed.set()
        with self._changed:
            self._changed.notify_all()
        self.link.close()
        self.http.close()

    # --- following the room -----------------------------------------------------

    def _on_connect(self) -> None:
        with self._changed:
            self.connects += 1
            self._up = True
            self._changed.notify_all()
        if self.outbox:
            self.sio.start_background_task(self.resend)

    def _on_disconnect(self, *_reason: Any) -> None:
        """Whatever was waiting for an answer on this connection will not get one."""
        with self._changed:
            self._up = False
            for answered in self._in_flight:
                answered.set()

    def resend(self) -> None:
        """Send what the outbox still holds, in order (after a reconnect)."""
        with self._sending:
            try:
                self._flush(self.timeout)
            except TimeoutError:
                pass  # still unanswered: the next reconnect tries again

    def wait_connected(self, timeout: float | None = None) -> None:
        """Block until the socket is (re)connected; the client reconnects by itself."""
        wait_until(
            self._changed,
            lambda: self._up or self._closed.is_set(),
            timeout or self.timeout,
            "not connected",
        )
        if not self._up:
            raise TimeoutError("closed")

    def _on_state(self, state: dict[str, Any]) -> None:
        current = state.get("round")
        if current is not None:
            try:
                said = verify(self.server_key, current["statement"])
                if (
                    said["round"] != current["id"]
                    or said["state"] != current["state"]
                    or (said["draw_number"] != current["draw_number"])
                ):
                    raise ValueError("statement does not match the view")
            except (ValueError, KeyError, TypeError):
                self.alarms.append(f"unsigned or wrong round statement: {current}")
        with self._changed:
            self.state = state
            self._changed.notify_all()
        for statement in state.get("reveal") or []:
            self.sio.start_background_task(self._reveal_for, statement)

    def _on_connect_error(self, data: Any = None) -> None:
        """A refused connection: with ``not_authenticated`` the seat was re-issued."""
        if isinstance(data, dict) and data.get("message") == "not_authenticated":
            self._on_revoked()

    def _on_revoked(self, _data: Any = None) -> None:
        with self._changed:
            self.revoked = True
            self._changed.notify_all()

    def _reveal_for(self, statement: dict[str, Any]) -> None:
        """Open our sheet once the server's signed close statement lists our commitment."""
        try:
            said = verify(self.server_key, statement)
        except ValueError:
            self.alarms.append("close statement with a bad signature")
            return
        sheet = self.openings.get(said["round"])
        if sheet is None:
            return
        listed = [c for c in said["commitments"] if c["seat"] == sheet["opening"]["seat"]]
        if not listed or listed[0]["commitment"] != sheet["commitment"]:
            self.alarms.append(f"our commitment is not listed for round {said['round']}")
            return
        try:
            self.reveal(said["round"])
        except Refused as exc:
            if exc.code not in ("already_submitted", "round_closed"):
                self.alarms.append(f"reveal refused: {exc}")
        except (TimeoutError, KeyError, socketio.exceptions.SocketIOError):
            pass  # the next state push after a reconnect asks again

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float | None = None
    ) -> dict[str, Any]:
        """Block until the latest pushed view satisfies ``predicate``; returns it."""
        wait_until(
            self._changed,
            lambda: self.state is not None and predicate(self.state),
            timeout or self.timeout,
            f"view not reached; last view: {self.state}",
        )
        assert self.state is not None
        return self.state

    @property
    def draw_number(self) -> int | None:
        """The draw number of the candidate in the room, if any."""
        current = (self.state or {}).get("round")
        return None if current is None else current["draw_number"]

    # --- acts -------------------------------------------------------------------

    def call(self, event: str, payload: Any) -> Any:
        """Emit one raw event and return the raw acknowledgement (waits out a reconnection)."""
        self.wait_connected()
        return self.sio.call(event, payload, namespace="/rater", timeout=self.timeout)

    def bound(self, round_id: int | None = None) -> dict[str, Any]:
        """The fields binding a sheet to this event, room, seat, round, candidate, rubric."""
        state = self.state or {}
        current = state.get("round") or {}
        if not current or (round_id is not None and current.get("id") != round_id):
            raise Refused({"code": "unknown_round", "message": "not the room's current round"})
        return binding(state)

    def send(self, event: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Sign ``fields``, keep the envelope in the outbox and send it (after anything
        older still waiting, so the server sees this device's sequence numbers in order);
        returns the answer once there is one."""
        with self._sending:
            envelope = self.device.envelope(fields)
            nonce = envelope["body"]["nonce"]
            self.outbox[nonce] = {"event": event, "round": fields["round"], "envelope": envelope}
            self._flush(self.timeout)
        return _checked(self.answers[nonce])

    def _flush(self, timeout: float) -> None:
        """Deliver every outbox entry, oldest first; each lost answer means the very same
        envelope again. Raises TimeoutError (the entries stay) if ``timeout`` runs out."""
        deadline = time.monotonic() + timeout
        while self.outbox:
            if self._closed.is_set():
                raise TimeoutError("closed with submissions unanswered")
            nonce, entry = next(iter(self.outbox.items()))
            ack = self._ask(entry["event"], {"envelope": entry["envelope"]}, deadline)
            retry = isinstance(ack, dict) and (ack.get("error") or {}).get("code") in RETRY_CODES
            if ack is LOST or retry:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{entry['event']} not acknowledged")
                if retry:
                    time.sleep(0.5)
                continue
            self._settle(nonce, entry, ack)

    def _ask(self, event: str, payload: dict[str, Any], deadline: float) -> Any:
        """One emit and its answer, or LOST if the connection drops or time runs out."""
        try:
            self.wait_connected(max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            return LOST
        answered = threading.Event()
        answer: list[Any] = []

        def on_answer(*args: Any) -> None:
            answer.append(args[0] if args else None)
            answered.set()

        with self._changed:
            if not self._up:  # dropped since the wait: the disconnect handler has run
                return LOST
            self._in_flight.add(answered)
        try:
            self.sio.emit(event, payload, namespace="/rater", callback=on_answer)
            answered.wait(max(0.01, min(deadline - time.monotonic(), self.timeout)))
        except socketio.exceptions.SocketIOError:
            return LOST  # disconnected between the check and the emit
        finally:
            with self._changed:
                self._in_flight.discard(answered)
        return answer[0] if answer else LOST

    def _settle(self, nonce: str, entry: dict[str, Any], ack: Any) -> None:
        """An answer arrived: the entry leaves the outbox; an accepted one's receipt is
        checked; an answered opening (accepted, or already in) needs no keeping."""
        self.outbox.pop(nonce, None)
        self.answers[nonce] = ack
        ok = isinstance(ack, dict) and ack.get("ok")
        code = (ack.get("error") or {}).get("code") if isinstance(ack, dict) else None
        if entry["event"] == "reveal" and (ok or code in ("already_submitted", "round_closed")):
            self.openings.pop(entry["round"], None)
        if not ok:
            return
        envelope = entry["envelope"]
        self.acknowledged.append(
            {
                "event": entry["event"],
                "kind": ack.get("kind"),
                "round": entry["round"],
                "seat": envelope["body"]["seat"],
                "nonce": nonce,
                "leaf": ack["receipt"]["leaf"],
                "duplicate": ack.get("duplicate"),
            }
        )
        if ack["receipt"].get("pending"):
            self.sio.start_background_task(self._fetch_receipt, ack, envelope)
        else:
            self._keep_receipt(ack["receipt"], envelope)

    def _keep_receipt(self, receipt: dict[str, Any], envelope: dict[str, Any]) -> None:
        if not receipt_holds(self.server_key, receipt, envelope):
            self.alarms.append(f"receipt does not verify: {receipt}")
        self.receipts.append(receipt)

    def _fetch_receipt(self, ack: dict[str, Any], envelope: dict[str, Any]) -> None:
        """A pending receipt comes with the next signed head, a moment later. It is asked
        for until it comes, however long the server is away (the leaf is on disk, so the
        receipt will come): the crash trials met servers killed again and again, and a
        fixed number of tries gave up on receipts that were there to fetch."""
        time.sleep(1.1)
        leaf = ack["receipt"]["leaf"]
        answer: Any = LOST
        while answer is LOST:
            if self._closed.is_set():
                return  # closed on purpose: nobody is waiting for this receipt
            answer = self._ask("receipt", {"leaf": leaf}, time.monotonic() + self.timeout)
            if answer is LOST:
                time.sleep(0.2)  # a connection that dropped between the wait and the ask
        try:
            answer = _checked(answer)
        except Refused as exc:
            self.alarms.append(f"receipt for leaf {leaf} not received: {exc}")
            return
        self._keep_receipt(answer["receipt"], envelope)

    def check(self, items: dict[str, Any]) -> None:
        """Refuse a sheet that breaks the rubric before it is sealed: once sealed, the
        server can only find out at the opening, when it is too late to correct."""
        rubric = [
            RubricItem(
                i["code"], i["label_zh"], i["label_en"], Decimal(i["max"]), Decimal(i["step"])
            )
            for i in (self.state or {}).get("rubric", [])
        ]
        try:
            validate_sheet(rubric, items)
        except SheetError as err:
            raise Refused(
                {"code": err.code, "field": err.item, "message": f"{err.code}: {err.item}"}
            ) from None

    def submit(self, items: dict[str, Any], round_id: int | None = None) -> dict[str, Any]:
        """Seal and submit a score sheet for the current round (replacing an earlier one
        while the round is open). The opening stays here until the round closes."""
        bound = self.bound(round_id)
        self.check(items)
        sheet = sealed_sheet(bound, items)
        previous = self.openings.get(bound["round"])
        self.openings[bound["round"]] = sheet
        try:
            return self.send(
                "commit", {"type": "commitment", **bound, "commitment": sheet["commitment"]}
            )
        except Refused:
            if previous is None:
                self.openings.pop(bound["round"], None)
            else:
                self.openings[bound["round"]] = previous
            raise

    def declare_conflict(
        self, reason: str | None = None, round_id: int | None = None
    ) -> dict[str, Any]:
        """Recuse this seat (回避) from the current round instead of scoring."""
        bound = self.bound(round_id)
        return self.send("commit", {"type": "recusal", **bound, "reason": reason})

    def reveal(self, round_id: int) -> dict[str, Any]:
        """Send the opening of our sheet for a closed round (normally done by itself);
        an opening already in the outbox is delivered, never signed a second time."""
        with self._revealing:
            sheet = self.openings.get(round_id)
            if sheet is None:
                raise Refused({"code": "already_submitted", "message": "already opened"})
            queued = [
                nonce
                for nonce, entry in list(self.outbox.items())
                if entry["event"] == "reveal" and entry["round"] == round_id
            ]
            if not queued:
                return self.send("reveal", {"type": "opening", **sheet["opening"]})
            with self._sending:
                if queued[0] in self.outbox:
                    self._flush(self.timeout)
            return _checked(self.answers[queued[0]])
