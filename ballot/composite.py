"""Corrections and the composite score (综合成绩), as announced.

Terms:
- *stage score*: a stage's mark as a share of its full marks times its weight, rounded
  half-up to 2 decimals: that is the figure announced for the stage.
- *composite*: the sum of the three announced stage scores, rounded half-up to 2
  decimals (a no-op, since each term has 2 decimals: anyone can add up the sheet and get
  the composite). Computed only when every stage has a mark: a candidate missing a stage
  is ``incomplete``, one with 缺考 in any stage is ``absent``; neither is given 0.
- *correction*: an appended record that replaces one stage figure of one candidate after
  the stage has closed: the old and new figure, a reason, the account that entered it and
  a *different* account that confirmed it (organiser and observer). The original stays;
  results show both and the reason. Corrections apply in the order they were appended,
  each to the figure in force (its ``old`` must be that figure); an unconfirmed one is
  listed and does not apply; one confirmed by the account that entered it is refused.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from .model import (
    Absence,
    CompositeRule,
    Figure,
    MarkError,
    Stage,
    StageRule,
    check_figure,
)
from .scoring import round_half_up

Figures = Mapping[str, Mapping[Stage, Figure]]  # candidate -> stage -> figure


class CorrectionState(enum.StrEnum):
    APPLIED = "applied"
    UNCONFIRMED = "unconfirmed"
    REFUSED = "refused"


@dataclass(frozen=True)
class Correction:
    """One appended correction of a stage figure; ``confirmed_by`` None until co-signed."""

    id: str
    stage: Stage
    candidate: str
    old: Figure
    new: Figure
    reason: str
    entered_by: str
    confirmed_by: str | None = None


@dataclass(frozen=True)
class CorrectionOutcome:
    correction: Correction
    state: CorrectionState
    code: str | None = None  # why it was refused


def _refusal(correction: Correction, current: Figure | None, rule: StageRule) -> str | None:
    if not correction.reason.strip():
        return "no_reason"
    if not correction.entered_by.strip():
        return "no_account"
    if correction.confirmed_by == correction.entered_by:
        return "same_account"
    if current is None:
        return "nothing_to_correct"
    if correction.old != current:
        return "old_differs"
    if correction.new == correction.old:
        return "no_change"
    try:
        check_figure(correction.new, rule)
    except MarkError as err:
        return err.code
    return None


def apply_corrections(
    figures: Figures, corrections: Iterable[Correction], rule: CompositeRule
) -> tuple[dict[str, dict[Stage, Figure]], tuple[CorrectionOutcome, ...]]:
    """The figures in force after every confirmed, valid correction, and each one's fate."""
    current = {c: dict(stages) for c, stages in figures.items()}
    outcomes = []
    for correction in corrections:
        if correction.candidate not in current:
            outcomes.append(
                CorrectionOutcome(correction, CorrectionState.REFUSED, "unknown_candidate")
            )
            continue
        stages = current[correction.candidate]
        code = _refusal(correction, stages.get(correction.stage), rule[correction.stage])
        if code is not None:
            outcomes.append(CorrectionOutcome(correction, CorrectionState.REFUSED, code))
        elif not (correction.confirmed_by or "").strip():
            outcomes.append(CorrectionOutcome(correction, CorrectionState.UNCONFIRMED))
        else:
            stages[correction.stage] = correction.new
            outcomes.append(CorrectionOutcome(correction, CorrectionState.APPLIED))
    return current, tuple(outcomes)


class Standing(enum.StrEnum):
    """Whether a candidate can be ranked, and if not, why."""

    COMPLETE = "complete"
    ABSENT = "absent"  # 缺考 in at least one stage
    NOT_ADVANCED = "not_advanced"  # stopped by the advancement rule after the written exam
    INCOMPLETE = "incomplete"  # a stage has no figure yet


@dataclass(frozen=True)
class StageResult:
    stage: Stage
    original: Figure | None  # as first recorded
    figure: Figure | None  # in force, after corrections
    score: Decimal | None  # the announced stage score, when ``figure`` is a mark
    corrections: tuple[Correction, ...]  # applied, in order


@dataclass(frozen=True)
class CompositeResult:
    candidate: str
    stages: tuple[StageResult, ...]  # in ``Stage`` order
    composite: Decimal | None
    standing: Standing

    def stage(self, stage: Stage) -> StageResult:
        return next(s for s in self.stages if s.stage is stage)

    def mark(self, stage: Stage) -> Decimal:
        """The stage's mark in force; only for a complete result."""
        figure = self.stage(stage).figure
        if not isinstance(figure, Decimal):
            raise ValueError(f"{self.candidate} has no {stage} mark")
        return figure

    @property
    def absent_from(self) -> tuple[Stage, ...]:
        return tuple(s.stage for s in self.stages if isinstance(s.figure, Absence))

    @property
    def missing(self) -> tuple[Stage, ...]:
        return tuple(s.stage for s in self.stages if s.figure is None)


def stage_score(mark: Decimal, rule: StageRule) -> Decimal:
    """mark / full marks × weight, rounded half-up to 2 decimals (multiplied first, so a
    full-marks-100 stage divides exactly)."""
    return round_half_up(mark * rule.weight / rule.full_marks)


def composite_result(
    candidate: str,
    original: Mapping[Stage, Figure],
    in_force: Mapping[Stage, Figure],
    applied: Iterable[Correction],
    rule: CompositeRule,
    advanced: bool = True,
) -> CompositeResult:
    """One candidate's stage scores and composite, from the figures before and after
    corrections; ``advanced`` False when the advancement rule stopped them."""
    applied = tuple(applied)
    stages = tuple(
        StageResult(
            stage,
            original.get(stage),
            figure := in_force.get(stage),
            stage_score(figure, rule[stage]) if isinstance(figure, Decimal) else None,
            tuple(c for c in applied if c.stage is stage),
        )
        for stage in Stage
    )
    if any(isinstance(s.figure, Absence) for s in stages):
        standing = Standing.ABSENT
    elif not advanced:
        standing = Standing.NOT_ADVANCED
    elif any(s.figure is None for s in stages):
        standing = Standing.INCOMPLETE
    else:
        standing = Standing.COMPLETE
    composite = None
    if standing is Standing.COMPLETE:
        scores = (s.score for s in stages if s.score is not None)
        composite = round_half_up(sum(scores, Decimal(0)))
    return CompositeResult(candidate, stages, composite, standing)
