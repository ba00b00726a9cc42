"""What is open to anyone: organiser sign-in, the language switch, and the kiosk's CA
certificate (public by nature) for tablets to trust."""

from __future__ import annotations

import functools
import hmac
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from seal.tokens import digest

from .audit import record, record_refusal
from .i18n import normalise_lang, translate
from .limits import FailureLimiter
from .live import store
from .storage import Store, off_the_hub, utcnow

bp = Blueprint("auth", __name__)

PASSWORD_SETTING = "organiser_password"
SESSION_SETTING = "organiser_session:"


def set_organiser_password(st: Store, password: str) -> None:
    """Store the organiser password as a scrypt hash (Werkzeug's, not ours); every
    organiser signed in with the old one is signed out."""
    with st.write() as db:
        db.execute(
            "INSERT OR REPLACE INTO setting(key, value) VALUES (?, ?)",
            [PASSWORD_SETTING, generate_password_hash(password)],
        )
        db.execute("DELETE FROM setting WHERE key LIKE ?", [SESSION_SETTING + "%"])
        record(db, "cli", "organiser_password_set", "accepted")


def _session_setting(session_id: str) -> str:
    return SESSION_SETTING + digest(session_id)


def _last_seen() -> dict[str, float]:
    """When each live sign-in last acted (monotonic seconds), in memory: writing it to the
    database would cost an fsync per request. A restart starts every idle clock afresh."""
    found: dict[str, float] = current_app.extensions.setdefault("kiosk.organiser_seen", {})
    return found


def organiser_signed_in() -> bool:
    """Whether this request's session is a live organiser sign-in. The signed cookie alone
    is not enough: Flask keeps sessions in the cookie, so a copy taken before sign-out
    would still open the console. Each sign-in is therefore written down (its digest and
    when it began) and crossed out at sign-out, when the password changes, after
    ``ORGANISER_IDLE_SECONDS`` without a request or socket event, and
    ``ORGANISER_MAX_SECONDS`` after it began."""
    session_id = session.get("organiser")
    if not isinstance(session_id, str):
        return False
    key = _session_setting(session_id)
    began = store().setting(key)
    if began is None:
        return False
    now, seen = time.monotonic(), _last_seen()
    config = current_app.config
    age = datetime.now(UTC) - datetime.fromisoformat(began)
    idle = now - seen.get(key, now)
    if age.total_seconds() > config["ORGANISER_MAX_SECONDS"]:
        _expire(key, "session_too_old")
        return False
    if idle > config["ORGANISER_IDLE_SECONDS"]:
        _expire(key, "session_idle")
        return False
    seen[key] = now
    return True


def _expire(key: str, why: str) -> None:
    """Cross out a sign-in that outlived its limits; the organiser signs in again."""
    _last_seen().pop(key, None)
    with store().write() as db:
        db.execute("DELETE FROM setting WHERE key = ?", [key])
        record(db, "organiser", "signed_out", "accepted", reason=why)


def organiser_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not organiser_signed_in():
            return redirect(url_for("auth.login", next=request.path))
        return view(*args, **kwargs)

    return wrapped


def _safe_next(target: str | None, default: str = "organiser.console") -> str:
    """Only same-site paths: never redirect anyone off the kiosk."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for(default)


def csrf_token() -> str:
    """This session's anti-forgery token, for every form that changes something."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


@bp.before_app_request
def check_csrf() -> Any:
    """A cookie-authenticated form post must carry the session's token (sign-in included:
    a forged sign-in could tie the organiser's browser to an attacker's session)."""
    if request.method == "POST" and request.endpoint in CSRF_ENDPOINTS:
        if not csrf_ok():
            record_refusal(store(), "anonymous", "csrf", "csrf")
            lang = normalise_lang(request.cookies.get("lang"))
            return render_template("login.html", error=translate("error.csrf", lang)), 400
    return None


CSRF_ENDPOINTS = {"auth.login", "auth.logout"}


