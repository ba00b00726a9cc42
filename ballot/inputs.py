"""The results' inputs and rules as plain JSON data, and back.

The server logs what it fed :func:`ballot.results.compute_results` when it publishes the
results (公示), and the verifier reads it back, re-derives each part from the log, and
computes the results again. Both sides go through these functions, so what is logged is
exactly what was computed with. Figures and decimals are strings (``"85.5"``,
``"absent"``); candidates and figures are lists, never objects keyed by registration
number (canonical JSON keeps object keys ASCII, docs/bundle-format.md §2).

Every reader refuses malformed data with :class:`InputError`, naming the part.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .allocation import AllocationError, Lot, TieBreak, check_chain
from .composite import Correction
from .model import (
    ABSENT,
    Candidate,
    CompositeRule,
    Figure,
    MarkError,
    Post,
    Stage,
    StageRule,
    figure_text,
)
from .results import ResultRules, Thresholds


class InputError(ValueError):
    """Logged inputs that cannot be read back; ``part`` names where."""

    def __init__(self, part: str, detail: str = "") -> None:
        super().__init__(f"{part}: {detail}" if detail else part)
        self.part = part


@dataclass(frozen=True)
class Inputs:
    """Everything :func:`compute_results` takes, as the server gave it."""

    posts: tuple[Post, ...]
    candidates: tuple[Candidate, ...]
    figures: Mapping[str, Mapping[Stage, Figure]]
    rules: ResultRules
    corrections: tuple[Correction, ...]
    lots: tuple[Lot, ...]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: object, part: str) -> Decimal:
    if not isinstance(value, str):
        raise InputError(part, "not a decimal string")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise InputError(part, f"not a number: {value!r}") from None
    if not number.is_finite():
        raise InputError(part, "not a finite number")
    return number


def figure_from_text(value: object, part: str) -> Figure:
    """A figure as logged: the mark's digits or ``absent``."""
    if value == ABSENT.value:
        return ABSENT
    return _decimal(value, part)


def rules_to_json(rules: ResultRules) -> dict[str, Any]:
    """The rules as logged: every stage's full marks, step and weight, the tie-break
    chain, the thresholds and the advancement ratio."""
    return {
        "stages": [
            {
                "stage": stage.value,
                "full_marks": str(rule.full_marks),
                "step": str(rule.step),
                "weight": str(rule.weight),
            }
            for stage, rule in ((s, rules.composite[s]) for s in Stage)
        ],
        "chain": [step.value for step in rules.chain],
        "min_composite": _text(rules.thresholds.min_composite),
        "min_marks": [
            {"stage": stage.value, "minimum": str(rules.thresholds.min_marks[stage])}
            for stage in Stage
            if stage in rules.thresholds.min_marks
        ],
        "advancement_ratio": rules.advancement_ratio,
    }


