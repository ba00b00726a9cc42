"""Nothing lost, nothing doubled: a submission re-sent after a lost answer gets the first
answer again; the tablet's IndexedDB outbox survives a dead server and a closed tab; the
fault-injection hook the crash trials use."""

from __future__ import annotations

import re
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from kiosk_server.faults import POINTS, CrashAt
from kiosk_server.live import store
from rater_client import RaterClient
from rater_client.drill import OrganiserClient
from seal.signing import sign

from .conftest import PASSWORD, Event, sheet
from .test_browser import TABLET, browser  # noqa: F401 - the module's browser fixture
from .test_interview_sockets import Room
from .test_live_server import free_port, start_server


@pytest.fixture
def room(app: Flask, event: Event) -> Room:
    return Room(app, event)


# --- the fault-injection hook ----------------------------------------------------------


def test_the_crash_hook_is_inert_unless_armed() -> None:
    kills: list[str] = []
    hook = CrashAt(None, kill=lambda: kills.append("kill"))
    for point in POINTS:
        hook.passing(point)
    assert kills == [] and hook.point is None


def test_the_crash_hook_kills_at_the_nth_passage_of_its_point_only() -> None:
    kills: list[int] = []
    hook = CrashAt("commit.after_commit@3", kill=lambda: kills.append(hook.passes))
    for _ in range(5):
        hook.passing("commit.before_commit")
        hook.passing("commit.after_commit")
    assert kills == [3]


@pytest.mark.parametrize("spec", ["commit.after", "nowhere", "commit.after_commit@0"])
def test_a_misspelt_crash_point_refuses_to_start(spec: str) -> None:
    with pytest.raises(ValueError):
        CrashAt(spec)


# --- the server answers a repeat as it answered the first time -----------------------------


def _without_duplicate(ack: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ack.items() if k not in ("duplicate", "receipt", "round_closed")}


def test_a_resent_commitment_gets_the_first_answer_even_after_the_round_moved_on(
    room: Room,
) -> None:
    tablets = [room.enrol("B", n) for n in (1, 2, 3)]
    round_id = room.start_round("B")
    first = tablets[0]
    sealed = {"type": "commitment", **first.bound(), "commitment": "ab" * 32}
    envelope = first.device.envelope(sealed)
    ack = first.client.emit("commit", {"envelope": envelope}, namespace="/rater", callback=True)
    assert ack["ok"] and not ack["duplicate"] and ack["version"] == 1
    for tablet in tablets[1:]:
        assert tablet.commit(sheet())["ok"]  # the round closes to commitments
    again = first.client.emit("commit", {"envelope": envelope}, namespace="/rater", callback=True)
    assert again["ok"] and again["duplicate"] and again["round_closed"]
    assert _without_duplicate(again) == _without_duplicate(ack)
    assert again["receipt"]["leaf"] == ack["receipt"]["leaf"]
    mine = [s for s in room.event.sheets() if s["seat_id"] == envelope["body"]["seat"]]
    assert len(mine) == 1 and mine[0]["round_id"] == round_id
    # the same idempotency key (nonce) in another envelope is no repeat: refused
    other = sign(first.device.key, {**envelope["body"], "seq": 99, "commitment": "cd" * 32})
    refused = first.client.emit("commit", {"envelope": other}, namespace="/rater", callback=True)
    assert refused["ok"] is False


def test_a_resent_opening_gets_the_first_answer_after_the_result_is_published(
    room: Room,
) -> None:
    tablet = room.enrol("B", 1)
    round_id = room.start_round("B")
    assert tablet.commit(sheet())["round_closed"]
    opening = {"type": "opening", **tablet.openings[round_id]["opening"]}
    envelope = tablet.device.envelope(opening)
    ack = tablet.client.emit("reveal", {"envelope": envelope}, namespace="/rater", callback=True)
    assert ack["ok"] and not ack["duplicate"]
    assert room.board_room("B")["round"]["state"] == "closed"
    again = tablet.client.emit("reveal", {"envelope": envelope}, namespace="/rater", callback=True)
    assert again["ok"] and again["duplicate"]
    assert _without_duplicate(again) == _without_duplicate(ack)
    assert [s["total"] for s in room.event.sheets()] == ["95.0"]
    assert len(room.event.audit("opening")) == 1


# --- the tablet's outbox in the browser, against a real server process -------------------


