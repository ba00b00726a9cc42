"""Who may do what: every HTTP route and Socket.IO event against every role, in one table.

This table is the source of truth for docs/threat-model.md (``render`` writes the table
printed there) and for tests/test_roles.py, which tries every cell over the real
transports: a cell marked allowed must be served, every other cell must be refused.
A route or event missing here fails that test.
"""

from __future__ import annotations

ROLES = ("anonymous", "organiser", "rater", "observer", "checkin", "evaluator", "auditor")
ANYONE = frozenset(ROLES)
ORGANISER = frozenset({"organiser"})
RATER = frozenset({"rater"})
OBSERVER = frozenset({"observer"})
CHECKIN = frozenset({"checkin"})
AUDITOR = frozenset({"auditor"})
ENROLLED = frozenset({"organiser", "rater", "observer", "auditor"})

# (method, rule) -> roles served. Token-bearing pages are open to anyone holding the token:
# the token is the authority there, not a session.
HTTP: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/"): ANYONE,
    ("GET", "/login"): ANYONE,
    ("POST", "/login"): ANYONE,
    ("POST", "/logout"): ORGANISER,
    ("GET", "/lang/<code>"): ANYONE,
    ("GET", "/ca"): ANYONE,
    ("GET", "/ca.pem"): ANYONE,
    ("GET", "/static/<path:filename>"): ANYONE,
    ("GET", "/tablet-static/<path:filename>"): ANYONE,
    ("GET", "/enrol/<token>"): ANYONE,
    ("POST", "/api/enrol"): ANYONE,
    ("GET", "/observe/<token>"): ANYONE,
    ("POST", "/observe/<token>"): ANYONE,
    ("GET", "/organiser/"): ORGANISER,
    ("GET", "/organiser/enrolment-sheet"): ORGANISER,
    ("GET", "/organiser/export"): ORGANISER,
    ("GET", "/organiser/lot-sheet"): ORGANISER,
    ("GET", "/lot/<token>"): ANYONE,
    ("GET", "/api/lot/<token>"): ANYONE,
    ("POST", "/api/lot/commit"): ANYONE,
    ("POST", "/api/lot/reveal"): ANYONE,
    ("GET", "/checkin/<token>"): ANYONE,
    ("POST", "/checkin/<token>"): ANYONE,
    ("GET", "/checkin"): CHECKIN,
    ("GET", "/audit/<token>"): ANYONE,
    ("POST", "/audit/<token>"): ANYONE,
    ("GET", "/audit"): AUDITOR,
    ("GET", "/audit/export"): AUDITOR,
    ("GET", "/tablet"): RATER,
    ("GET", "/observer"): OBSERVER,
    ("GET", "/observer/head.svg"): ENROLLED,
    ("GET", "/observer/lot.svg"): ENROLLED,
    ("GET", "/api/log/head"): ENROLLED,
    ("GET", "/api/log/consistency"): ENROLLED,
    # Democratic evaluation: an evaluator is whoever holds a ballot slip (its token is the
    # authority, for one ballot); the set-up and the slips are the organiser's.
    ("GET", "/ballot/<token>"): ANYONE,
    ("POST", "/ballot/<token>"): ANYONE,
    ("GET", "/organiser/evaluation"): ORGANISER,
    ("POST", "/organiser/evaluation"): ORGANISER,
    ("GET", "/organiser/ballot-slips"): ORGANISER,
}

# (namespace, event) -> roles served; "connect" is the handshake itself.
SOCKET: dict[tuple[str, str], frozenset[str]] = {
    ("/organiser", "connect"): ORGANISER,
    **{
        ("/organiser", e): ORGANISER
        for e in (
            "call",
            "open",
            "close",
            "absent",
            "finalise",
            "pause",
            "reissue",
            "new_observer",
            "new_checkin",
            "new_auditor",
            "lot_start",
            "lot_void",
            "end_interviews",
            "withdraw",
        )
    },
    ("/rater", "connect"): RATER,
    **{("/rater", e): RATER for e in ("sync", "commit", "reveal", "receipt")},
    ("/observer", "connect"): OBSERVER,
    **{("/observer", e): OBSERVER for e in ("approve", "decline")},
    ("/checkin", "connect"): CHECKIN,
    **{("/checkin", e): CHECKIN for e in ("arrive", "call_next", "confirm")},
    **{("/organiser", e): ORGANISER for e in ("evaluation_open", "evaluation_close")},
}


def render() -> str:
    """The matrix as the Markdown table docs/threat-model.md prints."""
    head = "| route or event | " + " | ".join(ROLES) + " |"
    lines = [head, "|" + "---|" * (len(ROLES) + 1)]
    for (method, rule), allowed in HTTP.items():
        marks = " | ".join("✓" if role in allowed else "—" for role in ROLES)
        lines.append(f"| `{method} {rule}` | {marks} |")
    for (namespace, event), allowed in SOCKET.items():
        marks = " | ".join("✓" if role in allowed else "—" for role in ROLES)
        lines.append(f"| socket `{namespace}` `{event}` | {marks} |")
    return "\n".join(lines)
