"""Ranking, the tie-break chain, and post allocation by stable assignment.

Terms:
- *order*: every complete candidate, best first, by composite, then by each step of the
  *tie-break chain* in turn (default: higher interview mark, higher written mark, higher
  evaluation mark, then a recorded *lot*). Stage steps compare the stage's mark in force
  (finer than the weighted score). Candidates equal on everything form a *tied group*
  that shares one rank (competition ranking: 1, 2, 2, 4). Input order never breaks a tie.
- *lot*: a recorded ordering of candidates (earlier wins), e.g. an RFC 3797 draw
  (:func:`draw_lot`) among the tied. It breaks a tied group only when one lot orders
  every member of the group; a candidate may be in at most one lot.
- *post ranking*: the order restricted to the candidates who named the post (either
  preference); a rank on a post counts only those candidates.
- *allocation*: candidates in order each take their most preferred post that still has a
  seat and for which they are *eligible* (meet the thresholds); nobody takes two posts.
  This is serial dictatorship over one common order, hence *stable*: nobody prefers a
  post that went to someone ranked below them on it.
- *contest*: a tied group wanting more seats of a post than are left: an unbroken tie at
  a seat boundary. Then every order of the group is followed; a candidate's outcome is
  *decided* only when it is the same in all of them, and the contest is flagged for the
  organiser (to record a lot), never settled by list order.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from .composite import CompositeResult, Standing
from .lots import draw
from .model import Post, Stage
from .reasons import Reason, ReasonCode

MAX_STATES = 4096  # distinct allocations followed at once before asking for a lot


class AllocationError(ValueError):
    """Inputs that cannot be ranked or allocated; the message says what to fix."""


class TieBreak(enum.StrEnum):
    INTERVIEW = "interview"
    WRITTEN = "written"
    EVALUATION = "evaluation"
    LOT = "lot"


DEFAULT_CHAIN = (TieBreak.INTERVIEW, TieBreak.WRITTEN, TieBreak.EVALUATION, TieBreak.LOT)


@dataclass(frozen=True)
class Lot:
    """A recorded ordering of candidates, earlier first; ``key`` the RFC 3797 key string."""

    order: tuple[str, ...]
    key: str = ""


def draw_lot(
    pool: Sequence[str], sources: Sequence[Sequence[int]], hash_name: str = "sha256"
) -> Lot:
    """Order a published pool (e.g. the tied candidates by registration number) by an
    RFC 3797 draw over the announced sources; anyone can redo it from the same inputs."""
    key, steps = draw(len(pool), len(pool), sources, hash_name)
    return Lot(tuple(pool[s.selected - 1] for s in steps), key)


@dataclass(frozen=True)
class Placed:
    """A candidate's place in the order."""

    candidate: str
    rank: int
    tied: bool  # shares the rank with another: the chain could not separate them
    broken_by: TieBreak | None  # what put them below a candidate with the same composite


@dataclass(frozen=True)
class Ordering:
    groups: tuple[tuple[str, ...], ...]  # best first; a group of several is an unbroken tie
    places: Mapping[str, Placed]


def check_chain(chain: Sequence[TieBreak]) -> None:
    if len(set(chain)) != len(chain):
        raise AllocationError("a tie-break step appears twice in the chain")
    if TieBreak.LOT in chain and chain[-1] is not TieBreak.LOT:
        raise AllocationError("the lot must be the last step of the chain")


def rank_order(
    results: Iterable[CompositeResult],
    chain: Sequence[TieBreak] = DEFAULT_CHAIN,
    lots: Sequence[Lot] = (),
) -> Ordering:
    """The order of the complete candidates; others are left out (they are not ranked)."""
    check_chain(chain)
    stages = [Stage(step.value) for step in chain if step is not TieBreak.LOT]
    in_lot: dict[str, tuple[int, int]] = {}
    for number, lot in enumerate(lots):
        for position, candidate in enumerate(lot.order):
            if candidate in in_lot:
                raise AllocationError(f"{candidate} is in more than one lot")
            in_lot[candidate] = (number, position)

    def key(result: CompositeResult) -> tuple[Decimal, ...]:
        assert result.composite is not None
        return (result.composite, *(result.mark(s) for s in stages))

    complete = {r.candidate: r for r in results if r.standing is Standing.COMPLETE}
    by_key: dict[tuple[Decimal, ...], list[str]] = {}
    for candidate in sorted(complete):
        by_key.setdefault(key(complete[candidate]), []).append(candidate)
    groups: list[tuple[str, ...]] = []
    for k in sorted(by_key, reverse=True):
        members = by_key[k]
        lots_used = {in_lot[m][0] if m in in_lot else None for m in members}
        if (
            len(members) > 1
            and TieBreak.LOT in chain
            and len(lots_used) == 1
            and None not in lots_used
        ):
            groups.extend((m,) for m in sorted(members, key=lambda m: in_lot[m][1]))
        else:
            groups.append(tuple(members))
    places: dict[str, Placed] = {}
    above: str | None = None
    rank = 1
    for group in groups:
        for member in group:
            broken_by = None
            if above is not None and len(group) == 1:
                a, b = complete[above], complete[member]
                if a.composite == b.composite:
                    differs = [s for s in stages if a.mark(s) != b.mark(s)]
                    broken_by = TieBreak(differs[0].value) if differs else TieBreak.LOT
            places[member] = Placed(member, rank, len(group) > 1, broken_by)
        above = group[-1]
        rank += len(group)
    return Ordering(tuple(groups), places)