@pytest.fixture
def instance(app: Flask, event: Event) -> Iterator[Path]:
    """The event's instance folder, handed to a `kiosk serve` process (the test's own
    connection closed: the server owns the database)."""
    store(app).close()
    yield Path(app.instance_path)


def _count(instance: Path, sql: str, params: tuple[Any, ...] = ()) -> int:
    """One number from the database, read while no server runs."""
    with sqlite3.connect(instance / "kiosk.sqlite3") as db:
        return int(db.execute(sql, params).fetchone()[0])


def _seat_id(instance: Path, room_code: str, number: int) -> int:
    return _count(
        instance,
        "SELECT seat.id FROM seat JOIN room ON room.id = seat.room_id"
        " WHERE room.code = ? AND seat.number = ?",
        (room_code, number),
    )


def _enrolled_tablet(browser: Browser, url: str, token: str) -> Page:  # noqa: F811
    context = browser.new_context(base_url=url, **TABLET)  # type: ignore[arg-type]
    tablet = context.new_page()
    tablet.goto("/lang/zh?next=/login")
    tablet.goto(f"/enrol/{token}")
    tablet.get_by_role("button", name="登记本平板").tap()
    expect(tablet.locator("#status-text")).to_have_text("等待考生入场")
    return tablet


def _score(tablet: Page) -> None:
    """Fill the sheet and open its review; ``#confirm-submit`` then seals and sends it."""
    expect(tablet.locator("#status-text")).to_have_text("请评分", timeout=10_000)
    tablet.fill("#item-analysis", "31.5")
    tablet.fill("#item-expression", "22")
    tablet.fill("#item-bearing", "20")
    tablet.get_by_role("button", name="核对并提交").tap()


def _score_and_confirm(tablet: Page) -> None:
    _score(tablet)
    tablet.locator("#confirm-submit").tap()


@pytest.mark.browser
@pytest.mark.parametrize("point", ["commit.before_commit", "commit.after_commit"])
def test_a_score_cut_off_mid_submit_is_resent_after_a_restart_and_counted_once(
    browser: Browser,  # noqa: F811
    instance: Path,
    event: Event,
    point: str,
) -> None:
    """The server dies with SIGKILL inside the submission (before its COMMIT, or after it
    but before the acknowledgement). The tablet says it is offline with one submission
    waiting; when the server is back it sends the same envelope by itself, and the score
    is in the database, the log and the result exactly once."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(instance, port, KIOSK_CRASH_AT=point)
    tablet = _enrolled_tablet(browser, url, event.token("B", 1))
    organiser = OrganiserClient(url, timeout=20)
    try:
        organiser.login(PASSWORD)
        organiser.open_round(organiser.call_next(organiser.room("B")["id"]))
        _score_and_confirm(tablet)
        assert server.wait(timeout=15) == -signal.SIGKILL  # it died mid-submit
        outbox = tablet.locator("#outbox")
        expect(outbox).to_have_attribute("data-online", "false", timeout=10_000)
        expect(outbox).to_have_attribute("data-count", "1")
        expect(outbox).to_contain_text("1 份提交已保存在本平板")
        expect(tablet.locator("#status-text")).to_contain_text("评分已封存并保存在本平板")
        seat = _seat_id(instance, "B", 1)
        stored = _count(instance, "SELECT COUNT(*) FROM commitment WHERE seat_id = ?", (seat,))
        assert stored == (0 if point == "commit.before_commit" else 1)

        server = start_server(instance, port)
        # Only seat 1 is seated: its commitment closes the round; the tablet then opens its
        # sheet from IndexedDB, and the result is published. No tap needed.
        expect(tablet.locator("#status-text")).to_have_text("本轮已结束", timeout=30_000)
        expect(outbox).to_be_hidden()
        expect(tablet.locator("#sheet-error")).to_have_text("")  # the repeat was no refusal
        view = organiser.wait_for(
            lambda v: (v["rooms"][1]["round"] or {}).get("state") == "closed", timeout=20
        )
        assert [e["total"] for e in view["rooms"][1]["round"]["result"]["entries"]] == ["73.50"]
    finally:
        organiser.close()
        tablet.context.close()
        server.kill()
        server.wait(timeout=10)
    leaves = "SELECT COUNT(*) FROM log_leaf WHERE type = ? AND json_extract(data, '$.actor') = ?"
    assert _count(instance, "SELECT COUNT(*) FROM commitment WHERE seat_id = ?", (seat,)) == 1
    assert _count(instance, leaves, ("commitment", f"seat:{seat}")) == 1
    assert _count(instance, leaves, ("opening", f"seat:{seat}")) == 1
    assert _count(instance, "SELECT COUNT(*) FROM opening") == 1
    refused = "SELECT COUNT(*) FROM log_leaf WHERE json_extract(data, '$.disposition') = 'refused'"
    assert _count(instance, refused) == 0


@pytest.mark.browser
def test_a_score_made_while_the_server_is_down_survives_a_closed_tab_and_goes_out_once(
    browser: Browser,  # noqa: F811
    instance: Path,
    event: Event,
) -> None:
    """No server at all when the rater confirms: the tablet keeps the sealed score in
    IndexedDB and says so; the tab is even closed. Reopened once the server is back, it
    sends the score by itself, and the server holds it once."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(instance, port)
    tablet = _enrolled_tablet(browser, url, event.token("B", 1))
    for n in (2, 3):  # seated, so the round stays open after seat 1's score
        RaterClient(url).enrol(event.token("B", n))
    organiser = OrganiserClient(url, timeout=20)
    try:
        organiser.login(PASSWORD)
        organiser.open_round(organiser.call_next(organiser.room("B")["id"]))
        expect(tablet.locator("#status-text")).to_have_text("请评分", timeout=10_000)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        outbox = tablet.locator("#outbox")
        expect(outbox).to_have_attribute("data-online", "false", timeout=10_000)
        expect(outbox).to_have_text("网络已断开，正在重连……")
        _score_and_confirm(tablet)
        expect(outbox).to_have_attribute("data-count", "1")
        expect(outbox).to_contain_text("1 份提交已保存在本平板")
        context = tablet.context
        tablet.close()  # the rater walks away; the score is on the tablet's disk

        server = start_server(instance, port)
        again = context.new_page()
        again.goto("/tablet")
        expect(again.locator("#status-text")).to_contain_text("已封存提交", timeout=20_000)
        expect(again.locator("#status-text")).to_contain_text(
            re.compile(r"[0-9a-f]{4}-[0-9a-f]{4}")
        )
        expect(again.locator("#outbox")).to_be_hidden()
        board = organiser.wait_for(
            lambda v: v["rooms"][1]["seats"][0]["status"] == "submitted", timeout=20
        )
        assert [s["status"] for s in board["rooms"][1]["seats"]] == [
            "submitted",
            "pending",
            "pending",
        ]
        context.close()
    finally:
        organiser.close()
        server.kill()
        server.wait(timeout=10)
    seat = _seat_id(instance, "B", 1)
    assert _count(instance, "SELECT COUNT(*) FROM commitment WHERE seat_id = ?", (seat,)) == 1


