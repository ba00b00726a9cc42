"""Re-deriving the results (成绩与拟任人选) from the log, for the verifier.

Terms (docs/results.md, docs/bundle-format.md):
- ``results_rules_set`` logs the whole settings; they may only change before the first
  written entry and the first call into an interview room.
- ``written_entered`` / ``written_resolved`` are the double entry's entries and decisions;
  each must pass the double-entry rule (``ballot.written``) where it stands in the log.
- ``correction_applied`` is a correction a monitor confirmed: it must follow a request
  for the very same correction (``approval_requested``, act ``correction``) and be
  confirmed by an observer screen, not by the account that asked.
- ``results_published`` holds the inputs the server computed with and the results it
  published. The verifier rebuilds every input it can from the log (figures from the
  written entries, the interviews' round results by the number → registration-number list
  of ``interviews_ended``, the announced evaluation; the settings; the corrections; the
  tie lots), requires them to equal the logged ones, and computes the results again with
  ``ballot.results.compute_results``: they must equal the published document.
Posts, candidates' names and preferences are set-up, not derived: they are taken as the
publication gives them, and every candidate of the drawn pool must be among them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ballot.allocation import AllocationError, Lot
from ballot.composite import Correction
from ballot.inputs import (
    InputError,
    Inputs,
    correction_from_json,
    figure_from_text,
    inputs_from_json,
    inputs_to_json,
)
from ballot.model import ABSENT, Figure, MarkError, Stage
from ballot.results import compute_results, results_document
from ballot.settings import SettingError, Settings, result_rules, settings_from_json, written_rule
from ballot.written import Entry, Resolution, WrittenMark, enter, resolve

DEFAULT_FULL_MARKS = Decimal(100)


@dataclass
class ResultsLog:
    """What the log says of the results, built up leaf by leaf."""

    settings: Settings = field(default_factory=Settings)
    begun: bool = False  # a written entry or an interview call: settings fixed from here
    marks: dict[str, WrittenMark] = field(default_factory=dict)
    corrections: list[Correction] = field(default_factory=list)
    asked: list[dict[str, Any]] = field(default_factory=list)  # open correction/publish asks
    absent_rounds: set[int] = field(default_factory=set)
    numbered: dict[int, str] | None = None  # draw number -> reg. no., once published
    pool: list[str] | None = None
    announced: dict[str, dict[str, Any]] = field(default_factory=dict)  # evaluation leaves
    published: list[dict[str, Any]] = field(default_factory=list)


class ResultsReplay:
    """The ``on_<leaf type>`` handlers of the results' leaves, mixed into the replay."""

    outcome: ResultsLog
    rubric: list[dict[str, Any]]
    results: list[dict[str, Any]]
    draws: dict[int, dict[str, Any]]

    def fail(self, index: int, text: str) -> None:
        raise NotImplementedError

    def note_announced(self, index: int, kind: str, data: dict[str, Any]) -> None:
        """Keep the evaluation's announcement (its own handlers: ``seal.ballots``): the
        results read its scores and its scheme's full marks. Opening it fixes the results
        settings, whose evaluation weight its scheme must carry."""
        if kind not in ("evaluation_opened", "evaluation_result"):
            return
        self.outcome.announced[kind] = data
        if kind == "evaluation_opened":
            self.outcome.begun = True
            weight = self.outcome.settings.weights[Stage.EVALUATION]
            stated = data.get("scheme", {}).get("stage_weight") if isinstance(data, dict) else None
            try:
                same = stated is not None and Decimal(str(stated)) == Decimal(weight)
            except InvalidOperation:
                same = False
            if not same:
                self.fail(index, "the evaluation opens with another weight than the settings")

    def on_results_rules_set(self, index: int, entry: dict[str, Any], data: dict[str, Any]) -> None:
        if self.outcome.begun:
            self.fail(index, "the results settings changed after the first figure was taken")
        try:
            self.outcome.settings = settings_from_json(data["settings"])
        except SettingError as err:
            self.fail(index, f"the results settings are not valid ({err})")

    def on_candidate_called(self, index: int, entry: dict[str, Any], data: dict[str, Any]) -> None:
        self.outcome.begun = True

    def _mark(self, candidate: str) -> WrittenMark:
        return self.outcome.marks.setdefault(candidate, WrittenMark(candidate))

    def on_written_entered(self, index: int, entry: dict[str, Any], data: dict[str, Any]) -> None:
        self.outcome.begun = True
        clerk, imported = data["clerk"], data["source"] == "import"
        if imported != clerk.startswith("import:") or (not imported and entry["actor"] != clerk):
            self.fail(index, f"a written entry by {clerk} was logged for {entry['actor']}")
            return
        rule = written_rule(self.outcome.settings)
        try:
            figure = figure_from_text(data["figure"], "figure")
            marks = self.outcome.marks
            marks[data["candidate"]] = enter(
                self._mark(data["candidate"]), Entry(data["candidate"], clerk, figure), rule
            )
        except (MarkError, InputError) as err:
            self.fail(index, f"{data['candidate']}'s written entry breaks the rule ({err})")

    def on_written_resolved(self, index: int, entry: dict[str, Any], data: dict[str, Any]) -> None:
        if entry["actor"] != data["decided_by"]:
            self.fail(index, f"a decision by {data['decided_by']} was logged for {entry['actor']}")
            return
        rule = written_rule(self.outcome.settings)
        try:
            decision = Resolution(
                data["candidate"],
                data["decided_by"],
                figure_from_text(data["figure"], "figure"),
                data["reason"],
            )
            marks = self.outcome.marks
            marks[data["candidate"]] = resolve(self._mark(data["candidate"]), decision, rule)
        except (MarkError, InputError) as err:
            self.fail(index, f"{data['candidate']}'s written decision breaks the rule ({err})")

    def on_approval_requested(
        self, index: int, entry: dict[str, Any], data: dict[str, Any]
    ) -> None:
        if data.get("act") in ("correction", "publish_results"):
            self.outcome.asked.append(data)

    def _asked(self, act: str, **fields: Any) -> bool:
        """Take the open request for this very act, if there is one."""
        for found in self.outcome.asked:
            if found["act"] == act and all(found.get(k) == v for k, v in fields.items()):
                self.outcome.asked.remove(found)
                return True
        return False

    def on_correction_applied(
        self, index: int, entry: dict[str, Any], data: dict[str, Any]
    ) -> None:
        try:
            correction = correction_from_json({k: data[k] for k in _CORRECTION_KEYS})
        except (InputError, KeyError) as err:
            self.fail(index, f"a correction cannot be read ({err})")
            return
        if correction.id != f"C{len(self.outcome.corrections) + 1}":
            self.fail(index, f"correction {correction.id} is out of sequence")
        asked = self._asked(
            "correction",
            stage=data["stage"],
            reg_no=data["candidate"],
            old=data["old"],
            new=data["new"],
            reason=data["reason"],
        )
        confirmer = correction.confirmed_by or ""
        if not asked or not confirmer.startswith("observer:"):
            self.fail(index, f"correction {correction.id} was not asked for and confirmed apart")
        self.outcome.corrections.append(correction)

    def note_interviews_ended(self, data: dict[str, Any]) -> None:
        self.outcome.numbered = {c["draw_number"]: c["reg_no"] for c in data["candidates"]}
        self.outcome.pool = data.get("pool")

    # --- a publication ------------------------------------------------------------------

    def _figures(self, candidates: list[str]) -> dict[str, dict[Stage, Figure]]:
        """Every stage's figures as the log gives them, by registration number."""
        out: dict[str, dict[Stage, Figure]] = {c: {} for c in candidates}
        for candidate, mark in self.outcome.marks.items():
            if candidate in out and (figure := mark.counted) is not None:
                out[candidate][Stage.WRITTEN] = figure
        evaluation = self.outcome.announced.get("evaluation_result")
        for row in [] if evaluation is None else evaluation["result"]["candidates"]:
            if row["candidate"] in out and row.get("score") is not None:
                out[row["candidate"]][Stage.EVALUATION] = figure_from_text(
                    row["score"], "evaluation"
                )
        numbered = self.outcome.numbered or {}
        for published in self.results:
            reg_no = numbered.get(published["draw_number"])
            if reg_no not in out:
                continue
            if published["round"] in self.outcome.absent_rounds:
                out[reg_no][Stage.INTERVIEW] = ABSENT
            elif published["result"]["mean"] is not None:
                out[reg_no][Stage.INTERVIEW] = Decimal(published["result"]["mean"])
        return out

    def _lots(self) -> list[Lot]:
        return [
            Lot(tuple(d["pool"][p - 1] for p in d["drawn"]), d["key"])
            for _, d in sorted(self.draws.items())
            if d.get("purpose") == "tie" and d.get("drawn") is not None
        ]

    def _full_marks(self) -> tuple[Decimal, Decimal]:
        interview = sum((Decimal(i["max"]) for i in self.rubric), Decimal(0))
        opened = self.outcome.announced.get("evaluation_opened")
        evaluation = (
            DEFAULT_FULL_MARKS
            if opened is None
            else Decimal(opened["scheme"]["points"]) * len(opened["scheme"]["dimensions"])
        )
        return interview or DEFAULT_FULL_MARKS, evaluation

    def on_results_published(self, index: int, entry: dict[str, Any], data: dict[str, Any]) -> None:
        number = len(self.outcome.published) + 1
        if self.outcome.numbered is None:
            self.fail(index, "the results were published before the interviews ended")
            return
        if data["version"] != number or not self._asked("publish_results", version=number):
            self.fail(index, f"results version {data['version']} was not asked for in turn")
        if not str(data.get("confirmed_by", "")).startswith("observer:"):
            self.fail(index, "the results were published without a monitor's confirmation")
        try:
            logged = inputs_from_json(data["inputs"])
            ids = [c.id for c in logged.candidates]
            missing = set(self.outcome.pool or ()) - set(ids)
            if missing:
                self.fail(index, f"the published results leave out {sorted(missing)[0]}")
            derived = Inputs(
                logged.posts,
                logged.candidates,
                self._figures(ids),
                result_rules(self.outcome.settings, *self._full_marks()),
                tuple(self.outcome.corrections),
                tuple(self._lots()),
            )
            again = inputs_to_json(derived)
            for part in ("figures", "rules", "corrections", "lots"):
                if again[part] != data["inputs"][part]:
                    self.fail(index, f"the published results' {part} are not what the log holds")
            document = results_document(
                compute_results(
                    derived.posts,
                    derived.candidates,
                    derived.figures,
                    derived.rules,
                    derived.corrections,
                    derived.lots,
                )
            )
        except (InputError, AllocationError, SettingError, MarkError) as err:
            self.fail(index, f"the published results cannot be computed again ({err})")
            return
        if document != data["document"]:
            self.fail(index, "the published results are not what their inputs give")
        if not document["final"]:
            self.fail(index, "results were published that are not final")
        self.outcome.published.append(
            {"leaf": index, "version": data["version"], "document": data["document"]}
        )

    def final_document(self) -> dict[str, Any] | None:
        """``results-final.json``: the latest publication, or null."""
        return self.outcome.published[-1] if self.outcome.published else None


_CORRECTION_KEYS = (
    "id",
    "stage",
    "candidate",
    "old",
    "new",
    "reason",
    "entered_by",
    "confirmed_by",
)
