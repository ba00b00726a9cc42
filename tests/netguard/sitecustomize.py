"""The outbound guard for tests/test_outbound.py, loaded into every Python process of a
session as ``sitecustomize`` (``PYTHONPATH``). An audit hook sees every socket connect,
send and name lookup, and every program started: anything aimed beyond this machine's
loopback is written to ``KIOSK_NETGUARD_LOG`` and refused before a packet leaves, and
every program started is written down, for the test to judge.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
from typing import Any

LOG = os.environ.get("KIOSK_NETGUARD_LOG", "")
NETWORK = {"socket.connect", "socket.sendto", "socket.sendmsg"}
LOOKUPS = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"}
SPAWNS = {"subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.system"}


def local(host: object) -> bool:
    """Loopback, by literal address or the name ``localhost``."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host is None or host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def write(kind: str, event: str, detail: str) -> None:
    line = {"pid": os.getpid(), "argv": sys.argv[:3], "kind": kind, "event": event}
    with open(LOG, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({**line, "detail": detail[:300]}) + "\n")


def deny(event: str, target: object) -> None:
    write("denied", event, repr(target))
    raise PermissionError(f"outbound {event} to {target!r} refused by the test's guard")


def hook(event: str, args: tuple[Any, ...]) -> None:
    if event in NETWORK:
        sock, address = args[0], args[1]
        if address is None or sock.family == socket.AF_UNIX:
            return  # a connected socket's send, or a Unix socket: judged at connect
        if not local(address[0] if isinstance(address, tuple) else address):
            deny(event, address)
    elif event in LOOKUPS:
        if not local(args[0]):
            deny(event, args[0])
    elif event == "socket.getnameinfo":
        if not local(args[0][0]):
            deny(event, args[0])
    elif event in SPAWNS:
        program = args[0]
        if event == "subprocess.Popen" and program is None:  # the program is argv[0]
            program = args[1] if isinstance(args[1], str | bytes | os.PathLike) else args[1][0]
        program = os.fspath(program)
        if isinstance(program, bytes):
            program = program.decode("utf-8", "replace")
        name = str(program).split()[0] if event == "os.system" else str(program)
        write("spawned", event, os.path.basename(name))


if LOG:
    sys.addaudithook(hook)
    write("watching", "", " ".join(sys.argv[1:3]))  # proof the guard is on in this process
