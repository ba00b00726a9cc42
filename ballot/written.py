"""The written exam (笔试): double entry of marks (两人录入核对) and the advancement rule.

Terms:
- *entry*: one clerk's figure for one candidate, typed from the paper, blind to any other.
- *reconciliation* of a candidate's entries, in the order they were made: the first
  entry by one clerk, the second by a *different* clerk. Their states:
  ``missing`` (no entry), ``awaiting_second`` (one clerk so far), ``matched`` (two clerks,
  the same figure), ``mismatched`` (two clerks, different figures), ``resolved`` (a
  *resolution* settled a mismatch).
- *resolution*: a third person's decision on a mismatch: who decided, why, and which of
  the two entered figures is right. The decider must be neither clerk, and must pick one
  of the two figures, so every mark that counts was typed or chosen by two people. If the
  paper shows a third figure, both entries were wrong: resolve to either and correct it
  with a two-account correction (``ballot.composite``), which shows the reason.
- Only ``matched`` and ``resolved`` marks *count*. A clerk's second entry for the same
  candidate is refused (``same_clerk``): one person typing twice is not two people.
- *advancement* (optional, off by default): only the best ``ratio`` candidates per seat
  of each post, by written mark, go on to the interview (e.g. 1:3). A candidate advances
  if they make the cut on any post they named; everyone tied with the last place advances
  too (并列的一并进入). Absent candidates never advance; a post with a candidate whose
  mark does not count yet has no cut until it does.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from .model import Absence, Candidate, Figure, MarkError, Post, StageRule, check_figure


class EntryState(enum.StrEnum):
    MISSING = "missing"
    AWAITING_SECOND = "awaiting_second"
    MATCHED = "matched"
    MISMATCHED = "mismatched"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Entry:
    """One clerk's figure for one candidate."""

    candidate: str
    clerk: str
    figure: Figure


@dataclass(frozen=True)
class Resolution:
    """A third person's choice between two mismatched entries, with the reason."""

    candidate: str
    decided_by: str
    figure: Figure
    reason: str


@dataclass(frozen=True)
class Refusal:
    """An entry or resolution that does not count, and the rule it broke."""

    code: str
    candidate: str
    by: str


@dataclass(frozen=True)
class WrittenMark:
    """A candidate's entries and where they stand."""

    candidate: str
    first: Entry | None = None
    second: Entry | None = None
    resolution: Resolution | None = None

    @property
    def state(self) -> EntryState:
        if self.resolution is not None:
            return EntryState.RESOLVED
        if self.first is None:
            return EntryState.MISSING
        if self.second is None:
            return EntryState.AWAITING_SECOND
        if self.first.figure == self.second.figure:
            return EntryState.MATCHED
        return EntryState.MISMATCHED

    @property
    def counted(self) -> Figure | None:
        """The figure that counts, or None while two people have not agreed."""
        if self.resolution is not None:
            return self.resolution.figure
        if self.state is EntryState.MATCHED and self.first is not None:
            return self.first.figure
        return None


def enter(mark: WrittenMark, entry: Entry, rule: StageRule) -> WrittenMark:
    """The mark after one more entry; raises :class:`MarkError` if it must be refused."""
    check_figure(entry.figure, rule)
    if mark.first is None:
        return replace(mark, first=entry)
    if entry.clerk == mark.first.clerk:
        raise MarkError("same_clerk", "the second entry must come from another clerk")
    if mark.second is not None:
        raise MarkError("entered_twice", "two clerks have already entered this mark")
    return replace(mark, second=entry)


