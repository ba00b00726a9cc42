"""Democratic evaluation (民主测评): counting anonymous ballots on 德 能 勤 绩 廉.

Terms:
- *scheme*: the dimensions, the points each is worth, the grades and the fraction of the
  points each grade earns, the evaluation stage's weight in the composite, optional
  evaluator-group weights, and the *validity* rule. Defaults: 5 × 20 points; 优秀 100 %,
  称职 80 %, 基本称职 60 %, 不称职 0 %; stage weight 40; validity ``candidate``.
- *ballot*: one evaluator's grades, ``{candidate: {dimension: grade}}``, and the group the
  ballot came from (never a person).
- A ballot is *valid for a candidate* when it grades every dimension with a known grade;
  otherwise it is invalid (废票) for that candidate and counted apart. Under the validity
  rule ``ballot`` one missing grade anywhere voids the whole ballot for every candidate.
- *score* (0–full marks): the mean over valid ballots of the points earned; with group
  weights, the weighted mean of the group means over the groups that have a valid ballot
  (the weights of the others are left out, not counted as zero). *weighted*: the score
  scaled to the stage weight. Both exact in ``Decimal``, each rounded half-up to 2
  decimals once.
- *marks rows*: how a ballot travels and is logged: one list per candidate (in the
  evaluation's candidate order) of one grade or ``null`` per dimension (in scheme order).
  Lists, not objects, so no JSON key is ever a Chinese word (canonical JSON keeps object
  keys ASCII; docs/bundle-format.md §2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from .scoring import TWO_PLACES, round_half_up

DIMENSIONS = ("德", "能", "勤", "绩", "廉")
GRADES = {
    "优秀": Decimal(1),
    "称职": Decimal("0.8"),
    "基本称职": Decimal("0.6"),
    "不称职": Decimal(0),
}
GROUPS = ("机关干部", "镇直部门负责人", "村三委干部", "服务对象", "两代表一委员")
VALIDITY = ("candidate", "ballot")
MAX_NAME = 30  # a dimension, grade or group name, in characters
MAX_FULL_MARKS = Decimal(1000)


class EvaluationError(ValueError):
    """A scheme or ballot that must be refused; ``code`` names the rule, ``field`` the part."""

    def __init__(self, code: str, field: str | None = None) -> None:
        super().__init__(code if field is None else f"{code}: {field}")
        self.code = code
        self.field = field


@dataclass(frozen=True)
class Scheme:
    dimensions: tuple[str, ...] = DIMENSIONS
    points: Decimal = Decimal(20)
    grades: Mapping[str, Decimal] = field(default_factory=lambda: dict(GRADES))
    stage_weight: Decimal = Decimal(40)
    group_weights: Mapping[str, Decimal] | None = None
    validity: str = "candidate"

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
    group_valid: dict[str, int] = field(default_factory=dict)  # valid ballots per group


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


def _whole_ballot_valid(scheme: Scheme, candidates: Sequence[str], ballot: Ballot) -> bool:
    return all(ballot_points(scheme, ballot.marks.get(c)) is not None for c in candidates)


def tally(
    scheme: Scheme, candidates: Sequence[str], ballots: Sequence[Ballot]
) -> list[CandidateTally]:
    """Every candidate's evaluation result, in the given order."""
    if scheme.validity == "ballot":
        # One gap anywhere voids the whole ballot: it then counts as invalid for everyone.
        void = [not _whole_ballot_valid(scheme, candidates, b) for b in ballots]
    else:
        void = [False] * len(ballots)
    out = []
    for candidate in candidates:
        by_group: dict[str, list[Decimal]] = {}
        invalid = 0
        for ballot, voided in zip(ballots, void, strict=True):
            points = None if voided else ballot_points(scheme, ballot.marks.get(candidate))
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
                {g: len(v) for g, v in by_group.items()},
            )
        )
    return out


# --- the scheme as logged JSON ------------------------------------------------------------


