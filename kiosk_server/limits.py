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


class TokenBucket:
    """Events per key: ``rate`` a second on average, bursts up to ``burst``. Socket events
    are not covered by HTTP rate limits, so each connection and each seat gets one: a
    tablet flooding the server is refused without slowing the other tablets."""

    def __init__(self, rate: float = 20.0, burst: float = 60.0) -> None:
        self.rate, self.burst = rate, burst
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> bool:
        """Spend one token for ``key``; False when none is left."""
        now = time.monotonic()
        with self._lock:
            tokens, then = self._state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens < 1:
                self._state[key] = (tokens, now)
                return False
            self._state[key] = (tokens - 1, now)
            return True

    def forget(self, key: str) -> None:
        with self._lock:
            self._state.pop(key, None)
