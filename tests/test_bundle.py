"""Evidence bundle: export, verify, and a tamper corpus that must fail verification."""

from __future__ import annotations

import functools
import json
import os
import random
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk_server import evaluation
from kiosk_server.export import export_bundle
from kiosk_server.live import store, token_key
from seal.bundle import jsonl, manifest, pack, read_jsonl, unpack
from seal.signing import canonical, sign
from seal.verify import replay, verify_bundle

from .conftest import Event, run_kiosk, sheet, sign_in
from .test_ballots import COMPETENT, EXCELLENT, MIXED, Phone, ballot
from .test_interview_sockets import Room


def run_session(app: Flask, event: Event) -> None:
    """Two rooms' worth of interviews: the drop rule, a recusal, a replaced sheet, a round
    closed early and one published without a missing opening."""
    room = Room(app, event)
    for n in range(1, 6):
        room.enrol("A", n)
    for n in range(1, 4):
        room.enrol("B", n)
    first = room.start_round("A")
    room.tablets[("A", 1)].commit(sheet("30", "20", "20"))
    room.tablets[("A", 1)].commit(sheet("31", "20", "20"))  # replaced
    room.tablets[("A", 2)].recuse("亲属")
    for n, analysis in ((3, "35"), (4, "40"), (5, "20")):
        assert room.tablets[("A", n)].commit(sheet(analysis, "25", "21"))["ok"]
    room.reveal_all(first)
    second = room.start_round("A")
    for n in range(1, 4):
        assert room.tablets[("A", n)].commit(sheet("33.5", "22", "22"))["ok"]
    room.confirm(room.ok("close", round_id=second, reason="评委4、5 临时离场"))
    room.reveal_all(second)
    third = room.start_round("B")
    for n in range(1, 4):
        assert room.tablets[("B", n)].commit(sheet("38", "28", "28"))["ok"]
    for n in (1, 2):
        assert room.tablets[("B", n)].reveal(third)["ok"]
    room.confirm(room.ok("finalise", round_id=third, reason="评委3 平板故障"))
    absent = room.ok("call", room_id=event.rooms["A"])["round_id"]
    room.ok("absent", round_id=absent)
    run_evaluation(app, event, room)


def run_evaluation(app: Flask, event: Event, room: Room) -> None:
    """A democratic evaluation beside the interviews: weighted groups, a ballot with gaps."""
    with app.app_context():
        evaluation.configure(
            store(),
            token_key(),
            event.id,
            [
                evaluation.Group("机关干部", 3, Decimal(60)),
                evaluation.Group("服务对象", 2, Decimal(40)),
            ],
            evaluation.Rules(),
            "organiser",
        )
        slips = {s["name"]: s["tokens"] for s in evaluation.slips(store(), token_key(), event.id)}
    room.ok("evaluation_open")
    for token, marks in [
        (slips["机关干部"][0], ballot(EXCELLENT, MIXED, COMPETENT)),
        (slips["机关干部"][1], ballot(MIXED, [*COMPETENT[:3], None, None])),
        (slips["服务对象"][0], ballot(COMPETENT, EXCELLENT, MIXED, MIXED)),
    ]:
        assert Phone(app).vote(token, marks).status_code == 200
    room.confirm(room.ok("evaluation_close"))


@pytest.fixture
def bundle(app: Flask, event: Event) -> bytes:
    run_session(app, event)
    return export_bundle(store(app), event.id)


def final_head(data: bytes) -> dict[str, Any]:
    return read_jsonl(unpack(data)["heads.jsonl"])[-1]


def test_an_exported_bundle_verifies_and_holds_the_results(bundle: bytes) -> None:
    assert verify_bundle(bundle) == []
    assert verify_bundle(bundle, final_head(bundle)) == []
    files = unpack(bundle)
    results = json.loads(files["results.json"])["rounds"]
    assert [r["result"]["mean"] for r in results] == ["76.00", "77.50", "94.00", None]
    assert results[3]["result"]["close_reason"] == "缺考" and results[3]["draw_number"] == 3
    assert [e["status"] for e in results[0]["result"]["entries"]] == [
        "scored",
        "recused",
        "scored",
        "scored",
        "scored",
    ]
    assert [e["status"] for e in results[2]["result"]["entries"]] == [
        "scored",
        "scored",
        "unrevealed",
    ]
    assert json.loads(files["bundle.json"])["rehearsal"] is False
    # the evaluation: R001 gets 机关干部 100 and 64 (82), 服务对象 80: 60/40 -> 81.20
    scores = json.loads(files["results.json"])["evaluation"]["candidates"]
    assert [(c["candidate"], c["valid"], c["invalid"], c["score"]) for c in scores[:3]] == [
        ("R001", 3, 0, "81.20"),
        ("R002", 2, 1, "78.40"),  # 机关干部 64 (one gap), 服务对象 100: (60x64+40x100)/100
        ("R003", 2, 1, "73.60"),  # 机关干部 80 (one blank), 服务对象 64
    ]
    # no name of any candidate is in the evidence: results go by draw number
    assert "张敏".encode() not in bundle


