"""Slowing guessers down: after too many failures from one address, refuse for a while.

Only failures count, so an organiser who types the password right is never held up,
while a script trying passwords or enrolment tokens gets a handful of tries per window.
Memory only: a restart forgets, which costs a guesser nothing they did not have.
"""

from __future__ import annotations

import threading
import time
from collections import deque

WINDOW_S = 300
MAX_FAILURES = 10


class FailureLimiter:
    def __init__(self, limit: int = MAX_FAILURES, window: float = WINDOW_S) -> None:
        self.limit, self.window = limit, window
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def blocked(self, key: str) -> bool:
        """Whether ``key`` has used up its failures in the current window."""
        with self._lock:
            return len(self._recent(key, time.monotonic())) >= self.limit

    def failed(self, key: str) -> None:
        with self._lock:
            self._recent(key, time.monotonic()).append(time.monotonic())
