"""Deployment on a closed LAN: the pinned lock, the offline install from a wheelhouse,
and the systemd unit."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
import requests
from flask import Flask
from packaging.requirements import Requirement

from kiosk_server.cli import register
from kiosk_server.floors import FLOORS

from .test_live_server import free_port

ROOT = Path(__file__).parent.parent
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "kiosk.service"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins() -> dict[str, str]:
    lines = (DEPLOY / "requirements.lock").read_text().splitlines()
    pins = [line.split("==") for line in lines if line.strip() and not line.startswith("#")]
    return {canonical(name): version for name, version in pins}


def runtime_requirements() -> list[Requirement]:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    lines = setup["options"]["install_requires"].strip().splitlines()
    return [Requirement(line.strip()) for line in lines if line.strip()]


# --- the lock ------------------------------------------------------------------------------


def test_the_lock_pins_every_runtime_requirement_within_its_range_and_floor() -> None:
    pins = lock_pins()
    for requirement in runtime_requirements():
        name = canonical(requirement.name)
        assert name in pins, f"{name} is not in deploy/requirements.lock: relock"
        assert requirement.specifier.contains(pins[name]), (name, pins[name])
        for extra in requirement.extras:  # python-socketio[client] brings its client
            assert extra == "client" and {"requests", "websocket-client"} <= set(pins)
    for name, floor in FLOORS.items():
        have = tuple(int(p) for p in pins[canonical(name)].split(".")[:3])
        assert have >= floor, f"{name} {pins[name]} is below its security floor"
    assert not {"pytest", "hypothesis", "playwright", "ruff"} & set(pins)  # runtime only


# --- the offline install -------------------------------------------------------------------


def network_namespace() -> list[str]:
    """`unshare -n`: the install then runs where no network exists but a loopback that is
    down; empty when this machine does not allow it (not root)."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []


