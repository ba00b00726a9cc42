"""The load benchmark at toy size, so its harness cannot rot between benchmark runs.

No timing is asserted (CI must not fail on machine noise): only that every scenario
prints one JSON line with the issue's keys, and that nothing acknowledged was lost or
stored twice.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