def post_ranks(
    ordering: Ordering, preferences: Mapping[str, Sequence[str]]
) -> dict[str, dict[str, tuple[int, bool]]]:
    """post -> candidate -> (rank on the post, shared), over the candidates who named it."""
    ranks: dict[str, dict[str, tuple[int, bool]]] = {}
    for group in ordering.groups:
        named: dict[str, list[str]] = {}
        for member in group:
            for post in preferences[member]:
                named.setdefault(post, []).append(member)
        for post, members in named.items():
            on_post = ranks.setdefault(post, {})
            rank = len(on_post) + 1
            for member in members:
                on_post[member] = (rank, len(members) > 1)
    return ranks


@dataclass(frozen=True)
class Contest:
    """An unbroken tie at a seat boundary: more of ``candidates`` want ``post`` than the
    ``left`` seats it still has when their turn comes."""

    post: str
    candidates: tuple[str, ...]
    left: int


@dataclass(frozen=True)
class Allocation:
    outcomes: Mapping[str, frozenset[str | None]]  # each ranked candidate's possible posts
    states: tuple[Mapping[str, str | None], ...]  # every possible allocation: who gets what
    contests: tuple[Contest, ...]

    def decided(self, candidate: str) -> bool:
        return len(self.outcomes[candidate]) == 1

    def post_of(self, candidate: str) -> str | None:
        """The candidate's post when decided (None: no post); raises when undecided."""
        (post,) = self.outcomes[candidate]
        return post


State = frozenset[tuple[str, str | None]]


def allocate(
    posts: Sequence[Post],
    preferences: Mapping[str, Sequence[str]],
    ordering: Ordering,
    eligible: Collection[str],
) -> Allocation:
    """Serial dictatorship over the order; every order of an unbroken tied group is
    followed where it matters (see the module's *contest*)."""
    seats = {p.code: p.seats for p in posts}
    contests: set[Contest] = set()

    def best(member: str, left: Mapping[str, int]) -> str | None:
        if member not in eligible:
            return None
        return next((p for p in preferences[member] if left[p] > 0), None)

    def outcomes(members: frozenset[str], left: dict[str, int]) -> set[State]:
        wanted = {m: best(m, left) for m in members}
        demand = Counter(p for p in wanted.values() if p is not None)
        over = [p for p, n in demand.items() if n > left[p]]
        if not over:  # nobody's choice is taken by a peer: any order gives this
            return {frozenset(wanted.items())}
        for post in over:
            tied = tuple(sorted(m for m in members if wanted[m] == post))
            contests.add(Contest(post, tied, left[post]))
        found: set[State] = set()
        for first in sorted(members):
            taken = wanted[first]
            after = dict(left)
            if taken is not None:
                after[taken] -= 1
            for rest in outcomes(members - {first}, after):
                found.add(rest | {(first, taken)})
        return found

    states: set[State] = {frozenset()}
    for group in ordering.groups:
        following: set[State] = set()
        for state in states:
            left = dict(seats)
            for _, post in state:
                if post is not None:
                    left[post] -= 1
            following.update(state | o for o in outcomes(frozenset(group), left))
        states = following
        if len(states) > MAX_STATES:
            raise AllocationError("too many unbroken ties to follow: record lots for them")
    possible: dict[str, set[str | None]] = {}
    for state in states:
        for member, post in state:
            possible.setdefault(member, set()).add(post)
    ordered = sorted(states, key=lambda s: sorted((m, p or "") for m, p in s))
    return Allocation(
        {m: frozenset(p) for m, p in possible.items()},
        tuple(dict(s) for s in ordered),
        tuple(sorted(contests, key=lambda c: (c.post, c.candidates))),
    )


def preference_reasons(
    candidate: str,
    preferences: Sequence[str],
    seats: Mapping[str, int],
    ranks: Mapping[str, Mapping[str, tuple[int, bool]]],
    allocation: Allocation,
    below: Mapping[str, str] | None,
) -> tuple[Reason, ...]:
    """One reason per preference of a ranked candidate. ``below`` holds the threshold the
    candidate fails (``measure``, ``value``, ``minimum``), or None when eligible."""
    contested = {c.post for c in allocation.contests if candidate in c.candidates}
    reasons = []
    for number, post in enumerate(preferences, start=1):
        rank, tied = ranks[post][candidate]
        base: dict[str, str | int] = {
            "pref": number,
            "post": post,
            "rank": rank,
            "tied": int(tied),
            "seats": seats[post],
        }
        if below is not None:
            reasons.append(Reason(ReasonCode.BELOW_THRESHOLD, {**base, **below}))
            continue
        verdicts = set()
        for state in allocation.states:
            got = state[candidate]
            if got == post:
                verdicts.add((ReasonCode.ASSIGNED, 0))
            elif got is not None and preferences.index(got) < number - 1:
                verdicts.add((ReasonCode.HIGHER_PREFERENCE, preferences.index(got) + 1))
            else:
                verdicts.add((ReasonCode.POST_FULL, 0))
        if len(verdicts) == 1:
            ((code, assigned),) = verdicts
            params = {**base, "assigned": assigned} if assigned else base
            reasons.append(Reason(code, params))
        elif post in contested:
            left = min(
                c.left for c in allocation.contests if c.post == post and candidate in c.candidates
            )
            reasons.append(Reason(ReasonCode.TIE_UNRESOLVED, {**base, "left": left}))
        else:
            reasons.append(Reason(ReasonCode.DEPENDS_ON_TIE, base))
    return tuple(reasons)
