"""The event's results in the kiosk (成绩与拟任人选): the three stages' figures gathered,
the composite, ranking and allocation computed (``ballot.results``), corrections
co-confirmed by a monitor, lots for ties, and the publication (公示) with its evidence.

Where each figure comes from (docs/results.md):
- written: the double entry's counted marks (``written``), by registration number;
- evaluation: the announced democratic-evaluation result in the log
  (``evaluation_figures``), once the evaluation ballots exist;
- interview: each closed round's published mean; a candidate marked absent is 缺考.
Interview results go by draw number, so nothing here joins them to registration numbers
before the interviews have ended (the mapping is published then): until then the
results are not computed at all.

Publishing is two-person: the organiser asks, a monitor confirms; the inputs and the
results go in the log together (``results_published``), then the evidence bundle is made
and kept, and its SHA-256 is what the printed sheet carries.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlite_utils

from ballot.allocation import AllocationError, Lot
from ballot.composite import Correction, CorrectionState, apply_corrections
from ballot.inputs import (
    InputError,
    Inputs,
    figure_from_text,
    inputs_from_json,
    inputs_to_json,
)
from ballot.model import ABSENT, Candidate, Figure, MarkError, Post, Stage, figure_text
from ballot.names import mask_name
from ballot.raters import panel_round, rater_analysis
from ballot.results import Results, compute_results, results_document, results_table
from ballot.scoring import rubric_full_marks
from ballot.settings import SettingError, Settings, result_rules

from . import interview, rules, written
from .audit import record
from .errors import UserError
from .evidence import sign_head
from .i18n import LANGS
from .storage import Store, utcnow

DEFAULT_FULL_MARKS = Decimal(100)
MAX_REASON = 500


def _one(db: sqlite_utils.Database, sql: str, params: list[Any]) -> dict[str, Any] | None:
    return next(iter(db.query(sql, params)), None)


def _leaf_data(db: sqlite_utils.Database, event_id: int, kind: str) -> dict[str, Any] | None:
    """The data of the event's latest accepted leaf of a type, if any."""
    found = _one(
        db,
        "SELECT data FROM log_leaf WHERE event_id = ? AND type = ? ORDER BY idx DESC LIMIT 1",
        [event_id, kind],
    )
    if found is None:
        return None
    entry = json.loads(found["data"])
    return entry["data"] if entry["disposition"] == "accepted" else None


# --- where each stage's figures come from --------------------------------------------


def evaluation_figures(db: sqlite_utils.Database, event_id: int) -> dict[str, Figure]:
    """The democratic evaluation's announced scores by registration number.

    Read from the log's ``evaluation_result`` leaf (branch ``ballots``: its
    ``result.candidates`` [{``candidate``, ``score``}]), so this needs no table of the
    ballots and the verifier reads the very same thing. Until an evaluation is announced
    it returns {}: every evaluation figure is then *missing*, never 0. A candidate with
    no valid ballot has no score and stays missing.
    """
    data = _leaf_data(db, event_id, "evaluation_result")
    if data is None:
        return {}
    return {
        c["candidate"]: figure_from_text(c["score"], "evaluation")
        for c in data["result"]["candidates"]
        if c.get("score") is not None
    }


def evaluation_full_marks(db: sqlite_utils.Database, event_id: int) -> Decimal:
    """The evaluation scheme's full marks (points × dimensions), 100 without a scheme."""
    data = _leaf_data(db, event_id, "evaluation_opened")
    if data is None:
        return DEFAULT_FULL_MARKS
    scheme = data["scheme"]
    return Decimal(scheme["points"]) * len(scheme["dimensions"])


def interview_full_marks(db: sqlite_utils.Database, event_id: int) -> Decimal:
    """The rubric's full marks (the sum of its items' maxima), 100 without a rubric."""
    return rubric_full_marks(interview.rubric(db, event_id)) or DEFAULT_FULL_MARKS


