"""Security floors: the app refuses old dependencies; SQLite's WAL race is recognised."""

from __future__ import annotations

import pytest

from kiosk_server import floors


def test_installed_dependencies_meet_the_floors() -> None:
    floors.check()


def test_an_old_dependency_is_refused_by_name() -> None:
    old = {
        "flask": "3.1.2",
        "flask-socketio": "5.7.0",
        "python-socketio": "5.16.1",
        "python-engineio": "4.15.1",
        "cryptography": "46.0.7.post1",
        "gevent": "23.7.0",
    }
    with pytest.raises(floors.BelowFloor) as refused:
        floors.check(old.__getitem__)
    text = str(refused.value)
    assert "flask 3.1.2 < 3.1.3" in text and "python-socketio 5.16.1 < 5.16.2" in text
    assert "gevent 23.7.0 < 23.9.0" in text
    assert "cryptography" not in text and "engineio" not in text


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ((3, 40, 1), True),
        ((3, 44, 5), True),
        ((3, 44, 6), False),
        ((3, 50, 6), True),
        ((3, 50, 7), False),
        ((3, 51, 2), True),
        ((3, 51, 3), False),
        ((3, 52, 0), False),
        ((3, 6, 23), False),
    ],
)
def test_the_sqlite_wal_reset_race_versions(version: tuple[int, ...], affected: bool) -> None:
    assert floors.sqlite_wal_race(version) is affected
