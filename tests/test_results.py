"""Composite, ranking, tie-break chain, allocation, reasons and corrections, worked by hand.

Default rules throughout: written 30, evaluation 40, interview 30, every stage out of 100.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballot.allocation import AllocationError, Lot, TieBreak, draw_lot
from ballot.composite import Correction, CorrectionState, Standing, stage_score
from ballot.model import (
    ABSENT,
    Candidate,
    CompositeRule,
    Figure,
    MarkError,
    Post,
    Stage,
    StageRule,
)
from ballot.reasons import Reason, ReasonCode, render
from ballot.results import (
    FlagCode,
    ResultRules,
    Results,
    Thresholds,
    compute_results,
    results_document,
    results_table,
)

W, E, IV = Stage.WRITTEN, Stage.EVALUATION, Stage.INTERVIEW


def marks(written: str | None, evaluation: str | None, interview: str | None) -> dict:
    """A candidate's figures; ``None`` leaves the stage missing, ``缺考`` is absent."""
    out: dict[Stage, Figure] = {}
    for stage, raw in ((W, written), (E, evaluation), (IV, interview)):
        if raw is not None:
            out[stage] = ABSENT if raw == "缺考" else D(raw)
    return out


def texts(results: Results, candidate: str, lang: str = "zh") -> list[str]:
    return [render(r, lang) for r in results.of(candidate).reasons]


# --- stage scores and the composite --------------------------------------------------


def test_stage_scores_round_half_up_at_xx5_and_the_composite_adds_what_was_announced() -> None:
    posts = [Post("P1", "党政办公室主任", 1)]
    results = compute_results(
        posts, [Candidate("R1", "王伟", ("P1",))], {"R1": marks("85.5", "81.34", "85.15")}
    )
    scores = results.of("R1").scores
    # written 85.5 x 30 / 100 = 25.65; evaluation 81.34 x 40 / 100 = 32.536 -> 32.54;
    # interview 85.15 x 30 / 100 = 25.545 -> 25.55 (half-up; half-even would give 25.54)
    assert [s.score for s in scores.stages] == [D("25.65"), D("32.54"), D("25.55")]
    # 25.65 + 32.54 + 25.55 = 83.74 (from the unrounded 83.731 it would have been 83.73)
    assert scores.composite == D("83.74")
    assert scores.standing is Standing.COMPLETE


def test_a_stage_just_below_half_rounds_down() -> None:
    rule = CompositeRule()
    assert stage_score(D("85.14"), rule[IV]) == D("25.54")  # 25.542
    assert stage_score(D("85.16"), rule[IV]) == D("25.55")  # 25.548


def test_weights_and_full_marks_are_configurable_and_must_sum_to_100() -> None:
    rule = CompositeRule(
        {
            W: StageRule(full_marks=D(150), step=D(1), weight=D(20)),
            E: StageRule(full_marks=D(30), weight=D(50)),
            IV: StageRule(weight=D(30)),
        }
    )
    assert stage_score(D(137), rule[W]) == D("18.27")  # 137 x 20 / 150 = 18.2666...
    assert stage_score(D("22.5"), rule[E]) == D("37.50")  # 22.5 x 50 / 30
    with pytest.raises(MarkError, match="weights sum to 90"):
        CompositeRule({W: StageRule(weight=D(20)), E: StageRule(weight=D(40)), IV: StageRule()})


