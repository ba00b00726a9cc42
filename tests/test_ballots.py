"""The democratic evaluation (民主测评) through the kiosk: set-up, slips, the phone's ballot,
turnout live, the result at close, the log, and unlinkability of what is stored."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient

from kiosk_server.live import socketio, store

from .conftest import Event, received, sign_in

GRADE = {"优秀": 0, "称职": 1, "基本称职": 2, "不称职": 3}
EXCELLENT = ["优秀"] * 5  # 100 points
COMPETENT = ["称职"] * 5  # 80
MIXED = ["优秀", "称职", "基本称职", "称职", "不称职"]  # 20 + 16 + 12 + 16 + 0 = 64
GAP = [None] * 5
# The event's six candidates in registration order: R001 … R006.
CANDIDATES = 6


def form(rows: list[list[str | None]]) -> dict[tuple[int, int], int]:
    """A ballot's rows as the phone's form sends them: grade indexes by position."""
    return {
        (c, d): GRADE[grade]
        for c, row in enumerate(rows)
        for d, grade in enumerate(row)
        if grade is not None
    }


def ballot(*rows: list[str | None]) -> dict[tuple[int, int], int]:
    """Rows for the first candidates; every other candidate left wholly ungraded."""
    return form([*rows, *[GAP] * (CANDIDATES - len(rows))])


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    return found.group(1) if found else ""


class Phone:
    """One evaluator's phone: its own browser session, through the Flask test client."""

    def __init__(self, app: Flask) -> None:
        self.http = app.test_client()
        self.csrf = ""

    def open(self, token: str) -> Any:
        response = self.http.get(f"/ballot/{token}")
        self.csrf = csrf_of(response.get_data(as_text=True)) or self.csrf
        return response

    def send(
        self,
        token: str,
        marks: dict[tuple[int, int], int],
        step: str = "confirm",
        **extra: str,
    ) -> Any:
        data = {"csrf": self.csrf, "step": step}
        data.update({f"m-{c}-{d}": str(g) for (c, d), g in marks.items()})
        data.update(extra)
        return self.http.post(f"/ballot/{token}", data=data)

    def vote(self, token: str, marks: dict[tuple[int, int], int]) -> Any:
        self.open(token)
        return self.send(token, marks)


class Polls:
    """The organiser's side of an evaluation: the set-up form, the slips, open and close
    over the console's socket, and an observer screen watching."""

    def __init__(self, app: Flask, event: Event, watch: bool = True) -> None:
        self.app, self.event = app, event
        self.http: FlaskClient = app.test_client()
        assert sign_in(self.http).status_code == 302
        self.console = socketio(app).test_client(
            app, namespace="/organiser", flask_test_client=self.http
        )
        if not watch:  # the event's observer link is spent elsewhere
            return
        observer_http = app.test_client()
        assert observer_http.post(f"/observe/{event.observer_token}").status_code == 302
        self.board: SocketIOTestClient = socketio(app).test_client(
            app, namespace="/observer", flask_test_client=observer_http
        )

    def configure(
        self,
        groups: list[tuple[str, Any, Any]],
        lang: str = "zh",
        csrf: str | None = None,
        **rules: str,
    ) -> Any:
        self.http.set_cookie("lang", lang)
        page = self.http.get("/organiser/evaluation").get_data(as_text=True)
        data = {
            "csrf": csrf_of(page) if csrf is None else csrf,
            "dimensions": "德 能 勤 绩 廉",
            "points": "20",
            "grades": "优秀=100 称职=80 基本称职=60 不称职=0",
            "validity": "candidate",
            **rules,
        }
        for i, (name, ballots, weight) in enumerate(groups):
            data.update({f"name-{i}": name, f"ballots-{i}": str(ballots), f"weight-{i}": weight})
        return self.http.post("/organiser/evaluation", data=data)

    def slips(self) -> dict[str, list[str]]:
        """Every unused slip's token, by group, read off the printable sheet in its order."""
        page = self.http.get("/organiser/ballot-slips").get_data(as_text=True)
        out: dict[str, list[str]] = {}
        for section in re.findall(r'<section class="slip-sheet".*?</section>', page, re.S):
            group = re.search(r'data-group="([^"]+)"', section)
            assert group is not None
            out[group.group(1)] = re.findall(r'data-ballot-token="([^"]+)"', section)
        return out

    def act(self, event: str) -> dict[str, Any]:
        return self.console.emit(event, {}, namespace="/organiser", callback=True)

    def open(self) -> None:
        assert self.act("evaluation_open")["ok"]

    def close(self, monitor: SocketIOTestClient | None = None) -> None:
        """Ask to close, and a monitor confirms on an observer screen (two people)."""
        asked = self.act("evaluation_close")
        assert asked["ok"] and asked["pending"], asked
        reply = (monitor or self.board).emit(
            "approve", {"approval_id": asked["pending"]}, namespace="/observer", callback=True
        )
        assert reply["ok"], reply

    def seen(self, client: SocketIOTestClient | None = None) -> list[Any]:
        """The ``evaluation`` snapshots a screen received since last asked."""
        client = client or self.board
        namespace = "/observer" if client is self.board else "/organiser"
        got = received(client, namespace)
        return [(m["args"] or [None])[0] for m in got if m["name"] == "evaluation"]


