"""Per-rater analysis for the monitors, from rounds as ``panel_result`` publishes them."""

from __future__ import annotations

from decimal import Decimal as D

from ballot.raters import (
    PanelRound,
    RaterFlag,
    RaterThresholds,
    analysis_rows,
    panel_round,
    rater_analysis,
)
from ballot.scoring import panel_result

RATERS = {1: "甲", 2: "乙", 3: "丙", 4: "丁", 5: "戊"}


def scored(*totals: str | None) -> list[tuple[int, str, D | None]]:
    return [
        (seat, "recused" if t is None else "scored", None if t is None else D(t))
        for seat, t in enumerate(totals, start=1)
    ]


def rounds() -> list[PanelRound]:
    # round 1: 95 and 70 dropped, (80 + 85 + 90) / 3 = 85.00
    # round 2: 96 and 72 dropped, (78 + 84 + 86) / 3 = 82.666... -> 82.67
    # round 3: seat 1 recused, four totals (below 5: all averaged), 327 / 4 = 81.75
    published = [
        panel_result(scored("80", "85", "90", "70", "95")),
        panel_result(scored("78", "84", "86", "72", "96")),
        panel_result(scored(None, "80", "82", "75", "90")),
    ]
    assert [p["mean"] for p in published] == ["85.00", "82.67", "81.75"]
    return [panel_round(f"r{n}", p, RATERS) for n, p in enumerate(published, start=1)]


def test_deviation_and_dropped_counts_per_rater() -> None:
    stats = {s.rater: s for s in rater_analysis(rounds())}
    # deviations: 甲 -5, -4.67 (recused once); 乙 0, 1.33, -1.75; 丙 5, 3.33, 0.25;
    # 丁 -15, -10.67, -6.75; 戊 10, 13.33, 8.25
    figures = {
        r: (s.rounds, s.unscored, s.mean_deviation, s.mean_abs_deviation) for r, s in stats.items()
    }
    assert figures == {
        "甲": (2, 1, D("-4.84"), D("4.84")),  # -4.835, half away from zero
        "乙": (3, 0, D("-0.14"), D("1.03")),  # -0.42 / 3; 3.08 / 3 = 1.0266...
        "丙": (3, 0, D("2.86"), D("2.86")),  # 8.58 / 3
        "丁": (3, 0, D("-10.81"), D("10.81")),  # -32.42 / 3 = -10.8066...
        "戊": (3, 0, D("10.53"), D("10.53")),  # 31.58 / 3 = 10.5266...
    }
    assert [(stats[r].dropped_high, stats[r].dropped_low) for r in "甲乙丙丁戊"] == [
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 2),
        (2, 0),
    ]


def test_raters_beyond_the_thresholds_are_flagged() -> None:
    flags = {s.rater: s.flags for s in rater_analysis(rounds())}
    assert flags == {
        "甲": (),
        "乙": (),
        "丙": (),
        "丁": (RaterFlag.SEVERE, RaterFlag.OFTEN_LOW),  # dropped low in 2 of 3 rounds
        "戊": (RaterFlag.LENIENT, RaterFlag.OFTEN_HIGH),
    }
    strict = RaterThresholds(max_mean_deviation=D(3), min_rounds=4)
    flags = {s.rater: s.flags for s in rater_analysis(rounds(), strict)}
    assert flags["甲"] == (RaterFlag.SEVERE,)  # -4.84 beyond 3
    assert flags["丙"] == ()  # 2.86 within 3
    assert flags["戊"] == (RaterFlag.LENIENT,)  # three rounds: too few to judge drops


def test_the_export_rows_keep_negative_deviations_as_numbers() -> None:
    headers, rows = analysis_rows(rater_analysis(rounds()))
    assert headers[3] == "平均偏差"
    # by rater name in code-point order: 丁 丙 乙 戊 甲
    assert rows[0] == ["丁", 3, 0, D("-10.81"), D("10.81"), 0, 2, "平均偏低、常被去掉最低分"]
    _, rows = analysis_rows(rater_analysis(rounds()), "en")
    assert rows[3][-1] == "lenient; often dropped as highest"