def test_a_missing_stage_is_never_zero_and_absence_is_not_missing() -> None:
    posts = [Post("P1", "党政办公室主任", 1)]
    candidates = [
        Candidate("R1", "王伟", ("P1",)),
        Candidate("R2", "李娜", ("P1",)),
        Candidate("R3", "张敏", ("P1",)),
    ]
    figures = {
        "R1": marks("60", "60", "60"),  # complete: 60.00, the only one ranked
        "R2": marks("95", "95", None),  # interview not recorded yet
        "R3": marks("95", "95", "缺考"),
    }
    results = compute_results(posts, candidates, figures)
    r2, r3 = results.of("R2"), results.of("R3")
    assert (r2.scores.standing, r2.scores.composite, r2.place) == (Standing.INCOMPLETE, None, None)
    assert r2.scores.stage(IV).score is None and r2.scores.stage(W).score == D("28.50")
    assert (r3.scores.standing, r3.scores.composite, r3.place) == (Standing.ABSENT, None, None)
    assert texts(results, "R2") == ["面试成绩尚未录入，暂不排名"]
    assert texts(results, "R3") == ["面试缺考，不参加排名"]
    assert texts(results, "R3", "en") == ["Absent from the interview; not ranked"]
    assert results.of("R1").post == "P1"
    # the missing figure makes the results provisional; the absence does not
    assert [(f.code, f.candidates) for f in results.flags] == [(FlagCode.INCOMPLETE, ("R2",))]
    assert not results.final


# --- the tie-break chain -------------------------------------------------------------

# Six candidates with the same composite, 80.00, each separated at a different step:
#   C  W 70  E 80     I 90   21 + 32 + 27       interview 90 is highest
#   D  W 85  E 76.25  I 80   25.5 + 30.5 + 24   interview 80, written 85
#   X  W 80  E 80.01  I 80   24 + 32.00 + 24    32.004 rounds to 32.00; evaluation 80.01
#   A  W 80  E 80     I 80   24 + 32 + 24       }
#   F  W 80  E 80     I 80   24 + 32 + 24       } equal on everything: only a lot
#   B  W 90  E 80     I 70   27 + 32 + 21       interview 70 is lowest
TIED = {
    "A": marks("80", "80", "80"),
    "B": marks("90", "80", "70"),
    "C": marks("70", "80", "90"),
    "D": marks("85", "76.25", "80"),
    "X": marks("80", "80.01", "80"),
    "F": marks("80", "80", "80"),
}
SIX = [Candidate(c, c, ("P1",)) for c in "ABCDXF"]
ONE_POST_SIX_SEATS = [Post("P1", "综治中心主任", 6)]


def test_every_step_of_the_chain_breaks_a_tie_in_turn() -> None:
    results = compute_results(ONE_POST_SIX_SEATS, SIX, TIED, lots=[Lot(("F", "A"))])
    assert {r.scores.composite for r in results.candidates} == {D("80.00")}
    placed = [
        (r.candidate.id, r.place.rank, r.place.broken_by) for r in results.candidates if r.place
    ]
    assert placed == [
        ("C", 1, None),
        ("D", 2, TieBreak.INTERVIEW),
        ("X", 3, TieBreak.WRITTEN),
        ("F", 4, TieBreak.EVALUATION),
        ("A", 5, TieBreak.LOT),
        ("B", 6, TieBreak.INTERVIEW),
    ]


def test_without_a_lot_the_equal_pair_shares_a_rank() -> None:
    results = compute_results(ONE_POST_SIX_SEATS, SIX, TIED)
    ranks = {r.candidate.id: (r.place.rank, r.place.tied) for r in results.candidates if r.place}
    assert ranks == {
        "C": (1, False),
        "D": (2, False),
        "X": (3, False),
        "A": (4, True),
        "F": (4, True),
        "B": (6, False),
    }
    # six seats for six: the tie decides nothing, so nothing is flagged
    assert results.final
    assert texts(results, "A") == ["第一志愿岗位拟任：排名第 4（并列），岗位 6 个职数"]


def test_the_chain_is_configurable() -> None:
    chain = (TieBreak.WRITTEN, TieBreak.LOT)
    results = compute_results(
        ONE_POST_SIX_SEATS, SIX, TIED, ResultRules(chain=chain), lots=[Lot(("A", "X", "F"))]
    )
    # written first: B 90, D 85, then A X F on 80 by the lot, C 70
    assert [r.candidate.id for r in results.candidates] == ["B", "D", "A", "X", "F", "C"]
    with pytest.raises(AllocationError, match="last step"):
        compute_results(
            ONE_POST_SIX_SEATS, SIX, TIED, ResultRules(chain=(TieBreak.LOT, TieBreak.WRITTEN))
        )