DEFAULT = [("机关干部", 4, ""), ("服务对象", 3, "")]


@pytest.fixture
def polls(app: Flask, event: Event) -> Polls:
    return Polls(app, event)


def leaves(app: Flask, *types: str) -> list[dict[str, Any]]:
    rows = store(app).rows("SELECT data FROM log_leaf ORDER BY event_id, idx")
    found = [json.loads(r["data"]) for r in rows]
    return [leaf for leaf in found if not types or leaf["type"] in types]


# --- set-up --------------------------------------------------------------------------


def test_the_organiser_sets_groups_ballots_and_weights(polls: Polls, app: Flask) -> None:
    page = polls.http.get("/organiser/evaluation").get_data(as_text=True)
    for name in ("机关干部", "镇直部门负责人", "村三委干部", "服务对象", "两代表一委员"):
        assert f'value="{name}"' in page  # the source's five groups are offered
    answer = polls.configure(
        [("机关干部", 5, "40"), ("镇直部门负责人", 2, "20"), ("服务对象", 3, "40")]
    )
    assert answer.status_code == 302 and answer.headers["Location"].endswith("saved=1")
    slips = polls.slips()
    assert {g: len(t) for g, t in slips.items()} == {
        "机关干部": 5,
        "镇直部门负责人": 2,
        "服务对象": 3,
    }
    assert len({t for ts in slips.values() for t in ts}) == 10
    (shown,) = polls.seen()[-1:]
    assert [(g["name"], g["ballots"], g["weight"]) for g in shown["groups"]] == [
        ("机关干部", 5, "40"),
        ("镇直部门负责人", 2, "20"),
        ("服务对象", 3, "40"),
    ]
    assert shown["state"] == "setup" and shown["result"] is None
    # more ballots for a group keeps the slips already printed, and fewer removes the rest
    assert polls.configure([("机关干部", 6, ""), ("服务对象", 1, "")]).status_code == 302
    again = polls.slips()
    assert again["机关干部"][:5] == slips["机关干部"] and len(again["机关干部"]) == 6
    assert again["服务对象"] == slips["服务对象"][:1]
    assert store(app).row("SELECT COUNT(*) AS n FROM ballot_token")["n"] == 7
    configured = leaves(app, "evaluation_configured")
    assert configured[-1]["data"]["groups"] == [
        {"name": "机关干部", "ballots": 6},
        {"name": "服务对象", "ballots": 1},
    ]
    assert "ballot_token" not in json.dumps(configured)  # no digest is ever logged


