"""The results' typed model: posts, candidates, the three scored stages and their figures.

Terms:
- *post* (岗位): a position with a number of *seats* (职数).
- *candidate* (竞岗者): identified by registration number; names up to two posts, in
  order of preference (第一志愿, 第二志愿).
- *stage*: 笔试 written exam, 民主测评 democratic evaluation, 面试 interview.
- *figure*: what a stage recorded for one candidate: a *mark* (``Decimal``, in the stage's
  own points, e.g. 85.5 of 100) or :data:`ABSENT` (缺考: called and did not sit it).
  A stage with no figure at all is *missing* (not entered yet); missing is never 0 and
  never absent.
- *stage rule*: the stage's full marks, the step every mark must be a multiple of, and
  the stage's weight in the composite. Defaults: 100 points each; written step 0.5,
  evaluation and interview 0.01 (their scores are announced with 2 decimals); weights
  written 30, evaluation 40, interview 30 (the source's), summing to 100.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal

from .scoring import SheetError, parse_value


@dataclass(frozen=True)
class Post:
    code: str
    name: str
    seats: int


@dataclass(frozen=True)
class Candidate:
    id: str  # the registration number (报名号)
    name: str
    preferences: tuple[str, ...]  # post codes, most preferred first


class Stage(enum.StrEnum):
    WRITTEN = "written"
    EVALUATION = "evaluation"
    INTERVIEW = "interview"


class Absence(enum.StrEnum):
    """The one value of a figure that is not a mark: 缺考."""

    ABSENT = "absent"


ABSENT = Absence.ABSENT
Figure = Decimal | Absence
# What a clerk or an import may type for 缺考 (compared after strip and lower-casing).
ABSENT_WORDS = frozenset({"缺考", "absent"})
STAGE_NAMES = {
    "zh": {Stage.WRITTEN: "笔试", Stage.EVALUATION: "民主测评", Stage.INTERVIEW: "面试"},
    "en": {
        Stage.WRITTEN: "written exam",
        Stage.EVALUATION: "evaluation",
        Stage.INTERVIEW: "interview",
    },
}


class MarkError(ValueError):
    """A figure that must be refused; ``code`` names the rule broken."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code if not detail else f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class StageRule:
    """Full marks, step and composite weight of one stage."""

    full_marks: Decimal = Decimal(100)
    step: Decimal = Decimal("0.01")
    weight: Decimal = Decimal(30)

    def __post_init__(self) -> None:
        if not (self.full_marks > 0 and self.step > 0 and self.weight >= 0):
            raise MarkError("bad_rule", "full marks and step must be positive, weight >= 0")
        if self.full_marks % self.step:
            raise MarkError("bad_rule", f"{self.full_marks} is not a multiple of {self.step}")


def _default_rules() -> dict[Stage, StageRule]:
    return {
        Stage.WRITTEN: StageRule(step=Decimal("0.5"), weight=Decimal(30)),
        Stage.EVALUATION: StageRule(weight=Decimal(40)),
        Stage.INTERVIEW: StageRule(weight=Decimal(30)),
    }


@dataclass(frozen=True)
class CompositeRule:
    """Every stage's rule; weights must sum to 100 (百分制)."""

    stages: dict[Stage, StageRule] = field(default_factory=_default_rules)

    def __post_init__(self) -> None:
        if set(self.stages) != set(Stage):
            raise MarkError("bad_rule", "every stage needs a rule")
        total = sum((r.weight for r in self.stages.values()), Decimal(0))
        if total != 100:
            raise MarkError("bad_rule", f"weights sum to {total}, not 100")

    def __getitem__(self, stage: Stage) -> StageRule:
        return self.stages[stage]


def check_mark(value: Decimal, rule: StageRule) -> Decimal:
    """Refuse a mark outside ``0..full marks`` or off the step; return it unchanged."""
    if not value.is_finite():
        raise MarkError("not_a_number")
    if value < 0 or value > rule.full_marks:
        raise MarkError("out_of_range", f"{value} outside 0..{rule.full_marks}")
    if value % rule.step:
        raise MarkError("wrong_step", f"{value} is not a multiple of {rule.step}")
    return value


def check_figure(figure: Figure, rule: StageRule) -> Figure:
    """A figure as stored: :data:`ABSENT`, or a mark that passes :func:`check_mark`."""
    return ABSENT if figure is ABSENT else check_mark(Decimal(figure), rule)


def parse_figure(raw: object, rule: StageRule) -> Figure:
    """Read a typed or imported figure: a number (string, int or Decimal) or 缺考 / absent.

    Floats are read through their shortest text (``85.5`` → ``Decimal("85.5")``), never
    their binary value; bools, NaN, infinities and junk are ``not_a_number``.
    """
    if isinstance(raw, str) and raw.strip().lower() in ABSENT_WORDS:
        return ABSENT
    if isinstance(raw, Decimal):
        return check_mark(raw, rule)
    try:
        value = parse_value(raw)
    except SheetError as err:
        raise MarkError(err.code) from None
    return check_mark(value, rule)


def figure_text(figure: Figure | None) -> str | None:
    """A figure as it is published and stored: the mark's digits, ``absent``, or None."""
    return None if figure is None else str(figure)
