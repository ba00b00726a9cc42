"""Written exam marks (笔试) in the kiosk: double entry by two clerks (两人录入核对),
decisions on mismatches, and imported files. The rules are ``ballot.written``.

- A *clerk* is an enrolled clerk device (a one-time link, like a check-in desk); each
  device is one identity, ``clerk:<id>``. The second clerk types blind: a clerk's page
  only ever shows that clerk's own figures.
- An imported file is *one* entry per row, under the identity ``import:<first 12 hex
  digits of the file's SHA-256>``: importing the same file again is the same identity
  and is refused (``same_clerk``). A mark from a file counts only once a clerk types it
  blind (or a second, different file agrees), as any other first entry.
- A mismatch is decided by someone who typed neither entry (the organiser), choosing one
  of the two figures, with a reason; who decided and why is logged.
Every entry and decision is appended (tables ``written_entry`` and
``written_resolution`` refuse UPDATE and DELETE) with its log leaf in one transaction.
Marks go by registration number: no draw number is ever beside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlite_utils

from ballot.inputs import figure_from_text
from ballot.model import Figure, MarkError, StageRule, figure_text, parse_figure
from ballot.settings import written_rule
from ballot.written import (
    Entry,
    EntryState,
    Reconciliation,
    Resolution,
    WrittenMark,
    reconcile,
)
from ballot.written import enter as enter_mark
from ballot.written import resolve as resolve_mark

from . import rules
from .audit import record
from .errors import UserError
from .storage import Store, utcnow

ROLE = "clerk"
MAX_REASON = 500


def _one(db: sqlite_utils.Database, sql: str, params: list[Any]) -> dict[str, Any] | None:
    return next(iter(db.query(sql, params)), None)


def rule_of(db: sqlite_utils.Database, event_id: int) -> StageRule:
    return written_rule(rules.load(db, event_id))


def parse(raw: object, rule: StageRule) -> Figure:
    """A typed or imported mark (or 缺考), refused with the rule it breaks."""
    if isinstance(raw, str) and len(raw) > 20:
        raise UserError("not_a_number", field="mark")
    try:
        return parse_figure(raw.strip() if isinstance(raw, str) else raw, rule)
    except MarkError as err:
        raise UserError(err.code, field="mark") from None


def _candidate(db: sqlite_utils.Database, event_id: int, reg_no: object) -> dict[str, Any]:
    if not isinstance(reg_no, str) or not reg_no.strip() or len(reg_no) > 40:
        raise UserError("unknown_candidate", field="reg_no")
    found = _one(
        db,
        "SELECT * FROM candidate WHERE event_id = ? AND reg_no = ?",
        [event_id, reg_no.strip()],
    )
    if found is None:
        raise UserError("unknown_candidate", field="reg_no")
    return found


def _entries(db: sqlite_utils.Database, event_id: int) -> list[Entry]:
    return [
        Entry(r["reg_no"], r["clerk"], figure_from_text(r["figure"], "written"))
        for r in db.query(
            "SELECT candidate.reg_no, e.clerk, e.figure FROM written_entry e"
            " JOIN candidate ON candidate.id = e.candidate_id WHERE e.event_id = ? ORDER BY e.id",
            [event_id],
        )
    ]


def _resolutions(db: sqlite_utils.Database, event_id: int) -> list[Resolution]:
    return [
        Resolution(
            r["reg_no"], r["decided_by"], figure_from_text(r["figure"], "written"), r["reason"]
        )
        for r in db.query(
            "SELECT candidate.reg_no, r.decided_by, r.figure, r.reason FROM written_resolution r"
            " JOIN candidate ON candidate.id = r.candidate_id WHERE r.event_id = ? ORDER BY r.id",
            [event_id],
        )
    ]


def reconciliation(db: sqlite_utils.Database, event_id: int) -> Reconciliation:
    """Every candidate's written mark, replayed from the entries and decisions made."""
    candidates = [
        r["reg_no"]
        for r in db.query(
            "SELECT reg_no FROM candidate WHERE event_id = ? ORDER BY reg_no", [event_id]
        )
    ]
    return reconcile(
        candidates, _entries(db, event_id), _resolutions(db, event_id), rule_of(db, event_id)
    )


def _mark(db: sqlite_utils.Database, event_id: int, reg_no: str) -> WrittenMark:
    found = reconciliation(db, event_id)
    return next(m for m in found.marks if m.candidate == reg_no)


def take_entry(
    db: sqlite_utils.Database,
    event_id: int,
    reg_no: object,
    raw: object,
    clerk: str,
    source: str = "typed",
) -> EntryState:
    """One entry inside the caller's transaction: checked by the double-entry rule,
    appended, logged. Returns the candidate's state after it."""
    candidate = _candidate(db, event_id, reg_no)
    rule = rule_of(db, event_id)
    figure = parse(raw, rule)
    entry = Entry(candidate["reg_no"], clerk, figure)
    try:
        after = enter_mark(_mark(db, event_id, candidate["reg_no"]), entry, rule)
    except MarkError as err:
        raise UserError(err.code, field="reg_no") from None
    leaf = record(
        db,
        clerk,
        "written_entered",
        "accepted",
        event=event_id,
        candidate=candidate["reg_no"],
        clerk=clerk,
        figure=figure_text(figure),
        source=source,
    )
    db.execute(
        "INSERT INTO written_entry(event_id, candidate_id, clerk, figure, source, leaf,"
        " entered_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [event_id, candidate["id"], clerk, figure_text(figure), source, leaf, utcnow()],
    )
    return after.state


