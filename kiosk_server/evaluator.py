"""The evaluator's phone page (民主测评票): a slip's QR code opens ``/ballot/<token>``.

No account and no device credential: the slip's token is the only authority, and it
buys one ballot. The page is a plain form in three steps (fill, review, confirm), all
rendered by the server so it works in any phone browser; a small script only counts the
progress. Grades travel as indexes (``m-<candidate>-<dimension>`` = grade number) and
become grade names here. Nothing about the phone is kept: no address, no agent, no time
of its own (docs/threat-model.md, "Ballots").
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, render_template, request
from werkzeug.datastructures import MultiDict

from ballot.evaluation import Scheme, complete

from . import evaluation
from .audit import record_refusal
from .auth import client_key, csrf_ok, limiter
from .errors import UserError
from .i18n import normalise_lang, translate
from .live import event_id, store

bp = Blueprint("evaluator", __name__)

MARK = re.compile(r"m-(\d{1,4})-(\d{1,2})", re.ASCII)  # the page sends ASCII digits only
STEPS = ("review", "edit", "confirm")
# Refusals and the HTTP status each is answered with.
STATUS = {
    "ballot_unknown": 404,
    "ballot_used": 409,
    "evaluation_not_open": 409,
    "evaluation_closed": 409,
    "too_many_attempts": 429,
    "csrf": 400,
    "malformed": 400,
}


def _lang() -> str:
    return normalise_lang(request.cookies.get("lang"))


def label(kind: str, name: str, lang: str) -> str:
    """A default dimension's or grade's catalogue label; any other name as written."""
    keys = evaluation.DIMENSION_KEYS if kind == "dim" else evaluation.GRADE_KEYS
    return translate(f"eval.{kind}_{keys[name]}", lang) if name in keys else name


def rows_from_form(
    form: MultiDict[str, str], scheme: Scheme, candidates: int
) -> list[list[str | None]]:
    """The marks rows a form carries; anything a browser could not have sent from this
    page (an unknown field, a repeated one, an index out of range) is refused."""
    grades = list(scheme.grades)
    rows: list[list[str | None]] = [[None] * len(scheme.dimensions) for _ in range(candidates)]
    for key in form:
        if key in ("csrf", "step"):
            continue
        match = MARK.fullmatch(key)
        values = form.getlist(key)
        if match is None or len(values) != 1:
            raise UserError("malformed", field="marks")
        c, d = int(match.group(1)), int(match.group(2))
        value = values[0]
        if c >= candidates or d >= len(scheme.dimensions):
            raise UserError("malformed", field="marks")
        if value == "":
            continue
        # str.isdigit() is also true of "²", which int() refuses: ASCII digits only
        if not (value.isascii() and value.isdigit()) or int(value) >= len(grades):
            raise UserError("malformed", field="marks")
        rows[c][d] = grades[int(value)]
    return rows


def _page(ballot: dict[str, Any], token: str, rows: list[list[str | None]], **extra: Any) -> Any:
    """The fill or review page of one slip, the marks chosen so far kept."""
    lang = _lang()
    scheme: Scheme = ballot["scheme"]
    grades = list(scheme.grades)
    chosen = [[None if g is None else grades.index(g) for g in row] for row in rows]
    done = complete(rows)
    return render_template(
        "ballot.html",
        token=token,
        group=ballot["group"],
        candidates=ballot["candidates"],
        dimensions=[label("dim", d, lang) for d in scheme.dimensions],
        grades=[label("grade", g, lang) for g in grades],
        chosen=chosen,
        done=done,
        whole_ballot=scheme.validity == "ballot",
        **{"mode": "fill", "error": None, **extra},
    )


def _refused(err: UserError, action: str) -> Any:
    """A slip that cannot be used (unknown, used, voting not open…): the reason, plainly."""
    if err.code == "ballot_unknown":
        limiter("token").failed(client_key())  # guessing tokens is slowed down
    record_refusal(store(), "anonymous", action, err.code)
    message = err.message(_lang())
    return render_template("ballot.html", mode="message", error=message), STATUS.get(err.code, 409)


def _slip(token: str, action: str) -> tuple[dict[str, Any] | None, Any]:
    """The slip's ballot and None, or None and the page refusing it (too many guesses from
    this address, unknown, used, voting not open or closed)."""
    try:
        if limiter("token").blocked(client_key()):
            raise UserError("too_many_attempts")
        return evaluation.slip(store(), event_id(), token), None
    except UserError as err:
        return None, _refused(err, action)


@bp.get("/ballot/<token>")
def ballot_page(token: str) -> Any:
    """A slip's ballot, blank (spends nothing)."""
    ballot, refused = _slip(token, "ballot_open")
    if ballot is None:
        return refused
    rows = [[None] * len(ballot["scheme"].dimensions) for _ in ballot["candidates"]]
    return _page(ballot, token, rows)


@bp.post("/ballot/<token>")
def ballot_submit(token: str) -> Any:
    """``step=review`` shows the ballot back with every gap named; ``edit`` returns to
    the form; ``confirm`` casts it. Each step re-checks the slip and the evaluation."""
    ballot, refused = _slip(token, "ballot_cast")
    if ballot is None:
        return refused
    step = request.form.get("step")
    try:
        if step not in STEPS:
            raise UserError("malformed", field="step")
        rows = rows_from_form(request.form, ballot["scheme"], len(ballot["candidates"]))
    except UserError as err:
        return _refused(err, "ballot_cast")
    if not csrf_ok():  # the marks are kept: the evaluator only has to send them again
        record_refusal(store(), "anonymous", "ballot_cast", "csrf")
        return _page(ballot, token, rows, error=translate("error.csrf", _lang())), 400
    if step == "edit":
        return _page(ballot, token, rows)
    if step == "review":
        return _page(ballot, token, rows, mode="review")
    try:
        evaluation.cast(store(), event_id(), token, rows)
    except UserError as err:
        return _refused(err, "ballot_cast")
    evaluation.publish()
    return render_template("ballot.html", mode="done", error=None)
