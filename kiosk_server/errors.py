"""User errors: refusals a person can act on, rendered once, in their language.

A ``UserError`` is never a bug: it carries a catalogue code (see ``i18n``) and the
values that fill its message. Anything else that escapes a handler is a bug and is
answered with a generic message, never a stack trace.
"""

from __future__ import annotations

from typing import Any

from .i18n import translate


class UserError(Exception):
    """A refusal with a message code from the catalogue and its parameters."""

    def __init__(self, code: str, field: str | None = None, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.field = field
        self.params = params

    def message(self, lang: str) -> str:
        """The message alone, in ``lang``."""
        return str(self.payload(lang)["error"]["message"])

    def payload(self, lang: str) -> dict[str, Any]:
        """The error as sent to a client: code, field and the message in ``lang``."""
        params = dict(self.params)
        labels = params.pop("labels", None)
        if isinstance(labels, dict) and lang in labels:
            params["field"] = labels[lang]
        elif self.field is not None:
            params.setdefault("field", self.field)
        return {
            "ok": False,
            "error": {
                "code": self.code,
                "field": self.field,
                "message": translate("error." + self.code, lang, **params),
            },
        }


def internal_error_payload(lang: str) -> dict[str, Any]:
    """What a client is told when a bug surfaced: nothing about the internals."""
    return {
        "ok": False,
        "error": {
            "code": "internal",
            "field": None,
            "message": translate("error.internal", lang),
        },
    }