def enter(store: Store, event_id: int, reg_no: object, raw: object, clerk: str) -> EntryState:
    """A clerk's typed entry, in its own transaction."""
    with store.write() as db:
        return take_entry(db, event_id, reg_no, raw, clerk)


def resolve(
    store: Store, event_id: int, reg_no: object, raw: object, reason: object, actor: str
) -> None:
    """A third person's decision on a mismatch: one of the two figures, and why."""
    if not isinstance(reason, str) or not reason.strip():
        raise UserError("no_reason", field="reason")
    if len(reason.strip()) > MAX_REASON:
        raise UserError("too_long", field="reason")
    with store.write() as db:
        candidate = _candidate(db, event_id, reg_no)
        rule = rule_of(db, event_id)
        figure = parse(raw, rule)
        decision = Resolution(candidate["reg_no"], actor, figure, reason.strip())
        try:
            resolve_mark(_mark(db, event_id, candidate["reg_no"]), decision, rule)
        except MarkError as err:
            raise UserError(err.code, field="mark") from None
        leaf = record(
            db,
            actor,
            "written_resolved",
            "accepted",
            event=event_id,
            candidate=candidate["reg_no"],
            decided_by=actor,
            figure=figure_text(figure),
            reason=reason.strip(),
        )
        db.execute(
            "INSERT INTO written_resolution(event_id, candidate_id, decided_by, figure, reason,"
            " leaf, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [event_id, candidate["id"], actor, figure_text(figure), reason.strip(), leaf, utcnow()],
        )


def import_rows(
    db: sqlite_utils.Database, event_id: int, rows: Sequence[tuple[int, str, str]], identity: str
) -> int:
    """Take an imported file's rows (spreadsheet row, reg. no., mark) as entries of one
    identity, inside the import's transaction; a refusal names the row (the caller rolls
    everything back)."""
    seen: dict[str, int] = {}
    for number, reg_no, raw in rows:
        if reg_no in seen:
            raise ImportRowError(number, "reg_no", "duplicate", of=seen[reg_no])
        seen[reg_no] = number
        try:
            take_entry(db, event_id, reg_no, raw, identity, source="import")
        except UserError as err:
            raise ImportRowError(number, err.field or "mark", err.code) from None
    return len(rows)


class ImportRowError(ValueError):
    """A written-marks row refused: its spreadsheet row, column and the rule broken."""

    def __init__(self, row: int, column: str, code: str, **params: Any) -> None:
        super().__init__(f"row {row}, {column}: {code}")
        self.row, self.column, self.code, self.params = row, column, code, params


def counts(found: Reconciliation) -> dict[str, int]:
    return {state.value: len(found.in_state(state)) for state in EntryState}


def clerk_view(store: Store, event_id: int, clerk: str) -> dict[str, Any]:
    """What one clerk may see: every candidate by registration number and name, the
    clerk's own figure and, once they typed it, where it stands. Never another clerk's
    figure, never a draw number."""
    with store.read() as db:
        rule = rule_of(db, event_id)
        found = reconciliation(db, event_id)
        people = {
            r["reg_no"]: r
            for r in db.query(
                "SELECT reg_no, name, unit FROM candidate WHERE event_id = ?", [event_id]
            )
        }
    rows = []
    for mark in found.marks:
        mine = next(
            (e for e in (mark.first, mark.second) if e is not None and e.clerk == clerk), None
        )
        settled = mark.state in (EntryState.MATCHED, EntryState.RESOLVED)
        person = people[mark.candidate]
        rows.append(
            {
                "reg_no": mark.candidate,
                "name": person["name"],
                "unit": person["unit"],
                "mine": None if mine is None else figure_text(mine.figure),
                "state": mark.state.value if mine is not None else ("done" if settled else None),
            }
        )
    return {
        "rule": {"full_marks": str(rule.full_marks), "step": str(rule.step)},
        "candidates": rows,
        "typed": sum(1 for r in rows if r["mine"] is not None),
    }


def organiser_view(db: sqlite_utils.Database, event_id: int) -> dict[str, Any]:
    """The organiser's view: counts per state and every mismatch with both figures and
    who typed them, to decide."""
    found = reconciliation(db, event_id)
    names = {
        r["reg_no"]: r["name"]
        for r in db.query("SELECT reg_no, name FROM candidate WHERE event_id = ?", [event_id])
    }
    mismatched = [
        {
            "reg_no": m.candidate,
            "name": names[m.candidate],
            "entries": [
                {"clerk": e.clerk, "figure": figure_text(e.figure)}
                for e in (m.first, m.second)
                if e is not None
            ],
        }
        for m in found.marks
        if m.state is EntryState.MISMATCHED
    ]
    resolved = [
        {
            "reg_no": m.candidate,
            "name": names[m.candidate],
            "figure": figure_text(m.resolution.figure),
            "decided_by": m.resolution.decided_by,
            "reason": m.resolution.reason,
        }
        for m in found.marks
        if m.resolution is not None
    ]
    rule = rule_of(db, event_id)
    return {
        "rule": {"full_marks": str(rule.full_marks), "step": str(rule.step)},
        "counts": counts(found),
        "mismatched": mismatched,
        "resolved": resolved,
    }