def test_a_lot_that_orders_only_part_of_a_tied_group_does_not_break_it() -> None:
    tied = {c: marks("80", "80", "80") for c in "AFG"}
    three = [Candidate(c, c, ("P1",)) for c in "AFG"]
    results = compute_results(ONE_POST_SIX_SEATS, three, tied, lots=[Lot(("F", "A"))])
    assert {r.place.rank for r in results.candidates if r.place} == {1}


def test_an_rfc3797_lot_orders_the_tied_pair() -> None:
    # RFC 3797 section 6's sources; its first MD5 digest, 990DD0A5...3459, is odd, so the
    # first pick from a pool of two is the second member, F.
    lot = draw_lot(["A", "F"], [[9319], [2, 5, 12, 8, 10], [9, 18, 26, 34, 41, 45]], "md5")
    assert lot.order == ("F", "A")
    assert lot.key == "9319./2.5.8.10.12./9.18.26.34.41.45./"


# --- allocation ----------------------------------------------------------------------

POSTS = [Post("P1", "党政办公室主任", 1), Post("P2", "财政所所长", 2)]


def test_first_on_both_preferences_takes_the_first_and_the_second_goes_down() -> None:
    candidates = [
        Candidate("R1", "王伟", ("P1", "P2")),
        Candidate("R2", "李娜", ("P2",)),
        Candidate("R3", "张敏", ("P1",)),
    ]
    figures = {
        "R1": marks("90", "90", "90"),  # 90.00
        "R2": marks("85", "85", "85"),  # 85.00
        "R3": marks("80", "80", "80"),  # 80.00
    }
    results = compute_results(POSTS, candidates, figures)
    assert [(r.candidate.id, r.post) for r in results.candidates] == [
        ("R1", "P1"),
        ("R2", "P2"),
        ("R3", None),
    ]
    assert texts(results, "R1") == [
        "第一志愿岗位拟任：排名第 1，岗位 1 个职数",
        "第二志愿不再考虑：已拟任第一志愿岗位",
    ]
    assert texts(results, "R2") == ["第一志愿岗位拟任：排名第 2，岗位 2 个职数"]
    assert texts(results, "R3") == ["第一志愿岗位已满：排名第 2，岗位 1 个职数"]
    assert texts(results, "R1", "en") == [
        "First preference: proposed for the post, ranked 1, the post has 1 seat(s)",
        "Second preference not considered: proposed for the first preference post",
    ]
    p1, p2 = results.posts
    assert (p1.appointed, p2.appointed, p2.vacant) == (("R1",), ("R2",), 1)


def test_a_post_with_two_seats_goes_to_its_first_two() -> None:
    candidates = [Candidate(f"R{n}", f"候选{n}", ("P2", "P1")) for n in (1, 2, 3)]
    figures = {
        "R1": marks("90", "90", "90"),
        "R2": marks("85", "85", "85"),
        "R3": marks("80", "80", "80"),
    }
    results = compute_results(POSTS, candidates, figures)
    assert [r.post for r in results.candidates] == ["P2", "P2", "P1"]
    assert texts(results, "R3") == [
        "第一志愿岗位已满：排名第 3，岗位 2 个职数",
        "第二志愿岗位拟任：排名第 3，岗位 1 个职数",
    ]
    assert texts(results, "R3", "en")[0] == (
        "First preference post full: ranked 3, the post has 2 seat(s)"
    )


