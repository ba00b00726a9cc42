"""The organiser's console: pages and the ``/organiser`` socket namespace.

Every act (call, open, close, pause, resume, re-issue a seat, new observer link) is a
socket event answered through its ack; the console redraws from the ``console``
snapshots pushed after each change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_socketio import ConnectionRefusedError, emit, join_room

from . import approval, ceremony, evaluation, interview, results, rules, written
from .audit import record_refusal
from .auth import csrf_ok, organiser_required, organiser_signed_in
from .enrolment import issue_observer, pending_tokens
from .errors import UserError
from .i18n import translate
from .live import (
    Audience,
    client_lang,
    event_id,
    guarded,
    payload,
    presence,
    publish,
    snapshot_at_connect,
    store,
    token_key,
)
from .qr import svg

NAMESPACE = "/organiser"
bp = Blueprint("organiser", __name__, url_prefix="/organiser")


def public_url(path: str) -> str:
    """An absolute URL for a QR code: the configured public address, else this request's."""
    base = current_app.config.get("PUBLIC_URL") or request.host_url
    return base.rstrip("/") + path


@bp.get("/")
@organiser_required
def console() -> Any:
    return render_template("console.html", event_id=event_id())


@bp.get("/results")
@organiser_required
def results_page() -> Any:
    """Results: settings, written marks to decide, provisional results, corrections,
    publishing (live over ``/organiser``, the ``results`` push)."""
    return render_template("results.html")


@bp.get("/enrolment-sheet")
@organiser_required
def enrolment_sheet() -> Any:
    """Printable QR codes for every seat and observer screen not yet enrolled."""
    ev = event_id()
    if ev is None:
        abort(404)
    pending = pending_tokens(store(), token_key(), ev)
    for seat in pending["seats"]:
        seat["url"] = public_url(url_for("rater.enrol", token=seat["token"]))
        seat["svg"] = svg(seat["url"])
    for observer in pending["observers"]:
        page = {"checkin": "checkin.enrol", "auditor": "auditor.enrol", "clerk": "clerk.enrol"}.get(
            observer["role"], "observer.observe"
        )
        observer["url"] = public_url(url_for(page, token=observer["token"]))
        observer["svg"] = svg(observer["url"])
    from .tls import CA_CERT, TLS_DIR, fingerprint

    ca = Path(current_app.instance_path) / TLS_DIR / CA_CERT
    trust = None
    if ca.exists():
        url = public_url(url_for("auth.ca_page"))
        trust = {"url": url, "svg": svg(url), "fingerprint": fingerprint(ca.read_bytes())}
    return render_template("enrolment_sheet.html", pending=pending, trust=trust)


@bp.get("/lot-sheet")
@organiser_required
def lot_sheet() -> Any:
    """Printable QR codes of the current draw's party links (re-derived, never stored)."""
    from . import ceremony

    ev = event_id()
    if ev is None:
        abort(404)
    with store().read() as db:
        active = next(
            iter(
                db.query(
                    "SELECT * FROM lot_draw WHERE event_id = ?"
                    " AND state IN ('committing', 'revealing')",
                    [ev],
                )
            ),
            None,
        )
        view = None if active is None else ceremony.draw_view(db, active)
    if view is None:
        return render_template("lot_sheet.html", parties=[], draw=None)
    parties = ceremony.party_tokens(store(), token_key(), view["id"])
    for party in parties:
        party["url"] = public_url(url_for("party.page", token=party["token"]))
        party["svg"] = svg(party["url"])
    return render_template("lot_sheet.html", parties=parties, draw=view)


@bp.get("/export")
@organiser_required
def export() -> Any:
    """The evidence bundle, made by the running server (docs/bundle-format.md)."""
    from .auditor import bundle_download

    return bundle_download("organiser")


def _room_of(round_id: int) -> int | None:
    """The room of a round an act has just changed: only that room's tablets need a new
    view (None, every room, if it cannot be found)."""
    found = store().row("SELECT room_id FROM round WHERE id = ?", [round_id])
    return None if found is None else int(found["room_id"])


