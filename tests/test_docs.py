"""Docs as tests: every route, socket event, error code and command is documented."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask

from kiosk_server import checkin, observer, organiser, rater
from kiosk_server.i18n import CATALOG

ROOT = Path(__file__).parent.parent
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_http_route_is_in_the_protocol(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        documented = re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule.rule)
        assert f"`{documented}" in PROTOCOL, rule.rule


def test_every_socket_event_is_in_the_protocol() -> None:
    for module in (organiser, rater, observer, checkin):
        assert f"### `{module.NAMESPACE}`" in PROTOCOL
        for name in dir(module.Live):
            if name.startswith("on_") and name not in ("on_connect", "on_disconnect"):
                assert f"| `{name[3:]}` |" in PROTOCOL, (module.NAMESPACE, name)
    sources = "".join(p.read_text() for p in (ROOT / "kiosk_server").glob("*.py"))
    for pushed in set(re.findall(r'emit\(\s*"(\w+)"', sources)):
        assert f"| `{pushed}` |" in PROTOCOL, pushed


def test_every_error_code_is_in_the_protocol() -> None:
    codes = [key.split(".", 1)[1] for key in CATALOG["zh"] if key.startswith("error.")]
    for code in codes:
        assert f"`{code}`" in PROTOCOL, code


def test_both_languages_have_every_message() -> None:
    assert set(CATALOG["zh"]) == set(CATALOG["en"])
    for lang in CATALOG:
        for key, text in CATALOG[lang].items():
            assert text.strip(), (lang, key)


def test_every_message_used_in_pages_exists() -> None:
    used = set()
    for path in [
        *ROOT.glob("kiosk_server/templates/*.html"),
        *ROOT.glob("rater_client/templates/*.html"),
        *ROOT.glob("kiosk_server/static/js/*.js"),
        *ROOT.glob("rater_client/static/*.js"),
    ]:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_]+)["']""", path.read_text()))
    assert used, "no message keys found"
    missing = used - set(CATALOG["zh"])
    assert not missing


def test_every_cli_command_is_in_the_readme() -> None:
    for command in (
        "init",
        "import",
        "serve",
        "demo",
        "rehearse",
        "export",
        "verify",
        "draw rfc3797",
        "backup",
        "restore",
        "evaluation setup",
    ):
        assert f"`kiosk {command}`" in README, command


def test_the_bundle_format_worked_example_is_right() -> None:
    from decimal import Decimal

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ballot.scoring import panel_result
    from seal.merkle import leaf_hash
    from seal.record import commitment, leaf, receipt_code, rubric_version
    from seal.signing import public_key_text, sign

    doc = (ROOT / "docs" / "bundle-format.md").read_text(encoding="utf-8")
    version = rubric_version(
        [
            {"code": "analysis", "max": "40", "step": "0.5"},
            {"code": "expression", "max": "30", "step": "0.5"},
            {"code": "bearing", "max": "30", "step": "1"},
        ]
    )
    opening = {
        "event": 1,
        "room": 1,
        "round": 7,
        "draw_number": 4,
        "seat": 3,
        "rubric": version,
        "total": "88.0",
        "salt": "c2FsdC1zYWx0LXNhbHQtMQ",
        "items": {"analysis": "37.5", "expression": "27.5", "bearing": "23"},
    }
    digest = commitment(opening)
    key = Ed25519PrivateKey.from_private_bytes(
        bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    )
    body = {
        "type": "commitment",
        "commitment": digest,
        "seq": 12,
        "nonce": "bm9uY2Utbm9uY2UtMTI",
        **{k: opening[k] for k in ("event", "room", "round", "draw_number", "seat", "rubric")},
    }
    envelope = sign(key, body)
    line = leaf(
        41,
        "2026-11-25T09:30:00.123Z",
        "commitment",
        "seat:3",
        "accepted",
        {"envelope": envelope, "version": 1},
    )
    result = panel_result(
        [
            (1, "scored", Decimal("80")),
            (2, "scored", Decimal("85.5")),
            (3, "scored", Decimal("88")),
            (4, "recused", None),
            (5, "scored", Decimal("70")),
            (6, "scored", Decimal("90")),
            (7, "scored", Decimal("86")),
        ]
    )
    for figure in (
        version,
        digest,
        public_key_text(key),
        envelope["signature"],
        leaf_hash(line).hex(),
        receipt_code(leaf_hash(line)),
        result["mean"],
    ):
        assert figure in doc, figure
    assert (result["high"], result["low"], result["counted"]) == ("90.00", "70.00", 4)


def test_the_bundle_format_evaluation_example_is_right() -> None:
    from decimal import Decimal

    from ballot.evaluation import Scheme, ballot_from_rows, published, scheme_to_json
    from seal.merkle import leaf_hash
    from seal.record import leaf
    from seal.signing import canonical

    doc = (ROOT / "docs" / "bundle-format.md").read_text(encoding="utf-8")
    scheme = Scheme(group_weights={"机关干部": Decimal(60), "服务对象": Decimal(40)})
    first = [["优秀", "称职", "基本称职", "称职", "不称职"], ["称职", "称职", "称职", "称职", None]]
    line = leaf(
        57,
        "2026-11-25T10:00:00.000Z",
        "ballot",
        "system",
        "accepted",
        {"group": "机关干部", "marks": first},
    )
    candidates = ["R001", "R002"]
    ballots = [
        ballot_from_rows(scheme, candidates, "机关干部", first),
        ballot_from_rows(scheme, candidates, "机关干部", [["优秀"] * 5, ["优秀"] * 5]),
        ballot_from_rows(scheme, candidates, "服务对象", [["称职"] * 5, ["基本称职"] * 5]),
    ]
    r001, r002 = published(scheme, candidates, ["机关干部", "服务对象"], ballots)["candidates"]
    assert (r002["valid"], r002["invalid"]) == (2, 1)
    assert [g["mean"] for g in r001["groups"]] == ["82.00", "80.00"]
    assert [g["mean"] for g in r002["groups"]] == ["100.00", "60.00"]
    for figure in (
        canonical(scheme_to_json(scheme)).decode("utf-8"),
        line.decode("utf-8"),
        leaf_hash(line).hex(),
        r001["score"],
        r001["weighted"],
        r002["score"],
        r002["weighted"],
    ):
        assert figure in doc, figure
