"""Real pages in Debian's headless Chromium: enrol a tablet from its QR URL, score at a
10-inch tablet viewport, and watch the observer screen update live, in Chinese and English."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect, sync_playwright

from kiosk_server.serving import serve_in_thread
from rater_client import RaterClient

from .conftest import PASSWORD, Event, sheet

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


def page_in(browser: Browser, base: str, lang: str, **context: object) -> Page:
    page = browser.new_context(base_url=base, **context).new_page()
    page.goto(f"/lang/{lang}?next=/login")
    return page


TEXT = {
    "zh": {
        "enrol": "登记本平板",
        "waiting": "等待考生入场",
        "call": "呼叫下一位",
        "open": "开始评分",
        "scoring": "请评分",
        "review": "核对并提交",
        "confirm": "确认提交",
        "submitted": "已提交，等待其他评委",
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
        "submitted": "Submitted, waiting for other raters",
        "closed": "Round closed",
        "rule": "Highest 95.00 and lowest 80.00 dropped; mean of the other 3 raters 89.00",
        "sign_in": "Sign in",
        "observe": "Open observer screen",
        "range": "out of range",
    },
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_enrol_score_and_watch_live(browser: Browser, live: str, event: Event, lang: str) -> None:
    text = TEXT[lang]
    # the organiser signs in
    console = page_in(browser, live, lang)
    console.get_by_label(re.compile("密码|Password")).fill(PASSWORD)
    console.get_by_role("button", name=text["sign_in"]).click()
    expect(console).to_have_url(re.compile("/organiser/$"))
    room_a = console.locator('section.room[data-room="A"]')
    expect(room_a.locator('[data-field="seats"] li')).to_have_count(5)

    # a monitor opens the observer screen from its one-time link
    board = page_in(browser, live, lang, viewport={"width": 1920, "height": 1080})
    board.goto(f"/observe/{event.observer_token}")
    board.get_by_role("button", name=text["observe"]).click()
    expect(board).to_have_url(re.compile("/observer$"))
    board_a = board.locator('section.board-room[data-room="A"]')
    expect(board_a.locator(".tick")).to_have_count(5)
    board.evaluate("window.__notReloaded = true")

    # the tablet enrols by opening its seat's QR URL and tapping once
    tablet = page_in(browser, live, lang, **TABLET)
    tablet.goto(f"/enrol/{event.token('A', 1)}")
    tablet.get_by_role("button", name=text["enrol"]).tap()
    expect(tablet).to_have_url(re.compile("/tablet$"))
    expect(tablet.locator("#status-text")).to_have_text(text["waiting"])
    # the same QR code on a second device is refused
    second = page_in(browser, live, lang, **TABLET)
    second.goto(f"/enrol/{event.token('A', 1)}")
    expect(second.get_by_role("button", name=text["enrol"])).to_have_count(0)
    expect(second.locator(".error")).to_be_visible()

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
        expect(tablet.locator("#status-text")).to_have_text(text["submitted"])
        assert len(event.sheets()) == 1

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


def test_tablet_layout_fits_a_ten_inch_screen(browser: Browser, live: str, event: Event) -> None:
    tablet = page_in(
        browser, live, "zh", viewport={"width": 800, "height": 1280}, has_touch=True, is_mobile=True
    )
    tablet.goto(f"/enrol/{event.token('B', 1)}")
    tablet.get_by_role("button", name="登记本平板").tap()
    expect(tablet.locator("#status-text")).to_have_text("等待考生入场")
    width = tablet.evaluate("document.documentElement.scrollWidth")
    assert width <= 800  # no sideways scrolling in portrait
    size = tablet.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 18
