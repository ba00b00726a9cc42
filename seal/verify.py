"""Re-derive an event from its log, and check an evidence bundle without the kiosk.

Terms:
- *replay*: walking the log's leaves in order, checking every envelope's signature with
  the key its seat registered, every binding (event, room, seat, round, draw number,
  rubric), sequence numbers and nonces, every opening against its commitment and the
  rubric, every close statement against the commitments, and re-computing every
  published round result with the same rule the server uses (``ballot.scoring``).
- *failure*: one plain sentence naming what does not hold and where. A bundle verifies
  when there are none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ballot.lots import (
    LotError,
    Rater,
    draw_raters,
    parse_source,
    pool_digest,
    source_commitment,
)
from ballot.lots import draw as lot_draw
from ballot.scoring import RubricItem, SheetError, panel_result, sheet_total, validate_sheet

from .ballots import EvaluationLog, EvaluationReplay
from .bundle import FILES, FORMAT, jsonl, read_json, read_jsonl, unpack
from .merkle import Tree, leaf_hash
from .record import BOUND_FIELDS, COMMITTED_FIELDS, rubric_version
from .signing import canonical, checked_bytes, load_public_key, sha256_hex, unb64u, verify

LEAF_KEYS = {"seq", "time", "type", "actor", "disposition", "data"}


@dataclass
class Round:
    id: int
    room: int
    draw_number: int
    seated: list[int]
    rubric: str
    state: str = "open"
    close_reason: str | None = None
    commitments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    opened: dict[int, Decimal] = field(default_factory=dict)
    refused: set[int] = field(default_factory=set)


@dataclass
class Replay(EvaluationReplay):
    """What the log says, re-derived, and every way it fails to hold together."""

    event_id: int = 0
    failures: list[str] = field(default_factory=list)
    event: dict[str, Any] = field(default_factory=dict)
    rubric: list[dict[str, Any]] = field(default_factory=list)
    rooms: dict[int, dict[str, Any]] = field(default_factory=dict)
    seat_room: dict[int, int] = field(default_factory=dict)
    seat_number: dict[int, int] = field(default_factory=dict)
    keys: dict[int, Any] = field(default_factory=dict)
    key_history: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    last_seq: dict[int, int] = field(default_factory=dict)
    nonces: dict[int, set[str]] = field(default_factory=dict)
    rounds: dict[int, Round] = field(default_factory=dict)
    envelopes: list[dict[str, Any]] = field(default_factory=list)
    openings: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    # Lot draws: id -> {"pool_size", "pool_digest", "hash", "parties", "commitments",
    # "values", "drawn"}.
    draws: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Leaves whose envelope signature failed, when checked beforehand in other processes
    # (``bad_signatures``); None means check each signature during the walk.
    bad: set[int] | None = None
    # The democratic evaluation, when the log holds one (its handlers: seal.ballots).
    evaluation: EvaluationLog | None = None

    def fail(self, index: int, text: str) -> None:
        self.failures.append(f"log entry {index}: {text}")

    # --- the walk ---------------------------------------------------------------------

    def leaf(self, index: int, entry: dict[str, Any]) -> None:
        data, kind = entry["data"], entry["type"]
        if entry["disposition"] == "refused":
            if kind == "opening_refused" and data.get("round") in self.rounds:
                self.rounds[data["round"]].refused.add(data.get("seat"))
            return
        handler = getattr(self, "on_" + kind, None)
        if handler is not None:
            try:
                handler(index, entry, data)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                self.fail(index, f"a {kind} entry is malformed ({type(exc).__name__}: {exc})")

    def on_event_created(self, index: int, entry: dict, data: dict) -> None:
        if index != 0:
            self.fail(index, "the event is created again in the middle of its log")
            return
        self.event = {
            "name": data["name"],
            "rehearsal": data["rehearsal"],
            "threshold": data["threshold"],
            "server_key": data["server_key"],
        }

    def on_setup_imported(self, index: int, entry: dict, data: dict) -> None:
        if data["rubric"]:
            if any(r.rubric != rubric_version(self.rubric) for r in self.rounds.values()):
                self.fail(index, "the rubric changed after interviews began")
            self.rubric = data["rubric"]
        for room in data["rooms"]:
            self.rooms[room["id"]] = room
            for seat in room["seats"]:
                self.seat_room[seat["id"]] = room["id"]
                self.seat_number[seat["id"]] = seat["number"]

    def on_seat_issued(self, index: int, entry: dict, data: dict) -> None:
        self.keys[data["seat"]] = None  # a re-issued seat's old device is void

    def on_seat_enrolled(self, index: int, entry: dict, data: dict) -> None:
        seat = data["seat"]
        if seat not in self.seat_room:
            self.fail(index, f"seat {seat} is enrolled but was never set up")
            return
        try:
            self.keys[seat] = load_public_key(data["public_key"])
        except ValueError:
            self.fail(index, f"seat {seat} registered a key that is not an Ed25519 public key")
            self.keys[seat] = None
        self.last_seq[seat] = 0
        self.key_history.setdefault(seat, []).append(
            {"public_key": data["public_key"], "leaf": index}
        )

    def on_round_opened(self, index: int, entry: dict, data: dict) -> None:
        if data["round"] in self.rounds:
            self.fail(index, f"round {data['round']} is opened twice")
            return
        if data["rubric"] != rubric_version(self.rubric):
            self.fail(index, f"round {data['round']} names a rubric the log never set up")
        self.rounds[data["round"]] = Round(
            data["round"], data["room"], data["draw_number"], list(data["seated"]), data["rubric"]
        )

    def on_candidate_absent(self, index: int, entry: dict, data: dict) -> None:
        """A called candidate who never came in: a round with nobody seated, closed."""
        if data["round"] in self.rounds:
            self.fail(index, f"round {data['round']} is marked absent after it was opened")
            return
        self.rounds[data["round"]] = Round(
            data["round"],
            data["room"],
            data["draw_number"],
            [],
            data["rubric"],
            "revealing",
            data["reason"],
        )

    def _envelope(self, index: int, entry: dict, types: tuple[str, ...]) -> dict | None:
        """The envelope's body, if it is signed by its seat's key and bound to its round."""
        envelope = entry["data"]["envelope"]
        body = envelope.get("body", {})
        seat = body.get("seat")
        if entry["actor"] != f"seat:{seat}":
            self.fail(index, f"an envelope for seat {seat} was logged for {entry['actor']}")
            return None
        key = self.keys.get(seat)
        if key is None:
            self.fail(index, f"seat {seat} has no registered key for this envelope")
            return None
        try:
            if set(envelope) != {"body", "signature"}:
                raise ValueError("not an envelope")
            if self.bad is None:
                verify(key, envelope)
            elif index in self.bad:
                raise ValueError("bad signature")
        except ValueError:
            self.fail(index, f"the signature does not verify with seat {seat}'s registered key")
            return None
        if body.get("type") not in types:
            self.fail(index, f"an envelope of type {body.get('type')!r} where {types} belong")
            return None
        round_ = self.rounds.get(body.get("round"))
        if round_ is None:
            self.fail(index, f"the envelope names round {body.get('round')}, never opened")
            return None
        expected = {
            "event": self.event_id,
            "room": round_.room,
            "round": round_.id,
            "draw_number": round_.draw_number,
            "rubric": round_.rubric,
            "seat": seat,
        }
        for name in BOUND_FIELDS:
            if body.get(name) != expected[name]:
                self.fail(index, f"the envelope's {name} does not match round {round_.id}")
                return None
        if self.seat_room.get(seat) != round_.room or seat not in round_.seated:
            self.fail(index, f"seat {seat} is not seated in round {round_.id}")
            return None
        if body["seq"] <= self.last_seq.get(seat, 0):
            self.fail(index, f"seat {seat}'s sequence number goes backwards (replay)")
            return None
        if body["nonce"] in self.nonces.setdefault(seat, set()):
            self.fail(index, f"seat {seat} reuses a nonce (replay)")
            return None
        self.last_seq[seat] = body["seq"]
        self.nonces[seat].add(body["nonce"])
        return body

    def on_commitment(self, index: int, entry: dict, data: dict) -> None:
        self._commit(index, entry, "score")

    def on_conflict_declared(self, index: int, entry: dict, data: dict) -> None:
        self._commit(index, entry, "recusal")

    def _commit(self, index: int, entry: dict, kind: str) -> None:
        body = self._envelope(index, entry, ("commitment", "recusal"))
        if body is None:
            return
        round_ = self.rounds[body["round"]]
        if round_.state != "open":
            self.fail(index, f"a sheet accepted after round {round_.id} closed")
            return
        history = round_.commitments.setdefault(body["seat"], [])
        if history and history[-1]["kind"] == "recusal":
            self.fail(index, f"seat {body['seat']} replaced a recusal")
        if entry["data"].get("version") != len(history) + 1:
            self.fail(index, "the commitment's version number is out of order")
        history.append({"kind": kind, "digest": body.get("commitment"), "leaf": index})
        self.envelopes.append({"leaf": index, "envelope": entry["data"]["envelope"]})

    def on_round_closed(self, index: int, entry: dict, data: dict) -> None:
        statement = data["statement"]
        round_ = self.rounds.get(statement["round"])
        if round_ is None or round_.state != "open":
            self.fail(index, f"round {statement['round']} is closed while not open")
            return
        listed = [
            {
                "seat": seat,
                "kind": h[-1]["kind"],
                "commitment": h[-1]["digest"],
                "leaf": h[-1]["leaf"],
            }
            for seat, h in sorted(
                round_.commitments.items(), key=lambda kv: self.seat_number.get(kv[0], 0)
            )
        ]
        if statement["commitments"] != listed:
            self.fail(
                index,
                f"round {round_.id}'s close statement does not list the commitments the log holds",
            )
        round_.state, round_.close_reason = "revealing", statement.get("reason")

    def on_opening(self, index: int, entry: dict, data: dict) -> None:
        body = self._envelope(index, entry, ("opening",))
        if body is None:
            return
        round_ = self.rounds[body["round"]]
        seat = body["seat"]
        history = round_.commitments.get(seat) or []
        if round_.state != "revealing":
            self.fail(index, f"an opening accepted while round {round_.id} was {round_.state}")
            return
        if not history or history[-1]["kind"] != "score" or seat in round_.opened:
            self.fail(index, f"seat {seat} had no sealed sheet left to open in round {round_.id}")
            return
        try:  # the verifier's encoder: see signing.checked_bytes
            digest = sha256_hex(checked_bytes({k: body[k] for k in COMMITTED_FIELDS}))
        except KeyError:
            digest = None
        if digest != history[-1]["digest"]:
            self.fail(index, f"seat {seat}'s opening does not match its commitment")
            return
        items = [
            RubricItem(
                i["code"], i["label_zh"], i["label_en"], Decimal(i["max"]), Decimal(i["step"])
            )
            for i in self.rubric
        ]
        try:
            values = validate_sheet(items, body["items"])
            total = Decimal(body["total"])
        except (SheetError, InvalidOperation, TypeError):
            self.fail(index, f"seat {seat}'s opened sheet breaks the rubric")
            return
        if total != sheet_total(values):
            self.fail(index, f"seat {seat}'s total {body['total']} is not the sum of its items")
            return
        round_.opened[seat] = total
        self.openings.append({"leaf": index, "envelope": entry["data"]["envelope"]})

    def on_round_result(self, index: int, entry: dict, data: dict) -> None:
        round_ = self.rounds.get(data["round"])
        if round_ is None or round_.state != "revealing":
            self.fail(index, f"a result for round {data['round']}, which was not closed")
            return
        outcomes = []
        for seat in round_.seated:
            history = round_.commitments.get(seat)
            number = self.seat_number[seat]
            if not history:
                outcomes.append((number, "absent", None))
            elif history[-1]["kind"] == "recusal":
                outcomes.append((number, "recused", None))
            elif seat in round_.opened:
                outcomes.append((number, "scored", round_.opened[seat]))
            else:
                outcomes.append(
                    (number, "mismatch" if seat in round_.refused else "unrevealed", None)
                )
        result = panel_result(outcomes, self.event.get("threshold", 5))
        result["close_reason"] = round_.close_reason
        if result != data["result"]:
            self.fail(
                index,
                f"round {round_.id} (draw number {round_.draw_number}) announced "
                f"{data['result'].get('mean')}, the openings give {result['mean']}",
            )
        round_.state = "closed"
        self.results.append(
            {
                "round": round_.id,
                "room": round_.room,
                "draw_number": round_.draw_number,
                "result": result,
            }
        )

    # --- lot draws (docs/lots.md) -------------------------------------------------------

    def on_lot_draw_started(self, index: int, entry: dict, data: dict) -> None:
        self.draws[data["draw"]] = {
            **{k: data[k] for k in ("pool_size", "pool_digest", "hash")},
            "purpose": data.get("purpose", "order"),
            "raters": data.get("raters"),
            "rooms": data.get("rooms"),
            "parties": len(data["parties"]),
            "commitments": {},
            "values": {},
            "drawn": None,
        }

    def on_lot_committed(self, index: int, entry: dict, data: dict) -> None:
        draw_ = self.draws[data["draw"]]
        if data["party"] in draw_["commitments"] or draw_["values"]:
            self.fail(index, f"draw {data['draw']} took a commitment out of turn")
        draw_["commitments"][data["party"]] = data["commitment"]

    def on_lot_revealed(self, index: int, entry: dict, data: dict) -> None:
        draw_ = self.draws[data["draw"]]
        if len(draw_["commitments"]) != draw_["parties"]:
            self.fail(index, f"draw {data['draw']} took a reveal before every commitment")
        try:
            matches = (
                source_commitment(data["value"], data["salt"])
                == draw_["commitments"][data["party"]]
            )
        except LotError:
            matches = False
        if not matches:
            self.fail(index, f"draw {data['draw']}: party {data['party']}'s reveal does not match")
        draw_["values"][data["party"]] = data["value"]

    def on_lot_drawn(self, index: int, entry: dict, data: dict) -> None:
        draw_ = self.draws[data["draw"]]
        values = [draw_["values"].get(p) for p in range(1, draw_["parties"] + 1)]
        if None in values:
            self.fail(index, f"draw {data['draw']} was made before every reveal")
            return
        key, steps = lot_draw(
            draw_["pool_size"],
            draw_["pool_size"],
            [parse_source(v) for v in values],
            draw_["hash"],
        )
        if key != data["key"] or [s.selected for s in steps] != data["order"]:
            self.fail(index, f"draw {data['draw']}: the sources do not give the order announced")
        draw_["drawn"] = data["order"]
        if draw_["purpose"] == "raters":
            placed = draw_raters(
                [
                    Rater(str(i), r["unit"], frozenset(r["avoid"]))
                    for i, r in enumerate(draw_["raters"], start=1)
                ],
                [room["code"] for room in draw_["rooms"]],
                {room["code"]: room["seats"] for room in draw_["rooms"]},
                [parse_source(v) for v in values],
                draw_["hash"],
            )
            placement = {code: [int(p) for p in ms] for code, ms in placed.rooms.items()}
            if (
                placement != data["placement"]
                or [int(p) for p in placed.reserves] != data["reserves"]
            ):
                self.fail(index, f"draw {data['draw']}: the raters were not seated as drawn")

    def on_interviews_ended(self, index: int, entry: dict, data: dict) -> None:
        if data["draw"] is None:
            return
        draw_ = self.draws.get(data["draw"])
        if draw_ is None or draw_["drawn"] is None:
            self.fail(index, f"the interviews name draw {data['draw']}, which was not made")
            return
        if pool_digest(data["pool"]) != draw_["pool_digest"]:
            self.fail(index, "the published pool is not the one fixed before the draw")
            return
        numbered = {c["draw_number"]: c["reg_no"] for c in data["candidates"]}
        for number, position in enumerate(draw_["drawn"], start=1):
            if numbered.get(number) != data["pool"][position - 1]:
                self.fail(index, f"draw number {number} was not given as the draw decided")
                return

    # --- what the bundle's derived files must hold ------------------------------------

    def published(self) -> dict[str, Any]:
        """``results.json``: every round's result, and the evaluation's once announced."""
        out: dict[str, Any] = {"rounds": self.results}
        if self.evaluation is not None and self.evaluation.result is not None:
            out["evaluation"] = self.evaluation.result
        return out

    def derived(self, event_id: int, check: bool = False) -> dict[str, bytes]:
        """The derived files' bytes (``check``: with the verifier's encoder)."""
        encode = checked_bytes if check else canonical
        rooms = [self.rooms[r] for r in sorted(self.rooms)]
        seats = [
            {
                "seat": seat,
                "room": self.seat_room[seat],
                "number": self.seat_number[seat],
                "keys": self.key_history.get(seat, []),
            }
            for seat in sorted(self.seat_room)
        ]
        return {
            "event.json": encode(
                {"id": event_id, **self.event, "rubric": self.rubric, "rooms": rooms}
            ),
            "rosters.json": encode({"seats": seats}),
            "envelopes.jsonl": jsonl(self.envelopes, check),
            "openings.jsonl": jsonl(self.openings, check),
            "results.json": encode(self.published()),
        }


ENVELOPE_LEAVES = ("commitment", "conflict_declared", "opening")


def signature_tasks(leaves: list[dict[str, Any]]) -> list[tuple[int, str, bytes, str]]:
    """(leaf, key, signed bytes, signature) of every logged envelope, keys tracked as the
    replay tracks them, so the signatures can be checked apart (and in parallel)."""
    keys: dict[Any, str | None] = {}
    tasks = []
    for index, entry in enumerate(leaves):
        try:
            kind, data = entry["type"], entry["data"]
            if entry["disposition"] != "accepted":
                continue
            if kind == "seat_issued":
                keys[data["seat"]] = None
            elif kind == "seat_enrolled":
                keys[data["seat"]] = data["public_key"]
            elif kind in ENVELOPE_LEAVES:
                envelope = data["envelope"]
                key = keys.get(envelope["body"]["seat"])
                if key is not None:
                    tasks.append(
                        (index, key, checked_bytes(envelope["body"]), envelope["signature"])
                    )
        except (KeyError, TypeError, AttributeError):
            continue
    return tasks


def bad_signatures(tasks: list[tuple[int, str, bytes, str]]) -> set[int]:
    """The leaves among ``tasks`` whose signature does not verify."""
    keys: dict[str, Any] = {}
    bad = set()
    for index, key_text, message, signature in tasks:
        try:
            if key_text not in keys:
                keys[key_text] = load_public_key(key_text)
            keys[key_text].verify(unb64u(signature), message)
        except Exception:  # noqa: BLE001 - any failure to verify is a bad signature
            bad.add(index)
    return bad


def replay(leaves: list[dict[str, Any]], event_id: int, bad: set[int] | None = None) -> Replay:
    """Walk an event's log; the result holds its failures and its derived files."""
    state = Replay(event_id=event_id, bad=bad)
    for index, entry in enumerate(leaves):
        state.leaf(index, entry)
    return state


