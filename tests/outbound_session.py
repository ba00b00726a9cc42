"""A whole interview session for tests/test_outbound.py, run as its own process so that it
can live in a network namespace that has nothing but loopback.

``python -m tests.outbound_session FOLDER``: set up an event, `kiosk tls init`, serve it
over HTTPS with periodic backups, sign the organiser in, open an observer screen, enrol
three tablets that score a round, export from the console, `kiosk backup`, stop the
server, `kiosk export`, `kiosk verify` both bundles. Prints one JSON line of facts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kiosk_server import create_app
from kiosk_server.live import store
from rater_client import RaterClient
from rater_client.drill import ObserverClient, OrganiserClient

from .conftest import PASSWORD, Event, run_kiosk, sheet
from .test_live_server import free_port, round_is, start_server


def checked(*args: str, env: dict[str, str]) -> str:
    done = run_kiosk(*args, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"kiosk {args[0]} failed: {done.stdout}{done.stderr}")
    return done.stdout


def session(folder: Path) -> dict[str, object]:
    instance = folder / "instance"
    app = create_app({"INSTANCE_PATH": str(instance)})
    event = Event(app)
    store(app).close()
    env = {**os.environ, "KIOSK_INSTANCE_PATH": str(instance)}
    checked("tls", "init", env=env)  # the laptop's own addresses, read with `ip`
    ca = str(instance / "tls" / "ca.pem")
    os.environ["REQUESTS_CA_BUNDLE"] = os.environ["WEBSOCKET_CLIENT_CA_BUNDLE"] = ca
    port = free_port()
    backups = ("--backup-dir", str(folder / "usb"), "--backup-every", "0.05")
    server = start_server(instance, port, *backups, scheme="https")
    url = f"https://127.0.0.1:{port}"
    facts: dict[str, object] = {}
    try:
        organiser, observer = OrganiserClient(url, timeout=20), ObserverClient(url, timeout=20)
        organiser.login(PASSWORD)
        observer.open_link(f"{url}/observe/{event.observer_token}")
        raters = [RaterClient(url, ca=ca, timeout=20) for _ in range(3)]
        for n, rater in enumerate(raters, start=1):
            rater.enrol(event.token("B", n))
            rater.connect()
        round_id = organiser.call_next(organiser.room("B")["id"])
        organiser.open_round(round_id)
        for rater, analysis in zip(raters, ("30", "35.5", "40"), strict=True):
            rater.wait_for(round_is("open", round_id))
            rater.submit(sheet(analysis, "20", "20"))
        board = observer.wait_for(lambda v: (v["rooms"][1]["round"] or {}).get("result"))
        facts["mean"] = board["rooms"][1]["round"]["result"]["mean"]
        facts["alarms"] = [alarm for rater in raters for alarm in rater.alarms]
        bundle = organiser.http.get(f"{url}/organiser/export", timeout=30)
        (folder / "console.zip").write_bytes(bundle.content)
        checked("backup", "--to", str(folder), env=env)
        for client in (*raters, organiser, observer):
            client.close()
    finally:
        server.terminate()
        facts["server_exit"] = server.wait(timeout=60)
    checked("export", "--out", str(folder / "cli.zip"), env=env)
    for name in ("console.zip", "cli.zip"):
        checked("verify", str(folder / name), env=env)
    facts["verified"] = 2
    facts["backups"] = len(list(folder.glob("kiosk-backup-*.tar")))
    facts["periodic_backups"] = len(list((folder / "usb").glob("kiosk-backup-*.tar")))
    return facts


if __name__ == "__main__":
    if os.environ.get("KIOSK_NETNS") == "1":  # a new namespace's loopback starts down
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    print(json.dumps(session(Path(sys.argv[1]))))