def test_a_tie_at_a_seat_boundary_is_flagged_and_never_settled_by_list_order() -> None:
    posts = [Post("P1", "党政办公室主任", 1), Post("Q", "农业中心主任", 1)]
    candidates = [
        Candidate("A", "甲", ("P1", "Q")),
        Candidate("F", "乙", ("P1",)),
        Candidate("G", "丙", ("Q",)),
    ]
    figures = {
        "A": marks("80", "80", "80"),
        "F": marks("80", "80", "80"),
        "G": marks("70", "70", "70"),
    }
    results = compute_results(posts, candidates, figures)
    (flag,) = results.flags
    assert (flag.code, flag.post, flag.candidates, flag.left) == (
        FlagCode.UNBROKEN_TIE,
        "P1",
        ("A", "F"),
        1,
    )
    a, f, g = results.of("A"), results.of("F"), results.of("G")
    assert not (a.decided or f.decided or g.decided)
    assert a.possible_posts == {"P1", "Q"} and f.possible_posts == {"P1", None}
    assert g.possible_posts == {"Q", None}  # G gets Q only if A wins P1
    assert texts(results, "F") == [
        "第一志愿岗位待定：排名第 1（并列），与他人并列争 1 个剩余职数，"
        "递进规则无法区分，待组织方抽签决定"
    ]
    assert texts(results, "G") == ["第一志愿岗位待定：取决于尚待抽签决定的并列"]
    p1, q = results.posts
    assert (p1.appointed, p1.undecided, q.appointed, q.undecided) == ((), 1, (), 1)
    # a recorded lot settles it, and everyone below
    settled = compute_results(posts, candidates, figures, lots=[Lot(("F", "A"))])
    assert settled.final
    assert [(r.candidate.id, r.post) for r in settled.candidates] == [
        ("F", "P1"),
        ("A", "Q"),
        ("G", None),
    ]
    # the input order changes nothing
    reversed_ = compute_results(posts[::-1], candidates[::-1], figures)
    assert results_document(reversed_)["flags"] == results_document(results)["flags"]


def test_a_threshold_leaves_a_candidate_ranked_but_without_a_post() -> None:
    candidates = [Candidate("R1", "王伟", ("P1",)), Candidate("R2", "李娜", ("P1",))]
    figures = {"R1": marks("79.5", "80", "80"), "R2": marks("70", "70", "70")}  # 79.85; 70.00
    rules = ResultRules(thresholds=Thresholds(min_composite=D(80)))
    results = compute_results(POSTS, candidates, figures, rules)
    placed = [(r.candidate.id, r.place, r.eligible, r.post) for r in results.candidates]
    assert [(c, p and p.rank, e, post) for c, p, e, post in placed] == [
        ("R1", 1, False, None),
        ("R2", 2, False, None),
    ]
    assert texts(results, "R1") == ["第一志愿岗位不予拟任：综合成绩 79.85 低于最低要求 80"]
    assert results.posts[0].vacant == 1
    rules = ResultRules(thresholds=Thresholds(min_marks={IV: D(75)}))
    results = compute_results(POSTS, candidates, figures, rules)
    assert [r.post for r in results.candidates] == ["P1", None]
    assert texts(results, "R2", "en") == [
        "First preference not given: interview 70 is below the minimum 75"
    ]


def test_the_advancement_rule_leaves_the_cut_unranked() -> None:
    posts = [Post("P1", "党政办公室主任", 1)]
    candidates = [Candidate(f"R{n}", f"候选{n}", ("P1",)) for n in (1, 2, 3)]
    figures = {
        "R1": marks("90", "80", "80"),
        "R2": marks("85", "80", "80"),
        "R3": marks("60", "80", None),
    }
    results = compute_results(posts, candidates, figures, ResultRules(advancement_ratio=2))
    assert results.of("R3").scores.standing is Standing.NOT_ADVANCED
    assert texts(results, "R3") == ["笔试未进入面试（按 1:2 比例），不参加排名"]
    assert results.final  # not advancing is an outcome, not a missing figure


# --- corrections ---------------------------------------------------------------------

FIGURES = {"R1": marks("85.5", "81.34", "85.15"), "R2": marks("85", "85", "85")}
CANDS = [Candidate("R1", "王伟", ("P1",)), Candidate("R2", "李娜", ("P1",))]


def fix(
    id: str, old: str, new: str, by: str, confirmed: str | None, reason: str = "计分错误"
) -> Correction:
    return Correction(id, IV, "R1", D(old), D(new), reason, by, confirmed)


