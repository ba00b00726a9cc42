"""Python stand-ins for the organiser console and an observer screen, for drills and tests.

They speak the same Socket.IO protocol as the browser pages (docs/protocol.md).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import requests

from .client import RECONNECT_WAIT_S, Link, _checked, wait_until
from .transport import socket_client


class Picture:
    """What a screen shows, from the numbered snapshots the server sends it (board,
    console, check-in; docs/protocol.md, "Snapshots"), laid as the pages'
    ``Kiosk.snapshots`` lays them: a whole snapshot replaces the picture; a partial one
    holds the rooms changed since the push before, laid over the picture by room id,
    with the event's other fields; one not newer than the picture is dropped; partial
    ones that come before the first whole one since (re)connecting wait for it."""

    def __init__(self) -> None:
        self.view: dict[str, Any] | None = None  # what shows (without the numbering)
        self._picture: dict[str, Any] | None = None  # None: waiting for a whole snapshot
        self._early: list[dict[str, Any]] = []

    def restart(self) -> None:
        """The connection dropped: the picture starts again from the next whole snapshot
        (what shows stays until then)."""
        self._picture, self._early = None, []

    def take(self, snapshot: dict[str, Any]) -> bool:
        """Lay ``snapshot`` over the picture; whether what shows changed."""
        if not snapshot.get("partial"):
            picture = snapshot
            for part in self._early:
                if part["seq"] > picture["seq"]:
                    picture = _lay(picture, part)
            self._early = []
        elif self._picture is None:
            self._early.append(snapshot)
            return False
        elif snapshot["seq"] > self._picture["seq"]:
            picture = _lay(self._picture, snapshot)
        else:
            return False
        self._picture = picture
        self.view = {key: value for key, value in picture.items() if key != "seq"}
        return True


def _lay(picture: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    rooms = {room["id"]: room for room in part["rooms"]}
    laid = [rooms.get(room["id"], room) for room in picture["rooms"]]
    fields = {key: value for key, value in part.items() if key != "partial"}
    return {**picture, **fields, "rooms": laid}


class _Watcher:
    """A socket client that keeps the picture of one screen event and can wait for a
    change."""

    event = ""
    namespace = ""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.picture = Picture()
        self.views = 0
        self._changed = threading.Condition()
        self.sio = socket_client(reconnection=False)
        self.sio.on(self.event, self._on_view, namespace=self.namespace)
        self._open: Callable[[], None] = lambda: None
        self.link = Link(self.sio, lambda: self._open(), self._lost)

    @property
    def view(self) -> dict[str, Any] | None:
        return self.picture.view

    def _on_view(self, snapshot: dict[str, Any]) -> None:
        with self._changed:
            if self.picture.take(snapshot):
                self.views += 1
                self._changed.notify_all()

    def _lost(self) -> None:
        with self._changed:
            self.picture.restart()

    def _connect(
        self, headers: dict[str, str] | None = None, auth: dict[str, Any] | None = None
    ) -> None:
        self._open = lambda: self.sio.connect(
            self.base_url,
            namespaces=[self.namespace],
            transports=["websocket"],
            headers=headers or {},
            auth=auth,
            wait_timeout=self.timeout if self.views == 0 else min(self.timeout, RECONNECT_WAIT_S),
        )
        self.link.start()  # reconnects by itself until close()
        self.wait_for(lambda v: True)

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float | None = None
    ) -> dict[str, Any]:
        wait_until(
            self._changed,
            lambda: self.view is not None and predicate(self.view),
            timeout or self.timeout,
            f"view not reached; last view: {self.view}",
        )
        assert self.view is not None
        return self.view

    def room(self, code: str) -> dict[str, Any]:
        assert self.view is not None
        return next(r for r in self.view["rooms"] if r["code"] == code)

    def close(self) -> None:
        self.link.close()
        http = getattr(self, "http", None)
        if http is not None:
            http.close()


class OrganiserClient(_Watcher):
    """Signs in with the organiser password and drives rooms."""

    event = "console"
    namespace = "/organiser"

    def login(self, password: str) -> None:
        self.http = requests.Session()
        page = self.http.get(f"{self.base_url}/login", timeout=self.timeout).text
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        response = self.http.post(
            f"{self.base_url}/login",
            data={"password": password, "csrf": found.group(1) if found else ""},
            allow_redirects=False,
            timeout=self.timeout,
        )
        if response.status_code != 302:
            raise PermissionError("organiser sign-in refused")
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        self._connect(headers={"Cookie": cookie})

    def act(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        return _checked(
            self.sio.call(event, payload, namespace=self.namespace, timeout=self.timeout)
        )

    def call_next(self, room_id: int, draw_number: int | None = None) -> int:
        return int(self.act("call", {"room_id": room_id, "draw_number": draw_number})["round_id"])

    def open_round(self, round_id: int) -> None:
        self.act("open", {"round_id": round_id})

    def close_round(self, round_id: int, reason: str | None = None) -> None:
        self.act("close", {"round_id": round_id, "reason": reason})

    def enrolment_tokens(self) -> list[str]:
        """Tokens of every seat not yet enrolled, read off the printable QR sheet."""
        page = self.http.get(f"{self.base_url}/organiser/enrolment-sheet", timeout=self.timeout)
        page.raise_for_status()
        return re.findall(r'data-enrol-token="([^"]+)"', page.text)


class ObserverClient(_Watcher):
    """An observer screen: spends its one-time link, then watches the board."""

    event = "board"
    namespace = "/observer"

    def open_link(self, url: str) -> None:
        http = requests.Session()
        response = http.post(url, allow_redirects=False, timeout=self.timeout)
        if response.status_code != 302:
            raise PermissionError("observer link refused")
        self._connect(auth={"credential": http.cookies.get("kiosk_observer")})


class EvaluatorClient:
    """A phone holding a democratic-evaluation ballot slip (docs/protocol.md, "/ballot"):
    opens the slip's page, then posts the ballot form as the page would. Grades are given
    by index, ``{(candidate, dimension): grade}``, in the order the page lists them."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        self.csrf = ""

    def open(self, token: str) -> requests.Response:
        """Load the slip's page (spends nothing) and keep its anti-forgery token."""
        response = self.http.get(f"{self.base_url}/ballot/{token}", timeout=self.timeout)
        found = re.search(r'name="csrf" value="([^"]+)"', response.text)
        self.csrf = found.group(1) if found else ""
        return response

    def send(
        self, token: str, marks: dict[tuple[int, int], int], step: str = "confirm"
    ) -> requests.Response:
        """One step of the form: ``review``, ``edit`` or ``confirm`` (which casts)."""
        data = {"csrf": self.csrf, "step": step}
        data.update({f"m-{c}-{d}": str(g) for (c, d), g in marks.items()})
        return self.http.post(f"{self.base_url}/ballot/{token}", data=data, timeout=self.timeout)

    def close(self) -> None:
        self.http.close()
