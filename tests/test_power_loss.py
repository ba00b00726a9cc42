"""Power loss: synchronous=FULL is what keeps acknowledged writes when the power goes.

The database sits on a FUSE layer that loses every byte not fsynced (benchmarks/lazyfs.py);
`make power` runs more trials (benchmarks/power_loss.py)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from benchmarks.power_loss import available, server_trial, writer_trial

pytestmark = pytest.mark.skipif(
    available() is not None, reason=f"power-loss layer unavailable: {available()}"
)


@pytest.mark.parametrize("cut", ["drop", "some:7", "some:8"])
def test_with_synchronous_full_no_acknowledged_write_is_lost(tmp_path: Path, cut: str) -> None:
    result = writer_trial(tmp_path, "FULL", cut, random.Random(cut))
    assert result["acked"] >= 30
    assert result["integrity"] == "ok"
    assert result["lost"] == 0, result


def test_the_negative_control_with_synchronous_normal_loses_acknowledged_writes(
    tmp_path: Path,
) -> None:
    """The same writer with only the pragma changed: the trial must see the loss, or it
    could not tell FULL from a setting that does not protect acknowledged writes."""
    result = writer_trial(tmp_path, "NORMAL", "drop", random.Random(1))
    assert result["integrity"] == "ok"
    assert result["lost"] > 0, result


def test_the_real_server_keeps_every_acknowledged_submission_across_a_power_cut(
    tmp_path: Path,
) -> None:
    result = server_trial(tmp_path, "drop", random.Random(3))
    assert result["acked"] > 0
    assert result["integrity"] == "ok"
    assert result["failures"] == [] and result["lost"] == 0, result