def interview_figures(db: sqlite_utils.Database, event_id: int) -> dict[str, Figure]:
    """Each closed round's published mean by registration number; 缺考 for a candidate
    marked absent. A round where nobody's total counted has no figure (missing)."""
    threshold = interview.event_row(db, event_id)["drop_threshold"]
    out: dict[str, Figure] = {}
    for row in db.query(
        "SELECT round.*, candidate.reg_no FROM round JOIN candidate"
        " ON candidate.id = round.candidate_id WHERE candidate.event_id = ?"
        " AND round.state = 'closed'",
        [event_id],
    ):
        if row["opened_at"] is None:  # closed without opening: marked absent
            out[row["reg_no"]] = ABSENT
            continue
        mean = interview.round_result(db, row, threshold)["mean"]
        if mean is not None:
            out[row["reg_no"]] = Decimal(mean)
    return out


def _posts_and_candidates(
    db: sqlite_utils.Database, event_id: int
) -> tuple[list[Post], list[Candidate]]:
    posts = [
        Post(r["code"], r["name"], r["seats"])
        for r in db.query("SELECT * FROM post WHERE event_id = ? ORDER BY code", [event_id])
    ]
    prefs: dict[int, list[str]] = {}
    for r in db.query(
        "SELECT preference.candidate_id, post.code FROM preference JOIN post"
        " ON post.id = preference.post_id WHERE post.event_id = ? ORDER BY preference.rank",
        [event_id],
    ):
        prefs.setdefault(r["candidate_id"], []).append(r["code"])
    candidates = [
        Candidate(r["reg_no"], r["name"], tuple(prefs.get(r["id"], ())))
        for r in db.query("SELECT * FROM candidate WHERE event_id = ? ORDER BY reg_no", [event_id])
    ]
    return posts, candidates


def _stored(
    ident: str, asked: dict[str, Any], entered_by: str, confirmed_by: str | None
) -> Correction:
    """A correction as stored or asked: ``stage``, ``reg_no``, ``old``, ``new``, ``reason``."""
    return Correction(
        ident,
        Stage(asked["stage"]),
        asked["reg_no"],
        figure_from_text(asked["old"], "correction"),
        figure_from_text(asked["new"], "correction"),
        asked["reason"],
        entered_by,
        confirmed_by,
    )


def confirmed_corrections(db: sqlite_utils.Database, event_id: int) -> list[Correction]:
    """Every correction a monitor confirmed, numbered C1, C2, ... in the order applied."""
    return [
        _stored(f"C{number}", row, row["entered_by"], row["confirmed_by"])
        for number, row in enumerate(
            db.query(
                "SELECT c.*, candidate.reg_no FROM correction c JOIN candidate"
                " ON candidate.id = c.candidate_id WHERE c.event_id = ? ORDER BY c.id",
                [event_id],
            ),
            start=1,
        )
    ]


def _pending_corrections(db: sqlite_utils.Database, event_id: int) -> list[Correction]:
    """Corrections asked for and not yet confirmed: listed and flagged, not applied."""
    return [
        _stored(f"pending-{r['id']}", json.loads(r["payload"]), r["requested_by"], None)
        for r in db.query(
            "SELECT * FROM approval WHERE event_id = ? AND action = 'correction'"
            " AND state IN ('pending', 'running') ORDER BY id",
            [event_id],
        )
    ]


def tie_lots(db: sqlite_utils.Database, event_id: int) -> list[Lot]:
    """Every drawn tie lot: its pool (registration numbers) in the drawn order."""
    lots = []
    for r in db.query(
        "SELECT * FROM lot_draw WHERE event_id = ? AND purpose = 'tie' AND state = 'drawn'"
        " ORDER BY id",
        [event_id],
    ):
        pool = json.loads(r["pool"])
        lots.append(Lot(tuple(pool[s["selected"] - 1] for s in json.loads(r["steps"])), r["key"]))
    return lots


def settings_of(db: sqlite_utils.Database, event_id: int) -> Settings:
    return rules.load(db, event_id)


