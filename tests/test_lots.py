"""RFC 3797 lot drawing: the RFC's own example exactly, and the sha256 mode's properties."""

from __future__ import annotations

import json
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ballot.lots import LotError, Rater, draw, draw_raters, key_string, parse_source

from .conftest import run_kiosk

SOURCES = [[9319], [2, 5, 12, 8, 10], [9, 18, 26, 34, 41, 45]]
# RFC 3797 §6: the first ten digests, and the ten names selected from its pool of 25.
RFC_DIGESTS = [
    "990DD0A5692A029A98B5E01AA28F3459",
    "3691E55CB63FCC37914430B2F70B5EC6",
    "FE814EDF564C190AC1D25753979990FA",
    "1863CCACEB568C31D7DDBDF1D4E91387",
    "F4AB33DF4889F0AF29C513905BE1D758",
    "13EAEB529F61ACFB9A29D0BA3A60DE4A",
    "992DB77C382CA2BDB9727001F3CDCCD9",
    "63AB4258ECA922976811C7F55C383CE7",
    "DFBC5AC97CED01B3A6E348E3CC63F40D",
    "31CB111C4A4EBE9287CEAE16FE51B909",
]
POOL = (
    "John Mary Bashful Dopey Sleepy Grouchy Doc Sneazy Handsome Cassandra Pollyanna "
    "Pendragon Pandora Faith Hope Charity Lee Longsuffering Chastity Smith Pride Sloth "
    "Envy Anger Kasczynski"
).split()
RFC_SELECTED = "Lee Doc Mary Charity Kasczynski Envy Sneazy Anger Chastity Pandora".split()


def test_rfc3797_section_6_is_reproduced_exactly() -> None:
    key, steps = draw(25, 10, SOURCES, "md5")
    assert key == "9319./2.5.8.10.12./9.18.26.34.41.45./"
    assert [s.digest for s in steps] == RFC_DIGESTS
    assert [POOL[s.selected - 1] for s in steps] == RFC_SELECTED
    assert [s.remaining for s in steps] == list(range(25, 15, -1))


sources = st.lists(st.lists(st.integers(0, 10**6), min_size=1, max_size=6), min_size=1, max_size=4)


@given(st.integers(1, 200), sources)
def test_the_whole_pool_gives_a_permutation(size: int, given_sources: list[list[int]]) -> None:
    _key, steps = draw(size, size, given_sources)
    assert sorted(s.selected for s in steps) == list(range(1, size + 1))


@given(st.integers(2, 100), sources, st.data())
def test_selecting_more_extends_the_same_prefix(
    size: int, given_sources: list[list[int]], data: st.DataObject
) -> None:
    fewer = data.draw(st.integers(1, size - 1))
    short = [s.selected for s in draw(size, fewer, given_sources)[1]]
    full = [s.selected for s in draw(size, size, given_sources)[1]]
    assert full[:fewer] == short


@given(st.integers(5, 100), sources)
def test_same_inputs_same_order_and_a_changed_input_changes_it(
    size: int, given_sources: list[list[int]]
) -> None:
    order = [s.selected for s in draw(size, size, given_sources)[1]]
    assert order == [s.selected for s in draw(size, size, given_sources)[1]]
    changed = [list(s) for s in given_sources]
    changed[0][0] += 1
    if key_string(changed) != key_string(given_sources):
        digests = [s.digest for s in draw(size, size, given_sources)[1]]
        assert digests != [s.digest for s in draw(size, size, changed)[1]]


def test_the_order_of_numbers_within_a_source_does_not_matter_but_sources_do() -> None:
    assert key_string([[3, 1, 2]]) == key_string([[1, 2, 3]]) == "1.2.3./"
    assert key_string([[1], [2]]) != key_string([[2], [1]])


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ((0, 1, SOURCES), "pool"),
        ((5, 6, SOURCES), "count"),
        ((5, 1, []), "source"),
        ((5, 1, SOURCES, "sha1"), "hash"),
    ],
)
def test_bad_inputs_are_refused(args: tuple, text: str) -> None:
    with pytest.raises(LotError, match=text):
        draw(*args)
    with pytest.raises(LotError):
        parse_source("12 abc")
    with pytest.raises(LotError):
        parse_source("  ")


def kiosk(*args: str) -> subprocess.CompletedProcess:
    return run_kiosk(*args, env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}, timeout=60)


def test_the_standalone_recompute_needs_no_database() -> None:
    result = kiosk(
        "draw",
        "rfc3797",
        "--pool-size",
        "25",
        "--count",
        "10",
        "--source",
        "9319",
        "--source",
        "2 5 12 8 10",
        "--source",
        "9 18 26 34 41 45",
        "--hash",
        "md5",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "key": "9319./2.5.8.10.12./9.18.26.34.41.45./",
        "hash": "md5",
        "selected": [17, 7, 2, 16, 25, 23, 8, 24, 19, 13],
    }
    text = kiosk("draw", "rfc3797", "--pool-size", "3", "--count", "3", "--source", "42")
    assert text.returncode == 0 and "42./" in text.stdout
    bad = kiosk("draw", "rfc3797", "--pool-size", "3", "--count", "4", "--source", "42")
    assert bad.returncode != 0 and "count" in bad.stderr


raters_strategy = st.lists(
    st.builds(
        Rater,
        id=st.uuids().map(str),
        unit=st.sampled_from("ABCDEFG"),
        avoid=st.frozensets(st.sampled_from(["R1", "R2", "R3"]), max_size=2),
    ),
    min_size=1,
    max_size=40,
    unique_by=lambda r: r.id,
)


@given(raters_strategy, st.integers(1, 8), sources)
def test_the_rater_draw_never_breaks_a_conflict(
    raters: list[Rater], seats: int, given_sources: list[list[int]]
) -> None:
    rooms = ["R1", "R2", "R3"]
    result = draw_raters(raters, rooms, seats, given_sources)
    by_id = {r.id: r for r in raters}
    placed = [rid for members in result.rooms.values() for rid in members]
    assert sorted(placed + result.reserves) == sorted(by_id)
    assert sorted(result.order) == sorted(by_id)
    for room, members in result.rooms.items():
        assert len(members) <= seats
        units = [by_id[m].unit for m in members]
        assert len(units) == len(set(units)), "two raters from one unit in a room"
        assert all(room not in by_id[m].avoid for m in members), "a declared conflict"
        assert result.unfilled.get(room, 0) == seats - len(members)
    assert result == draw_raters(raters, rooms, seats, given_sources)  # reproducible


def test_without_conflicts_every_seat_is_filled_in_drawn_order() -> None:
    raters = [Rater(f"r{i}", f"unit{i}") for i in range(14)]
    result = draw_raters(raters, ["A", "B"], 7, SOURCES)
    assert result.unfilled == {} and result.reserves == []
    assert result.rooms["A"] == result.order[:7] and result.rooms["B"] == result.order[7:]
