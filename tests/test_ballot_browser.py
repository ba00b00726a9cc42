"""The evaluator's ballot in Debian's headless Chromium at a phone's size (375 × 667), and
the observer screen following turnout live and showing the result once closed."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from kiosk_server import evaluation
from kiosk_server.live import store, token_key
from rater_client.drill import OrganiserClient

from .conftest import PASSWORD, Event
from .test_browser import browser, live, open_page  # noqa: F401 - fixtures used below

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 375, "height": 667}, "has_touch": True, "is_mobile": True}


def open_evaluation(app: Flask, event: Event) -> dict[str, list[str]]:
    """Two groups with weights, opened; their slips' tokens by group."""
    with app.app_context():
        evaluation.configure(
            store(),
            token_key(),
            event.id,
            [evaluation.Group("机关干部", 3), evaluation.Group("服务对象", 2)],
            evaluation.Rules(),
            "test",
        )
        evaluation.open_evaluation(store(), event.id, "test")
        return {s["name"]: s["tokens"] for s in evaluation.slips(store(), token_key(), event.id)}


def grade(phone: Page, candidate: int, dimension: int, index: int) -> None:
    """Tap one grade (0 优秀 … 3 不称职) of one candidate's dimension."""
    row = phone.locator(f'section.candidate[data-candidate="{candidate}"] [data-dim="{dimension}"]')
    row.locator("label.grade").nth(index).tap()


def test_an_evaluator_scans_a_slip_and_votes_on_a_phone(
    open_page: Callable[..., Page],  # noqa: F811 - the fixture imported above
    live: str,  # noqa: F811
    app: Flask,
    event: Event,
) -> None:
    slips = open_evaluation(app, event)
    board = open_page("zh", viewport={"width": 1920, "height": 1080})
    board.goto(f"/observe/{event.observer_token}")
    board.get_by_role("button", name="打开监督屏").click()
    panel = board.locator("#evaluation")
    expect(panel.locator('[data-field="eval-turnout"]')).to_have_text("已投 0 / 5 票")
    board.evaluate("window.__notReloaded = true")

    phone = open_page("zh", **PHONE)
    phone.goto(f"/ballot/{slips['服务对象'][0]}")
    expect(phone.locator(".group-line")).to_have_text("评价人类别：服务对象")
    cards = phone.locator("section.candidate")
    expect(cards).to_have_count(6)
    expect(cards.first).to_contain_text("王伟")
    expect(cards.first).to_contain_text("党政办")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scroll
    box = cards.first.locator("label.grade").first.bounding_box()
    assert box is not None and box["height"] >= 40 and box["width"] >= 60  # thumb-sized

    # every candidate but the last graded in full; the progress follows each tap
    for c in range(5):
        for d in range(5):
            grade(phone, c, d, 0 if c == 0 else 1)
    for d in range(4):
        grade(phone, 5, d, 2)  # 廉 left out for the last one
    expect(phone.locator("#progress")).to_have_text("已评完 5 / 6 位")
    expect(cards.nth(5)).to_have_attribute("data-complete", "no")
    phone.get_by_role("button", name="核对并提交").tap()
    expect(phone.locator("#gap-warning")).to_contain_text("有 1 位竞岗者未评完全部项目")
    expect(phone.locator(".review-list li.gap")).to_contain_text("杨帆")

    # back to the form: every grade still chosen; fill the gap, review again, confirm
    phone.get_by_role("button", name="返回修改").tap()
    expect(phone.locator("#progress")).to_have_text("已评完 5 / 6 位")
    grade(phone, 5, 4, 3)
    expect(phone.locator("#progress")).to_have_text("已评完 6 / 6 位")
    phone.get_by_role("button", name="核对并提交").tap()
    expect(phone.locator("#gap-warning")).to_have_count(0)
    expect(phone.locator(".review-list li").first).to_contain_text("德 优秀")
    assert board.locator('[data-field="eval-turnout"]').text_content() == "已投 0 / 5 票"
    phone.get_by_role("button", name="确认提交").tap()
    expect(phone.locator("#ballot-done")).to_contain_text("投票成功")

    # the board follows live: the group's count, no grade and no figure
    expect(panel.locator('[data-field="eval-turnout"]')).to_have_text("已投 1 / 5 票")
    expect(panel.locator('tr[data-group="服务对象"] [data-field="cast"]')).to_have_text("1")
    expect(panel.locator('[data-field="eval-result"]')).to_be_hidden()

    # the slip, scanned again, says it was used
    phone.goto(f"/ballot/{slips['服务对象'][0]}")
    expect(phone.locator("#ballot-message")).to_have_text("这张选票已经投过，不能再次使用。")

    organiser = OrganiserClient(live)
    organiser.login(PASSWORD)
    try:
        organiser.act("evaluation_close", {})  # asked; a monitor confirms on the board
    finally:
        organiser.close()
    asks = board.locator("#approvals")
    expect(asks.locator(".approval-text")).to_contain_text("结束民主测评并公布结果")
    board.once("dialog", lambda dialog: dialog.accept())
    asks.get_by_role("button", name="确认执行").click()
    expect(panel.locator('[data-field="eval-state"]')).to_have_text("已结束")
    rows = panel.locator('[data-field="eval-rows"] tr')
    expect(rows).to_have_count(6)
    expect(rows.first).to_contain_text("王伟")
    expect(rows.first.locator('[data-field="score"]')).to_have_text("100.00")
    expect(rows.nth(5).locator('[data-field="score"]')).to_have_text("48.00")  # 12 x 4 + 0
    assert board.evaluate("window.__notReloaded") is True


def test_the_ballot_speaks_english_and_warns_of_a_blank_ballot(
    open_page: Callable[..., Page],  # noqa: F811
    app: Flask,
    event: Event,
) -> None:
    slips = open_evaluation(app, event)
    phone = open_page("en", **PHONE)
    phone.goto(f"/ballot/{slips['机关干部'][0]}")
    expect(phone.locator(".group-line")).to_have_text("Evaluator group: 机关干部")
    first = phone.locator('section.candidate[data-candidate="0"]')
    expect(first.locator(".dim-name").first).to_have_text("Integrity")
    expect(first.locator("label.grade")).to_have_text(
        ["Excellent", "Competent", "Basically competent", "Incompetent"] * 5
    )
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    phone.get_by_role("button", name="Review and submit").tap()
    expect(phone.locator("#gap-warning")).to_contain_text(
        "6 candidate(s) are not graded on every dimension"
    )
    phone.get_by_role("button", name="Confirm and submit").tap()
    expect(phone.locator("#ballot-done")).to_contain_text("Ballot cast")
    phone.goto("/ballot/this-is-no-slip-at-all")
    expect(phone.locator("#ballot-message")).to_contain_text(re.compile("not valid"))