def test_the_cli_exports_and_verifies(app: Flask, event: Event, tmp_path: Path) -> None:
    run_session(app, event)
    out = tmp_path / "evidence.zip"
    result = app.test_cli_runner().invoke(args=["export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    store(app).close()
    head = tmp_path / "head.json"
    head.write_bytes(canonical(final_head(out.read_bytes())))
    ok = run_kiosk(
        "verify",
        str(out),
        "--head",
        str(head),
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "verifies" in ok.stdout
    assert not (tmp_path / ".local").exists()  # verify made no instance folder
    broken = bytearray(out.read_bytes())
    broken[len(broken) // 2] ^= 0x01
    out.write_bytes(bytes(broken))
    bad = run_kiosk("verify", str(out), env=dict(os.environ), timeout=60)
    assert bad.returncode == 1 and "FAIL:" in bad.stdout


# --- the tamper corpus ------------------------------------------------------------------


def repack(
    files: dict[str, bytes],
    leaves: list | None = None,
    heads: list | None = None,
    rederive: bool = False,
) -> bytes:
    """Rebuild a well-formed bundle around changed contents, hashes and all, so that only
    the evidence itself can give the change away."""
    files = dict(files)
    info = json.loads(files["bundle.json"])
    if leaves is not None:
        files["log.jsonl"] = jsonl(leaves)
    if heads is not None:
        files["heads.jsonl"] = jsonl(heads)
    if rederive:
        files.update(replay(read_jsonl(files["log.jsonl"]), info["event"]).derived(info["event"]))
    files["bundle.json"] = manifest(files, info["event"], info["server_key"], info["rehearsal"])
    return pack(files)


def leaves_of(files: dict[str, bytes]) -> list[dict]:
    return read_jsonl(files["log.jsonl"])


def of_type(leaves: list[dict], *types: str) -> list[int]:
    return [
        i
        for i, leaf in enumerate(leaves)
        if leaf["type"] in types and leaf["disposition"] == "accepted"
    ]


def mutate(data: bytes, kind: str, rng: random.Random) -> tuple[bytes, dict | None]:
    """One mutation of a verified bundle; returns the bytes and the head to check against."""
    files = unpack(data)
    leaves = leaves_of(files)
    heads = read_jsonl(files["heads.jsonl"])
    if kind == "flip_byte":
        changed = bytearray(data)
        changed[rng.randrange(len(changed))] ^= 1 << rng.randrange(8)
        return bytes(changed), None
    if kind == "change_score":
        i = rng.choice(of_type(leaves, "opening"))
        body = leaves[i]["data"]["envelope"]["body"]
        code = rng.choice(sorted(body["items"]))
        body["items"][code] = str(float(body["items"][code]) + rng.choice((-1, 0.5, 1)))
        return repack(files, leaves, rederive=True), None
    if kind == "change_result":
        i = rng.choice(of_type(leaves, "round_result"))
        leaves[i]["data"]["result"]["mean"] = "99.99"
        return repack(files, leaves, rederive=True), None
    if kind == "delete_leaf":
        i = rng.randrange(len(leaves))
        del leaves[i]
        if rng.random() < 0.5:  # renumber to hide the gap
            for n, leaf in enumerate(leaves):
                leaf["seq"] = n
        return repack(files, leaves, rederive=True), None
    if kind == "insert_leaf":
        i = rng.randrange(1, len(leaves))
        leaves.insert(i, json.loads(json.dumps(leaves[rng.randrange(1, len(leaves))])))
        for n, leaf in enumerate(leaves):
            leaf["seq"] = n
        return repack(files, leaves, rederive=True), None
    if kind == "reorder_leaves":
        i = rng.randrange(1, len(leaves) - 1)
        leaves[i], leaves[i + 1] = leaves[i + 1], leaves[i]
        leaves[i]["seq"], leaves[i + 1]["seq"] = i, i + 1
        return repack(files, leaves, rederive=True), None
    if kind == "swap_keys":
        a, b = rng.sample(of_type(leaves, "seat_enrolled"), 2)
        ka, kb = leaves[a]["data"]["public_key"], leaves[b]["data"]["public_key"]
        leaves[a]["data"]["public_key"], leaves[b]["data"]["public_key"] = kb, ka
        return repack(files, leaves, rederive=True), None
    if kind == "forge_envelope":
        i = rng.choice(of_type(leaves, "commitment", "opening", "conflict_declared"))
        body = dict(leaves[i]["data"]["envelope"]["body"])
        if "commitment" in body:
            body["commitment"] = f"{rng.getrandbits(256):064x}"
        forged = sign(Ed25519PrivateKey.generate(), body)
        if rng.random() < 0.5:
            forged["signature"] = leaves[i]["data"]["envelope"]["signature"]
        leaves[i]["data"]["envelope"] = forged
        return repack(files, leaves, rederive=True), None
    if kind == "change_ballot":
        i = rng.choice(of_type(leaves, "ballot"))
        row = rng.choice(leaves[i]["data"]["marks"])
        d = rng.randrange(len(row))
        row[d] = rng.choice(
            [g for g in ("优秀", "称职", "基本称职", "不称职", None) if g != row[d]]
        )
        return repack(files, leaves, rederive=True), None
    if kind == "change_ballot_group":
        i = rng.choice(of_type(leaves, "ballot", "ballot_cast"))
        group = leaves[i]["data"]["group"]
        leaves[i]["data"]["group"] = "服务对象" if group == "机关干部" else "机关干部"
        return repack(files, leaves, rederive=True), None
    if kind == "change_evaluation_result":
        (i,) = of_type(leaves, "evaluation_result")
        entry = rng.choice(leaves[i]["data"]["result"]["candidates"])
        entry[rng.choice(["valid", "invalid"])] += 1
        return repack(files, leaves, rederive=True), None
    if kind == "forge_head":
        j = rng.randrange(len(heads))
        body = dict(heads[j]["body"], root=f"{rng.getrandbits(256):064x}")
        heads[j] = (
            sign(Ed25519PrivateKey.generate(), body)
            if rng.random() < 0.5
            else {"body": body, "signature": heads[j]["signature"]}
        )
        return repack(files, heads=heads), None
    if kind == "truncate_tail":
        size = rng.choice([h["body"]["size"] for h in heads[:-1]])
        kept = [h for h in heads if h["body"]["size"] <= size]
        return repack(files, leaves[:size], kept, rederive=True), final_head(data)
    if kind == "edit_derived":
        name = rng.choice(
            ["event.json", "rosters.json", "results.json", "envelopes.jsonl", "openings.jsonl"]
        )
        text = files[name]
        i = rng.randrange(len(text))
        files[name] = text[:i] + bytes([(text[i] + 1) % 128 or 65]) + text[i + 1 :]
        return repack(files), None
    raise AssertionError(kind)


KINDS = [
    "flip_byte",
    "change_score",
    "change_result",
    "delete_leaf",
    "insert_leaf",
    "reorder_leaves",
    "swap_keys",
    "forge_envelope",
    "change_ballot",
    "change_ballot_group",
    "change_evaluation_result",
    "forge_head",
    "truncate_tail",
    "edit_derived",
]


@functools.cache
def corpus_bundle() -> bytes:
    """One exported session, made once for the whole corpus (not a fixture argument, so
    Hypothesis never prints 40 kB of it)."""
    from kiosk_server import create_app

    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"INSTANCE_PATH": folder, "TESTING": True})
        event = Event(app)
        run_session(app, event)
        data = export_bundle(store(app), event.id)
        store(app).close()
    return data


@settings(max_examples=1100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), seed=st.integers(0, 2**32 - 1))
def test_every_mutation_fails_verification(kind: str, seed: int) -> None:
    original = corpus_bundle()
    changed, head = mutate(original, kind, random.Random(seed))
    if changed == original:
        return  # e.g. a re-derived file identical to the original: not a mutation
    failures = verify_bundle(changed, head)
    assert failures, f"{kind} (seed {seed}) was not detected"


def test_tail_truncation_needs_the_photographed_head() -> None:
    changed, head = mutate(corpus_bundle(), "truncate_tail", random.Random(7))
    assert head is not None
    alone = verify_bundle(changed)
    against = verify_bundle(changed, head)
    assert any("tail was cut" in f for f in against), against
    assert len(against) > len(alone)


def test_the_console_exports_a_bundle_that_verifies(app: Flask, event: Event) -> None:
    run_session(app, event)
    anonymous = app.test_client().get("/organiser/export")
    assert anonymous.status_code == 302
    organiser = app.test_client()
    assert sign_in(organiser).status_code == 302
    response = organiser.get("/organiser/export")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    assert verify_bundle(response.data) == []
    assert len(event.audit("export")) == 1
