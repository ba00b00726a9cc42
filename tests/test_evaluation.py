"""Democratic evaluation tally, against figures worked out by hand."""

from __future__ import annotations

from decimal import Decimal as D

from ballot.evaluation import Ballot, Scheme, ballot_points, tally

ALL_EXCELLENT = {d: "优秀" for d in "德能勤绩廉"}
ALL_COMPETENT = {d: "称职" for d in "德能勤绩廉"}
MIXED = {"德": "优秀", "能": "称职", "勤": "基本称职", "绩": "称职", "廉": "不称职"}


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
