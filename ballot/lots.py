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
from collections.abc import Sequence
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
    seats: int,
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
    if not rooms or len(set(rooms)) != len(rooms) or seats < 1:
        raise LotError("give distinct rooms and at least one seat per room")
    key, steps = draw(len(raters), len(raters), sources, hash_name)
    order = [raters[s.selected - 1] for s in steps]
    placed: dict[str, list[Rater]] = {room: [] for room in rooms}
    reserves = []
    for rater in order:
        for room in rooms:
            members = placed[room]
            if (
                len(members) < seats
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
        {room: seats - len(m) for room, m in placed.items() if len(m) < seats},
    )
