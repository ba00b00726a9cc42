"""Lot drawing anyone can recompute: RFC 3797 (Publicly Verifiable Random Selection).

Terms:
- *source*: one public random input, a list of non-negative integers (e.g. a number
  entered by the organiser, a dice roll made before the monitors). Sources are used in
  an order announced before the draw.
- *key string*: each source's numbers sorted ascending, each followed by ``.``, and each
  source ended by ``/`` (e.g. ``9319./2.5.8.10.12./``).
- *pool*: the members in their published order (e.g. by registration number). Member
  positions are 1-based.
- *draw*: for counter i = 0, 1, …: digest(i as 2 bytes big-endian ‖ key ‖ the same 2
  bytes) read as a big-endian integer, modulo the number of members still in the pool,
  picks (0-based) among the remaining members in published order; the pick is removed.
  ``md5`` is RFC 3797 itself (its §6 example is a test); ``sha256`` is identical but for
  the hash, and the default for real draws. Selecting the whole pool gives an order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

HASHES = ("md5", "sha256")
MAX_POOL = 65536  # the counter is two bytes


class LotError(ValueError):
    """Inputs a draw cannot be made from."""


def parse_source(text: str) -> list[int]:
    """A source as typed: non-negative integers separated by spaces or commas."""
    parts = text.replace(",", " ").split()
    if not parts:
        raise LotError("a source needs at least one number")
    numbers = []
    for part in parts:
        if not part.isdigit():
            raise LotError(f"{part!r} is not a non-negative whole number")
        numbers.append(int(part))
    return numbers


def key_string(sources: Sequence[Sequence[int]]) -> str:
    """The RFC 3797 key string of the sources, in their announced order."""
    if not sources:
        raise LotError("a draw needs at least one source")
    return "".join("".join(f"{n}." for n in sorted(source)) + "/" for source in sources)


def digest(key: str, counter: int, hash_name: str = "sha256") -> bytes:
    if hash_name not in HASHES:
        raise LotError(f"unknown hash {hash_name!r}; use one of {HASHES}")
    prefix = counter.to_bytes(2, "big")
    return hashlib.new(hash_name, prefix + key.encode("ascii") + prefix).digest()


@dataclass(frozen=True)
class Step:
    """One selection: the counter, its digest, how many were left, the position chosen."""

    counter: int
    digest: str
    remaining: int
    selected: int


def draw(
    pool_size: int, count: int, sources: Sequence[Sequence[int]], hash_name: str = "sha256"
) -> tuple[str, list[Step]]:
    """Select ``count`` of ``pool_size`` members (1-based positions); returns the key
    string and every step, so each can be shown and checked."""
    if not 1 <= pool_size <= MAX_POOL:
        raise LotError(f"the pool must hold 1 to {MAX_POOL} members")
    if not 1 <= count <= pool_size:
        raise LotError("the count must be between 1 and the pool size")
    key = key_string(sources)
    remaining = list(range(1, pool_size + 1))
    steps = []
    for counter in range(count):
        value = digest(key, counter, hash_name)
        index = int.from_bytes(value, "big") % len(remaining)
        steps.append(Step(counter, value.hex().upper(), len(remaining), remaining.pop(index)))
    return key, steps


@dataclass(frozen=True)
class Rater:
    """A rater to place: ``unit`` keeps colleagues apart; ``avoid`` lists the rooms where a
    candidate has a declared conflict (回避) with this rater."""

    id: str
    unit: str
    avoid: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RoomDraw:
    key: str
    order: list[str]  # rater ids in drawn order
    rooms: dict[str, list[str]]  # room -> rater ids, in seat order
    reserves: list[str]  # drawn raters who could not be placed without a conflict
    unfilled: dict[str, int]  # rooms left short of seats, and by how many


def draw_raters(
    raters: Sequence[Rater],
    rooms: Sequence[str],
    seats: int | Mapping[str, int],
    sources: Sequence[Sequence[int]],
    hash_name: str = "sha256",
) -> RoomDraw:
    """Draw raters into rooms. The RFC 3797 order of the whole rater pool (in published
    order) decides; each rater in turn takes a seat in the first room, in published
    order, that has one free, holds nobody from the same unit, and is not a room the
    rater must avoid. A rater no room can take is a reserve; the result says which rooms
    stay short, never bending a rule to fill them."""
    if len({r.id for r in raters}) != len(raters):
        raise LotError("rater ids must be unique")
    capacity = dict(seats) if isinstance(seats, Mapping) else {room: seats for room in rooms}
    if not rooms or len(set(rooms)) != len(rooms) or any(capacity.get(r, 0) < 1 for r in rooms):
        raise LotError("give distinct rooms and at least one seat per room")
    key, steps = draw(len(raters), len(raters), sources, hash_name)
    order = [raters[s.selected - 1] for s in steps]
    placed: dict[str, list[Rater]] = {room: [] for room in rooms}
    reserves = []
    for rater in order:
        for room in rooms:
            members = placed[room]
            if (
                len(members) < capacity[room]
                and room not in rater.avoid
                and all(m.unit != rater.unit for m in members)
            ):
                members.append(rater)
                break
        else:
            reserves.append(rater.id)
    return RoomDraw(
        key,
        [r.id for r in order],
        {room: [r.id for r in members] for room, members in placed.items()},
        reserves,
        {room: capacity[room] - len(m) for room, m in placed.items() if len(m) < capacity[room]},
    )


# --- on-site entropy: commit-reveal among named parties ------------------------------
#
# Each party types a source (a number, or dice rolls made before everyone) on its own
# device; the device draws a random salt and publishes only the commitment. Once every
# party has committed, each reveals value and salt; anyone can recompute the commitment
# with any SHA-256 tool: ``printf '%s' '2 5 12 8 10/<salt>' | sha256sum``.

SALT_HEX = 32  # 128 bits, lowercase hex
MAX_SOURCE_NUMBERS = 20
MAX_SOURCE_VALUE = 10**12


def normalise_source(text: str) -> str:
    """A typed source in its one committed spelling: its numbers as entered, separated
    by single spaces (the key string sorts them anyway)."""
    numbers = parse_source(text)
    if len(numbers) > MAX_SOURCE_NUMBERS:
        raise LotError(f"a source holds at most {MAX_SOURCE_NUMBERS} numbers")
    if any(n > MAX_SOURCE_VALUE for n in numbers):
        raise LotError(f"each number must be at most {MAX_SOURCE_VALUE}")
    return " ".join(str(n) for n in numbers)


def source_commitment(value: str, salt: str) -> str:
    """SHA-256 (hex) of ``value/salt``: what a party publishes before revealing."""
    if len(salt) != SALT_HEX or any(c not in "0123456789abcdef" for c in salt):
        raise LotError(f"the salt must be {SALT_HEX} lowercase hex digits")
    return hashlib.sha256(f"{normalise_source(value)}/{salt}".encode("ascii")).hexdigest()


def pool_digest(members: Sequence[str]) -> str:
    """SHA-256 (hex) of the pool in published order, one member per line, each line
    ended by a newline: ``printf '%s\\n' 2026001 2026002 … | sha256sum``. Published
    before the draw so the pool cannot change afterwards, while the list itself (which
    maps draw numbers to people) stays private until the interviews end."""
    if any("\n" in m for m in members):
        raise LotError("a pool member cannot contain a line break")
    return hashlib.sha256("".join(f"{m}\n" for m in members).encode("utf-8")).hexdigest()


def recompute_command(pool_size: int, sources: Sequence[str], hash_name: str) -> str:
    """The ``kiosk draw rfc3797`` command line that recomputes a draw, for the QR code."""
    args = " ".join(f'--source "{s}"' for s in sources)
    return (
        f"kiosk draw rfc3797 --pool-size {pool_size} --count {pool_size} {args} --hash {hash_name}"
    )
