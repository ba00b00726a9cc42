"""How long `kiosk verify` takes on a big event: 50 rooms x 30 candidates x 15 raters.

Builds the event through the server's own service layer (real SQLite file, real signed
envelopes, commit then reveal, a receipt per sheet), exports the bundle, then times the
verifier, which needs no database. Prints one JSON line. Usage:

    .venv/bin/python benchmarks/verify_bundle.py [--rooms 50 --candidates 30 --raters 15]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from kiosk_server import create_app, interview
from kiosk_server.enrolment import enrol_seat, issue_unissued_seats, pending_tokens
from kiosk_server.events import create_event
from kiosk_server.export import export_bundle
from kiosk_server.importer import import_setup
from kiosk_server.live import store, token_key
from rater_client.client import Device, sealed_sheet
from seal.verify import verify_bundle

RUBRIC = [
    ("a", "综合分析", "Analysis", "40", "0.5"),
    ("b", "言语表达", "Expression", "30", "0.5"),
    ("c", "举止仪表", "Bearing", "30", "0.5"),
]


def write(path: Path, rows: list[list[object]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def build(folder: Path, rooms: int, candidates: int, raters: int) -> tuple[object, int]:
    app = create_app({"INSTANCE_PATH": str(folder)})
    st = store(app)
    with app.app_context():
        ev = create_event(st, "性能测试")
        codes = [f"R{r:02d}" for r in range(rooms)]
        files = {
            "rooms": write(
                folder / "rooms.csv",
                [["code", "name", "seats"]] + [[c, f"考场{c}", raters] for c in codes],
            ),
            "posts": write(folder / "posts.csv", [["code", "name", "seats"], ["P1", "岗位", 1]]),
            "rubric": write(
                folder / "rubric.csv",
                [["code", "label_zh", "label_en", "max", "step"], *map(list, RUBRIC)],
            ),
            "candidates": write(
                folder / "candidates.csv",
                [["reg_no", "name", "unit", "preference1", "preference2"]]
                + [[f"C{i}", f"考生{i}", "", "P1", ""] for i in range(rooms * candidates)],
            ),
            "draw": write(
                folder / "draw.csv",
                [["draw_number", "reg_no", "room"]]
                + [[i + 1, f"C{i}", codes[i // candidates]] for i in range(rooms * candidates)],
            ),
        }
        import_setup(st, ev, files)
        issue_unissued_seats(st, token_key(), ev, "bench")
        seats = []
        for pending in pending_tokens(st, token_key(), ev)["seats"]:
            device = Device()
            _credential, seat = enrol_seat(st, pending["token"], device.public_key)
            seats.append((seat, device))
        with st.read() as db:
            version = interview.rubric_of(db, ev)
        by_room: dict[int, list] = {}
        for seat, device in seats:
            by_room.setdefault(seat.room_id, []).append((seat, device))
        for n in range(candidates):
            for room_id, members in by_room.items():
                round_id = interview.call_candidate(st, ev, room_id, None, "organiser")
                interview.open_round(st, ev, round_id, "organiser")
                draw = st.row("SELECT draw_number FROM round WHERE id = ?", [round_id])
                sealed = {}
                for k, (seat, device) in enumerate(members):
                    bound = {
                        "event": ev,
                        "room": room_id,
                        "round": round_id,
                        "draw_number": draw["draw_number"],
                        "seat": seat.id,
                        "rubric": version,
                    }
                    sealed[seat.id] = sealed_sheet(
                        bound, {"a": str(20 + (k + n) % 20), "b": "25.5", "c": "27"}
                    )
                    envelope = device.envelope(
                        {"type": "commitment", **bound, "commitment": sealed[seat.id]["commitment"]}
                    )
                    interview.commit(st, seat, {"envelope": envelope})
                for seat, device in members:
                    envelope = device.envelope({"type": "opening", **sealed[seat.id]["opening"]})
                    interview.reveal(st, seat, {"envelope": envelope})
    return app, ev


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--candidates", type=int, default=30)
    parser.add_argument("--raters", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        app, ev = build(Path(folder), args.rooms, args.candidates, args.raters)
        built = time.perf_counter() - started
        data = export_bundle(store(app), ev)
        store(app).close()
    started = time.perf_counter()
    failures = verify_bundle(data)
    verify_s = time.perf_counter() - started
    print(
        json.dumps(
            {
                "scenario": "verify_bundle",
                "rooms": args.rooms,
                "candidates": args.candidates,
                "raters": args.raters,
                "scores": args.rooms * args.candidates * args.raters,
                "bundle_mb": round(len(data) / 2**20, 1),
                "build_s": round(built, 1),
                "verify_s": round(verify_s, 2),
                "failures": len(failures),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
