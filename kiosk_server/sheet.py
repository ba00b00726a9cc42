"""The published results (公示): the printable sheet, its evidence bundle, and the
spreadsheet exports, for the organiser and the monitors' screens.

Everything here is drawn from the latest *publication*: the results are re-computed from
the inputs its log leaf holds, so the sheet, the exports and the bundle say the same
thing, and the sheet carries the bundle's SHA-256 (a QR code) and the fingerprint of the
bundle's last signed head, for anyone to check it with ``kiosk verify``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, session

from ballot.raters import analysis_rows
from ballot.results import Results, results_table

from . import interview, results
from .errors import UserError
from .i18n import normalise_lang
from .live import event_id, store
from .qr import svg
from .spreadsheet import Sheet, csv_bytes, xlsx_bytes

bp = Blueprint("sheet", __name__)
SHEET_TITLES = {"zh": ("公示", "评委分析"), "en": ("results", "raters")}


def _allowed() -> bool:
    """The organiser, an enrolled observer screen or an auditor's device."""
    from .auditor import LINK as AUDITOR
    from .observer import LINK as OBSERVER

    return bool(session.get("organiser")) or any(
        link.who() is not None for link in (OBSERVER, AUDITOR)
    )


def _lang() -> str:
    return normalise_lang(request.args.get("lang") or request.cookies.get("lang"))


def _refused(code: str, status: int) -> tuple[dict[str, Any], int]:
    return UserError(code).payload(_lang()), status


def _groups(found: Results, lang: str) -> list[dict[str, Any]]:
    """The 公示 table split by post, each with its seats and proposed appointees."""
    rows = results.table(found, lang)["rows"]
    return [
        {
            "code": post.post.code,
            "name": post.post.name,
            "seats": post.post.seats,
            "appointed": [found.of(c).candidate.name for c in post.appointed],
            "vacant": post.vacant,
            "rows": [r[3:] for r in rows if r[0] == post.post.code],
        }
        for post in found.posts
    ]


def published_audience(view: Callable[[int, str], Any]) -> Callable[[], Any]:
    """Serve ``view(event, lang)`` to the organiser and observer screens only."""

    @functools.wraps(view)
    def wrapped() -> Any:
        if not _allowed():
            return _refused("not_authenticated", 401)
        ev = event_id()
        if ev is None:
            abort(404)
        return view(ev, _lang())

    return wrapped


def _latest(ev: int) -> dict[str, Any] | None:
    with store().read() as db:
        return results.publication(db, ev)


@bp.get("/results/sheet")
@published_audience
def results_sheet(ev: int, lang: str) -> Any:
    """The printable 公示 sheet of the latest publication (an explanation before it), in
    the page's language (its headings come from the same ``lang`` cookie)."""
    lang = normalise_lang(request.cookies.get("lang"))
    found = _latest(ev)
    with store().read() as db:
        event_name = interview.event_row(db, ev)["name"]
    if found is None:
        return render_template("results_sheet.html", published=None, event_name=event_name)
    body = found["head"]["body"]
    return render_template(
        "results_sheet.html",
        published=found,
        event_name=event_name,
        headers=results.table(found["results"], lang)["headers"][3:],
        groups=_groups(found["results"], lang),
        head={"size": body["size"], "root": body["root"], "time": body["time"]},
        fingerprint=results.head_fingerprint(found["head"]),
        qr=svg(found["bundle_sha256"]),
    )


@bp.get("/results/bundle")
@published_audience
def results_bundle(ev: int, lang: str) -> Any:
    """The evidence bundle made when the results were published: the one the sheet's
    QR code names."""
    found = _latest(ev)
    if found is None:
        return _refused("results_not_published", 409)
    path = Path(store().path).parent / "results" / found["bundle_file"]
    return _download(path.read_bytes(), found["bundle_file"], "application/zip")


def _stats(ev: int) -> tuple[list[Any], bool]:
    with store().read() as db:
        ended = results.interviews_ended(db, ev)
        stats = results.analysis(db, ev, results.settings_of(db, ev)) if ended else []
    return stats, ended


@bp.get("/results/export.csv")
@published_audience
def export_csv(ev: int, lang: str) -> Any:
    """One table as CSV (UTF-8 with BOM): ``?table=results`` (the published 公示) or
    ``?table=raters`` (the per-rater analysis, once the interviews have ended)."""
    which = request.args.get("table", "results")
    if which == "raters":
        stats, ended = _stats(ev)
        if not ended:
            return _refused("interviews_not_ended", 409)
        sheet, name = Sheet(SHEET_TITLES[lang][1], *analysis_rows(stats, lang)), "raters"
    elif which == "results":
        found = _latest(ev)
        if found is None:
            return _refused("results_not_published", 409)
        sheet = Sheet(SHEET_TITLES[lang][0], *_plain_table(found["results"], lang))
        name = f"results-v{found['version']}"
    else:
        return _refused("malformed", 400)
    return _download(csv_bytes(sheet), f"{name}-{lang}.csv", "text/csv; charset=utf-8")


@bp.get("/results/export.xlsx")
@published_audience
def export_xlsx(ev: int, lang: str) -> Any:
    """The published 公示 and the per-rater analysis as one XLSX workbook (not part of
    the evidence bundle: an XLSX carries its save time, so its bytes are not
    reproducible)."""
    found = _latest(ev)
    if found is None:
        return _refused("results_not_published", 409)
    stats, _ended = _stats(ev)
    sheets = [
        Sheet(SHEET_TITLES[lang][0], *_plain_table(found["results"], lang)),
        Sheet(SHEET_TITLES[lang][1], *analysis_rows(stats, lang)),
    ]
    return _download(
        xlsx_bytes(*sheets),
        f"results-v{found['version']}-{lang}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def _plain_table(found: Results, lang: str) -> tuple[list[str], list[list[Any]]]:
    """The 公示 table with typed figures (numbers stay numbers in a spreadsheet)."""
    return results_table(found, lang)


def _download(data: bytes, name: str, mimetype: str) -> Response:
    return Response(
        data,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
