"""Screens enrolled by a one-time link: observer (监督屏), check-in (检录), auditor (审计).

Each role's link opens a page with one button; the tap spends the link and hands the
browser its credential as an HttpOnly cookie. Unknown tokens count against the same
failure limit as seat codes. The roles share this code so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import redirect, render_template, request, url_for
from flask_socketio import ConnectionRefusedError

from .audit import record_refusal
from .auth import client_key, limiter
from .enrolment import authenticate_observer, enrol_observer, observer_for_token
from .errors import UserError
from .i18n import normalise_lang
from .live import event_id, publish, store, with_credential


@dataclass(frozen=True)
class LinkRole:
    role: str  # the observer table's role column
    cookie: str
    title: str  # catalogue key of the enrol page's title
    intro: str  # catalogue key of its one line, with {label}
    submit: str  # endpoint that spends a link
    landing: str  # endpoint the enrolled screen lands on
    button: str = "link.button"  # catalogue key of the one button

    def page(self, token: str | None, error: str | None = None, found: Any = None) -> str:
        return render_template(
            "observe.html",
            observer=found,
            token=token,
            error=error,
            action=url_for(self.submit, token=token) if token and found else "",
            title=self.title,
            intro=self.intro,
            button=self.button,
        )

    def enrol_page(self, token: str) -> Any:
        """The page a link opens: says which screen, spends nothing."""
        return self.page(token, found=observer_for_token(store(), token, self.role))

    def enrol_submit(self, token: str) -> Any:
        """Spend the link; the credential goes into an HttpOnly cookie."""
        lang = normalise_lang(request.cookies.get("lang"))
        if limiter("token").blocked(client_key()):
            record_refusal(store(), "anonymous", f"enrol_{self.role}", "too_many_attempts")
            return self.page(token, UserError("too_many_attempts").message(lang)), 429
        try:
            credential, _found = enrol_observer(store(), token, self.role)
        except UserError as err:
            limiter("token").failed(client_key())
            record_refusal(store(), "anonymous", f"enrol_{self.role}", err.code)
            return self.page(token, err.message(lang)), 409
        publish(tablets=False)
        return with_credential(redirect(url_for(self.landing)), self.cookie, credential)

    def who(self) -> dict[str, Any] | None:
        """The enrolled screen this request comes from, or None."""
        return authenticate_observer(store(), request.cookies.get(self.cookie), self.role)

    def connecting(self, auth: Any) -> dict[str, Any]:
        """The enrolled screen opening a socket (``auth.credential`` or the cookie), for
        the event being served; else the refusal is recorded and the connection refused."""
        credential = auth.get("credential") if isinstance(auth, dict) else None
        found = authenticate_observer(
            store(), credential or request.cookies.get(self.cookie), self.role
        )
        ev = event_id()
        if found is None or ev is None or found["event_id"] != ev:
            record_refusal(store(), "anonymous", f"{self.role}_connect", "not_authenticated")
            raise ConnectionRefusedError("not_authenticated")
        return found

    def refused(self) -> Any:
        return self.page(None), 401