class Live(Audience):
    """The ``/organiser`` namespace: signed-in organisers only."""

    def actor(self) -> str:
        self.identity()
        return "organiser"

    def event(self) -> int | None:
        return self.identity()  # type: ignore[no-any-return]

    def identity(self) -> Any:
        """The event, while this connection's sign-in is still live (not signed out, not
        idle or old past its limits); else the page is told to sign in again."""
        if not organiser_signed_in():
            emit("signed_out", {})
            raise UserError("not_authenticated")
        return super().identity()

    def on_connect(self, auth: Any = None) -> None:
        ev = event_id()
        if not organiser_signed_in() or ev is None:
            raise ConnectionRefusedError("not_authenticated")
        self.remember(ev, client_lang(auth))
        join_room(f"event:{ev}")
        emit(
            "console",
            snapshot_at_connect(
                lambda: interview.board(store(), ev, organiser=True, online=presence().online())
            ),
        )
        emit("evaluation", evaluation.view(store(), ev))
        with store().read() as db:
            emit("results", results.organiser_view(db, ev))

    def on_disconnect(self, reason: Any = None) -> None:
        self.forget()

    @guarded("call_candidate")
    def on_call(self, *args: Any) -> dict[str, Any]:
        data = payload(args)
        room_id = data.get("room_id")
        round_id = interview.call_candidate(
            store(), self.identity(), room_id, data.get("draw_number"), self.actor()
        )
        publish(room_id=int(room_id))  # type: ignore[arg-type]
        return {"ok": True, "round_id": round_id}

    @guarded("open_round")
    def on_open(self, *args: Any) -> dict[str, Any]:
        data = payload(args)
        interview.open_round(store(), self.identity(), data.get("round_id"), self.actor())
        publish(room_id=_room_of(data["round_id"]))
        return {"ok": True}

    @guarded("close_round")
    def on_close(self, *args: Any) -> dict[str, Any]:
        """A close with seated raters still pending is early: a monitor must confirm it."""
        data = payload(args)
        reason = interview.early_close(
            store(), self.identity(), data.get("round_id"), data.get("reason")
        )
        if reason is not None:
            return self._ask(
                "close_early",
                {"round_id": data["round_id"], "reason": reason},
                {"round": data["round_id"], "reason": reason},
            )
        interview.close_round(store(), self.identity(), data.get("round_id"), None, self.actor())
        publish(room_id=_room_of(data["round_id"]))
        return {"ok": True}

    @guarded("candidate_absent")
    def on_absent(self, *args: Any) -> dict[str, Any]:
        data = payload(args)
        interview.mark_absent(
            store(), self.identity(), data.get("round_id"), data.get("reason"), self.actor()
        )
        publish(room_id=_room_of(data["round_id"]))
        return {"ok": True}

    @guarded("finalise_round")
    def on_finalise(self, *args: Any) -> dict[str, Any]:
        data = payload(args)
        reason = interview.finalise_check(
            store(), self.identity(), data.get("round_id"), data.get("reason")
        )
        return self._ask(
            "finalise",
            {"round_id": data["round_id"], "reason": reason},
            {"round": data["round_id"], "reason": reason},
        )

    @guarded("pause_room")
    def on_pause(self, *args: Any) -> dict[str, Any]:
        data = payload(args)
        interview.set_paused(
            store(),
            self.identity(),
            data.get("room_id"),
            bool(data.get("paused", True)),
            self.actor(),
        )
        publish(room_id=int(data["room_id"]))
        return {"ok": True}

    @guarded("reissue_seat")
    def on_reissue(self, *args: Any) -> dict[str, Any]:
        data = payload(args)
        seat_id = data.get("seat_id")
        if not interview.is_row_id(seat_id):
            raise UserError("unknown_seat")  # and nothing past SQLite's integers reaches it
        found = store().row(
            "SELECT seat.id, seat.number, room.name FROM seat JOIN room ON room.id = seat.room_id"
            " WHERE seat.id = ? AND room.event_id = ?",
            [seat_id, self.identity()],
        )
        if found is None:
            raise UserError("unknown_seat")
        return self._ask(
            "reissue_seat",
            {"seat_id": found["id"]},
            {"room": found["name"], "seat": found["number"]},
        )

    @guarded("issue_observer")
    def on_new_observer(self, *args: Any) -> dict[str, Any]:
        return self._link(args, "observer", "observer.observe")

    @guarded("issue_auditor")
    def on_new_auditor(self, *args: Any) -> dict[str, Any]:
        return self._link(args, "auditor", "auditor.enrol")

    @guarded("issue_checkin")
    def on_new_checkin(self, *args: Any) -> dict[str, Any]:
        return self._link(args, "checkin", "checkin.enrol")

    @guarded("lot_draw_started")
    def on_lot_start(self, *args: Any) -> dict[str, Any]:
        """A first draw runs at once; a re-draw needs a reason and a monitor."""
        data = payload(args)
        purpose = data.get("purpose", "order")
        if ceremony.is_redraw(store(), self.identity(), purpose):
            ceremony.check_start(store(), self.identity(), data.get("parties"), purpose)
            reason = data.get("reason")
            if not isinstance(reason, str) or not reason.strip():
                raise UserError("lot_redraw_reason")
            if len(reason.strip()) > interview.MAX_REASON:
                raise UserError("too_long", field="reason")
            asked = {"parties": data.get("parties"), "reason": reason.strip(), "purpose": purpose}
            return self._ask("lot_redraw", asked, {"purpose": purpose, "reason": reason.strip()})
        draw_id = ceremony.start_draw(
            store(),
            token_key(),
            self.identity(),
            data.get("parties"),
            data.get("reason"),
            self.actor(),
            purpose=purpose,
        )
        publish(tablets=False)
        return {"ok": True, "draw_id": draw_id, "sheet": url_for("organiser.lot_sheet")}

    @guarded("lot_draw_voided")
    def on_lot_void(self, *args: Any) -> dict[str, Any]:
        data = payload(args)
        reason = ceremony.void_check(store(), self.identity(), data.get("reason"))
        return self._ask("lot_void", {"reason": reason}, {"reason": reason})

    @guarded("interviews_ended")
    def on_end_interviews(self, *args: Any) -> dict[str, Any]:
        payload(args)
        ceremony.end_check(store(), self.identity())
        return self._ask("end_interviews", {}, {})

    def _link(self, args: tuple[Any, ...], role: str, page: str) -> dict[str, Any]:
        """A one-time link for a new screen of ``role`` (its label, or a number)."""
        label = payload(args).get("label")
        if not isinstance(label, str) or not label.strip():
            label = f"#{len(store().rows('SELECT id FROM observer')) + 1}"
        token = issue_observer(
            store(), token_key(), self.identity(), label.strip(), self.actor(), role=role
        )
        publish(tablets=False)
        return {"ok": True, "url": public_url(url_for(page, token=token))}

    @guarded("issue_clerk")
    def on_new_clerk(self, *args: Any) -> dict[str, Any]:
        """A one-time link for a written-marks clerk device (笔试录入)."""
        return self._link(args, "clerk", "clerk.enrol")

    @guarded("results_rules_set")
    def on_results_rules(self, *args: Any) -> dict[str, Any]:
        """Set the results settings (weights, full marks, tie chain, thresholds, ...)."""
        data = payload(args)
        rules.configure(store(), self.identity(), data.get("settings"), self.actor())
        publish(tablets=False)
        return {"ok": True}

    @guarded("written_resolved")
    def on_resolve(self, *args: Any) -> dict[str, Any]:
        """Decide a written-mark mismatch: one of the two typed figures, and why."""
        data = payload(args)
        written.resolve(
            store(),
            self.identity(),
            data.get("reg_no"),
            data.get("mark"),
            data.get("reason"),
            self.actor(),
        )
        publish(tablets=False)
        return {"ok": True}

    @guarded("correction_requested")
    def on_correct(self, *args: Any) -> dict[str, Any]:
        """A correction of a closed stage's figure: checked now, applied once a monitor
        confirms it."""
        asked, summary = results.correction_request(
            store(), self.identity(), payload(args), self.actor()
        )
        return self._ask("correction", asked, summary)

    @guarded("results_publish_requested")
    def on_publish_results(self, *args: Any) -> dict[str, Any]:
        """Publish (freeze) the results for the 公示: only final results, with a monitor."""
        payload(args)
        version = results.publish_check(store(), self.identity())
        return self._ask("publish_results", {"version": version}, {"version": version})

    @guarded("approval_withdrawn")
    def on_withdraw(self, *args: Any) -> dict[str, Any]:
        data = payload(args)
        approval.decide_not(
            store(), self.identity(), data.get("approval_id"), self.actor(), "withdrawn"
        )
        publish(tablets=False)
        return {"ok": True}

    def _ask(self, action: str, payload: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
        """Log the request and show it to the monitors; the act waits for their yes."""
        approval_id = approval.request(
            store(), self.identity(), action, payload, summary, self.actor()
        )
        publish(tablets=False)
        return {"ok": True, "pending": approval_id}

    @guarded("evaluation_open")
    def on_evaluation_open(self, *args: Any) -> dict[str, Any]:
        """Open the democratic evaluation: slips can be used from now on."""
        payload(args)
        evaluation.open_evaluation(store(), self.identity(), self.actor())
        evaluation.publish()
        return {"ok": True}

    @guarded("evaluation_close")
    def on_evaluation_close(self, *args: Any) -> dict[str, Any]:
        """Ask to close it for good (a monitor confirms): the ballots are then logged in a
        random order and the result published."""
        payload(args)
        evaluation.close_check(store(), self.identity())
        return self._ask("evaluation_close", {}, {})


# --- the democratic evaluation's set-up and its slips (民主测评) ---------------------------


def _setup_form(
    groups: list[dict[str, str]], rules: dict[str, str], state: str | None, **extra: Any
) -> Any:
    """The set-up page: every group row (blank ones to add to), the counting rules."""
    ev = event_id()
    assert ev is not None
    with store().read() as db:
        weight = interview.event_row(db, ev)["weight_evaluation"]
    rows = groups + [{"name": "", "ballots": "", "weight": ""}] * (
        evaluation.MAX_GROUPS - len(groups)
    )
    return render_template(
        "evaluation_setup.html",
        rows=rows,
        rules=rules,
        locked=state not in (None, evaluation.State.SETUP),
        stage_weight=weight,
        **{"error": None, "saved": False, **extra},
    )


@bp.get("/evaluation")
@organiser_required
def evaluation_setup() -> Any:
    """The evaluator groups, their ballots and weights, and the counting rules."""
    ev = event_id()
    if ev is None:
        abort(404)
    groups, rules, state = evaluation.current_setup(store(), ev)
    rows = [
        {
            "name": g.name,
            "ballots": str(g.ballots),
            "weight": "" if g.weight is None else str(g.weight),
        }
        for g in groups
    ]
    texts = {
        "dimensions": " ".join(rules.dimensions),
        "points": str(rules.points),
        "grades": evaluation.grades_text(rules.grades),
        "validity": rules.validity,
    }
    return _setup_form(rows, texts, state, saved=request.args.get("saved") == "1")


@bp.post("/evaluation")
@organiser_required
def evaluation_save() -> Any:
    """Save the set-up (only before the evaluation opens); what was typed is kept on error."""
    ev = event_id()
    if ev is None:
        abort(404)
    form = request.form
    rows = [
        {k: form.get(f"{k}-{i}", "")[:100] for k in ("name", "ballots", "weight")}
        for i in range(evaluation.MAX_GROUPS)
    ]
    texts = {k: form.get(k, "")[:500] for k in ("dimensions", "points", "grades", "validity")}
    kept = [r for r in rows if any(r.values())]
    _groups, _rules, state = evaluation.current_setup(store(), ev)
    lang = client_lang()
    if not csrf_ok():
        record_refusal(store(), "organiser", "evaluation_configured", "csrf", event=ev)
        return _setup_form(kept, texts, state, error=translate("error.csrf", lang)), 400
    try:
        groups = [
            g
            for i, r in enumerate(rows, start=1)
            if (g := evaluation.parse_group(i, r["name"], r["ballots"], r["weight"])) is not None
        ]
        rules = evaluation.Rules(
            dimensions=evaluation.parse_dimensions(texts["dimensions"]),
            points=evaluation.parse_points(texts["points"]),
            grades=evaluation.parse_grades(texts["grades"]),
            validity=texts["validity"],
        )
        evaluation.configure(store(), token_key(), ev, groups, rules, "organiser")
    except UserError as err:
        record_refusal(
            store(), "organiser", "evaluation_configured", err.code, event=ev, field=err.field
        )
        message = err.message(lang)
        return _setup_form(kept, texts, state, error=message), 400
    evaluation.publish()
    return redirect(url_for("organiser.evaluation_setup", saved=1))


@bp.get("/ballot-slips")
@organiser_required
def ballot_slips() -> Any:
    """Printable QR slips of every ballot not yet cast, one sheet per group (``?group=``
    for one group). No slip carries a number: the token alone tells slips apart."""
    ev = event_id()
    if ev is None:
        abort(404)
    group = request.args.get("group", type=int)
    sheets = evaluation.slips(store(), token_key(), ev, group)
    with store().read() as db:
        name = interview.event_row(db, ev)["name"]
    for sheet in sheets:
        sheet["slips"] = []
        for token in sheet.pop("tokens"):
            url = public_url(url_for("evaluator.ballot_page", token=token))
            sheet["slips"].append({"token": token, "url": url, "svg": svg(url)})
    return render_template("ballot_slips.html", sheets=sheets, event_name=name)
