"""Democratic evaluation (民主测评): counting anonymous ballots on 德 能 勤 绩 廉.

Terms:
- *scheme*: the dimensions, the points each is worth, the grades and the fraction of the
  points each grade earns, the evaluation stage's weight in the composite, and optional
  evaluator-group weights. Defaults: 5 × 20 points; 优秀 100 %, 称职 80 %, 基本称职 60 %,
  不称职 0 %; stage weight 40.
- *ballot*: one evaluator's grades, ``{candidate: {dimension: grade}}``, and the group the
  ballot came from (never a person).
- A ballot is *valid for a candidate* when it grades every dimension with a known grade;
  otherwise it is invalid (废票) for that candidate and counted apart.
- *score* (0–100): the mean over valid ballots of the points earned; with group weights,
  the weighted mean of the group means over the groups that have a valid ballot (the
  weights of the others are left out, not counted as zero). *weighted*: the score scaled
  to the stage weight. Both exact in ``Decimal``, each rounded half-up to 2 decimals once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from .scoring import round_half_up

DIMENSIONS = ("德", "能", "勤", "绩", "廉")
GRADES = {
    "优秀": Decimal(1),
    "称职": Decimal("0.8"),
    "基本称职": Decimal("0.6"),
    "不称职": Decimal(0),
}
GROUPS = ("机关干部", "镇直部门负责人", "村三委干部", "服务对象", "两代表一委员")


@dataclass(frozen=True)
class Scheme:
    dimensions: tuple[str, ...] = DIMENSIONS
    points: Decimal = Decimal(20)
    grades: Mapping[str, Decimal] = field(default_factory=lambda: dict(GRADES))
    stage_weight: Decimal = Decimal(40)
    group_weights: Mapping[str, Decimal] | None = None

    @property
    def full_marks(self) -> Decimal:
        return self.points * len(self.dimensions)


@dataclass(frozen=True)
class Ballot:
    group: str
    marks: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class CandidateTally:
    candidate: str
    valid: int
    invalid: int
    group_means: dict[str, Decimal]  # exact, per group with a valid ballot
    score: Decimal | None  # 0..full marks, 2 decimals
    weighted: Decimal | None  # scaled to the stage weight, 2 decimals


def ballot_points(scheme: Scheme, marks: Mapping[str, str] | None) -> Decimal | None:
    """Points one ballot gives one candidate, or None when it is invalid for them."""
    if not isinstance(marks, Mapping):
        return None
    total = Decimal(0)
    for dimension in scheme.dimensions:
        grade = marks.get(dimension)
        if grade not in scheme.grades:
            return None
        total += scheme.points * scheme.grades[grade]
    return total


def tally(
    scheme: Scheme, candidates: Sequence[str], ballots: Sequence[Ballot]
) -> list[CandidateTally]:
    """Every candidate's evaluation result, in the given order."""
    out = []
    for candidate in candidates:
        by_group: dict[str, list[Decimal]] = {}
        invalid = 0
        for ballot in ballots:
            points = ballot_points(scheme, ballot.marks.get(candidate))
            if points is None:
                invalid += 1
            else:
                by_group.setdefault(ballot.group, []).append(points)
        means = {g: sum(v, Decimal(0)) / len(v) for g, v in by_group.items()}
        valid = sum(len(v) for v in by_group.values())
        exact: Decimal | None
        if not valid:
            exact = None
        elif scheme.group_weights:
            weights = {g: Decimal(scheme.group_weights.get(g, 0)) for g in means}
            total_weight = sum(weights.values(), Decimal(0))
            exact = (
                sum((weights[g] * means[g] for g in means), Decimal(0)) / total_weight
                if total_weight
                else None
            )
        else:
            exact = sum((sum(v, Decimal(0)) for v in by_group.values()), Decimal(0)) / valid
        out.append(
            CandidateTally(
                candidate,
                valid,
                invalid,
                means,
                None if exact is None else round_half_up(exact),
                None
                if exact is None
                else round_half_up(exact * scheme.stage_weight / scheme.full_marks),
            )
        )
    return out
