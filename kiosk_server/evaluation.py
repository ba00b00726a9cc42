"""The democratic evaluation (民主测评) on site: set-up, ballot slips, casting, open and
close, and what each screen may see.

The rule itself is ``ballot.evaluation``; this is the service layer between it and the
pages. Unlinkability shapes every write here (docs/threat-model.md, "Ballots"):

- a slip's token is HMAC-derived (the sheet can be re-printed, a copy of the database
  alone casts nothing) and stored only as its digest, in a table keyed by that digest;
- casting spends the token with one atomic UPDATE and stores the marks under a random
  key with the group, in the same transaction, with nothing that points back to the
  token: no reference, no time, no address; the log gets a ``ballot_cast`` leaf that
  names only the group (turnout, which the monitors watch live anyway);
- the marks enter the log only at close, every ballot at once in a fresh random order,
  then the token digests are deleted and the database file is rewritten (``scrub``).
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import sqlite_utils
from flask import Flask, current_app

from ballot.evaluation import (
    DIMENSIONS,
    GRADES,
    GROUPS,
    MAX_NAME,
    VALIDITY,
    EvaluationError,
    Scheme,
    ballot_from_rows,
    check_rows,
    check_scheme,
    published,
    scheme_from_json,
    scheme_to_json,
)
from seal.tokens import derive, digest

from .audit import record
from .errors import UserError
from .evidence import sign_head
from .interview import event_row
from .storage import Store

log = logging.getLogger(__name__)

MAX_GROUPS = 10
MAX_BALLOTS = 2000
# Labels of the default dimensions and grades in the message catalogue; any other name
# an organiser chooses is shown as written, in both languages.
DIMENSION_KEYS = dict(zip(DIMENSIONS, ("de", "neng", "qin", "ji", "lian"), strict=True))
GRADE_KEYS = dict(zip(GRADES, ("excellent", "competent", "basic", "incompetent"), strict=True))


class State(StrEnum):
    SETUP = "setup"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Group:
    """One evaluator group as the organiser sets it: how many slips, and its weight."""

    name: str
    ballots: int
    weight: Decimal | None = None


@dataclass(frozen=True)
class Rules:
    """What the organiser may choose about counting (the stage weight is the event's)."""

    dimensions: tuple[str, ...] = DIMENSIONS
    points: Decimal = Decimal(20)
    grades: tuple[tuple[str, Decimal], ...] = tuple(GRADES.items())
    validity: str = "candidate"


DEFAULT_GROUPS = tuple(Group(name, 0) for name in GROUPS)


# The parts of the counting rule an error can name, in the organiser's words.
SCHEME_FIELDS = {
    "dimensions": {"zh": "评价项目", "en": "dimensions"},
    "points": {"zh": "每项分值", "en": "points per dimension"},
    "grades": {"zh": "等次及得分比例", "en": "grades and shares"},
    "validity": {"zh": "废票规则", "en": "invalid-ballot rule"},
    "stage_weight": {"zh": "民主测评权重", "en": "evaluation weight"},
}


def scheme_error(field: str) -> UserError:
    """A refusal naming the part of the counting rule to fix."""
    return UserError("scheme_invalid", field=field, labels=SCHEME_FIELDS.get(field))


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


# --- reading what an organiser typed ----------------------------------------------------


def parse_dimensions(text: object) -> tuple[str, ...]:
    """``德 能 勤 绩 廉`` (spaces, commas or 、 between names) as the scheme's dimensions."""
    if not isinstance(text, str):
        raise scheme_error("dimensions")
    names = [n for n in _nfc(text).replace(",", " ").replace("，", " ").replace("、", " ").split()]
    if not names:
        raise scheme_error("dimensions")
    return tuple(names)


def parse_grades(text: object) -> tuple[tuple[str, Decimal], ...]:
    """``优秀=100 称职=80 基本称职=60 不称职=0``: each grade and the percentage of a
    dimension's points it earns, best first."""
    if not isinstance(text, str):
        raise scheme_error("grades")
    grades = []
    for part in _nfc(text).replace(",", " ").replace("，", " ").replace("、", " ").split():
        name, sep, percent = part.partition("=")
        try:
            share = Decimal(percent) / 100
        except InvalidOperation:
            raise scheme_error("grades") from None
        if not sep or not name or not share.is_finite():
            raise scheme_error("grades")
        grades.append((name, share))
    return tuple(grades)


def grades_text(grades: Sequence[tuple[str, Decimal]]) -> str:
    """The inverse of ``parse_grades``, for showing the current rule in the form."""
    return " ".join(f"{name}={(share * 100).normalize():f}" for name, share in grades)


def parse_points(text: object) -> Decimal:
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise scheme_error("points") from None
    if not value.is_finite():
        raise scheme_error("points")
    return value


def parse_group(row: int, name: object, ballots: object, weight: object) -> Group | None:
    """One group row of the set-up form or file (``row`` numbers it in messages); a row
    left wholly blank is None."""
    texts = [_nfc(v) if isinstance(v, str) else v for v in (name, ballots, weight)]
    if all(v in (None, "") for v in texts):
        return None
    name_text, ballots_text, weight_text = texts
    if not isinstance(name_text, str) or not name_text or len(name_text) > MAX_NAME:
        raise UserError("group_invalid", field="name", n=row)
    try:
        count = int(str(ballots_text or "0"))
    except ValueError:
        raise UserError("ballots_invalid", field="ballots", name=name_text) from None
    if not 0 <= count <= MAX_BALLOTS:
        raise UserError("ballots_invalid", field="ballots", name=name_text)
    value = None
    if weight_text not in (None, ""):
        try:
            value = Decimal(str(weight_text))
        except InvalidOperation:
            raise UserError("weight_invalid", field="weight", name=name_text) from None
        if not value.is_finite() or not 0 < value <= 1000:
            raise UserError("weight_invalid", field="weight", name=name_text)
    return Group(name_text, count, value)


# --- set-up and slips -------------------------------------------------------------------


def _one(db: sqlite_utils.Database, sql: str, params: list[Any]) -> dict[str, Any] | None:
    return next(iter(db.query(sql, params)), None)


def evaluation_row(db: sqlite_utils.Database, event_id: int) -> dict[str, Any] | None:
    return _one(db, "SELECT * FROM evaluation WHERE event_id = ?", [event_id])


def groups_of(db: sqlite_utils.Database, event_id: int) -> list[dict[str, Any]]:
    return list(
        db.query("SELECT * FROM evaluator_group WHERE event_id = ? ORDER BY position", [event_id])
    )


def build_scheme(event: dict[str, Any], groups: Sequence[Group], rules: Rules) -> Scheme:
    """The counting rule: the organiser's rules, the groups' weights (all or none) and
    the event's evaluation weight in the composite."""
    weighted = [g for g in groups if g.weight is not None]
    if weighted and len(weighted) != len(groups):
        missing = next(g for g in groups if g.weight is None)
        raise UserError("weight_invalid", field="weight", name=missing.name)
    if len(dict(rules.grades)) != len(rules.grades):
        raise scheme_error("grades")
    scheme = Scheme(
        dimensions=rules.dimensions,
        points=rules.points,
        grades=dict(rules.grades),
        stage_weight=Decimal(event["weight_evaluation"]),
        group_weights={g.name: g.weight for g in weighted if g.weight is not None} or None,
        validity=rules.validity,
    )
    try:
        return check_scheme(scheme)
    except EvaluationError as err:
        if err.code == "weight_invalid":
            raise UserError(err.code, field="weight", name=err.field) from None
        raise scheme_error(err.field or "") from None


def _token(key: bytes, salt: str, group_id: int, number: int) -> str:
    """Slip ``number`` of a group: re-derivable for re-printing, useless without the key."""
    return derive(key, f"ballot.{salt}", group_id, number)


def configure(
    store: Store,
    key: bytes,
    event_id: int,
    groups: Sequence[Group],
    rules: Rules,
    actor: str,
) -> None:
    """Set the evaluator groups, their slips and weights, and the counting rules; only
    before the evaluation opens. Slips already printed stay valid when their group keeps
    its name and at least as many ballots."""
    if not 1 <= len(groups) <= MAX_GROUPS:
        raise UserError("groups_count")
    names = [g.name for g in groups]
    for row, name in enumerate(names, start=1):
        if names.index(name) != row - 1:
            raise UserError("group_invalid", field="name", n=row)
    if rules.validity not in VALIDITY:
        raise scheme_error("validity")
    with store.write() as db:
        found = evaluation_row(db, event_id)
        if found is not None and found["state"] != State.SETUP:
            raise UserError("evaluation_started")
        scheme = build_scheme(event_row(db, event_id), groups, rules)
        if found is None:
            salt = secrets.token_hex(8)
            db.execute(
                "INSERT INTO evaluation(event_id, state, scheme, token_salt) VALUES (?, ?, ?, ?)",
                [event_id, State.SETUP, json.dumps(scheme_to_json(scheme)), salt],
            )
        else:
            salt = found["token_salt"]
            db.execute(
                "UPDATE evaluation SET scheme = ? WHERE event_id = ?",
                [json.dumps(scheme_to_json(scheme)), event_id],
            )
        existing = {g["name"]: g for g in groups_of(db, event_id)}
        for name, old in existing.items():
            if name not in names:
                db.execute("DELETE FROM ballot_token WHERE group_id = ?", [old["id"]])
                db.execute("DELETE FROM evaluator_group WHERE id = ?", [old["id"]])
        for position, group in enumerate(groups, start=1):
            weight = None if group.weight is None else str(group.weight)
            if group.name in existing:
                group_id = existing[group.name]["id"]
                db.execute(
                    "UPDATE evaluator_group SET position = ?, ballots = ?, weight = ? WHERE id = ?",
                    [position, group.ballots, weight, group_id],
                )
            else:
                cursor = db.execute(
                    "INSERT INTO evaluator_group(event_id, position, name, ballots, weight)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [event_id, position, group.name, group.ballots, weight],
                )
                group_id = int(cursor.lastrowid or 0)
            wanted = {digest(_token(key, salt, group_id, n)) for n in range(1, group.ballots + 1)}
            held = {
                r["digest"]
                for r in db.query("SELECT digest FROM ballot_token WHERE group_id = ?", [group_id])
            }
            for stale in held - wanted:
                db.execute("DELETE FROM ballot_token WHERE digest = ?", [stale])
            # Inserted in digest order, not slip order: even where SQLite places a row
            # in its file follows something random, never the order slips were made.
            for fresh in sorted(wanted - held):
                db.execute(
                    "INSERT INTO ballot_token(digest, group_id) VALUES (?, ?)", [fresh, group_id]
                )
        record(
            db,
            actor,
            "evaluation_configured",
            "accepted",
            event=event_id,
            scheme=scheme_to_json(scheme),
            groups=[{"name": g.name, "ballots": g.ballots} for g in groups],
        )


def current_setup(store: Store, event_id: int) -> tuple[list[Group], Rules, str | None]:
    """The groups and rules as set (defaults before any set-up) and the state."""
    with store.read() as db:
        found = evaluation_row(db, event_id)
        if found is None:
            return list(DEFAULT_GROUPS), Rules(), None
        scheme = scheme_from_json(json.loads(found["scheme"]))
        groups = [
            Group(g["name"], g["ballots"], None if g["weight"] is None else Decimal(g["weight"]))
            for g in groups_of(db, event_id)
        ]
    rules = Rules(scheme.dimensions, scheme.points, tuple(scheme.grades.items()), scheme.validity)
    return groups, rules, found["state"]


def slips(
    store: Store, key: bytes, event_id: int, group_id: int | None = None
) -> list[dict[str, Any]]:
    """Every slip not yet used, by group, for the printed sheet (re-derived: the database
    holds digests only)."""
    with store.read() as db:
        found = evaluation_row(db, event_id)
        if found is None or found["state"] == State.CLOSED:
            return []
        out = []
        for group in groups_of(db, event_id):
            if group_id is not None and group["id"] != group_id:
                continue
            unspent = {
                r["digest"]
                for r in db.query(
                    "SELECT digest FROM ballot_token WHERE group_id = ? AND spent = 0",
                    [group["id"]],
                )
            }
            tokens = [
                t
                for t in (
                    _token(key, found["token_salt"], group["id"], n)
                    for n in range(1, group["ballots"] + 1)
                )
                if digest(t) in unspent
            ]
            out.append({"id": group["id"], "name": group["name"], "tokens": tokens})
    return out


# --- open, cast, close ------------------------------------------------------------------


def _candidates(db: sqlite_utils.Database, event_id: int) -> list[dict[str, Any]]:
    return [
        {"reg_no": r["reg_no"], "name": r["name"], "unit": r["unit"]}
        for r in db.query(
            "SELECT reg_no, name, unit FROM candidate WHERE event_id = ? ORDER BY reg_no",
            [event_id],
        )
    ]


def open_evaluation(store: Store, event_id: int, actor: str) -> None:
    """Open voting. The candidates (by registration number) and the rules are fixed here
    and logged; a ballot rates exactly these."""
    with store.write() as db:
        found = evaluation_row(db, event_id)
        if found is not None and found["state"] == State.OPEN:
            raise UserError("evaluation_started")
        if found is not None and found["state"] == State.CLOSED:
            raise UserError("evaluation_closed")
        groups = groups_of(db, event_id)
        candidates = _candidates(db, event_id)
        if found is None or not candidates or not any(g["ballots"] for g in groups):
            raise UserError("evaluation_not_ready")
        # The stage weight as the results settings say now (they may have changed since
        # the set-up); opening freezes both (``rules.frozen_by``).
        scheme = json.loads(found["scheme"])
        weight = _one(db, "SELECT weight_evaluation FROM event WHERE id = ?", [event_id])
        scheme["stage_weight"] = str(Decimal(weight["weight_evaluation"] if weight else 40))
        db.execute(
            "UPDATE evaluation SET state = ?, candidates = ?, scheme = ? WHERE event_id = ?",
            [
                State.OPEN,
                json.dumps(candidates, ensure_ascii=False),
                json.dumps(scheme),
                event_id,
            ],
        )
        record(
            db,
            actor,
            "evaluation_opened",
            "accepted",
            event=event_id,
            scheme=scheme,
            groups=[{"name": g["name"], "ballots": g["ballots"]} for g in groups],
            candidates=[c["reg_no"] for c in candidates],
        )


def _open_row(db: sqlite_utils.Database, event_id: int) -> dict[str, Any]:
    """The evaluation's row while voting is open; else the refusal that says why not."""
    found = evaluation_row(db, event_id)
    if found is None or found["state"] == State.SETUP:
        raise UserError("evaluation_not_open")
    if found["state"] == State.CLOSED:
        raise UserError("evaluation_closed")
    return found


def _open_context(
    db: sqlite_utils.Database, event_id: int | None
) -> tuple[dict[str, Any], Scheme, list[dict[str, Any]]]:
    """The open evaluation's row, scheme and candidates, or the refusal an evaluator sees."""
    if event_id is None:
        raise UserError("evaluation_not_open")
    found = _open_row(db, event_id)
    return found, scheme_from_json(json.loads(found["scheme"])), json.loads(found["candidates"])


def _plausible(token: object) -> str:
    if not isinstance(token, str) or not 10 <= len(token) <= 100:
        raise UserError("ballot_unknown")
    return token


def slip(store: Store, event_id: int | None, token: object) -> dict[str, Any]:
    """What a slip's page shows: the ballot to fill (spends nothing), or the refusal."""
    with store.read() as db:
        found = None if event_id is None else evaluation_row(db, event_id)
        if found is not None and found["state"] == State.CLOSED:
            raise UserError("evaluation_closed")  # its slips are gone: say why
        held = _one(
            db,
            "SELECT t.spent, g.name FROM ballot_token t JOIN evaluator_group g"
            " ON g.id = t.group_id WHERE t.digest = ? AND g.event_id = ?",
            [digest(_plausible(token)), event_id],
        )
        if held is None:
            raise UserError("ballot_unknown")
        _found, scheme, candidates = _open_context(db, event_id)
    if held["spent"]:
        raise UserError("ballot_used")
    return {"group": held["name"], "scheme": scheme, "candidates": candidates}


def cast(store: Store, event_id: int | None, token: object, rows: object) -> str:
    """Cast one ballot with a slip's token, once. The token is spent by one atomic UPDATE
    (``spent = 0`` in its WHERE clause) in the same transaction as the ballot, so two
    racing requests cannot both pass; the ballot row and its leaf never mention it.
    Returns the group's name."""
    with store.write() as db:
        _found, scheme, candidates = _open_context(db, event_id)
        token_digest = digest(_plausible(token))
        try:
            marks = check_rows(scheme, [c["reg_no"] for c in candidates], rows)
        except EvaluationError as err:
            raise UserError("malformed", field=err.field) from None
        spent = db.execute(
            "UPDATE ballot_token SET spent = 1 WHERE digest = ? AND spent = 0 AND group_id IN"
            " (SELECT id FROM evaluator_group WHERE event_id = ?)",
            [token_digest, event_id],
        )
        if spent.rowcount != 1:
            used = _one(db, "SELECT 1 AS x FROM ballot_token WHERE digest = ?", [token_digest])
            raise UserError("ballot_used" if used else "ballot_unknown")
        group = _one(
            db,
            "SELECT g.id, g.name FROM ballot_token t JOIN evaluator_group g"
            " ON g.id = t.group_id WHERE t.digest = ?",
            [token_digest],
        )
        assert group is not None
        db.execute(
            "INSERT INTO cast_ballot(id, group_id, marks) VALUES (?, ?, ?)",
            [secrets.token_hex(16), group["id"], json.dumps(marks, ensure_ascii=False)],
        )
        record(db, "evaluator", "ballot_cast", "accepted", event=event_id, group=group["name"])
    return str(group["name"])


def close_check(store: Store, event_id: int) -> None:
    """Refuse at once what a monitor's confirmation could not make right."""
    with store.read() as db:
        _open_row(db, event_id)


def close_evaluation(store: Store, event_id: int, actor: str, scrub: bool = True) -> None:
    """Close voting and publish: every ballot enters the log now, in a fresh random
    order, then the result; the slips' digests are deleted and the file is rewritten so
    nothing of the order of casting survives in it."""
    with store.write() as db:
        found = _open_row(db, event_id)
        scheme = scheme_from_json(json.loads(found["scheme"]))
        candidates = [c["reg_no"] for c in json.loads(found["candidates"])]
        groups = [g["name"] for g in groups_of(db, event_id)]
        db.execute("UPDATE evaluation SET state = ? WHERE event_id = ?", [State.CLOSED, event_id])
        ballots = [
            (r["name"], json.loads(r["marks"]))
            for r in db.query(
                "SELECT g.name, b.marks FROM cast_ballot b JOIN evaluator_group g"
                " ON g.id = b.group_id WHERE g.event_id = ?",
                [event_id],
            )
        ]
        secrets.SystemRandom().shuffle(ballots)
        counts = {g: 0 for g in groups}
        for group, _marks in ballots:
            counts[group] += 1
        record(
            db,
            actor,
            "evaluation_closed",
            "accepted",
            event=event_id,
            cast=[{"group": g, "count": n} for g, n in counts.items()],
        )
        for group, marks in ballots:
            record(db, "system", "ballot", "accepted", event=event_id, group=group, marks=marks)
        result = published(
            scheme,
            candidates,
            groups,
            [ballot_from_rows(scheme, candidates, g, m) for g, m in ballots],
        )
        record(db, "system", "evaluation_result", "accepted", event=event_id, result=result)
        db.execute(
            "DELETE FROM ballot_token WHERE group_id IN"
            " (SELECT id FROM evaluator_group WHERE event_id = ?)",
            [event_id],
        )
        sign_head(store, db, event_id)  # the published result is under a head
    if scrub:  # else the caller does, after its own last write (approval.confirm)
        scrub_after_close(store)


def scrub_after_close(store: Store) -> None:
    """Rewrite the file once the close is written (``Store.scrub``)."""
    try:
        store.scrub()
    except sqlite3.Error as exc:  # the close stands; only the file's traces remain
        log.error("rewriting the database after the evaluation closed failed: %s", exc)


# --- what screens see -------------------------------------------------------------------


def view(store: Store, event_id: int) -> dict[str, Any] | None:
    """The evaluation as the observer screen and the console see it: the state and the
    turnout per group, live; the result only once closed (read from the log, as
    announced). None before any set-up."""
    with store.read() as db:
        found = evaluation_row(db, event_id)
        if found is None:
            return None
        cast_counts = {
            r["group_id"]: r["n"]
            for r in db.query(
                "SELECT group_id, COUNT(*) AS n FROM cast_ballot GROUP BY group_id", []
            )
        }
        groups = [
            {
                "name": g["name"],
                "ballots": g["ballots"],
                "cast": cast_counts.get(g["id"], 0),
                "weight": g["weight"],
            }
            for g in groups_of(db, event_id)
        ]
        scheme = scheme_from_json(json.loads(found["scheme"]))
        out: dict[str, Any] = {
            "state": found["state"],
            "groups": groups,
            "ballots": sum(g["ballots"] for g in groups),
            "cast": sum(g["cast"] for g in groups),
            "dimensions": list(scheme.dimensions),
            "stage_weight": str(scheme.stage_weight),
            "full_marks": str(scheme.full_marks),
            "result": None,
        }
        if found["state"] == State.CLOSED:
            leaf = _one(
                db,
                "SELECT data FROM log_leaf WHERE event_id = ? AND type = 'evaluation_result'",
                [event_id],
            )
            assert leaf is not None
            result = json.loads(leaf["data"])["data"]["result"]
            people = {c["reg_no"]: c for c in json.loads(found["candidates"])}
            for entry in result["candidates"]:
                person = people.get(entry["candidate"], {})
                entry["name"], entry["unit"] = person.get("name", ""), person.get("unit", "")
            out["result"] = result
    return out


def publish(app: Flask | None = None) -> None:
    """Push the evaluation view to observer screens and organiser consoles."""
    from .live import event_id, socketio, store

    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    ev = event_id(app)
    if ev is None:
        return
    snapshot = view(store(app), ev)
    for namespace in ("/observer", "/organiser"):
        socketio(app).emit("evaluation", snapshot, to=f"event:{ev}", namespace=namespace)