# Makes the tablet's listing of its kept receipts (read from IndexedDB as the page starts)
# take 1.5 s: time for the socket to connect and the server's view to arrive meanwhile.
SLOW_RECEIPTS = """(() => {
  let seal;
  Object.defineProperty(window, "KioskSeal", {
    configurable: true,
    get: () => seal,
    set(value) {
      const list = value.list;
      value.list = async (prefix) => {
        if (prefix === "receipt:") await new Promise((done) => setTimeout(done, 1500));
        return list(prefix);
      };
      seal = value;
    },
  });
})();"""


@pytest.mark.browser
def test_the_view_sent_at_connect_is_shown_even_while_the_tablet_still_reads_its_disk(
    browser: Browser,  # noqa: F811
    instance: Path,
    event: Event,
) -> None:
    """The server sends a tablet its view once, as it connects. A tablet still reading its
    kept receipts from IndexedDB when the view came had no listener for it yet: it lost
    the view and showed the page's first words ("waiting for the candidate") with a round
    open, until the room next changed."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(instance, port)
    tablet = _enrolled_tablet(browser, url, event.token("B", 1))
    organiser = OrganiserClient(url, timeout=20)
    try:
        organiser.login(PASSWORD)
        organiser.open_round(organiser.call_next(organiser.room("B")["id"]))
        expect(tablet.locator("#status-text")).to_have_text("请评分", timeout=10_000)
        tablet.context.add_init_script(SLOW_RECEIPTS)
        tablet.reload()
        expect(tablet.locator("#status-text")).to_have_text("请评分", timeout=10_000)
        expect(tablet.locator("#sheet")).to_be_visible()
    finally:
        organiser.close()
        tablet.context.close()
        server.kill()
        server.wait(timeout=10)


@pytest.mark.browser
@pytest.mark.parametrize("closed_tab", [False, True], ids=["tab-open", "tab-closed"])
def test_a_pending_receipt_reaches_the_tablet_after_a_long_outage(
    browser: Browser,  # noqa: F811
    instance: Path,
    event: Event,
    closed_tab: bool,
) -> None:
    """Seat 2's receipt signs a head just before seat 1's tablet confirms, so the tablet's
    ack says its receipt is pending. The server dies before the tablet asks for it and
    stays down longer than one ask waits (10 s); once it is back the tablet shows the
    receipt code by itself, even when the tab was closed meanwhile and opened again; and
    the code is still there after another reload."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(instance, port)
    tablet = _enrolled_tablet(browser, url, event.token("B", 1))
    other = RaterClient(url, timeout=20)
    other.enrol(event.token("B", 2))
    other.connect()
    RaterClient(url).enrol(event.token("B", 3))  # seated: the round stays open
    organiser = OrganiserClient(url, timeout=20)
    status = tablet.locator("#status-text")
    try:
        organiser.login(PASSWORD)
        organiser.open_round(organiser.call_next(organiser.room("B")["id"]))
        _score(tablet)
        other.wait_for(lambda v: (v.get("round") or {}).get("state") == "open")
        assert other.submit(sheet())["ok"]  # its receipt signs a head now
        tablet.locator("#confirm-submit").tap()
        sealed = "已封存提交，等待其他评委"  # acknowledged; no receipt code yet
        expect(status).to_have_text(sealed, timeout=5_000)
        server.send_signal(signal.SIGKILL)  # before the tablet asks (1.2 s after its ack)
        server.wait(timeout=10)
        seat = _seat_id(instance, "B", 1)
        leaf = _count(
            instance,
            "SELECT leaf FROM commitment WHERE seat_id = ? ORDER BY version DESC",
            (seat,),
        )
        covered = _count(instance, "SELECT MAX(size) FROM tree_head")
        assert covered <= leaf  # no head covers the tablet's leaf: its receipt was pending
        tablet.wait_for_timeout(12_000)  # longer than one ask's 10 s
        expect(status).to_have_text(sealed)
        if closed_tab:
            context = tablet.context
            tablet.close()  # the pending receipt is on the tablet's disk, not in the page

        server = start_server(instance, port)
        if closed_tab:
            tablet = context.new_page()
            tablet.goto("/tablet")
            status = tablet.locator("#status-text")
        code = re.compile(r"回执 [0-9a-f]{4}-[0-9a-f]{4}")
        expect(status).to_contain_text(code, timeout=30_000)
        shown = status.text_content()
        tablet.reload()
        expect(status).to_have_text(shown or "", timeout=10_000)  # the code was kept
    finally:
        for client in (organiser, other):
            client.close()
        tablet.context.close()
        server.kill()
        server.wait(timeout=10)


