"""A township's competition as the source describes it (seed/competitive-selection-
experience.txt): 百分制 with written 30, evaluation 40, interview 30; each candidate
names up to two posts; 25 posts filled by 26 people, so one post has two seats.

First a small event worked end to end by hand, through every pure step: double entry of
the written marks, evaluation ballots from the five groups, seven raters per interview
with the highest and lowest dropped, then results, the 公示 table and its export. Then
the source's own size: 43 applicants for 25 posts and 26 seats.
"""

from __future__ import annotations

import csv
import io
import json
import random
from decimal import Decimal as D

from ballot.allocation import Lot
from ballot.evaluation import DIMENSIONS, GROUPS, Ballot, Scheme, tally
from ballot.model import ABSENT, Candidate, CompositeRule, Figure, Post, Stage
from ballot.reasons import render
from ballot.results import compute_results, results_document, results_table
from ballot.scoring import panel_result
from ballot.written import Entry, EntryState, Resolution, reconcile
from kiosk_server.spreadsheet import Sheet, csv_bytes

POSTS = [
    Post("P01", "党政办公室主任", 1),
    Post("P02", "财政所所长", 1),
    Post("P03", "农业服务中心主任", 2),
    Post("P04", "综治中心主任", 1),
]
CANDIDATES = [
    Candidate("R01", "王伟", ("P01", "P02")),
    Candidate("R02", "李娜", ("P01", "P03")),
    Candidate("R03", "张敏", ("P02",)),
    Candidate("R04", "刘洋", ("P03", "P04")),
    Candidate("R05", "陈静", ("P03",)),
    Candidate("R06", "杨帆", ("P04", "P01")),
    Candidate("R07", "欧阳娜", ("P02", "P04")),
    Candidate("R08", "赵磊", ("P04",)),
]
IDS = [c.id for c in CANDIDATES]
WRITTEN = {
    "R01": "88",
    "R02": "92.5",
    "R03": "76",
    "R04": "81",
    "R05": "69.5",
    "R06": "84",
    "R07": "90",
    "R08": "72",
}
# One grade for all five dimensions on each group's ballot: 优 100, 称 80, 基 60 points.
GRADES = {"优": "优秀", "称": "称职", "基": "基本称职"}
BALLOTS = {  # one letter per group, in GROUPS order
    "R01": "优优称优称",  # 460 / 5 = 92.00
    "R02": "优优优优优",  # 100.00
    "R03": "称称称优基",  # 400 / 5 = 80.00
    "R04": "优称优称优",  # 92.00
    "R05": "称称称称称",  # 80.00
    "R06": "优优优优称",  # 480 / 5 = 96.00
    "R07": "称优称称优",  # 440 / 5 = 88.00
    "R08": "称基称称基",  # 360 / 5 = 72.00
}
# Seven raters' totals in seat order; None: recused (回避).
INTERVIEW: dict[str, list[str | None]] = {
    "R01": ["85", "88", "90", "86", "92", "79", "87"],  # -92 -79: 436 / 5 = 87.20
    "R02": ["90", "91", "89", "93", "88", "95", "85"],  # -95 -85: 451 / 5 = 90.20
    "R03": ["80", "82", "78", "84", "81", "86", "75"],  # -86 -75: 405 / 5 = 81.00
    "R04": ["83", "85", "84", "88", "86", "90", "80"],  # -90 -80: 426 / 5 = 85.20
    # seat 7 recused; six totals, -83 -77: 318.5 / 4 = 79.625 -> 79.63 (half-up)
    "R05": ["78.5", "80", "79", "81", "77", "83", None],
    "R06": ["86", "87", "85", "88", "84", "91", "82"],  # -91 -82: 430 / 5 = 86.00
    "R07": ["84", "86", "85", "83", "87", "89", "81"],  # -89 -81: 425 / 5 = 85.00
}  # R08 is absent (缺考) from the interview


