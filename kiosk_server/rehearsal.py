"""``kiosk rehearse``: a mock event in a throw-away instance, driven over real Socket.IO.

Simulated tablets (``rater_client.RaterClient``) enrol from their seats' tokens and
score every candidate; an organiser client calls, opens and lets rounds close. The
event is flagged as a rehearsal and lives in its own temporary folder, so it can
never mix with a real event's records.
"""

from __future__ import annotations

import random
import tempfile
from decimal import Decimal
from pathlib import Path

from ballot.scoring import rubric_full_marks

from . import create_app
from .auth import set_organiser_password
from .demo import write_setup
from .enrolment import issue_unissued_seats
from .events import create_event
from .importer import import_setup
from .interview import rubric
from .live import pushes, store, token_key
from .serving import serve_in_thread

ROOM = ("R", "演练考场", 0)


def _sheet(rng: random.Random, items: list, skill: float) -> dict[str, str]:
    sheet = {}
    for item in items:
        steps = int(item.max / item.step)
        mean = skill * steps
        value = max(0, min(steps, round(rng.gauss(mean, steps * 0.08))))
        sheet[item.code] = str(item.step * value)
    return sheet


def rehearse(raters: int, candidates: int, seed: int = 1) -> str:
    """Run the drill and return the results table as text."""
    from rater_client import RaterClient
    from rater_client.drill import OrganiserClient

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="kiosk-rehearsal-") as folder:
        app = create_app({"INSTANCE_PATH": folder})
        with app.app_context():
            ev = create_event(store(), "演练 Rehearsal", rehearsal=True)
            files = write_setup(
                Path(folder) / "setup",
                candidates=candidates,
                seed=seed,
                rooms=[(ROOM[0], ROOM[1], raters)],
            )
            import_setup(store(), ev, {k: v for k, v in files.items() if k != "raters"})
            issue_unissued_seats(store(), token_key(), ev, "rehearsal")
            password = "rehearsal-" + str(rng.random())
            set_organiser_password(store(), password)
            with store().read() as db:
                items = rubric(db, ev)
        url, server = serve_in_thread(app)
        organiser = OrganiserClient(url)
        tablets: list[RaterClient] = []
        try:
            organiser.login(password)
            for token in organiser.enrolment_tokens():
                tablet = RaterClient(url)
                tablet.enrol(token)
                tablet.connect()
                tablets.append(tablet)
            room_id = organiser.room(ROOM[0])["id"]
            rows = []
            for _ in range(candidates):
                round_id = organiser.call_next(room_id)
                organiser.open_round(round_id)
                skill = rng.uniform(0.55, 0.92)
                for tablet in tablets:
                    tablet.wait_for(
                        lambda s, r=round_id: (
                            s["round"]["id"] == r and s["round"]["state"] == "open"
                        )
                    )
                    tablet.submit(_sheet(rng, items, skill), round_id=round_id)
                view = organiser.wait_for(
                    lambda v, r=round_id: (
                        (v["rooms"][0]["round"] or {}).get("id") == r
                        and v["rooms"][0]["round"]["state"] == "closed"
                    )
                )
                rows.append(
                    (view["rooms"][0]["round"]["draw_number"], view["rooms"][0]["round"]["result"])
                )
        finally:
            for tablet in tablets:
                tablet.close()
            if organiser.sio.connected:
                organiser.close()
            server.shutdown()
            pushes(app).settle()  # a screen push still building would find the store closed
            app.extensions["kiosk.store"].close()
    return _table(rows, raters, rubric_full_marks(items))


def _table(rows: list, raters: int, full: Decimal) -> str:
    head = ["抽签号"] + [f"评委{n}" for n in range(1, raters + 1)] + ["面试成绩"]
    lines = [
        f"演练结果 Rehearsal results (rubric full marks {full}; [x] = dropped highest or lowest)",
        "  ".join(f"{h:>7}" for h in head),
    ]
    for number, result in rows:
        cells = [f"{number:>7}"]
        for entry in result["entries"]:
            shown = entry["total"] or "-"
            cells.append(f"[{shown}]".rjust(7) if entry["dropped"] else f"{shown:>7}")
        cells.append(f"{result['mean']:>7}")
        lines.append("  ".join(cells))
    return "\n".join(lines)
