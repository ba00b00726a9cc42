"""The event's results settings in the kiosk: set by the organiser before the event,
logged whole (the published configuration), frozen once the first figure exists.

The settings themselves and their checks are pure (``ballot.settings``); here they are
stored, logged and refused with a message the organiser can act on.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from ballot.model import Stage
from ballot.settings import (
    SettingError,
    Settings,
    settings_from_json,
    settings_to_json,
)

from .audit import record
from .errors import UserError
from .storage import Store, utcnow


def _one(db: sqlite_utils.Database, sql: str, params: list[Any]) -> dict[str, Any] | None:
    return next(iter(db.query(sql, params)), None)


def load(db: sqlite_utils.Database, event_id: int) -> Settings:
    """The event's settings: as last set, or the defaults (30/40/30, 100 points, ...)."""
    found = _one(db, "SELECT config FROM result_rules WHERE event_id = ?", [event_id])
    return Settings() if found is None else settings_from_json(json.loads(found["config"]))


def interviews_started(db: sqlite_utils.Database, event_id: int) -> bool:
    """Whether a candidate of the event has been called: a round exists."""
    return (
        _one(
            db,
            "SELECT 1 AS x FROM round JOIN room ON room.id = round.room_id"
            " WHERE room.event_id = ? LIMIT 1",
            [event_id],
        )
        is not None
    )


def frozen_by(db: sqlite_utils.Database, event_id: int) -> str | None:
    """What fixed the settings, or None while they may change: set before the event
    means before the first written mark is entered, the democratic evaluation opens
    (its logged scheme carries the evaluation weight) and the first candidate is called."""
    if _one(db, "SELECT 1 AS x FROM written_entry WHERE event_id = ? LIMIT 1", [event_id]):
        return "written"
    if _one(
        db, "SELECT 1 AS x FROM evaluation WHERE event_id = ? AND state != 'setup'", [event_id]
    ):
        return "evaluation"
    if interviews_started(db, event_id):
        return "interview"
    return None


def configure(store: Store, event_id: int, payload: object, actor: str) -> Settings:
    """Check and keep the organiser's settings; the whole configuration goes in the log."""
    try:
        settings = settings_from_json(payload)
    except SettingError as err:
        raise UserError("rules_invalid", field=err.field) from None
    data = settings_to_json(settings)
    with store.write() as db:
        if frozen_by(db, event_id) is not None:
            raise UserError("rules_frozen")
        db.execute(
            "INSERT INTO result_rules(event_id, config, set_at) VALUES (?, ?, ?)"
            " ON CONFLICT(event_id) DO UPDATE SET config = excluded.config,"
            " set_at = excluded.set_at",
            [event_id, json.dumps(data, sort_keys=True), utcnow()],
        )
        # The event row's weight columns say the same as the settings, always.
        db.execute(
            "UPDATE event SET weight_written = ?, weight_evaluation = ?, weight_interview = ?"
            " WHERE id = ?",
            [
                settings.weights[Stage.WRITTEN],
                settings.weights[Stage.EVALUATION],
                settings.weights[Stage.INTERVIEW],
                event_id,
            ],
        )
        record(db, actor, "results_rules_set", "accepted", event=event_id, settings=data)
    return settings


def view(db: sqlite_utils.Database, event_id: int) -> dict[str, Any]:
    """The published configuration as every screen shows it."""
    return {
        "settings": settings_to_json(load(db, event_id)),
        "frozen": frozen_by(db, event_id) is not None,
    }