def install(wheelhouse: Path, prefix: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            *network_namespace(),
            "bash",
            str(wheelhouse / "install.sh"),
            "--prefix",
            str(prefix),
            "--no-service",
            "--python",
            sys.executable,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_the_wheelhouse_installs_with_no_index_and_the_installed_kiosk_serves_https(
    tmp_path: Path,
) -> None:
    """Build the wheelhouse (pip's own download cache makes a second run quick), install it
    into a fresh virtual environment with no index and no network, and serve from it."""
    wheelhouse = tmp_path / "wheelhouse"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    started = time.monotonic()
    built = subprocess.run(
        ["bash", str(DEPLOY / "build-wheelhouse.sh"), "--out", str(wheelhouse)],
        env={**env, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout + built.stderr[-4000:]
    build_s = time.monotonic() - started
    required = (wheelhouse / "requirements.txt").read_text()
    assert "interview-kiosk==0.1.0 --hash=sha256:" in required
    assert set(lock_pins()) <= {canonical(line.split("==")[0]) for line in required.split()[1:]}

    # The control: without one pinned wheel the install fails, so nothing else is used.
    partial = tmp_path / "partial"
    shutil.copytree(wheelhouse, partial)
    (missing,) = partial.glob("qrcode-*.whl")
    missing.unlink()
    sums = (partial / "SHA256SUMS").read_text().splitlines()
    (partial / "SHA256SUMS").write_text("".join(f"{s}\n" for s in sums if "qrcode-" not in s))
    refused = install(partial, tmp_path / "partial-opt", env)
    assert refused.returncode != 0 and "qrcode" in refused.stdout + refused.stderr

    started = time.monotonic()
    prefix = tmp_path / "opt"
    installed = install(wheelhouse, prefix, env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    install_s = time.monotonic() - started
    venv = prefix / "venv"
    where = subprocess.run(
        [venv / "bin" / "python", "-c", "import kiosk_server; print(kiosk_server.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(venv)), where  # the installed copy, not this checkout
    frozen = subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "list", "--format=freeze"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert {canonical(line.split("==")[0]) for line in frozen.split()} == {
        *lock_pins(),
        "interview-kiosk",
    }

    kiosk = [str(venv / "bin" / "kiosk")]
    instance = tmp_path / "var-lib-kiosk"
    kenv = {**env, "KIOSK_INSTANCE_PATH": str(instance)}
    for args in (["init", "--name", "安装测试"], ["tls", "init", "--ip", "127.0.0.1"]):
        done = subprocess.run(
            kiosk + args, env=kenv, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        kiosk + ["serve", "--port", str(port)], env=kenv, cwd=tmp_path, stdout=log, stderr=log
    )
    ca = str(instance / "tls" / "ca.pem")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = requests.get(f"https://127.0.0.1:{port}/login", verify=ca, timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.2)
        assert page.status_code == 200 and 'name="password"' in page.text
        style = requests.get(f"https://127.0.0.1:{port}/static/css/app.css", verify=ca, timeout=5)
        assert style.status_code == 200 and len(style.content) > 100  # package data shipped
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    print(f"wheelhouse built in {build_s:.1f} s, installed offline in {install_s:.1f} s")


# --- the service unit ----------------------------------------------------------------------


def unit_settings() -> dict[str, list[str]]:
    """Key -> values of kiosk.service (systemd allows a key more than once)."""
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def serve_command() -> click.Command:
    """``kiosk serve`` as registered on an app, to parse the unit's options with."""
    app = Flask("probe")
    register(app)
    return app.cli.commands["serve"]


def test_the_unit_runs_kiosk_serve_with_options_that_exist_and_parse(tmp_path: Path) -> None:
    exec_start = shlex.split(unit_settings()["ExecStart"][0])
    assert exec_start[0] == "/opt/kiosk/venv/bin/kiosk" and exec_start[1] == "serve"
    options = [a.split("=")[0] for a in exec_start[2:] if a.startswith("--")]
    assert "--host" in options and "--backup-dir" in options
    help_text = subprocess.run(
        [sys.executable, "-c", "from kiosk_server.cli import main; main()", "serve", "--help"],
        env={**os.environ, "KIOSK_INSTANCE_PATH": str(tmp_path / "instance")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    for option in options:
        assert re.search(rf"^\s+{re.escape(option)}\b", help_text.stdout, re.M), option
    # And click accepts the values (types, ranges) without serving anything.
    with serve_command().make_context("serve", exec_start[2:]) as ctx:
        assert ctx.params["host"] == "0.0.0.0" and ctx.params["backup_every"] == 5
        backup_dirs = [str(p) for p in ctx.params["backup_dirs"]]
    settings = unit_settings()
    writable = [f"/var/lib/{d}" for d in settings["StateDirectory"][0].split()]
    writable += [p.lstrip("-") for p in settings["ReadWritePaths"][0].split()]
    assert set(backup_dirs) <= set(writable)  # ProtectSystem=strict leaves the rest read-only
    assert "KIOSK_INSTANCE_PATH=/var/lib/kiosk" in settings["Environment"]


def test_the_unit_is_hardened_and_private_to_the_kiosk_user() -> None:
    settings = {key: values[-1] for key, values in unit_settings().items()}
    expected = {
        "User": "kiosk",
        "Group": "kiosk",
        "Restart": "on-failure",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "UMask": "0077",
        "StateDirectoryMode": "0700",
        "WantedBy": "multi-user.target",
        "Type": "simple",
    }
    assert {key: settings.get(key) for key in expected} == expected
    installer = (DEPLOY / "install.sh").read_text()
    assert "useradd --system" in installer and " kiosk\n" in installer
    assert "KIOSK_INSTANCE_PATH=/var/lib/kiosk" in (DEPLOY / "kiosk").read_text()
    for script in ("install.sh", "build-wheelhouse.sh"):
        assert subprocess.run(["bash", "-n", str(DEPLOY / script)]).returncode == 0
    assert subprocess.run(["sh", "-n", str(DEPLOY / "kiosk")]).returncode == 0


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_systemd_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    kiosk = Path(sys.executable).parent / "kiosk"  # the unit's /opt/kiosk/venv/bin/kiosk
    unit = tmp_path / "kiosk.service"
    unit.write_text(UNIT.read_text().replace("/opt/kiosk/venv/bin/kiosk", str(kiosk)))
    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verify.returncode == 0 and not verify.stdout + verify.stderr, verify.stderr
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    exposure = re.search(r"Overall exposure level for kiosk.service: ([\d.]+)", security.stdout)
    assert exposure and float(exposure.group(1)) <= 2.5, security.stdout[-600:]
