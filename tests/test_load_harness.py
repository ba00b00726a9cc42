"""The load benchmark at toy size, so its harness cannot rot between benchmark runs.

No timing is asserted (CI must not fail on machine noise): only that every scenario
prints one JSON line with the issue's keys, and that nothing acknowledged was lost or
stored twice.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

LOAD = Path(__file__).resolve().parent.parent / "benchmarks" / "load.py"
# Spelled out from the issue, not imported from load.py: this is the contract it must keep.
KEYS = {
    "scenario",
    "clients",
    "ack_p50_ms",
    "ack_p95_ms",
    "ack_p99_ms",
    "ack_max_ms",
    "observer_p99_ms",
    "throughput_per_s",
    "errors",
    "lost",
    "duplicates",
    "rss_mb",
    "cpu_pct",
}
EXTRA = {
    "burst": {"baseline_ack_p99_ms", "ratio_to_baseline_p99"},
    "ramp": {"knee_per_s"},
}


def test_every_scenario_prints_its_line_and_loses_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(LOAD), "--quick", "--scale", "0.02", "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        env={"TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert [line["scenario"] for line in lines] == ["hold", "steady", "burst", "ramp", "reconnect"]
    for line in lines:
        assert set(line) == KEYS | EXTRA.get(line["scenario"], set()), line
        assert line["lost"] == 0 and line["duplicates"] == 0, line
        assert line["clients"] > 0, line


def _load_module() -> Any:
    spec = importlib.util.spec_from_file_location("load_benchmark", LOAD)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_steady_plan_keeps_its_rate_and_puts_the_rooms_out_of_step() -> None:
    """Timed sheets come at the offered rate from the clock's start; every round gets each
    seat once (untimed sheets only before the clock, in a room's first round, and after
    it, in its last); the rooms' first rounds close spread over most of a round's length,
    or, ``in_step``, all within one turn of the rooms."""
    load = _load_module()
    rooms, seats, rate, rounds = 10, 10, 50.0, 3
    cycle = rooms * seats / rate  # the time a round takes to fill
    for in_step in (False, True):
        plan = load.steady_plan(rooms, seats, rate, rounds, in_step=in_step)
        timed = sorted(t for room in plan.values() for r in room for _s, t in r if t is not None)
        assert timed == [g / rate for g in range(rooms * seats * rounds)]
        for room in plan.values():
            assert all(sorted(s for s, _t in r) == list(range(seats)) for r in room)
            times = [t for r in room for _s, t in r]
            first = next(i for i, t in enumerate(times) if t is not None)
            last = max(i for i, t in enumerate(times) if t is not None)
            assert None not in times[first : last + 1]
            assert first < seats and len(times) - 1 - last < seats
        closes = [max(t for _s, t in room[0] if t is not None) for room in plan.values()]
        spread = max(closes) - min(closes)
        if in_step:
            assert spread < rooms / rate
        else:
            assert spread >= 0.75 * cycle
