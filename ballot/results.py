"""The event's results: from recorded figures to a ranking and a proposed appointment list.

:func:`compute_results` is the one entry point. It takes what the service layer loads
(posts, candidates with their preferences, every stage figure as first recorded, the
appended corrections, the recorded lots) and the event's rules, and returns everything
the 公示 sheet, the observer board and the exports show. It is pure and deterministic,
and does not depend on the order of its inputs' lists, so the server and the verifier
(from a bundle) derive the same results. See docs/results.md.

Steps: corrections (``ballot.composite``) → optional advancement by written mark
(``ballot.written``) → stage scores and composite → order and tie-break chain → per-post
ranking → thresholds → allocation (``ballot.allocation``) → reasons and flags.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from .allocation import (
    DEFAULT_CHAIN,
    AllocationError,
    Lot,
    Placed,
    TieBreak,
    allocate,
    post_ranks,
    preference_reasons,
    rank_order,
)
from .composite import (
    CompositeResult,
    Correction,
    CorrectionOutcome,
    CorrectionState,
    Figures,
    Standing,
    apply_corrections,
    composite_result,
)
from .model import (
    STAGE_NAMES,
    Absence,
    Candidate,
    CompositeRule,
    Figure,
    MarkError,
    Post,
    Stage,
    check_figure,
    figure_text,
)
from .names import mask_name
from .reasons import Reason, ReasonCode, render
from .written import Advancement, advancement

Cell = str | int | Decimal | None


@dataclass(frozen=True)
class Thresholds:
    """Minimums for appointment, all off by default: the composite, and stage marks (in
    the stage's own points). A candidate below one is ranked but given no post."""

    min_composite: Decimal | None = None
    min_marks: Mapping[Stage, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class ResultRules:
    """An event's results rules, set before the event and published with it."""

    composite: CompositeRule = field(default_factory=CompositeRule)
    chain: tuple[TieBreak, ...] = DEFAULT_CHAIN
    thresholds: Thresholds = field(default_factory=Thresholds)
    advancement_ratio: int | None = None  # e.g. 3 for 1:3 per seat; None: everyone sits


class FlagCode(enum.StrEnum):
    UNBROKEN_TIE = "unbroken_tie"  # at a seat boundary: the organiser must record a lot
    INCOMPLETE = "incomplete"  # candidates lack a stage figure: results are provisional
    PENDING_CORRECTION = "pending_correction"  # entered, not yet confirmed


@dataclass(frozen=True)
class Flag:
    """Something the organiser must settle before the results are final."""

    code: FlagCode
    candidates: tuple[str, ...]
    post: str | None = None
    left: int | None = None  # seats left at an unbroken tie


@dataclass(frozen=True)
class CandidateResult:
    candidate: Candidate
    scores: CompositeResult
    place: Placed | None  # None when not ranked (absent, incomplete, not advanced)
    eligible: bool  # meets the thresholds
    possible_posts: frozenset[str | None]  # one element when decided; empty when unranked
    reasons: tuple[Reason, ...]

    @property
    def decided(self) -> bool:
        return len(self.possible_posts) == 1

    @property
    def post(self) -> str | None:
        """The proposed post, when decided."""
        return next(iter(self.possible_posts)) if self.decided else None


@dataclass(frozen=True)
class PostEntry:
    candidate: str
    preference: int
    rank: int | None  # on this post; None when not ranked
    tied: bool


@dataclass(frozen=True)
class PostResult:
    post: Post
    entries: tuple[PostEntry, ...]  # ranked in order, then the unranked by id
    appointed: tuple[str, ...]  # decided appointees, in rank order
    undecided: int  # seats whose holder awaits a lot
    vacant: int  # seats nobody eligible wanted


@dataclass(frozen=True)
class Results:
    rules: ResultRules
    candidates: tuple[CandidateResult, ...]  # ranked in order, then the unranked by id
    posts: tuple[PostResult, ...]
    corrections: tuple[CorrectionOutcome, ...]
    flags: tuple[Flag, ...]
    advancement: Advancement | None

    @property
    def final(self) -> bool:
        """Nothing awaits the organiser: no unbroken tie, missing figure or pending correction."""
        return not self.flags

    def of(self, candidate: str) -> CandidateResult:
        return next(r for r in self.candidates if r.candidate.id == candidate)


def _check_inputs(
    posts: Sequence[Post], candidates: Sequence[Candidate], figures: Figures, rule: CompositeRule
) -> None:
    codes = [p.code for p in posts]
    if len(set(codes)) != len(codes):
        raise AllocationError("post codes must be unique")
    if any(p.seats < 1 for p in posts):
        raise AllocationError("every post needs at least one seat")
    ids = [c.id for c in candidates]
    if len(set(ids)) != len(ids):
        raise AllocationError("candidate ids must be unique")
    for c in candidates:
        if not 1 <= len(c.preferences) <= 2 or len(set(c.preferences)) != len(c.preferences):
            raise AllocationError(f"{c.id} must name one or two different posts")
        if unknown := [p for p in c.preferences if p not in codes]:
            raise AllocationError(f"{c.id} names an unknown post {unknown[0]}")
    for candidate, stages in figures.items():
        if candidate not in ids:
            raise AllocationError(f"figures for an unknown candidate {candidate}")
        for stage, figure in stages.items():
            try:
                check_figure(figure, rule[stage])
            except MarkError as err:
                raise AllocationError(f"{candidate} {stage}: {err}") from None


def _threshold_failure(scores: CompositeResult, thresholds: Thresholds) -> dict[str, str] | None:
    minimum = thresholds.min_composite
    if minimum is not None and scores.composite is not None and scores.composite < minimum:
        return {"measure": "composite", "value": str(scores.composite), "minimum": str(minimum)}
    for stage in Stage:
        floor = thresholds.min_marks.get(stage)
        if floor is not None and scores.mark(stage) < floor:
            return {"measure": stage.value, "value": str(scores.mark(stage)), "minimum": str(floor)}
    return None


def _unranked_reason(scores: CompositeResult, ratio: int | None) -> Reason:
    if scores.standing is Standing.ABSENT:
        return Reason(ReasonCode.ABSENT, {"stage": scores.absent_from[0].value})
    if scores.standing is Standing.NOT_ADVANCED:
        return Reason(ReasonCode.NOT_ADVANCED, {"ratio": ratio or 0})
    return Reason(ReasonCode.STAGE_MISSING, {"stage": scores.missing[0].value})


def compute_results(
    posts: Sequence[Post],
    candidates: Sequence[Candidate],
    figures: Figures,
    rules: ResultRules | None = None,
    corrections: Iterable[Correction] = (),
    lots: Sequence[Lot] = (),
) -> Results:
    """Everything the results show, from the figures as first recorded.

    ``figures``: candidate id → stage → mark or ``ABSENT``; a stage left out is missing.
    ``corrections`` in the order they were appended. Raises :class:`AllocationError` for
    inputs that cannot be right (unknown posts, duplicate ids, marks out of range).
    """
    rules = rules or ResultRules()
    _check_inputs(posts, candidates, figures, rules.composite)
    in_force, outcomes = apply_corrections(
        {c.id: figures.get(c.id, {}) for c in candidates}, corrections, rules.composite
    )
    advanced: set[str] | None = None
    progress = None
    if rules.advancement_ratio is not None:
        written = {c: f[Stage.WRITTEN] for c, f in in_force.items() if Stage.WRITTEN in f}
        progress = advancement(posts, candidates, written, rules.advancement_ratio)
        advanced = set(progress.advanced | progress.pending)
    applied = [o.correction for o in outcomes if o.state is CorrectionState.APPLIED]
    scores = {
        c.id: composite_result(
            c.id,
            figures.get(c.id, {}),
            in_force[c.id],
            (a for a in applied if a.candidate == c.id),
            rules.composite,
            advanced is None or c.id in advanced,
        )
        for c in candidates
    }
    ordering = rank_order(scores.values(), rules.chain, lots)
    preferences = {c.id: c.preferences for c in candidates}
    below = {c: _threshold_failure(scores[c], rules.thresholds) for c in ordering.places}
    allocation = allocate(
        posts, preferences, ordering, {c for c, fails in below.items() if fails is None}
    )
    ranks = post_ranks(ordering, preferences)
    seats = {p.code: p.seats for p in posts}

    by_id = {c.id: c for c in candidates}
    ranked_ids = [m for group in ordering.groups for m in group]
    unranked_ids = sorted(c.id for c in candidates if c.id not in ordering.places)
    results = []
    for cid in ranked_ids:
        reasons = preference_reasons(
            cid, by_id[cid].preferences, seats, ranks, allocation, below[cid]
        )
        results.append(
            CandidateResult(
                by_id[cid],
                scores[cid],
                ordering.places[cid],
                below[cid] is None,
                allocation.outcomes[cid],
                reasons,
            )
        )
    for cid in unranked_ids:
        reason = _unranked_reason(scores[cid], rules.advancement_ratio)
        results.append(
            CandidateResult(by_id[cid], scores[cid], None, False, frozenset(), (reason,))
        )

    post_results = []
    for post in posts:
        on_post = ranks.get(post.code, {})
        entries = [
            PostEntry(cid, by_id[cid].preferences.index(post.code) + 1, *on_post[cid])
            for cid in ranked_ids
            if cid in on_post
        ] + [
            PostEntry(cid, by_id[cid].preferences.index(post.code) + 1, None, False)
            for cid in unranked_ids
            if post.code in by_id[cid].preferences
        ]
        holders = [{m for m, p in s.items() if p == post.code} for s in allocation.states]
        always = set.intersection(*holders) if holders else set()
        most = max((len(h) for h in holders), default=0)
        appointed = tuple(cid for cid in ranked_ids if cid in always)
        post_results.append(
            PostResult(
                post,
                tuple(entries),
                appointed,
                most - len(appointed),
                post.seats - most,
            )
        )

    flags = [Flag(FlagCode.UNBROKEN_TIE, c.candidates, c.post, c.left) for c in allocation.contests]
    incomplete = tuple(r.candidate.id for r in results if r.scores.standing is Standing.INCOMPLETE)
    if incomplete or (progress is not None and progress.pending):
        pending = set(incomplete) | set(progress.pending if progress else ())
        flags.append(Flag(FlagCode.INCOMPLETE, tuple(sorted(pending))))
    waiting = sorted(
        {o.correction.candidate for o in outcomes if o.state is CorrectionState.UNCONFIRMED}
    )
    if waiting:
        flags.append(Flag(FlagCode.PENDING_CORRECTION, tuple(waiting)))
    return Results(rules, tuple(results), tuple(post_results), outcomes, tuple(flags), progress)


# --- what is published ----------------------------------------------------------------


def _figure_cell(figure: Figure | None, lang: str) -> Cell:
    if figure is None:
        return "未录入" if lang == "zh" else "not recorded"
    if isinstance(figure, Absence):
        return "缺考" if lang == "zh" else "absent"
    return figure


HEADERS = {
    "zh": [
        "岗位代码", "岗位名称", "职数", "岗位排名", "志愿", "报名号", "姓名",
        "笔试成绩", "笔试折算", "民主测评成绩", "民主测评折算", "面试成绩", "面试折算",
        "综合成绩", "拟任", "说明", "更正",
    ],
    "en": [
        "post code", "post", "seats", "rank on post", "preference", "reg. no.", "name",
        "written", "written score", "evaluation", "evaluation score", "interview",
        "interview score", "composite", "proposed", "reason", "corrections",
    ],
}  # fmt: skip
OUTCOME = {
    "zh": {"yes": "拟任", "undecided": "待定", "no": ""},
    "en": {"yes": "proposed", "undecided": "undecided", "no": ""},
}


def _corrections_text(scores: CompositeResult, lang: str) -> str:
    lines = []
    for stage in scores.stages:
        for c in stage.corrections:
            name = STAGE_NAMES[lang][stage.stage]
            lines.append(f"{name} {figure_text(c.old)} → {figure_text(c.new)}: {c.reason}")
    return "; ".join(lines)


def results_table(
    results: Results, lang: str = "zh", mask: bool = False
) -> tuple[list[str], list[list[Cell]]]:
    """The 公示 table: one row per post and candidate who named it, posts in their order,
    candidates by rank on the post. Figures stay ``Decimal`` (numbers in a spreadsheet);
    ``mask`` shows names 王某某 style."""
    rows: list[list[Cell]] = []
    for post in results.posts:
        for entry in post.entries:
            result = results.of(entry.candidate)
            scores = result.scores
            if entry.candidate in post.appointed:
                outcome = "yes"
            elif post.post.code in result.possible_posts and not result.decided:
                outcome = "undecided"
            else:
                outcome = "no"
            reason = (
                result.reasons[entry.preference - 1]
                if result.place is not None
                else result.reasons[0]
            )
            name = mask_name(result.candidate.name) if mask else result.candidate.name
            cells: list[Cell] = [post.post.code, post.post.name, post.post.seats, entry.rank]
            cells += [entry.preference, entry.candidate, name]
            for stage in Stage:
                part = scores.stage(stage)
                cells += [_figure_cell(part.figure, lang), part.score]
            cells += [scores.composite, OUTCOME[lang][outcome], render(reason, lang)]
            cells.append(_corrections_text(scores, lang))
            rows.append(cells)
    return list(HEADERS[lang]), rows


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def results_document(results: Results) -> dict[str, object]:
    """The results as plain JSON data (figures as decimal strings): what a bundle holds
    and what the verifier compares after re-deriving."""
    return {
        "final": results.final,
        "candidates": [
            {
                "id": r.candidate.id,
                "standing": r.scores.standing.value,
                "stages": {
                    s.stage.value: {
                        "original": figure_text(s.original),
                        "figure": figure_text(s.figure),
                        "score": _text(s.score),
                        "corrections": [c.id for c in s.corrections],
                    }
                    for s in r.scores.stages
                },
                "composite": _text(r.scores.composite),
                "rank": None if r.place is None else r.place.rank,
                "tied": None if r.place is None else r.place.tied,
                "broken_by": None
                if r.place is None or r.place.broken_by is None
                else r.place.broken_by.value,
                "eligible": r.eligible,
                "possible_posts": sorted(p or "" for p in r.possible_posts),
                "post": r.post,
                "decided": r.decided,
                "reasons": [{"code": x.code.value, "params": dict(x.params)} for x in r.reasons],
            }
            for r in results.candidates
        ],
        "posts": [
            {
                "code": p.post.code,
                "seats": p.post.seats,
                "ranking": [
                    {
                        "candidate": e.candidate,
                        "preference": e.preference,
                        "rank": e.rank,
                        "tied": e.tied,
                    }
                    for e in p.entries
                ],
                "appointed": list(p.appointed),
                "undecided": p.undecided,
                "vacant": p.vacant,
            }
            for p in results.posts
        ],
        "corrections": [
            {"id": o.correction.id, "state": o.state.value, "code": o.code}
            for o in results.corrections
        ],
        "flags": [
            {"code": f.code.value, "candidates": list(f.candidates), "post": f.post, "left": f.left}
            for f in results.flags
        ],
    }
