"""The interview-score rule and sheet validation, with figures worked by hand."""

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ballot.scoring import (
    RubricItem,
    SheetError,
    interview_score,
    sheet_total,
    validate_sheet,
)
from kiosk_server.interview import rubric_hash
from seal.record import rubric_version


def totals(*values: str) -> list[D]:
    return [D(v) for v in values]


def test_drops_one_highest_and_one_lowest_with_five_raters() -> None:
    score = interview_score(totals("80", "85", "90", "70", "95"))
    assert (score.high_value, score.low_value) == (D("95"), D("70"))
    assert score.counted == 3
    assert score.mean == D("85.00")  # (80 + 85 + 90) / 3


def test_shared_highest_drops_only_one_instance() -> None:
    score = interview_score(totals("90", "90", "80", "85", "70"))
    assert score.dropped_high == 0  # the first seat holding 90
    assert score.dropped_low == 4
    assert score.mean == D("85.00")  # (90 + 80 + 85) / 3


def test_shared_lowest_drops_only_one_instance() -> None:
    score = interview_score(totals("70", "88", "70", "80", "90"))
    assert score.dropped_low == 0 and score.dropped_high == 4
    assert score.mean == D("79.33")  # (88 + 70 + 80) / 3 = 79.333…


def test_all_equal_drops_two_different_seats() -> None:
    score = interview_score(totals("80", "80", "80", "80", "80"))
    assert {score.dropped_high, score.dropped_low} == {0, 1}
    assert score.mean == D("80.00")


def test_fewer_than_threshold_averages_all() -> None:
    score = interview_score(totals("80", "85", "90", "70"))
    assert score.dropped_high is None and score.dropped_low is None
    assert score.counted == 4
    assert score.mean == D("81.25")


def test_threshold_is_configurable() -> None:
    score = interview_score(totals("80", "85", "90", "70"), threshold=4)
    assert score.counted == 2
    assert score.mean == D("82.50")


def test_no_totals_gives_no_score() -> None:
    assert interview_score([]).mean is None


def test_half_up_at_xx5() -> None:
    # 80.5 + 80 + 80 + 80 = 320.5 / 4 = 80.125 -> 80.13 (half-up), not 80.12 (banker's)
    score = interview_score(totals("80.5", "80", "80", "80"))
    assert score.mean == D("80.13")
    # with the drop rule: 90 and 70 dropped, (80 + 80.5 + 80 + 80) / 4 = 80.125 -> 80.13
    score = interview_score(totals("80", "80.5", "90", "80", "80", "70"))
    assert score.mean == D("80.13")


def test_rounded_once_at_the_end_not_twice() -> None:
    # 13 raters; 99 and 10 dropped; eleven counted sum to 885: 885 / 11 = 80.4545…
    # Rounded once: 80.45. Rounded to 3 places first (80.455), then to 2: 80.46 (wrong).
    score = interview_score(totals(*(["80.5"] * 10), "80", "99", "10"))
    assert score.counted == 11
    assert score.mean == D("80.45")


def test_recused_seats_are_simply_not_in_the_totals() -> None:
    # Seven seats, two recused: five counted totals, so the drop rule applies.
    score = interview_score(totals("80", "82", "84", "86", "88"))
    assert score.counted == 3 and score.mean == D("84.00")


RUBRIC = [
    RubricItem("a", "甲", "A", D("40"), D("0.5")),
    RubricItem("b", "乙", "B", D("30"), D("1")),
]


def test_valid_sheet_total_is_exact() -> None:
    values = validate_sheet(RUBRIC, {"a": "37.5", "b": 29})
    assert sheet_total(values) == D("66.5")


@pytest.mark.parametrize(
    ("values", "code", "item"),
    [
        ({"a": "41", "b": "1"}, "out_of_range", "a"),
        ({"a": "-0.5", "b": "1"}, "out_of_range", "a"),
        ({"a": "37.3", "b": "1"}, "wrong_step", "a"),
        ({"a": "37.5", "b": "1.5"}, "wrong_step", "b"),
        ({"a": "abc", "b": "1"}, "not_a_number", "a"),
        ({"a": "NaN", "b": "1"}, "not_a_number", "a"),
        ({"a": "Infinity", "b": "1"}, "not_a_number", "a"),
        ({"a": True, "b": "1"}, "not_a_number", "a"),
        ({"a": None, "b": "1"}, "not_a_number", "a"),
        ({"a": [1], "b": "1"}, "not_a_number", "a"),
        ({"a": "1e400", "b": "1"}, "out_of_range", "a"),
        ({"a": "1"}, "missing_item", "b"),
        ({"a": "1", "b": "1", "c": "1"}, "unknown_item", "c"),
    ],
)
def test_bad_sheets_are_refused_naming_the_item(values: dict, code: str, item: str) -> None:
    with pytest.raises(SheetError) as caught:
        validate_sheet(RUBRIC, values)
    assert (caught.value.code, caught.value.item) == (code, item)


def test_a_sheet_must_be_a_mapping() -> None:
    with pytest.raises(SheetError) as caught:
        validate_sheet(RUBRIC, ["37.5", "29"])
    assert caught.value.code == "malformed"


@given(st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=15))
def test_score_lies_between_min_and_max_and_counts_right(halves: list[int]) -> None:
    values = [D(h) / 2 for h in halves]
    score = interview_score(values)
    assert score.mean is not None
    assert min(values) <= score.mean <= max(values)
    assert score.counted == (len(values) - 2 if len(values) >= 5 else len(values))


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["appearance", "logic", "expression", "fit"]),
            st.decimals(min_value=1, max_value=100, places=1),
            st.sampled_from([D("0.5"), D("0.50"), D("1"), D("1.0")]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_the_remembered_rubric_hash_is_the_rubric_version(
    rows: list[tuple[str, D, D]],
) -> None:
    """Every view names the rubric's hash, so it is remembered; the hash reads the decimals
    as written ("10" and "10.0" are equal Decimals but not the same rubric text)."""
    items = [RubricItem(code, code, code, top, step) for code, top, step in rows]
    expected = rubric_version([{"code": i.code, "max": i.max, "step": i.step} for i in items])
    assert rubric_hash(items) == rubric_hash(list(items)) == expected
    respelled = [RubricItem(i.code, "", "", i.max, i.step.quantize(D("0.001"))) for i in items]
    assert rubric_hash(respelled) != expected