@pytest.mark.browser
def test_a_browser_enrolled_again_forgets_the_receipts_of_its_earlier_device(
    browser: Browser,  # noqa: F811
    instance: Path,
    event: Event,
) -> None:
    """Receipts are kept on the tablet by round; a browser enrolled again (another seat, or
    another event's demo with the same numbering) is a new device, so the receipts of the
    earlier one are not shown as its own."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(instance, port)
    tablet = _enrolled_tablet(browser, url, event.token("B", 1))
    RaterClient(url).enrol(event.token("B", 2))  # seated: the round stays open
    organiser = OrganiserClient(url, timeout=20)
    kept = "async () => (await window.KioskSeal.list('receipt:')).map((r) => r.key)"
    try:
        organiser.login(PASSWORD)
        organiser.open_round(organiser.call_next(organiser.room("B")["id"]))
        _score_and_confirm(tablet)
        expect(tablet.locator("#status-text")).to_contain_text(
            re.compile(r"回执 [0-9a-f]{4}-[0-9a-f]{4}"), timeout=10_000
        )
        assert len(tablet.evaluate(kept)) == 1

        tablet.goto(f"/enrol/{event.token('B', 3)}")
        tablet.get_by_role("button", name="登记本平板").tap()
        not_seated = "本轮开始时本席位未登记，不参与本轮评分"  # enrolled after the round opened
        expect(tablet.locator("#status-text")).to_have_text(not_seated, timeout=10_000)
        assert tablet.evaluate(kept) == []
    finally:
        organiser.close()
        tablet.context.close()
        server.kill()
        server.wait(timeout=10)