def resolve(mark: WrittenMark, resolution: Resolution, rule: StageRule) -> WrittenMark:
    """The mark after a resolution; raises :class:`MarkError` if it must be refused."""
    check_figure(resolution.figure, rule)
    if mark.state is not EntryState.MISMATCHED or mark.first is None or mark.second is None:
        raise MarkError("not_mismatched", f"the mark is {mark.state}")
    if resolution.decided_by in (mark.first.clerk, mark.second.clerk):
        raise MarkError("decider_entered", "a clerk who entered the mark cannot decide it")
    if not resolution.reason.strip():
        raise MarkError("no_reason")
    if resolution.figure not in (mark.first.figure, mark.second.figure):
        raise MarkError("not_an_entry", "choose one of the two entered figures")
    return replace(mark, resolution=resolution)


@dataclass(frozen=True)
class Reconciliation:
    marks: tuple[WrittenMark, ...]  # in the candidates' order
    refused: tuple[Refusal, ...]

    def counted(self) -> dict[str, Figure]:
        """Every counted figure by candidate: what the composite may use."""
        return {m.candidate: f for m in self.marks if (f := m.counted) is not None}

    def in_state(self, state: EntryState) -> tuple[str, ...]:
        return tuple(m.candidate for m in self.marks if m.state is state)


def reconcile(
    candidates: Sequence[str],
    entries: Iterable[Entry],
    resolutions: Iterable[Resolution],
    rule: StageRule,
) -> Reconciliation:
    """Replay every entry, then every resolution, in the order made; refused ones are
    listed with their code and change nothing. The server and the verifier both call this.
    """
    marks = {c: WrittenMark(c) for c in candidates}
    refused: list[Refusal] = []
    steps: list[tuple[str, str, Entry | Resolution]] = [
        *((e.candidate, e.clerk, e) for e in entries),
        *((r.candidate, r.decided_by, r) for r in resolutions),
    ]
    for candidate, by, step in steps:
        if candidate not in marks:
            refused.append(Refusal("unknown_candidate", candidate, by))
            continue
        try:
            if isinstance(step, Entry):
                marks[candidate] = enter(marks[candidate], step, rule)
            else:
                marks[candidate] = resolve(marks[candidate], step, rule)
        except MarkError as err:
            refused.append(Refusal(err.code, candidate, by))
    return Reconciliation(tuple(marks[c] for c in candidates), tuple(refused))


@dataclass(frozen=True)
class PostCut:
    """One post's advancement cut: how many places, the lowest mark that advanced."""

    post: str
    places: int
    lowest: Decimal | None  # None: nobody advanced, or no cut yet
    advanced: tuple[str, ...]
    decided: bool  # False while a candidate who named the post has no counted mark


@dataclass(frozen=True)
class Advancement:
    ratio: int
    advanced: frozenset[str]
    pending: frozenset[str]  # named a post whose cut is not decided yet
    cuts: tuple[PostCut, ...]


def advancement(
    posts: Sequence[Post],
    candidates: Sequence[Candidate],
    marks: Mapping[str, Figure],
    ratio: int,
) -> Advancement:
    """Who goes on to the interview under 1:``ratio`` per seat, by counted written mark."""
    if ratio < 1:
        raise MarkError("bad_rule", "the ratio must be at least 1")
    cuts = []
    advanced: set[str] = set()
    undecided: set[str] = set()
    for post in posts:
        named = [c.id for c in candidates if post.code in c.preferences]
        places = post.seats * ratio
        if any(c not in marks for c in named):
            cuts.append(PostCut(post.code, places, None, (), False))
            undecided.add(post.code)
            continue
        sat = sorted((m, c) for c in named if not isinstance(m := marks[c], Absence))[
            ::-1
        ]  # best first; equal marks are all in or all out below
        lowest = sat[min(places, len(sat)) - 1][0] if sat else None
        made = tuple(sorted(c for m, c in sat if lowest is not None and m >= lowest))
        advanced.update(made)
        cuts.append(PostCut(post.code, places, lowest, made, True))
    pending = {
        c.id
        for c in candidates
        if c.id not in advanced and any(p in undecided for p in c.preferences)
    }
    return Advancement(ratio, frozenset(advanced), frozenset(pending), tuple(cuts))