def gather(db: sqlite_utils.Database, event_id: int) -> Inputs:
    """Everything the results are computed from, as it stands now."""
    settings = settings_of(db, event_id)
    try:
        result_rule = result_rules(
            settings, interview_full_marks(db, event_id), evaluation_full_marks(db, event_id)
        )
    except SettingError as err:
        raise UserError("rules_invalid", field=err.field) from None
    posts, candidates = _posts_and_candidates(db, event_id)
    figures: dict[str, dict[Stage, Figure]] = {c.id: {} for c in candidates}
    for stage, found in (
        (Stage.WRITTEN, written.reconciliation(db, event_id).counted()),
        (Stage.EVALUATION, evaluation_figures(db, event_id)),
        (Stage.INTERVIEW, interview_figures(db, event_id)),
    ):
        for candidate, figure in found.items():
            if candidate in figures:
                figures[candidate][stage] = figure
    return Inputs(
        tuple(posts),
        tuple(candidates),
        figures,
        result_rule,
        tuple(confirmed_corrections(db, event_id) + _pending_corrections(db, event_id)),
        tuple(tie_lots(db, event_id)),
    )


def run(inputs: Inputs) -> Results:
    """The results of these inputs; inputs that cannot be ranked are the organiser's to fix."""
    try:
        return compute_results(
            inputs.posts,
            inputs.candidates,
            inputs.figures,
            inputs.rules,
            inputs.corrections,
            inputs.lots,
        )
    except AllocationError as exc:
        raise UserError("results_inputs", detail=str(exc)) from None


def interviews_ended(db: sqlite_utils.Database, event_id: int) -> bool:
    return interview.event_row(db, event_id)["interviews_ended_at"] is not None


def current(db: sqlite_utils.Database, event_id: int) -> tuple[Inputs, Results]:
    """The results as they stand (provisional until published); only once the interviews
    have ended, since they join draw numbers to registration numbers."""
    if not interviews_ended(db, event_id):
        raise UserError("interviews_not_ended")
    inputs = gather(db, event_id)
    return inputs, run(inputs)


# --- corrections --------------------------------------------------------------------------


def _correction(
    db: sqlite_utils.Database, event_id: int, payload: object, entered_by: str
) -> Correction:
    """A correction as asked, checked against the figures in force: refused with the
    rule it breaks (``ballot.composite``), before it is ever shown to a monitor."""
    if not isinstance(payload, dict):
        raise UserError("malformed")
    stage_name = payload.get("stage")
    # A str first: a list or dict cannot be looked up in a set (TypeError, not a refusal).
    if not isinstance(stage_name, str) or stage_name not in {s.value for s in Stage}:
        raise UserError("malformed", field="stage")
    stage = Stage(stage_name)
    reason = payload.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise UserError("no_reason", field="reason")
    if len(reason.strip()) > MAX_REASON:
        raise UserError("too_long", field="reason")
    if stage is Stage.INTERVIEW and not interviews_ended(db, event_id):
        raise UserError("interviews_not_ended")
    inputs = gather(db, event_id)
    reg_no = payload.get("reg_no")
    if not isinstance(reg_no, str) or reg_no not in inputs.figures:
        raise UserError("unknown_candidate", field="reg_no")
    rule = inputs.rules.composite[stage]
    figures = []
    for name in ("old", "new"):
        try:
            figures.append(written.parse(payload.get(name), rule))
        except UserError as err:
            raise UserError(f"correction_{err.code}", field=name) from None
    confirmed = [c for c in inputs.corrections if c.confirmed_by is not None]
    correction = Correction(
        f"C{len(confirmed) + 1}",
        stage,
        reg_no,
        figures[0],
        figures[1],
        reason.strip(),
        entered_by,
        None,
    )
    # As if a monitor had confirmed it now: does it apply to the figures in force?
    check = replace(correction, confirmed_by="monitor")
    _, outcomes = apply_corrections(inputs.figures, [*confirmed, check], inputs.rules.composite)
    if outcomes[-1].state is CorrectionState.REFUSED:
        raise UserError(f"correction_{outcomes[-1].code}", field=name_of(outcomes[-1].code))
    return correction


