"""Written exam: mark validation, double entry by two clerks, and the advancement rule."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ballot.model import ABSENT, Candidate, Figure, MarkError, Post, StageRule, parse_figure
from ballot.written import (
    Entry,
    EntryState,
    Resolution,
    WrittenMark,
    advancement,
    enter,
    reconcile,
)

PAPER = StageRule(full_marks=D(100), step=D("0.5"), weight=D(30))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("85.5", D("85.5")),
        (" 100 ", D("100")),
        (0, D("0")),
        (D("72.0"), D("72.0")),
        ("缺考", ABSENT),
        (" Absent ", ABSENT),
    ],
)
def test_marks_are_read_as_decimals_or_absent(raw: object, expected: object) -> None:
    assert parse_figure(raw, PAPER) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("85.3", "wrong_step"),
        ("100.5", "out_of_range"),
        ("-0.5", "out_of_range"),
        ("abc", "not_a_number"),
        ("", "not_a_number"),
        ("NaN", "not_a_number"),
        (True, "not_a_number"),
        (None, "not_a_number"),
        (D("Infinity"), "not_a_number"),
        ("缺 考", "not_a_number"),
    ],
)
def test_bad_marks_are_refused_with_a_code(raw: object, code: str) -> None:
    with pytest.raises(MarkError) as caught:
        parse_figure(raw, PAPER)
    assert caught.value.code == code


def test_full_marks_and_step_are_configurable() -> None:
    paper = StageRule(full_marks=D(150), step=D(1), weight=D(30))
    assert parse_figure("150", paper) == D(150)
    with pytest.raises(MarkError, match="wrong_step"):
        parse_figure("149.5", paper)


def e(candidate: str, clerk: str, figure: object) -> Entry:
    return Entry(candidate, clerk, ABSENT if figure == "缺考" else D(str(figure)))


def test_two_clerks_agreeing_make_a_mark_count() -> None:
    result = reconcile(["R1"], [e("R1", "clerk-a", "85"), e("R1", "clerk-b", "85.0")], [], PAPER)
    (mark,) = result.marks
    assert mark.state is EntryState.MATCHED
    assert result.counted() == {"R1": D("85")}


def test_one_clerk_alone_never_makes_a_mark_count() -> None:
    entries = [e("R1", "clerk-a", "85"), e("R1", "clerk-a", "85")]
    result = reconcile(["R1"], entries, [], PAPER)
    assert result.marks[0].state is EntryState.AWAITING_SECOND
    assert result.counted() == {}
    assert [(r.code, r.by) for r in result.refused] == [("same_clerk", "clerk-a")]
    # and a resolution cannot rescue it: there is no mismatch to resolve
    resolution = Resolution("R1", "clerk-a", D("85"), "我确认")
    result = reconcile(["R1"], entries, [resolution], PAPER)
    assert result.counted() == {}


def test_the_write_path_refuses_the_same_clerk_twice() -> None:
    mark = enter(WrittenMark("R1"), e("R1", "clerk-a", "85"), PAPER)
    with pytest.raises(MarkError) as caught:
        enter(mark, e("R1", "clerk-a", "58"), PAPER)
    assert caught.value.code == "same_clerk"


def test_a_mismatch_counts_only_once_a_third_person_resolves_it() -> None:
    entries = [e("R2", "clerk-a", "78"), e("R2", "clerk-b", "87")]
    result = reconcile(["R2"], entries, [], PAPER)
    assert result.in_state(EntryState.MISMATCHED) == ("R2",)
    assert result.counted() == {}

    attempts = [
        Resolution("R2", "clerk-a", D("78"), "我录的对"),  # a clerk cannot decide
        Resolution("R2", "supervisor", D("78"), "  "),  # a reason is required
        Resolution("R2", "supervisor", D("80"), "原卷为 80"),  # neither entry
        Resolution("R2", "supervisor", D("78"), "核对原卷：第 3 题得 8 分，合计 78"),
    ]
    result = reconcile(["R2"], entries, attempts, PAPER)
    assert [r.code for r in result.refused] == ["decider_entered", "no_reason", "not_an_entry"]
    (mark,) = result.marks
    assert mark.state is EntryState.RESOLVED
    assert mark.resolution is not None and mark.resolution.decided_by == "supervisor"
    assert result.counted() == {"R2": D("78")}


def test_entries_beyond_two_and_resolutions_of_agreed_marks_are_refused() -> None:
    entries = [e("R3", "a", "90"), e("R3", "b", "90"), e("R3", "c", "60"), e("R9", "a", "1")]
    resolutions = [Resolution("R3", "d", D("90"), "确认")]
    result = reconcile(["R3"], entries, resolutions, PAPER)
    assert [(r.code, r.candidate) for r in result.refused] == [
        ("entered_twice", "R3"),
        ("unknown_candidate", "R9"),
        ("not_mismatched", "R3"),
    ]
    assert result.counted() == {"R3": D("90")}


def test_an_invalid_entry_is_refused_and_is_not_the_first_entry() -> None:
    entries = [e("R4", "a", "100.5"), e("R4", "b", "95"), e("R4", "c", "95")]
    result = reconcile(["R4"], entries, [], PAPER)
    assert [r.code for r in result.refused] == ["out_of_range"]
    assert result.counted() == {"R4": D("95")}


def test_absence_is_double_entered_like_a_mark() -> None:
    entries = [e("R5", "a", "缺考"), e("R5", "b", "缺考"), e("R6", "a", "缺考"), e("R6", "b", 0)]
    result = reconcile(["R5", "R6", "R7"], entries, [], PAPER)
    assert [m.state for m in result.marks] == [
        EntryState.MATCHED,
        EntryState.MISMATCHED,
        EntryState.MISSING,
    ]
    assert result.counted() == {"R5": ABSENT}


figures: st.SearchStrategy[Figure] = st.one_of(
    st.just(ABSENT), st.integers(0, 200).map(lambda n: D(n) / 2)
)


@given(st.lists(st.tuples(st.sampled_from(["R1", "R2"]), figures), max_size=12), st.data())
def test_no_sequence_of_one_clerks_entries_counts(
    typed: list[tuple[str, Figure]], data: st.DataObject
) -> None:
    entries = [Entry(c, "clerk-a", f) for c, f in typed]
    deciders = data.draw(st.lists(st.sampled_from(["clerk-a", "boss"]), max_size=3))
    resolutions = [Resolution("R1", d, D(50), "决定") for d in deciders]
    assert reconcile(["R1", "R2"], entries, resolutions, PAPER).counted() == {}


POSTS = [Post("P1", "党政办公室主任", 1), Post("P2", "财政所所长", 2)]
CANDIDATES = [
    Candidate("A", "甲", ("P1",)),
    Candidate("B", "乙", ("P1",)),
    Candidate("C", "丙", ("P1",)),
    Candidate("D", "丁", ("P1", "P2")),
    Candidate("E", "戊", ("P2",)),
    Candidate("F", "己", ("P2",)),
    Candidate("G", "庚", ("P2",)),
    Candidate("H", "辛", ("P2",)),
    Candidate("I", "壬", ("P2",)),
]
MARKS: dict[str, Figure] = {
    "A": D(90),
    "B": D(85),
    "C": D(85),
    "D": D(80),
    "E": D(70),
    "F": D(60),
    "G": ABSENT,
    "H": D(50),
    "I": D(40),
}


def test_advancement_takes_one_to_n_per_seat_with_ties_at_the_cut() -> None:
    # 1:2. P1 (1 seat, 2 places): 90 A, 85 B, 85 C (tied with the last place: in), 80 D.
    # P2 (2 seats, 4 places): 80 D, 70 E, 60 F, 50 H; 40 I out; G absent never advances.
    result = advancement(POSTS, CANDIDATES, MARKS, ratio=2)
    assert result.advanced == {"A", "B", "C", "D", "E", "F", "H"}
    assert result.pending == frozenset()
    p1, p2 = result.cuts
    assert (p1.places, p1.lowest, p1.advanced) == (2, D(85), ("A", "B", "C"))
    assert (p2.places, p2.lowest, p2.advanced) == (4, D(50), ("D", "E", "F", "H"))


def test_advancement_waits_for_every_counted_mark_of_a_post() -> None:
    marks = {k: v for k, v in MARKS.items() if k != "B"}
    result = advancement(POSTS, CANDIDATES, marks, ratio=2)
    assert not result.cuts[0].decided
    # D made P2's cut; A, B and C named only P1, whose cut waits for B's mark
    assert result.pending == {"A", "B", "C"}
    assert "D" in result.advanced