def test_a_confirmed_correction_applies_and_the_original_stays_visible() -> None:
    correction = fix("c1", "85.15", "88.15", "organiser", "observer-1", "第 5 号评委总分合计有误")
    results = compute_results(POSTS, CANDS, FIGURES, corrections=[correction])
    interview = results.of("R1").scores.stage(IV)
    assert (interview.original, interview.figure) == (D("85.15"), D("88.15"))
    assert interview.score == D("26.45")  # 88.15 x 0.3 = 26.445 -> 26.45
    assert results.of("R1").scores.composite == D("84.64")  # 25.65 + 32.54 + 26.45
    assert results.of("R2").post == "P1"  # R2's 85.00 still beats 84.64
    (outcome,) = results.corrections
    assert outcome.state is CorrectionState.APPLIED


def test_a_correction_changes_the_outcome_only_when_confirmed_by_another_account() -> None:
    up = "89.15"  # 89.15 x 0.3 = 26.745 -> 26.75; 25.65 + 32.54 + 26.75 = 84.94 < 85.00
    higher = "90.15"  # 27.045 -> 27.05; 25.65 + 32.54 + 27.05 = 85.24 > 85.00
    base = compute_results(POSTS, CANDS, FIGURES)
    assert base.of("R2").post == "P1"
    assert compute_results(
        POSTS, CANDS, FIGURES, corrections=[fix("c1", "85.15", up, "org", "obs")]
    ).of("R1").scores.composite == D("84.94")
    confirmed = compute_results(
        POSTS, CANDS, FIGURES, corrections=[fix("c1", "85.15", higher, "org", "obs")]
    )
    assert (confirmed.of("R1").post, confirmed.of("R1").scores.composite) == ("P1", D("85.24"))
    _, rows = results_table(confirmed)
    assert rows[0][-1] == "面试 85.15 → 90.15: 计分错误"

    unconfirmed = compute_results(
        POSTS, CANDS, FIGURES, corrections=[fix("c1", "85.15", higher, "org", None)]
    )
    assert unconfirmed.of("R2").post == "P1"
    assert unconfirmed.corrections[0].state is CorrectionState.UNCONFIRMED
    assert [(f.code, f.candidates) for f in unconfirmed.flags] == [
        (FlagCode.PENDING_CORRECTION, ("R1",))
    ]

    alone = compute_results(
        POSTS, CANDS, FIGURES, corrections=[fix("c1", "85.15", higher, "org", "org")]
    )
    assert alone.of("R2").post == "P1"
    assert (alone.corrections[0].state, alone.corrections[0].code) == (
        CorrectionState.REFUSED,
        "same_account",
    )


def test_corrections_chain_on_the_figure_in_force_and_stale_ones_are_refused() -> None:
    corrections = [
        fix("c1", "85.15", "86", "org", "obs"),
        fix("c2", "85.15", "87", "org", "obs"),  # old is no longer in force
        fix("c3", "86", "86.5", "org", "obs"),
        fix("c4", "86.5", "101", "org", "obs"),  # out of range
        fix("c5", "86.5", "87", "org", "obs", reason=" "),
        Correction("c6", W, "R1", ABSENT, D(90), "误录缺考", "org", "obs"),
    ]
    results = compute_results(POSTS, CANDS, FIGURES, corrections=corrections)
    assert [(o.correction.id, o.state.value, o.code) for o in results.corrections] == [
        ("c1", "applied", None),
        ("c2", "refused", "old_differs"),
        ("c3", "applied", None),
        ("c4", "refused", "out_of_range"),
        ("c5", "refused", "no_reason"),
        ("c6", "refused", "old_differs"),
    ]
    interview = results.of("R1").scores.stage(IV)
    assert interview.figure == D("86.5")
    assert [c.id for c in interview.corrections] == ["c1", "c3"]


