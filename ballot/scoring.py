"""Score sheets and the interview-score rule, as pure functions.

Terms:
- *rubric item*: one scored aspect of the interview, with bounds ``0..max`` and a
  ``step`` (e.g. 0.5) every value must be a multiple of.
- *score sheet*: one rater's values for every rubric item of one round; its
  *total* is their exact sum.
- *interview score*: the panel's figure for a round. With at least ``threshold``
  counted totals (default 5) one highest and one lowest are dropped (one
  instance each, even when the value is shared) and the rest averaged; with fewer,
  all are averaged. A recused seat has no total and does not count. All arithmetic
  is ``decimal.Decimal``; the mean is rounded half-up to 2 decimals once, at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

TWO_PLACES = Decimal("0.01")
DEFAULT_DROP_THRESHOLD = 5


@dataclass(frozen=True)
class RubricItem:
    """One scored aspect of the interview."""

    code: str
    label_zh: str
    label_en: str
    max: Decimal
    step: Decimal


class SheetError(ValueError):
    """A score sheet that must be refused; ``code`` names the rule, ``item`` the field."""

    def __init__(self, code: str, item: str | None = None) -> None:
        super().__init__(code if item is None else f"{code}: {item}")
        self.code = code
        self.item = item


def parse_value(raw: object) -> Decimal:
    """Read one item value from untrusted input; refuses bools, NaN, infinities and junk."""
    if isinstance(raw, bool) or raw is None:
        raise SheetError("not_a_number")
    if isinstance(raw, int | float | str):
        text = str(raw).strip()
        if not text or len(text) > 16:
            raise SheetError("not_a_number")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise SheetError("not_a_number") from None
        if not value.is_finite():
            raise SheetError("not_a_number")
        return value
    raise SheetError("not_a_number")


def validate_sheet(rubric: Sequence[RubricItem], values: object) -> dict[str, Decimal]:
    """Check a sheet against the rubric and return its values, keyed by item code.

    Every item must be present, numeric, within ``0..max`` and on its step; no
    unknown item may appear. The first fault found is raised as :class:`SheetError`.
    """
    if not isinstance(values, Mapping):
        raise SheetError("malformed")
    known = {item.code for item in rubric}
    for key in values:
        if key not in known:
            raise SheetError("unknown_item", str(key)[:40])
    checked: dict[str, Decimal] = {}
    for item in rubric:
        if item.code not in values:
            raise SheetError("missing_item", item.code)
        try:
            value = parse_value(values[item.code])
        except SheetError as err:
            raise SheetError(err.code, item.code) from None
        if value < 0 or value > item.max:
            raise SheetError("out_of_range", item.code)
        if value % item.step != 0:
            raise SheetError("wrong_step", item.code)
        checked[item.code] = value
    return checked


def sheet_total(values: Mapping[str, Decimal]) -> Decimal:
    """The exact sum of a validated sheet (no rounding: steps keep it exact)."""
    return sum(values.values(), Decimal(0))


def rubric_full_marks(rubric: Sequence[RubricItem]) -> Decimal:
    """Full marks of the interview: the sum of every item's maximum."""
    return sum((item.max for item in rubric), Decimal(0))


@dataclass(frozen=True)
class InterviewScore:
    """The panel's result for one round, with what was dropped so it can be shown."""

    totals: tuple[Decimal, ...]
    dropped_high: int | None
    dropped_low: int | None
    counted: int
    mean: Decimal | None

    @property
    def high_value(self) -> Decimal | None:
        return None if self.dropped_high is None else self.totals[self.dropped_high]

    @property
    def low_value(self) -> Decimal | None:
        return None if self.dropped_low is None else self.totals[self.dropped_low]


def round_half_up(value: Decimal) -> Decimal:
    """Round to 2 decimals, half away from zero, as announced scores are."""
    return value.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def interview_score(
    totals: Sequence[Decimal], threshold: int = DEFAULT_DROP_THRESHOLD
) -> InterviewScore:
    """Apply 去掉一个最高分和一个最低分 to the counted totals, in seat order.

    Indices returned refer to ``totals``. When the highest (or lowest) value is
    shared, the first seat holding it is the one struck; when every total is equal
    the first seat is struck as highest and the second as lowest.
    """
    counted = tuple(totals)
    if not counted:
        return InterviewScore(counted, None, None, 0, None)
    if len(counted) < max(threshold, 3):
        mean = round_half_up(sum(counted, Decimal(0)) / len(counted))
        return InterviewScore(counted, None, None, len(counted), mean)
    high = max(range(len(counted)), key=lambda i: (counted[i], -i))
    low = min((i for i in range(len(counted)) if i != high), key=lambda i: (counted[i], i))
    kept = [v for i, v in enumerate(counted) if i not in (high, low)]
    # Exact division: a tie at .xx5 can only arise from a terminating quotient, which
    # Decimal's 28 significant digits hold exactly, so the single rounding is honest.
    mean = round_half_up(sum(kept, Decimal(0)) / len(kept))
    return InterviewScore(counted, high, low, len(kept), mean)


def panel_result(
    seats: Sequence[tuple[int, str, Decimal | None]], threshold: int = DEFAULT_DROP_THRESHOLD
) -> dict[str, object]:
    """A round's published result from each seated rater's (seat number, status, total).

    ``status`` is ``scored`` (a total counts) or anything else (recused, absent,
    unrevealed, mismatch: no total counts). Figures are strings with two decimals. The
    server and the independent verifier both call this, so both publish the same thing.
    """
    ordered = sorted(seats)
    counted = [(n, t) for n, status, t in ordered if status == "scored" and t is not None]
    score = interview_score([t for _, t in counted], threshold)
    dropped: dict[int, str] = {}
    if score.dropped_high is not None and score.dropped_low is not None:
        dropped = {counted[score.dropped_high][0]: "high", counted[score.dropped_low][0]: "low"}

    def shown(value: Decimal | None) -> str | None:
        return None if value is None else f"{value.quantize(TWO_PLACES)}"

    return {
        "entries": [
            {
                "seat": n,
                "status": status,
                "total": shown(t) if status == "scored" else None,
                "dropped": dropped.get(n),
            }
            for n, status, t in ordered
        ],
        "mean": shown(score.mean),
        "high": shown(score.high_value),
        "low": shown(score.low_value),
        "counted": score.counted,
        "rule": "drop" if dropped else "all",
    }