def written_marks() -> dict[str, Figure]:
    entries = [Entry(c, "录入员甲", D(m)) for c, m in WRITTEN.items()]
    # the second clerk mistypes R04's 81 as 18; the checker decides from the paper
    entries += [Entry(c, "录入员乙", D("18" if c == "R04" else m)) for c, m in WRITTEN.items()]
    before = reconcile(IDS, entries, [], CompositeRule()[Stage.WRITTEN])
    assert before.in_state(EntryState.MISMATCHED) == ("R04",)
    assert "R04" not in before.counted()
    resolution = Resolution("R04", "复核员丙", D(81), "核对原卷：录入员乙数字颠倒")
    after = reconcile(IDS, entries, [resolution], CompositeRule()[Stage.WRITTEN])
    assert after.refused == ()
    return after.counted()


def evaluation_scores() -> dict[str, D]:
    ballots = [
        Ballot(
            group,
            {c: {d: GRADES[letters[n]] for d in DIMENSIONS} for c, letters in BALLOTS.items()},
        )
        for n, group in enumerate(GROUPS)
    ]
    return {t.candidate: t.score for t in tally(Scheme(), IDS, ballots) if t.score is not None}


def interview_means() -> dict[str, D]:
    means = {}
    for candidate, totals in INTERVIEW.items():
        seats = [
            (n, "recused" if t is None else "scored", None if t is None else D(t))
            for n, t in enumerate(totals, start=1)
        ]
        means[candidate] = D(str(panel_result(seats)["mean"]))
    return means


def figures() -> dict[str, dict[Stage, Figure]]:
    written, evaluation, interview = written_marks(), evaluation_scores(), interview_means()
    out: dict[str, dict[Stage, Figure]] = {}
    for c in IDS:
        out[c] = {
            Stage.WRITTEN: written[c],
            Stage.EVALUATION: evaluation[c],
            Stage.INTERVIEW: interview.get(c, ABSENT),
        }
    return out


def test_the_stages_give_the_figures_worked_by_hand() -> None:
    got = figures()
    assert {c: got[c][Stage.EVALUATION] for c in IDS} == {
        "R01": D("92.00"),
        "R02": D("100.00"),
        "R03": D("80.00"),
        "R04": D("92.00"),
        "R05": D("80.00"),
        "R06": D("96.00"),
        "R07": D("88.00"),
        "R08": D("72.00"),
    }
    assert {c: got[c][Stage.INTERVIEW] for c in IDS} == {
        "R01": D("87.20"),
        "R02": D("90.20"),
        "R03": D("81.00"),
        "R04": D("85.20"),
        "R05": D("79.63"),
        "R06": D("86.00"),
        "R07": D("85.00"),
        "R08": ABSENT,
    }
    assert got["R04"][Stage.WRITTEN] == D(81)


def test_the_small_event_ranks_and_allocates_as_worked_by_hand() -> None:
    results = compute_results(POSTS, CANDIDATES, figures())
    # written x 0.3 + evaluation x 0.4 + interview x 0.3, each rounded, then added:
    expected = [
        ("R02", D("27.75"), D("40.00"), D("27.06"), D("94.81"), "P01"),
        ("R06", D("25.20"), D("38.40"), D("25.80"), D("89.40"), "P04"),
        ("R01", D("26.40"), D("36.80"), D("26.16"), D("89.36"), "P02"),
        ("R07", D("27.00"), D("35.20"), D("25.50"), D("87.70"), None),
        ("R04", D("24.30"), D("36.80"), D("25.56"), D("86.66"), "P03"),
        ("R03", D("22.80"), D("32.00"), D("24.30"), D("79.10"), None),
        # 69.5 x 0.3 = 20.85; 79.63 x 0.3 = 23.889 -> 23.89
        ("R05", D("20.85"), D("32.00"), D("23.89"), D("76.74"), "P03"),
    ]
    ranked = [
        (r.candidate.id, *(s.score for s in r.scores.stages), r.scores.composite, r.post)
        for r in results.candidates
        if r.place is not None
    ]
    assert ranked == expected
    assert [r.place.rank for r in results.candidates if r.place] == [1, 2, 3, 4, 5, 6, 7]
    assert results.of("R08").place is None and results.of("R08").scores.composite is None
    assert results.final
    assert {p.post.code: p.appointed for p in results.posts} == {
        "P01": ("R02",),
        "P02": ("R01",),
        "P03": ("R04", "R05"),
        "P04": ("R06",),
    }
    reasons = {r.candidate.id: [render(x) for x in r.reasons] for r in results.candidates}
    assert reasons == {
        "R02": [
            "第一志愿岗位拟任：排名第 1，岗位 1 个职数",
            "第二志愿不再考虑：已拟任第一志愿岗位",
        ],
        "R06": [
            "第一志愿岗位拟任：排名第 1，岗位 1 个职数",
            "第二志愿不再考虑：已拟任第一志愿岗位",
        ],
        "R01": [
            "第一志愿岗位已满：排名第 3，岗位 1 个职数",
            "第二志愿岗位拟任：排名第 1，岗位 1 个职数",
        ],
        "R07": [
            "第一志愿岗位已满：排名第 2，岗位 1 个职数",
            "第二志愿岗位已满：排名第 2，岗位 1 个职数",
        ],
        "R04": [
            "第一志愿岗位拟任：排名第 2，岗位 2 个职数",
            "第二志愿不再考虑：已拟任第一志愿岗位",
        ],
        "R03": ["第一志愿岗位已满：排名第 3，岗位 1 个职数"],
        # third on P03, but the first (R02) took her first preference: a seat is left
        "R05": ["第一志愿岗位拟任：排名第 3，岗位 2 个职数"],
        "R08": ["面试缺考，不参加排名"],
    }