def csrf_ok() -> bool:
    """Whether this form post carries this session's anti-forgery token (pages that answer
    a failure in their own way, e.g. a ballot that must keep the evaluator's marks, ask
    this themselves)."""
    sent = request.form.get("csrf", "")
    expected = str(session.get("csrf", "")).encode()
    # as bytes: compare_digest refuses str with non-ASCII characters (a TypeError)
    return bool(sent) and hmac.compare_digest(sent.encode(), expected)


def limiter(kind: str) -> FailureLimiter:
    """The app's limiter for ``kind`` (``sign_in``, ``token``), made on first use."""
    from flask import current_app

    return current_app.extensions.setdefault(f"kiosk.limit.{kind}", FailureLimiter())


def client_key() -> str:
    return request.remote_addr or "unknown"


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    lang = normalise_lang(request.cookies.get("lang"))
    error = None
    if request.method == "POST" and limiter("sign_in").blocked(client_key()):
        record_refusal(store(), "anonymous", "sign_in", "too_many_attempts")
        return render_template("login.html", error=translate("error.too_many_attempts", lang)), 429
    if request.method == "POST":
        stored = store().setting(PASSWORD_SETTING)
        password = request.form.get("password", "")
        # scrypt: ~0.1 s that would stop every tablet's acknowledgement on gevent's hub
        if (
            stored
            and 0 < len(password) <= 200
            and off_the_hub(lambda: check_password_hash(stored, password))
        ):
            session.clear()  # a fresh session (and anti-forgery token) on every sign-in
            session["organiser"] = session_id = secrets.token_urlsafe(24)
            with store().write() as db:
                db.execute(
                    "INSERT INTO setting(key, value) VALUES (?, ?)",
                    [_session_setting(session_id), utcnow()],
                )
                record(db, "organiser", "signed_in", "accepted")
            return redirect(_safe_next(request.args.get("next")))
        limiter("sign_in").failed(client_key())
        record_refusal(store(), "anonymous", "sign_in", "bad_password")
        error = translate("error.bad_password", lang)
    return render_template("login.html", error=error), (401 if error else 200)


@bp.post("/logout")
def logout() -> Any:
    session_id = session.get("organiser")
    if isinstance(session_id, str):
        _last_seen().pop(_session_setting(session_id), None)
        with store().write() as db:
            db.execute("DELETE FROM setting WHERE key = ?", [_session_setting(session_id)])
    session.clear()
    return redirect(url_for("auth.login"))


@bp.get("/lang/<code>")
def switch_language(code: str) -> Any:
    response = redirect(_safe_next(request.args.get("next"), default="auth.login"))
    response.set_cookie("lang", normalise_lang(code), max_age=365 * 86400, samesite="Lax")
    return response


@bp.get("/ca")
def ca_page() -> Any:
    """How a tablet trusts the kiosk: the CA certificate, its fingerprint and a QR code."""
    from pathlib import Path

    from flask import current_app

    from .qr import svg
    from .tls import CA_CERT, TLS_DIR, fingerprint

    path = Path(current_app.instance_path) / TLS_DIR / CA_CERT
    if not path.exists():
        return render_template("ca.html", fingerprint=None, qr=None), 404
    url = request.host_url.rstrip("/") + url_for("auth.ca_certificate")
    return render_template(
        "ca.html", fingerprint=fingerprint(path.read_bytes()), qr=svg(url), url=url
    )


@bp.get("/ca.pem")
def ca_certificate() -> Any:
    from pathlib import Path

    from flask import Response, abort, current_app

    from .tls import CA_CERT, TLS_DIR

    path = Path(current_app.instance_path) / TLS_DIR / CA_CERT
    if not path.exists():
        abort(404)
    return Response(
        path.read_bytes(),
        mimetype="application/x-x509-ca-cert",
        headers={"Content-Disposition": 'attachment; filename="kiosk-ca.crt"'},
    )
