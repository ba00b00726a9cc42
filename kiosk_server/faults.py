"""Fault injection for the crash trials: the server kills itself at a named point.

Inert unless the environment variable ``KIOSK_CRASH_AT`` is set, which nobody does on an
event day: ``benchmarks/crash_trials.py`` and the browser tests set it on a server they
start themselves. ``KIOSK_CRASH_AT=point`` (or ``point@N``) sends SIGKILL to this very
process the first (the N-th) time execution passes ``point``:

- ``commit.before_commit``, ``reveal.before_commit``: the sheet and its log leaf are
  inserted, the transaction is not yet committed (so nothing of it may survive);
- ``commit.after_commit``, ``reveal.after_commit``: COMMIT has returned and the
  acknowledgement is not yet sent (so the tablet must re-send and get the same answer).

SIGKILL, not an exception: nothing runs after it, as when the power cable is pulled
(except that the operating system still holds what was written).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

POINTS = frozenset(
    {
        "commit.before_commit",
        "commit.after_commit",
        "reveal.before_commit",
        "reveal.after_commit",
    }
)


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class CrashAt:
    """One armed crash point, counted across threads."""

    def __init__(self, spec: str | None, kill: Callable[[], None] = _kill_self) -> None:
        self.point: str | None = None
        self.nth = 1
        self.passes = 0
        self._kill = kill
        self._lock = threading.Lock()
        if not spec:
            return
        point, _, nth = spec.partition("@")
        if point not in POINTS:
            # A typo would make every trial pass vacuously: refuse to start instead.
            raise ValueError(f"KIOSK_CRASH_AT: unknown point {point!r}; one of {sorted(POINTS)}")
        self.point = point
        self.nth = int(nth) if nth else 1
        if self.nth < 1:
            raise ValueError("KIOSK_CRASH_AT: N in point@N counts from 1")

    def passing(self, point: str) -> None:
        """Execution passes ``point``: kill the process if this is the armed passage."""
        if self.point != point:
            return
        with self._lock:
            self.passes += 1
            due = self.passes == self.nth
        if due:
            self._kill()


_armed = CrashAt(os.environ.get("KIOSK_CRASH_AT"))


def passing(point: str) -> None:
    """Mark a crash point in the code; does nothing unless ``KIOSK_CRASH_AT`` names it."""
    if _armed.point is not None:
        _armed.passing(point)
