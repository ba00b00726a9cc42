"""The ``kiosk`` command: help everywhere, init/import, and a demo whose every URL answers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests
from flask import Flask

from kiosk_server import create_app
from kiosk_server.live import store

from .conftest import run_kiosk, setup_files, start_kiosk
from .test_live_server import free_port

COMMANDS = [
    "init",
    "import",
    "serve",
    "demo",
    "rehearse",
    "export",
    "verify",
    "draw",
    "tls",
    "backup",
    "restore",
    "evaluation",
]


def kiosk(*args: str, instance: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return run_kiosk(
        *args, env={**os.environ, "KIOSK_INSTANCE_PATH": str(instance)}, timeout=timeout
    )


def test_every_command_has_help(tmp_path: Path) -> None:
    top = kiosk("--help", instance=tmp_path)
    assert top.returncode == 0
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s+\S", top.stdout, re.M), command
        result = kiosk(command, "--help", instance=tmp_path)
        assert result.returncode == 0 and "Usage:" in result.stdout, command
        assert len(result.stdout.splitlines()) > 3
    result = kiosk("draw", "rfc3797", "--help", instance=tmp_path)
    assert result.returncode == 0 and "--pool-size" in result.stdout
    result = kiosk("evaluation", "setup", "--help", instance=tmp_path)
    assert result.returncode == 0 and "--groups" in result.stdout


def test_init_then_import_with_a_bad_row_imports_nothing(tmp_path: Path) -> None:
    app = create_app({"INSTANCE_PATH": str(tmp_path / "inst")})
    runner = app.test_cli_runner()
    result = runner.invoke(args=["init", "--name", "某镇竞争上岗", "--password", "pw-123456"])
    assert result.exit_code == 0, result.output
    files = setup_files(tmp_path / "files")
    bad = tmp_path / "bad-draw.csv"
    bad.write_text("draw_number,reg_no,room\n1,R001,A\n2,NOBODY,A\n", encoding="utf-8")
    result = runner.invoke(
        args=[
            "import",
            "--rooms",
            str(files["rooms"]),
            "--posts",
            str(files["posts"]),
            "--candidates",
            str(files["candidates"]),
            "--draw",
            str(bad),
        ]
    )
    assert result.exit_code != 0
    # In both languages, one line each, Chinese first: who runs the command is not known.
    assert "未导入任何内容：bad-draw.csv 第 3 行“报名号”列：没有报名号为“NOBODY”的考生\n" in (
        result.output
    )
    assert "nothing imported: bad-draw.csv, row 3, column reg_no: unknown candidate 'NOBODY'" in (
        result.output
    )
    assert store(app).row("SELECT COUNT(*) AS n FROM room")["n"] == 0
    args = ["import"] + [f"--{kind}={path}" for kind, path in files.items()]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "8 rater seats given enrolment codes" in result.output
    store(app).close()


def test_evaluation_setup_from_a_groups_file(tmp_path: Path) -> None:
    app = create_app({"INSTANCE_PATH": str(tmp_path / "inst")})
    runner = app.test_cli_runner()
    assert runner.invoke(args=["init", "--name", "某镇竞争上岗"]).exit_code == 0
    bad = tmp_path / "bad-groups.csv"
    bad.write_text("组别,票数,权重\n机关干部,30,60\n服务对象,很多,40\n", encoding="gbk")
    result = runner.invoke(args=["evaluation", "setup", "--groups", str(bad)])
    assert result.exit_code != 0
    assert "“服务对象”的票数须为 0–2000 的整数" in result.output
    assert "Ballots for “服务对象” must be a whole number" in result.output
    assert store(app).rows("SELECT * FROM evaluator_group") == []
    good = tmp_path / "groups.csv"
    good.write_text("组别,票数,权重\n机关干部,30,60\n服务对象,12,40\n", encoding="utf-8-sig")
    result = runner.invoke(
        args=[
            "evaluation",
            "setup",
            "--groups",
            str(good),
            "--validity",
            "ballot",
            "--points",
            "10",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "机关干部: 30 ballots, weight 60" in result.output
    assert store(app).row("SELECT COUNT(*) AS n FROM ballot_token")["n"] == 42
    scheme = json.loads(store(app).row("SELECT scheme FROM evaluation")["scheme"])
    assert (scheme["validity"], scheme["points"]) == ("ballot", "10")
    store(app).close()


def test_instance_with_two_events_asks_which(tmp_path: Path) -> None:
    app: Flask = create_app({"INSTANCE_PATH": str(tmp_path / "inst")})
    runner = app.test_cli_runner()
    for name in ("一", "二"):
        assert runner.invoke(args=["init", "--name", name]).exit_code == 0
    files = setup_files(tmp_path / "files")
    result = runner.invoke(args=["import", "--rooms", str(files["rooms"])])
    assert result.exit_code != 0 and "--event" in result.output
    assert (
        runner.invoke(args=["import", "--event", "2", "--rooms", str(files["rooms"])]).exit_code
        == 0
    )
    store(app).close()


@pytest.fixture
def demo(tmp_path: Path):
    port = free_port()
    log = tmp_path / "demo.log"
    env = {**os.environ, "KIOSK_INSTANCE_PATH": str(tmp_path / "demo")}
    process = start_kiosk("demo", "--port", str(port), env=env, log=log)
    deadline = time.monotonic() + 60
    text = ""
    while time.monotonic() < deadline:
        text = log.read_text()
        if "Organiser password" in text:
            break
        time.sleep(0.2)
    try:
        yield port, text
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_demo_prints_urls_that_all_answer_200(demo) -> None:
    port, output = demo
    urls = re.findall(r"http://127\.0\.0\.1:\d+/\S*", output)
    password = re.search(r"Organiser password: (\S+)", output).group(1)
    assert sum("/enrol/" in u for u in urls) == 14  # 2 rooms x 7 seats
    assert sum("/observe/" in u for u in urls) == 2
    assert sum(u.endswith("/organiser/ballot-slips") for u in urls) == 1  # 民主测评 slips
    assert "█" in output  # the QR codes are drawn in the terminal
    organiser = requests.Session()
    deadline = time.monotonic() + 20
    while True:
        try:
            organiser.get(f"http://127.0.0.1:{port}/login", timeout=2)
            break
        except requests.ConnectionError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    page = organiser.get(f"http://127.0.0.1:{port}/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    login = organiser.post(
        f"http://127.0.0.1:{port}/login", data={"password": password, "csrf": token}
    )
    assert login.status_code == 200 and login.url.endswith("/organiser/")
    for url in urls:
        response = organiser.get(url, timeout=5)
        assert response.status_code == 200, url
    sheet = organiser.get(f"http://127.0.0.1:{port}/organiser/enrolment-sheet").text
    assert sheet.count("<svg") == 16 and "第一面试室" in sheet


def test_rehearse_drives_simulated_tablets_and_prints_results(tmp_path: Path) -> None:
    result = kiosk("rehearse", "--raters", "5", "--candidates", "3", instance=tmp_path / "x")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert "评委5" in lines[1]
    rows = lines[2:]
    assert len(rows) == 3
    for row in rows:
        cells = row.split()
        assert sum(c.startswith("[") for c in cells) == 2  # one high, one low dropped
        assert re.fullmatch(r"\d+\.\d\d", cells[-1])
    # the rehearsal lived in its own temporary instance: nothing landed in this one
    import sqlite3

    with sqlite3.connect(tmp_path / "x" / "kiosk.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM event").fetchone() == (0,)


def test_demo_fresh_starts_over_with_the_instance_key(tmp_path: Path) -> None:
    """`make demo DEMO_FLAGS=--fresh` (the README's way to start over) replaces the
    database and signs the new event with the instance's own server key."""
    first = kiosk("demo", "--no-serve", instance=tmp_path)
    again = kiosk("demo", "--fresh", "--no-serve", instance=tmp_path)
    assert first.returncode == 0 and again.returncode == 0, again.stderr
    passwords = [re.search(r"Organiser password: (\S+)", run.stdout) for run in (first, again)]
    assert all(passwords) and passwords[0].group(1) != passwords[1].group(1)  # type: ignore[union-attr]
    verified = kiosk("export", "--out", str(tmp_path / "demo.zip"), instance=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert kiosk("verify", str(tmp_path / "demo.zip"), instance=tmp_path).returncode == 0