def test_an_absence_can_be_corrected_to_a_mark() -> None:
    figures = {**FIGURES, "R1": marks("缺考", "81.34", "85.15")}
    correction = Correction("c1", W, "R1", ABSENT, D("85.5"), "考生在场，误录缺考", "org", "obs")
    results = compute_results(POSTS, CANDS, figures, corrections=[correction])
    assert results.of("R1").scores.composite == D("83.74")
    assert results.of("R1").scores.stage(W).original is ABSENT


# --- reasons -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "zh", "en"),
    [
        (
            Reason(ReasonCode.POST_FULL, {"pref": 1, "rank": 3, "seats": 2, "tied": 0}),
            "第一志愿岗位已满：排名第 3，岗位 2 个职数",
            "First preference post full: ranked 3, the post has 2 seat(s)",
        ),
        (
            Reason(ReasonCode.STAGE_MISSING, {"stage": "written"}),
            "笔试成绩尚未录入，暂不排名",
            "The written exam score is not recorded yet; not ranked yet",
        ),
        (
            Reason(ReasonCode.DEPENDS_ON_TIE, {"pref": 2}),
            "第二志愿岗位待定：取决于尚待抽签决定的并列",
            "Second preference undecided: it depends on a tie that awaits a lot",
        ),
    ],
)
def test_reasons_render_in_both_languages(reason: Reason, zh: str, en: str) -> None:
    assert (render(reason, "zh"), render(reason, "en")) == (zh, en)


# --- inputs that cannot be right -----------------------------------------------------


@pytest.mark.parametrize(
    ("candidates", "figures", "message"),
    [
        ([Candidate("R1", "王", ("P9",))], {}, "unknown post"),
        ([Candidate("R1", "王", ("P1", "P1"))], {}, "different posts"),
        ([Candidate("R1", "王", ())], {}, "different posts"),
        ([Candidate("R1", "王", ("P1",))] * 2, {}, "unique"),
        ([Candidate("R1", "王", ("P1",))], {"R1": marks("100.5", "1", "1")}, "out_of_range"),
        ([Candidate("R1", "王", ("P1",))], {"R2": marks("1", "1", "1")}, "unknown candidate"),
    ],
)
def test_impossible_inputs_are_refused(candidates: list, figures: dict, message: str) -> None:
    with pytest.raises(AllocationError, match=message):
        compute_results(POSTS, candidates, figures)


# --- properties ----------------------------------------------------------------------


@st.composite
def events(draw: st.DrawFn) -> tuple[list[Post], list[Candidate], dict]:
    n_posts = draw(st.integers(1, 5))
    posts = [Post(f"P{i}", f"岗位{i}", draw(st.integers(1, 3))) for i in range(n_posts)]
    codes = [p.code for p in posts]
    candidates, figures = [], {}
    for n in range(draw(st.integers(1, 12))):
        prefs = draw(st.lists(st.sampled_from(codes), min_size=1, max_size=2, unique=True))
        candidates.append(Candidate(f"R{n:02}", f"候选{n}", tuple(prefs)))
        # few distinct marks, so ties are common
        figures[f"R{n:02}"] = {s: D(draw(st.sampled_from(["60", "70", "80", "90"]))) for s in Stage}
    return posts, candidates, figures


def check_allocation(posts: list[Post], candidates: list[Candidate], results: Results) -> None:
    named = {c.id: c.preferences for c in candidates}
    seats = {p.code: p.seats for p in posts}
    holders: dict[str, list[str]] = {}
    for r in results.candidates:
        if r.decided and r.post is not None:
            holders.setdefault(r.post, []).append(r.candidate.id)
            assert r.post in named[r.candidate.id]  # only a post they named
    for post, held in holders.items():
        assert len(held) <= seats[post]  # never more than the seats
    appointed = [c for p in results.posts for c in p.appointed]
    assert len(appointed) == len(set(appointed))  # nobody takes two posts