def check_head(server_key: Any, head: Any, tree: Tree, event_id: int) -> str | None:
    """Why a signed head does not belong to this log, or None when it does."""
    try:
        body = verify(server_key, head)
    except ValueError:
        return "its signature does not verify with the server's key"
    if body.get("type") != "tree_head" or body.get("event") != event_id:
        return "it is not a tree head of this event"
    size = body.get("size")
    if not isinstance(size, int) or size < 0:
        return "its size is not a number"
    if size > tree.size:
        return (
            f"it covers {size} log entries but the bundle holds only {tree.size}: "
            "the log's tail was cut off"
        )
    if tree.root(size).hex() != body.get("root"):
        return f"the log's first {size} entries no longer hash to its root: history was rewritten"
    return None


PARALLEL_FROM = 5000  # leaves; below this a second process costs more than it saves


def check_tree(
    log: bytes, heads_data: bytes, server_key_text: str, event_id: int, given: dict[str, Any] | None
) -> list[str]:
    """The log's tree against every signed head (and a given one). Needs only the log's
    bytes, so a big bundle runs it in a second process beside the replay."""
    server_key = load_public_key(server_key_text)
    tree = Tree()
    for line in log.split(b"\n")[:-1]:
        tree.append_hash(leaf_hash(line))  # the line is the leaf's canonical bytes
    failures = []
    last_size, last_time = -1, ""
    for number, signed in enumerate(read_jsonl(heads_data), start=1):
        problem = check_head(server_key, signed, tree, event_id)
        if problem:
            failures.append(f"signed head {number}: {problem}")
            continue
        body = signed["body"]
        if body["size"] < last_size or body["time"] < last_time:
            failures.append(f"signed head {number} goes back in size or time")
        last_size, last_time = body["size"], body["time"]
    if last_size != tree.size:
        failures.append(
            f"no signed head covers the whole log ({tree.size} entries); its tail is unprotected"
        )
    if given is not None:
        problem = check_head(server_key, given, tree, event_id)
        if problem:
            failures.append(f"the head you gave: {problem}")
    return failures