@pytest.mark.parametrize(
    ("groups", "rules", "zh", "en"),
    [
        ([("机关干部", 3, ""), ("机关干部", 2, "")], {}, "第 2 个类别", "Group 2"),
        ([("机关干部", 3000, "")], {}, "“机关干部”的票数", "Ballots for “机关干部”"),
        ([("机关干部", "三", "")], {}, "“机关干部”的票数", "Ballots for “机关干部”"),
        ([("机关干部", 3, "60"), ("服务对象", 2, "")], {}, "“服务对象”的权重", "“服务对象”"),
        ([("机关干部", 3, "-1")], {}, "“机关干部”的权重", "“机关干部”"),
        ([("机关干部", 3, "")], {"grades": "优秀=100 称职"}, "等次及得分比例", "grades"),
        ([("机关干部", 3, "")], {"grades": "优秀=120 差=0"}, "等次及得分比例", "grades"),
        ([("机关干部", 3, "")], {"points": "0"}, "每项分值", "points per dimension"),
        ([("机关干部", 3, "")], {"dimensions": " "}, "评价项目", "dimensions"),
        ([("机关干部", 3, "")], {"validity": "maybe"}, "废票规则", "invalid-ballot rule"),
        ([], {}, "1–10 个", "1 to 10"),
    ],
)
def test_a_wrong_setup_is_refused_with_the_fix_named_and_what_was_typed_kept(
    polls: Polls,
    app: Flask,
    groups: list[tuple[str, Any, Any]],
    rules: dict[str, str],
    zh: str,
    en: str,
) -> None:
    for lang, expected in (("zh", zh), ("en", en)):
        answer = polls.configure(groups, lang=lang, **rules)
        page = answer.get_data(as_text=True)
        assert answer.status_code == 400
        error = re.search(r'id="setup-error">([^<]+)<', page)
        assert error is not None and expected in error.group(1), error
        for name, ballots, _weight in groups:
            assert f'value="{name}"' in page and f'value="{ballots}"' in page  # kept
    assert store(app).rows("SELECT * FROM evaluation") == []  # nothing saved


def test_the_setup_needs_the_anti_forgery_token_and_is_frozen_once_open(
    polls: Polls, app: Flask
) -> None:
    assert polls.configure(DEFAULT, csrf="forged").status_code == 400
    assert store(app).rows("SELECT * FROM evaluation") == []
    assert polls.act("evaluation_open")["error"]["code"] == "evaluation_not_ready"
    assert polls.configure(DEFAULT).status_code == 302
    polls.open()
    answer = polls.configure([("机关干部", 9, "")])
    assert answer.status_code == 400 and "民主测评已开始" in answer.get_data(as_text=True)
    assert "disabled" in polls.http.get("/organiser/evaluation").get_data(as_text=True)
    assert polls.act("evaluation_open")["error"]["code"] == "evaluation_started"
    assert len(polls.slips()["机关干部"]) == 4
    # only the organiser reaches the set-up and the slips
    other = app.test_client()
    assert other.get("/organiser/ballot-slips").status_code == 302
    assert other.post("/organiser/evaluation", data={}).status_code == 302


# --- the phone's ballot ------------------------------------------------------------------


def test_a_slip_says_plainly_why_it_cannot_be_used(polls: Polls, app: Flask) -> None:
    phone = Phone(app)
    unknown = phone.open("not-a-real-token-at-all")
    assert unknown.status_code == 404 and "选票二维码无效" in unknown.get_data(as_text=True)
    polls.configure(DEFAULT)
    slips = polls.slips()
    token, spare = slips["机关干部"][0], slips["服务对象"][0]
    early = phone.open(token)
    assert early.status_code == 409 and "尚未开始" in early.get_data(as_text=True)
    polls.open()
    page = phone.open(token)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "评价人类别：机关干部" in text
    for name, unit in (("王伟", "党政办"), ("杨帆", "财政所")):  # names and units, as on paper
        assert name in text and unit in text
    assert text.count('type="radio"') == CANDIDATES * 5 * 4
    assert phone.send(token, ballot(EXCELLENT)).status_code == 200
    used = phone.open(token)
    assert used.status_code == 409 and "已经投过" in used.get_data(as_text=True)
    polls.close()
    closed = Phone(app).open(spare)
    assert closed.status_code == 409 and "已结束" in closed.get_data(as_text=True)
    phone.http.set_cookie("lang", "en")
    assert "is closed" in phone.open(token).get_data(as_text=True)


