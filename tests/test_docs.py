"""Docs as tests: every route, socket event, error code and command is documented."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask

from kiosk_server import observer, organiser, rater
from kiosk_server.i18n import CATALOG

ROOT = Path(__file__).parent.parent
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_http_route_is_in_the_protocol(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        documented = re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule.rule)
        assert f"`{documented}" in PROTOCOL, rule.rule


def test_every_socket_event_is_in_the_protocol() -> None:
    for module in (organiser, rater, observer):
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
    for command in ("init", "import", "serve", "demo", "rehearse"):
        assert f"`kiosk {command}`" in README, command