def verify_bundle(data: bytes, head: dict[str, Any] | None = None) -> list[str]:
    """Every failure of the bundle, in plain words; an empty list means it verifies."""
    try:
        files = unpack(data)
        manifest = read_json(files["bundle.json"])
        leaves = read_jsonl(files["log.jsonl"])
        read_jsonl(files["heads.jsonl"])
    except (ValueError, KeyError) as exc:
        return [f"the bundle cannot be read: {exc}"]
    failures: list[str] = []
    if manifest.get("format") != FORMAT:
        return [f"unknown bundle format {manifest.get('format')!r}"]
    for name in FILES[1:]:
        if manifest.get("files", {}).get(name) != sha256_hex(files[name]):
            failures.append(f"{name} does not match the hash bundle.json gives for it")
    try:
        load_public_key(manifest["server_key"])
        event_id = manifest["event"]
    except (KeyError, ValueError):
        return [*failures, "bundle.json names no usable server key or event"]
    tree_job = (files["log.jsonl"], files["heads.jsonl"], manifest["server_key"], event_id, head)
    pool = None
    if len(leaves) >= PARALLEL_FROM:
        # Signatures dominate. A second process checks most of them and the tree while
        # this one replays the log as if every signature held, then checks the rest; a
        # bad signature anywhere is reported on its own, so the verdict is the same.
        import concurrent.futures
        import multiprocessing

        tasks = signature_tasks(leaves)
        split = len(tasks) * 3 // 5
        context = multiprocessing.get_context("spawn")
        pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=context)
        elsewhere = pool.submit(bad_signatures, tasks[:split])
        tree_failures = pool.submit(check_tree, *tree_job)

    for index, entry in enumerate(leaves):
        if not isinstance(entry, dict) or set(entry) != LEAF_KEYS or entry["seq"] != index:
            failures.append(f"log entry {index} is not a well-formed leaf in its place")
    if not leaves or leaves[0].get("type") != "event_created":
        failures.append("the log does not begin with the event's creation")
    elif leaves[0]["data"].get("server_key") != manifest["server_key"]:
        failures.append("the server key in bundle.json is not the one the log began with")
    if manifest.get("rehearsal") != (leaves[0]["data"].get("rehearsal") if leaves else None):
        failures.append("bundle.json's rehearsal flag differs from the log's")

    state = replay(leaves, event_id, bad=None if pool is None else set())
    failures.extend(state.failures)
    for name, expected in state.derived(event_id, check=True).items():
        if files[name] != expected:
            failures.append(f"{name} is not what the log says (re-derived, it differs)")
    if pool is None:
        failures.extend(check_tree(*tree_job))
    else:
        bad = bad_signatures(tasks[split:]) | elsewhere.result()
        failures.extend(
            f"log entry {index}: the signature does not verify with its seat's registered key"
            for index in sorted(bad)
        )
        failures.extend(tree_failures.result())
        pool.shutdown()
    return failures


def parse_head(text: str) -> dict[str, Any]:
    """A signed head as scanned from the observer screen's QR code (JSON text)."""
    value = json.loads(text)
    if not isinstance(value, dict) or "body" not in value:
        raise ValueError("not a signed head")
    return value
