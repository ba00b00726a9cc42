"""Real pages in Debian's headless Chromium: enrol a tablet from its QR URL, score at a
10-inch tablet viewport, and watch the observer screen update live, in Chinese and English."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from kiosk_server.serving import serve_in_thread
from rater_client import RaterClient
from rater_client.drill import OrganiserClient
from seal.record import commitment
from seal.signing import b64u, canonical, load_public_key, sign, verify

from .conftest import PASSWORD, Event, sheet
from .test_signing import RFC8032

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TABLET = {"viewport": {"width": 1280, "height": 800}, "has_touch": True, "is_mobile": True}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def live(app: Flask, event: Event) -> Iterator[str]:
    url, server = serve_in_thread(app)
    yield url
    server.shutdown()


@pytest.fixture
def open_page(browser: Browser, live: str) -> Iterator[Callable[..., Page]]:
    """Open a page in a fresh browser context with the chosen language; every context is
    closed before the server stops, so no socket outlives the test."""
    contexts: list[BrowserContext] = []
    violations: list[str] = []

    def page_in(lang: str, **context: object) -> Page:
        ctx = browser.new_context(base_url=live, **context)
        contexts.append(ctx)
        ctx.on(
            "console",
            lambda message: (
                violations.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )
        page = ctx.new_page()
        page.goto(f"/lang/{lang}?next=/login")
        return page

    yield page_in
    for ctx in contexts:
        ctx.close()
    assert violations == []  # the pages work under the strict policy


TEXT = {
    "zh": {
        "enrol": "登记本平板",
        "waiting": "等待考生入场",
        "call": "呼叫下一位",
        "open": "开始评分",
        "scoring": "请评分",
        "review": "核对并提交",
        "confirm": "确认提交",
        "submitted": "已封存提交，等待其他评委",
        "closed": "本轮已结束",
        "rule": "去掉一个最高分 95.00，去掉一个最低分 80.00，其余 3 位评委平均 89.00",
        "sign_in": "登录",
        "observe": "打开监督屏",
        "range": "超出允许范围",
    },
    "en": {
        "enrol": "Enrol this tablet",
        "waiting": "Waiting for the candidate",
        "call": "Call next",
        "open": "Open round",
        "scoring": "Please score",
        "review": "Review and submit",
        "confirm": "Confirm and submit",
        "submitted": "Sealed and submitted, waiting for other raters",
        "closed": "Round closed",
        "rule": "Highest 95.00 and lowest 80.00 dropped; mean of the other 3 raters 89.00",
        "sign_in": "Sign in",
        "observe": "Open observer screen",
        "range": "out of range",
    },
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_enrol_score_and_watch_live(
    open_page: Callable[..., Page], live: str, event: Event, lang: str
) -> None:
    text = TEXT[lang]
    # the organiser signs in
    console = open_page(lang)
    console.get_by_label(re.compile("密码|Password")).fill(PASSWORD)
    console.get_by_role("button", name=text["sign_in"]).click()
    expect(console).to_have_url(re.compile("/organiser/$"))
    room_a = console.locator('section.room[data-room="A"]')
    expect(room_a.locator('[data-field="seats"] li')).to_have_count(5)

    # a monitor opens the observer screen from its one-time link
    board = open_page(lang, viewport={"width": 1920, "height": 1080})
    board.goto(f"/observe/{event.observer_token}")
    board.get_by_role("button", name=text["observe"]).click()
    expect(board).to_have_url(re.compile("/observer$"))
    board_a = board.locator('section.board-room[data-room="A"]')
    expect(board_a.locator(".tick")).to_have_count(5)
    board.evaluate("window.__notReloaded = true")

    # the tablet enrols by opening its seat's QR URL and tapping once
    tablet = open_page(lang, **TABLET)
    tablet.goto(f"/enrol/{event.token('A', 1)}")
    tablet.get_by_role("button", name=text["enrol"]).tap()
    expect(tablet).to_have_url(re.compile("/tablet$"))
    expect(tablet.locator("#status-text")).to_have_text(text["waiting"])
    # the same QR code on a second device is refused
    second = open_page(lang, **TABLET)
    second.goto(f"/enrol/{event.token('A', 1)}")
    expect(second.get_by_role("button", name=text["enrol"])).to_have_count(0)
    expect(second.get_by_text(re.compile("该席位已有平板登记|already enrolled"))).to_be_visible()

    others = []
    for n in (2, 3, 4, 5):
        rater = RaterClient(live)
        rater.enrol(event.token("A", n))
        rater.connect()
        others.append(rater)
    try:
        # the organiser calls draw number 1 and opens the round
        expect(room_a.locator('[data-field="seats"] li').first).to_contain_text(
            re.compile("在线|online")
        )
        room_a.get_by_role("button", name=text["call"]).click()
        expect(room_a.locator('[data-field="number"]')).to_have_text("1")
        expect(tablet.locator("#draw-number")).to_contain_text("1")
        room_a.get_by_role("button", name=text["open"], exact=True).click()
        expect(tablet.locator("#status-text")).to_have_text(text["scoring"])
        assert "张敏" not in tablet.content()  # draw number 1 is 张敏: never on the tablet

        # scoring: bounds are enforced, the total runs, a confirm step, one submission
        tablet.fill("#item-analysis", "45")
        tablet.fill("#item-expression", "27.5")
        tablet.fill("#item-bearing", "26")
        expect(tablet.locator("#total")).to_have_text("98.50")
        tablet.get_by_role("button", name=text["review"]).tap()
        expect(tablet.locator("#sheet-error")).to_contain_text(text["range"])
        tablet.fill("#item-analysis", "")
        for _ in range(3):
            tablet.locator("#items .item").first.locator("button.step").last.tap()
        expect(tablet.locator("#item-analysis")).to_have_value("1.5")
        tablet.fill("#item-analysis", "38.5")
        expect(tablet.locator("#total")).to_have_text("92.00")
        tablet.get_by_role("button", name=text["review"]).tap()
        dialog = tablet.locator("#confirm")
        expect(dialog).to_be_visible()
        expect(dialog.locator("#confirm-total")).to_contain_text("92.00")
        confirm = tablet.locator("#confirm-submit")
        confirm.evaluate("b => { b.click(); b.click(); }")  # a double tap
        expect(tablet.locator("#status-text")).to_contain_text(text["submitted"])
        expect(tablet.locator("#status-text")).to_contain_text(
            re.compile(r"[0-9a-f]{4}-[0-9a-f]{4}")
        )
        assert len(event.sheets()) == 1 and event.sheets()[0]["total"] is None  # sealed

        # the observer sees a tick, not a value, without reloading
        expect(board_a.locator('.tick[data-seat="1"]')).to_have_attribute(
            "data-status", "submitted"
        )
        assert "92.00" not in board.content() and "92.00" not in console.content()

        for rater, analysis in zip(others, ("40", "30", "25", "35"), strict=True):
            rater.wait_for(lambda s: s["round"] and s["round"]["state"] == "open")
            rater.submit(sheet(analysis, "30", "25"))  # totals 95, 85, 80, 90
        # totals: 92 (tablet), 95, 85, 80, 90 -> drop 95 and 80: (92+85+90)/3 = 89.00
        expect(tablet.locator("#status-text")).to_have_text(text["closed"])
        result = board_a.locator(".result")
        expect(result.locator(".total-cell")).to_have_count(5)
        expect(result.locator(".total-cell.dropped")).to_have_count(2)
        expect(result.locator(".total-cell.dropped s")).to_have_text(["95.00", "80.00"])
        expect(result.locator(".final")).to_contain_text("89.00")
        expect(result.locator(".rule")).to_have_text(text["rule"])
        expect(board_a.locator('[data-field="finished"] tr')).to_have_count(1)
        assert board.evaluate("window.__notReloaded") is True
    finally:
        for rater in others:
            rater.close()


def test_a_screen_lays_partial_snapshots_over_its_picture(
    open_page: Callable[..., Page],
) -> None:
    """common.js's ``Kiosk.snapshots``, fed by hand (live.screen_snapshot says when each
    case happens): a partial snapshot before the first whole one waits for it, one not
    newer than the picture is dropped, the rooms it does not carry stay as they were,
    and after a reconnection the picture starts again from the next whole snapshot. The
    page draws at the next frame, once for the snapshots that came within it, and then
    only the rooms the partial ones carried; nothing once the connection dropped."""
    page = open_page("zh")  # common.js is on every page
    drawn = page.evaluate(
        """async () => {
        const handlers = {};
        const pictures = [];
        const socket = { on: (name, handler) => { handlers[name] = handler; } };
        Kiosk.snapshots(socket, "board", (p, rooms) =>
            pictures.push([JSON.parse(JSON.stringify(p)), rooms.map((r) => r.id)]));
        const send = (view) => handlers.board(view);
        const frame = () => new Promise((done) => requestAnimationFrame(done));
        const rooms = (...states) => states.map(([id, state]) => ({ id, state }));
        send({ seq: 4, partial: true, head: "h4", rooms: rooms([2, "open"]) });
        send({ seq: 3, head: "h3", rooms: rooms([1, "called"], [2, "called"]) });
        await frame();
        send({ seq: 3, partial: true, head: "h3", rooms: rooms([1, "stale"]) });
        send({ seq: 5, partial: true, head: "h5", rooms: rooms([1, "open"]) });
        await frame();
        send({ seq: 6, partial: true, head: "h6", rooms: rooms([2, "new"]) });
        send({ seq: 7, partial: true, head: "h7", rooms: rooms([1, "closed"]) });
        await frame();
        send({ seq: 8, partial: true, head: "h8", rooms: rooms([2, "closed"]) });
        handlers.disconnect();
        await frame();
        send({ seq: 1, partial: true, head: "old", rooms: rooms([1, "old"]) });
        send({ seq: 2, partial: true, head: "h2", rooms: rooms([2, "new"]) });
        send({ seq: 1, head: "h1", rooms: rooms([1, "closed"], [2, "closed"]) });
        await frame();
        return pictures;
    }"""
    )
    room = [{"id": 1, "state": s} for s in ("called", "open", "closed")]
    other = [{"id": 2, "state": s} for s in ("open", "new", "closed")]
    assert drawn == [
        [{"seq": 4, "head": "h4", "rooms": [room[0], other[0]]}, [1, 2]],
        [{"seq": 5, "head": "h5", "rooms": [room[1], other[0]]}, [1]],
        [{"seq": 7, "head": "h7", "rooms": [room[2], other[1]]}, [1, 2]],
        [{"seq": 2, "head": "h2", "rooms": [room[2], other[1]]}, [1, 2]],
    ]


def test_tablet_layout_fits_a_ten_inch_screen(open_page: Callable[..., Page], event: Event) -> None:
    tablet = open_page(
        "zh", viewport={"width": 800, "height": 1280}, has_touch=True, is_mobile=True
    )
    tablet.goto(f"/enrol/{event.token('B', 1)}")
    tablet.get_by_role("button", name="登记本平板").tap()
    expect(tablet.locator("#status-text")).to_have_text("等待考生入场")
    width = tablet.evaluate("document.documentElement.scrollWidth")
    assert width <= 800  # no sideways scrolling in portrait
    size = tablet.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 18


SIGN_WITH_VECTOR_KEY = """async ([d, x, message]) => {
  const S = window.KioskSeal;
  const key = await crypto.subtle.importKey("jwk", {kty: "OKP", crv: "Ed25519", d, x},
                                            {name: "Ed25519"}, false, ["sign"]);
  return S.hex(await S.signBytes(key, S.unhex(message)));
}"""


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032)
def test_rfc8032_vectors_through_the_tablet_signer(
    open_page: Callable[..., Page],
    event: Event,
    secret: str,
    public: str,
    message: str,
    signature: str,
) -> None:
    page = open_page("zh")
    page.goto(f"/enrol/{event.token('A', 1)}")  # a page that loads the tablet's signer
    d, x = b64u(bytes.fromhex(secret)), b64u(bytes.fromhex(public))
    assert page.evaluate(SIGN_WITH_VECTOR_KEY, [d, x, message]) == signature


def test_the_tablet_and_python_sign_and_hash_the_same_bytes(
    open_page: Callable[..., Page], event: Event
) -> None:
    page = open_page("zh")
    page.goto(f"/enrol/{event.token('A', 1)}")
    secret, public = RFC8032[0][0], RFC8032[0][1]
    body = {
        "type": "commitment",
        "event": 1,
        "room": 2,
        "round": 3,
        "draw_number": 4,
        "seat": 5,
        "rubric": "ab",
        "commitment": "cd",
        "seq": 6,
        "nonce": "AAAA",
        "名": "王𠈌",
        "list": [True, None, "x"],
    }
    made = page.evaluate(
        """async ([d, x, body]) => {
      const key = await crypto.subtle.importKey("jwk", {kty: "OKP", crv: "Ed25519", d, x},
                                                {name: "Ed25519"}, false, ["sign"]);
      const opening = {event: 1, room: 2, round: 3, draw_number: 4, seat: 5, rubric: "ab",
                       items: {a: "37.5", b: "20"}, total: "57.5", salt: "c2FsdA"};
      return {envelope: await KioskSeal.envelope(key, body), canonical: KioskSeal.canonical(body),
              commitment: await KioskSeal.commitment(opening)};
    }""",
        [b64u(bytes.fromhex(secret)), b64u(bytes.fromhex(public)), body],
    )
    assert made["canonical"].encode() == canonical(body)
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    assert made["envelope"] == sign(key, body)
    assert verify(load_public_key(b64u(bytes.fromhex(public))), made["envelope"]) == body
    assert made["commitment"] == commitment(
        {
            "event": 1,
            "room": 2,
            "round": 3,
            "draw_number": 4,
            "seat": 5,
            "rubric": "ab",
            "items": {"a": "37.5", "b": "20"},
            "total": "57.5",
            "salt": "c2FsdA",
        }
    )


def test_a_tablet_away_at_the_close_reveals_from_indexeddb_when_it_returns(
    open_page: Callable[..., Page], live: str, event: Event
) -> None:
    board = open_page("zh", viewport={"width": 1920, "height": 1080})
    board.goto(f"/observe/{event.observer_token}")
    board.get_by_role("button", name="打开监督屏").click()
    tablet = open_page("zh", **TABLET)
    tablet.goto(f"/enrol/{event.token('B', 1)}")
    tablet.get_by_role("button", name="登记本平板").tap()
    expect(tablet.locator("#status-text")).to_have_text("等待考生入场")
    others = []
    for n in (2, 3):
        rater = RaterClient(live)
        rater.enrol(event.token("B", n))
        rater.connect()
        others.append(rater)
    organiser = OrganiserClient(live)
    organiser.login(PASSWORD)
    try:
        round_id = organiser.call_next(organiser.room("B")["id"])
        organiser.open_round(round_id)
        expect(tablet.locator("#status-text")).to_have_text("请评分")
        tablet.fill("#item-analysis", "31.5")
        tablet.fill("#item-expression", "22")
        tablet.fill("#item-bearing", "20")
        tablet.get_by_role("button", name="核对并提交").tap()
        tablet.locator("#confirm-submit").tap()
        expect(tablet.locator("#status-text")).to_contain_text("已封存提交")
        tablet.goto("about:blank")  # the tablet leaves (battery, Wi-Fi, a closed tab)
        for rater in others:
            rater.wait_for(lambda s: s["round"] and s["round"]["state"] == "open")
            rater.submit(sheet("30", "20", "20"))
        board_b = board.locator('section.board-room[data-room="B"]')
        expect(board_b.locator('[data-field="state"]')).to_have_text("正在揭晓评分")
        tablet.goto("/tablet")  # back: its key and sealed sheet were kept in IndexedDB
        expect(board_b.locator('[data-field="state"]')).to_have_text("本轮已结束")
        expect(board_b.locator(".total-cell .num").first).to_have_text("73.50")
        expect(board.locator("#head-text")).to_contain_text("日志")
        qr = board.locator("#head-qr")
        expect(qr).to_have_attribute("src", re.compile(r"/observer/head\.svg\?size=\d+"))
        deadline = time.monotonic() + 5  # polled from here: the CSP forbids page-side eval
        while qr.evaluate("img => img.naturalWidth") == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert qr.evaluate("img => img.naturalWidth") > 0  # the signed-head QR loaded
        assert not any(r.alarms for r in others)
    finally:
        for client in (*others, organiser):
            client.close()


def test_one_browser_is_one_tablet(open_page: Callable[..., Page], event: Event) -> None:
    """Enrolling a second seat in the same browser leaves the first seat's page saying so,
    rather than signing with the wrong key."""
    first = open_page("zh", **TABLET)
    first.goto(f"/enrol/{event.token('A', 1)}")
    first.get_by_role("button", name="登记本平板").tap()
    expect(first.locator("#status-text")).to_have_text("等待考生入场")
    second = first.context.new_page()
    second.goto(f"/enrol/{event.token('A', 2)}")
    second.get_by_role("button", name="登记本平板").tap()
    expect(second.locator("#status-text")).to_have_text("等待考生入场")
    first.goto("/tablet")  # the cookie now names seat 2; the page must agree with the key
    expect(first.locator("#status-text")).to_have_text("等待考生入场")
    first.evaluate("""async () => {
      const device = await KioskSeal.get("device");
      device.seat.id = 999;
      await KioskSeal.put("device", device);
    }""")
    first.reload()
    expect(first.locator("#status-text")).to_contain_text("另一个席位")


def test_the_console_closes_early_with_a_reason_pauses_and_reissues(
    open_page: Callable[..., Page], live: str, event: Event
) -> None:
    """The irreversible acts wait for a monitor: the observer screen shows the request
    and its reason, and the act runs when the monitor confirms there."""
    board = open_page("zh", viewport={"width": 1920, "height": 1080})
    board.goto(f"/observe/{event.observer_token}")
    board.get_by_role("button", name="打开监督屏").click()
    asks = board.locator("#approvals")

    def monitor_confirms(text: str) -> None:
        expect(asks.locator(".approval-text")).to_contain_text(text)
        board.once("dialog", lambda dialog: dialog.accept())
        asks.get_by_role("button", name="确认执行").click()
        expect(asks).to_be_hidden()

    console = open_page("zh")
    console.get_by_label("密码").fill(PASSWORD)
    console.get_by_role("button", name="登录").click()
    room_b = console.locator('section.room[data-room="B"]')
    raters = []
    for n in (1, 2, 3):
        rater = RaterClient(live)
        rater.enrol(event.token("B", n))
        rater.connect()
        raters.append(rater)
    try:
        expect(room_b.locator('[data-field="seats"] li .ok')).to_have_count(
            6
        )  # 3 × enrolled, online
        room_b.get_by_role("button", name="暂停考场").click()
        expect(room_b.locator(".tag").first).to_have_text("考场暂停")
        expect(room_b.get_by_role("button", name="呼叫下一位")).to_be_disabled()
        room_b.get_by_role("button", name="恢复考场").click()
        room_b.get_by_role("button", name="呼叫下一位").click()
        room_b.get_by_role("button", name="开始评分", exact=True).click()
        raters[0].wait_for(lambda s: s["round"] and s["round"]["state"] == "open")
        raters[0].submit(sheet("30", "20", "20"))
        expect(room_b.locator('li[data-seat="1"] .tag')).to_have_text("已提交")
        room_b.get_by_role("button", name="结束本轮").click()
        reason = room_b.locator('[data-field="reason"]')
        expect(reason).to_be_visible()
        room_b.locator('[data-act="close-confirm"]').click()  # empty: refused in place
        expect(room_b.locator('[data-field="error"]')).to_contain_text("原因")
        reason.fill("评委2、3 临时离场")
        room_b.locator('[data-act="close-confirm"]').click()
        expect(room_b.locator('[data-field="error"]')).to_contain_text("等待监督员")
        expect(console.locator("#approval-list")).to_contain_text("评委2、3 临时离场")
        monitor_confirms("提前结束第")
        expect(room_b.locator(".rule")).to_contain_text("共 1 位评委，平均 70.00")
        expect(room_b.locator(".result")).to_contain_text("提前结束：评委2、3 临时离场")
        console.once("dialog", lambda dialog: dialog.accept())
        room_b.locator('li[data-seat="3"] [data-act="reissue"]').click()
        expect(room_b.locator('[data-field="error"]')).to_contain_text("等待监督员")
        monitor_confirms("评委3")
        expect(room_b.locator('li[data-seat="3"]')).to_contain_text("未登记")
        deadline = time.monotonic() + 5
        while not raters[2].revoked and time.monotonic() < deadline:
            time.sleep(0.05)
        assert raters[2].revoked
        room_b.get_by_role("button", name="呼叫下一位").click()  # draw number 5 …
        expect(room_b.locator('[data-field="number"]')).to_have_text("5")
        console.once("dialog", lambda dialog: dialog.accept())
        room_b.get_by_role("button", name="缺考").click()  # … does not come in
        expect(room_b.locator(".rule")).to_have_text("本轮无有效评分")
        expect(room_b.locator(".result")).to_contain_text("提前结束：缺考")
    finally:
        for rater in raters:
            rater.close()


PHONE = {"viewport": {"width": 375, "height": 667}, "has_touch": True, "is_mobile": True}


def test_a_monitor_watches_the_lot_draw_happen(
    open_page: Callable[..., Page], live: str, app: Flask, event: Event
) -> None:
    """Two parties commit and reveal on phones, a third through the API (with one wrong
    reveal first); the monitor's screen shows each commitment, the refusal, the key
    string, the order and the recompute QR, live."""
    import requests

    from ballot.lots import draw as lot_draw
    from ballot.lots import source_commitment
    from kiosk_server.ceremony import party_tokens
    from kiosk_server.live import store, token_key

    board = open_page("zh", viewport={"width": 1920, "height": 1080})
    board.goto(f"/observe/{event.observer_token}")
    board.get_by_role("button", name="打开监督屏").click()
    organiser = OrganiserClient(live)
    organiser.login(PASSWORD)
    try:
        draw_id = organiser.act("lot_start", {"parties": None})["draw_id"]
        with app.app_context():
            tokens = [p["token"] for p in party_tokens(store(), token_key(), draw_id)]
        lot = board.locator("#lot")
        expect(lot).to_contain_text("各方提交承诺中")
        expect(lot.locator('li[data-committed="no"]')).to_have_count(3)

        phones = []
        for token, value in zip(tokens[:2], ["4 2 6", "9319"], strict=True):
            phone = open_page("zh", **PHONE)
            phone.goto(f"/lot/{token}")
            phone.fill("#value", value)
            phone.get_by_role("button", name="提交承诺").tap()
            expect(phone.locator("#committed")).to_be_visible()
            expect(phone.locator("#keep")).to_contain_text(f"数字 {value}")
            phones.append(phone)
        expect(lot.locator('li[data-committed="yes"]')).to_have_count(2)

        salt = "0123456789abcdef" * 2
        third = {"token": tokens[2], "commitment": source_commitment("17", salt)}
        assert requests.post(f"{live}/api/lot/commit", json=third, timeout=10).ok
        expect(lot).to_contain_text("各方揭示中")
        for phone in phones:  # the phones see the reveal phase by themselves (polling)
            phone.get_by_role("button", name="揭示").tap()
            expect(phone.locator("#done")).to_have_text("已揭示，谢谢。")
        wrong = {"token": tokens[2], "value": "18", "salt": salt}
        refused = requests.post(f"{live}/api/lot/reveal", json=wrong, timeout=10)
        assert refused.status_code == 409
        expect(lot.locator(".lot-refused")).to_have_text(" · 揭示不符被拒绝 1 次")
        right = {"token": tokens[2], "value": "17", "salt": salt}
        assert requests.post(f"{live}/api/lot/reveal", json=right, timeout=10).ok

        expect(lot).to_contain_text("抽签完成")
        key, steps = lot_draw(6, 6, [[4, 2, 6], [9319], [17]])
        expect(lot.locator('[data-field="key"]')).to_have_text(key)
        assert key == "2.4.6./9319./17./"
        expect(lot.locator('[data-field="order"] li')).to_have_count(6)
        expect(lot.locator('[data-field="order"] li').first).to_have_text(
            f"1 ← {steps[0].selected}"
        )
        expect(lot).to_contain_text("第 1 次抽签（同一名单共 1 次）")
        qr = lot.locator(".lot-recompute img")
        deadline = time.monotonic() + 5  # polled from here: the CSP forbids page-side eval
        while qr.evaluate("img => img.naturalWidth") == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert qr.evaluate("img => img.naturalWidth") > 0
        expect(phones[0].locator("#party-state")).to_have_text("抽签完成")
    finally:
        organiser.close()


# --- results: the clerk's page on a tablet, the published sheet printed to PDF ----------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_clerk_types_marks_on_a_tablet(
    open_page: Callable[..., Page], app: Flask, event: Event, lang: str
) -> None:
    from kiosk_server.enrolment import issue_observer
    from kiosk_server.live import store, token_key

    with app.app_context():
        token = issue_observer(store(), token_key(), event.id, "录入员甲", "test", role="clerk")
    words = {
        "zh": ("登记本设备", "录入", "等待第二人录入", "超出允许范围", "缺考"),
        "en": (
            "Enrol this device",
            "Enter",
            "waiting for the second clerk",
            "out of range",
            "absent",
        ),
    }[lang]
    tablet = open_page(lang, **TABLET)
    tablet.goto(f"/clerk/{token}")
    tablet.get_by_role("button", name=words[0]).tap()
    expect(tablet).to_have_url(re.compile("/clerk$"))
    expect(tablet.locator("#candidates tr")).to_have_count(6)
    tablet.fill("#reg-no", "R001")
    expect(tablet.locator("#who")).to_have_text("王伟（党政办）")
    tablet.fill("#mark", "88")
    tablet.get_by_role("button", name=words[1], exact=True).tap()
    expect(tablet.locator("#done")).to_contain_text(words[2])
    expect(tablet.locator('#candidates tr[data-reg-no="R001"] td').nth(2)).to_have_text("88")
    tablet.locator('#candidates tr[data-reg-no="R003"]').tap()  # a row fills the number
    expect(tablet.locator("#reg-no")).to_have_value("R003")
    tablet.fill("#mark", "缺考")
    tablet.get_by_role("button", name=words[1], exact=True).tap()
    expect(tablet.locator('#candidates tr[data-reg-no="R003"] td').nth(2)).to_have_text(words[4])
    tablet.fill("#reg-no", "R002")
    tablet.fill("#mark", "101")
    tablet.get_by_role("button", name=words[1], exact=True).tap()
    expect(tablet.locator("#error")).to_contain_text(words[3])
    assert store(app).row("SELECT COUNT(*) AS n FROM written_entry")["n"] == 2
    assert tablet.evaluate("document.documentElement.scrollWidth") <= 1280


def test_the_published_sheet_prints_to_pdf(
    open_page: Callable[..., Page], app: Flask, event: Event, tmp_path: Path
) -> None:
    from .test_interview_sockets import Room
    from .test_results_server import publish, whole_event

    room = Room(app, event)
    whole_event(app, event, room)
    published = publish(room)
    page = open_page("zh")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile("/organiser/$"))
    page.goto("/results/sheet")
    expect(page.locator(".sheet-post")).to_have_count(2)
    expect(page.locator('.sheet-post[data-post="P1"] .appointed')).to_contain_text("王伟")
    expect(page.locator('[data-field="bundle-sha256"]')).to_have_text(published["sha256"])
    expect(page.locator(".sheet-proof svg")).to_be_visible()
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()  # the print CSS drops the screen chrome
    pdf = tmp_path / "sheet.pdf"
    data = page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert 1 <= pages <= 3 and len(data) > 20_000  # text with CJK fonts and a QR code


def test_an_idle_console_goes_back_to_the_sign_in_page(
    app: Flask, open_page: Callable[..., Page]
) -> None:
    """Past the idle limit the console's next act is refused, its socket is cut, and the
    page lands on the sign-in form, which returns to the console."""
    console = open_page("zh")
    console.get_by_label("密码").fill(PASSWORD)
    console.get_by_role("button", name="登录").click()
    expect(console.locator("section.room").first).to_be_visible()
    app.config["ORGANISER_IDLE_SECONDS"] = 0.5
    console.wait_for_timeout(1000)
    console.locator("#new-observer").click()
    expect(console).to_have_url(re.compile(r"/login\?next=(/|%2F)organiser"))
    app.config["ORGANISER_IDLE_SECONDS"] = 1800
    console.get_by_label("密码").fill(PASSWORD)
    console.get_by_role("button", name="登录").click()
    expect(console.locator("section.room").first).to_be_visible()
