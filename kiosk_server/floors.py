"""Refuse to start on dependency versions with known security holes.

The floors are the first releases with the fixes (see ../shared FINDINGS: CVEs in
Flask, the Socket.IO stack and cryptography; gevent from its own advisory). SQLite's
WAL-reset race (3.7.0 to 3.51.2, fixed in 3.51.3 and back-ported to 3.44.6 and 3.50.7)
needs two connections; the kiosk keeps exactly one, so an affected SQLite is allowed and
reported, not refused.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from importlib import metadata

FLOORS = {
    "flask": (3, 1, 3),
    "flask-socketio": (5, 6, 1),
    "python-socketio": (5, 16, 2),
    "python-engineio": (4, 13, 2),
    "cryptography": (46, 0, 7),
    "gevent": (23, 9, 0),  # CVE-2023-41419: privilege escalation through its WSGIServer
}


def version_tuple(text: str) -> tuple[int, ...]:
    """Leading numeric parts of a version string: '46.0.7.post1' -> (46, 0, 7)."""
    parts = []
    for part in text.split("."):
        match = re.match(r"\d+", part)
        if match is None:
            break
        parts.append(int(match.group()))
    return tuple(parts)


class BelowFloor(RuntimeError):
    """An installed dependency is older than its security floor."""


def check(installed: Callable[[str], str] = metadata.version) -> None:
    """Raise BelowFloor naming every dependency under its floor."""
    low = []
    for name, floor in FLOORS.items():
        have = version_tuple(installed(name))
        if have < floor:
            low.append(f"{name} {'.'.join(map(str, have))} < {'.'.join(map(str, floor))}")
    if low:
        raise BelowFloor(
            "dependencies below their security floors: "
            + "; ".join(low)
            + ". Upgrade them (pip install -U -e .) before serving."
        )


def sqlite_wal_race(version: tuple[int, ...] = sqlite3.sqlite_version_info) -> bool:
    """Whether this SQLite has the WAL-reset race (harmless with one connection)."""
    if version >= (3, 51, 3) or version < (3, 7, 0):
        return False
    if version[:2] == (3, 44) and version >= (3, 44, 6):
        return False
    return not (version[:2] == (3, 50) and version >= (3, 50, 7))