def test_a_ballot_is_reviewed_with_its_gaps_named_then_cast_once(
    polls: Polls, app: Flask, event: Event
) -> None:
    polls.configure(DEFAULT)
    polls.open()
    token = polls.slips()["服务对象"][0]
    phone = Phone(app)
    phone.open(token)
    marks = ballot(EXCELLENT, MIXED, [*COMPETENT[:4], None])  # 3rd: 廉 missing; 4th-6th blank
    review = phone.send(token, marks, step="review")
    page = review.get_data(as_text=True)
    assert review.status_code == 200 and 'id="gap-warning"' in page
    assert "有 4 位竞岗者未评完全部项目" in page and "已完整评价 2 / 6 位" in page
    assert page.count("未评完（废票）") == 4
    # back to the form: every grade chosen is still chosen
    edit = phone.send(token, marks, step="edit").get_data(as_text=True)
    for (c, d), g in marks.items():
        assert re.search(rf'name="m-{c}-{d}" value="{g}" checked', edit), (c, d)
    assert edit.count(" checked") == len(marks)
    assert store(app).rows("SELECT * FROM cast_ballot") == []  # nothing cast yet
    done = phone.send(token, marks)
    assert done.status_code == 200 and 'id="ballot-done"' in done.get_data(as_text=True)
    again = phone.send(token, marks)
    assert again.status_code == 409 and "已经投过" in again.get_data(as_text=True)
    (stored,) = store(app).rows("SELECT * FROM cast_ballot")
    assert json.loads(stored["marks"])[:3] == [EXCELLENT, MIXED, [*COMPETENT[:4], None]]
    (cast,) = leaves(app, "ballot_cast")
    assert cast["data"] == {"group": "服务对象"} and cast["actor"] == "evaluator"
    assert not leaves(app, "ballot")  # marks reach the log only at the close


def test_a_ballot_the_page_could_not_have_sent_is_refused_and_spends_nothing(
    polls: Polls, app: Flask
) -> None:
    polls.configure(DEFAULT)
    polls.open()
    token = polls.slips()["机关干部"][0]
    phone = Phone(app)
    phone.open(token)
    good = ballot(EXCELLENT)
    for change in (
        {"m-0-0": "4"},  # no fifth grade
        {"m-6-0": "0"},  # no seventh candidate
        {"m-0-5": "0"},  # no sixth dimension
        {"m-0-0": "-1"},
        {"m-0-0": "优秀"},
        {"name": "王伟"},  # not a field of the form
    ):
        answer = phone.send(token, good, **change)
        assert answer.status_code == 400, change
        assert "请求格式不正确" in answer.get_data(as_text=True)
    data = {"csrf": phone.csrf, "step": "confirm", "m-0-0": ["0", "1"]}
    assert phone.http.post(f"/ballot/{token}", data=data).status_code == 400  # repeated
    assert phone.send(token, good, step="cast").status_code == 400
    # without this session's anti-forgery token: refused, the marks shown again, unspent
    other = Phone(app)
    other.csrf = "forged"
    refused = other.send(token, good)
    assert refused.status_code == 400
    assert 'name="m-0-0" value="0" checked' in refused.get_data(as_text=True)
    assert store(app).rows("SELECT * FROM cast_ballot") == []
    assert phone.send(token, good).status_code == 200  # the slip still works, once