@settings(max_examples=150, deadline=None)
@given(events())
def test_allocation_with_every_tie_broken_is_stable(event: tuple) -> None:
    posts, candidates, figures = event
    lot = Lot(tuple(sorted(figures)))  # one lot orders everyone: no tie survives
    results = compute_results(posts, candidates, figures, lots=[lot])
    assert results.final
    check_allocation(posts, candidates, results)
    rank = {r.candidate.id: r.place.rank for r in results.candidates if r.place}
    got = {r.candidate.id: r.post for r in results.candidates}
    holders = {p.post.code: p.appointed for p in results.posts}
    seats = {p.code: p.seats for p in posts}
    for c in candidates:
        mine = got[c.id]
        wanted = c.preferences if mine is None else c.preferences[: c.preferences.index(mine)]
        for post in wanted:  # every post they prefer to what they got is full of betters
            assert len(holders[post]) == seats[post]
            assert all(rank[h] < rank[c.id] for h in holders[post])


@settings(max_examples=150, deadline=None)
@given(events(), st.randoms(use_true_random=False))
def test_results_never_depend_on_the_order_of_the_lists(event: tuple, rnd: random.Random) -> None:
    posts, candidates, figures = event
    results = compute_results(posts, candidates, figures)
    check_allocation(posts, candidates, results)
    shuffled_posts, shuffled = list(posts), list(candidates)
    rnd.shuffle(shuffled_posts)
    rnd.shuffle(shuffled)
    again = compute_results(shuffled_posts, shuffled, dict(reversed(list(figures.items()))))
    first: dict[str, Any] = results_document(results)
    second: dict[str, Any] = results_document(again)
    first["posts"].sort(key=lambda p: p["code"])
    second["posts"].sort(key=lambda p: p["code"])
    assert first == second
    for flag in results.flags:  # a flagged tie is left undecided for every member
        if flag.code is FlagCode.UNBROKEN_TIE:
            assert not any(results.of(c).decided for c in flag.candidates)


@settings(max_examples=100, deadline=None)
@given(events(), st.data())
def test_a_composite_exists_exactly_when_every_stage_has_a_mark(
    event: tuple, data: st.DataObject
) -> None:
    posts, candidates, figures = event
    for cid in figures:
        for stage in list(figures[cid]):
            choice = data.draw(st.sampled_from(["keep", "drop", "absent"]))
            if choice == "drop":
                del figures[cid][stage]
            elif choice == "absent":
                figures[cid][stage] = ABSENT
    results = compute_results(posts, candidates, figures)
    for r in results.candidates:
        complete = all(isinstance(s.figure, D) for s in r.scores.stages)
        assert (r.scores.composite is not None) == complete == (r.place is not None)
        if complete:
            scores = [s.score for s in r.scores.stages if s.score is not None]
            assert r.scores.composite == sum(scores, D(0))
    json.dumps(results_document(results), ensure_ascii=False)


# --- the documentation's reason table is what the code says --------------------------

DOC_EXAMPLES: dict[ReasonCode, dict[str, str | int]] = {
    ReasonCode.ASSIGNED: {"pref": 1, "rank": 1, "seats": 1, "tied": 0},
    ReasonCode.POST_FULL: {"pref": 1, "rank": 3, "seats": 2, "tied": 0},
    ReasonCode.HIGHER_PREFERENCE: {"pref": 2, "assigned": 1},
    ReasonCode.BELOW_THRESHOLD: {
        "pref": 1,
        "measure": "composite",
        "value": "79.85",
        "minimum": "80",
    },
    ReasonCode.TIE_UNRESOLVED: {"pref": 1, "rank": 1, "tied": 1, "left": 1},
    ReasonCode.DEPENDS_ON_TIE: {"pref": 2},
    ReasonCode.ABSENT: {"stage": "interview"},
    ReasonCode.STAGE_MISSING: {"stage": "interview"},
    ReasonCode.NOT_ADVANCED: {"ratio": 3},
}


def test_every_reason_is_documented_in_both_languages() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "results.md").read_text(encoding="utf-8")
    assert set(DOC_EXAMPLES) == set(ReasonCode)
    for code, params in DOC_EXAMPLES.items():
        reason = Reason(code, params)
        row = f"| `{code.value}` | {render(reason, 'zh')} | {render(reason, 'en')} |"
        assert row in doc, row
