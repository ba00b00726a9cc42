"""A Python rater tablet: enrol with a seat token, follow the room, submit score sheets.

This is the same protocol the browser tablet speaks (docs/protocol.md), for drills
(``kiosk rehearse``), tests and benchmarks::

    rater = RaterClient("http://127.0.0.1:5000")
    rater.enrol(token)                      # the token from the seat's QR code
    rater.connect()
    state = rater.wait_for(lambda s: s["round"] and s["round"]["state"] == "open")
    rater.submit({"analysis": "18.5", ...})  # acknowledged only after it is on disk
    rater.close()

A refusal raises :class:`Refused` with the server's code and localised message.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import requests
import socketio


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


class RaterClient:
    """One rater seat's device."""

    def __init__(
        self, base_url: str, lang: str = "zh", credential: str | None = None, timeout: float = 10.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.lang = lang
        self.credential = credential
        self.timeout = timeout
        self.seat: dict[str, Any] | None = None
        self.state: dict[str, Any] | None = None
        self.revoked = False
        self._changed = threading.Condition()
        self.sio = socketio.Client(
            reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1
        )
        self.connects = 0
        self.sio.on("connect", self._on_connect, namespace="/rater")
        self.sio.on("state", self._on_state, namespace="/rater")
        self.sio.on("revoked", self._on_revoked, namespace="/rater")

    # --- enrolment and connection -------------------------------------------------

    def enrol(self, token: str) -> dict[str, Any]:
        """Spend the seat's one-time token; keeps the device credential it returns."""
        response = requests.post(
            f"{self.base_url}/api/enrol",
            json={"token": token},
            headers={"Accept-Language": self.lang},
            timeout=self.timeout,
        )
        body = response.json()
        if not body.get("ok"):
            raise Refused(body.get("error") or {})
        self.credential = body["credential"]
        self.seat = body["seat"]
        return body["seat"]

    def connect(self) -> None:
        """Open the socket; the server answers with this seat's current view."""
        if not self.credential:
            raise RuntimeError("enrol first")
        self.sio.connect(
            self.base_url,
            namespaces=["/rater"],
            transports=["websocket"],
            auth={"credential": self.credential, "lang": self.lang},
            wait_timeout=self.timeout,
        )
        self.wait_for(lambda s: True)

    def close(self) -> None:
        self.sio.disconnect()

    # --- following the room -----------------------------------------------------

    def _on_connect(self) -> None:
        with self._changed:
            self.connects += 1
            self._changed.notify_all()

    def wait_connected(self, timeout: float | None = None) -> None:
        """Block until the socket is (re)connected; the client reconnects by itself."""
        wait_until(
            self._changed,
            lambda: "/rater" in self.sio.namespaces,
            timeout or self.timeout,
            "not connected",
        )

    def _on_state(self, state: dict[str, Any]) -> None:
        with self._changed:
            self.state = state
            self._changed.notify_all()

    def _on_revoked(self, _data: Any = None) -> None:
        with self._changed:
            self.revoked = True
            self._changed.notify_all()

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

    def _round_id(self, round_id: int | None) -> int:
        if round_id is not None:
            return round_id
        current = (self.state or {}).get("round")
        if not current:
            raise Refused({"code": "unknown_round", "message": "no round in this room"})
        return int(current["id"])

    # --- acts -------------------------------------------------------------------

    def call(self, event: str, payload: Any) -> Any:
        """Emit one raw event and return the raw acknowledgement (waits out a reconnection)."""
        self.wait_connected()
        return self.sio.call(event, payload, namespace="/rater", timeout=self.timeout)

    def submit(
        self, items: dict[str, Any], round_id: int | None = None, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Submit a score sheet for the current (or given) round."""
        payload = {
            "round_id": self._round_id(round_id),
            "items": items,
            "idempotency_key": idempotency_key or uuid.uuid4().hex,
        }
        return _checked(self.call("submit", payload))

    def declare_conflict(
        self,
        reason: str | None = None,
        round_id: int | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Recuse this seat (回避) from the current (or given) round."""
        payload = {
            "round_id": self._round_id(round_id),
            "reason": reason,
            "idempotency_key": idempotency_key or uuid.uuid4().hex,
        }
        return _checked(self.call("recuse", payload))
