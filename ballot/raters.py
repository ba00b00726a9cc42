"""Per-rater analysis for the monitors (纪检): who scores far from the panel, who is
often struck as the highest or lowest.

Terms:
- *panel score*: a round's published interview score (``ballot.scoring.panel_result``'s
  ``mean``), the figure each rater's total is compared with.
- *deviation*: a rater's total minus the panel score of that round. A rater's *mean
  deviation* is signed (lenient raters are positive, severe ones negative); the *mean
  absolute deviation* shows scatter even when it cancels out. Both over the rounds the
  rater scored, exact, then rounded half-up to 2 decimals.
- *dropped high / low*: how often the rater's total was the one struck by
  去掉一个最高分和一个最低分.
- *flags* (thresholds configurable): mean deviation beyond ``max_mean_deviation``
  either way (default 5 points), or struck as highest (or lowest) in more than
  ``max_dropped_share`` of the rounds scored (default one half), once the rater has scored
  at least ``min_rounds`` rounds (default 3), so one round never flags anyone.
Rounds seated without a counted total (recused, sheet never opened) count apart as
*unscored* and are in no mean.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .scoring import round_half_up


class Dropped(enum.StrEnum):
    HIGH = "high"
    LOW = "low"


@dataclass(frozen=True)
class RaterTotal:
    rater: str
    total: Decimal | None  # None when the rater did not score (recused, no opening)
    status: str = "scored"
    dropped: Dropped | None = None


@dataclass(frozen=True)
class PanelRound:
    round: str
    mean: Decimal | None  # the panel score; None when nobody scored
    sheets: tuple[RaterTotal, ...]


def panel_round(
    round_id: str, published: Mapping[str, Any], rater_of_seat: Mapping[int, str]
) -> PanelRound:
    """A round as :func:`ballot.scoring.panel_result` published it, seats named by rater.

    Seats not in ``rater_of_seat`` keep ``seat <n>`` as their name."""
    mean = published.get("mean")
    sheets = tuple(
        RaterTotal(
            rater_of_seat.get(entry["seat"], f"seat {entry['seat']}"),
            None if entry.get("total") is None else Decimal(entry["total"]),
            entry["status"],
            None if entry.get("dropped") is None else Dropped(entry["dropped"]),
        )
        for entry in published["entries"]
    )
    return PanelRound(round_id, None if mean is None else Decimal(mean), sheets)


@dataclass(frozen=True)
class RaterThresholds:
    max_mean_deviation: Decimal = Decimal(5)
    max_dropped_share: Decimal = Decimal("0.5")
    min_rounds: int = 3


class RaterFlag(enum.StrEnum):
    LENIENT = "lenient"  # mean deviation above +threshold
    SEVERE = "severe"  # mean deviation below -threshold
    OFTEN_HIGH = "often_dropped_high"
    OFTEN_LOW = "often_dropped_low"


@dataclass(frozen=True)
class RaterStats:
    rater: str
    rounds: int  # rounds scored against a panel score
    unscored: int  # rounds seated without a counted total
    mean_deviation: Decimal | None
    mean_abs_deviation: Decimal | None
    dropped_high: int
    dropped_low: int
    flags: tuple[RaterFlag, ...]


def rater_analysis(
    rounds: Iterable[PanelRound], thresholds: RaterThresholds | None = None
) -> tuple[RaterStats, ...]:
    """Every rater's figures and flags, by rater name."""
    limits = thresholds or RaterThresholds()
    deviations: dict[str, list[Decimal]] = {}
    unscored: dict[str, int] = {}
    dropped: dict[str, dict[Dropped, int]] = {}
    for panel in rounds:
        for sheet in panel.sheets:
            deviations.setdefault(sheet.rater, [])
            dropped.setdefault(sheet.rater, {Dropped.HIGH: 0, Dropped.LOW: 0})
            if sheet.total is None or sheet.status != "scored" or panel.mean is None:
                unscored[sheet.rater] = unscored.get(sheet.rater, 0) + 1
                continue
            deviations[sheet.rater].append(sheet.total - panel.mean)
            if sheet.dropped is not None:
                dropped[sheet.rater][sheet.dropped] += 1
    stats = []
    for rater in sorted(deviations):
        values = deviations[rater]
        n = len(values)
        mean = round_half_up(sum(values, Decimal(0)) / n) if n else None
        spread = round_half_up(sum((abs(v) for v in values), Decimal(0)) / n) if n else None
        high, low = dropped[rater][Dropped.HIGH], dropped[rater][Dropped.LOW]
        flags = []
        if mean is not None and mean > limits.max_mean_deviation:
            flags.append(RaterFlag.LENIENT)
        if mean is not None and mean < -limits.max_mean_deviation:
            flags.append(RaterFlag.SEVERE)
        if n >= limits.min_rounds and high > limits.max_dropped_share * n:
            flags.append(RaterFlag.OFTEN_HIGH)
        if n >= limits.min_rounds and low > limits.max_dropped_share * n:
            flags.append(RaterFlag.OFTEN_LOW)
        stats.append(
            RaterStats(rater, n, unscored.get(rater, 0), mean, spread, high, low, tuple(flags))
        )
    return tuple(stats)


FLAG_LABELS = {
    "zh": {
        RaterFlag.LENIENT: "平均偏高",
        RaterFlag.SEVERE: "平均偏低",
        RaterFlag.OFTEN_HIGH: "常被去掉最高分",
        RaterFlag.OFTEN_LOW: "常被去掉最低分",
    },
    "en": {
        RaterFlag.LENIENT: "lenient",
        RaterFlag.SEVERE: "severe",
        RaterFlag.OFTEN_HIGH: "often dropped as highest",
        RaterFlag.OFTEN_LOW: "often dropped as lowest",
    },
}
HEADERS = {
    "zh": ["评委", "评分轮数", "未计分轮数", "平均偏差", "平均绝对偏差", "被去掉最高分",
           "被去掉最低分", "提示"],
    "en": ["rater", "rounds", "unscored rounds", "mean deviation", "mean absolute deviation",
           "dropped high", "dropped low", "flags"],
}  # fmt: skip


def analysis_rows(
    stats: Sequence[RaterStats], lang: str = "zh"
) -> tuple[list[str], list[list[Any]]]:
    """The analysis as a table for the export (deviations stay numbers, negatives too)."""
    labels = FLAG_LABELS[lang]
    rows: list[list[Any]] = [
        [s.rater, s.rounds, s.unscored, s.mean_deviation, s.mean_abs_deviation, s.dropped_high,
         s.dropped_low, "、".join(labels[f] for f in s.flags) if lang == "zh"
         else "; ".join(labels[f] for f in s.flags)]
        for s in stats
    ]  # fmt: skip
    return list(HEADERS[lang]), rows
