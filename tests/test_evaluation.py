"""Democratic evaluation tally, against figures worked out by hand."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from ballot.evaluation import (
    Ballot,
    EvaluationError,
    Scheme,
    ballot_from_rows,
    ballot_points,
    check_rows,
    complete,
    published,
    scheme_from_json,
    scheme_to_json,
    tally,
)

ALL_EXCELLENT = {d: "优秀" for d in "德能勤绩廉"}
ALL_COMPETENT = {d: "称职" for d in "德能勤绩廉"}
MIXED = {"德": "优秀", "能": "称职", "勤": "基本称职", "绩": "称职", "廉": "不称职"}
EXCELLENT_ROW = ["优秀"] * 5  # 100 points
COMPETENT_ROW = ["称职"] * 5  # 80
MIXED_ROW = list(MIXED.values())  # 20 + 16 + 12 + 16 + 0 = 64


def test_points_per_ballot() -> None:
    scheme = Scheme()
    assert ballot_points(scheme, ALL_EXCELLENT) == D(100)
    assert ballot_points(scheme, ALL_COMPETENT) == D(80)
    assert ballot_points(scheme, MIXED) == D(20 + 16 + 12 + 16 + 0)  # 64
    assert ballot_points(scheme, {**MIXED, "廉": ""}) is None
    assert ballot_points(scheme, {k: v for k, v in MIXED.items() if k != "勤"}) is None
    assert ballot_points(scheme, {**MIXED, "德": "很好"}) is None
    assert ballot_points(scheme, None) is None


def test_plain_mean_with_an_invalid_ballot_counted_apart() -> None:
    ballots = [
        Ballot("机关干部", {"王": ALL_EXCELLENT, "李": MIXED}),
        Ballot("机关干部", {"王": ALL_COMPETENT, "李": {**MIXED, "廉": None}}),
        Ballot("服务对象", {"王": MIXED, "李": ALL_COMPETENT}),
    ]
    wang, li = tally(Scheme(), ["王", "李"], ballots)
    # 王: (100 + 80 + 64) / 3 = 81.333… -> 81.33; x 40/100 = 32.5333… -> 32.53
    assert (wang.valid, wang.invalid, wang.score, wang.weighted) == (3, 0, D("81.33"), D("32.53"))
    # 李: the second ballot misses 廉 for 李: invalid for 李 only; (64 + 80) / 2 = 72.00
    assert (li.valid, li.invalid, li.score, li.weighted) == (2, 1, D("72.00"), D("28.80"))


def test_group_weights_weigh_group_means() -> None:
    scheme = Scheme(group_weights={"机关干部": D(60), "服务对象": D(40)})
    ballots = [
        Ballot("机关干部", {"王": ALL_EXCELLENT}),
        Ballot("机关干部", {"王": MIXED}),  # group mean (100 + 64) / 2 = 82
        Ballot("服务对象", {"王": ALL_COMPETENT}),  # group mean 80
    ]
    (wang,) = tally(scheme, ["王"], ballots)
    # (60 x 82 + 40 x 80) / 100 = 81.2; x 0.4 = 32.48
    assert wang.group_means == {"机关干部": D(82), "服务对象": D(80)}
    assert (wang.score, wang.weighted) == (D("81.20"), D("32.48"))


def test_a_group_without_valid_ballots_is_left_out_not_counted_as_zero() -> None:
    scheme = Scheme(group_weights={"机关干部": D(60), "服务对象": D(40)})
    ballots = [Ballot("机关干部", {"王": MIXED}), Ballot("服务对象", {"王": {}})]
    (wang,) = tally(scheme, ["王"], ballots)
    assert (wang.valid, wang.invalid, wang.score) == (1, 1, D("64.00"))


def test_half_up_once_and_no_valid_ballot() -> None:
    # 1 x 100 + 7 x 80 = 660 / 8 = 82.5 exactly; weighted 82.5 x 40 / 100 = 33.00
    ballots = [Ballot("g", {"王": ALL_EXCELLENT})] + [Ballot("g", {"王": ALL_COMPETENT})] * 7
    (wang,) = tally(Scheme(), ["王"], ballots)
    assert (wang.score, wang.weighted) == (D("82.50"), D("33.00"))
    # a custom scale: 3 dimensions x 10 points, grades 1 / 0.75 / 0.5 / 0; stage weight 35
    scheme = Scheme(
        dimensions=("德", "能", "绩"),
        points=D(10),
        grades={"优秀": D(1), "称职": D("0.75"), "基本称职": D("0.5"), "不称职": D(0)},
        stage_weight=D(35),
    )
    marks = {"德": "优秀", "能": "称职", "绩": "基本称职"}  # 10 + 7.5 + 5 = 22.5 of 30
    (zhang,) = tally(scheme, ["张"], [Ballot("g", {"张": marks})])
    assert (zhang.score, zhang.weighted) == (D("22.50"), D("26.25"))  # 22.5 x 35 / 30
    (nobody,) = tally(Scheme(), ["赵"], [Ballot("g", {"王": ALL_EXCELLENT})])
    assert (nobody.valid, nobody.invalid, nobody.score) == (0, 1, None)


def test_the_ballot_validity_rule_voids_a_whole_ballot_with_any_gap() -> None:
    ballots = [
        Ballot("g", {"王": ALL_EXCELLENT, "李": ALL_EXCELLENT}),
        Ballot("g", {"王": ALL_COMPETENT, "李": {**MIXED, "廉": None}}),  # a gap for 李
    ]
    wang, li = tally(Scheme(), ["王", "李"], ballots)
    # per candidate (the default): the gap voids the second ballot for 李 only
    assert (wang.valid, wang.invalid, wang.score) == (2, 0, D("90.00"))
    assert (li.valid, li.invalid, li.score) == (1, 1, D("100.00"))
    wang, li = tally(Scheme(validity="ballot"), ["王", "李"], ballots)
    # whole ballot: the second ballot counts for nobody, 王's 80 included
    assert (wang.valid, wang.invalid, wang.score) == (1, 1, D("100.00"))
    assert (li.valid, li.invalid, li.score) == (1, 1, D("100.00"))


def test_a_scheme_survives_its_logged_form_and_nonsense_is_refused() -> None:
    scheme = Scheme(group_weights={"机关干部": D(60), "服务对象": D("40.5")}, validity="ballot")
    logged = scheme_to_json(scheme)
    assert all(k.isascii() for k in logged)  # canonical JSON keeps object keys ASCII
    assert scheme_from_json(logged) == scheme
    assert scheme_from_json(scheme_to_json(Scheme())) == Scheme()
    for change, field in [
        ({"dimensions": []}, "dimensions"),
        ({"dimensions": ["德", "德"]}, "dimensions"),
        ({"points": "0"}, "points"),
        ({"points": "300"}, "points"),  # 5 x 300 = 1500 full marks: over 1000
        ({"points": 20.5}, "points"),  # a float is never a decimal here
        ({"grades": [{"name": "优秀", "share": "1.2"}, {"name": "差", "share": "0"}]}, "grades"),
        ({"grades": [{"name": "优秀", "share": "1"}]}, "grades"),
        ({"validity": "lenient"}, "validity"),
        ({"stage_weight": "0"}, "stage_weight"),
    ]:
        with pytest.raises(EvaluationError) as refused:
            scheme_from_json({**logged, **change})
        assert refused.value.field == field, change
    with pytest.raises(EvaluationError):
        scheme_from_json({**logged, "group_weights": [{"group": "机关干部", "weight": "-1"}]})
    with pytest.raises(EvaluationError):
        scheme_from_json({"dimensions": ["德"]})


def test_marks_rows_allow_gaps_and_refuse_anything_else() -> None:
    scheme = Scheme()
    full = ["优秀", "称职", "基本称职", "不称职", "优秀"]
    rows = check_rows(scheme, ["R1", "R2"], [full, [None, None, "称职", None, None]])
    ballot = ballot_from_rows(scheme, ["R1", "R2"], "g", rows)
    assert ballot.marks == {"R1": dict(zip("德能勤绩廉", full, strict=True)), "R2": {"勤": "称职"}}
    assert complete(rows) == [True, False]
    for bad, field in [
        ([full], "marks"),  # one row for two candidates
        ({"R1": full, "R2": full}, "marks"),
        ([full, full[:4]], "R2"),  # a dimension missing from the row itself
        ([full, [*full[:4], "很好"]], "R2"),  # not a grade of the scheme
        ([full, [*full[:4], 1]], "R2"),
    ]:
        with pytest.raises(EvaluationError) as refused:
            check_rows(scheme, ["R1", "R2"], bad)
        assert refused.value.field == field


def test_the_published_result_by_hand() -> None:
    """Five ballots from three groups, weights 50 / 30 / 20, two gaps.

    R1: 机关干部 100 and 64 (mean 82), 服务对象 80, 两代表一委员 none valid (a gap):
        group-weighted (50 x 82 + 30 x 80) / (50 + 30) = 6500 / 80 = 81.25;
        weighted 81.25 x 40 / 100 = 32.50. Valid 3; invalid 2: the gap and the blank.
    R2: 机关干部 80 and 80 (80), 服务对象 64, 两代表一委员 100:
        (50 x 80 + 30 x 64 + 20 x 100) / 100 = 79.20 -> 31.68. The blank ballot: invalid.
    """
    scheme = Scheme(group_weights={"机关干部": D(50), "服务对象": D(30), "两代表一委员": D(20)})
    gap = [*MIXED_ROW[:4], None]
    ballots = [
        ("机关干部", [EXCELLENT_ROW, COMPETENT_ROW]),
        ("机关干部", [MIXED_ROW, COMPETENT_ROW]),
        ("服务对象", [COMPETENT_ROW, MIXED_ROW]),
        ("两代表一委员", [gap, EXCELLENT_ROW]),
        ("两代表一委员", [[None] * 5, [None] * 5]),  # handed in blank
    ]
    groups = ["机关干部", "镇直部门负责人", "服务对象", "两代表一委员"]
    result = published(
        scheme,
        ["R1", "R2"],
        groups,
        [ballot_from_rows(scheme, ["R1", "R2"], g, rows) for g, rows in ballots],
    )
    assert result["ballots"] == 5
    assert result["cast"] == [
        {"group": "机关干部", "count": 2},
        {"group": "镇直部门负责人", "count": 0},
        {"group": "服务对象", "count": 1},
        {"group": "两代表一委员", "count": 2},
    ]
    r1, r2 = result["candidates"]
    assert r1 == {
        "candidate": "R1",
        "valid": 3,
        "invalid": 2,
        "groups": [
            {"group": "机关干部", "valid": 2, "mean": "82.00"},
            {"group": "服务对象", "valid": 1, "mean": "80.00"},
        ],
        "score": "81.25",
        "weighted": "32.50",
    }
    assert (r2["valid"], r2["invalid"], r2["score"], r2["weighted"]) == (4, 1, "79.20", "31.68")
    assert [g["mean"] for g in r2["groups"]] == ["80.00", "64.00", "100.00"]