def name_of(code: str | None) -> str | None:
    """The field a correction refusal points at."""
    return {"old_differs": "old", "no_change": "new", "nothing_to_correct": "reg_no"}.get(
        code or "", "new"
    )


def correction_request(
    store: Store, event_id: int, payload: object, actor: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check a correction and return what the approval request holds and shows."""
    with store.read() as db:
        correction = _correction(db, event_id, payload, actor)
    asked = {
        "stage": correction.stage.value,
        "reg_no": correction.candidate,
        "old": figure_text(correction.old),
        "new": figure_text(correction.new),
        "reason": correction.reason,
    }
    return asked, {**asked}


def apply_correction(
    store: Store, event_id: int, payload: dict[str, Any], entered_by: str, confirmed_by: str
) -> str:
    """Run a correction a monitor confirmed: checked again against the figures in force
    now, appended, logged. Returns its id."""
    with store.write() as db:
        correction = _correction(db, event_id, payload, entered_by)
        candidate = _one(
            db,
            "SELECT id FROM candidate WHERE event_id = ? AND reg_no = ?",
            [event_id, correction.candidate],
        )
        assert candidate is not None
        leaf = record(
            db,
            entered_by,
            "correction_applied",
            "accepted",
            event=event_id,
            id=correction.id,
            stage=correction.stage.value,
            candidate=correction.candidate,
            old=figure_text(correction.old),
            new=figure_text(correction.new),
            reason=correction.reason,
            entered_by=entered_by,
            confirmed_by=confirmed_by,
        )
        db.execute(
            "INSERT INTO correction(event_id, stage, candidate_id, old, new, reason, entered_by,"
            " confirmed_by, leaf, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                event_id,
                correction.stage.value,
                candidate["id"],
                figure_text(correction.old),
                figure_text(correction.new),
                correction.reason,
                entered_by,
                confirmed_by,
                leaf,
                utcnow(),
            ],
        )
    return correction.id


# --- ties --------------------------------------------------------------------------------


def tie_pool(db: sqlite_utils.Database, event_id: int) -> list[str]:
    """The tied group a lot must order next: every candidate sharing the rank of the first
    unbroken tie at a seat boundary, by registration number."""
    _inputs, results = current(db, event_id)
    contest = next((f for f in results.flags if f.code.value == "unbroken_tie"), None)
    if contest is None:
        raise UserError("no_tie")
    member = results.of(contest.candidates[0])
    assert member.place is not None
    return sorted(
        r.candidate.id
        for r in results.candidates
        if r.place is not None and r.place.rank == member.place.rank
    )


# --- publishing (公示) ---------------------------------------------------------------------


def _final(db: sqlite_utils.Database, event_id: int) -> tuple[Inputs, Results, int]:
    """The results if they may be published now, and the version they would be."""
    inputs, results = current(db, event_id)
    if not results.final:
        raise UserError("results_not_final", flags=_flag_words(results))
    found = _one(db, "SELECT COUNT(*) AS n FROM results_publication WHERE event_id = ?", [event_id])
    return inputs, results, int(found["n"] if found else 0) + 1


def publish_check(store: Store, event_id: int) -> int:
    """Check the results can be published now (before a monitor is asked); returns the
    version they would be."""
    with store.read() as db:
        return _final(db, event_id)[2]


def _flag_words(results: Results) -> str:
    return ", ".join(sorted({f.code.value for f in results.flags}))


def published_inputs(inputs: Inputs, settings: Settings) -> Inputs:
    """The inputs as published: names masked when the settings say so, so the log and
    the bundle hold no more of a name than the sheet shows."""
    if not settings.mask_names:
        return inputs
    return replace(
        inputs,
        candidates=tuple(replace(c, name=mask_name(c.name)) for c in inputs.candidates),
    )


def publish(
    store: Store, event_id: int, requested_by: str, confirmed_by: str, folder: Path
) -> dict[str, Any]:
    """Freeze the results (公示): log the inputs and the results, make the evidence
    bundle, keep it, and record its SHA-256 for the printed sheet."""
    from seal.bundle import read_jsonl, unpack
    from seal.signing import canonical, sha256_hex

    from .export import export_bundle

    with store.write() as db:
        inputs, results, version = _final(db, event_id)
        shown = published_inputs(inputs, settings_of(db, event_id))
        leaf = record(
            db,
            requested_by,
            "results_published",
            "accepted",
            event=event_id,
            version=version,
            inputs=inputs_to_json(shown),
            document=results_document(results),
            confirmed_by=confirmed_by,
        )
        sign_head(store, db, event_id)
    data = export_bundle(store, event_id, actor="system")
    digest = sha256_hex(data)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"results-event{event_id}-v{version}-{digest[:12]}.zip"
    path.write_bytes(data)
    head = read_jsonl(unpack(data)["heads.jsonl"])[-1]
    with store.write() as db:
        db.execute(
            "INSERT INTO results_publication(event_id, version, leaf, bundle_sha256,"
            " bundle_file, head, published_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                event_id,
                version,
                leaf,
                digest,
                path.name,
                canonical(head).decode("utf-8"),
                utcnow(),
            ],
        )
    return {"version": version, "bundle_sha256": digest}


def publication(db: sqlite_utils.Database, event_id: int) -> dict[str, Any] | None:
    """The latest publication: its row, and the results re-computed from the very inputs
    it logged (so the sheet shows exactly what the bundle proves)."""
    found = _one(
        db,
        "SELECT * FROM results_publication WHERE event_id = ? ORDER BY version DESC LIMIT 1",
        [event_id],
    )
    if found is None:
        return None
    leaf = json.loads(
        next(
            iter(
                db.query(
                    "SELECT data FROM log_leaf WHERE event_id = ? AND idx = ?",
                    [event_id, found["leaf"]],
                )
            )
        )["data"]
    )
    inputs = inputs_from_json(leaf["data"]["inputs"])
    head = json.loads(found["head"])
    return {
        "version": found["version"],
        "published_at": found["published_at"],
        "bundle_sha256": found["bundle_sha256"],
        "bundle_file": found["bundle_file"],
        "head": head,
        "inputs": inputs,
        "results": run(inputs),
    }


def head_fingerprint(head: dict[str, Any]) -> str:
    """A signed head's fingerprint: SHA-256 of its canonical JSON, in groups of four."""
    from seal.signing import canonical, sha256_hex

    digest = sha256_hex(canonical(head))
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


# --- views --------------------------------------------------------------------------------


def _cell(value: object) -> object:
    return str(value) if isinstance(value, Decimal) else value


def table(results: Results, lang: str, mask: bool = False) -> dict[str, Any]:
    headers, rows = results_table(results, lang, mask)
    return {"headers": headers, "rows": [[_cell(c) for c in row] for row in rows]}


def tables(results: Results, mask: bool = False) -> dict[str, Any]:
    """The 公示 table in both languages: screens pick theirs (one push serves all)."""
    return {lang: table(results, lang, mask) for lang in LANGS}


def analysis(db: sqlite_utils.Database, event_id: int, settings: Settings) -> list[Any]:
    """Per-rater analysis over every closed, scored round (for the monitors)."""
    threshold = interview.event_row(db, event_id)["drop_threshold"]
    rounds = []
    for row in db.query(
        "SELECT round.* FROM round JOIN room ON room.id = round.room_id"
        " WHERE room.event_id = ? AND round.state = 'closed' AND round.opened_at IS NOT NULL"
        " ORDER BY round.id",
        [event_id],
    ):
        names = {
            r["number"]: r["name"] or f"{r['room']} {r['number']}"
            for r in db.query(
                "SELECT seat.number, room.name AS room, rater.name FROM seat"
                " JOIN room ON room.id = seat.room_id LEFT JOIN rater ON rater.seat_id = seat.id"
                " WHERE seat.room_id = ?",
                [row["room_id"]],
            )
        }
        result = interview.round_result(db, row, threshold)
        rounds.append(panel_round(str(row["id"]), result, names))
    return list(rater_analysis(rounds, settings.rater_limits))


def analysis_view(stats: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "rater": s.rater,
            "rounds": s.rounds,
            "unscored": s.unscored,
            "mean_deviation": None if s.mean_deviation is None else str(s.mean_deviation),
            "mean_abs_deviation": None
            if s.mean_abs_deviation is None
            else str(s.mean_abs_deviation),
            "dropped_high": s.dropped_high,
            "dropped_low": s.dropped_low,
            "flags": [f.value for f in s.flags],
        }
        for s in stats
    ]