def test_the_published_table_and_its_export() -> None:
    results = compute_results(POSTS, CANDIDATES, figures())
    headers, rows = results_table(results, "zh", mask=True)
    p04 = [row for row in rows if row[0] == "P04"]
    # P04: R06 first, R07 second, R04 third, then R08 unranked (absent)
    assert [(row[3], row[5], row[6], row[14]) for row in p04] == [
        (1, "R06", "杨某", "拟任"),
        (2, "R07", "欧阳某", ""),
        (3, "R04", "刘某", ""),
        (None, "R08", "赵某", ""),
    ]
    assert p04[3][11:14] == ["缺考", None, None]
    data = csv_bytes(Sheet("公示", headers, rows))
    read = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert read[0][:7] == ["岗位代码", "岗位名称", "职数", "岗位排名", "志愿", "报名号", "姓名"]
    first = read[1]  # P01, R02
    assert first[5:14] == [
        "R02",
        "李某",
        "92.5",
        "27.75",
        "100.00",
        "40.00",
        "90.20",
        "27.06",
        "94.81",
    ]
    document = results_document(results)
    assert json.loads(json.dumps(document, ensure_ascii=False)) == document


def test_the_source_size_25_posts_26_seats_43_applicants() -> None:
    # One post has two seats (25 posts, 26 people appointed); random marks, and a lot
    # over everyone breaks any tie.
    rng = random.Random(2023)
    posts = [Post(f"P{n:02}", f"岗位{n}", 2 if n == 7 else 1) for n in range(1, 26)]
    codes = [p.code for p in posts]
    candidates, marks = [], {}
    for n in range(1, 44):
        first = codes[n - 1] if n <= 25 else "P07" if n == 26 else rng.choice(codes)
        second = rng.choice([c for c in codes if c != first])
        prefs = (first,) if n % 5 == 0 else (first, second)
        candidates.append(Candidate(f"R{n:02}", f"竞岗者{n}", prefs))
        marks[f"R{n:02}"] = {
            Stage.WRITTEN: D(rng.randint(120, 196)) / 2,
            Stage.EVALUATION: D(rng.randint(6000, 9900)) / 100,
            Stage.INTERVIEW: D(rng.randint(6000, 9500)) / 100,
        }
    results = compute_results(posts, candidates, marks, lots=[Lot(tuple(sorted(marks)))])
    appointed = [c for p in results.posts for c in p.appointed]
    assert results.final
    # every post is the first preference of at least as many candidates as it has seats
    # (P07 of R07 and R26): each of them either takes it or finds it full, so all fill
    assert len(appointed) == 26 == len(set(appointed))
    assert sum(1 for r in results.candidates if r.post is None) == 43 - 26
