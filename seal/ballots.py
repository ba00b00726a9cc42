"""Re-deriving the democratic evaluation (民主测评) from the log, for the verifier.

Terms (docs/bundle-format.md §4 and §7):
- ``evaluation_opened`` fixes the scheme, the groups with the ballots issued to each, and
  the candidates (registration numbers) a ballot rates.
- ``ballot_cast`` (actor ``evaluator``) says one ballot of a group was cast, and nothing
  else: no token, no marks. ``evaluation_closed`` states the count per group.
- ``ballot`` (actor ``system``) holds one ballot's group and marks rows; every ballot is
  logged after the close, in a random order, so the log's order says nothing about who
  cast which. A ballot leaf holding anything more fails: it could be a link.
- ``evaluation_result`` is the announced result, which must equal the one re-derived with
  ``ballot.evaluation.published`` from the ballot leaves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ballot.evaluation import (
    Ballot,
    EvaluationError,
    Scheme,
    ballot_from_rows,
    check_rows,
    published,
    scheme_from_json,
)


@dataclass
class EvaluationLog:
    """The evaluation as the log builds it up."""

    scheme: Scheme
    issued: dict[str, int]  # group -> ballots issued, in the set-up's order
    candidates: list[str]
    state: str = "open"  # open, closed (ballots being logged), published
    cast: dict[str, int] = field(default_factory=dict)
    ballots: list[Ballot] = field(default_factory=list)
    result: dict[str, Any] | None = None


class EvaluationReplay:
    """The ``on_<leaf type>`` handlers of the evaluation's leaves, mixed into the replay."""

    evaluation: EvaluationLog | None

    def fail(self, index: int, text: str) -> None:
        raise NotImplementedError

    def _evaluation(self, index: int, state: str, what: str) -> EvaluationLog | None:
        found = self.evaluation
        if found is None or found.state != state:
            self.fail(
                index, f"{what} while the evaluation is {found.state if found else 'not open'}"
            )
            return None
        return found

    def _only(self, index: int, entry: dict, keys: set[str], actor: str) -> bool:
        """A leaf carrying exactly ``keys``, logged for ``actor``: anything more could
        link a ballot to a person, so it fails."""
        if set(entry["data"]) != keys or entry["actor"] != actor:
            self.fail(index, f"a {entry['type']} entry carries more than {sorted(keys)}")
            return False
        return True

    def on_evaluation_opened(self, index: int, entry: dict, data: dict) -> None:
        if self.evaluation is not None:
            self.fail(index, "the evaluation is opened a second time")
            return
        try:
            scheme = scheme_from_json(data["scheme"])
        except EvaluationError:
            self.fail(index, "the evaluation opens with a counting rule that is not valid")
            return
        issued = {g["name"]: g["ballots"] for g in data["groups"]}
        candidates = list(data["candidates"])
        if len(issued) != len(data["groups"]) or len(set(candidates)) != len(candidates):
            self.fail(index, "the evaluation names a group or a candidate twice")
            return
        if any(not isinstance(n, int) or isinstance(n, bool) or n < 0 for n in issued.values()):
            self.fail(index, "the evaluation issues a number of ballots that is not a count")
            return
        if not set(scheme.group_weights or {}) <= set(issued):
            self.fail(index, "the evaluation weighs a group it does not have")
        self.evaluation = EvaluationLog(scheme, issued, candidates)
        self.evaluation.cast = {g: 0 for g in issued}

    def on_ballot_cast(self, index: int, entry: dict, data: dict) -> None:
        found = self._evaluation(index, "open", "a ballot is cast")
        if found is None or not self._only(index, entry, {"group"}, "evaluator"):
            return
        group = data["group"]
        if group not in found.issued:
            self.fail(index, f"a ballot is cast for group {group!r}, which was never set up")
        elif found.cast[group] >= found.issued[group]:
            self.fail(index, f"group {group!r} casts more ballots than it was issued")
        else:
            found.cast[group] += 1

    def on_evaluation_closed(self, index: int, entry: dict, data: dict) -> None:
        found = self._evaluation(index, "open", "the evaluation closes")
        if found is None:
            return
        stated = [{"group": g, "count": n} for g, n in found.cast.items()]
        if data["cast"] != stated:
            self.fail(index, "the close states other counts than the ballots cast in the log")
        found.state = "closed"

    def on_ballot(self, index: int, entry: dict, data: dict) -> None:
        found = self._evaluation(index, "closed", "a ballot's marks are logged")
        if found is None or not self._only(index, entry, {"group", "marks"}, "system"):
            return
        group = data["group"]
        logged = sum(1 for b in found.ballots if b.group == group)
        if group not in found.cast or logged >= found.cast[group]:
            self.fail(index, f"more ballots of group {group!r} are logged than were cast")
            return
        try:
            rows = check_rows(found.scheme, found.candidates, data["marks"])
        except EvaluationError:
            self.fail(index, "a ballot's marks are not one known grade or a gap per dimension")
            return
        found.ballots.append(ballot_from_rows(found.scheme, found.candidates, group, rows))

    def on_evaluation_result(self, index: int, entry: dict, data: dict) -> None:
        found = self._evaluation(index, "closed", "the evaluation's result is announced")
        if found is None:
            return
        if len(found.ballots) != sum(found.cast.values()):
            self.fail(
                index,
                f"the result counts {len(found.ballots)} logged ballots, "
                f"but {sum(found.cast.values())} were cast",
            )
        result = published(found.scheme, found.candidates, list(found.issued), found.ballots)
        if data["result"] != result:
            self.fail(index, "the evaluation's announced result is not what its ballots give")
        found.state, found.result = "published", result
