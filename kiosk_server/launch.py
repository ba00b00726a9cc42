"""Which async mode `kiosk serve` runs in, and a process monkey-patched for gevent.

gevent must patch the standard library (sockets, ssl, threading) before flask, engineio
or the store import it, and importing this package already imports flask. So when
`kiosk serve` will run under gevent, ``main`` replaces the process (``execv``: the same
pid, so systemd's stop signal still reaches it) by one that patches first and only then
imports the CLI. Other commands are never patched: they run as they always did.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

MODES = ("gevent", "threading")
# Measured (docs/decisions.md): gevent carries a room's load in less memory and time.
SERVE_DEFAULT = "gevent"
ENV = "KIOSK_ASYNC_MODE"
PATCHED_ENTRY = (
    "from gevent import monkey; monkey.patch_all(); from kiosk_server.cli import main; main()"
)


def serve_mode(argv: Sequence[str]) -> str | None:
    """The async mode asked for `kiosk serve` in ``argv`` (``--async-mode``, else
    KIOSK_ASYNC_MODE, else gevent); None for every other command."""
    words = [a for a in argv if not a.startswith("-")]
    if not words or words[0] != "serve":
        return None
    after = list(argv[list(argv).index("serve") + 1 :])
    for i, arg in enumerate(after):
        if arg == "--async-mode" and i + 1 < len(after):
            return after[i + 1]
        if arg.startswith("--async-mode="):
            return arg.split("=", 1)[1]
    return os.environ.get(ENV) or SERVE_DEFAULT


def patched() -> bool:
    """Whether gevent has patched this process."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))


def prepare(argv: Sequence[str]) -> None:
    """Before the app is built: tell ``create_app`` the mode `kiosk serve` runs in (it
    reads KIOSK_ASYNC_MODE), and re-start the process patched when that mode is gevent."""
    mode = serve_mode(argv)
    if mode not in MODES:
        return  # not serving, or a mode that the serve command's choices refuse
    os.environ[ENV] = mode
    if mode != "gevent" or patched() or "--help" in argv:
        return
    flags = ["-u"] if getattr(sys.stdout, "write_through", False) else []
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *flags, "-c", PATCHED_ENTRY, *argv])
