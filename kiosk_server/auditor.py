"""The auditor (审计): downloads the evidence bundle and checks it, nothing else.

An auditor's device is enrolled by a one-time link from the organiser, like an observer
screen. Its page shows the latest signed head, a download of the evidence bundle (made by
the running server, logged with the auditor as actor), and how to check it with
``kiosk verify`` on any machine, with no database.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, render_template

from seal.signing import sha256_hex

from .evidence import latest_head
from .export import export_bundle
from .links import LinkRole
from .live import event_id, publish, store

ROLE = "auditor"
AUDITOR_COOKIE = "kiosk_auditor"
bp = Blueprint("auditor", __name__)
LINK = LinkRole(
    ROLE,
    AUDITOR_COOKIE,
    "audit.enrol_title",
    "audit.intro",
    "auditor.enrol_submit",
    "auditor.desk",
)


@bp.get("/audit/<token>")
def enrol(token: str) -> Any:
    return LINK.enrol_page(token)


@bp.post("/audit/<token>")
def enrol_submit(token: str) -> Any:
    return LINK.enrol_submit(token)


@bp.get("/audit")
def desk() -> Any:
    if LINK.who() is None:
        return LINK.refused()
    ev = event_id()
    return render_template("audit.html", head=None if ev is None else latest_head(store(), ev))


@bp.get("/audit/export")
def export() -> Any:
    found = LINK.who()
    if found is None:
        return LINK.refused()
    return bundle_download(f"auditor:{found['id']}")


def bundle_download(actor: str) -> Any:
    """The evidence bundle, made by the running server itself (its one connection), so an
    export during the event needs no second writer on the database; the export is logged."""
    ev = event_id()
    if ev is None:
        abort(404)
    data = export_bundle(store(), ev, actor=actor)
    publish(tablets=False)
    name = f"evidence-event{ev}-{sha256_hex(data)[:12]}.zip"
    return Response(
        data,
        mimetype="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
