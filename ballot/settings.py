"""An event's results settings (成绩规则), as the organiser sets them before the event and
as the log publishes them.

Terms:
- *settings*: the stage weights (whole points summing to 100), the written paper's full
  marks and step, the tie-break chain, the optional thresholds and advancement ratio, the
  per-rater analysis limits and whether the 公示 masks names (王某某).
- The interview's full marks are the rubric's and the evaluation's the scheme's: they are
  not settings, they come with :func:`result_rules`.

One reader, :func:`settings_from_json`, checks both what an organiser sends and what a
log holds, so the server and the verifier accept exactly the same settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from .allocation import DEFAULT_CHAIN, AllocationError, TieBreak, check_chain
from .model import CompositeRule, MarkError, Stage, StageRule
from .raters import RaterThresholds
from .results import ResultRules, Thresholds

MAX_RATIO = 20
MAX_FULL_MARKS = Decimal(1000)
STAGE_STEP = Decimal("0.01")  # evaluation and interview scores are announced to 2 decimals


class SettingError(ValueError):
    """A setting that must be refused; ``field`` names it."""

    def __init__(self, field: str, detail: str = "") -> None:
        super().__init__(f"{field}: {detail}" if detail else field)
        self.code = "rules_invalid"
        self.field = field


def _default_weights() -> dict[Stage, int]:
    return {Stage.WRITTEN: 30, Stage.EVALUATION: 40, Stage.INTERVIEW: 30}


@dataclass(frozen=True)
class Settings:
    weights: Mapping[Stage, int] = field(default_factory=_default_weights)
    written_full_marks: Decimal = Decimal(100)
    written_step: Decimal = Decimal("0.5")
    chain: tuple[TieBreak, ...] = DEFAULT_CHAIN
    min_composite: Decimal | None = None
    min_marks: Mapping[Stage, Decimal] = field(default_factory=dict)
    advancement_ratio: int | None = None
    rater_limits: RaterThresholds = field(default_factory=RaterThresholds)
    mask_names: bool = False


def _number(value: object, name: str, low: Decimal, high: Decimal) -> Decimal:
    """A decimal from untrusted input: a string or an int, never a float or a bool."""
    if isinstance(value, bool) or not isinstance(value, str | int) or len(str(value)) > 12:
        raise SettingError(name, "not a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise SettingError(name, "not a number") from None
    if not number.is_finite() or not low <= number <= high:
        raise SettingError(name, f"outside {low}..{high}")
    return number


def _whole(value: object, name: str, low: int, high: int) -> int:
    number = _number(value, name, Decimal(low), Decimal(high))
    if number != number.to_integral_value():
        raise SettingError(name, "not a whole number")
    return int(number)


def _optional(value: object, name: str, high: Decimal) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _number(value, name, Decimal(0), high)


def settings_from_json(data: object) -> Settings:
    """Check settings as sent or as logged; raises :class:`SettingError` naming the field."""
    if not isinstance(data, Mapping):
        raise SettingError("settings", "not an object")
    known = {
        "weights",
        "written_full_marks",
        "written_step",
        "chain",
        "min_composite",
        "min_marks",
        "advancement_ratio",
        "rater_limits",
        "mask_names",
    }
    if unknown := sorted(set(data) - known):
        raise SettingError(unknown[0], "unknown setting")
    weights_in = data.get("weights")
    if not isinstance(weights_in, Mapping) or set(weights_in) != {s.value for s in Stage}:
        raise SettingError("weights", "one weight per stage")
    weights = {s: _whole(weights_in[s.value], f"weight_{s.value}", 0, 100) for s in Stage}
    if sum(weights.values()) != 100:
        raise SettingError("weights", "the weights must sum to 100")
    full = _number(data.get("written_full_marks"), "written_full_marks", Decimal(1), MAX_FULL_MARKS)
    step = _number(data.get("written_step"), "written_step", Decimal("0.01"), Decimal(10))
    if full % step:
        raise SettingError("written_step", "full marks must be a multiple of the step")
    chain_in = data.get("chain")
    if not isinstance(chain_in, list) or not all(isinstance(c, str) for c in chain_in):
        raise SettingError("chain", "not a list of steps")
    try:
        chain = tuple(TieBreak(step_name) for step_name in chain_in)
        check_chain(chain)
    except (ValueError, AllocationError) as exc:
        raise SettingError("chain", str(exc)) from None
    marks_in = data.get("min_marks")
    if not isinstance(marks_in, Mapping) or not set(marks_in) <= {s.value for s in Stage}:
        raise SettingError("min_marks", "one optional minimum per stage")
    min_marks = {
        Stage(name): value
        for name, raw in marks_in.items()
        if (value := _optional(raw, f"min_{name}", MAX_FULL_MARKS)) is not None
    }
    ratio_in = data.get("advancement_ratio")
    ratio = None if ratio_in is None else _whole(ratio_in, "advancement_ratio", 1, MAX_RATIO)
    limits_in = data.get("rater_limits")
    if not isinstance(limits_in, Mapping) or set(limits_in) != {
        "max_mean_deviation",
        "max_dropped_share",
        "min_rounds",
    }:
        raise SettingError("rater_limits", "three limits")
    limits = RaterThresholds(
        _number(limits_in["max_mean_deviation"], "max_mean_deviation", Decimal(0), Decimal(100)),
        _number(limits_in["max_dropped_share"], "max_dropped_share", Decimal(0), Decimal(1)),
        _whole(limits_in["min_rounds"], "min_rounds", 1, 100),
    )
    mask = data.get("mask_names")
    if not isinstance(mask, bool):
        raise SettingError("mask_names", "true or false")
    return Settings(
        weights,
        full,
        step,
        chain,
        _optional(data.get("min_composite"), "min_composite", Decimal(100)),
        min_marks,
        ratio,
        limits,
        mask,
    )


def settings_to_json(settings: Settings) -> dict[str, Any]:
    """The settings as stored, logged and shown (decimals as strings)."""
    return {
        "weights": {s.value: settings.weights[s] for s in Stage},
        "written_full_marks": str(settings.written_full_marks),
        "written_step": str(settings.written_step),
        "chain": [c.value for c in settings.chain],
        "min_composite": None if settings.min_composite is None else str(settings.min_composite),
        "min_marks": {s.value: str(v) for s, v in sorted(settings.min_marks.items())},
        "advancement_ratio": settings.advancement_ratio,
        "rater_limits": {
            "max_mean_deviation": str(settings.rater_limits.max_mean_deviation),
            "max_dropped_share": str(settings.rater_limits.max_dropped_share),
            "min_rounds": settings.rater_limits.min_rounds,
        },
        "mask_names": settings.mask_names,
    }


def written_rule(settings: Settings) -> StageRule:
    """The written stage's rule, which every typed or imported mark is checked against."""
    return StageRule(
        settings.written_full_marks,
        settings.written_step,
        Decimal(settings.weights[Stage.WRITTEN]),
    )


def result_rules(
    settings: Settings, interview_full_marks: Decimal, evaluation_full_marks: Decimal
) -> ResultRules:
    """The rules the results are computed with: the settings, the rubric's full marks
    for the interview and the evaluation scheme's for the evaluation."""
    try:
        composite = CompositeRule(
            {
                Stage.WRITTEN: written_rule(settings),
                Stage.EVALUATION: StageRule(
                    evaluation_full_marks, STAGE_STEP, Decimal(settings.weights[Stage.EVALUATION])
                ),
                Stage.INTERVIEW: StageRule(
                    interview_full_marks, STAGE_STEP, Decimal(settings.weights[Stage.INTERVIEW])
                ),
            }
        )
    except MarkError as exc:
        raise SettingError("full_marks", str(exc)) from None
    return ResultRules(
        composite,
        settings.chain,
        Thresholds(settings.min_composite, dict(settings.min_marks)),
        settings.advancement_ratio,
    )