def test_guessing_slip_tokens_is_slowed_down(polls: Polls, app: Flask) -> None:
    polls.configure(DEFAULT)
    polls.open()
    phone = Phone(app)
    for n in range(10):
        assert phone.open(f"guess-{n:02d}-xxxxxxxxxxxx").status_code == 404
    real = polls.slips()["机关干部"][0]
    blocked = phone.open(real)
    assert blocked.status_code == 429 and "5 分钟" in blocked.get_data(as_text=True)
    assert phone.send(real, ballot(EXCELLENT)).status_code == 429
    elsewhere = Phone(app).http.get(f"/ballot/{real}", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert elsewhere.status_code == 200  # another phone is not held up
    refusals = store(app).rows("SELECT action, detail FROM audit WHERE action LIKE 'ballot%'")
    assert len(refusals) == 12 and not any(real in r["detail"] for r in refusals)


# --- live turnout, results at close, the tally ---------------------------------------------


def test_turnout_is_pushed_live_and_the_result_only_after_the_close(
    polls: Polls, app: Flask
) -> None:
    polls.configure(DEFAULT)
    polls.open()
    polls.seen(), polls.seen(polls.console)
    slips = polls.slips()
    for n, token in enumerate(slips["机关干部"][:3], start=1):
        assert Phone(app).vote(token, ballot(EXCELLENT, MIXED)).status_code == 200
        (board,) = polls.seen()
        (console,) = polls.seen(polls.console)
        assert board == console
        assert [g["cast"] for g in board["groups"]] == [n, 0] and board["cast"] == n
        assert board["result"] is None
        text = json.dumps(board, ensure_ascii=False)
        assert "优秀" not in text and "100.00" not in text  # no grade, no figure yet
    polls.close()
    (board,) = polls.seen()
    assert board["state"] == "closed" and board["result"]["ballots"] == 3
    first = board["result"]["candidates"][0]
    assert (first["name"], first["unit"], first["score"]) == ("王伟", "党政办", "100.00")


def test_the_tally_through_the_kiosk_equals_a_hand_computed_example(
    polls: Polls, app: Flask, event: Event
) -> None:
    """Weights 机关干部 60, 服务对象 40; stage weight 40 of 100.

    R001: 机关干部 100, 64 -> 82; 服务对象 80 -> (60 x 82 + 40 x 80) / 100 = 81.20, x 0.4 = 32.48.
    R002: 机关干部 80, (gap) -> 80; 服务对象 64 -> (60 x 80 + 40 x 64) / 100 = 73.60 -> 29.44;
          one invalid ballot (the gap), counted apart.
    R003: 机关干部 64, 64 -> 64; 服务对象 (blank) -> only 机关干部 has a valid ballot, so
          its mean alone: 64.00 -> 25.60 (服务对象's weight is left out, not counted as 0).
    R004-R006: nobody graded them: no score, three invalid ballots each.
    """
    polls.configure([("机关干部", 3, "60"), ("服务对象", 2, "40")])
    polls.open()
    slips = polls.slips()
    cast = [
        (slips["机关干部"][0], ballot(EXCELLENT, COMPETENT, MIXED)),
        (slips["机关干部"][1], ballot(MIXED, [*COMPETENT[:2], None, *COMPETENT[3:]], MIXED)),
        (slips["服务对象"][0], ballot(COMPETENT, MIXED, GAP)),
    ]
    for token, marks in cast:
        assert Phone(app).vote(token, marks).status_code == 200
    polls.close()
    result = polls.seen()[-1]["result"]
    figures = [
        (c["candidate"], c["valid"], c["invalid"], c["score"], c["weighted"])
        for c in result["candidates"]
    ]
    assert figures == [
        ("R001", 3, 0, "81.20", "32.48"),
        ("R002", 2, 1, "73.60", "29.44"),
        ("R003", 2, 1, "64.00", "25.60"),
        ("R004", 0, 3, None, None),
        ("R005", 0, 3, None, None),
        ("R006", 0, 3, None, None),
    ]
    assert result["candidates"][0]["groups"] == [
        {"group": "机关干部", "valid": 2, "mean": "82.00"},
        {"group": "服务对象", "valid": 1, "mean": "80.00"},
    ]
    assert result["cast"] == [{"group": "机关干部", "count": 2}, {"group": "服务对象", "count": 1}]
    # the bundle carries the same result, re-derived by the verifier from the ballot leaves
    from kiosk_server.export import export_bundle
    from seal.bundle import unpack
    from seal.verify import verify_bundle

    data = export_bundle(store(app), event.id)
    assert verify_bundle(data) == []
    published = json.loads(unpack(data)["results.json"])["evaluation"]
    for shown in result["candidates"]:  # the screens add names and units for people
        del shown["name"], shown["unit"]
    assert published == result
    assert "王伟".encode() not in data  # the evidence goes by registration number


def test_the_whole_ballot_rule_voids_a_ballot_with_any_gap(polls: Polls, app: Flask) -> None:
    polls.configure(DEFAULT, validity="ballot")
    polls.open()
    slips = polls.slips()["机关干部"]
    full = form([EXCELLENT] * CANDIDATES)
    assert Phone(app).vote(slips[0], full).status_code == 200
    phone = Phone(app)
    phone.open(slips[1])
    gappy = form([COMPETENT] * (CANDIDATES - 1) + [[*MIXED[:4], None]])
    review = phone.send(slips[1], gappy, step="review").get_data(as_text=True)
    assert "整张选票将作为废票" in review
    assert phone.send(slips[1], gappy).status_code == 200  # accepted, and counted apart
    polls.close()
    for c in polls.seen()[-1]["result"]["candidates"]:
        assert (c["valid"], c["invalid"], c["score"]) == (1, 1, "100.00")


# --- unlinkability -------------------------------------------------------------------------


def _pattern(k: int) -> list[list[str | None]]:
    """Ballot number ``k``'s marks, unique to it: its digits in base 4 as the first row."""
    grades = list(GRADE)
    digits = [grades[(k >> (2 * i)) & 3] for i in range(5)]
    return [digits, *[COMPETENT] * (CANDIDATES - 1)]


def _never_in_order(order: list[int], what: str) -> None:
    """``order`` lists ballot numbers as something stored lists them; cast order (or its
    reverse) there would link each ballot to the moment, hence the person, of casting.
    For 12 ballots a random order is monotonic with probability 2 / 12! (5e-9)."""
    assert len(order) >= 12, what
    assert order != sorted(order) and order != sorted(order, reverse=True), what


def test_nothing_stored_links_a_ballot_to_its_slip_or_to_the_order_of_casting(
    polls: Polls, app: Flask, event: Event
) -> None:
    polls.configure([("机关干部", 14, ""), ("服务对象", 2, "")])
    database = Path(app.config["DATABASE"])
    slips = polls.slips()
    issued = slips["机关干部"]  # in the order the sheet prints them: issuance order
    digests = [hashlib.sha256(t.encode()).hexdigest() for t in issued]
    # stored slips: digests only, and not even their place in the file follows the sheet
    rows = store(app).rows("SELECT * FROM ballot_token")
    assert set(rows[0]) == {"digest", "group_id", "spent"}
    _never_in_order([digests.index(r["digest"]) for r in rows if r["digest"] in digests], "rows")
    with store(app).read() as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = database.read_bytes()
    _never_in_order(
        sorted(range(len(digests)), key=lambda i: raw.find(digests[i].encode())), "token cells"
    )
    polls.open()
    audit_before = store(app).row("SELECT COUNT(*) AS n FROM audit")["n"]
    patterns = {}
    for k, token in enumerate(issued[:12]):  # cast in issuance order: the worst case
        marks = _pattern(k)
        patterns[json.dumps(marks, ensure_ascii=False)] = k
        assert Phone(app).vote(token, form(marks)).status_code == 200
    assert Phone(app).vote(slips["服务对象"][0], form(_pattern(13))).status_code == 200
    assert store(app).row("SELECT COUNT(*) AS n FROM audit")["n"] == audit_before  # no trace
    polls.close()

    # every table, every column: nothing ordered like the casting, no slip left anywhere
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    found_ballots = 0
    for table in tables:
        rows = [dict(r) for r in conn.execute(f"SELECT * FROM {table}")]  # file order
        holding = []
        for row in rows:
            text = " ".join(str(v) for v in row.values())
            assert not any(d in text or t in text for d, t in zip(digests, issued, strict=True))
            if table != "log_leaf":
                ks = [k for p, k in patterns.items() if p in text]
                if ks:
                    holding.append((ks[0], row))
        if not holding:
            continue
        found_ballots += len(holding)
        assert table == "cast_ballot", f"{table} holds ballots"
        order = [k for k, _row in holding]
        _never_in_order(order, f"{table} rows")
        for column in holding[0][1]:
            values = [row[column] for _k, row in sorted(holding, key=lambda kr: kr[0])]
            if len(set(values)) == len(values):  # a column that tells ballots apart
                ranks = sorted(range(len(values)), key=lambda i: values[i])
                _never_in_order(ranks, f"{table}.{column}")
        with pytest.raises(sqlite3.OperationalError):
            conn.execute(f"SELECT rowid FROM {table}")  # no hidden row number either
    assert found_ballots == 12
    assert conn.execute("SELECT COUNT(*) FROM ballot_token").fetchone()[0] == 0
    conn.close()

    # the file itself: the WAL is empty and the ballots' cells are not in casting order
    assert not Path(f"{database}-wal").exists() or Path(f"{database}-wal").stat().st_size == 0
    raw = database.read_bytes()
    for token, digest in zip(issued, digests, strict=True):
        assert token.encode() not in raw and digest.encode() not in raw
    offsets = {k: raw.find(p.encode()) for p, k in patterns.items() if k < 12}
    assert all(o > 0 for o in offsets.values())
    _never_in_order(sorted(offsets, key=lambda k: offsets[k]), "cells in the file")

    # the log: a cast names only its group; the marks come after the close, shuffled
    log = leaves(app)
    kinds = [leaf["type"] for leaf in log]
    closed_at = kinds.index("evaluation_closed")
    casts = [leaf for leaf in log if leaf["type"] == "ballot_cast"]
    assert len(casts) == 13 and all(set(c["data"]) == {"group"} for c in casts)
    marks = [leaf for leaf in log if leaf["type"] == "ballot"]
    assert all(i > closed_at for i, kind in enumerate(kinds) if kind == "ballot")
    assert all(set(m["data"]) == {"group", "marks"} and m["actor"] == "system" for m in marks)
    assert all(m["time"] >= log[closed_at]["time"] for m in marks)  # the close's time
    logged = [
        patterns[json.dumps(m["data"]["marks"], ensure_ascii=False)]
        for m in marks
        if m["data"]["group"] == "机关干部"
    ]
    _never_in_order(logged, "ballot leaves")
    text = json.dumps(log, ensure_ascii=False)
    assert not any(d in text or t in text for d, t in zip(digests, issued, strict=True))


# --- the log and its verifier ---------------------------------------------------------------


def cast_and_close(polls: Polls, app: Flask) -> None:
    """A small evaluation: four ballots from two groups, one with gaps, then the close."""
    polls.configure([("机关干部", 3, "60"), ("服务对象", 2, "40")])
    polls.open()
    slips = polls.slips()
    for token, marks in [
        (slips["机关干部"][0], ballot(EXCELLENT, MIXED)),
        (slips["机关干部"][1], ballot(COMPETENT, COMPETENT, MIXED)),
        (slips["服务对象"][0], ballot(MIXED, [*EXCELLENT[:4], None])),
        (slips["服务对象"][1], form([COMPETENT] * CANDIDATES)),
    ]:
        assert Phone(app).vote(token, marks).status_code == 200
    polls.close()


@pytest.mark.parametrize(
    "tamper",
    [
        "extra_field_on_ballot",
        "extra_field_on_cast",
        "changed_grade",
        "unknown_grade",
        "dropped_ballot",
        "ballot_before_close",
        "cast_after_close",
        "cast_beyond_issued",
        "changed_result",
        "changed_close_counts",
        "second_opening",
    ],
)
def test_the_verifier_rederives_the_evaluation_and_refuses_a_doctored_log(
    polls: Polls, app: Flask, event: Event, tamper: str
) -> None:
    """The Merkle heads already catch any edit of a logged leaf; this replays doctored
    logs without them, so each rule about ballot leaves is seen to hold on its own."""
    from seal.verify import replay

    cast_and_close(polls, app)
    log = leaves(app)
    assert replay(log, event.id).failures == []
    first = next(i for i, leaf in enumerate(log) if leaf["type"] == "ballot")
    opened = next(i for i, leaf in enumerate(log) if leaf["type"] == "evaluation_opened")
    cast = next(i for i, leaf in enumerate(log) if leaf["type"] == "ballot_cast")
    closed = next(i for i, leaf in enumerate(log) if leaf["type"] == "evaluation_closed")
    result = next(i for i, leaf in enumerate(log) if leaf["type"] == "evaluation_result")
    if tamper == "extra_field_on_ballot":
        log[first]["data"]["slip"] = "3f2a"  # a link smuggled in
    elif tamper == "extra_field_on_cast":
        log[cast]["data"]["at"] = "09:31"
    elif tamper == "changed_grade":
        row = log[first]["data"]["marks"][0]
        row[0] = "不称职" if row[0] != "不称职" else "优秀"
    elif tamper == "unknown_grade":
        log[first]["data"]["marks"][0][0] = "很好"
    elif tamper == "dropped_ballot":
        del log[first]
    elif tamper == "ballot_before_close":
        log.insert(closed, log.pop(first))
    elif tamper == "cast_after_close":
        log.insert(closed + 1, log.pop(cast))
    elif tamper == "cast_beyond_issued":
        log[opened]["data"]["groups"][0]["ballots"] = 1
    elif tamper == "changed_result":
        log[result]["data"]["result"]["candidates"][0]["score"] = "99.99"
    elif tamper == "changed_close_counts":
        log[closed]["data"]["cast"][0]["count"] += 1
    elif tamper == "second_opening":
        log.insert(closed, json.loads(json.dumps(log[opened])))
    for n, leaf in enumerate(log):
        leaf["seq"] = n
    assert replay(log, event.id).failures, tamper


def test_ballots_are_append_only_in_the_database(polls: Polls, app: Flask) -> None:
    cast_and_close(polls, app)
    with pytest.raises(sqlite3.IntegrityError):
        with store(app).write() as db:
            db.execute("UPDATE cast_ballot SET marks = '[]'")
    with pytest.raises(sqlite3.IntegrityError):
        with store(app).write() as db:
            db.execute("DELETE FROM cast_ballot")
    assert len(store(app).rows("SELECT * FROM cast_ballot")) == 4


# --- once only, against a real server -------------------------------------------------------


def test_one_slip_casts_once_when_many_phones_race_it_on_a_real_server(
    app: Flask, event: Event
) -> None:
    """16 phones post the same slip at the same instant to a real `kiosk serve`, while 6
    others each cast their own: exactly one of the 16 is accepted, and all 6 others."""
    import threading

    from kiosk_server import evaluation
    from kiosk_server.live import token_key
    from rater_client.drill import EvaluatorClient

    from .test_live_server import free_port, start_server

    with app.app_context():
        evaluation.configure(
            store(),
            token_key(),
            event.id,
            [evaluation.Group("村三委干部", 10)],
            evaluation.Rules(),
            "test",
        )
        evaluation.open_evaluation(store(), event.id, "test")
        (sheet,) = evaluation.slips(store(), token_key(), event.id)
    contested, *own = sheet["tokens"][:7]
    store(app).close()  # the server owns the database now
    port = free_port()
    server = start_server(Path(app.instance_path), port)
    url = f"http://127.0.0.1:{port}"
    racers = [(EvaluatorClient(url, timeout=30), contested) for _ in range(16)]
    racers += [(EvaluatorClient(url, timeout=30), token) for token in own]
    marks = form([MIXED] * CANDIDATES)
    start = threading.Barrier(len(racers))
    answers: dict[int, tuple[str, int, str]] = {}

    def race(n: int, phone: EvaluatorClient, token: str) -> None:
        assert phone.open(token).status_code == 200
        start.wait(timeout=30)
        response = phone.send(token, marks)
        answers[n] = (token, response.status_code, response.text)

    try:
        threads = [
            threading.Thread(target=race, args=(n, phone, token))
            for n, (phone, token) in enumerate(racers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(answers) == len(racers)
        on_contested = [
            (status, text) for token, status, text in answers.values() if token == contested
        ]
        accepted = [text for status, text in on_contested if status == 200]
        assert len(accepted) == 1 and 'id="ballot-done"' in accepted[0]
        assert all(s == 409 and "已经投过" in t for s, t in on_contested if s != 200)
        assert all(s == 200 for token, s, _t in answers.values() if token != contested)
    finally:
        for phone, _token in racers:
            phone.close()
        server.kill()
        server.wait(timeout=10)
    check = sqlite3.connect(app.config["DATABASE"])
    try:
        assert check.execute("SELECT COUNT(*) FROM cast_ballot").fetchone()[0] == 7
        assert check.execute("SELECT SUM(spent) FROM ballot_token").fetchone()[0] == 7
        casts = check.execute("SELECT COUNT(*) FROM log_leaf WHERE type = 'ballot_cast'")
        assert casts.fetchone()[0] == 7
    finally:
        check.close()


def test_an_evaluation_closed_with_no_ballot_publishes_no_score_and_verifies(
    polls: Polls, app: Flask, event: Event
) -> None:
    from kiosk_server.export import export_bundle
    from seal.verify import verify_bundle

    polls.configure(DEFAULT)
    polls.open()
    polls.close()
    result = polls.seen()[-1]["result"]
    assert result["ballots"] == 0
    assert all((c["valid"], c["invalid"], c["score"]) == (0, 0, None) for c in result["candidates"])
    assert polls.act("evaluation_close")["error"]["code"] == "evaluation_closed"
    assert polls.act("evaluation_open")["error"]["code"] == "evaluation_closed"  # final
    assert verify_bundle(export_bundle(store(app), event.id)) == []
