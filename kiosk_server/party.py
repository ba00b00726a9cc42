"""The lot-draw parties' devices: the page a party's one-time link opens, and its JSON API.

The link's token is the party's authority (like a seat's enrolment code), so these
routes need no session. The page computes the commitment in the browser (WebCrypto
SHA-256) and keeps the value and salt on the device until the reveal; the server sees
the value only when it is revealed. The page polls the draw's progress every two
seconds: a party's phone is on screen for a minute or two, and polling needs no
socket credential for a device that is never enrolled.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from . import ceremony
from .audit import record_refusal
from .auth import client_key, limiter
from .errors import UserError
from .i18n import normalise_lang
from .live import publish, store

bp = Blueprint("party", __name__)


def _lang() -> str:
    return normalise_lang(request.cookies.get("lang") or request.headers.get("Accept-Language"))


@bp.get("/lot/<token>")
def page(token: str) -> Any:
    found = ceremony.party_for_token(store(), token)
    return render_template("party.html", party=found, token=token), (200 if found else 404)


@bp.get("/api/lot/<token>")
def status(token: str) -> Any:
    view = ceremony.party_view(store(), token)
    if view is None:
        return UserError("token_unknown").payload(_lang()), 404
    return {"ok": True, **view}


def _act(action: str, run: Any) -> Any:
    """Run a party's act from a JSON body, with the token brute-force limit and a
    localised refusal; the screens are refreshed after every accepted act."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return UserError("malformed").payload(_lang()), 400
    if limiter("token").blocked(client_key()):
        record_refusal(store(), "anonymous", action, "too_many_attempts")
        return UserError("too_many_attempts").payload(_lang()), 429
    try:
        run(data)
    except UserError as err:
        if err.code == "token_unknown":
            limiter("token").failed(client_key())
            record_refusal(store(), "anonymous", action, err.code)
        publish(tablets=False)  # a refused reveal is shown on the screens too
        return err.payload(_lang()), 409
    publish(tablets=False)
    return {"ok": True, **(ceremony.party_view(store(), data.get("token")) or {})}


@bp.post("/api/lot/commit")
def commit() -> Any:
    return _act(
        "lot_committed", lambda d: ceremony.commit(store(), d.get("token"), d.get("commitment"))
    )


@bp.post("/api/lot/reveal")
def reveal() -> Any:
    return _act(
        "lot_revealed",
        lambda d: ceremony.reveal(store(), d.get("token"), d.get("value"), d.get("salt")),
    )