def _publication_view(found: dict[str, Any] | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return {
        "version": found["version"],
        "published_at": found["published_at"],
        "bundle_sha256": found["bundle_sha256"],
        "head": {"size": found["head"]["body"]["size"], "root": found["head"]["body"]["root"]},
        "fingerprint": head_fingerprint(found["head"]),
        "table": tables(found["results"]),
    }


def board_view(db: sqlite_utils.Database, event_id: int) -> dict[str, Any]:
    """What every observer screen shows of the results: the published configuration and
    the written entry's progress (counts only, no names); after the interviews, the
    per-rater analysis; after publication, the final ranking board (what changes it:
    ``settled_by_room_acts``)."""
    settings = settings_of(db, event_id)
    ended = interviews_ended(db, event_id)
    try:
        published = _publication_view(publication(db, event_id))
    except (InputError, UserError, MarkError):
        published = None
    return {
        **rules.view(db, event_id),
        "written": written.counts(written.reconciliation(db, event_id)),
        "raters": analysis_view(analysis(db, event_id, settings)) if ended else None,
        "published": published,
    }


def settled_by_room_acts(view: dict[str, Any]) -> bool:
    """Whether acts that name a room (call, open, score, open a sheet, close, pause) can no
    longer change this ``organiser_view`` or ``board_view``. Once the settings are frozen
    (the first call froze them at the latest) nothing in either is changed but by acts
    that name no room: written marks, clerks, corrections, ending the interviews (every
    round closed by then), publishing. The screens' push keeps the views while this holds
    (``interview.RoomCache.view``); anything added to them must keep it true."""
    return bool(view["frozen"])


def organiser_view(db: sqlite_utils.Database, event_id: int) -> dict[str, Any]:
    """The organiser's results page: settings, written marks to decide, provisional
    results with their flags, corrections, clerks and publications (what changes it:
    ``settled_by_room_acts``)."""
    view: dict[str, Any] = {
        **rules.view(db, event_id),
        "written": written.organiser_view(db, event_id),
        "interviews_ended": interviews_ended(db, event_id),
        "results": None,
        "error": None,
        "corrections": [],
        "clerks": [
            {"id": r["id"], "label": r["label"], "enrolled": r["enrolled_at"] is not None}
            for r in db.query(
                "SELECT * FROM observer WHERE event_id = ? AND role = 'clerk' AND revoked = 0"
                " ORDER BY id",
                [event_id],
            )
        ],
        "publications": [
            {
                "version": r["version"],
                "published_at": r["published_at"],
                "sha256": r["bundle_sha256"],
            }
            for r in db.query(
                "SELECT * FROM results_publication WHERE event_id = ? ORDER BY version",
                [event_id],
            )
        ],
    }
    if view["interviews_ended"]:
        try:
            _inputs, results = current(db, event_id)
        except UserError as err:
            view["error"] = {lang: err.message(lang) for lang in LANGS}
        else:
            view["results"] = {
                "final": results.final,
                "flags": [
                    {"code": f.code.value, "candidates": list(f.candidates), "post": f.post}
                    for f in results.flags
                ],
                "table": tables(results),
            }
            view["corrections"] = [
                {
                    "id": o.correction.id,
                    "stage": o.correction.stage.value,
                    "reg_no": o.correction.candidate,
                    "old": figure_text(o.correction.old),
                    "new": figure_text(o.correction.new),
                    "reason": o.correction.reason,
                    "state": o.state.value,
                    "code": o.code,
                }
                for o in results.corrections
            ]
    return view