def _decimal(value: object, code: str, field: str, low: Decimal, high: Decimal) -> Decimal:
    """A decimal from untrusted text (never a float), within ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, str | int) or len(str(value)) > 12:
        raise EvaluationError(code, field)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise EvaluationError(code, field) from None
    if not number.is_finite() or not low <= number <= high:
        raise EvaluationError(code, field)
    return number


def _name(value: object, code: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_NAME:
        raise EvaluationError(code, field)
    return value.strip()


def check_scheme(scheme: Scheme) -> Scheme:
    """Refuse a scheme nobody could mean: empty or repeated names, shares outside 0–1,
    no points, full marks over 1000, an unknown validity rule. Returns it unchanged."""
    if not 1 <= len(scheme.dimensions) <= 10 or len(set(scheme.dimensions)) != len(
        scheme.dimensions
    ):
        raise EvaluationError("scheme_invalid", "dimensions")
    for name in scheme.dimensions:
        _name(name, "scheme_invalid", "dimensions")
    if not 2 <= len(scheme.grades) <= 6:
        raise EvaluationError("scheme_invalid", "grades")
    for name, share in scheme.grades.items():
        _name(name, "scheme_invalid", "grades")
        if not Decimal(0) <= share <= Decimal(1):
            raise EvaluationError("scheme_invalid", "grades")
    if scheme.points <= 0 or scheme.full_marks > MAX_FULL_MARKS:
        raise EvaluationError("scheme_invalid", "points")
    if not Decimal(0) < scheme.stage_weight <= Decimal(100):
        raise EvaluationError("scheme_invalid", "stage_weight")
    if scheme.validity not in VALIDITY:
        raise EvaluationError("scheme_invalid", "validity")
    for group, weight in (scheme.group_weights or {}).items():
        _name(group, "weight_invalid", group)
        if not Decimal(0) < weight <= MAX_FULL_MARKS:
            raise EvaluationError("weight_invalid", group)
    return scheme


def scheme_to_json(scheme: Scheme) -> dict[str, Any]:
    """The scheme as the log holds it: decimals as strings, lists in their given order."""
    return {
        "dimensions": list(scheme.dimensions),
        "points": str(scheme.points),
        "grades": [{"name": g, "share": str(s)} for g, s in scheme.grades.items()],
        "stage_weight": str(scheme.stage_weight),
        "group_weights": None
        if scheme.group_weights is None
        else [{"group": g, "weight": str(w)} for g, w in scheme.group_weights.items()],
        "validity": scheme.validity,
    }


def scheme_from_json(data: object) -> Scheme:
    """Read a logged scheme back, refusing anything ``check_scheme`` would."""
    if not isinstance(data, Mapping):
        raise EvaluationError("scheme_invalid")
    try:
        dimensions = tuple(_name(d, "scheme_invalid", "dimensions") for d in data["dimensions"])
        grades: dict[str, Decimal] = {}
        for grade in data["grades"]:
            name = _name(grade["name"], "scheme_invalid", "grades")
            if name in grades:
                raise EvaluationError("scheme_invalid", "grades")
            grades[name] = _decimal(
                grade["share"], "scheme_invalid", "grades", Decimal(0), Decimal(1)
            )
        weights = None
        if data["group_weights"] is not None:
            weights = {
                _name(w["group"], "weight_invalid", "group"): _decimal(
                    w["weight"], "weight_invalid", "group", Decimal(0), MAX_FULL_MARKS
                )
                for w in data["group_weights"]
            }
        scheme = Scheme(
            dimensions=dimensions,
            points=_decimal(data["points"], "scheme_invalid", "points", Decimal(0), MAX_FULL_MARKS),
            grades=grades,
            stage_weight=_decimal(
                data["stage_weight"], "scheme_invalid", "stage_weight", Decimal(0), Decimal(100)
            ),
            group_weights=weights,
            validity=str(data["validity"]),
        )
    except (KeyError, TypeError, AttributeError):
        raise EvaluationError("scheme_invalid") from None
    return check_scheme(scheme)


# --- ballots as rows ------------------------------------------------------------------------


def check_rows(scheme: Scheme, candidates: Sequence[str], rows: object) -> list[list[str | None]]:
    """A ballot's marks rows from untrusted input: one row per candidate, one known grade
    or ``None`` per dimension. A gap is allowed (it makes the ballot invalid for that
    candidate, counted apart); anything else is refused, naming the row."""
    if not isinstance(rows, list) or len(rows) != len(candidates):
        raise EvaluationError("malformed", "marks")
    checked: list[list[str | None]] = []
    for candidate, row in zip(candidates, rows, strict=True):
        if not isinstance(row, list) or len(row) != len(scheme.dimensions):
            raise EvaluationError("malformed", candidate)
        for grade in row:
            if grade is not None and (not isinstance(grade, str) or grade not in scheme.grades):
                raise EvaluationError("malformed", candidate)
        checked.append(list(row))
    return checked


def ballot_from_rows(
    scheme: Scheme, candidates: Sequence[str], group: str, rows: Sequence[Sequence[str | None]]
) -> Ballot:
    """The tally's view of a rows ballot: gaps are simply absent grades."""
    marks = {
        candidate: {d: g for d, g in zip(scheme.dimensions, row, strict=True) if g is not None}
        for candidate, row in zip(candidates, rows, strict=True)
    }
    return Ballot(group, marks)


def complete(rows: Sequence[Sequence[str | None]]) -> list[bool]:
    """Per candidate, whether the row grades every dimension (for the review step)."""
    return [all(g is not None for g in row) for row in rows]


def published(
    scheme: Scheme,
    candidates: Sequence[str],
    groups: Sequence[str],
    ballots: Sequence[Ballot],
) -> dict[str, Any]:
    """The evaluation's published result: per candidate, valid and invalid ballots, each
    group's valid count and mean, the score and the weighted score; figures as strings
    with two decimals. The server and the independent verifier both call this."""

    def shown(value: Decimal | None) -> str | None:
        return None if value is None else f"{value.quantize(TWO_PLACES)}"

    cast = {g: 0 for g in groups}
    for b in ballots:
        cast[b.group] = cast.get(b.group, 0) + 1
    return {
        "ballots": len(ballots),
        "cast": [{"group": g, "count": n} for g, n in cast.items()],
        "candidates": [
            {
                "candidate": t.candidate,
                "valid": t.valid,
                "invalid": t.invalid,
                "groups": [
                    {
                        "group": g,
                        "valid": t.group_valid[g],
                        "mean": shown(round_half_up(t.group_means[g])),
                    }
                    for g in groups
                    if g in t.group_means
                ],
                "score": shown(t.score),
                "weighted": shown(t.weighted),
            }
            for t in tally(scheme, candidates, ballots)
        ],
    }
