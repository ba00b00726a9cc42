"""The Python clients' socket: one OpenSSL call at a time, and messages in order.

python-engineio's client reads its WebSocket in one thread and writes it in another,
and CPython lets go of the GIL inside ``SSL_read`` and ``SSL_write``. OpenSSL forbids
using one connection from two threads at once (openssl/openssl#20446): under TLS 1.3
the reader's first ``SSL_read`` takes in the server's session tickets while the writer
sends the namespace connect, and now and then the reader sees a false end of stream
and closes the socket. The server then saw a tablet hang up just after connecting or
just after a submission (the outbox re-sent it: answered as a duplicate). Browsers are
not affected; the drills, the tests and anything built on :class:`RaterClient` are.

So after its handshake each HTTPS WebSocket's TLS socket is wrapped in
:class:`SerialTLS`: non-blocking underneath, every SSL call under one lock, and a
reader that waits for data *outside* the lock so that a write is never held up by an
idle connection. And every message is handled in its read loop, in arrival order
(:class:`InOrderClient`), not in a thread each.
"""

from __future__ import annotations

import errno
import selectors
import ssl
import threading
import time
from typing import Any

import engineio
import socketio
import websocket

# poll, not epoll: a socket closed by the other thread just after its shutdown() woke
# the wait leaves epoll with nothing to report, and the wait would run to its timeout.
_Selector = getattr(selectors, "PollSelector", selectors.DefaultSelector)


class SerialTLS:
    """A connected ``ssl.SSLSocket`` shared by a reading and a writing thread, with the
    blocking-with-timeout behaviour websocket-client expects of a socket."""

    def __init__(self, tls: ssl.SSLSocket) -> None:
        self._tls = tls
        self._lock = threading.Lock()
        self._timeout = tls.gettimeout()
        tls.setblocking(False)

    # --- what websocket-client asks of a socket ---------------------------------------

    def gettimeout(self) -> float | None:
        return self._timeout

    def settimeout(self, timeout: float | None) -> None:
        """Kept here: the socket underneath stays non-blocking."""
        self._timeout = timeout

    def fileno(self) -> int:
        return self._tls.fileno()

    @property
    def _closed(self) -> bool:
        return bool(self._tls._closed)  # websocket-client reads this before closing

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes; waits for them without holding the lock."""
        deadline = self._deadline()
        while True:
            with self._lock:
                try:
                    return self._tls.recv(size)
                except ssl.SSLWantReadError:
                    wanted = selectors.EVENT_READ
                except ssl.SSLWantWriteError:
                    wanted = selectors.EVENT_WRITE
            self._wait(wanted, deadline)

    def send(self, data: bytes) -> int:
        """All of ``data`` (TLS writes whole records): a write that must wait keeps the
        lock, because OpenSSL wants the very same write repeated."""
        deadline = self._deadline()
        with self._lock:
            while True:
                try:
                    return self._tls.send(data)
                except ssl.SSLWantWriteError:
                    self._wait(selectors.EVENT_WRITE, deadline)
                except ssl.SSLWantReadError:
                    self._wait(selectors.EVENT_READ, deadline)

    def shutdown(self, how: int) -> None:
        with self._lock:
            self._tls.shutdown(how)

    def close(self) -> None:
        with self._lock:
            self._tls.close()

    # --- waiting ----------------------------------------------------------------------

    def _deadline(self) -> float | None:
        return None if self._timeout is None else time.monotonic() + self._timeout

    def _wait(self, event: int, deadline: float | None) -> None:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise TimeoutError("timed out")
        if self._tls.fileno() < 0:  # closed by the other thread: as a bare socket says
            raise OSError(errno.EBADF, "Bad file descriptor")
        with _Selector() as selector:
            selector.register(self._tls, event)
            if not selector.select(left):
                raise TimeoutError("timed out")


class SerialWebSocket(websocket.WebSocket):  # type: ignore[misc] - no type hints shipped
    """websocket-client's WebSocket whose TLS socket is a :class:`SerialTLS` once the
    opening handshake is done (until then only one thread uses it)."""

    def connect(self, url: str, **options: Any) -> None:
        super().connect(url, **options)
        if isinstance(self.sock, ssl.SSLSocket):
            self.sock = SerialTLS(self.sock)


class InOrderEngineIO(engineio.Client):  # type: ignore[misc] - no type hints shipped
    """python-engineio's client, handling each message in its read loop, in the order it
    arrived. Upstream starts a thread per message, and the threads can run in any order:
    a pushed view (a whole snapshot) handled after a newer one put a tablet back to a
    round's "called" state after it had been told "open", and it waited for good. So the
    handlers must not block (none here does: they hand any call to a background task)."""

    def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "message":
            kwargs["run_async"] = False
        return super()._trigger_event(event, *args, **kwargs)


class InOrderClient(socketio.Client):  # type: ignore[misc]
    """python-socketio's client over :class:`InOrderEngineIO`."""

    def _engineio_client_class(self) -> type[engineio.Client]:
        return InOrderEngineIO


def socket_client(**options: Any) -> socketio.Client:
    """A python-socketio client that handles messages in order (:class:`InOrderClient`)
    over :class:`SerialWebSocket`."""
    return InOrderClient(websocket_extra_options={"class_": SerialWebSocket}, **options)