def rules_from_json(data: object) -> ResultRules:
    """Read logged rules back, refusing anything the results could not run with."""
    if not isinstance(data, Mapping):
        raise InputError("rules", "not an object")
    try:
        stages = {
            Stage(s["stage"]): StageRule(
                _decimal(s["full_marks"], "rules.full_marks"),
                _decimal(s["step"], "rules.step"),
                _decimal(s["weight"], "rules.weight"),
            )
            for s in data["stages"]
        }
        chain = tuple(TieBreak(step) for step in data["chain"])
        check_chain(chain)
        minimum = data["min_composite"]
        thresholds = Thresholds(
            None if minimum is None else _decimal(minimum, "rules.min_composite"),
            {
                Stage(m["stage"]): _decimal(m["minimum"], "rules.min_marks")
                for m in data["min_marks"]
            },
        )
        ratio = data["advancement_ratio"]
        if ratio is not None and (
            isinstance(ratio, bool) or not isinstance(ratio, int) or ratio < 1
        ):
            raise InputError("rules.advancement_ratio", "not a whole number of at least 1")
        return ResultRules(CompositeRule(stages), chain, thresholds, ratio)
    except (KeyError, TypeError, ValueError, MarkError, AllocationError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError("rules", str(exc)) from None


def figures_to_json(figures: Mapping[str, Mapping[Stage, Figure]]) -> list[dict[str, Any]]:
    """Figures as a list by candidate id; a missing stage is left out."""
    return [
        {
            "candidate": candidate,
            **{stage.value: figure_text(f) for stage, f in sorted(figures[candidate].items())},
        }
        for candidate in sorted(figures)
    ]


def figures_from_json(data: object) -> dict[str, dict[Stage, Figure]]:
    if not isinstance(data, list):
        raise InputError("figures", "not a list")
    out: dict[str, dict[Stage, Figure]] = {}
    for row in data:
        if not isinstance(row, Mapping) or not isinstance(row.get("candidate"), str):
            raise InputError("figures", "a row without a candidate")
        if row["candidate"] in out:
            raise InputError("figures", f"{row['candidate']} twice")
        unknown = set(row) - {"candidate", *(s.value for s in Stage)}
        if unknown:
            raise InputError("figures", f"unknown stage {sorted(unknown)[0]}")
        out[row["candidate"]] = {
            stage: figure_from_text(row[stage.value], f"figures.{stage.value}")
            for stage in Stage
            if stage.value in row
        }
    return out


def correction_to_json(c: Correction) -> dict[str, Any]:
    return {
        "id": c.id,
        "stage": c.stage.value,
        "candidate": c.candidate,
        "old": figure_text(c.old),
        "new": figure_text(c.new),
        "reason": c.reason,
        "entered_by": c.entered_by,
        "confirmed_by": c.confirmed_by,
    }


def correction_from_json(data: object) -> Correction:
    if not isinstance(data, Mapping):
        raise InputError("corrections", "not an object")
    try:
        texts = [data[k] for k in ("id", "candidate", "reason", "entered_by")]
        confirmed = data["confirmed_by"]
        if not all(isinstance(t, str) for t in texts) or not (
            confirmed is None or isinstance(confirmed, str)
        ):
            raise InputError("corrections", "a text field is not text")
        return Correction(
            data["id"],
            Stage(data["stage"]),
            data["candidate"],
            figure_from_text(data["old"], "corrections.old"),
            figure_from_text(data["new"], "corrections.new"),
            data["reason"],
            data["entered_by"],
            confirmed,
        )
    except (KeyError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError("corrections", str(exc)) from None


def inputs_to_json(inputs: Inputs) -> dict[str, Any]:
    """The inputs as logged with a publication of the results."""
    return {
        "posts": [{"code": p.code, "name": p.name, "seats": p.seats} for p in inputs.posts],
        "candidates": [
            {"id": c.id, "name": c.name, "preferences": list(c.preferences)}
            for c in inputs.candidates
        ],
        "figures": figures_to_json(inputs.figures),
        "rules": rules_to_json(inputs.rules),
        "corrections": [correction_to_json(c) for c in inputs.corrections],
        "lots": [{"order": list(lot.order), "key": lot.key} for lot in inputs.lots],
    }


def _strings(value: object, part: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(part, "not a list of text")
    return tuple(value)


def inputs_from_json(data: object) -> Inputs:
    """Read logged inputs back (the verifier's side)."""
    if not isinstance(data, Mapping):
        raise InputError("inputs", "not an object")
    try:
        posts = tuple(Post(p["code"], p["name"], p["seats"]) for p in data["posts"])
        if not all(
            isinstance(p.code, str) and isinstance(p.name, str) and type(p.seats) is int
            for p in posts
        ):
            raise InputError("posts", "a post's code, name or seats has the wrong type")
        candidates = tuple(
            Candidate(c["id"], c["name"], _strings(c["preferences"], "candidates.preferences"))
            for c in data["candidates"]
        )
        if not all(isinstance(c.id, str) and isinstance(c.name, str) for c in candidates):
            raise InputError("candidates", "an id or name is not text")
        lots = tuple(
            Lot(_strings(lot["order"], "lots.order"), str(lot["key"])) for lot in data["lots"]
        )
        return Inputs(
            posts,
            candidates,
            figures_from_json(data["figures"]),
            rules_from_json(data["rules"]),
            tuple(correction_from_json(c) for c in data["corrections"]),
            lots,
        )
    except (KeyError, TypeError) as exc:
        raise InputError("inputs", f"{type(exc).__name__}: {exc}") from None
